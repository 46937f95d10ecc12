"""Rules of Yahtzee, tested on the class directly.

The dice come from a scripted random source, or are set through the
documented ``dice`` attribute, so every test knows exactly what was rolled.
"""

import copy
import random

import pytest

from gameserver.games.yahtzee import CATEGORIES, Yahtzee
from gameserver.testing import LocalSession

UPPER = ["Ones", "Twos", "Threes", "Fours", "Fives", "Sixes"]
LOWER = ["Three of a Kind", "Four of a Kind", "Full House", "Small Straight",
         "Large Straight", "Yahtzee", "Chance"]


class ScriptedRandom(random.Random):
    """Rolls the scripted ``faces`` in order (then 1s); picks ``first`` to start."""

    def __init__(self, first: int = 0, faces: tuple[int, ...] = ()) -> None:
        super().__init__(0)
        self.first = first
        self.faces = list(faces)
        self.asked: list[int] = []

    def randint(self, a: int, b: int) -> int:
        assert (a, b) == (1, 6)
        return self.faces.pop(0) if self.faces else 1

    def randrange(self, stop: int) -> int:  # type: ignore[override]
        self.asked.append(stop)
        return self.first


def started(players: int = 1, first: int = 0, faces: tuple[int, ...] = ()) -> Yahtzee:
    """A game past the name phase; players are called P0, P1, ..."""
    game = Yahtzee(players, rng=ScriptedRandom(first, faces))
    for pid in range(players):
        assert game.move({"name": f"P{pid}"}, pid) is None
    return game


def turn_player(game: Yahtzee) -> int:
    [pid] = game.current_player()
    return pid


def add(game: Yahtzee, category: str, dice: list[int]) -> None:
    """The current player scores ``dice`` in ``category``; must be accepted."""
    game.dice = list(dice)
    assert game.move({"score": "add points", "category": category}, turn_player(game)) is None


def cross(game: Yahtzee, category: str) -> None:
    """The current player crosses out ``category``; must be accepted."""
    assert game.move({"score": "cross out", "category": category}, turn_player(game)) is None


def card(game: Yahtzee, pid: int = 0) -> dict:
    return game.state(pid)["scorecard"]


# --- set-up and name phase ---------------------------------------------------

def test_player_limits() -> None:
    assert (Yahtzee.min_players(), Yahtzee.max_players()) == (1, 8)


def test_initial_state() -> None:
    game = Yahtzee(3, rng=ScriptedRandom(faces=(1, 2, 3, 4, 5)))
    assert game.current_player() == [0, 1, 2]
    assert not game.game_over()
    state = game.state(1)
    assert state == {"scorecard": dict.fromkeys(CATEGORIES), "dice": [1, 2, 3, 4, 5]}
    assert list(state["scorecard"]) == UPPER + LOWER


def test_default_random_source_rolls_real_dice() -> None:
    dice = Yahtzee(2).state(0)["dice"]
    assert len(dice) == 5 and all(1 <= d <= 6 for d in dice)


def test_state_is_a_copy() -> None:
    game = started(1, faces=(1, 2, 3, 4, 5))
    state = game.state(0)
    state["scorecard"]["Ones"] = 99
    state["dice"][0] = 6
    assert game.state(0)["scorecard"]["Ones"] is None
    assert game.state(0)["dice"] == [1, 2, 3, 4, 5]


def test_named_players_leave_current_and_turns_start_when_all_named() -> None:
    rng = ScriptedRandom(first=2)
    game = Yahtzee(3, rng=rng)
    assert game.move({"name": "Bob"}, 1) is None
    assert game.current_player() == [0, 2]
    assert "current_name" not in game.state(0)
    assert game.move({"name": "Ada"}, 0) is None
    assert game.current_player() == [2]
    assert rng.asked == []
    assert game.move({"name": "Cy"}, 2) is None
    assert rng.asked == [3]
    assert game.current_player() == [2]
    assert game.state(0)["current_name"] == "Cy"


