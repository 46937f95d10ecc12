"""Rules of Battleship, played through the in-process harness ``LocalSession``.

Tests that need a known first shooter set the documented ``turn`` attribute
through ``session.game`` right after both fleets are placed.
"""

import random
from typing import Any

import pytest

from gameserver.games.battleship import Battleship
from gameserver.testing import GameServerError, IllegalMove, LocalSession
from tests.games.helpers import contains

# Ships on the even rows, from the left edge: rows 1, 3, 5, 7 and 9 are water.
FLEET_A = [[0, 0, 5, "h"], [2, 0, 4, "h"], [4, 0, 3, "h"], [6, 0, 3, "h"], [8, 0, 2, "h"]]
FLEET_B = [[0, 9, 5, "v"], [0, 7, 4, "v"], [5, 5, 3, "v"], [9, 0, 3, "h"], [6, 9, 2, "v"]]
WATER_OF_A = [(row, col) for row in (1, 3, 5, 7, 9) for col in range(10)]
EMPTY_GRID = ["." * 10] * 10


def cells(fleet: list[list[Any]]) -> list[list[int]]:
    """Every [row, col] a fleet covers."""
    out = []
    for row, col, length, direction in fleet:
        for i in range(length):
            out.append([row + i * (direction == "v"), col + i * (direction == "h")])
    return out


def pairs(state: Any) -> set[tuple[Any, ...]]:
    """Every two-item list in ``state``, as tuples: where a leaked [row, col] would be."""
    found = set()
    values = [state]
    while values:
        value = values.pop()
        if isinstance(value, dict):
            values.extend(value.values())
        elif isinstance(value, list):
            if len(value) == 2 and not any(isinstance(v, (list, dict)) for v in value):
                found.add(tuple(value))
            values.extend(value)
    return found


def placed(first: int = 0) -> LocalSession:
    """A session in the shooting phase: player 0 has FLEET_A, player 1 FLEET_B."""
    session = LocalSession(Battleship, 2)
    session.move(0, ships=FLEET_A)
    session.move(1, ships=FLEET_B)
    session.game.turn = first
    return session


def shoot(session: LocalSession, player: int, row: int, col: int) -> None:
    session.move(player, shot=[row, col])


class FirstShooter(random.Random):
    """A random source that picks ``first`` as the first shooter (randrange(2))."""

    def __init__(self, first: int) -> None:
        super().__init__(0)
        self.first = first
        self.asked = 0

    def randrange(self, start: int, *args: Any, **kwargs: Any) -> int:  # type: ignore[override]
        if start == 2 and not args:
            self.asked += 1
            return self.first
        return super().randrange(start, *args, **kwargs)


# --- setup -------------------------------------------------------------------------

def test_player_limits() -> None:
    assert (Battleship.min_players(), Battleship.max_players()) == (2, 2)


def test_grids_are_rows_of_characters() -> None:
    session = placed(first=1)
    shoot(session, 1, 0, 1)
    shoot(session, 0, 0, 0)
    assert session.state(0)["board"][:3] == ["SXSSS.....", "..........", "SSSS......"]
    assert session.state(0)["shots"][0] == "o........."
    assert session.state(1)["board"][0] == "o......S.S"
    assert session.state(1)["shots"][0] == ".X........"


def test_initial_state() -> None:
    session = LocalSession(Battleship, 2)
    assert session.state(1) == {
        "phase": "setup", "board": EMPTY_GRID, "ships": [], "shots": EMPTY_GRID, "sunk": [],
        "opponent_ready": False, "ships_left": 0, "opponent_ships_left": 0,
        "last_shot": None, "winner": None, "current": [0, 1], "gameover": False,
    }


def test_placing_shows_your_ships_only_to_you() -> None:
    session = LocalSession(Battleship, 2)
    session.move(0, ships=FLEET_A)
    assert session.current == [1]
    mine, theirs = session.state(0), session.state(1)
    assert mine["ships"] == FLEET_A and mine["ships_left"] == 5
    assert sorted([r, c] for r in range(10) for c in range(10)
                  if mine["board"][r][c] == "S") == sorted(cells(FLEET_A))
    assert mine["opponent_ready"] is False
    assert theirs["opponent_ready"] is True and theirs["opponent_ships_left"] == 5
    assert theirs["board"] == theirs["shots"] == EMPTY_GRID and theirs["ships"] == []
    with pytest.raises(GameServerError, match="not your turn"):
        session.move(0, ships=FLEET_B)


