"""Rows the store file refuses for good end their own session, and no other.

A commit can fail for a reason that a retry meets again whatever the disk does:
a row that breaks a constraint (here: a move row another program wrote first,
so that the server's own is a duplicate key), or a value SQLite cannot take.
Before, such a commit was retried for ever, and every later change of every
session waited behind it and failed with it (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gameserver._sidetables import TIMER_SCHEMA
from gameserver.metrics import prometheus_text
from gameserver.store._batch import SAVE_REFUSED
from gameserver.waits import Wait
from tests.serverproc import ServerThread
from tests.test_store import echo_sessions, open_store, woken
from tests.wire import Player


def squat_next_move(db: str, session: str) -> None:
    """Another program writes the row of ``session``'s next move first: the server's
    own is then refused (UNIQUE constraint failed), now and at every retry."""
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as other, other:
        game_id, moves = other.execute(
            "SELECT id, (SELECT COUNT(*) FROM game_moves WHERE game_id = games.id) FROM games "
            "WHERE session = ? AND current = 1", (session,)).fetchone()
        other.execute("INSERT INTO game_moves (game_id, seq, player_id, move, verdict, time) "
                      "VALUES (?, ?, 0, '{}', NULL, 0)", (game_id, moves + 1))


def saved_tokens(db: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as saved:
        return [token for (token,) in saved.execute(
            "SELECT token FROM live_sessions ORDER BY token")]


def orphan_moves(db: str) -> int:
    with contextlib.closing(sqlite3.connect(db)) as saved:
        return saved.execute("SELECT COUNT(*) FROM game_moves WHERE game_id NOT IN "
                             "(SELECT id FROM games)").fetchone()[0]


async def doomed_and_kept(path: Path, squatted: int = 1, sync: str = "normal"
                          ) -> tuple[Any, ...]:
    """A store; sessions s0, its next ``squatted`` moves squatted, and s1, joined.
    Returns the store, its guard, s0 and s1."""
    store, guard = open_store(path, sync=sync)
    doomed, kept = echo_sessions(store, 2)
    await woken(*(s.join_reply(s.players[0], 1000) for s in (doomed, kept)))
    for _ in range(squatted):
        squat_next_move(str(path), "s0")
    return store, guard, doomed, kept


async def moved_again_in_flight(path: Path, squatted: int) -> tuple[Any, ...]:
    """``doomed_and_kept`` in a store that commits in the writer thread: s0 moves, and
    moves again while that commit, refused, is in flight (it lands in a later pass).
    Returns the store, its guard, s1, both replies."""
    store, guard, doomed, kept = await doomed_and_kept(path, squatted, "full")
    refused = doomed.move(0, doomed.players[0].key, {"msg": "refused"})
    await asyncio.sleep(0)  # its commit is sent to the writer thread
    assert store._in_flight is not None  # (it lands in a later pass: not yet)
    later = doomed.move(0, doomed.players[0].key, {"msg": "later"})
    return store, guard, kept, refused, later


async def kept_saves_and_store_closes(store: Any, guard: Any, kept: Any) -> None:
    saved = kept.move(0, kept.players[0].key, {"msg": "saved"})
    await woken(saved)
    assert isinstance(saved, Wait) and json.loads(saved.resume())["status"] == "ok"
    store.close()
    guard.close()


@pytest.mark.parametrize("sync", ["normal", "full"])  # on the loop; in the writer thread
def test_a_change_the_file_refuses_ends_its_session_and_no_other(
        tmp_path: Path, sync: str, caplog: pytest.LogCaptureFixture) -> None:
    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db, store_sync=sync) as server:
        assert server.server is not None and server.server.store is not None
        store = server.server.store
        doomed = Player(server.port, "Echo", "doomed", 1)
        other = Player(server.port, "Echo", "other", 1)
        for player in (doomed, other):
            assert player.join()["status"] == "ok"
            assert player.move(msg="first")["status"] == "ok"
        squat_next_move(db, "doomed")
        with caplog.at_level(logging.ERROR, "gameserver.store"):
            reply = doomed.move(msg="refused")
        assert reply == {"status": "error", "message": SAVE_REFUSED}
        assert doomed.state()["message"] == SAVE_REFUSED  # the session is over
        # Nothing waits for a retry: every other session saves as before.
        for n in range(3):
            assert other.move(msg=f"later {n}")["status"] == "ok"
        health = server.call(store.health)
        assert health["status"] == "ok" and health["unsaved_bytes"] == 0
        assert server.call(lambda: store.refused_saves) == 1
        metrics = server.call(prometheus_text, server.server)
        assert "gameserver_store_refused_saves_total 1" in metrics
        assert "gameserver_store_failed_saves_total 0" in metrics
        assert saved_tokens(db) == ["other"]  # the ended session's rows are deleted
    ended = [r.getMessage() for r in caplog.records if "is ended" in r.getMessage()]
    assert len(ended) == 1 and "session Echo/doomed" in ended[0]
    assert "UNIQUE constraint failed" in ended[0]
    with ServerThread(store=True, store_path=db) as again:
        other.port = doomed.port = again.port
        assert other.state()["data"]["echo"] == "later 2"
        assert "no such game session" in doomed.state()["message"]


@pytest.mark.parametrize("refusal", ["squatted", "rollback"])
def test_a_refused_session_in_a_commit_shared_with_others_leaves_theirs_saved(
        tmp_path: Path, refusal: str) -> None:
    """Both moves are made in one loop pass: one commit, written again owner by owner.

    ``rollback``: a trigger of another program refuses with ``RAISE(ROLLBACK)``: the
    whole transaction is gone, with the savepoint to roll back to ("no such
    savepoint"), and the commit was taken for the disk's failure: retried for ever,
    every session's changes with it (SAVE_FAILED)."""
    path = tmp_path / "shared.db"

    async def play() -> None:
        store, guard, doomed, kept = await doomed_and_kept(  # tokens s0, s1
            path, squatted=1 if refusal == "squatted" else 0)
        keys = [s.players[0].key for s in (doomed, kept)]
        if refusal == "rollback":
            with contextlib.closing(sqlite3.connect(path, timeout=5)) as other, other:
                other.execute(
                    "CREATE TRIGGER refuse BEFORE INSERT ON game_moves WHEN NEW.game_id = "
                    "(SELECT id FROM games WHERE session = 's0') "
                    "BEGIN SELECT RAISE(ROLLBACK, 'refused by a trigger'); END")
        refused = doomed.move(0, keys[0], {"msg": "refused"})
        saved = kept.move(0, keys[1], {"msg": "saved"})
        await woken(refused, saved)
        assert isinstance(refused, Wait) and isinstance(saved, Wait)
        assert json.loads(refused.resume())["message"] == SAVE_REFUSED
        assert json.loads(saved.resume())["status"] == "ok"
        assert store.failed_saves == 0 and doomed.closed is not None
        assert kept.closed is None
        later = kept.move(0, keys[1], {"msg": "later"})
        await woken(later)
        assert isinstance(later, Wait) and json.loads(later.resume())["status"] == "ok"
        store.close()
        guard.close()

    asyncio.run(play())
    assert saved_tokens(str(path)) == ["s1"]
    with contextlib.closing(sqlite3.connect(path)) as db:
        moves = [json.loads(move)["msg"] for (move,) in db.execute(
            "SELECT move FROM game_moves JOIN games ON games.id = game_id "
            "WHERE session = 's1' ORDER BY seq")]
    assert moves == ["saved", "later"]


def test_a_row_of_the_servers_own_the_file_refuses_is_left_out_and_the_session_saved(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A turn timer's row (a side table, written with the session's start) refused by a
    trigger another program added: the timer row is left out, saying so; the session
    starts and is saved (before, the start was retried for ever: JOIN_FAILED)."""
    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db, turn_timeout=100) as server:
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as other, other:
            other.execute(TIMER_SCHEMA)
            other.execute("CREATE TRIGGER refuse BEFORE INSERT ON session_timers "
                          "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END")
        player = Player(server.port, "Echo", "timed", 1)
        with caplog.at_level(logging.ERROR, "gameserver.store"):
            assert player.join()["status"] == "ok"
            assert player.move(msg="saved")["status"] == "ok"
        assert saved_tokens(db) == ["timed"]
    assert "rows of the server's own" in caplog.text
    assert "refused by a trigger" in caplog.text


def test_a_change_the_file_refuses_at_the_last_commit_is_answered_so(tmp_path: Path) -> None:
    """The server stops in the pass of the changes: ``close`` writes them, apart too."""
    path = tmp_path / "closing.db"

    async def play() -> None:
        store, guard = open_store(path)
        doomed, kept = echo_sessions(store, 2)
        await woken(*(s.join_reply(s.players[0], 1000) for s in (doomed, kept)))
        keys = [s.players[0].key for s in (doomed, kept)]
        squat_next_move(str(path), "s0")
        refused = doomed.move(0, keys[0], {"msg": "refused"})
        saved = kept.move(0, keys[1], {"msg": "saved"})
        store.close()  # (before the pass that would commit them)
        guard.close()
        await woken(refused, saved)
        assert isinstance(refused, Wait) and isinstance(saved, Wait)
        assert json.loads(refused.resume())["message"] == SAVE_REFUSED
        assert json.loads(saved.resume())["status"] == "ok"

    asyncio.run(play())
    assert saved_tokens(str(path)) == ["s1"]  # the ended one's rows deleted, as the store closed


def test_a_refused_sessions_deletes_are_not_rolled_back_with_its_later_changes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The session moved again while its refused commit was in the writer thread; that
    later move is refused too (its row is squatted as well). Its deletes, in the same
    commit as that move, were rolled back with it (one owner, one savepoint): the
    session stayed in the file, and a restart brought it back as it was before."""
    path = tmp_path / "later.db"

    async def play() -> None:
        store, guard, kept, refused, later = await moved_again_in_flight(path, 2)
        await woken(refused, later)
        assert isinstance(refused, Wait) and isinstance(later, Wait)
        assert json.loads(refused.resume())["message"] == SAVE_REFUSED
        assert json.loads(later.resume())["message"] == SAVE_REFUSED
        await kept_saves_and_store_closes(store, guard, kept)  # (after the deletes)

    with caplog.at_level(logging.ERROR, "gameserver.store"):
        asyncio.run(play())
    assert "could not be deleted" not in caplog.text
    assert "its last changes could not be saved" in caplog.text
    assert saved_tokens(str(path)) == ["s1"]


def test_a_session_ended_with_a_last_change_the_file_refuses_is_deleted_still(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The session ends (idle, left) in the pass of its last move, which the file
    refuses: its deletes were rolled back with that move, and a restart brought back a
    session that had ended."""
    path = tmp_path / "ended.db"

    async def play() -> None:
        store, guard, doomed, kept = await doomed_and_kept(path)
        last = doomed.move(0, doomed.players[0].key, {"msg": "last"})
        store.forget(doomed)  # (what the lobby does as it removes a session)
        await woken(last)
        await kept_saves_and_store_closes(store, guard, kept)

    with caplog.at_level(logging.ERROR, "gameserver.store"):
        asyncio.run(play())
    assert "could not be deleted" not in caplog.text
    assert saved_tokens(str(path)) == ["s1"]


def test_a_refused_sessions_later_changes_at_the_last_commit_go_before_its_deletes(
        tmp_path: Path) -> None:
    """The server stops while the refused commit is in the writer thread, after the
    session moved again: ``close`` wrote the session's deletes first and its later move
    after them, a move row of a game no longer there (kept in the file for ever)."""
    path = tmp_path / "closing-later.db"

    async def play() -> None:
        store, guard, _, refused, later = await moved_again_in_flight(path, 1)
        store.close()  # (the in-flight commit's landing never runs on the loop)
        guard.close()
        await woken(refused, later)
        assert isinstance(refused, Wait) and isinstance(later, Wait)
        assert json.loads(refused.resume())["message"] == SAVE_REFUSED
        assert json.loads(later.resume())["message"] == SAVE_REFUSED

    asyncio.run(play())
    assert saved_tokens(str(path)) == ["s1"]
    assert orphan_moves(str(path)) == 0


def test_deletes_of_a_session_ended_at_the_last_commit_refused_too_are_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``close`` deletes a session the last commit ended in a commit of their own; when
    the file refused those deletes too, nothing said so (only a failed commit was
    told), and a restart brought back the session."""
    path = tmp_path / "closing-kept.db"

    async def play() -> None:
        store, guard, doomed, _ = await doomed_and_kept(path)
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as other, other:
            other.execute("CREATE TRIGGER keep BEFORE DELETE ON live_sessions "
                          "WHEN OLD.token = 's0' BEGIN SELECT RAISE(ABORT, 'kept'); END")
        refused = doomed.move(0, doomed.players[0].key, {"msg": "refused"})
        store.close()
        guard.close()
        await woken(refused)
        assert isinstance(refused, Wait)
        assert json.loads(refused.resume())["message"] == SAVE_REFUSED

    with caplog.at_level(logging.ERROR, "gameserver.store"):
        asyncio.run(play())
    assert saved_tokens(str(path)) == ["s0", "s1"]
    assert "still in the store file: a restart may bring them back" in caplog.text

