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
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gameserver._sidetables import SAVE_TIMER, TIMER_SCHEMA, append
from gameserver.metrics import prometheus_text
from gameserver.store import _rows
from gameserver.store._batch import JOIN_FAILED, SAVE_REFUSED
from gameserver.tournament_store import TournamentBook
from gameserver.waits import Wait
from tests.serverproc import ServerThread
from tests.test_server_keepalive import read_until_terminator
from tests.test_store import echo_sessions, open_store, woken
from tests.wire import TERMINATOR, TIMEOUT, Player


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


async def ends_with_a_refused_move(store: Any, guard: Any, doomed: Any, kept: Any,
                                   msg: str) -> None:
    """``doomed`` moves ``msg`` (refused) and ends in that pass (what the lobby does as it
    removes a session): the move is answered ``SAVE_REFUSED``; then ``kept_saves...``."""
    last = doomed.move(0, doomed.players[0].key, {"msg": msg})
    store.forget(doomed)
    await woken(last)
    assert isinstance(last, Wait) and json.loads(last.resume())["message"] == SAVE_REFUSED
    await kept_saves_and_store_closes(store, guard, kept)


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
        await ends_with_a_refused_move(*await doomed_and_kept(path), "last")

    with caplog.at_level(logging.ERROR, "gameserver.store"):
        asyncio.run(play())
    assert "could not be deleted" not in caplog.text
    assert saved_tokens(str(path)) == ["s1"]


def test_a_session_ended_while_its_refused_move_is_in_the_writer_thread_is_told(
        tmp_path: Path) -> None:
    """The session ends while the commit of its last move is in the writer thread (its
    deletes go with the next commit); the file refuses that move: its reply said "ok"."""
    path = tmp_path / "ended-in-flight.db"

    async def play() -> None:
        store, guard, doomed, kept = await doomed_and_kept(path, 1, "full")
        last = doomed.move(0, doomed.players[0].key, {"msg": "last"})
        await asyncio.sleep(0)  # its commit is sent to the writer thread
        assert store._in_flight is not None
        store.forget(doomed)
        await woken(last)
        assert isinstance(last, Wait) and json.loads(last.resume())["message"] == SAVE_REFUSED
        await kept_saves_and_store_closes(store, guard, kept)

    asyncio.run(play())
    assert saved_tokens(str(path)) == ["s1"] and orphan_moves(str(path)) == 0


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



def history_counts(db: str | Path) -> tuple[int, int]:
    """The history's games (finished, no longer current) and their bytes, in the file."""
    with contextlib.closing(sqlite3.connect(db)) as saved:
        kept, size = saved.execute(f"SELECT COUNT(*), TOTAL(bytes) {_rows.KEPT_GAMES}").fetchone()
    return kept, int(size)


def count_rows(db: str | Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(db)) as saved:
        return saved.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def refuse_timer_rows(db: str | Path, how: str = "ABORT") -> None:
    """Another program's trigger refuses every turn timer's row (``RAISE(ROLLBACK)``
    ends the whole transaction, not only the statement)."""
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as other, other:
        other.execute(TIMER_SCHEMA)
        other.execute("CREATE TRIGGER refuse BEFORE INSERT ON session_timers "
                      f"BEGIN SELECT RAISE({how}, 'refused by a trigger'); END")


async def finish_and_restart(store: Any, session: Any, games: int,
                             with_last: Any = lambda: None) -> None:
    """``session`` (Echo) plays ``games`` games to their end, each restarted (the finished
    game joins the history); ``with_last()`` runs in the loop pass of the last restart."""
    key = session.players[0].key
    for game in range(games):
        await woken(session.move(0, key, {"msg": "quit"}))
        restarted = session.restart(0, key)
        if game == games - 1:
            with_last()
        await woken(restarted)