def test_shooting_starts_once_both_have_placed() -> None:
    session = LocalSession(Battleship, 2)
    session.move(1, ships=FLEET_B)
    assert session.state(0)["phase"] == "setup"
    session.move(0, ships=FLEET_A)
    state = session.state(0)
    assert state["phase"] == "shooting" and state["current"] in ([0], [1])


@pytest.mark.parametrize("first", [0, 1])
def test_first_shooter_comes_from_the_random_source(first: int) -> None:
    rng = FirstShooter(first)
    game = Battleship(2, rng=rng)
    assert game.move({"ships": FLEET_A}, 0) is None
    assert rng.asked == 0
    assert game.move({"ships": FLEET_B}, 1) is None
    assert rng.asked == 1
    assert game.current_player() == [first]


@pytest.mark.parametrize("fleet", [
    FLEET_B,
    list(reversed(FLEET_A)),
    # Touching ships are fine.
    [[0, 0, 5, "h"], [1, 0, 4, "h"], [2, 0, 3, "h"], [3, 0, 3, "h"], [4, 0, 2, "h"]],
    # Into the far corners.
    [[5, 9, 5, "v"], [9, 5, 4, "h"], [0, 0, 3, "v"], [0, 1, 3, "v"], [0, 8, 2, "h"]],
])
def test_any_valid_placement_is_accepted(fleet: list[list[Any]]) -> None:
    session = LocalSession(Battleship, 2)
    session.move(1, ships=fleet)
    assert session.state(1)["ships"] == fleet


SETUP_REJECTIONS = {
    "no key": ({}, "unknown move: place your ships first"),
    "shot": ({"shot": [0, 0]}, "the shooting has not started yet"),
    "text": ({"ships": "A1"}, "ships must be a list of five ships"),
    "dict": ({"ships": {"0": [0, 0, 5, "h"]}}, "ships must be a list of five ships"),
    "four": ({"ships": FLEET_A[:4]}, "you sent 4 ships"),
    "six": ({"ships": [*FLEET_A, [9, 9, 1, "h"]]}, "you sent 6 ships"),
    "empty": ({"ships": []}, "you sent 0 ships"),
    "entry not a list": ({"ships": [5, *FLEET_A[1:]]}, r"ships\[0\] must be a list"),
    "entry too short": ({"ships": [*FLEET_A[:4], [8, 0, 2]]}, r"ships\[4\] must be a list"),
    "entry too long": ({"ships": [[0, 0, 5, "h", 1], *FLEET_A[1:]]}, r"ships\[0\] must be"),
    "text row": ({"ships": [["0", 0, 5, "h"], *FLEET_A[1:]]}, r"ships\[0\] must be"),
    "bool col": ({"ships": [[0, True, 5, "h"], *FLEET_A[1:]]}, r"ships\[0\] must be"),
    "float length": ({"ships": [[0, 0, 5.0, "h"], *FLEET_A[1:]]}, r"ships\[0\] must be"),
    "direction": ({"ships": [FLEET_A[0], [2, 0, 4, "x"], *FLEET_A[2:]]},
                  r"ships\[1\]: the direction must be 'h'"),
    "upper-case direction": ({"ships": [[0, 0, 5, "H"], *FLEET_A[1:]]}, "direction must be"),
    "dict direction": ({"ships": [[0, 0, 5, {}], *FLEET_A[1:]]}, "direction must be"),
    "null direction": ({"ships": [[0, 0, 5, None], *FLEET_A[1:]]}, "direction must be"),
    "lengths": ({"ships": [*FLEET_A[:3], [6, 0, 2, "h"], FLEET_A[4]]},
                "lengths must be 5, 4, 3, 3 and 2 .* you sent 5, 4, 3, 2, 2"),
    "zero length": ({"ships": [*FLEET_A[:4], [8, 0, 0, "h"]]}, "you sent 5, 4, 3, 3, 0"),
    "huge length": ({"ships": [*FLEET_A[:4], [8, 0, 10**30, "h"]]},
                    r"you sent \(a huge number\), 5, 4, 3, 3"),
    "off the right": ({"ships": [[0, 6, 5, "h"], *FLEET_A[1:]]},
                      r"ships\[0\] \(length 5 from row 0, col 6, 'h'\) does not fit"),
    "off the bottom": ({"ships": [*FLEET_A[:4], [9, 8, 2, "v"]]}, r"ships\[4\] .* does not fit"),
    "negative": ({"ships": [*FLEET_A[:4], [-1, 0, 2, "h"]]}, "row -1, col 0, 'h'"),
    "huge row": ({"ships": [[10**30, 0, 5, "h"], *FLEET_A[1:]]}, r"row \(a huge number\)"),
    "overlap": ({"ships": [[0, 0, 5, "h"], [0, 2, 4, "v"], *FLEET_A[2:]]},
                r"ships\[0\] and ships\[1\] overlap at row 0, col 2"),
}


