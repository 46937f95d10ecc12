"""The durable store: sessions survive kill -9, finished games are kept and listed."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sqlite3
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest

from gameserver import protocol, ratings, registry, results
from gameserver.checked import GameType, game_types
from gameserver.games.echo import Echo
from gameserver.games.tictactoe import TicTacToe
from gameserver.guard import GameGuard
from gameserver.metrics import prometheus_text
from gameserver.session import Session
from gameserver.store import GameReplayer, HistoryReader, Store, _rows, writer
from gameserver.store._batch import Batch
from gameserver.store._rows import ROW_OVERHEAD, SNAPSHOT_MIN_LOG
from gameserver.store._writer_thread import WriterThread
from gameserver.store.writer import SAVE_FAILED
from gameserver.tournament_store import TournamentBook
from gameserver.waits import Wait
from gameserver.web import _data as web_data
from tests.data.games.recorder import Recorder
from tests.serverproc import ROOT, ServerProcess, ServerThread
from tests.test_server_limits import finished_sessions
from tests.wire import TIMEOUT, Player, request, until

DATA = Path(__file__).parent / "data"
# Empty moves ({}) that add up to a snapshot's worth of log.
MOVES_TO_A_SNAPSHOT = SNAPSHOT_MIN_LOG // (ROW_OVERHEAD + len("{}")) + 1


def seat_two(port: int, game: str, session: str) -> dict[int, Player]:
    """Two named players joined to ``session``, by id."""
    ann = Player(port, game, session, 2, name="ann")
    bob = Player(port, game, session, 2, name="bob")
    joiner = threading.Thread(target=ann.join)
    joiner.start()
    assert bob.join()["status"] == "ok"
    joiner.join(30)
    assert ann.player_id is not None
    return {ann.player_id: ann, bob.player_id: bob}


def with_store_games(tmp_path: Path) -> tuple[str, ...]:
    """Server flags: a store file in ``tmp_path`` and the test games of the store.

    The games run in the server process (``--isolate-games off``): these tests
    are about saving and replaying a game the server holds itself; games in
    worker processes are replayed there (tests/test_isolation.py).
    """
    return ("--store-path", str(tmp_path / "store.sqlite3"),
            "--games-dir", str(DATA / "store_games"), "--isolate-games", "off")


def killed(server: ServerProcess) -> None:
    """SIGKILL: no chance to save anything more, nor to remove the lock file."""
    assert server.proc is not None
    server.proc.kill()
    server.stop()


def moved_to(players: list[Player], port: int) -> None:
    for player in players:
        player.port = port


def test_sessions_come_back_after_kill_9(tmp_path: Path) -> None:
    db = str(tmp_path / "store.sqlite3")
    server = ServerProcess("--store-path", db).start()
    seats = seat_two(server.port, "TicTacToe", "table")
    first = seats[seats[0].state()["data"]["current"][0]]
    seats[1].state()
    assert first.move(position=4)["status"] == "ok"
    watcher = Player(server.port, "TicTacToe", "table", name="ann")
    assert watcher.observe()["status"] == "ok"
    assert server.proc is not None
    server.proc.kill()  # SIGKILL: no chance to save anything more
    server.stop()

    with ServerProcess("--store-path", db) as again:
        moved_to([*seats.values(), watcher], again.port)
        after = [seats[0].state()["data"], seats[1].state()["data"], watcher.state()["data"]]
        board = after[0]["board"]
        assert board[4] == first.player_id and board.count(-1) == 8
        assert all(state == after[0] for state in after)  # same game for everyone
        other = seats[1 - first.player_id]
        assert after[0]["current"] == [other.player_id]
        assert other.move(position=0)["status"] == "ok"  # same ids and keys
        assert watcher.move(position=1)["message"].startswith("framework: invalid key")
    assert "restored 1 saved session(s)" in again.log


def test_a_pending_hand_over_survives_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "store.sqlite3")
    with ServerProcess("--store-path", db) as server:
        solo = Player(server.port, "Echo", "e", 1, name="solo")
        solo.join()
        watcher = Player(server.port, "Echo", "e", name="solo")
        watcher.observe()
        assert solo.move(msg="quit")["status"] == "ok"
        assert solo.restart()["status"] == "ok"
    # SIGTERM (graceful) this time; the watcher has not seen how the game ended.
    with ServerProcess("--store-path", db) as again:
        watcher.port = again.port
        final = watcher.state()["data"]
        assert final == {"echo": "quit", "current": [], "gameover": True}
        assert watcher.state()["data"] == {"echo": "", "current": [0], "gameover": False}


DOWNTIME = 3600.0  # seconds the tests below make a stopped server seem down


def stopped_earlier(db: str, seconds: float, idle_before: dict[str, float]) -> None:
    """As if the server had stopped ``seconds`` earlier than it did: every time the file
    holds goes back by that much (and each session in ``idle_before`` had been idle
    that many seconds more before the stop). No sleeping: a real file, a real restart."""
    with contextlib.closing(sqlite3.connect(db)) as raw, raw:
        for game, token, info in raw.execute(
                "SELECT game, token, info FROM live_sessions").fetchall():
            data = json.loads(info)
            data["created"] -= seconds + idle_before.get(token, 0.0)
            data["last_activity"] -= seconds + idle_before.get(token, 0.0)
            raw.execute("UPDATE live_sessions SET info = ? WHERE game = ? AND token = ?",
                        (json.dumps(data), game, token))
        raw.execute("UPDATE games SET started = started - ?, ended = ended - ?",
                    (seconds, seconds))
        raw.execute("UPDATE game_moves SET time = time - ?", (seconds,))
        if raw.execute("SELECT 1 FROM sqlite_master WHERE name = 'server_stops'").fetchone():
            raw.execute("UPDATE server_stops SET at = at - ?", (seconds,))


def last_activity(db: str, token: str) -> float:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as raw:
        [info] = raw.execute("SELECT info FROM live_sessions WHERE token = ?",
                             (token,)).fetchone()
    return float(json.loads(info)["last_activity"])


@pytest.mark.parametrize("stop", ["clean", "kill"])
def test_the_time_the_server_was_down_is_not_counted_as_inactivity(
        tmp_path: Path, stop: str) -> None:
    """A restored session's idle clock leaves out the downtime (until 2026-11-29 an
    hour's reboot ended every game at the first tick: game_timeout had passed). What it
    was idle before the stop still counts: one idle longer than game_timeout then is
    removed at the first tick."""
    db = str(tmp_path / "store.sqlite3")
    server = ServerProcess("--store-path", db).start()
    playing = seat_two(server.port, "TicTacToe", "playing")
    first = playing[playing[0].state()["data"]["current"][0]]
    assert first.move(position=4)["status"] == "ok"
    abandoned = seat_two(server.port, "TicTacToe", "abandoned")
    if stop == "kill":
        killed(server)
    else:
        server.stop()  # SIGTERM: the stop's time is written
    stopped_earlier(db, DOWNTIME, {"abandoned": 700.0})
    before = last_activity(db, "playing")

    with ServerProcess("--store-path", db, "--game-timeout", "600") as again:
        assert "restored 2 saved session(s)" in again.log
        assert again.wait_for_log("session TicTacToe/abandoned timed out after 600 s")
        moved_to([*playing.values(), *abandoned.values()], again.port)
        # The same tick passed over the session in play: it is still there.
        other = playing[1 - first.player_id]
        reply = other.state()
        assert reply["status"] == "ok", reply
        assert reply["data"]["board"][4] == first.player_id
        assert other.move(position=0)["status"] == "ok"
        assert abandoned[0].state()["message"] == "framework: no such game session"
    assert last_activity(db, "playing") > before + DOWNTIME / 2  # a 2nd restart: not again


def won(seats: dict[int, Player], winner_cells: tuple[int, ...],
        loser_cells: tuple[int, ...]) -> list[int]:
    """Whoever starts plays ``winner_cells`` (a line) and wins; the board at the end."""
    mover = seats[seats[0].state()["data"]["current"][0]]
    other = seats[1 - mover.player_id]
    board = [-1] * 9
    for n, cell in enumerate(winner_cells):
        assert mover.move(position=cell)["status"] == "ok"
        board[cell] = mover.player_id
        if n < len(loser_cells):
            assert other.move(position=loser_cells[n])["status"] == "ok"
            board[loser_cells[n]] = other.player_id
    return board


def test_a_hand_over_a_player_collected_stays_collected_after_a_kill(tmp_path: Path) -> None:
    """Collecting the last game's end is saved before its reply, and the pending
    hand-over after a kill is the newest game's end (the store encodes it once a game)."""
    db = str(tmp_path / "store.sqlite3")
    server = ServerProcess("--store-path", db).start()
    seats = seat_two(server.port, "TicTacToe", "table")
    watcher = Player(server.port, "TicTacToe", "table", name="ann")
    assert watcher.observe()["status"] == "ok"
    first_end = won(seats, (0, 1, 2), (3, 4))
    assert seats[0].restart()["status"] == "ok"
    assert seats[1].state()["data"]["board"] == first_end  # collected
    second_end = won(seats, (6, 7, 8), (3, 4))
    assert second_end != first_end
    assert seats[0].restart()["status"] == "ok"
    assert seats[1].state()["data"]["board"] == second_end  # collected; the watcher has not
    killed(server)

    with ServerProcess("--store-path", db) as again:
        moved_to([*seats.values(), watcher], again.port)
        assert seats[1].state()["data"]["board"] == [-1] * 9
        assert watcher.state()["data"]["board"] == second_end
        assert watcher.state()["data"]["board"] == [-1] * 9