def test_names_are_stripped() -> None:
    game = Yahtzee(1, rng=ScriptedRandom())
    assert game.move({"name": "  Ada\t"}, 0) is None
    assert game.state(0)["current_name"] == "Ada"


@pytest.mark.parametrize("move, expected", [
    ({"name": ""}, "must not be empty"),
    ({"name": "   "}, "must not be empty"),
    ({"name": 7}, "name must be text"),
    ({"name": None}, "name must be text"),
    ({"name": ["Ada"]}, "name must be text"),
    ({"name": "n" * 101}, "name too long"),  # every state carries a name: kept small
    ({"roll_dice": [0]}, "not started yet"),
    ({"score": "cross out", "category": "Ones"}, "not started yet"),
    ({}, "unknown move"),
    ({"nmae": "Ada"}, "unknown move"),
])
def test_name_phase_rejections(move: dict, expected: str) -> None:
    game = Yahtzee(2, rng=ScriptedRandom(faces=(6, 5, 4, 3, 2)))
    error = game.move(move, 0)
    assert isinstance(error, str) and expected in error
    assert game.current_player() == [0, 1]
    assert game.state(0) == {"scorecard": dict.fromkeys(CATEGORIES), "dice": [6, 5, 4, 3, 2]}


def test_taken_name_is_rejected() -> None:
    game = Yahtzee(2, rng=ScriptedRandom())
    game.move({"name": "Ada"}, 0)
    error = game.move({"name": " Ada "}, 1)
    assert isinstance(error, str) and "already in use" in error
    assert game.current_player() == [1]


def test_name_cannot_be_changed() -> None:
    game = Yahtzee(2, rng=ScriptedRandom())
    game.move({"name": "Ada"}, 0)
    error = game.move({"name": "Eve"}, 0)
    assert isinstance(error, str) and "cannot be changed" in error
    game.move({"name": "Bob"}, 1)
    assert game.state(0)["current_name"] == "Ada"


@pytest.mark.parametrize("move, expected", [
    ({"name": "Eve"}, "names cannot be changed once the game has started"),
    ({}, "unknown move"),
    ({"category": "Ones"}, "unknown move"),
    ({"roll_dice": [0], "score": "cross out", "category": "Ones"}, "either re-rolls or scores"),
    ({"roll_dice": [0], "score": 5}, "either re-rolls or scores"),
    ({"roll_dice": [0], "category": "Ones"}, "either re-rolls or scores"),
])
def test_turn_phase_rejects_names_and_unknown_moves(move: dict, expected: str) -> None:
    game = started(2)
    error = game.move(move, 0)
    assert isinstance(error, str) and expected in error
    assert game.state(1)["current_name"] == "P0"


# --- turns and dice ------------------------------------------------------------

def test_turns_rotate_from_the_random_first_player() -> None:
    game = started(3, first=1)
    order = []
    for category in ("Ones", "Twos", "Threes", "Fours"):
        order.append(turn_player(game))
        assert game.state(0)["current_name"] == f"P{order[-1]}"
        cross(game, category)
    assert order == [1, 2, 0, 1]


def test_every_turn_starts_with_five_fresh_dice_and_three_rolls() -> None:
    faces = (1, 2, 3, 4, 5, 6, 6, 5, 4, 3, 2, 4, 6)
    game = started(2, first=0, faces=faces)
    assert game.state(1)["dice"] == [1, 2, 3, 4, 5]
    assert game.move({"roll_dice": [0]}, 0) is None  # roll 2
    assert game.state(1)["dice"] == [6, 2, 3, 4, 5]
    cross(game, "Chance")
    assert game.state(0)["dice"] == [6, 5, 4, 3, 2]
    assert game.move({"roll_dice": [4]}, 1) is None  # roll 2
    assert game.move({"roll_dice": [3]}, 1) is None  # roll 3
    assert game.state(0)["dice"] == [6, 5, 4, 6, 4]
    assert "already rolled 3 times" in game.move({"roll_dice": [0]}, 1)