@pytest.mark.parametrize("name", SETUP_REJECTIONS)
def test_bad_placements_are_rejected_and_change_nothing(name: str) -> None:
    move, expected = SETUP_REJECTIONS[name]
    session = LocalSession(Battleship, 2)
    before = session.state(0)
    with pytest.raises(IllegalMove, match=expected):
        session.move(0, move)
    assert session.state(0) == before
    assert session.current == [0, 1]


def test_numbers_too_long_for_json_are_rejected_by_the_class() -> None:
    game = Battleship(2)
    error = game.move({"ships": [[10**5000, 0, 5, "h"], *FLEET_A[1:]]}, 0)
    assert "(a huge number)" in error
    error = game.move({"ships": [[0, 0, 10**5000, "h"], *FLEET_A[1:]]}, 0)
    assert "(a huge number)" in error
    game.move({"ships": FLEET_A}, 0)
    game.move({"ships": FLEET_B}, 1)
    assert "off the grid" in game.move({"shot": [10**5000, 0]}, game.turn)


# --- shooting ------------------------------------------------------------------------

def test_a_miss_marks_both_grids_and_passes_the_turn() -> None:
    session = placed(first=0)
    shoot(session, 0, 9, 9)
    mine, theirs = session.state(0), session.state(1)
    assert mine["shots"][9][9] == "o" and theirs["board"][9][9] == "o"
    assert mine["last_shot"] == theirs["last_shot"] == {
        "player": 0, "row": 9, "col": 9, "result": "miss"}
    assert mine["current"] == [1]


def test_a_hit_does_not_give_another_shot() -> None:
    session = placed(first=1)
    shoot(session, 1, 0, 0)
    mine, theirs = session.state(1), session.state(0)
    assert mine["shots"][0][0] == "X" and theirs["board"][0][0] == "X"
    assert mine["last_shot"]["result"] == "hit"
    assert mine["sunk"] == [] and mine["opponent_ships_left"] == 5
    assert session.current == [0]


def test_sinking_a_ship_reveals_it() -> None:
    session = placed(first=0)
    shoot(session, 0, 6, 9)
    shoot(session, 1, 9, 9)
    shoot(session, 0, 7, 9)
    mine, theirs = session.state(0), session.state(1)
    assert mine["last_shot"] == {"player": 0, "row": 7, "col": 9, "result": "sunk"}
    assert mine["sunk"] == [[6, 9, 2, "v"]]
    assert mine["shots"][6][9] == mine["shots"][7][9] == "#"
    assert theirs["board"][6][9] == theirs["board"][7][9] == "#"
    assert mine["opponent_ships_left"] == theirs["ships_left"] == 4
    assert theirs["sunk"] == [] and theirs["opponent_ships_left"] == 5