def states_until_the_new_game(view: Player) -> list[Any]:
    """What ``view``'s states show, up to the new game's empty board (at most three)."""
    shown: list[Any] = []
    while len(shown) < 3 and shown[-1:] != [[-1] * 9]:
        reply = view.state()
        shown.append(reply["data"]["board"] if reply["status"] == "ok" else reply["message"])
    return shown


def test_a_hand_over_whose_save_failed_is_owed_again(tmp_path: Path) -> None:
    """A player's collection is saved before its reply; if that save fails, the reply is
    the save's error and the player (and an observer asking next) is shown the end later."""
    db = str(tmp_path / "store.sqlite3")
    with ServerProcess("--store-path", db) as server:
        seats = seat_two(server.port, "TicTacToe", "table")
        watcher = Player(server.port, "TicTacToe", "table", name=seats[0].name)
        assert watcher.observe()["status"] == "ok"
        end = won(seats, (0, 1, 2), (3, 4))
        assert seats[0].restart()["status"] == "ok"  # seat 1 and the watcher are owed the end
        blocker = sqlite3.connect(db, isolation_level=None, timeout=5)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            during = seats[1].state()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert during["message"] == SAVE_FAILED
        assert states_until_the_new_game(watcher) == [end, [-1] * 9]
        assert states_until_the_new_game(seats[1]) == [end, [-1] * 9]


def test_the_views_logged_at_a_games_start_and_end_ask_the_game_once(tmp_path: Path) -> None:
    """Once per player: a state() that fails only on its first call is logged (and checked
    at restore) as it failed, and a game asked twice would show it in its final views."""
    args = ("--store-path", str(tmp_path / "store.sqlite3"), "--games-dir",
            str(DATA / "view_games"), "--isolate-games", "off")
    server = ServerProcess(*args).start()
    flaky = Player(server.port, "FlakyStart", "f", 1)
    assert flaky.join()["status"] == "ok"
    assert flaky.state()["data"] == {"over": False, "current": [0], "gameover": False}
    ending = seat_two(server.port, "FailingEnd", "e")
    assert ending[0].move()["status"] == "ok"
    killed(server)
    with ServerProcess(*args) as again:
        moved_to([flaky], again.port)
        assert flaky.state()["data"]["current"] == [0]  # made again: the same first views
    (record,) = HistoryReader(args[1]).finished_games("FailingEnd")
    errors = [view["error"] for view in record["final_states"]]
    assert len(errors) == 2
    assert errors[0].endswith("state call 1 after the end"), errors
    assert errors[1].endswith("state call 2 after the end"), errors


def test_a_game_that_cannot_be_pickled_is_saved_as_its_moves(tmp_path: Path) -> None:
    """It holds a lock: it is made again from its seed and its moves are replayed."""
    args = with_store_games(tmp_path)
    server = ServerProcess(*args).start()
    locked = Player(server.port, "Locked", "l", 1)
    assert locked.join()["status"] == "ok"
    for _ in range(MOVES_TO_A_SNAPSHOT):  # enough for the store to try a snapshot
        assert locked.move()["status"] == "ok"
    assert server.wait_for_log("session Locked/l: its game cannot be saved (")
    assert "it is saved as its moves only (a restart replays them from move 0)" in server.log
    killed(server)
    with ServerProcess(*args) as again:
        locked.port = again.port
        assert locked.state()["data"]["count"] == MOVES_TO_A_SNAPSHOT


def test_a_game_the_store_would_not_unpickle_is_saved_as_its_moves(tmp_path: Path) -> None:
    """It pickles, but holds a function: found when saved, not at the next start."""
    args = with_store_games(tmp_path)
    with ServerProcess(*args) as server:
        player = Player(server.port, "Strategist", "s", 1)
        assert player.join()["status"] == "ok"
        for _ in range(MOVES_TO_A_SNAPSHOT):
            assert player.move()["status"] == "ok"
    assert ("session Strategist/s: its game cannot be restored: it holds double (from "
            "strategist.py), which the store does not restore") in server.log
    with ServerProcess(*args) as again:
        player.port = again.port
        assert player.state()["data"]["score"] == 2 ** MOVES_TO_A_SNAPSHOT


def test_a_game_that_plays_differently_when_replayed_is_not_restored(tmp_path: Path) -> None:
    args = with_store_games(tmp_path)
    server = ServerProcess(*args).start()
    player = Player(server.port, "Clock", "c", 1)
    assert player.join()["status"] == "ok"
    for _ in range(3):
        assert player.move()["status"] == "illegalmove"
    killed(server)
    with ServerProcess(*args) as again:
        player.port = again.port
        assert player.state()["message"] == "framework: no such game session"
    assert ('session Clock/c cannot be restored (move 1 gave "rejected at ' in again.log
            and "the game does not play the same twice" in again.log)


def finish_tictactoe(seats: dict[int, Player]) -> list[int]:
    """Play the lowest free cell until the game ends; returns the positions played."""
    played = []
    state = seats[0].state()["data"]
    seats[1].state()
    while not state["gameover"]:
        position = state["board"].index(-1)
        assert seats[state["current"][0]].move(position=position)["status"] == "ok"
        played.append(position)
        state = seats[0].state()["data"]
        seats[1].state()
    return played


def replaying_reader(path: str) -> HistoryReader:
    """A reader that rebuilds each move's states, as the dashboard's does."""
    return HistoryReader(path, GameReplayer(game_types(registry.discover([]), GameGuard())))


def test_finished_games_are_listed_with_their_moves(tmp_path: Path) -> None:
    db = str(tmp_path / "store.sqlite3")
    with ServerProcess("--store-path", db) as server:
        seats = seat_two(server.port, "TicTacToe", "h")
        played = finish_tictactoe(seats)
        assert seats[0].move(position=9)["message"] == "framework: game has ended"
    store = replaying_reader(db)
    [record] = store.finished_games()
    assert record["game"] == "TicTacToe" and record["session"] == "h"
    assert sorted(record["players"]) == ["ann", "bob"]
    assert record["moves"] == len(played)
    assert record["final_states"][0]["gameover"] is True
    game = store.finished_game(record["id"])
    assert game is not None and game["moves"] == len(played)
    assert [m["move"] for m in game["steps"]] == [{"position": p} for p in played]
    assert [m["seq"] for m in game["steps"]] == list(range(1, len(played) + 1))
    assert game["initial_states"][0]["board"] == [-1] * 9
    # The states after each move are not stored: the replay rebuilds them exactly.
    assert game["steps"][0]["states"][1]["board"].count(-1) == 8
    assert game["steps"][-1]["states"] == game["final_states"]
    assert "states_note" not in game
    assert store.finished_game(record["id"] + 1) is None
    assert HistoryReader(db).finished_game(record["id"])["steps"][0]["states"] is None


