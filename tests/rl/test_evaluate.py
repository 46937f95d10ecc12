"""evaluate: results per seat with a Wilson interval, in-process and on a server."""

from __future__ import annotations

import numpy as np
import pytest

from gameserver.rl import evaluate
from gameserver.rl.evaluate import SeatResult, wilson_interval
from gameserver.web._data import leaderboard
from tests.wire import until


def perfect_nim(observation: np.ndarray, action_mask: np.ndarray) -> int:
    """Leave heaps whose XOR is 0 when possible (then the player to move loses)."""
    heaps = observation.argmax(axis=1).tolist()
    total = heaps[0] ^ heaps[1] ^ heaps[2]
    for heap, size in enumerate(heaps):
        if total and size ^ total < size:
            return heap * 5 + (size - (size ^ total)) - 1
    return int(np.flatnonzero(action_mask)[0])


@pytest.mark.parametrize("wins, games, low, high", [
    (0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0),
    (81, 263, 0.2553, 0.3662),
])
def test_wilson_interval_matches_published_values(wins, games, low, high) -> None:
    found = wilson_interval(wins, games)
    assert found == pytest.approx((low, high), abs=1e-4)


def test_a_perfect_player_wins_every_game_it_opens() -> None:
    result = evaluate(perfect_nim, "random", "Nim", n_games=41, seed=1)
    opening, second = result.seats
    assert (opening.seat, opening.games, opening.wins) == (0, 21, 21)
    assert second.games == 20 and second.wins >= 10  # random play errs a lot
    assert result.overall.games == 41
    assert result.overall.wins == opening.wins + second.wins
    assert opening.interval[0] > 0.8
    assert "seat 0: 21 games, 21 won, 0 drawn, 0 lost; win rate 100.0%" in str(result)


def test_the_same_seed_gives_the_same_evaluation() -> None:
    first = evaluate("random", "random", "TicTacToe", 60, seed=3)
    again = evaluate("random", "random", "TicTacToe", 60, seed=3)
    assert first == again
    assert sum(s.wins + s.draws + s.losses for s in first.seats) == 60


def test_more_than_two_players_give_agent_b_every_other_seat() -> None:
    result = evaluate("random", "random", "NumberRace", 30, players=3, seed=2)
    assert [s.games for s in result.seats] == [10, 10, 10]
    assert result.overall.draws == 0  # somebody reaches 21 in every game


def test_over_a_server_the_games_go_into_history_and_leaderboard(make_server,
                                                                 tmp_path) -> None:
    server = make_server(store=True, store_path=str(tmp_path / "eval.sqlite3"))
    result = evaluate(perfect_nim, "random", "Nim", n_games=4, seed=1,
                      server=(server.host, server.port), names=("perfect", "randy"),
                      timeout=20.0)
    assert result.seats[0].wins == 2
    # The env does not wait for the disk (``wait_for_save``): the last game's end is
    # committed a moment later.
    records = until(lambda: len(finished := server.call(
        lambda: server.server.history.finished_games("Nim"))) == 4 and finished,
        "the four games in the history")
    assert sorted(tuple(r["players"]) for r in records) == [
        ("perfect", "randy"), ("perfect", "randy"), ("randy", "perfect"),
        ("randy", "perfect")]
    # The dashboard's leaderboard counts them under the names, as the evaluation did.
    board = {row["name"]: row for row in leaderboard(records)["Nim"]}
    assert board["perfect"]["wins"] == result.overall.wins
    assert board["perfect"]["games"] == board["randy"]["games"] == 4


def test_seat_result_figures() -> None:
    empty = SeatResult(None)
    assert (empty.games, empty.win_rate, empty.interval) == (0, 0.0, (0.0, 1.0))
    assert str(SeatResult(1, 3, 1, 0)).startswith("seat 1: 4 games, 3 won, 1 drawn, 0 lost")
