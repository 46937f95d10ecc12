"""Closing the store (gameserver/store/_closing.py): what the stopping loop left is written
or reported, and every reply waiting for it is woken with how that went."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from gameserver import protocol
from gameserver.store._batch import JOIN_FAILED, SAVE_LOST, SAVE_REFUSED
from gameserver.waits import Wait
from tests.serverproc import ROOT
from tests.test_store import echo_sessions, open_store, woken, write_locked
from tests.wire import until


@pytest.mark.parametrize("disk", ["saves", "fails"])
def test_replies_waiting_for_the_changes_the_close_writes_are_woken(
        tmp_path: Path, disk: str) -> None:
    """The server stops before the pass that commits a move: ``close`` writes it, and
    the reply waiting for it is woken with how that went. (It was marked done, but
    nothing woke it: a carrier still holding it waited for ever.)"""
    path = tmp_path / "close.db"

    async def play() -> Any:
        store, guard = open_store(path)
        [session] = echo_sessions(store, 1)
        await woken(session.join_reply(session.players[0], 1000))
        moved = session.move(0, session.players[0].key, {"msg": "last"})
        assert isinstance(moved, Wait) and not moved.woken  # its commit: the next pass
        with write_locked(str(path)) if disk == "fails" else contextlib.nullcontext():
            store.close()  # as a server that stops does, before that pass
        guard.close()
        return moved

    moved = asyncio.run(play())
    assert moved.woken
    if disk == "saves":
        assert moved.resume() == protocol.ok(None)
    else:
        # Not SAVE_FAILED's "saved again with the next change": nothing writes it again.
        assert json.loads(moved.resume()) == {"status": "error", "message": SAVE_LOST}
        # ... and it says what to do next (until 2026-12-01 only "it is lost").
        assert SAVE_LOST == (
            "server: the change was made, but the server stopped before it could save it to "
            "disk, so it is lost (see the server log); when the server runs again, ask for "
            "the state to see what was saved, and send your request again if your change "
            "is missing")


def test_a_failed_commit_of_the_writer_thread_is_written_when_the_server_stops(
        tmp_path: Path) -> None:
    """The loop stops before it can release a commit the writer thread just failed: the
    store's last commit writes its rows (they were lost: nothing retried them)."""
    path = tmp_path / "stop.db"

    async def play() -> None:
        store, guard = open_store(path, sync="full")
        [session] = echo_sessions(store, 1)
        await woken(session.join_reply(session.players[0], 1000))
        with write_locked(str(path)):
            moved = session.move(0, session.players[0].key, {"msg": "last"})
            await asyncio.sleep(0)  # the pass that hands the batch to the writer thread
            batch = store._in_flight
            assert batch is not None
            until(lambda: batch.landed is not None, "the writer's commit failed")
            assert batch.landed[1] is not None  # (blocking the loop: it is not released)
        store.close()  # as a server that stops does, before the loop runs again
        guard.close()
        assert isinstance(moved, Wait) and moved.woken  # written by the last commit
        assert moved.resume() == protocol.ok(None)

    asyncio.run(play())
    with contextlib.closing(sqlite3.connect(path)) as saved:
        moves = saved.execute("SELECT move FROM game_moves").fetchall()
    assert [json.loads(move) for (move,) in moves] == [{"msg": "last"}]


def test_a_session_whose_start_the_writer_failed_as_the_server_stopped_is_not_saved(
        tmp_path: Path) -> None:
    """Its joiners never got keys (their replies waited for that commit), as when the
    loop releases a failed start (``_failed``): the last commit must not save it, or it
    came back after a restart as a full session nobody can play in."""
    path = tmp_path / "stop.db"

    async def play() -> Any:
        store, guard = open_store(path, sync="full")
        with write_locked(str(path)):
            [session] = echo_sessions(store, 1)  # its start: the next batch
            joined = session.join_reply(session.players[0], 1000)
            await asyncio.sleep(0)  # the pass that hands the batch to the writer thread
            batch = store._in_flight
            assert batch is not None and batch.starts
            until(lambda: batch.landed is not None, "the writer's commit failed")
            assert batch.landed[1] is not None  # (blocking the loop: it is not released)
        store.close()  # as a server that stops does, before the loop runs again
        guard.close()
        return joined

    joined = asyncio.run(play())
    assert isinstance(joined, Wait) and joined.woken  # no key was handed out: an error
    assert json.loads(joined.resume()) == {"status": "error", "message": JOIN_FAILED}
    with contextlib.closing(sqlite3.connect(path)) as saved:
        assert saved.execute("SELECT token FROM live_sessions").fetchall() == []


