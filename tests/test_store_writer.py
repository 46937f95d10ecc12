"""A commit that raises what is not an SQLite error (memory running out while a row is
bound, a bug of ours) fails as a full disk does: its replies are answered, its rows
written again later, and the server serves on; a writer thread that dies of it is
replaced. Before, the error ended the writer thread (or the loop's commit): nothing
answered the replies waiting for that commit, the store sent every later one to a
thread that would never write it, and every move of every session hung.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gameserver import protocol
from gameserver.store.writer import SAVE_FAILED
from gameserver.waits import Wait
from tests.serverproc import ServerThread
from tests.test_store import echo_sessions, open_store, woken
from tests.wire import Player, until


class Died(BaseException):
    """An error ``commit`` does not catch (it catches ``Exception``): stands for any that
    ends the writer thread."""


class Faulty:
    """The store's connection, whose inserts of move rows raise ``fault`` while it is set
    (SQLite's own errors never reach past ``commit``; this is what does)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.fault: BaseException | None = None

    def _check(self, sql: str) -> None:
        if self.fault is not None and sql.startswith("INSERT INTO game_moves"):
            raise self.fault

    def execute(self, sql: str, *args: Any) -> Any:
        self._check(sql)
        return self._db.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        self._check(sql)
        return self._db.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


@pytest.mark.parametrize(("sync", "fault"), [
    ("normal", MemoryError()),  # on the loop
    ("full", MemoryError()),  # in the writer thread
    ("full", Died("the writer thread dies")),
])
def test_a_commit_that_raises_fails_its_changes_and_the_server_serves_on(
        tmp_path: Path, sync: str, fault: BaseException) -> None:
    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db, store_sync=sync) as server:
        assert server.server is not None and server.server.store is not None
        store = server.server.store
        echo = Player(server.port, "Echo", "raised", 1)
        other = Player(server.port, "Echo", "other", 1)
        for player in (echo, other):
            assert player.join()["status"] == "ok"
        faulty = server.call(lambda: Faulty(store.db))
        server.call(setattr, store._file, "db", faulty)
        faulty.fault = fault
        assert echo.move(msg="failed")["message"] == SAVE_FAILED
        assert other.move(msg="failed too")["message"] == SAVE_FAILED
        assert server.call(store.health)["status"] == "degraded"
        faulty.fault = None
        assert echo.move(msg="after")["status"] == "ok"  # with the failed ones' rows
        assert other.move(msg="after too")["status"] == "ok"
        assert server.call(store.health)["status"] == "ok"
    with contextlib.closing(sqlite3.connect(db)) as saved:
        assert saved.execute("SELECT COUNT(*) FROM game_moves").fetchone()[0] == 4
    with ServerThread(store=True, store_path=db) as again:
        echo.port = other.port = again.port
        assert echo.state()["data"]["echo"] == "after"
        assert other.state()["data"]["echo"] == "after too"


def test_a_writer_thread_that_died_as_the_server_stopped_leaves_its_commit_to_the_last(
        tmp_path: Path) -> None:
    """The writer thread dies inside a commit and the loop stops before it hears of it:
    ``close`` found the batch not landed, said its changes were lost, and answered none
    of its replies (woken by nothing, they waited for ever). Now the last commit writes
    them, as it does a commit the writer thread failed."""
    path = tmp_path / "died.db"

    async def play() -> Any:
        store, guard = open_store(path, sync="full")
        [session] = echo_sessions(store, 1)
        await woken(session.join_reply(session.players[0], 1000))
        assert store._file is not None
        faulty = Faulty(store.db)
        store._file.db = faulty  # type: ignore[assignment]
        faulty.fault = Died("the writer thread dies")
        moved = session.move(0, session.players[0].key, {"msg": "last"})
        await asyncio.sleep(0)  # the pass that hands the batch to the writer thread
        batch = store._in_flight
        assert batch is not None
        until(lambda: batch.landed is not None, "the writer thread died")
        faulty.fault = None
        store.close()  # as a server that stops does, before the loop runs again
        guard.close()
        return moved

    moved = asyncio.run(play())
    assert isinstance(moved, Wait) and moved.woken
    assert moved.resume() == protocol.ok(None)
    with contextlib.closing(sqlite3.connect(path)) as saved:
        moves = saved.execute("SELECT move FROM game_moves").fetchall()
    assert [json.loads(move) for (move,) in moves] == [{"msg": "last"}]
