"""The store grows with what players send, not with the square of a game's state.

A scrapbook (tests/data/store_games/scrapbook.py: the bundled Chat once
behaved so) keeps every message, so its state grows with each one; the store
keeps each message once (in the move log) plus snapshots whose total is
bounded by the moves (and none beyond ``store_snapshot_max``). The targets
of issue 14: 40 messages of 100 KB make a store under 20 MB (it was 106 MB),
and 120 of 200 KB stay proportional and come back after ``kill -9``. SQLite's
write-ahead log stays near its limit under load that never pauses.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from game_server_api import GameServerAPI
from gameserver import registry
from gameserver.checked import game_types
from gameserver.guard import GameGuard
from gameserver.store import GameReplayer, HistoryReader, _checkpoint
from gameserver.store._checkpoint import WAL_LIMIT
from tests.serverproc import ServerProcess, ServerThread
from tests.wire import Player, until

KB = 1000
GAMES = ("--games-dir", str(Path(__file__).parent / "data" / "store_games"),
         "--isolate-games", "off")  # in the server: the store's own saving is tested here


def store_bytes(path: Path) -> int:
    return sum(os.path.getsize(f"{path}{suffix}") for suffix in ("", "-wal")
               if os.path.exists(f"{path}{suffix}"))


def chat(port: int, messages: int, size: int) -> tuple[Player, int]:
    """One player sends ``messages`` messages of ``size`` bytes; returns it and bytes sent."""
    player = Player(port, "Scrapbook", "room", 1)
    assert player.join()["status"] == "ok"
    for n in range(messages):
        assert player.move(message=f"{n:04} " + "x" * (size - 5))["status"] == "ok"
    return player, messages * size


def snapshots(path: Path) -> list[int]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [size for (size,) in db.execute(
            "SELECT length(blob) FROM game_snapshots ORDER BY seq")]


def test_forty_messages_of_100_kb_make_a_store_under_20_mb(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    with ServerProcess("--store-path", str(path), "--no-history", *GAMES) as server:
        chat(server.port, 40, 100 * KB)
    assert store_bytes(path) < 20_000_000, store_bytes(path)
    path = tmp_path / "history.sqlite3"
    with ServerProcess("--store-path", str(path), *GAMES) as server:
        _, sent = chat(server.port, 40, 100 * KB)
    assert store_bytes(path) < 20_000_000, store_bytes(path)
    assert sum(snapshots(path)) < sent  # snapshots never outweigh the moves


def test_a_chat_beyond_the_snapshot_limit_is_kept_as_its_moves(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    args = ("--store-path", str(path), "--store-snapshot-max", "500000", *GAMES)
    server = ServerProcess(*args).start()
    player, sent = chat(server.port, 120, 200 * KB)
    assert player.state()["data"]["messages"][-1].startswith("0119 ")
    assert server.proc is not None
    server.proc.kill()  # no clean close: the log is all there is
    server.stop()
    assert max(snapshots(path)) <= 500_000
    assert ("session Scrapbook/room: its game is larger than store_snapshot_max (500000 bytes), "
            "so it is saved as its moves only") in server.log
    with ServerProcess(*args) as again:
        player.port = again.port
        messages = player.state()["data"]["messages"]
        assert [text[:5] for text in messages] == [f"{n:04} " for n in range(120)]
        assert player.move(message="still here")["status"] == "ok"
    assert store_bytes(path) < 1.2 * sent, (store_bytes(path), sent)


def log_sizes(server: Any, path: Path, messages: int, every: int) -> list[int]:
    """Send ``messages`` chat messages of 20 KB, each in a commit of its own; the size of
    the store's write-ahead log after every ``every``."""
    log_file = Path(f"{path}-wal")
    sizes = []
    with GameServerAPI(server.host, server.port, "Chat", players=1, keep_alive=True) as api:
        api.join()
        api.move(name="steady")
        for n in range(messages):
            api.move(message=f"{n:04} " + "x" * 20 * KB)
            if n % every == every - 1:
                sizes.append(log_file.stat().st_size)
        assert api.state()["messages"][-1][1].startswith(f"{messages - 1:04} ")
    return sizes


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_the_log_starts_over_under_steady_load(tmp_path: Path, sync: str) -> None:
    """Commits that never pause (a training loop, a busy class) made the write-ahead
    log grow by every commit: a checkpoint copies it while commits go on, so it was
    never all copied, and SQLite starts it over only then (280 MB after 8 s)."""
    path = tmp_path / "steady.sqlite3"
    with ServerProcess("--store-path", str(path), "--no-history", "--store-sync", sync) as server:
        sizes = log_sizes(server, path, 3000, 100)  # 60 MB of messages
    assert max(sizes) < 3 * WAL_LIMIT, sizes