def test_sunk_ships_are_shown_in_full_even_when_hit_in_any_order() -> None:
    session = placed(first=0)
    water = iter(WATER_OF_A)
    for row in (2, 0, 4, 1, 3):  # the 5-long ship of player 1 in column 9
        shoot(session, 0, row, 9)
        shoot(session, 1, *next(water))
    state = session.state(0)
    assert state["sunk"] == [[0, 9, 5, "v"]]
    assert [state["shots"][row][9] for row in range(5)] == ["#"] * 5


def test_sinking_the_last_ship_wins() -> None:
    session = placed(first=0)
    targets = [tuple(cell) for cell in cells(FLEET_B)]
    water = iter(WATER_OF_A)
    for target in targets[:-1]:
        shoot(session, 0, *target)
        shoot(session, 1, *next(water))
    assert not session.gameover
    shoot(session, 0, *targets[-1])
    state = session.state(1)
    assert state["winner"] == 0 and state["phase"] == "over"
    assert state["current"] == [] and state["gameover"]
    assert state["ships_left"] == 0 and state["opponent_ships_left"] == 5
    assert all(state["board"][r][c] == "#" for r, c in targets)
    assert sorted(session.state(0)["sunk"]) == sorted(FLEET_B)
    with pytest.raises(GameServerError, match="game has ended"):
        shoot(session, 1, 0, 0)


def test_the_second_shooter_can_win() -> None:
    session = placed(first=0)
    water_of_b = [(r, c) for r in range(10) for c in range(10)
                  if [r, c] not in cells(FLEET_B)]
    for target, water in zip(cells(FLEET_A), water_of_b, strict=False):
        shoot(session, 0, *water)
        shoot(session, 1, *target)
    assert session.state(0)["winner"] == 1


def test_a_cell_can_be_shot_only_once() -> None:
    session = placed(first=0)
    shoot(session, 0, 3, 3)
    shoot(session, 1, 3, 3)  # the same cell on the other grid is fine
    before = session.state(0)
    with pytest.raises(IllegalMove, match="you already shot at row 3, col 3"):
        shoot(session, 0, 3, 3)
    assert session.state(0) == before


SHOT_REJECTIONS = {
    "no key": ({}, "unknown move: send move\\(shot=\\[row, col\\]\\)"),
    "ships": ({"ships": FLEET_A}, "already placed and cannot be moved"),
    "number": ({"shot": 5}, "shot must be a list of two whole numbers"),
    "text": ({"shot": "B4"}, "shot must be a list of two"),
    "one": ({"shot": [1]}, "shot must be a list of two"),
    "three": ({"shot": [1, 2, 3]}, "shot must be a list of two"),
    "texts": ({"shot": ["1", "2"]}, "shot must be a list of two"),
    "bool": ({"shot": [True, 0]}, "shot must be a list of two"),
    "float": ({"shot": [1.0, 2]}, "shot must be a list of two"),
    "null": ({"shot": None}, "shot must be a list of two"),
    "dict": ({"shot": {"row": 1, "col": 2}}, "shot must be a list of two"),
    "row 10": ({"shot": [10, 0]}, r"shot \[10, 0\] is off the grid"),
    "negative col": ({"shot": [0, -1]}, r"shot \[0, -1\] is off the grid"),
    "huge": ({"shot": [10**30, 0]}, r"shot \[\(a huge number\), 0\] is off the grid"),
}


@pytest.mark.parametrize("name", SHOT_REJECTIONS)
def test_bad_shots_are_rejected_and_change_nothing(name: str) -> None:
    move, expected = SHOT_REJECTIONS[name]
    session = placed(first=1)
    before = session.state(1)
    with pytest.raises(IllegalMove, match=expected):
        session.move(1, move)
    assert session.state(1) == before


def test_shooting_out_of_turn_is_refused_by_the_framework() -> None:
    session = placed(first=0)
    with pytest.raises(GameServerError, match="not your turn"):
        shoot(session, 1, 0, 0)


# --- hidden information -----------------------------------------------------------------

