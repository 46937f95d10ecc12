"""Rules of CrazyEights, played through the in-process harness ``LocalSession``.

Most tests set up an exact position through the documented attributes of
``session.game`` (hands, piles, suit, turn, direction) and then play moves
through the harness.
"""

import copy
import random
from typing import Any

import pytest

from gameserver.games.crazy_eights import DECK, CrazyEights, sort_key
from gameserver.testing import GameServerError, IllegalMove, LocalSession
from tests.games.helpers import FirstPlayer, contains

PASS = {"pass": True}
DRAW = {"draw": True}
SPECIAL_RANKS = ("8", "2", "Q", "A")


def strings(state: Any) -> set[str]:
    """Every string anywhere in ``state`` (cards are strings)."""
    if isinstance(state, str):
        return {state}
    if isinstance(state, dict):
        state = list(state.values())
    if isinstance(state, list):
        return set().union(*map(strings, state))
    return set()


def position(hands: list[list[str]], top: str = "7H", suit: str | None = None,
             pile: list[str] | None = None, discard: list[str] | None = None,
             turn: int = 0, direction: int = 1) -> LocalSession:
    """A session with exactly this position. ``pile`` is drawn from its end; by
    default it holds every other card. ``discard`` lies under ``top``."""
    session = LocalSession(CrazyEights, len(hands))
    game = session.game
    game.hands = [sorted(hand, key=sort_key) for hand in hands]
    game.discard = [*(discard or []), top]
    used = {card for hand in hands for card in hand} | set(game.discard)
    game.draw_pile = list(pile) if pile is not None else [c for c in DECK if c not in used]
    game.suit = suit or top[-1]
    game.turn = turn
    game.direction = direction
    game.drawn = None
    game.log = []
    return session


def all_cards(game: CrazyEights) -> list[str]:
    return sorted([*(c for hand in game.hands for c in hand), *game.draw_pile, *game.discard])


# --- dealing -------------------------------------------------------------------------

def test_player_limits() -> None:
    assert (CrazyEights.min_players(), CrazyEights.max_players()) == (2, 6)


@pytest.mark.parametrize("players, hand_size", [(2, 7), (3, 5), (4, 5), (5, 5), (6, 5)])
def test_deal(players: int, hand_size: int) -> None:
    session = LocalSession(CrazyEights, players)
    state = session.state(0)
    assert set(state) == {"hand", "top", "suit", "hand_sizes", "draw_pile", "direction",
                          "drawn", "winner", "log", "current", "gameover"}
    assert state["hand_sizes"] == [hand_size] * players
    assert len(state["hand"]) == hand_size and state["hand"] == sorted(state["hand"], key=sort_key)
    assert state["draw_pile"] == 52 - players * hand_size - 1
    assert state["suit"] == state["top"][-1] and state["direction"] == 1
    assert state["drawn"] is None and state["winner"] is None
    first = state["current"][0]
    assert state["log"] == [f"the first card is {state['top']}; player {first} begins"]
    assert all_cards(session.game) == sorted(DECK)


@pytest.mark.parametrize("seed", range(100))
def test_the_first_card_is_never_special(seed: int) -> None:
    game = CrazyEights(6, rng=random.Random(seed))
    assert game.discard[-1][:-1] not in SPECIAL_RANKS
    assert all_cards(game) == sorted(DECK)


@pytest.mark.parametrize("first", [0, 2])
def test_first_player_comes_from_the_random_source(first: int) -> None:
    rng = FirstPlayer(first)
    game = CrazyEights(3, rng=rng)
    assert game.current_player() == [first]
    assert rng.asked == [3]


def test_players_see_only_their_own_hand() -> None:
    session = LocalSession(CrazyEights, 4)
    game = session.game
    for owner in range(4):
        assert session.state(owner)["hand"] == game.hands[owner]
        assert game.private_data(owner) == game.hands[owner]
        for other in range(4):
            if other != owner:
                for card in game.hands[owner]:
                    assert not contains(session.state(other), card)


# --- playing cards -------------------------------------------------------------------

def test_a_card_of_the_same_suit_fits() -> None:
    session = position([["4H", "9C"], ["KS"], ["QD"]], top="7H")
    session.move(0, play="4H")
    state = session.state(1)
    assert state["top"] == "4H" and state["suit"] == "H"
    assert state["hand_sizes"] == [1, 1, 1] and state["current"] == [1]
    assert state["log"] == ["player 0 played 4H"]
    assert session.state(0)["hand"] == ["9C"]