def stuck_writer_stops(path: str) -> None:
    """A store whose writer thread is still inside its commit (two rows) when ``close``
    stops waiting for it, with two more rows to write after it. Run in a child process:
    on main ``close`` went on with the connection and closed it under the writer thread,
    and the process crashed (a segmentation fault in SQLite)."""
    release, holding = threading.Event(), threading.Event()

    def progress() -> int:  # a disk that takes its time, in the writer thread only
        if threading.current_thread().name == "gameserver-store":
            while not release.is_set():
                holding.set()
                release.wait(30)
        return 0

    async def play() -> threading.Thread:
        store, guard = open_store(Path(path), sync="full")
        sessions = echo_sessions(store, 2)
        await woken(*(session.join_reply(session.players[0], 1000) for session in sessions))
        store.db.set_progress_handler(progress, 1)
        for session in sessions:  # one commit, two rows
            session.move(0, session.players[0].key, {"msg": f"{session.token} in flight"})
        await asyncio.sleep(0)  # the pass that hands the batch to the writer thread
        assert holding.wait(30)
        held = [session.move(0, session.players[0].key, {"msg": f"{session.token} after"})
                for session in sessions]  # the next commit: it waits for the one in flight
        thread = store._writer
        assert thread is not None
        # Still writing when the wait ends. (On main close went on with the connection,
        # blocked until this timer let the writer go.)
        thread.join = lambda timeout=None: threading.Thread.join(thread, 0.01)  # type: ignore
        unblock = threading.Timer(1.0, release.set)
        unblock.start()
        store.close()
        unblock.cancel()
        for wait in held:  # lost (the commit in flight may land): each reply says so
            assert isinstance(wait, Wait) and wait.woken
            assert json.loads(wait.resume())["message"] == SAVE_LOST
        release.set()
        threading.Thread.join(thread, 30)
        guard.close()
        return thread

    assert not asyncio.run(play()).is_alive()


def test_a_server_that_stops_while_the_writer_is_still_writing_leaves_the_file_to_it(
        tmp_path: Path) -> None:
    """The last commit does not run on the writer's connection, nor is it closed under the
    writer: the commit in flight lands whole, what came after is lost, and it says so."""
    path = str(tmp_path / "stuck.db")
    code = f"from tests.test_store_closing import stuck_writer_stops; stuck_writer_stops({path!r})"
    child = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    assert "still being written 30 s after the server stopped" in child.stderr
    with contextlib.closing(sqlite3.connect(path)) as saved:
        moves = saved.execute("SELECT move FROM game_moves ORDER BY move").fetchall()
    assert [json.loads(move)["msg"] for (move,) in moves] == ["s0 in flight", "s1 in flight"]


def test_a_new_session_of_an_ended_ones_name_is_not_answered_its_refusal_at_close(
        tmp_path: Path) -> None:
    """s0 moves (a commit in the writer thread), then in the next pass moves again (a row
    the file refuses), ends, and a new session of its name starts; the server stops in
    that pass. ``close`` answered the tickets of the commit in flight and of the open
    batch together, by name: the refusal of the old session's move answered the new
    session's start too, which was saved (its joiner told the session was ended, a
    restart brought it back)."""
    path = tmp_path / "by-name.db"

    async def play() -> tuple[Any, Any, Any]:
        store, guard = open_store(path, sync="full")
        [old] = echo_sessions(store, 1)
        await woken(old.join_reply(old.players[0], 1000))
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as other, other:
            other.execute(  # the row of its second move: another program's first
                "INSERT INTO game_moves (game_id, seq, player_id, move, verdict, time) "
                "SELECT id, 2, 0, '{}', NULL, 0 FROM games WHERE session = 's0'")
        saved = old.move(0, old.players[0].key, {"msg": "saved"})
        await asyncio.sleep(0)  # the pass that hands the batch to the writer thread
        assert store._in_flight is not None
        refused = old.move(0, old.players[0].key, {"msg": "refused"})
        store.forget(old)
        [new] = echo_sessions(store, 1)  # (s0 again)
        joined = new.join_reply(new.players[0], 1000)
        store.close()  # as a server that stops does, before the loop runs again
        guard.close()
        return saved, refused, joined

    saved, refused, joined = asyncio.run(play())
    for wait in (saved, refused, joined):
        assert isinstance(wait, Wait) and wait.woken
    assert saved.resume() == protocol.ok(None)
    assert json.loads(refused.resume())["message"] == SAVE_REFUSED
    assert json.loads(joined.resume())["status"] == "ok"
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT token FROM live_sessions").fetchall() == [("s0",)]