def test_private_data_is_the_unhit_cells_of_your_ships() -> None:
    session = placed(first=0)
    game = session.game
    assert sorted(game.private_data(0)) == sorted(cells(FLEET_A))
    assert sorted(game.private_data(1)) == sorted(cells(FLEET_B))
    shoot(session, 0, 6, 9)  # hit, not sunk
    assert [6, 9] not in game.private_data(1) and [7, 9] in game.private_data(1)
    shoot(session, 1, 9, 9)
    shoot(session, 0, 7, 9)  # sunk
    assert len(game.private_data(1)) == 17 - 2
    assert LocalSession(Battleship, 2).game.private_data(0) == []  # nothing placed


def test_no_state_shows_the_opponents_hidden_ships() -> None:
    session = placed(first=0)
    shoot(session, 0, 0, 9)
    shoot(session, 1, 9, 9)
    for owner in (0, 1):
        other = session.state(1 - owner)
        for secret in session.game.private_data(owner):
            assert not contains(other, secret)
        # The opponent's view only marks cells that were shot at.
        shot_cells = sum(cell != "." for row in other["shots"] for cell in row)
        assert shot_cells == 1


# --- legal moves -------------------------------------------------------------------------

def test_legal_moves_during_setup_are_one_fixed_example_placement() -> None:
    session = LocalSession(Battleship, 2)
    [example] = session.legal_moves(0)
    assert session.legal_moves(0) == [example]  # the same every time
    assert list(example) == ["ships"] and len(example["ships"]) == 5
    session.move(0, example)
    assert session.legal_moves(0) == []  # placed: waiting for player 1
    [other] = session.legal_moves(1)
    session.move(1, other)
    assert session.state(0)["phase"] == "shooting"


@pytest.mark.parametrize("seed", range(50))
def test_example_placements_are_always_valid(seed: int) -> None:
    game = Battleship(2, rng=random.Random(seed))
    for player in (0, 1):
        [example] = game.legal_moves(player)
        assert Battleship(2).move(example, player) is None


def test_legal_moves_while_shooting_are_the_cells_not_shot_yet() -> None:
    session = placed(first=0)
    everything = [{"shot": [r, c]} for r in range(10) for c in range(10)]
    assert session.legal_moves(0) == everything
    assert session.legal_moves(1) == []
    shoot(session, 0, 4, 2)
    assert session.legal_moves(0) == []
    assert session.legal_moves(1) == everything
    shoot(session, 1, 0, 0)
    assert session.legal_moves(0) == [m for m in everything if m["shot"] != [4, 2]]


def test_state_is_a_copy() -> None:
    game = Battleship(2)
    game.move({"ships": FLEET_A}, 0)
    state = game.state(0)
    state["board"][0] = "." * 10
    state["ships"][0][0] = 9
    assert game.state(0)["board"][0] == "S" * 5 + "." * 5
    assert game.state(0)["ships"] == FLEET_A


def test_restart_starts_a_fresh_game() -> None:
    session = placed(first=0)
    shoot(session, 0, 0, 0)
    session.restart(1)
    state = session.state(0)
    assert state["phase"] == "setup" and state["ships"] == [] and state["last_shot"] is None


def test_200_random_games_via_legal_moves() -> None:
    rng = random.Random(11)
    session = LocalSession(Battleship, 2)
    winners = set()
    for _ in range(200):
        moves = 0
        game = session.game  # asked directly for speed; moves go through the harness
        while not game.game_over():
            player = rng.choice(game.current_player())
            legal = session.legal_moves(player)
            assert legal
            session.move(player, rng.choice(legal))  # raises if a listed move is rejected
            moves += 1
            assert moves <= 2 + 200  # two placements, then at most every cell twice
            if moves % 10 == 0:  # now and then: nobody sees the other's hidden ships
                for owner in (0, 1):
                    seen = pairs(session.state(1 - owner))
                    assert not any(tuple(secret) in seen
                                   for secret in session.game.private_data(owner))
        state = session.state(0)
        assert state["gameover"] and state["current"] == []
        loser = 1 - state["winner"]
        assert session.game.private_data(loser) == []
        winners.add(state["winner"])
        session.restart()
    assert winners == {0, 1}
    session.close()
