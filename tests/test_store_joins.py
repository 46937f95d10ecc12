"""No half-saved joins: a session is saved before any joiner gets a key.

If that save fails, every joiner gets the same error, nobody holds a key, and
the session is not started (it is not in the file either). Shown with a real
full disk (a small tmpfs, where this machine lets the test mount one) and
with another process holding the file's write lock.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gameserver.metrics import prometheus_text
from gameserver.store.writer import JOIN_FAILED
from gameserver.web._routes import STORE_FAILING
from tests.serverproc import ServerThread
from tests.wire import Player


def join_two(port: int, session: str) -> list[dict[str, Any]]:
    """Two players join ``session`` (2 players) at once; their replies."""
    ann = Player(port, "TicTacToe", session, 2, name="ann")
    bob = Player(port, "TicTacToe", session, 2, name="bob")
    replies: list[dict[str, Any]] = []
    first = threading.Thread(target=lambda: replies.append(ann.join()))
    first.start()
    replies.append(bob.join())  # whoever comes first starts it; the other fills it
    first.join(30)
    return replies


def check_not_started(server: ServerThread, session: str) -> dict[str, Any]:
    """Nobody can play in it; /healthz and the metric say the store is failing."""
    observer = Player(server.port, "TicTacToe", session, name="ann")
    assert observer.observe()["message"] == JOIN_FAILED
    assert server.server is not None and server.server.dashboard is not None
    port = server.server.dashboard.port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as reply:
        health = json.loads(reply.read())
    assert health["status"] == "degraded"
    store = health["store"]
    assert store["status"] == "degraded" and store["failed_saves"] >= 1
    assert store["unsaved_bytes"] > 0 and store["since"] is not None
    # Not the error's text (it can name the store's file): anyone may read /healthz.
    assert store["error"] == STORE_FAILING
    assert f"gameserver_store_failed_saves_total {store['failed_saves']}" in server.call(
        prometheus_text, server.server)
    return store


def saved_sessions(path: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [token for (token,) in db.execute("SELECT token FROM live_sessions")]


def test_a_join_that_cannot_be_saved_gives_every_joiner_the_same_error(
        tmp_path: Path) -> None:
    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db, web=True, web_port=0) as server:
        blocker = sqlite3.connect(db, isolation_level=None, timeout=5)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            replies = join_two(server.port, "locked")
            assert [r["message"] for r in replies] == [JOIN_FAILED, JOIN_FAILED]
            check_not_started(server, "locked")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        # Once the store saves again, the same session can be started anew.
        again = join_two(server.port, "locked")
        assert sorted(r["status"] for r in again) == ["ok", "ok"]
        assert server.call(server.server.store.health)["status"] == "ok"
        assert saved_sessions(db) == ["locked"]


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "1m") -> Iterator[None]:
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                           str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(path: Path) -> None:
    """Write ``path`` until the disk is full."""
    block = b"\0" * 4096
    with path.open("wb", buffering=0) as file:
        while True:
            try:
                file.write(block)
            except OSError as err:
                assert err.errno == errno.ENOSPC
                return


def test_a_full_disk_during_a_join_starts_no_session(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    disk = tmp_path / "disk"
    with small_disk(disk):
        db = str(disk / "store.sqlite3")
        with ServerThread(store=True, store_path=db, web=True, web_port=0) as server:
            filler = disk / "filler"
            fill(filler)
            replies = join_two(server.port, "full")
            assert [r["message"] for r in replies] == [JOIN_FAILED, JOIN_FAILED]
            check_not_started(server, "full")
            assert "disk is full" in caplog.text  # the operator reads why in the log
            os.unlink(filler)
            again = join_two(server.port, "full")
            assert sorted(r["status"] for r in again) == ["ok", "ok"]
        assert saved_sessions(db) == ["full"]