def test_reroll_changes_only_the_chosen_dice_in_position_order() -> None:
    game = started(1, faces=(1, 1, 1, 1, 1, 6, 5))
    assert game.move({"roll_dice": [3, 1]}, 0) is None
    assert game.state(0)["dice"] == [1, 6, 1, 5, 1]


def test_a_position_listed_twice_is_rolled_once() -> None:
    game = started(1, faces=(1, 1, 1, 1, 1, 4, 6))
    assert game.move({"roll_dice": [2, 2]}, 0) is None
    assert game.state(0)["dice"] == [1, 1, 4, 1, 1]
    assert game.move({"roll_dice": [0]}, 0) is None  # still a third roll left
    assert game.state(0)["dice"] == [6, 1, 4, 1, 1]


def test_fourth_roll_is_rejected() -> None:
    game = started(1, faces=(1, 1, 1, 1, 1, 2, 3, 4))
    assert game.move({"roll_dice": [0, 1, 2, 3, 4]}, 0) is None
    assert game.move({"roll_dice": [0]}, 0) is None
    before = game.state(0)["dice"]
    error = game.move({"roll_dice": [0]}, 0)
    assert isinstance(error, str) and "already rolled 3 times" in error
    assert game.state(0)["dice"] == before
    assert game.rolls == 3


@pytest.mark.parametrize("selection, expected", [
    (0, "must be a list"),
    ("01", "must be a list"),
    (None, "must be a list"),
    ({"0": 1}, "must be a list"),
    ([], "roll_dice is empty"),
    ([5], "only contain the whole numbers 0..4"),
    ([-1], "only contain the whole numbers 0..4"),
    ([0, 10**5000], "only contain the whole numbers 0..4"),
    ([True], "only contain the whole numbers 0..4"),
    ([1.0], "only contain the whole numbers 0..4"),
    (["0"], "only contain the whole numbers 0..4"),
    ([None], "only contain the whole numbers 0..4"),
    ([[0]], "only contain the whole numbers 0..4"),
])
def test_bad_roll_dice_is_rejected_and_rolls_nothing(selection: object, expected: str) -> None:
    game = started(1, faces=(2, 2, 2, 2, 2, 3, 4))
    error = game.move({"roll_dice": selection}, 0)
    assert isinstance(error, str) and expected in error
    assert game.state(0)["dice"] == [2, 2, 2, 2, 2]
    # A rejected roll does not count: two real re-rolls are still allowed.
    assert game.move({"roll_dice": [0]}, 0) is None
    assert game.move({"roll_dice": [1]}, 0) is None
    assert game.state(0)["dice"] == [3, 4, 2, 2, 2]


# --- scoring -----------------------------------------------------------------

VALID = [
    ("Ones", [1, 1, 2, 3, 1], 3),
    ("Twos", [2, 2, 2, 5, 6], 6),
    ("Threes", [3, 1, 1, 1, 1], 3),
    ("Fours", [4, 4, 4, 4, 2], 16),
    ("Fives", [5, 5, 1, 2, 3], 10),
    ("Sixes", [6, 6, 6, 6, 6], 30),
    ("Three of a Kind", [3, 5, 3, 6, 3], 20),
    ("Three of a Kind", [2, 2, 2, 2, 5], 13),
    ("Three of a Kind", [4, 4, 4, 4, 4], 20),
    ("Four of a Kind", [5, 1, 5, 5, 5], 21),
    ("Four of a Kind", [6, 6, 6, 6, 6], 30),
    ("Full House", [2, 3, 2, 3, 3], 25),
    ("Full House", [6, 5, 6, 5, 5], 25),
    ("Small Straight", [1, 2, 3, 4, 6], 30),
    ("Small Straight", [5, 2, 3, 4, 5], 30),
    ("Small Straight", [3, 4, 5, 6, 1], 30),
    ("Small Straight", [6, 4, 4, 5, 3], 30),
    ("Small Straight", [1, 2, 3, 4, 5], 30),
    ("Large Straight", [1, 2, 3, 4, 5], 40),
    ("Large Straight", [6, 5, 4, 3, 2], 40),
    ("Yahtzee", [3, 3, 3, 3, 3], 50),
    ("Chance", [1, 2, 3, 4, 6], 16),
    ("Chance", [6, 6, 6, 6, 6], 30),
]