@pytest.mark.parametrize("isolate", ["off", "all"])
@pytest.mark.parametrize("then", ["restart", "session ends"])
def test_a_game_that_had_ended_when_the_server_stopped_stays_in_the_history(
        tmp_path: Path, isolate: str, then: str) -> None:
    """A finished game whose session was restored counted as unfinished when its game
    ran in a worker process (it was still being replayed there when the store asked
    it whether it was over): restarting the session, or the session ending, then
    deleted that finished game from the history (found by ``kill -9`` during busy
    play with restarts: a third of the sessions lost a finished game)."""
    db = str(tmp_path / "store.sqlite3")
    args = ("--store-path", db, "--isolate-games", isolate, "--game-timeout", "2")
    server = ServerProcess(*args).start()
    seats = seat_two(server.port, "TicTacToe", "h")
    played = finish_tictactoe(seats)
    killed(server)
    with ServerProcess(*args) as again:
        moved_to(list(seats.values()), again.port)
        assert seats[0].state()["data"]["gameover"] is True
        if then == "restart":
            assert seats[0].restart()["status"] == "ok"
        else:  # (idle for longer than game_timeout: removed at a tick)
            assert again.wait_for_log("timed out")
    [record] = HistoryReader(db).finished_games()
    assert record["session"] == "h" and record["moves"] == len(played)


def test_the_list_of_finished_games_holds_their_results_not_their_large_final_states(
        tmp_path: Path) -> None:
    """``finished_games`` (the dashboard's history list, its leaderboard of 2,000 games and
    its ratings of 5,000) held every game's final states in full, and a client makes a
    finished game of 900 KB with a join and one move (Echo, with a turn timer it chose):
    390 of them took the server from 36 MB to 672 MB to answer ``/api/ratings`` (6 s), and
    to 1.3 GB once ``/api/leaderboard`` was asked too (the history keeps 1 GiB of them).
    A large final state is now read one row at a time and kept as what a result is read
    from (``results.RESULT_KEYS``); ``finished_game`` (one replay) still has it all."""
    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db) as server:
        # The turn timer ends the game (Echo lists no moves to make for its player). Not
        # a timer of 0.1 s: on a loaded machine it ran out before the 900 KB move came
        # ("framework: game has ended"); a session it ends without the move is started
        # again (its finished game, without a large state, is in the list too).
        [solo] = finished_sessions(server.port, "x" * 900_000, 1)
        finish_tictactoe(seat_two(server.port, "TicTacToe", "small"))
        assert server.server is not None and server.server.history is not None
        reader = server.server.history
        by_session = {r["session"]: r for r in reader.finished_games()}
        big, small = by_session[solo.session], by_session["small"]
        assert len(json.dumps(big["final_states"])) < 1000
        assert big["final_states"] == [{"gameover": True, "forfeit": {
            "players": [0], "reason": "turn timeout"}}]
        full = reader.finished_game(big["id"])
        assert full is not None and full["final_states"][0]["echo"] == "x" * 900_000
        assert results.outcome(big) == results.outcome(full)
        assert small["final_states"] == reader.finished_game(small["id"])["final_states"]

def test_rejected_moves_are_in_the_move_log(tmp_path: Path) -> None:
    db = str(tmp_path / "store.sqlite3")
    with ServerProcess("--store-path", db) as server:
        solo = Player(server.port, "Echo", "r", 1)
        solo.join()
        assert solo.move(msg="error")["status"] == "illegalmove"
        assert solo.move(msg="quit")["status"] == "ok"
    store = replaying_reader(db)
    game = store.finished_game(store.finished_games()[0]["id"])
    assert game is not None
    assert [m["rejection"] is None for m in game["steps"]] == [False, True]
    assert game["steps"][0]["rejection"].startswith("you sent msg='error'")
    assert [m["states"][0]["echo"] for m in game["steps"]] == ["error", "quit"]


def test_a_session_of_a_game_not_offered_now_is_kept_for_a_later_start(
        tmp_path: Path) -> None:
    """A start without the game of a saved session (its --games-dir left out, a --game
    leaving it out) logged "not restored: the game Echo is not loaded", which a hobby host
    read as the session lost, with nothing to do about it. It is kept, and the line says
    so and how to get it back."""
    db = str(tmp_path / "store.sqlite3")
    with ServerProcess("--store-path", db) as server:
        echo = Player(server.port, "Echo", "kept", 1)
        assert echo.join()["status"] == "ok"
        assert echo.move(msg="hello")["status"] == "ok"
    with ServerProcess("--store-path", db, "--game", "TicTacToe") as without:
        pass
    assert ("session Echo/kept not restored: the game Echo is not loaded; it stays saved, "
            "idle, for a start that offers Echo (with the --games-dir of its file, without a "
            "--game that leaves it out)") in without.log
    with ServerProcess("--store-path", db) as again:
        echo.port = again.port
        assert echo.state()["data"]["echo"] == "hello"
    assert "restored 1 saved session(s)" in again.log


def test_no_store_keeps_nothing(tmp_path: Path) -> None:
    with ServerProcess("--no-store", cwd=ROOT) as server:
        assert Player(server.port, "Echo", "x", 1).join()["status"] == "ok"
    assert "store: off" in server.log


# ---------------------------------------------------------------- failures


def test_a_failed_save_is_reported_and_saved_again_later(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "RETRY_INTERVAL", 0.05)  # (the retries' pace, not the rule)
    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db) as server:
        assert server.server is not None and server.server.store is not None
        store = server.server.store
        echo = Player(server.port, "Echo", "locked", 1)
        assert echo.join()["status"] == "ok"
        echo.state()
        blocker = sqlite3.connect(db, isolation_level=None, timeout=5)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            reply = echo.move(msg="while locked")
            assert server.call(store.health)["status"] == "degraded"
            # No later reply shows the change while a crash could lose it: each waits
            # for the commit that writes it again, and says so when that fails too.
            for _ in range(3):
                assert echo.state()["message"] == SAVE_FAILED
            assert server.call(store.health)["failed_saves"] >= 4
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert reply["status"] == "error"
        assert reply["message"] == SAVE_FAILED
        # Once the lock is gone, the next reply shows it: after the retry has saved it.
        assert echo.state()["data"]["echo"] == "while locked"
        assert server.call(store.health)["status"] == "ok"
        saved = sqlite3.connect(db)
        with contextlib.closing(saved):
            assert saved.execute("SELECT COUNT(*) FROM game_moves").fetchone()[0] == 1
        # The next commit writes the failed one's rows first.
        assert echo.move(msg="after")["status"] == "ok"
        health = server.call(store.health)
        assert health["status"] == "ok" and health["failed_saves"] >= 4
        metrics = server.call(prometheus_text, server.server)
        assert f"gameserver_store_failed_saves_total {health['failed_saves']}" in metrics
    with ServerThread(store=True, store_path=db) as again:
        echo.port = again.port
        assert echo.state()["data"]["echo"] == "after"


