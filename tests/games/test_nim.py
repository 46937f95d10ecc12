"""Rules of Nim, played through the in-process harness ``LocalSession``."""


import pytest

from gameserver.games.nim import Nim
from gameserver.testing import GameServerError, IllegalMove, LocalSession
from tests.games.helpers import random_games

START = {"heaps": [3, 4, 5], "winner": None}


def play(session: LocalSession, *moves: tuple[int, int]) -> None:
    """Play ``(heap, take)`` moves in turn order; each must be accepted."""
    for heap, take in moves:
        [player] = session.current
        session.move(player, heap=heap, take=take)


def game_part(state: dict) -> dict:
    """The game's own keys of a state, without the framework's."""
    return {k: v for k, v in state.items() if k not in ("current", "gameover")}


def test_player_limits() -> None:
    assert (Nim.min_players(), Nim.max_players()) == (2, 2)


def test_description_comes_from_the_docstring() -> None:
    assert Nim.description().startswith("Two players take objects from heaps")
    assert "move(heap=0, take=2)" in Nim.documentation()


def test_initial_state() -> None:
    session = LocalSession(Nim, 2)
    assert session.state(1) == {**START, "current": [0], "gameover": False}


def test_players_alternate_and_heaps_shrink() -> None:
    session = LocalSession(Nim, 2)
    session.move(0, heap=2, take=5)
    assert session.current == [1]
    session.move(1, heap=0, take=1)
    assert session.current == [0]
    assert session.state(0)["heaps"] == [2, 4, 0]


def test_taking_the_last_object_wins() -> None:
    session = LocalSession(Nim, 2)
    play(session, (0, 3), (1, 4), (2, 4))
    assert not session.gameover
    play(session, (2, 1))  # player 1 takes the last object
    state = session.state(0)
    assert state == {"heaps": [0, 0, 0], "winner": 1, "current": [], "gameover": True}
    with pytest.raises(GameServerError, match="game has ended"):
        session.move(0, heap=0, take=1)


def test_first_player_can_win() -> None:
    session = LocalSession(Nim, 2)
    play(session, (0, 3), (1, 4), (2, 5))
    assert session.state(1)["winner"] == 0


def test_moving_out_of_turn_is_refused_by_the_framework() -> None:
    session = LocalSession(Nim, 2)
    with pytest.raises(GameServerError, match="not your turn"):
        session.move(1, heap=0, take=1)


@pytest.mark.parametrize("move, expected", [
    ({}, "send two whole numbers"),
    ({"heap": 0}, "send two whole numbers"),
    ({"take": 1}, "send two whole numbers"),
    ({"heap": True, "take": 1}, "send two whole numbers"),
    ({"heap": 0, "take": False}, "send two whole numbers"),
    ({"heap": "0", "take": 1}, "send two whole numbers"),
    ({"heap": 0, "take": 1.0}, "send two whole numbers"),
    ({"heap": [0], "take": 1}, "send two whole numbers"),
    ({"heap": None, "take": None}, "send two whole numbers"),
    ({"heap": -1, "take": 1}, "no such heap"),
    ({"heap": 3, "take": 1}, "no such heap"),
    ({"heap": 10**30, "take": 1}, "no such heap"),
    ({"heap": 0, "take": 0}, "at least 1"),
    ({"heap": 0, "take": -2}, "at least 1"),
    ({"heap": 0, "take": 4}, "has only 3 objects left"),
    ({"heap": 2, "take": 10**30}, "has only 5 objects left"),
])
def test_bad_moves_are_rejected_and_change_nothing(move: dict, expected: str) -> None:
    session = LocalSession(Nim, 2)
    with pytest.raises(IllegalMove, match=expected):
        session.move(0, move)
    assert session.state(0) == {**START, "current": [0], "gameover": False}


def test_numbers_too_long_for_json_are_rejected_too() -> None:
    # The wire cannot carry them, but the class must not crash on them either.
    game = Nim(2)
    assert "no such heap" in game.move({"heap": 10**5000, "take": 1}, 0)
    assert "has only 3" in game.move({"heap": 0, "take": 10**5000}, 0)


def test_an_empty_heap_cannot_be_taken_from() -> None:
    session = LocalSession(Nim, 2)
    play(session, (0, 3))
    with pytest.raises(IllegalMove, match="heap 0 has only 0 objects left"):
        session.move(1, heap=0, take=1)
    assert session.current == [1]


def test_legal_moves_list_every_heap_and_amount() -> None:
    session = LocalSession(Nim, 2)
    expected = [{"heap": h, "take": t} for h, size in enumerate([3, 4, 5])
                for t in range(1, size + 1)]
    assert session.legal_moves(0) == expected
    assert session.legal_moves(1) == []  # not this player's turn
    play(session, (1, 4), (0, 2))
    assert session.legal_moves(0) == [{"heap": 0, "take": 1}] + [
        {"heap": 2, "take": t} for t in range(1, 6)]


def test_no_legal_moves_once_the_game_is_over() -> None:
    session = LocalSession(Nim, 2)
    session.game.heaps = [0, 0, 2]
    session.move(0, heap=2, take=2)
    assert session.gameover
    assert session.legal_moves(0) == session.legal_moves(1) == []


def test_restart_starts_a_fresh_game() -> None:
    session = LocalSession(Nim, 2)
    play(session, (0, 3), (1, 4), (2, 5))
    session.restart(1)
    assert session.state(0) == {**START, "current": [0], "gameover": False}


def test_state_is_a_copy() -> None:
    game = Nim(2)
    game.state(0)["heaps"][0] = 99
    assert game.state(0)["heaps"] == [3, 4, 5]


def test_200_random_games_via_legal_moves() -> None:
    # Every move takes at least one of the 12 objects: at most 12 moves.
    finals = random_games(Nim, 2, games=200, seed=2024, max_moves=12)
    assert all(state["heaps"] == [0, 0, 0] for state in finals)
    assert {state["winner"] for state in finals} == {0, 1}