@pytest.mark.parametrize("category, dice, points", VALID)
def test_add_points(category: str, dice: list[int], points: int) -> None:
    game = started(2, first=1)
    add(game, category, dice)
    assert card(game, 1) == {**dict.fromkeys(CATEGORIES), category: points}
    assert card(game, 0) == dict.fromkeys(CATEGORIES)
    assert game.current_player() == [0]


INVALID = [
    ("Ones", [2, 3, 4, 5, 6]),
    ("Twos", [1, 3, 4, 5, 6]),
    ("Threes", [1, 2, 4, 5, 6]),
    ("Fours", [1, 2, 3, 5, 6]),
    ("Fives", [1, 2, 3, 4, 6]),
    ("Sixes", [1, 2, 3, 4, 5]),
    ("Three of a Kind", [1, 1, 2, 2, 3]),
    ("Four of a Kind", [2, 2, 2, 3, 3]),
    ("Full House", [2, 2, 2, 2, 3]),
    ("Full House", [1, 1, 2, 3, 4]),
    ("Full House", [5, 5, 5, 5, 5]),
    ("Small Straight", [1, 2, 3, 5, 6]),
    ("Small Straight", [1, 1, 2, 2, 3]),
    ("Large Straight", [1, 2, 3, 4, 6]),
    ("Large Straight", [2, 3, 4, 5, 5]),
    ("Yahtzee", [1, 1, 1, 1, 2]),
]


@pytest.mark.parametrize("category, dice", INVALID)
def test_dice_that_do_not_fit_are_rejected(category: str, dice: list[int]) -> None:
    game = started(2, first=1)
    game.dice = list(dice)
    error = game.move({"score": "add points", "category": category}, 1)
    assert isinstance(error, str) and f"do not fit {category}" in error
    assert card(game, 1) == dict.fromkeys(CATEGORIES)
    assert game.current_player() == [1]
    assert game.state(0)["dice"] == dice


def test_every_category_except_chance_has_a_rejection_case() -> None:
    assert {c for c, _ in INVALID} == set(CATEGORIES) - {"Chance"}
    assert {c for c, _, _ in VALID} == set(CATEGORIES)


@pytest.mark.parametrize("category", CATEGORIES)
def test_cross_out_scores_zero_and_ends_the_turn(category: str) -> None:
    game = started(2, first=0)
    game.dice = [6, 6, 6, 6, 6]
    cross(game, category)
    assert card(game, 0) == {**dict.fromkeys(CATEGORIES), category: 0}
    assert game.current_player() == [1]


@pytest.mark.parametrize("action", ["add points", "cross out"])
@pytest.mark.parametrize("first", ["add points", "cross out"])
def test_used_category_is_rejected(first: str, action: str) -> None:
    game = started(1)
    game.dice = [1, 2, 3, 4, 5]
    assert game.move({"score": first, "category": "Ones"}, 0) is None
    game.dice = [1, 1, 1, 1, 2]
    error = game.move({"score": action, "category": "Ones"}, 0)
    assert isinstance(error, str) and "category was already used" in error
    assert card(game)["Ones"] == (1 if first == "add points" else 0)


@pytest.mark.parametrize("move, expected", [
    ({"score": "add points"}, "category missing"),
    ({"score": "cross out"}, "category missing"),
    ({"score": "add points", "category": "Sevens"}, "unknown category"),
    ({"score": "add points", "category": "ones"}, "unknown category"),
    ({"score": "cross out", "category": "Ones "}, "unknown category"),
    ({"score": "cross out", "category": 1}, "unknown category"),
    ({"score": "cross out", "category": None}, "unknown category"),
    ({"score": "cross out", "category": ["Ones"]}, "unknown category"),
    ({"score": "add", "category": "Ones"}, "score must be 'add points' or 'cross out'"),
    ({"score": None, "category": "Ones"}, "score must be 'add points' or 'cross out'"),
    ({"score": ["cross out"], "category": "Ones"}, "score must be 'add points' or 'cross out'"),
])
def test_bad_score_moves_are_rejected(move: dict, expected: str) -> None:
    game = started(1)
    game.dice = [1, 1, 1, 1, 1]
    error = game.move(move, 0)
    assert isinstance(error, str) and expected in error
    assert card(game) == dict.fromkeys(CATEGORIES)
    assert game.current_player() == [0]