@contextlib.contextmanager
def write_locked(db: str) -> Any:
    """Another process holds the store's write lock: every commit fails (after 20 ms)."""
    blocker = sqlite3.connect(db, isolation_level=None, timeout=5)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_a_failed_commit_of_the_writer_thread_is_not_retried_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With sync="full" commits run in the writer thread. One that failed is written
    again with the next change or after RETRY_INTERVAL, as on the loop, not at once and
    again and again: a full disk fails at once, and spun the writer and the loop."""
    monkeypatch.setattr(writer, "RETRY_INTERVAL", 3600)
    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db, store_sync="full") as server:
        assert server.server is not None and server.server.store is not None
        store = server.server.store
        echo = Player(server.port, "Echo", "full", 1)
        assert echo.join()["status"] == "ok"
        with write_locked(db):
            assert echo.move(msg="while locked")["message"] == SAVE_FAILED
            # Its release answered the move: no commit went on its way after it.
            assert server.call(lambda: (store.failed_saves, store._in_flight)) == (1, None)
        assert echo.move(msg="after")["status"] == "ok"  # it writes the failed one's rows
        with contextlib.closing(sqlite3.connect(db)) as saved:
            assert saved.execute("SELECT COUNT(*) FROM game_moves").fetchone()[0] == 2


def test_the_writer_thread_keeps_no_batch_it_committed() -> None:
    """The writer thread held the last batch it committed while it waited for the next:
    a large commit's rows (megabytes of final states) for as long as the store sent it
    nothing more. test_a_finished_big_session_holds_its_state_about_once counted 0.75 of
    a 900 KB state more per session, or 0.25 less, by which commit had been the last."""
    loop = asyncio.new_event_loop()
    thread = WriterThread(loop, lambda ops: None, lambda: None, lambda *landed: loop.stop())
    thread.start()
    try:
        batch = Batch()
        gone = weakref.ref(batch)
        thread.send(batch, batch.ops, False)
        del batch
        loop.run_forever()  # until the batch landed on the loop
        until(lambda: gc.collect() >= 0 and gone() is None,
              "the writer thread, waiting for the next batch, let the last one go")
    finally:
        assert thread.stop(TIMEOUT)
        loop.close()


def test_a_state_that_is_not_json_does_not_break_saving(tmp_path: Path) -> None:
    broken = str(DATA / "broken")
    with ServerThread(store=True, store_path=str(tmp_path / "s.sqlite3"),
                      games_dirs=[broken]) as server:
        player = Player(server.port, "BrokenGame", "b", 1)
        assert player.join()["status"] == "ok"
        assert player.move(**{"break": "set"})["status"] == "ok"
        assert "cannot be sent as JSON" in player.state()["message"]


def test_the_store_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "keys.sqlite3"
    with ServerProcess("--store-path", str(db)) as server:
        assert Player(server.port, "Echo", "p", 1).join()["status"] == "ok"
        for path in (db, Path(f"{db}-wal")):
            assert path.stat().st_mode & 0o077 == 0, oct(path.stat().st_mode)


# ---------------------------------------------------------------- commits (no sockets)


def open_store(path: Path, tictactoe: bool = False, **options: Any) -> tuple[Store, GameGuard]:
    """A started store of Echo (and ``tictactoe``) games, in the running loop."""
    guard = GameGuard()
    classes = {"Echo": Echo, **({"TicTacToe": TicTacToe} if tictactoe else {})}
    store = Store(str(path), {name: GameType(name, cls, guard)
                              for name, cls in classes.items()}, **options)
    store.start(asyncio.get_running_loop())
    return store, guard


def echo_sessions(store: Store, count: int) -> list[Session]:
    """``count`` one-player Echo sessions, started (saved in the next loop pass)."""
    game_type = store.games["Echo"]
    sessions = [Session(game_type, f"s{i}", 1, recorder=store) for i in range(count)]
    for session in sessions:
        session.add_player("")
    return sessions


async def woken(*outcomes: Any) -> None:
    """Wait (in the event loop) until every ``Wait`` among ``outcomes`` is woken."""
    loop = asyncio.get_running_loop()
    futures = []
    for outcome in outcomes:
        if isinstance(outcome, Wait):
            future = loop.create_future()
            outcome.on_wake(lambda now, f=future: f.done() or f.set_result(None))
            futures.append(future)
    await asyncio.wait_for(asyncio.gather(*futures), 10)


async def next_pass() -> None:
    """Let the event loop run its next pass (where a batch commits) and the one after."""
    for _ in range(2):
        await asyncio.sleep(0)


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_changes_of_one_loop_pass_share_one_commit(tmp_path: Path, sync: str) -> None:
    async def play() -> None:
        store, guard = open_store(tmp_path / "pass.db", sync=sync)
        sessions = echo_sessions(store, 3)
        await woken(*(s.join_reply(s.players[0], 1000) for s in sessions))
        before = store.commits
        outcomes = [s.move(0, s.players[0].key, {"msg": "b"}) for s in sessions]
        assert all(isinstance(o, Wait) and not o.woken for o in outcomes)
        assert store.commits == before  # the replies wait for the commit ...
        await woken(*outcomes)
        assert store.commits == before + 1  # ... which is one for all three
        for outcome in outcomes:
            assert isinstance(outcome, Wait) and outcome.resume() == protocol.ok(None)
        store.close()
        guard.close()

    asyncio.run(play())


def test_a_hand_over_collected_right_after_a_restart_is_saved_with_it(tmp_path: Path) -> None:
    """A view that waits for a change when its game restarts (a blocked ``state``, a
    subscription) is handed the old game's end in the next loop pass, before that pass
    commits the restart: its collection joins the restart's commit, and its reply goes
    out after that one commit. (Before, the restart was committed first and the
    collection in a commit of its own, a loop pass later: two commits every restart.)"""
    path = tmp_path / "handover.db"

    async def play() -> None:
        loop = asyncio.get_running_loop()
        store, guard = open_store(path, tictactoe=True)
        session = Session(store.games["TicTacToe"], "t", 2, recorder=store)
        players = [session.add_player("x"), session.add_player("o")]
        await woken(*(session.join_reply(player, 1000) for player in players))
        keys = [player.key for player in players]
        [first] = session.game.current()  # (random)
        other = 1 - first
        for player_id, position in [(first, 0), (other, 3), (first, 1), (other, 4),
                                    (first, 2)]:  # the first player wins
            await woken(session.move(player_id, keys[player_id], {"position": position}))
        await woken(session.state(other, keys[other], False))  # the other sees the end ...
        blocked = session.state(other, keys[other], False)  # ... and waits for the next change
        assert isinstance(blocked, Wait) and not blocked.woken
        handed: asyncio.Future[Any] = loop.create_future()
        # As a connection carries it: resumed in a callback of its own, never in wake().
        blocked.on_wake(lambda now: loop.call_soon(
            lambda: handed.set_result(blocked.resume())))
        before = store.commits
        restarted = session.restart(first, keys[first])
        hand_over = await asyncio.wait_for(handed, 10)
        assert isinstance(hand_over, Wait)  # waits for the save of its collection
        await woken(restarted, hand_over)
        assert store.commits == before + 1  # the restart's, with the collection
        assert json.loads(hand_over.resume())["data"]["gameover"] is True  # the old end
        assert isinstance(restarted, Wait) and restarted.resume() == protocol.ok(None)
        store.close()
        guard.close()

    asyncio.run(play())
    with contextlib.closing(sqlite3.connect(path)) as db:
        [info] = db.execute("SELECT info FROM games WHERE current = 1").fetchone()
    assert json.loads(info)["owed"] == [[0, True], [1, True]]  # the other's collection


def test_a_change_no_reply_waits_for_is_written_in_the_next_pass(tmp_path: Path) -> None:
    """A session that ends without a reply (a timeout, say) leaves the file at once."""
    path = tmp_path / "quiet.db"

    async def play() -> None:
        store, guard = open_store(path)
        [session] = echo_sessions(store, 1)
        await next_pass()
        assert saved_sessions(path) == 1
        store.forget(session)  # no reply will wait for this
        await next_pass()
        assert saved_sessions(path) == 0
        store.close()
        guard.close()

    asyncio.run(play())


def test_moves_are_logged_without_states_and_games_are_pickled_now_and_then(
        tmp_path: Path) -> None:
    path = tmp_path / "log.db"

    async def play() -> None:
        store, guard = open_store(path)
        [session] = echo_sessions(store, 1)
        key = session.players[0].key
        for n in range(200):
            await woken(session.move(0, key, {"msg": f"message {n}"}))
        store.close()
        guard.close()

    asyncio.run(play())
    with contextlib.closing(sqlite3.connect(path)) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(game_moves)")]
        assert "states" not in columns
        assert db.execute("SELECT COUNT(*) FROM game_moves").fetchone()[0] == 200
        snapshots = [seq for (seq,) in db.execute("SELECT seq FROM game_snapshots")]
        [(seed,)] = db.execute("SELECT seed FROM games WHERE current = 1").fetchall()
    assert int(seed) > 0  # the game as it started: made again from its seed
    # Then a snapshot whenever the moves since the last one weigh SNAPSHOT_MIN_LOG.
    assert len(snapshots) == 2 and 50 < snapshots[0] < 100, snapshots


def test_a_game_that_goes_on_for_ever_keeps_only_its_recent_moves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chat that runs for weeks must not grow the file without bound; its replay
    starts from the snapshot its kept moves follow, and shows the right states."""
    monkeypatch.setattr(_rows, "HISTORY_MAX_MOVES", 100)
    path = tmp_path / "long.db"
    games = {"Recorder": GameType("Recorder", Recorder, GameGuard())}  # keeps every move

    async def play() -> None:
        store = Store(str(path), games)
        store.open()
        store.start(asyncio.get_running_loop())
        session = Session(games["Recorder"], "long", 1, recorder=store)
        session.add_player("")
        key = session.players[0].key
        for n in range(1000):
            await woken(session.move(0, key, {"n": n}))
        await woken(session.move(0, key, {"end": True}))  # the game ends: in the history
        store.close()

    asyncio.run(play())
    with contextlib.closing(sqlite3.connect(path)) as db:
        kept = db.execute("SELECT COUNT(*) FROM game_moves").fetchone()[0]
    assert kept < 200  # the moves since the latest snapshot, not all 1,001
    reader = HistoryReader(str(path), GameReplayer(games))
    [entry] = reader.finished_games()
    game = reader.finished_game(entry["id"])
    assert game is not None and game["steps"][-1]["move"] == {"end": True}
    first = game["steps"][0]
    assert first["states"] is not None  # replayed from the snapshot before it, so:
    assert len(first["states"][0]["log"]) == first["seq"]  # every move before it is there