def test_a_card_of_the_same_rank_fits_and_changes_the_suit() -> None:
    session = position([["7C", "9D"], ["KS"], ["QD"]], top="7H")
    session.move(0, play="7C")
    assert session.state(0)["suit"] == "C"


def test_a_card_that_does_not_fit_is_rejected() -> None:
    session = position([["9C", "4H"], ["KS"], ["QD"]], top="7H")
    expected = (r"9C does not fit on 7H: play a card of hearts \(H\) or of rank 7, or an 8; "
                r"or draw with move\(draw=True\) if none of your cards fits")
    with pytest.raises(IllegalMove, match=expected):
        session.move(0, play="9C")
    assert session.state(0)["hand"] == ["9C", "4H"]


def test_an_eight_is_wild_and_names_the_suit() -> None:
    session = position([["8S", "9C"], ["5S", "5D"], ["QD"]], top="7H")
    session.move(0, play="8S", suit="D")
    state = session.state(1)
    assert state["top"] == "8S" and state["suit"] == "D"
    assert state["log"] == ["player 0 played 8S and chose diamonds"]
    with pytest.raises(IllegalMove, match=r"5S does not fit on 8S: play a card of diamonds"):
        session.move(1, play="5S")
    session.move(1, play="5D")


def test_an_eight_fits_on_an_eight_of_another_suit() -> None:
    session = position([["8C", "9C"], ["KS"]], top="8S", suit="H")
    session.move(0, play="8C", suit="C")
    assert session.state(0)["suit"] == "C"


def test_a_card_of_rank_8s_named_suit_fits_after_an_eight() -> None:
    session = position([["3H", "9C"], ["KS"]], top="8S", suit="H")
    session.move(0, play="3H")
    assert session.state(0)["top"] == "3H"


@pytest.mark.parametrize("move, expected", [
    ({"play": "8S"}, r"an 8 is wild: also name the suit .* move\(play='8S', suit='H'\)"),
    ({"play": "8S", "suit": "X"}, "suit must be 'C'"),
    ({"play": "8S", "suit": "h"}, "suit must be 'C'"),
    ({"play": "8S", "suit": "hearts"}, "suit must be 'C'"),
    ({"play": "8S", "suit": None}, "suit must be 'C'"),
    ({"play": "8S", "suit": 1}, "suit must be 'C'"),
    ({"play": "8S", "suit": ["H"]}, "suit must be 'C'"),
    ({"play": "4H", "suit": "H"}, r"only an 8 lets you name a suit: send move\(play='4H'\)"),
    ({"draw": True, "suit": "H"}, "suit goes only with an 8"),
    ({"play": 7}, "play must be a card written as text"),
    ({"play": None}, "play must be a card written as text"),
    ({"play": ["4H"]}, "play must be a card written as text"),
    ({"play": {"card": "4H"}}, "play must be a card written as text"),
    ({"play": "4h"}, "there is no card '4h': cards are written rank \\+ suit"),
    ({"play": "1H"}, "there is no card '1H'"),
    ({"play": "11S"}, "there is no card '11S'"),
    ({"play": ""}, "there is no card ''"),
    ({"play": "x" * 1000}, "there is no card 'xxxxxxxxxx':"),
    ({"play": "KD"}, "you do not have KD: your hand is 9C, 4H, 8S"),
    ({}, "unknown move: send move"),
    ({"card": "4H"}, "unknown move"),
    ({"play": "4H", "draw": True}, "send only one of play, draw and pass per move, not play and"),
    ({"draw": True, "pass": True}, "not draw and pass"),
    ({"draw": False}, r"send move\(draw=True\) to draw"),
    ({"draw": 1}, r"send move\(draw=True\) to draw"),
    ({"draw": "yes"}, r"send move\(draw=True\) to draw"),
    ({"pass": False}, r"send move\(\*\*\{'pass': True\}\) to pass"),
    ({"pass": None}, "to pass"),
])
def test_bad_moves_are_rejected_and_change_nothing(move: dict, expected: str) -> None:
    session = position([["4H", "8S", "9C"], ["KS"], ["QD"]], top="7H")
    before = [session.state(p) for p in range(3)]
    pile = list(session.game.draw_pile)
    with pytest.raises(IllegalMove, match=expected):
        session.move(0, move)
    assert [session.state(p) for p in range(3)] == before
    assert session.game.draw_pile == pile


