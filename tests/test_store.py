"""The durable store: sessions survive kill -9, finished games are kept and listed."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from gameserver import protocol
from gameserver.checked import GameType
from gameserver.games.echo import Echo
from gameserver.guard import GameGuard
from gameserver.session import Session
from gameserver.store import Store
from gameserver.waits import Wait
from tests.serverproc import ROOT, ServerProcess
from tests.wire import Player

DATA = Path(__file__).parent / "data"


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


def test_a_game_that_cannot_be_saved_is_kept_in_memory_only(tmp_path: Path) -> None:
    db = str(tmp_path / "store.sqlite3")
    args = ("--store-path", db, "--games-dir", str(DATA / "store_games"))
    with ServerProcess(*args) as server:
        locked = Player(server.port, "Locked", "l", 1)
        assert locked.join()["status"] == "ok"
        for _ in range(3):
            assert locked.move()["status"] == "ok"
        assert locked.state()["data"]["count"] == 3
    assert server.log.count("session Locked/l is kept in memory only") == 1
    with ServerProcess(*args) as again:
        locked.port = again.port
        assert locked.state()["message"] == "framework: no such game session"


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


def test_finished_games_are_listed_with_their_moves(tmp_path: Path) -> None:
    db = str(tmp_path / "store.sqlite3")
    with ServerProcess("--store-path", db) as server:
        seats = seat_two(server.port, "TicTacToe", "h")
        played = finish_tictactoe(seats)
        assert seats[0].move(position=9)["message"] == "framework: game has ended"
    store = Store(db, GameGuard())
    [record] = store.finished_games()
    assert record["game"] == "TicTacToe" and record["session"] == "h"
    assert sorted(record["players"]) == ["ann", "bob"]
    assert record["moves"] == len(played)
    assert record["final_states"][0]["gameover"] is True
    game = store.finished_game(record["id"])
    assert game is not None
    assert [m["move"] for m in game["moves"]] == [{"position": p} for p in played]
    assert [m["seq"] for m in game["moves"]] == list(range(1, len(played) + 1))
    assert game["initial_states"][0]["board"] == [-1] * 9
    assert game["moves"][0]["states"][1]["board"].count(-1) == 8
    assert store.finished_game(record["id"] + 1) is None

    history = subprocess.run(
        [sys.executable, "-m", "gameserver", "history", "--store-path", db],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert history.returncode == 0
    assert "TicTacToe" in history.stdout and "ann" in history.stdout
    one = subprocess.run(
        [sys.executable, "-m", "gameserver", "history", str(record["id"]), "--store-path", db],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert one.returncode == 0
    assert f'1. player {game["moves"][0]["player_id"]}: {{"position": {played[0]}}}' in one.stdout


def test_rejected_moves_are_in_the_move_log(tmp_path: Path) -> None:
    db = str(tmp_path / "store.sqlite3")
    with ServerProcess("--store-path", db) as server:
        solo = Player(server.port, "Echo", "r", 1)
        solo.join()
        assert solo.move(msg="error")["status"] == "illegalmove"
        assert solo.move(msg="quit")["status"] == "ok"
    store = Store(db, GameGuard())
    game = store.finished_game(store.finished_games()[0]["id"])
    assert game is not None
    assert [m["rejection"] is None for m in game["moves"]] == [False, True]
    assert game["moves"][0]["rejection"].startswith("you sent msg='error'")


def test_no_store_keeps_nothing(tmp_path: Path) -> None:
    with ServerProcess("--no-store", cwd=ROOT) as server:
        assert Player(server.port, "Echo", "x", 1).join()["status"] == "ok"
    assert "store: off" in server.log


def test_history_command_without_a_store_file_says_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gameserver", "history", "--store-path",
         str(tmp_path / "none.sqlite3")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "start the server first" in result.stderr


# ---------------------------------------------------------------- failures (review findings)


def test_a_failed_save_is_reported_once_and_saved_with_the_next_change(tmp_path: Path) -> None:
    import sqlite3

    from tests.serverproc import ServerThread

    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db) as server:
        echo = Player(server.port, "Echo", "locked", 1)
        assert echo.join()["status"] == "ok"
        echo.state()
        blocker = sqlite3.connect(db, isolation_level=None, timeout=5)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            reply = echo.move(msg="while locked")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert reply["status"] == "error"
        assert reply["message"].startswith("server: the change was made, but the server "
                                           "could not save it")
        # The view did not see that version: its next state returns at once ...
        assert echo.state()["data"]["echo"] == "while locked"
        # ... and the next change saves the session again, the earlier change included.
        assert echo.move(msg="after")["status"] == "ok"
    with ServerThread(store=True, store_path=db) as again:
        echo.port = again.port
        assert echo.state()["data"]["echo"] == "after"


def test_a_state_that_is_not_json_does_not_break_saving(tmp_path: Path) -> None:
    from tests.serverproc import ServerThread

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


def test_identical_player_states_are_stored_once(tmp_path: Path) -> None:
    import sqlite3

    db = str(tmp_path / "store.sqlite3")
    with ServerProcess("--store-path", db) as server:
        seats = seat_two(server.port, "Nim", "nim")  # every player sees the same heaps
        state = seats[0].state()["data"]
        seats[1].state()
        while not state["gameover"]:
            mover = seats[state["current"][0]]
            heap = next(i for i, size in enumerate(state["heaps"]) if size)
            assert mover.move(heap=heap, take=state["heaps"][heap])["status"] == "ok"
            state = seats[0].state()["data"]
            seats[1].state()
    raw = sqlite3.connect(db).execute("SELECT states FROM moves LIMIT 1").fetchone()[0]
    assert raw.startswith('{"all": ')
    store = Store(db, GameGuard())
    game = store.finished_game(store.finished_games()[0]["id"])
    assert game is not None
    first = game["moves"][0]["states"]
    assert len(first) == 2 and first[0] == first[1]


def test_a_held_burst_is_saved_in_one_commit(tmp_path: Path) -> None:
    """Moves served in one burst (Store.held) wait for one commit instead of one each."""
    async def play() -> None:
        guard = GameGuard()
        store = Store(str(tmp_path / "held.db"), guard)
        store.start(asyncio.get_running_loop())
        sessions = [Session(GameType("Echo", Echo, guard), f"s{i}", 1, recorder=store)
                    for i in range(3)]
        for session in sessions:
            session.add_player("")
        store.settle(store._batch)  # the three starts
        before = store.commits
        for session in sessions:  # one at a time: a commit each, no waiting
            assert session.move(0, session.players[0].key, {"msg": "a"}) == protocol.ok(None)
        assert store.commits == before + 3
        with store.held():
            outcomes = [session.move(0, session.players[0].key, {"msg": "b"})
                        for session in sessions]
            assert all(isinstance(outcome, Wait) for outcome in outcomes)
            assert store.commits == before + 3  # nothing written inside the burst
        assert store.commits == before + 4
        for outcome in outcomes:
            assert isinstance(outcome, Wait) and outcome.woken
            assert outcome.resume() == protocol.ok(None)
        store.close()
        guard.close()

    asyncio.run(play())


def test_a_change_no_reply_waits_for_is_written_soon(tmp_path: Path) -> None:
    """A session that ends without a reply (a timeout, say) leaves the file within moments."""
    path = str(tmp_path / "quiet.db")

    async def play() -> None:
        guard = GameGuard()
        store = Store(path, guard)
        store.start(asyncio.get_running_loop())
        session = Session(GameType("Echo", Echo, guard), "quiet", 1, recorder=store)
        session.add_player("")
        store.settle(store._batch)
        assert saved_sessions(path) == 1
        store.forget(session)  # no reply will settle this
        deadline = time.monotonic() + 10
        while saved_sessions(path) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert saved_sessions(path) == 0
        store.close()
        guard.close()

    asyncio.run(play())


def saved_sessions(path: str) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