def test_a_session_nobody_asks_holds_one_retry_ticket_however_often_commits_fail(
        tmp_path: Path) -> None:
    """A failed save's ticket points to the commit that writes it again; while no reply
    waits for that retry, each failed commit keeps it (a new ticket per failed commit,
    chained from the first, would grow for as long as the disk fails)."""
    path = tmp_path / "retries.db"

    async def play() -> None:
        store, guard = open_store(path)
        idle, busy = echo_sessions(store, 2)
        await woken(*(s.join_reply(s.players[0], 1000) for s in (idle, busy)))
        idle_key, busy_key = idle.players[0].key, busy.players[0].key
        blocker = sqlite3.connect(path, isolation_level=None, timeout=5)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            failed = idle.move(0, idle_key, {"msg": "kept"})
            await woken(failed)
            assert isinstance(failed, Wait)
            assert json.loads(failed.resume())["message"] == SAVE_FAILED
            first = idle._unsaved
            assert first is not None and first.again is not None
            retry = first.again
            for n in range(5):  # each of these commits fails, writing idle's rows again
                await woken(busy.move(0, busy_key, {"msg": n}))
            assert store.failed_saves >= 6  # (more if the retry timer fired meanwhile)
            assert first.again is retry and not retry.done and retry.again is None
            later = idle.state(0, idle_key, False)  # the change is not saved: it waits
            assert isinstance(later, Wait) and not later.woken
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await woken(later, busy.move(0, busy_key, {"msg": "saved"}))  # with this commit
        assert json.loads(later.resume())["data"]["echo"] == "kept"
        assert retry.done and retry.error is None
        store.close()
        guard.close()

    asyncio.run(play())