def test_long_unknown_cards_are_shortened_in_the_message() -> None:
    session = position([["4H"], ["KS"]])
    error = session.game.move({"play": "x" * 10000}, 0)
    assert isinstance(error, str) and len(error) < 200


def test_moving_out_of_turn_is_refused_by_the_framework() -> None:
    session = position([["4H"], ["5H"], ["6H"]])
    with pytest.raises(GameServerError, match="not your turn"):
        session.move(1, play="5H")


# --- special cards -------------------------------------------------------------------

def test_a_two_makes_the_next_player_draw_two_and_skips_them() -> None:
    session = position([["2H", "9C"], ["KS"], ["QD"]], top="7H", pile=["3C", "4C", "5C"])
    session.move(0, play="2H")
    state = session.state(1)
    assert state["hand"] == ["4C", "5C", "KS"] and state["hand_sizes"] == [1, 3, 1]
    assert state["draw_pile"] == 1 and state["current"] == [2]
    assert state["log"] == ["player 0 played 2H", "player 1 draws 2 cards and is skipped"]


def test_a_two_with_two_players_gives_the_player_another_turn() -> None:
    session = position([["2H", "9H"], ["KS"]], top="7H", pile=["3C", "4C"])
    session.move(0, play="2H")
    assert session.current == [0]
    assert session.state(0)["hand_sizes"] == [1, 3]


def test_a_two_draws_what_is_left_when_the_piles_run_out() -> None:
    session = position([["2H", "9H"], ["KS"], ["QD"]], top="7H", pile=[])
    session.move(0, play="2H")  # only 7H, under the 2H, is left to draw
    assert session.state(0)["hand_sizes"] == [1, 2, 1]
    assert session.game.hands[1] == ["7H", "KS"] and session.game.discard == ["2H"]
    assert session.state(0)["log"][-1] == "player 1 draws 1 card and is skipped"


def test_a_two_reshuffles_the_discard_pile_when_needed() -> None:
    session = position([["2H", "9H"], ["KS"], ["QD"]], top="7H", pile=["3C"],
                       discard=["5H", "6H"])
    session.move(0, play="2H")
    game = session.game
    assert len(game.hands[1]) == 3 and game.discard == ["2H"]
    assert "the discard pile was shuffled into a new draw pile" in game.log
    assert all_cards(game) == sorted(["9H", "KS", "QD", "2H", "3C", "5H", "6H", "7H"])


def test_a_queen_skips_the_next_player() -> None:
    session = position([["QH", "9H"], ["KS"], ["QD"]], top="7H")
    session.move(0, play="QH")
    assert session.current == [2]
    assert session.state(0)["log"] == ["player 0 played QH", "player 1 is skipped"]


def test_a_queen_with_two_players_gives_the_player_another_turn() -> None:
    session = position([["QH", "9H"], ["KS"]], top="7H")
    session.move(0, play="QH")
    assert session.current == [0]


def test_an_ace_reverses_the_direction() -> None:
    session = position([["AH", "9H"], ["KS"], ["QD", "3H"], ["5C"]], top="7H")
    session.move(0, play="AH")
    state = session.state(0)
    assert state["direction"] == -1 and state["current"] == [3]
    assert state["log"][-1] == "the direction is reversed"
    session.game.hands[3] = ["5H", "6H"]
    session.move(3, play="5H")
    assert session.current == [2]
    session.move(2, play="3H")
    assert session.current == [1]


def test_an_ace_with_two_players_works_like_a_queen() -> None:
    session = position([["AH", "9H"], ["KS"]], top="7H")
    session.move(0, play="AH")
    state = session.state(0)
    assert state["current"] == [0] and state["direction"] == 1
    assert state["log"][-1] == "player 1 is skipped"


def test_skips_follow_the_direction() -> None:
    session = position([["QH", "9H"], ["KS"], ["QD"], ["5C"]], top="7H", direction=-1)
    session.move(0, play="QH")
    assert session.current == [2]  # player 3 is skipped


# --- drawing and passing -------------------------------------------------------------

