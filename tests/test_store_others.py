"""Other programs writing the store file while the server runs: what stops saving, what not.

A backup copied over the running server's file is found and left whole
(tests/test_store_taken.py). Here the other ways another program writes it:

* a checkpoint run by hand (``sqlite3 FILE "PRAGMA wal_checkpoint"``, or a connection
  of another program): innocent, and it must never stop saving; it was taken for a backup
  put back. It is refused now (``_overwritten.CheckpointGuard``);
* a backup put back through SQLite (``.restore``, the backup API): found at the next
  commit, which writes nothing into it (``_file.commit``);
* a copy that lands while the store's own checkpoint runs: found by the pages after it
  (``_pages``), the checkpoint run by the test and the copy at a point the test picks;
* a system without OFD locks (forced): said at the start and in the line of a copy.

Real servers (a process, or a thread where the test must reach the store), a real
``sqlite3`` shell where this machine has one, and ``cp`` in a process of its own: a
file opened and closed in the server's process drops SQLite's locks on it.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gameserver.store import _checkpoint, _overwritten
from gameserver.store._batch import JOIN_FAILED, SAVE_GONE
from gameserver.store._checkpoint import Checkpointer
from tests.serverproc import ServerProcess, ServerThread
from tests.test_store_taken import backed_up, finished_echo, history, rows_of, unlooked
from tests.wire import Player

SQLITE3 = shutil.which("sqlite3")


def sqlite3_shell(path: Path, command: str) -> str:
    if SQLITE3 is None:
        pytest.skip("no sqlite3 shell on this machine")
    return subprocess.run([SQLITE3, str(path), command], check=True, capture_output=True,
                          text=True, timeout=60).stdout


@pytest.mark.parametrize("by", ["sqlite3 shell", "connection"])
def test_a_checkpoint_another_program_runs_stops_no_save(tmp_path: Path, by: str) -> None:
    """A host runs a checkpoint by hand while the server runs: every save goes on, and
    the stop keeps them all. It wrote the file, so the store's look (here the stop's: the
    checkpoint thread sleeps, ``unlooked``, so that the log is there to copy) took it for
    a backup put back: the server stopped saving, and the changes since were lost."""
    path = tmp_path / "store.sqlite3"
    with ServerProcess("--store-path", str(path), "--no-web",
                       env=unlooked(tmp_path)) as server:
        finished_echo(server.port, "before")
        player = Player(server.port, "Echo", "after", 1)
        assert player.join()["status"] == "ok"
        assert player.move(msg="first move")["status"] == "ok"
        for mode in ("PASSIVE", "FULL", "TRUNCATE"):
            statement = f"PRAGMA wal_checkpoint({mode})"
            if by == "sqlite3 shell":
                sqlite3_shell(path, statement)
            else:
                with contextlib.closing(sqlite3.connect(path)) as db:
                    db.execute(statement).fetchone()
        assert player.move(msg="second move")["status"] == "ok"
    assert "written over" not in server.log, server.log
    assert "store closed: all" in server.log, server.log
    saved = "\n".join(rows_of(path))
    assert "first move" in saved and "second move" in saved
    with ServerProcess("--store-path", str(path), "--no-web") as server:
        player.port = server.port
        assert player.move(msg="third move")["status"] == "ok"  # (the session is back)


@pytest.mark.parametrize("by", ["sqlite3 .restore", "backup API"])
def test_a_backup_put_back_through_sqlite_gets_none_of_the_servers_rows(
        tmp_path: Path, by: str) -> None:
    """``sqlite3 FILE ".restore backup"`` while the server runs: a whole file, written by
    SQLite into the log. The server wrote its sessions into it (a move of a session the
    backup does not have, the stop time): now its next commit finds the schema version
    it did not write, and nothing more is saved (``SAVE_GONE``). After the stop the file
    is the backup, row for row, and a restart uses it."""
    path, backup = tmp_path / "store.sqlite3", tmp_path / "backup.sqlite3"
    with ServerProcess("--store-path", str(path), "--no-web") as server:
        finished_echo(server.port, "before")
        kept = backed_up(path, backup)
        player = Player(server.port, "Echo", "after", 1)
        assert player.join()["status"] == "ok"
        assert player.move(msg="after the backup")["status"] == "ok"
        if by == "backup API":
            with contextlib.closing(sqlite3.connect(backup)) as source, \
                    contextlib.closing(sqlite3.connect(path)) as live:
                source.backup(live)
        else:
            sqlite3_shell(path, f".restore '{backup}'")
        assert player.move(msg="after the restore")["message"] == SAVE_GONE
        assert Player(server.port, "Echo", "new", 1).join()["message"] == JOIN_FAILED
    assert (f"ERROR   gameserver.store: the store file {path} was changed by another "
            f"program while the server ran" in server.log), server.log
    assert server.log.count("ERROR   gameserver.store: ") == 1, server.log
    assert rows_of(path) == kept
    with ServerProcess("--store-path", str(path), "--no-web"):
        listed = history("--store-path", str(path))
        assert "before" in listed.stdout and "after" not in listed.stdout


def checkpoint_now(checkpointer: Checkpointer) -> None:
    """One pass of the store's checkpoint, run here (its thread sleeps: ``INTERVAL``)."""
    assert checkpointer._db is not None
    with checkpointer._one_at_a_time:
        checkpointer._passive(checkpointer._db)