# --- bonuses, game end and ranking --------------------------------------------

def play_solo(upper_dice: dict[str, list[int]], lower: dict[str, list[int] | None]) -> Yahtzee:
    """Fill a one-player card: given dice are added, None means crossed out."""
    game = started(1)
    for category, dice in {**upper_dice, **lower}.items():
        if dice is None:
            cross(game, category)
        else:
            add(game, category, dice)
    return game


THREE_OF_EACH = {name: [face] * 3 + [7 - face] * 2 for face, name in enumerate(UPPER, start=1)}
NO_LOWER = dict.fromkeys(LOWER)


def test_upper_bonus_at_exactly_63() -> None:
    game = play_solo(THREE_OF_EACH, NO_LOWER)
    assert sum(card(game)[c] for c in UPPER) == 63
    assert game.state(0)["ranking"] == {"P0": 63 + 35}


def test_no_upper_bonus_at_62() -> None:
    upper = {**THREE_OF_EACH, "Ones": [1, 1, 6, 6, 6]}
    game = play_solo(upper, NO_LOWER)
    assert sum(card(game)[c] for c in UPPER) == 62
    assert game.state(0)["ranking"] == {"P0": 62}


def test_upper_bonus_is_not_shown_in_the_scorecard() -> None:
    game = play_solo(THREE_OF_EACH, NO_LOWER)
    assert sum(card(game).values()) == 63


def test_further_yahtzees_add_100_each() -> None:
    game = started(1)
    add(game, "Yahtzee", [2, 2, 2, 2, 2])
    assert card(game)["Yahtzee"] == 50
    add(game, "Yahtzee", [5, 5, 5, 5, 5])
    assert card(game)["Yahtzee"] == 150
    add(game, "Yahtzee", [1, 1, 1, 1, 1])
    assert card(game)["Yahtzee"] == 250
    # The bonus turns filled no other box.
    assert [c for c, v in card(game).items() if v is not None] == ["Yahtzee"]
    for category in CATEGORIES:
        if category != "Yahtzee":
            cross(game, category)
    assert game.state(0)["ranking"] == {"P0": 250}


def test_bonus_yahtzee_ends_the_turn_and_rerolls_for_the_next_player() -> None:
    game = started(2, first=0, faces=(1, 1, 1, 1, 1) + (2, 2, 2, 2, 2) * 2 + (3, 4, 5, 6, 1))
    add(game, "Yahtzee", [4, 4, 4, 4, 4])
    cross(game, "Ones")
    add(game, "Yahtzee", [6, 6, 6, 6, 6])
    assert card(game, 0)["Yahtzee"] == 150
    assert game.current_player() == [1]
    assert game.state(1)["dice"] == [3, 4, 5, 6, 1]
    assert game.rolls == 1


def test_no_bonus_into_a_crossed_out_yahtzee_box() -> None:
    game = started(1)
    cross(game, "Yahtzee")
    game.dice = [3, 3, 3, 3, 3]
    error = game.move({"score": "add points", "category": "Yahtzee"}, 0)
    assert isinstance(error, str) and "category was already used" in error
    assert card(game)["Yahtzee"] == 0


def test_filled_yahtzee_box_rejects_non_yahtzee_dice_and_cross_out() -> None:
    game = started(1)
    add(game, "Yahtzee", [3, 3, 3, 3, 3])
    game.dice = [3, 3, 3, 3, 4]
    assert "do not fit Yahtzee" in game.move({"score": "add points", "category": "Yahtzee"}, 0)
    error = game.move({"score": "cross out", "category": "Yahtzee"}, 0)
    assert "category was already used" in error
    assert card(game)["Yahtzee"] == 50