def test_drawing_is_only_allowed_when_no_card_fits() -> None:
    session = position([["4H", "8S", "9C"], ["KS"]], top="7H")
    with pytest.raises(IllegalMove, match="you can play 4H, 8S, so you may not draw"):
        session.move(0, draw=True)
    with pytest.raises(IllegalMove, match="you can play 4H, 8S, so you may not pass"):
        session.move(0, PASS)


def test_passing_without_drawing_is_rejected() -> None:
    session = position([["9C"], ["KS"]], top="7H")
    with pytest.raises(IllegalMove, match=r"you may only pass after drawing: draw first"):
        session.move(0, PASS)


def test_draw_then_play_the_drawn_card() -> None:
    session = position([["9C", "KD"], ["KS"], ["3S"]], top="7H", pile=["2S", "4H"])
    session.move(0, draw=True)
    mine = session.state(0)
    assert mine["drawn"] == "4H" and mine["hand"] == ["9C", "KD", "4H"]
    assert mine["current"] == [0] and mine["draw_pile"] == 1
    other = session.state(1)
    assert other["drawn"] is None and other["hand_sizes"] == [3, 1, 1]
    assert other["log"] == ["player 0 drew a card"]  # the card stays secret
    assert not contains(other, "4H")
    with pytest.raises(IllegalMove, match=r"you have already drawn this turn: play the card "
                                          r"you drew \(4H\) if it fits"):
        session.move(0, draw=True)
    with pytest.raises(IllegalMove, match=r"after drawing you may only play the card you "
                                          r"drew \(4H\)"):
        session.move(0, play="9C")
    session.move(0, play="4H")
    state = session.state(0)
    assert state["top"] == "4H" and state["drawn"] is None and state["current"] == [1]


def test_draw_then_pass() -> None:
    session = position([["9C"], ["KS"], ["3S"]], top="7H", pile=["5S"])
    session.move(0, draw=True)
    with pytest.raises(IllegalMove, match=r"5S does not fit on 7H.*or pass with "
                                          r"move\(\*\*\{'pass': True\}\)"):
        session.move(0, play="5S")
    session.move(0, PASS)
    state = session.state(0)
    assert state["hand"] == ["9C", "5S"] and state["drawn"] is None
    assert state["current"] == [1] and state["log"][-1] == "player 0 passed"


def test_a_drawn_eight_may_be_played() -> None:
    session = position([["9C"], ["KS"]], top="7H", pile=["8D"])
    session.move(0, draw=True)
    assert session.legal_moves(0) == [*({"play": "8D", "suit": s} for s in "CDHS"), PASS]
    session.move(0, play="8D", suit="S")
    assert session.state(1)["suit"] == "S"


def test_the_discard_pile_is_reshuffled_when_the_draw_pile_is_empty() -> None:
    session = position([["9C"], ["KS"]], top="7H", pile=[], discard=["3S", "4S"])
    assert session.legal_moves(0) == [DRAW]
    session.move(0, draw=True)
    game = session.game
    assert game.discard == ["7H"] and len(game.draw_pile) == 1
    assert game.drawn in ("3S", "4S") and sorted(game.hands[0]) == sorted(["9C", game.drawn])
    assert session.state(1)["log"] == [
        "the discard pile was shuffled into a new draw pile", "player 0 drew a card"]


def test_with_nothing_left_to_draw_a_player_who_cannot_play_passes() -> None:
    session = position([["9C"], ["KS"]], top="7H", pile=[])
    assert session.legal_moves(0) == [PASS]
    with pytest.raises(IllegalMove, match="there is no card left to draw"):
        session.move(0, draw=True)
    session.move(0, PASS)
    assert session.current == [1]


# --- the end -------------------------------------------------------------------------

def test_playing_the_last_card_wins() -> None:
    session = position([["4H"], ["KS"], ["QD"]], top="7H")
    session.move(0, play="4H")
    state = session.state(2)
    assert state["winner"] == 0 and state["gameover"] and state["current"] == []
    assert state["log"][-1] == "player 0 has no cards left and wins"
    with pytest.raises(GameServerError, match="game has ended"):
        session.move(1, play="KS")
    assert session.legal_moves(1) == []