def test_the_log_starts_over_even_when_the_checkpoint_thread_never_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy machine may keep the checkpoint thread from running: the store looks at the
    log's file itself (``Checkpointer.committing``) and has it start over."""
    monkeypatch.setattr(_checkpoint.Checkpointer, "_run", lambda self: None)  # never passes
    path = tmp_path / "starved.sqlite3"
    with ServerThread(store=True, store_path=str(path), history=False) as server:
        sizes = log_sizes(server, path, 1500, 50)  # 30 MB of messages
    assert max(sizes) < 3 * WAL_LIMIT, sizes
    assert min(sizes[len(sizes) // 2:]) <= WAL_LIMIT  # it started over, and was cut back


def test_a_reader_that_holds_the_log_back_is_named_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
        ) -> None:
    """Another program with a read transaction open (an ``sqlite3`` shell inside
    ``BEGIN``, a database browser) keeps every checkpoint from copying the frames after
    its snapshot, so the log never starts over: it grew without a word until the disk
    was full. One warning now names the file, the likely cause and what to do."""
    monkeypatch.setattr(_checkpoint, "WAL_LIMIT", 2**20)  # (a log below it started over)
    monkeypatch.setattr(_checkpoint, "WAL_WARN", 2 * 2**20)
    path = tmp_path / "held.sqlite3"
    with ServerThread(store=True, store_path=str(path), history=False) as server:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as reader:
            reader.execute("BEGIN")
            reader.execute("SELECT COUNT(*) FROM live_sessions").fetchone()  # its snapshot
            with GameServerAPI(server.host, server.port, "Chat", players=1,
                               keep_alive=True) as api:
                api.join()
                api.move(name="held")
                held = f"the store's log {path}-wal has grown to "

                def warned() -> bool:
                    api.move(message="x" * 20 * KB)
                    return held in caplog.text

                until(warned, "the warning")
                for _ in range(200):  # 4 MB more: no second warning
                    api.move(message="x" * 20 * KB)
            reader.execute("COMMIT")
    [line] = [r.getMessage() for r in caplog.records if held in r.getMessage()]
    assert line.endswith(
        " MB, and cannot start over: another program keeps a read of the store file open "
        "(an sqlite3 shell inside a transaction, a database browser?); close it, or the log "
        f"grows until the disk is full (lsof {path} lists who has the file open)")


def test_a_game_that_held_a_large_move_is_snapshotted_again(tmp_path: Path) -> None:
    """Echo keeps only the last message: three of 600 KB made the estimate (the last
    snapshot and the moves since, 1.8 MB) pass store_snapshot_max, and the game was never
    pickled again: every later move was kept (even with --no-history, beyond the 10,000
    of the history) and replayed at a restart, and the log said the game was too large."""
    path = tmp_path / "echo.sqlite3"
    args = ("--store-path", str(path), "--no-history")
    server = ServerProcess(*args).start()
    player = Player(server.port, "Echo", "big", 1)
    assert player.join()["status"] == "ok"
    for n in range(3):
        assert player.move(msg=f"{n} " + "x" * 600 * KB)["status"] == "ok"
    for n in range(20):
        assert player.move(msg=f"small {n}")["status"] == "ok"
    assert server.proc is not None
    server.proc.kill()
    server.stop()
    assert "larger than store_snapshot_max" not in server.log
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT MAX(seq) FROM game_snapshots").fetchone() == (3,)
        assert db.execute("SELECT COUNT(*) FROM game_moves").fetchone() == (20,)
    with ServerProcess(*args) as again:
        player.port = again.port
        assert player.state()["data"]["echo"] == "small 19"


def history_content(path: Path) -> int:
    """Bytes of what the store holds of games: moves, views and snapshots."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return sum(db.execute(sql).fetchone()[0] or 0 for sql in (
            "SELECT SUM(LENGTH(CAST(move AS BLOB)) + IFNULL(LENGTH(CAST(verdict AS BLOB)), 0))"
            " FROM game_moves",
            "SELECT SUM(LENGTH(blob)) FROM game_snapshots",
            "SELECT SUM(LENGTH(CAST(initial_states AS BLOB)) "
            "+ IFNULL(LENGTH(CAST(final_states AS BLOB)), 0)) FROM games"))


def test_the_history_keeps_within_its_bytes(tmp_path: Path) -> None:
    """Large Echo moves grew the history without a bound but 100,000 games of 10,000 moves
    (one local client: 10 MB/s). With history_max_bytes the oldest finished games go, and
    past half of it a game in play keeps only its moves since its newest snapshot; the
    history (the `history` command, the dashboard's replay) still shows what is kept."""
    path = tmp_path / "echo.sqlite3"
    budget = 4_000_000
    args = ("--store-path", str(path), "--history-max-bytes", str(budget))
    with ServerProcess(*args) as server:
        player = Player(server.port, "Echo", "big", 1)
        assert player.join()["status"] == "ok"
        for game in range(8):  # 1 MB of moves each, and as much of snapshots
            for n in range(10):
                assert player.move(msg=f"{game} {n} " + "x" * 100 * KB)["status"] == "ok"
            assert player.move(msg="quit")["status"] == "ok"
            assert player.restart()["status"] == "ok"  # the finished game joins the history
            assert history_content(path) < budget + 300 * KB
        for n in range(60):  # one game alone: 6 MB of moves
            assert player.move(msg=f"long {n} " + "x" * 100 * KB)["status"] == "ok"
            assert history_content(path) < budget + 300 * KB
        assert player.move(msg="quit")["status"] == "ok"
        assert player.restart()["status"] == "ok"
        assert history_content(path) < budget + 300 * KB
    reader = HistoryReader(str(path), GameReplayer(game_types(registry.discover([]),
                                                              GameGuard())))
    finished = reader.finished_games()
    assert 1 < len(finished) < 4  # of 9: each weighs 1.5 to 2 MB
    newest = finished[0]  # the long game, its moves since a snapshot
    assert newest["moves"] == 61
    game = reader.finished_game(newest["id"])
    assert game is not None and game["steps"][-1]["move"] == {"msg": "quit"}
    assert game["steps"][0]["seq"] > 1 and game["steps"][0]["states"] is not None
    listed = subprocess.run([sys.executable, "-m", "gameserver", "history", "--store-path",
                             str(path)], capture_output=True, text=True, timeout=60)
    shown = subprocess.run([sys.executable, "-m", "gameserver", "history", str(newest["id"]),
                            "--store-path", str(path)], capture_output=True, text=True,
                           timeout=60)
    assert listed.returncode == 0 and shown.returncode == 0, listed.stderr + shown.stderr
    assert f"game {newest['id']}: Echo in session big" in shown.stdout
    with ServerProcess(*args) as again:  # a start counts what was counted
        player.port = again.port
        for n in range(30):
            assert player.move(msg=f"after {n} " + "x" * 100 * KB)["status"] == "ok"
            assert history_content(path) < budget + 300 * KB
        assert player.state()["data"]["echo"].startswith("after 29 ")
    with contextlib.closing(sqlite3.connect(path)) as db:  # its moves pushed out the rest
        assert db.execute("SELECT COUNT(*) FROM games WHERE current IS NULL").fetchone() == (0,)


def test_a_game_too_large_to_snapshot_grows_the_file_no_further_than_the_history_allows(
        tmp_path: Path) -> None:
    """The attack: Echo keeps only its last message, but a list of floats pickles to about
    twice its JSON, so each move of one made a game larger than store_snapshot_max. Such a
    game is saved as its moves, all of them, and the history's bytes did not count them:
    one session grew the file by every move, past history_max_bytes (40 MB in 40 moves
    with a budget of 4 MB). Past half of the budget its session is kept in memory only;
    it plays on."""
    path = tmp_path / "floats.sqlite3"
    budget = 2**20
    args = ("--store-path", str(path), "--history-max-bytes", str(budget),
            "--store-snapshot-max", "200000")
    floats = [0.5] * 40_000  # 200 KB of JSON, 360 KB pickled
    with ServerProcess(*args) as server:
        player = Player(server.port, "Echo", "floats", 1)
        assert player.join()["status"] == "ok"
        for n in range(16):  # 3.2 MB of moves
            floats[0] = float(n)
            assert player.move(msg=floats)["status"] == "ok"
        assert player.state()["data"]["echo"][0] == 15.0
    assert history_content(path) < budget, history_content(path)
    assert ("session Echo/floats is kept in memory only: its game is larger than "
            "store_snapshot_max") in server.log


def test_the_checkpoint_thread_holds_the_log_open_from_the_start(tmp_path: Path) -> None:
    """The checkpoint thread's connection opened the log at its first pass, a second
    after the start: a ``-wal`` deleted before that (a host freeing space) was made anew,
    empty, by that pass (a store's reader then found a log the server never wrote), and
    the checkpoints copied nothing of the deleted one into the file. Now it holds the log
    open from the start, and its checkpoint copies the deleted log's rows into the file."""
    path = tmp_path / "early.sqlite3"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("CREATE TABLE rows (x)")
        checkpointer = _checkpoint.Checkpointer(str(path))
        checkpointer.start()
        try:
            writer.execute("INSERT INTO rows VALUES (1)")  # in the log, not yet in the file
            os.unlink(f"{path}-wal")
            checkpointer._wake.set()
            until(lambda: checkpointer.checkpoints > 0, "a checkpoint")
            assert not Path(f"{path}-wal").exists()
        finally:
            checkpointer.close(30)
    with contextlib.closing(sqlite3.connect(path)) as reader:
        assert reader.execute("SELECT x FROM rows").fetchall() == [(1,)]