def test_full_game_two_players_ranking_and_final_state() -> None:
    game = started(2, first=1)
    # P1 (first) scores the upper section with three of each face and a
    # Yahtzee; P0 crosses everything out except Chance.
    moves_p1 = list(THREE_OF_EACH.items()) + [("Yahtzee", [6] * 5)]
    moves_p1 += [(c, None) for c in LOWER if c != "Yahtzee"]
    moves_p0 = [(c, None) for c in CATEGORIES if c != "Chance"] + [("Chance", [6] * 5)]
    for (cat1, dice1), (cat0, dice0) in zip(moves_p1, moves_p0, strict=True):
        assert not game.game_over()
        for pid, category, dice in ((1, cat1, dice1), (0, cat0, dice0)):
            assert game.current_player() == [pid]
            if dice is None:
                cross(game, category)
            else:
                add(game, category, dice)
    assert game.game_over()
    assert game.current_player() == []
    for pid in (0, 1):
        state = game.state(pid)
        assert set(state) == {"scorecard", "ranking"}
        assert list(state["ranking"].items()) == [("P1", 63 + 35 + 50), ("P0", 30)]
    assert card(game, 0)["Chance"] == 30
    assert card(game, 1)["Chance"] == 0


def test_players_with_a_full_card_are_skipped() -> None:
    # Fives for the opening roll and the next 26 turns, then P0's extra turn.
    game = started(2, first=0, faces=(5,) * 5 * 27 + (2, 3, 4, 5, 6))
    add(game, "Yahtzee", [1] * 5)
    cross(game, "Ones")
    add(game, "Yahtzee", [2] * 5)  # bonus: fills no box
    cross(game, "Twos")
    add(game, "Yahtzee", [3] * 5)  # bonus again: P0 is now two boxes behind
    open_p0 = [c for c in CATEGORIES if c != "Yahtzee"]
    open_p1 = [c for c in CATEGORIES if c not in ("Ones", "Twos")]
    for category in open_p1:
        cross(game, category)
        cross(game, open_p0.pop(0))
    assert None not in card(game, 1).values()
    assert open_p0 == ["Chance"]
    # P1's card is full, so the turn stays with P0, with freshly rolled dice.
    assert not game.game_over()
    assert game.current_player() == [0]
    assert game.rolls == 1
    assert game.state(0)["dice"] == [2, 3, 4, 5, 6]
    cross(game, "Chance")
    assert game.game_over()
    assert game.state(1)["ranking"] == {"P0": 250, "P1": 0}


# --- legal moves -----------------------------------------------------------------

