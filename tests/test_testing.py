"""gameserver.testing.LocalSession: the server's rules, in-process."""

from __future__ import annotations

import pytest

from gameserver.games.nim import Nim
from gameserver.games.tictactoe import TicTacToe
from gameserver.testing import GameServerError, IllegalMove, LocalSession
from tests.data.review.games import NaNState, StaleCurrent


def test_player_count_errors_match_the_server_word_for_word() -> None:
    with pytest.raises(GameServerError) as err:
        LocalSession(TicTacToe, 3)
    assert str(err.value) == ("framework: invalid number of players: TicTacToe is played by "
                              "exactly 2 players, not 3")


def test_current_is_empty_once_the_game_is_over_whatever_the_game_says() -> None:
    session = LocalSession(StaleCurrent, 1)
    assert session.current == [0]
    session.move(0, end=True)
    assert session.state(0) == {"over": True, "current": [], "gameover": True}
    assert session.legal_moves(0) == []


def test_nan_is_not_json() -> None:
    session = LocalSession(NaNState, 1)
    with pytest.raises(GameServerError, match=r"state\(\) returned something that cannot be "
                                              r"sent as JSON"):
        session.state(0)


def test_except_illegal_move_works_alike_in_tests_and_in_clients() -> None:
    """A student tests with LocalSession, then plays through game_server_api (issue 16)."""
    import game_server_api

    assert IllegalMove is game_server_api.IllegalMove
    assert GameServerError is game_server_api.GameServerError
    session = LocalSession(Nim, 2)
    try:
        session.move(0, heap=0, take=10)
    except game_server_api.IllegalMove as err:  # what the student's client catches
        assert str(err) == "game: heap 0 has only 3 objects left: take fewer"
    else:
        raise AssertionError("taking 10 of 3 was accepted")
    with pytest.raises(game_server_api.GameServerError, match="not your turn"):
        session.move(1, heap=0, take=1)