def copy(backup: Path, path: Path) -> None:
    """``cp backup path``: in a process of its own (a file opened and closed in the
    server's process would drop SQLite's locks on it)."""
    subprocess.run(["cp", str(backup), str(path)], check=True, timeout=60)


@pytest.mark.parametrize("lands", ["before its writes", "after its writes"])
def test_a_backup_copied_over_during_the_stores_own_checkpoint_is_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        lands: str) -> None:
    """The store looks before its checkpoint and notes the file after it: a copy that
    landed in between was noted as the checkpoint's own write, and the server saved on
    into a file of two. The test runs the checkpoint and puts the copy where it likes:
    just before the checkpoint writes (it then writes its pages over the copy's: the
    pages earlier checkpoints wrote say it), or just after (its pages say it)."""
    monkeypatch.setattr(_checkpoint, "INTERVAL", 3600.0)  # (the test runs them)
    path, backup = tmp_path / "store.sqlite3", tmp_path / "backup.sqlite3"
    with ServerThread(store=True, store_path=str(path)) as server:
        assert server.server is not None and server.server.store is not None
        store = server.server.store
        checkpointer = store._checkpointer
        assert checkpointer is not None
        finished_echo(server.port, "before")
        checkpoint_now(checkpointer)
        backed_up(path, backup)
        finished_echo(server.port, "after")
        checkpoint_now(checkpointer)  # (its pages are the ones a copy of the backup changes)
        player = Player(server.port, "Echo", "later", 1)
        assert player.join()["status"] == "ok"
        if lands == "before its writes":
            may_copy: Callable[[], bool] = checkpointer._may_copy
            monkeypatch.setattr(checkpointer, "_may_copy",
                                lambda: may_copy() and (copy(backup, path) or True))
        else:
            copied: Callable[[int, int], None] = checkpointer._copied
            monkeypatch.setattr(checkpointer, "_copied", lambda frames, done: (
                copy(backup, path), copied(frames, done))[1])
        checkpoint_now(checkpointer)
        assert store._written_over
        assert player.move(msg="lost")["message"] == SAVE_GONE
    assert (f"the store file {path} was written over while the server ran" in caplog.text
            and "while the server copied its log into it, so the file may hold pages of "
                "both" in caplog.text), caplog.text
    assert Path(f"{path}-wal.overwritten").exists()


def test_a_checkpoint_of_the_stores_own_with_nothing_copied_in_between_finds_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pages' look after each checkpoint is no false alarm: games played, checkpoints
    run, the log started over, another program's checkpoint refused, all without a copy,
    and the store saves on."""
    monkeypatch.setattr(_checkpoint, "INTERVAL", 3600.0)
    path = tmp_path / "store.sqlite3"
    with ServerThread(store=True, store_path=str(path)) as server:
        assert server.server is not None and server.server.store is not None
        store = server.server.store
        checkpointer = store._checkpointer
        assert checkpointer is not None
        player = Player(server.port, "Echo", "long", 1)
        assert player.join()["status"] == "ok"
        for n in range(30):
            assert player.move(msg=f"move {n} " + "x" * 3000)["status"] == "ok"
            if n % 3 == 0:
                checkpoint_now(checkpointer)
            if n % 10 == 5:
                with contextlib.closing(sqlite3.connect(path)) as db:
                    assert db.execute("PRAGMA wal_checkpoint").fetchone() == (1, -1, -1)
        assert not store._written_over
        assert player.move(msg="saved")["status"] == "ok"


def test_without_ofd_locks_the_store_says_what_it_cannot_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Elsewhere than Linux there are no OFD locks: the store can neither keep another
    program's checkpoint out nor hold SQLite's copy off as it closes after a backup was
    copied over. It said nothing: it says so as it starts, and the line of a copy found
    says to stop the server with ``kill -9`` (which copies nothing). (Forced here.)"""
    monkeypatch.setattr(_overwritten, "OFD", False)
    monkeypatch.setattr(_checkpoint, "INTERVAL", 3600.0)
    path, backup = tmp_path / "store.sqlite3", tmp_path / "backup.sqlite3"
    with ServerThread(store=True, store_path=str(path)) as server:
        assert server.server is not None and server.server.store is not None
        store = server.server.store
        assert store._file is not None and store._file.guard is None
        assert _overwritten.NO_OFD.format(path=store.path) in caplog.text
        finished_echo(server.port, "before")
        backed_up(path, backup)
        finished_echo(server.port, "after")
        copy(backup, path)
        checkpointer = store._checkpointer
        assert checkpointer is not None
        checkpoint_now(checkpointer)
        assert store._written_over
    assert ("this system cannot keep SQLite from copying the old log into the file as the "
            "server's connections close (no open file description locks): stop the server "
            "with kill -9 (SIGKILL), not a clean stop") in caplog.text, caplog.text


def test_a_schema_statement_of_another_program_stops_no_save(tmp_path: Path) -> None:
    """Another program adds an index (or a trigger: tests/test_store_refused.py) while
    the server runs: the schema version changes as for a backup put back through SQLite,
    but the rows are the server's, and it saves on (only a transaction that wrote every
    page of the database is taken for one)."""
    path = tmp_path / "store.sqlite3"
    with ServerProcess("--store-path", str(path), "--no-web") as server:
        player = Player(server.port, "Echo", "indexed", 1)
        assert player.join()["status"] == "ok"
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.execute("CREATE INDEX by_session ON games (session)")
        assert player.move(msg="after the index")["status"] == "ok"
    assert "ERROR" not in server.log, server.log
    assert "after the index" in "\n".join(rows_of(path))