@pytest.mark.parametrize("how", ["ABORT", "ROLLBACK"])
def test_a_timer_row_the_file_refuses_leaves_out_that_row_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """A commit holds a turn timer's row, a tournament event and the history's prune (the
    server's own rows, all three): the file refuses the timer's. They shared one owner,
    so all three were left out, and the history counted a prune that never happened
    (its games, then, were never pruned again while the count said they were gone)."""
    monkeypatch.setattr(_rows, "PRUNE_EVERY", 1)
    path = tmp_path / "server-rows.db"

    async def play() -> tuple[int, int]:
        store, guard = open_store(path, history_max_games=1)
        [session] = echo_sessions(store, 1)
        await woken(session.join_reply(session.players[0], 1000))
        refuse_timer_rows(path, how)
        book = TournamentBook(store)

        def side_rows() -> None:  # in the pass of the restart that makes the prune due
            append(store, SAVE_TIMER, ("Echo", "s0", "{}"))
            book.event("cup", "registered", 1.0, {"name": "ann"})

        await finish_and_restart(store, session, 2, side_rows)
        assert store.refused_saves == 1
        assert store.rows is not None
        counted = store.rows.kept, store.rows.kept_bytes
        store.close()
        guard.close()
        return counted

    counted = asyncio.run(play())
    assert count_rows(path, "session_timers") == 0  # (refused)
    assert count_rows(path, "tournament_events") == 1
    assert counted == history_counts(path) and counted[0] == 1  # pruned from 2 games to 1
    assert saved_tokens(str(path)) == ["s0"]


async def prunes_refused(path: Path) -> tuple[Any, ...]:
    """A store that keeps one finished game, and its session s0 (Echo), joined; a trigger
    of another program refuses to delete a finished game: every prune. Returns the
    store, its guard and the session."""
    store, guard = open_store(path, history_max_games=1)
    [session] = echo_sessions(store, 1)
    await woken(session.join_reply(session.players[0], 1000))
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as other, other:
        other.execute("CREATE TRIGGER keep BEFORE DELETE ON games WHEN OLD.ended IS NOT "
                      "NULL BEGIN SELECT RAISE(ABORT, 'kept by a trigger'); END")
    return store, guard, session


def test_a_prune_the_file_refuses_leaves_the_historys_count_as_the_file_has_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
        ) -> None:
    """The file refuses the history's prune (a trigger keeps every finished game): the
    games it would have deleted are counted again, tried again later, and the tournament
    event of the same commit is saved."""
    monkeypatch.setattr(_rows, "PRUNE_EVERY", 1)
    monkeypatch.setattr(_rows, "PRUNE_RETRY", 3600.0)
    path = tmp_path / "kept.db"

    async def play() -> list[tuple[int, int]]:
        store, guard, session = await prunes_refused(path)
        book = TournamentBook(store)
        assert store.rows is not None
        counted = []
        for _ in range(3):
            await finish_and_restart(store, session, 1,
                                     lambda: book.event("cup", "registered", 1.0, {}))
            counted.append((store.rows.kept, store.rows.kept_bytes))
            assert counted[-1] == history_counts(path)
        assert store.refused_saves == 1  # the second game's prune (the third's waits)
        store.close()
        guard.close()
        return counted

    with caplog.at_level(logging.ERROR, "gameserver.store"):
        counted = asyncio.run(play())
    assert [kept for kept, _ in counted] == [1, 2, 3]
    assert count_rows(path, "tournament_events") == 3
    assert "could not be pruned" in caplog.text and "kept by a trigger" in caplog.text


def test_a_prune_the_file_keeps_refusing_is_tried_again_later_not_at_every_game(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
        ) -> None:
    """While a trigger refuses the prune, each game that joined the history tried it again:
    a refused commit (rolled back, then written again owner by owner) and an error line
    per finished game. Now it waits (``PRUNE_RETRY``, doubled at each refusal), logged
    once; once the file takes it, the history is pruned, and the log says how many
    prunes were refused. The ids of the games pruned go to the tournaments' hall
    (``forget_rated``) once the prune is written, never while it is refused (the games
    stay, and stay rated)."""
    monkeypatch.setattr(_rows, "PRUNE_EVERY", 1)
    monkeypatch.setattr(_rows, "PRUNE_RETRY", 3600.0)
    path = tmp_path / "stuck-prune.db"
    forgotten: list[int] = []

    async def play() -> tuple[int, int]:
        store, guard, session = await prunes_refused(path)
        store.forget_rated = forgotten.extend
        assert store.rows is not None
        commits = store.commits
        await finish_and_restart(store, session, 12)
        assert store.refused_saves == 1  # (was 11: one per game after the first)
        assert forgotten == []
        assert store.commits - commits == 24  # each move and restart, no prune again
        assert (store.rows.kept, store.rows.kept_bytes) == history_counts(path)
        assert store.rows.kept == 12
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as other, other:
            other.execute("DROP TRIGGER keep")
        store.rows.prune_after = 0.0  # (the wait is over)
        await finish_and_restart(store, session, 2)  # pruned; then the next prune says so
        counted = store.rows.kept, store.rows.kept_bytes
        store.close()
        guard.close()
        return counted

    with caplog.at_level(logging.WARNING, "gameserver.store"):
        counted = asyncio.run(play())
    assert counted == history_counts(path) and counted[0] == 1
    with contextlib.closing(sqlite3.connect(path)) as db:
        kept = {game_id for (game_id,) in db.execute("SELECT id FROM games")}
    assert len(set(forgotten)) == len(forgotten) == 13 and not kept & set(forgotten)
    refusals = [r.getMessage() for r in caplog.records if "could not be pruned" in r.getMessage()]
    assert len(refusals) == 1 and "kept by a trigger" in refusals[0]
    assert "the history is pruned again, after 1 refused prunes" in caplog.text
    assert "rows of the server's own" not in caplog.text