def test_a_special_last_card_has_no_effect() -> None:
    session = position([["2H"], ["KS"], ["QD"]], top="7H", pile=["3C", "4C"])
    session.move(0, play="2H")
    state = session.state(1)
    assert state["winner"] == 0 and state["hand_sizes"] == [0, 1, 1]


def test_the_log_keeps_the_last_ten_events() -> None:
    session = position([["3H", "4C", "5D", "6S", "9H", "10C"], ["3C", "4D", "5S", "6H", "9C"]],
                       top="7H")
    for card in ("3H", "3C", "4C", "4D", "5D", "5S", "6S", "6H", "9H", "9C"):
        session.move(session.current[0], play=card)
    log = session.state(0)["log"]  # 11 events: 10 cards played and the win
    assert len(log) == 10
    assert log[0] == "player 1 played 3C" and log[-1] == "player 1 has no cards left and wins"


def test_restart_deals_a_fresh_game() -> None:
    session = position([["4H"], ["KS"]], top="7H")
    session.move(0, play="4H")
    session.restart(1)
    assert session.state(0)["hand_sizes"] == [7, 7]
    assert all_cards(session.game) == sorted(DECK)


def test_state_is_a_copy() -> None:
    game = CrazyEights(3)
    state = game.state(0)
    state["hand"].clear()
    state["log"].append("x")
    assert len(game.state(0)["hand"]) == 5 and "x" not in game.log


# --- legal moves ---------------------------------------------------------------------

def test_legal_moves_list_every_fitting_card_and_each_suit_for_eights() -> None:
    session = position([["4H", "7C", "8S", "9C", "KD"], ["KS"]], top="7H")
    assert session.legal_moves(0) == [
        {"play": "7C"}, {"play": "4H"},
        {"play": "8S", "suit": "C"}, {"play": "8S", "suit": "D"},
        {"play": "8S", "suit": "H"}, {"play": "8S", "suit": "S"},
    ]
    assert session.legal_moves(1) == []


def test_legal_moves_are_draw_when_nothing_fits() -> None:
    session = position([["9C", "KD"], ["KS"]], top="7H", pile=["5S"])
    assert session.legal_moves(0) == [DRAW]
    session.move(0, draw=True)
    assert session.legal_moves(0) == [PASS]  # 5S does not fit either


def test_legal_moves_after_drawing_a_fitting_card() -> None:
    session = position([["9C"], ["KS"]], top="7H", pile=["7D"])
    session.move(0, draw=True)
    assert session.legal_moves(0) == [{"play": "7D"}, PASS]


def candidate_moves(hand: list[str]) -> list[dict[str, Any]]:
    """Every move a client might sensibly try with ``hand``."""
    moves: list[dict[str, Any]] = [DRAW, PASS]
    for card in hand:
        moves.append({"play": card})
        moves.extend({"play": card, "suit": suit} for suit in "CDHS")
    return moves


def test_200_random_games_via_legal_moves() -> None:
    rng = random.Random(8)
    stream = random.Random(88)

    class Seeded(CrazyEights):  # repeatable shuffles, still played through the harness
        def __init__(self, players: int) -> None:
            super().__init__(players, rng=random.Random(stream.random()))

    sessions = {n: LocalSession(Seeded, n) for n in range(2, 7)}
    longest = 0
    winners = set()
    for number in range(200):
        players = 2 + number % 5
        session = sessions[players]
        game = session.game
        moves = 0
        while not game.game_over():
            [player] = game.current_player()
            legal = session.legal_moves(player)
            assert legal
            if number < 20:  # exactness: a move is accepted if and only if it is listed
                for move in candidate_moves(game.hands[player]):
                    accepted = copy.deepcopy(game).move(move, player) is None
                    assert accepted == (move in legal), (move, legal)
            session.move(player, rng.choice(legal))  # raises if a listed move is rejected
            moves += 1
            assert moves <= 1000
            assert all_cards(game) == sorted(DECK)
            if moves % 3 == 0:  # now and then: nobody sees another player's cards
                seen = [strings(session.state(other)) for other in range(players)]
                for owner in range(players):
                    for other in range(players):
                        if other != owner:
                            assert seen[other].isdisjoint(game.private_data(owner))
        longest = max(longest, moves)
        winners.add(game.winner)
        assert game.hands[game.winner] == []
        session.restart()
    assert winners == set(range(6))
    for session in sessions.values():
        session.close()