ALL_REROLLS = [[0], [1], [2], [3], [4],
               [0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [1, 3], [1, 4], [2, 3], [2, 4], [3, 4],
               [0, 1, 2], [0, 1, 3], [0, 1, 4], [0, 2, 3], [0, 2, 4], [0, 3, 4],
               [1, 2, 3], [1, 2, 4], [1, 3, 4], [2, 3, 4],
               [0, 1, 2, 3], [0, 1, 2, 4], [0, 1, 3, 4], [0, 2, 3, 4], [1, 2, 3, 4],
               [0, 1, 2, 3, 4]]


def scoring(moves: list[dict]) -> tuple[list[str], list[str]]:
    """The categories of the "add points" and of the "cross out" moves in ``moves``."""
    adds = [m["category"] for m in moves if m.get("score") == "add points"]
    crosses = [m["category"] for m in moves if m.get("score") == "cross out"]
    return adds, crosses


def test_one_example_name_is_listed_while_names_are_chosen() -> None:
    session = LocalSession(Yahtzee, 3)
    assert session.legal_moves(0) == [{"name": "player 0"}]
    session.move(0, name="player 1")  # names are free text: any valid name is fine
    assert session.legal_moves(0) == []  # waiting for the others
    assert session.legal_moves(1) == [{"name": "player 1 (2)"}]  # "player 1" is taken
    session.game.names[2] = "player 1 (2)"  # while player 2 is still choosing
    assert session.game.legal_moves(1) == [{"name": "player 1 (3)"}]
    session.game.names[2] = None
    session.move(1, session.legal_moves(1)[0])
    assert session.state(0)["current"] == [2]
    session.move(2, session.legal_moves(2)[0])
    assert sorted(session.game.names) == ["player 1", "player 1 (2)", "player 2"]


def test_legal_moves_of_a_fresh_turn() -> None:
    game = started(2, first=0, faces=(1, 2, 3, 4, 5))
    moves = game.legal_moves(0)
    assert [m["roll_dice"] for m in moves if "roll_dice" in m] == ALL_REROLLS
    adds, crosses = scoring(moves)
    assert adds == ["Ones", "Twos", "Threes", "Fours", "Fives",
                    "Small Straight", "Large Straight", "Chance"]
    assert crosses == list(CATEGORIES)
    assert len(moves) == 31 + len(adds) + len(crosses)
    assert game.legal_moves(1) == []  # not this player's turn


def test_no_rerolls_are_listed_after_the_third_roll() -> None:
    game = started(1)
    game.rolls = 3
    assert not any("roll_dice" in m for m in game.legal_moves(0))


def test_used_categories_are_not_listed() -> None:
    game = started(1)
    add(game, "Chance", [2, 2, 2, 3, 3])
    cross(game, "Ones")
    game.dice = [2, 2, 2, 3, 3]
    adds, crosses = scoring(game.legal_moves(0))
    assert adds == ["Twos", "Threes", "Three of a Kind", "Full House"]
    assert crosses == [c for c in CATEGORIES if c not in ("Chance", "Ones")]


def test_a_yahtzee_bonus_is_listed_but_not_into_a_crossed_out_box() -> None:
    game = started(1)
    add(game, "Yahtzee", [4] * 5)
    game.dice = [6] * 5
    adds, crosses = scoring(game.legal_moves(0))
    assert "Yahtzee" in adds and "Yahtzee" not in crosses
    crossed = started(1)
    cross(crossed, "Yahtzee")
    crossed.dice = [6] * 5
    adds, crosses = scoring(crossed.legal_moves(0))
    assert "Yahtzee" not in adds and "Yahtzee" not in crosses


def test_no_legal_moves_once_the_game_is_over() -> None:
    game = started(1)
    for category in CATEGORIES:
        cross(game, category)
    assert game.game_over()
    assert game.legal_moves(0) == []


def candidate_moves() -> list[dict]:
    """Every canonical move a client might try in phase 2."""
    moves: list[dict] = [{"roll_dice": positions} for positions in ALL_REROLLS]
    for category in CATEGORIES:
        moves.append({"score": "add points", "category": category})
        moves.append({"score": "cross out", "category": category})
    return moves


def test_200_random_games_via_legal_moves() -> None:
    rng = random.Random(3)
    stream = random.Random(33)

    class Seeded(Yahtzee):  # repeatable dice, still played through the harness
        def __init__(self, players: int) -> None:
            super().__init__(players, rng=random.Random(stream.random()))

    sessions = {n: LocalSession(Seeded, n) for n in (1, 2, 3)}
    for number in range(200):
        players = 1 + number % 3
        session = sessions[players]
        game = session.game
        for pid in rng.sample(range(players), players):
            session.move(pid, rng.choice(session.legal_moves(pid)))  # an example name
        moves = 0
        while not game.game_over():
            [player] = game.current_player()
            legal = session.legal_moves(player)
            assert legal
            if number < 5:  # exactness: a canonical move is accepted iff it is listed
                for move in candidate_moves():
                    accepted = copy.deepcopy(game).move(move, player) is None
                    assert accepted == (move in legal), (move, game.dice, legal)
            session.move(player, rng.choice(legal))  # raises if a listed move is rejected
            moves += 1
            assert moves <= players * 13 * 3 * 2  # 13+ turns of at most 3 moves each
        assert len(session.state(0)["ranking"]) == players
        session.restart()
    for session in sessions.values():
        session.close()