def saved_sessions(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT COUNT(*) FROM live_sessions").fetchone()[0]


def test_after_a_long_outage_the_sessions_are_saved_afresh(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows waiting for a retry beyond RETRY_MAX_BYTES are dropped; nothing told is lost."""
    monkeypatch.setattr(writer, "RETRY_MAX_BYTES", 2000)
    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db) as server:
        assert server.server is not None and server.server.store is not None
        store = server.server.store
        echo = Player(server.port, "Echo", "long", 1, name="ann")
        assert echo.join()["status"] == "ok"
        blocker = sqlite3.connect(db, isolation_level=None, timeout=5)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            for n in range(30):  # each failed commit adds its rows to what waits
                assert echo.move(msg=f"{n:03} " + "x" * 100)["message"] == SAVE_FAILED
            watcher = Player(server.port, "Echo", "long", name="ann")
            assert watcher.observe()["message"] == SAVE_FAILED  # its key is not saved yet
            assert server.call(store.health)["unsaved_bytes"] < 2000  # dropped, rewritten
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert echo.move(msg="after")["status"] == "ok"  # saved again, with the rest
        key = watcher.observe()["data"]["key"]
    assert "unsaved rows are dropped and the sessions they touched are saved afresh" in (
        caplog.text)
    with ServerThread(store=True, store_path=db) as again:
        moved_to([echo, watcher], again.port)
        assert echo.state()["data"]["echo"] == "after"
        watcher.key, watcher.observer = key, True
        assert watcher.state()["data"]["echo"] == "after"


def ids_in(path: Path, query: str) -> list[int]:
    """The ids ``query`` selects in the store file ``path``."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [game_id for (game_id,) in db.execute(query)]


def kept_game_ids(path: Path) -> list[int]:
    """The finished games of the history (not their session's current game), oldest first."""
    return ids_in(path, "SELECT id FROM games WHERE ended IS NOT NULL AND current IS NULL "
                  "ORDER BY id")


def test_the_history_keeps_the_newest_finished_games_and_prunes_the_oldest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_rows, "PRUNE_EVERY", 2)  # at most 2 games beyond the limit
    path = tmp_path / "history.db"
    played: list[int] = []  # ids of the finished games, in order

    async def play(games: int, keep: int) -> None:
        store, guard = open_store(path, history_max_games=keep)
        [session] = echo_sessions(store, 1)
        key = session.players[0].key
        for _ in range(games):
            await woken(session.move(0, key, {"msg": "quit"}))
            played.append(store.game_id(session))
            await woken(session.restart(0, key))  # the finished game joins the history
            assert len(kept_game_ids(path)) < keep + 2
        store.close()
        guard.close()

    asyncio.run(play(11, keep=5))  # pruned down to 5 at games 7, 9 and 11
    assert kept_game_ids(path) == played[-5:]  # the newest
    asyncio.run(play(2, keep=2))  # a lower limit: the count found at open prunes at once
    assert kept_game_ids(path) == played[-2:]


def test_ratings_stay_the_same_when_the_games_they_come_from_are_pruned(
        tmp_path: Path) -> None:
    """Ratings are computed from the history, which is pruned: until 2026-11-29 the
    games pruned left the ratings (a hundred Echo games pushed three rated TicTacToe
    games out, and 'gameserver ratings' said "no rated games yet"). Now the games
    pruned are folded into the ratings' base as they are deleted."""
    db = str(tmp_path / "store.sqlite3")

    def ratings() -> str:
        shown = subprocess.run(
            [sys.executable, "-m", "gameserver", "ratings", "--store-path", db, "--named"],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        return shown.stdout

    def kept(game: str) -> int:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as raw:
            return raw.execute("SELECT COUNT(*) FROM games WHERE game = ? AND ended IS NOT "
                               "NULL", (game,)).fetchone()[0]

    with ServerProcess("--store-path", db, "--rated-games", "named",
                       "--history-max-games", "1") as server:
        for table, cells in enumerate([((0, 1, 2), (3, 4)), ((3, 4, 5), (0, 1)),
                                       ((6, 7, 8), (0, 1))]):
            seats = seat_two(server.port, "TicTacToe", f"table-{table}")
            won(seats, *cells)
            assert seats[0].restart()["status"] == "ok"  # the finished game joins the history
        before = ratings()
        assert "TicTacToe:" in before and kept("TicTacToe") == 3
        solo = Player(server.port, "Echo", "flood", 1)
        solo.join()
        for _ in range(_rows.PRUNE_EVERY + 3):  # unrated: one player, no name
            assert solo.move(msg="quit")["status"] == "ok"
            assert solo.restart()["status"] == "ok"
        until(lambda: kept("TicTacToe") == 0, "the rated games pruned")
    assert ratings() == before


def test_tournament_games_pruned_keep_counting_in_the_ratings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tournament rule (the games a tournament rated: the server's
    ``TournamentHall.rated_games``) and the named rule each keep their own base: as
    games are pruned, both ratings stay the same."""
    monkeypatch.setattr(_rows, "PRUNE_EVERY", 1)
    path = tmp_path / "rated.db"
    reader = HistoryReader(str(path))

    def board(rated: set[int], named: bool) -> dict[str, Any]:
        base, records = reader.rating_inputs(named, None, 1000)
        return ratings.board(ratings.compute(ratings.chronological(records),
                                             ratings.rule(rated, named), base))

    async def play() -> None:
        store, guard = open_store(path, tictactoe=True, history_max_games=1)
        rated: set[int] = set()
        store.rated_games = lambda: rated
        table = Session(store.games["TicTacToe"], "cup", 2, recorder=store)
        keys = [table.add_player("ann").key, table.add_player("bob").key]
        for n_game, (winner_cells, loser_cells) in enumerate(
                [((0, 1, 2), (3, 4)), ((0, 4, 8), (1, 2)), ((2, 4, 6), (0, 1))]):
            first = table.game.current()[0]
            for n, cell in enumerate(winner_cells):
                await woken(table.move(first, keys[first], {"position": cell}))
                if n < len(loser_cells):
                    await woken(table.move(1 - first, keys[1 - first],
                                           {"position": loser_cells[n]}))
            if n_game != 1:  # the second is not a tournament's
                rated.add(store.game_id(table))
            await woken(table.restart(0, keys[0]))  # the finished game joins the history
        await next_pass()
        before = board(rated, False), board(rated, True)
        assert [r["games"] for r in before[0]["TicTacToe"]] == [2, 2]
        assert [r["games"] for r in before[1]["TicTacToe"]] == [3, 3]
        [solo] = echo_sessions(store, 1)
        for _ in range(4):
            await woken(solo.move(0, solo.players[0].key, {"msg": "quit"}))
            await woken(solo.restart(0, solo.players[0].key))
        await next_pass()
        assert not set(kept_game_ids(path)) & rated  # pruned
        assert (board(rated, False), board(rated, True)) == before
        store.close()
        guard.close()

    asyncio.run(play())


def rated_rows(path: Path) -> list[int]:
    return ids_in(path, "SELECT history_id FROM rated_games ORDER BY history_id")


def test_the_games_of_deleted_tournaments_leave_rated_games_as_they_are_pruned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``rated_games`` (the games of deleted tournaments, which stay rated) kept a row
    per game for good, pruned from the history or not: a server whose tournaments are
    made and deleted every week grew it without bound, and a game id the history gave
    again (its games all pruned, the server restarted) was rated by a tournament long
    gone. A row now goes with its game, in the prune that folds its ratings into the
    base; a file's rows of games pruned before are deleted as it opens."""
    monkeypatch.setattr(_rows, "PRUNE_EVERY", 1)
    path = tmp_path / "rated.db"

    async def play() -> list[int]:
        store, guard = open_store(path, history_max_games=2)
        [solo] = echo_sessions(store, 1)
        played = []
        for n in range(5):
            played.append(store.game_id(solo))
            await woken(solo.move(0, solo.players[0].key, {"msg": "quit"}))
            if n == 1:  # the first two games' tournament is deleted: they stay rated
                TournamentBook(store).deleted("cup", set(played))
            await woken(solo.restart(0, solo.players[0].key))
            await next_pass()
        store.close()
        guard.close()
        return played

    played = asyncio.run(play())
    kept = kept_game_ids(path)
    assert kept == played[-2:] and rated_rows(path) == []  # both pruned: rows gone
    with contextlib.closing(sqlite3.connect(path)) as db:  # as a file of before left them
        db.executemany("INSERT INTO rated_games (history_id, tournament) VALUES (?, 'cup')",
                       [(played[0],), (kept[0],)])
        db.commit()

    async def reopen() -> None:
        store, guard = open_store(path)
        store.close()
        guard.close()

    asyncio.run(reopen())
    assert rated_rows(path) == [kept[0]]


def test_the_hall_forgets_the_games_of_deleted_tournaments_as_they_are_pruned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's ``TournamentHall.deleted_rated`` (the games of deleted tournaments,
    rated still) kept the id of every game the history pruned until a restart, as the
    store's ``rated_games`` did before: it grew with every tournament deleted, and a game
    id the history gave again was rated by a tournament long gone. A prune written
    takes its games' ids out of it too; the others stay."""
    monkeypatch.setattr(_rows, "PRUNE_EVERY", 1)
    path = tmp_path / "hall.db"
    with ServerThread(store=True, store_path=str(path), history_max_games=2) as server:
        assert server.server is not None
        hall = server.server.hall

        def rated(ids: list[int]) -> None:  # as ``TournamentHall.delete`` records them
            hall.deleted_rated.update(ids)
            assert hall.book is not None
            hall.book.deleted("cup", set(ids))

        solo = Player(server.port, "Echo", "flood", 1)
        solo.join()
        for game in range(5):
            assert solo.move(msg="quit")["status"] == "ok"
            assert solo.restart()["status"] == "ok"  # the game joins the history
            count = min(game + 1, 2)
            until(lambda count=count: len(kept_game_ids(path)) == count, "history kept")
            if game in (1, 3):  # the deleted tournament's games: the first two, the fourth
                newest = kept_game_ids(path)
                server.call(rated, newest if game == 1 else newest[-1:])
        kept = kept_game_ids(path)
        until(lambda: rated_rows(path) == kept[:1], "rows of pruned games deleted")
        assert server.call(lambda: sorted(hall.deleted_rated)) == kept[:1]
        assert server.call(hall.rated_games) == set(kept[:1])


def seat_timed(port: int, session: str, **timer: float) -> dict[int, Player]:
    """ann starts a TicTacToe ``session`` with the ``timer`` she chooses; bob joins it the
    classic way (he is not told of it)."""
    ann = Player(port, "TicTacToe", session, 2, name="ann")
    bob = Player(port, "TicTacToe", session, name="bob")
    replies: list[dict[str, Any]] = []
    starter = threading.Thread(target=lambda: replies.append(request(port, {
        "type": "join", "game": "TicTacToe", "session": session, "players": 2,
        "name": "ann", **timer})))
    starter.start()
    until(lambda: any(s["session"] == session for s in request(
        port, {"type": "discover"})["data"]["sessions"]), "ann's session started")
    assert bob.join()["status"] == "ok"
    starter.join(30)
    ann.player_id, ann.key = replies[0]["data"]["player_id"], replies[0]["data"]["key"]
    return {ann.player_id: ann, bob.player_id: bob}


def test_games_whose_timer_their_starter_chose_are_not_rated(tmp_path: Path) -> None:
    """The attack of 2026-11-29 (a starter chose 0.1 s turns, a classic joiner's moves were
    made at random) won rated games. The starter's choice is now bounded
    (``session_timer_min``), and besides, a game whose session's timer its starter chose,
    other than the configured one, changes no rating and no leaderboard row: the others
    had no say in it. The mark (``games.own_timer``) lasts from game to game of the
    session, and across a restart of the server; a starter who asks for the configured
    timer changes nothing, and stays rated."""
    db = str(tmp_path / "store.sqlite3")

    def rated_games(reader: HistoryReader) -> list[int]:
        base, records = reader.rating_inputs(True, "TicTacToe", 100)
        table = ratings.compute(ratings.chronological(records), ratings.rule(set(), True),
                                base)["TicTacToe"]
        return sorted(rating.games for rating in table.values())

    flags: dict[str, Any] = {"store": True, "store_path": db, "rated_games": "named",
                             "turn_timeout": 300}
    with ServerThread(**flags) as server:
        won(seat_two(server.port, "TicTacToe", "fair"), (0, 1, 2), (3, 4))
        won(seat_timed(server.port, "same", turn_timeout=300), (0, 1, 2), (3, 4))
        rigged = seat_timed(server.port, "rigged", turn_timeout=600)
        won(rigged, (0, 1, 2), (3, 4))
        assert rigged[0].restart()["status"] == "ok"  # its next game: chosen so too
    with ServerThread(**flags) as server:  # (restored: the mark came back with it)
        for seat in rigged.values():
            seat.port = server.port
        won(rigged, (0, 4, 8), (1, 2))
        assert server.server is not None and server.server.history is not None
        reader = server.server.history
        records = {(r["session"], r["id"]): r for r in reader.finished_games("TicTacToe")}
        assert [(session, r.get("own_timer")) for (session, _), r in sorted(
            records.items(), key=lambda item: item[0][1])] == [
            ("fair", None), ("same", None), ("rigged", True), ("rigged", True)]
        assert rated_games(reader) == [2, 2]  # fair and same; before: [4, 4]
        assert sorted(web_data.history_entry(r)["own_timer"] for r in records.values()) == [
            False, False, True, True]  # the dashboard's history list says which
        board = web_data.leaderboard(records.values())["TicTacToe"]
        assert sorted(row["games"] for row in board) == [2, 2]


def test_games_whose_timer_their_starter_chose_stay_unrated_when_pruned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The games pruned from the history are folded into the ratings' base
    (``_rating_base``) under the same rule: one of a session with ``own_timer`` is not."""
    monkeypatch.setattr(_rows, "PRUNE_EVERY", 1)
    path = tmp_path / "rated.db"
    reader = HistoryReader(str(path))

    def games() -> list[int]:
        base, records = reader.rating_inputs(True, None, 1000)
        table = ratings.compute(ratings.chronological(records), ratings.rule(set(), True),
                                base)
        return sorted(r.games for r in table.get("TicTacToe", {}).values())

    async def play() -> None:
        store, guard = open_store(path, tictactoe=True, history_max_games=1)
        for token, own_timer in (("fair", False), ("rigged", True), ("again", False)):
            table = Session(store.games["TicTacToe"], token, 2, recorder=store)
            table.own_timer = own_timer
            keys = [table.add_player("ann").key, table.add_player("bob").key]
            first = table.game.current()[0]
            for cell, other in ((0, 3), (1, 4), (2, None)):
                await woken(table.move(first, keys[first], {"position": cell}))
                if other is not None:
                    await woken(table.move(1 - first, keys[1 - first], {"position": other}))
            await woken(table.restart(0, keys[0]))  # the finished game joins the history
        await next_pass()
        assert len(kept_game_ids(path)) == 1  # fair and rigged pruned: folded into the base
        assert games() == [2, 2]
        store.close()
        guard.close()

    asyncio.run(play())


def test_a_file_from_before_the_byte_limit_weighs_its_history_once(tmp_path: Path) -> None:
    """Its finished games have no ``bytes``: the first start weighs them as the store
    counts them as it writes (else the old history would count as nothing)."""
    path = tmp_path / "old.db"

    async def play() -> int:
        store, guard = open_store(path)
        [session] = echo_sessions(store, 1)
        key = session.players[0].key
        for n in range(3):
            await woken(session.move(0, key, {"msg": f"{n} " + "x" * 5000}))
        await woken(session.move(0, key, {"msg": "quit"}))
        await woken(session.restart(0, key))  # the finished game joins the history
        assert store.rows is not None
        counted = store.rows.kept_bytes
        store.close()
        guard.close()
        return counted

    counted = asyncio.run(play())
    assert counted > 15_000
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("ALTER TABLE games DROP COLUMN bytes")
        db.commit()
    store = Store(str(path), {})
    store.open()
    assert store.rows is not None and store.rows.kept_bytes == counted
    store.abandon()


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_a_reply_held_for_its_save_may_go_out_as_the_commit_lands(
        tmp_path: Path, sync: str) -> None:
    """The commit wakes the replies it held with ``now``: their carrier need not wait a pass.

    The store wakes them where no change is under way (the start of a loop
    pass), so a connection answers right there instead of a loop pass later.
    """
    async def play() -> list[tuple[bool, bool]]:
        store, guard = open_store(tmp_path / "now.db", sync=sync)
        [session] = echo_sessions(store, 1)
        await woken(session.join_reply(session.players[0], 1000))
        outcome = session.move(0, session.players[0].key, {"msg": "held"})
        assert isinstance(outcome, Wait) and outcome.saving
        seen: list[tuple[bool, bool]] = []  # (now, the reply given then is the move's)
        answered = asyncio.get_running_loop().create_future()

        def carrier(now: bool) -> None:
            seen.append((now, outcome.resume() == protocol.ok(None)))
            answered.set_result(None)

        outcome.on_wake(carrier)
        await asyncio.wait_for(answered, 10)
        store.close()
        guard.close()
        return seen

    assert asyncio.run(play()) == [(True, True)]


def test_changes_made_as_a_large_commit_lands_are_committed_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reply woken as the writer thread's commit lands may make a change at once.

    That change's batch is flushed right after the landing; the flush its batch
    scheduled then finds nothing, and commits nothing (no empty transaction).
    """
    monkeypatch.setattr(writer, "LARGE_COMMIT", 4096)  # the first move goes to the thread

    async def play() -> int:
        store, guard = open_store(tmp_path / "landed.db")
        first, second = echo_sessions(store, 2)
        await woken(*(s.join_reply(s.players[0], 1000) for s in (first, second)))
        before = store.batches
        outcome = first.move(0, first.players[0].key, {"msg": "x" * 20_000})
        answered = asyncio.get_running_loop().create_future()

        def carrier(now: bool) -> None:  # as a connection serving its next request
            answered.set_result(second.move(0, second.players[0].key, {"msg": "small"}))

        outcome.on_wake(carrier)
        await woken(await asyncio.wait_for(answered, 10))
        await next_pass()
        batches = store.batches - before
        store.close()
        guard.close()
        return batches

    assert asyncio.run(play()) == 2  # the large move's, and the small one's: no empty third


def saved_moves(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT COUNT(*) FROM game_moves").fetchone()[0]


def test_a_move_that_does_not_wait_for_its_save_is_answered_at_once_and_saved_soon(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``"wait_for_save": false``: the reply is bytes at once; the commit is put off
    (here for ever) while no reply waits for it, and the changes of later passes join
    it; the first reply that shows them waits for it, and hurries it."""
    monkeypatch.setattr(writer, "PUT_OFF", 3600.0)  # nothing but a reply commits it
    path = tmp_path / "later.db"

    async def play() -> None:
        store, guard = open_store(path)
        [session] = echo_sessions(store, 1)
        key = session.players[0].key
        await woken(session.join_reply(session.players[0], 1000))
        before = store.commits
        for n in range(5):  # one move per loop pass, as a learning loop makes them
            assert session.move(0, key, {"msg": n}, wait_for_save=False) == protocol.ok(None)
            await next_pass()
        assert store.commits == before and saved_moves(path) == 0
        # A reply that shows the moves (here the player's own state) waits for them.
        state = session.state(0, key, observer=False)
        assert isinstance(state, Wait) and not state.woken
        await woken(state)
        assert store.commits == before + 1 and saved_moves(path) == 5  # one commit for all
        assert isinstance(state, Wait) and b'"echo": 4' in state.resume()
        store.close()
        guard.close()

    asyncio.run(play())


def test_a_put_off_commit_lands_by_itself(tmp_path: Path) -> None:
    """Nobody asks: the moves reach the file within ``PUT_OFF`` anyway."""
    path = tmp_path / "alone.db"

    async def play() -> None:
        store, guard = open_store(path)
        [session] = echo_sessions(store, 1)
        await woken(session.join_reply(session.players[0], 1000))
        reply = session.move(0, session.players[0].key, {"msg": "a"}, wait_for_save=False)
        assert reply == protocol.ok(None)
        for _ in range(1000):  # (bounded: a commit that never comes fails the test)
            if saved_moves(path):
                break
            await asyncio.sleep(writer.PUT_OFF)
        assert saved_moves(path) == 1
        store.close()
        guard.close()

    asyncio.run(play())


def test_a_put_off_commit_is_bounded_in_size_and_written_at_close(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that never waits cannot make the open batch grow without bound: at
    ``LARGE_COMMIT`` bytes it is committed; what is left is written when the store
    closes (a server stopping normally loses nothing)."""
    monkeypatch.setattr(writer, "PUT_OFF", 3600.0)
    path = tmp_path / "large.db"

    async def play() -> int:
        store, guard = open_store(path)
        [session] = echo_sessions(store, 1)
        key = session.players[0].key
        await woken(session.join_reply(session.players[0], 1000))
        before = store.commits
        moves = writer.LARGE_COMMIT // 10_000 + 2
        for _ in range(moves):
            session.move(0, key, {"msg": "x" * 10_000}, wait_for_save=False)
            await next_pass()
        # The batch passed LARGE_COMMIT: committed, by the writer thread (a commit that
        # large is its), which counts it once done.
        for _ in range(1000):  # (bounded: a commit that never comes fails the test)
            if store.commits > before:
                break
            await asyncio.sleep(0.01)
        assert store.commits > before
        session.move(0, key, {"msg": "last"}, wait_for_save=False)
        await next_pass()
        store.close()  # the put-off rest
        guard.close()
        return moves + 1

    moves = asyncio.run(play())
    assert saved_moves(path) == moves


def test_replies_that_do_not_wait_wait_once_a_slow_commit_lets_the_open_batch_grow(
        tmp_path: Path) -> None:
    """While the writer thread's commit stalls (a slow disk), the changes made meanwhile
    gather in the open batch. A client whose replies do not wait would add to it without
    end; past ``UNWAITED_MAX`` bytes its replies wait too, so that they are held (and
    held replies are bounded per connection)."""
    async def play() -> None:
        store, guard = open_store(tmp_path / "slow.db", sync="full")
        [session] = echo_sessions(store, 1)
        key = session.players[0].key
        await woken(session.join_reply(session.players[0], 1000))
        gate, stalled = threading.Event(), threading.Event()

        def slow_disk() -> int:  # SQLite's progress callback: the writer thread waits
            if threading.current_thread().name == "gameserver-store":
                stalled.set()
                gate.wait(30)
            return 0

        store.db.set_progress_handler(slow_disk, 1)  # (no commit in flight: the loop's)
        try:
            session.move(0, key, {"msg": "first"}, wait_for_save=False)
            await next_pass()  # its commit goes to the writer thread, and stalls there
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(None, stalled.wait, 10)
            size = 100_000
            answered, outcome = 0, None
            for _ in range(3 * writer.UNWAITED_MAX // size):
                outcome = session.move(0, key, {"msg": "x" * size}, wait_for_save=False)
                if isinstance(outcome, Wait):
                    break
                answered += 1
            assert isinstance(outcome, Wait)  # it waits: the batch is crowded
            assert answered <= writer.UNWAITED_MAX // size + 1
        finally:
            gate.set()
        await woken(outcome)
        assert isinstance(outcome, Wait) and outcome.resume() == protocol.ok(None)
        store.close()
        guard.close()

    asyncio.run(play())


def test_a_change_nobody_chose_not_to_wait_for_is_not_put_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only changes whose replies went out unsaved by choice are put off: a change no
    reply waits for (a session that ends, a timer's forfeit) is written at once."""
    monkeypatch.setattr(writer, "PUT_OFF", 3600.0)
    path = tmp_path / "quiet.db"

    async def play() -> None:
        store, guard = open_store(path)
        [session] = echo_sessions(store, 1)
        await next_pass()
        store.forget(session)
        await next_pass()
        assert saved_sessions(path) == 0
        store.close()
        guard.close()

    asyncio.run(play())


def test_a_move_that_does_not_wait_while_the_disk_fails_is_saved_once_it_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its reply says ok (the client chose not to hear of the save); every reply that
    waits says the save failed, as before; once the lock is gone the move is written."""
    monkeypatch.setattr(writer, "RETRY_INTERVAL", 0.05)
    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db) as server:
        echo = Player(server.port, "Echo", "locked", 1)
        assert echo.join()["status"] == "ok"
        echo.state()
        with write_locked(db):
            early = request(server.port, {
                "type": "move", "game": "Echo", "session": "locked",
                "player_id": echo.player_id, "key": echo.key, "move": {"msg": "unsaved"},
                "wait_for_save": False})
            assert early == {"status": "ok", "data": None}
            assert echo.state()["message"] == SAVE_FAILED  # it shows the move: it waits
            for wrong in (True, 0, "false", None):  # only false opts out
                waited = request(server.port, {
                    "type": "move", "game": "Echo", "session": "locked",
                    "player_id": echo.player_id, "key": echo.key, "move": {"msg": "w"},
                    "wait_for_save": wrong})
                assert waited["message"] == SAVE_FAILED
        assert echo.state()["data"]["echo"] == "w"
        assert saved_moves(Path(db)) == 5


def test_another_player_never_sees_a_move_that_did_not_wait(tmp_path: Path) -> None:
    """The mover's reply may go out before the save; the opponent's state still waits
    for it (here it fails: the opponent is told so, and never shown the move)."""
    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db) as server:
        seats = seat_two(server.port, "TicTacToe", "t")
        [mover] = seats[0].state()["data"]["current"]  # (each view seen once: the next
        seats[1].state()  # state of either waits for a change)
        first, second = seats[mover], seats[1 - mover]
        with write_locked(db):
            reply = request(server.port, {
                "type": "move", "game": "TicTacToe", "session": "t",
                "player_id": first.player_id, "key": first.key, "move": {"position": 4},
                "wait_for_save": False, "with_state": True})
            assert reply["status"] == "ok", reply
            assert reply["state"]["board"][4] == mover
            assert second.state()["message"] == SAVE_FAILED
        assert second.state()["data"]["board"][4] == mover  # saved now, and shown


def test_a_refused_move_waits_for_the_save_of_the_move_that_ended_the_game(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The winner's last move did not wait for its save (its commit is put off, here for
    ever): the loser's next move is refused with "game has ended", and that refusal shows
    the unsaved move, so it waits for the commit (and hurries it). It went out at once,
    with the winning move not in the file: a crash then would have brought the game back
    unfinished after the loser was told it had ended."""
    monkeypatch.setattr(writer, "PUT_OFF", 3600.0)
    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db) as server:
        seats = seat_two(server.port, "TicTacToe", "ended")
        [first] = seats[0].state()["data"]["current"]
        winner, loser = seats[first], seats[1 - first]
        for position in (0, 3, 1, 4):
            mover = winner if position < 3 else loser
            assert mover.move(position=position)["status"] == "ok"
        last = request(server.port, {
            "type": "move", "game": "TicTacToe", "session": "ended",
            "player_id": winner.player_id, "key": winner.key, "move": {"position": 2},
            "wait_for_save": False})
        assert last == {"status": "ok", "data": None}
        refused = loser.move(position=5)
        assert refused["status"] == "error" and "game has ended" in refused["message"]
        assert saved_moves(Path(db)) == 5  # the refusal went out after the winning move's save


def test_a_new_sessions_first_game_info_is_what_the_general_encoding_gives() -> None:
    """``Rows.game_info`` answers a new session's first game with a constant; it must be
    the text the general encoding makes (json's, as every later game's info is written),
    and a later game's info carries the hand-over's final views as the players get them."""
    infos: list[str] = []

    class Infos:  # a recorder: the infos of each change, as the store makes them
        def changed(self, session: Session, event: str, **detail: Any) -> None:
            infos.append(_rows.Rows.game_info(_rows.Live("Echo", "s", session), session))

    session = Session(GameType("Echo", Echo, GameGuard(watchdog=False)), "s", 1,
                      recorder=Infos())  # type: ignore[arg-type]
    session.add_player("")  # starts the first game
    first = {"moves_before": 0, "accepted_before": 0, "games_played": 1, "owed": [],
             "final": []}
    assert infos == [_rows.FIRST_GAME_INFO] and _rows.FIRST_GAME_INFO == json.dumps(first)
    session.move(0, session.players[0].key, {"msg": "quit"})
    session.restart(0, session.players[0].key)  # the second game: encoded in full
    assert infos[-1] == json.dumps({"moves_before": 1, "accepted_before": 1,
                                    "games_played": 2, "owed": [[0, True]],
                                    "final": [{"echo": "quit", "current": [],
                                               "gameover": True}]})
