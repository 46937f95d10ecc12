"""A commit that raises what is not an SQLite error (memory running out while a row is
bound, a bug of ours) fails as a full disk does: its replies are answered, its rows
written again later, and the server serves on; a writer thread that dies of it is
replaced. Before, the error ended the writer thread (or the loop's commit): nothing
answered the replies waiting for that commit, the store sent every later one to a
thread that would never write it, and every move of every session hung.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gameserver.store.writer import SAVE_FAILED
from tests.serverproc import ServerThread
from tests.wire import Player


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