def test_timer_rows_the_file_refuses_as_the_server_stops_leave_the_stop_time_saved(
        tmp_path: Path) -> None:
    """The last commit holds every timed session's timer and the time the server stopped:
    one refused, the other was left out with it, and a restart counted the time the
    server was down as the sessions' idle time."""
    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db, turn_timeout=100) as server:
        refuse_timer_rows(db)
        player = Player(server.port, "Echo", "timed", 1)
        assert player.join()["status"] == "ok"
        assert player.move(msg="saved")["status"] == "ok"
    assert count_rows(db, "server_stops") == 1
    assert count_rows(db, "session_timers") == 0
    with ServerThread(store=True, store_path=db, turn_timeout=100) as again:
        player.port = again.port
        assert player.state()["data"]["echo"] == "saved"


def pipelined(port: int, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    """Send ``requests`` in one write on one kept-alive connection: the server reads and
    serves them in one loop pass (their changes share a commit); their replies."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(b"".join(json.dumps({**request, "keep_alive": True}).encode() + TERMINATOR
                              for request in requests))
        return [json.loads(read_until_terminator(sock)) for _ in requests]


EVERY_ROW = [f"CREATE TRIGGER refuse_{when}_{table} BEFORE {when} ON {table} "
             "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
             for table in ("games", "game_moves", "game_snapshots", "live_sessions",
                           "server_stops") for when in ("INSERT", "UPDATE", "DELETE")]


@pytest.mark.parametrize("sync", ["normal", "full"])
@pytest.mark.parametrize("refused", ["its moves", "every row"])
def test_a_session_replaced_in_the_pass_of_its_refused_last_move_is_told_and_leaves_no_rows(
        tmp_path: Path, sync: str, refused: str) -> None:
    """A client ends its game (Echo's "quit") and replaces the session (a join under its
    name: the game is over) in one write, and the file refuses the last move. The move
    was answered "ok" (the session had ended: its ticket was the new session's), and
    its game was left in the file neither current nor finished, counted in the history.
    ``every row``: the session's deletes and the new one's start are refused too."""
    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db, store_sync=sync) as server:
        assert server.server is not None and server.server.store is not None
        store = server.server.store
        doomed = Player(server.port, "Echo", "doomed", 1)
        assert doomed.join()["status"] == "ok"
        assert doomed.move(msg="first")["status"] == "ok"
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as other, other:
            if refused == "its moves":
                [(game_id,)] = other.execute("SELECT id FROM games WHERE session = 'doomed'")
                other.execute("CREATE TRIGGER refuse BEFORE INSERT ON game_moves WHEN "
                              f"NEW.game_id = {game_id} "
                              "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END")
            else:
                for trigger in EVERY_ROW:
                    other.execute(trigger)
        ids = {"game": "Echo", "session": "doomed"}
        last, joined = pipelined(
            server.port, {"type": "move", **ids, "player_id": 0, "key": doomed.key,
                          "move": {"msg": "quit"}},
            {"type": "join", **ids, "players": 1, "name": ""})
        assert last == {"status": "error", "message": SAVE_REFUSED}
        counted = server.call(lambda: (store.rows.kept, store.rows.kept_bytes))
        assert counted == history_counts(db) == (0, 0)
        if refused == "every row":
            assert joined == {"status": "error", "message": JOIN_FAILED}
        else:
            assert joined["status"] == "ok"
            again = Player(server.port, "Echo", "doomed", 1)
            again.player_id, again.key = 0, joined["data"]["key"]
            assert again.move(msg="after")["status"] == "ok"
        until_saved = server.call(lambda: (store.rows.kept, store.rows.kept_bytes))
        assert until_saved == history_counts(db)
        # Nothing of the game dropped stays in the counts' keeper: a table of such games
        # (until 2026-11-30 a set of ids, one more at each such refusal) grew for good.
        assert server.call(lambda: [name for name, value in vars(store.rows).items()
                                    if isinstance(value, (set, dict, list)) and value]) == []
    with contextlib.closing(sqlite3.connect(db)) as saved:
        left = saved.execute("SELECT COUNT(*) FROM games WHERE current IS NULL "
                             "AND ended IS NULL").fetchone()[0]
    assert left == 0 and orphan_moves(db) == 0
    if refused == "every row":  # (dropped once the server stopped: its commits meet none)
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as other, other:
            for trigger in EVERY_ROW:
                other.execute(f"DROP TRIGGER {trigger.split()[2]}")
    with ServerThread(store=True, store_path=db) as restarted:
        if refused == "every row":  # its deletes refused: it comes back as it was saved
            doomed.port = restarted.port
            assert doomed.state()["data"]["echo"] == "first"
        else:  # the new session, with what it saved; of the old one, nothing
            again.port = restarted.port
            assert again.state()["data"]["echo"] == "after"
            doomed.port = restarted.port
            assert doomed.state()["status"] == "error"


def test_a_session_whose_refused_end_and_deletes_leave_it_saved_comes_back_whole(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The session ends (idle) in the pass of its last move, which ends its game; the
    file refuses that move and the session's deletes. Its game is then left as it was,
    the current game of the session still in the file (a restart brings it back, as the
    log says); only a game the deletes did move into the history is dropped."""
    path = tmp_path / "kept-whole.db"

    async def play() -> None:
        store, guard, doomed, kept = await doomed_and_kept(path, squatted=0)
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as other, other:
            other.execute("CREATE TRIGGER refuse BEFORE INSERT ON game_moves WHEN "
                          "NEW.game_id = (SELECT id FROM games WHERE session = 's0') "
                          "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END")
            other.execute("CREATE TRIGGER keep BEFORE DELETE ON live_sessions "
                          "WHEN OLD.token = 's0' BEGIN SELECT RAISE(ABORT, 'kept'); END")
        await ends_with_a_refused_move(store, guard, doomed, kept, "quit")

    with caplog.at_level(logging.ERROR, "gameserver.store"):
        asyncio.run(play())
    assert "could not be deleted" in caplog.text
    assert saved_tokens(str(path)) == ["s0", "s1"]

    with contextlib.closing(sqlite3.connect(path, timeout=5)) as other, other:
        other.execute("DROP TRIGGER refuse")
        other.execute("DROP TRIGGER keep")

    async def restore() -> list[str]:
        store, guard = open_store(path)
        tokens = sorted(data["token"] for data in store.load_sessions())
        store.close()
        guard.close()
        return tokens

    with caplog.at_level(logging.ERROR, "gameserver.store"):
        assert asyncio.run(restore()) == ["s0", "s1"]


def test_a_session_ended_for_its_refused_last_move_leaves_no_game_half_kept(
        tmp_path: Path) -> None:
    """The move that ends the game is refused: the session ends, and its game was kept
    in the history as finished (the end refused, it is not): neither current nor
    finished in the file, and counted."""
    path = tmp_path / "half-kept.db"

    async def play() -> tuple[int, int]:
        store, guard, doomed, kept = await doomed_and_kept(path)
        last = doomed.move(0, doomed.players[0].key, {"msg": "quit"})
        await woken(last)
        assert isinstance(last, Wait) and json.loads(last.resume())["message"] == SAVE_REFUSED
        await kept_saves_and_store_closes(store, guard, kept)
        assert store.rows is not None
        return store.rows.kept, store.rows.kept_bytes

    assert asyncio.run(play()) == history_counts(path) == (0, 0)
    with contextlib.closing(sqlite3.connect(path)) as saved:
        assert saved.execute("SELECT COUNT(*) FROM games WHERE session = 's0'").fetchone()[0] == 0


def test_a_session_ended_with_its_refused_end_at_the_last_commit_is_told_and_dropped(
        tmp_path: Path) -> None:
    """The session's game-ending move and its end come in the pass the server stops in:
    ``close`` writes them, the move refused; its game goes, not half-kept."""
    path = tmp_path / "closing-ended.db"

    async def play() -> tuple[int, int]:
        store, guard, doomed, _ = await doomed_and_kept(path)
        last = doomed.move(0, doomed.players[0].key, {"msg": "quit"})
        store.forget(doomed)
        store.close()  # (before the pass that would commit them)
        guard.close()
        await woken(last)
        assert isinstance(last, Wait) and json.loads(last.resume())["message"] == SAVE_REFUSED
        assert store.rows is not None
        return store.rows.kept, store.rows.kept_bytes

    assert asyncio.run(play()) == history_counts(path) == (0, 0)
    assert saved_tokens(str(path)) == ["s1"]
    with contextlib.closing(sqlite3.connect(path)) as saved:
        assert saved.execute("SELECT COUNT(*) FROM games WHERE session = 's0'").fetchone()[0] == 0


@pytest.mark.parametrize("refused", ["restart", "restart and end", "game end and restart"])
def test_a_refused_restart_leaves_no_game_flagged_current(tmp_path: Path, refused: str) -> None:
    """s0 finishes a game and restarts; the file refuses the restart (a trigger on the new
    game's row), and, in ``game end and restart``, the move that ended the game too; in
    ``restart and end`` the session ends in the same pass (idle). The restart's own rows
    held the previous game's move into the history (``current`` cleared): left out with
    them, the game stayed flagged current, of no session, for ever: listed as finished
    (``game end...``: not even that) but never counted or pruned. It joins the history
    now (its end written) or goes (its end refused too)."""
    path = tmp_path / "restart.db"

    async def play() -> tuple[int, int]:
        store, guard, doomed, kept = await doomed_and_kept(path, squatted=0)
        key = doomed.players[0].key
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as other, other:
            other.execute("CREATE TRIGGER refuse BEFORE INSERT ON games WHEN NEW.session = "
                          "'s0' BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END")
        ended = doomed.move(0, key, {"msg": "quit"})
        if refused != "game end and restart":
            await woken(ended)  # the end is written
        else:
            squat_next_move(str(path), "s0")
        restarted = doomed.restart(0, key)
        if refused == "restart and end":
            store.forget(doomed)
        await woken(ended, restarted)
        await kept_saves_and_store_closes(store, guard, kept)
        assert store.rows is not None
        return store.rows.kept, store.rows.kept_bytes

    counted = asyncio.run(play())
    assert counted == history_counts(path)
    with contextlib.closing(sqlite3.connect(path)) as saved:
        flagged = saved.execute("SELECT session, ended IS NOT NULL FROM games "
                                "WHERE current = 1 ORDER BY session").fetchall()
        s0_games = saved.execute("SELECT COUNT(*) FROM games WHERE session = 's0'").fetchone()[0]
    assert flagged == [("s1", 0)]
    assert counted[0] == s0_games == (0 if refused == "game end and restart" else 1)
    assert saved_tokens(str(path)) == ["s1"] and orphan_moves(str(path)) == 0


def test_a_refused_drop_of_a_game_whose_end_was_refused_keeps_the_counts_and_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """s0's game-ending move is refused in the pass the session ends: its deletes, saved,
    took the game for finished and moved it into the history, so the store drops it
    (``Rows.unkeep``), and the file refuses that drop too (a trigger keeps s0's games).
    The history's count stays what the file holds (the game, neither current nor
    finished, is not one of the history's), and the log says what is left: it said the
    session could not be deleted and might come back, though its row was deleted."""
    path = tmp_path / "unkept.db"

    async def play() -> list[tuple[int, int]]:
        store, guard, doomed, kept = await doomed_and_kept(path, squatted=1)
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as other, other:
            other.execute("CREATE TRIGGER keep BEFORE DELETE ON games WHEN OLD.session = "
                          "'s0' BEGIN SELECT RAISE(ABORT, 'kept by a trigger'); END")
        assert store.rows is not None
        last = doomed.move(0, doomed.players[0].key, {"msg": "quit"})
        store.forget(doomed)
        await woken(last)
        assert isinstance(last, Wait) and json.loads(last.resume())["message"] == SAVE_REFUSED
        counted = [(store.rows.kept, store.rows.kept_bytes), history_counts(path)]
        await kept_saves_and_store_closes(store, guard, kept)  # (the drop's commit first)
        return [*counted, (store.rows.kept, store.rows.kept_bytes), history_counts(path)]

    with caplog.at_level(logging.ERROR, "gameserver.store"):
        assert asyncio.run(play()) == [(0, 0)] * 4
    assert "could not be deleted either (IntegrityError: kept by a trigger)" in caplog.text
    assert "a restart may bring it back" not in caplog.text
    assert saved_tokens(str(path)) == ["s1"]
