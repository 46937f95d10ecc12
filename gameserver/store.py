"""The durable store: sessions survive a restart, finished games are kept.

Theory of operation
-------------------
Sessions report each acknowledged change (a session becoming full, a move,
a restart, a new observer) to ``Store.changed`` on the event-loop thread. The
store marks the session dirty, notes history rows, and returns the *batch*
the change belongs to. The session holds its reply back until that batch is
on disk (``Session._saved``), so **no reply reveals a change that a crash
could still lose**.

Changes form a batch until ``_flush`` pickles each dirty session once
(through the guard: a game's pickling is game code) and commits. With
sync="normal": at once when a reply is waiting for it (for a burst of
connections accepted together, once at the end of the burst, see
``held``), and within ``FLUSH_INTERVAL`` for changes no reply waits for.
With sync="full": at the end of the loop pass, handing the batch to the
writer thread, which merges every batch waiting in its queue into one
SQLite transaction (group commit: one fsync for many moves) and then
releases the replies.

SQLite runs in WAL mode. With ``sync="normal"`` (the default) a commit hands
the change to the operating system, which survives ``kill -9``, a crash of
the server and a clean reboot; commits then run right on the loop thread
(``settle``), as they take microseconds. With ``sync="full"`` each commit
also waits for the disk, which survives power loss too; those commits run in
the writer thread, one disk flush for many changes. Only the death of the
disk itself loses data (keep a copy of the database file for that).

A session whose game cannot be pickled (it holds an open file, a lock, a
lambda, ...) is logged once and kept in memory only.

History: every game played in a persistent session gets a row in ``games``
and one row per move in ``moves``, with the state each player saw after the
move, so finished games can be listed, replayed and ranked. Unfinished games
of a removed session are deleted; the oldest finished games are pruned
beyond ``history_max_games``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import protocol
from .guard import GameCodeError, GameGuard
from .session import Session
from .waits import Wait

log = logging.getLogger("gameserver.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    game TEXT NOT NULL, token TEXT NOT NULL, snapshot BLOB NOT NULL,
    PRIMARY KEY (game, token));
CREATE TABLE IF NOT EXISTS games (
    id INTEGER PRIMARY KEY, game TEXT NOT NULL, session TEXT NOT NULL,
    players TEXT NOT NULL, started REAL NOT NULL, ended REAL, moves INTEGER NOT NULL DEFAULT 0,
    initial_states TEXT NOT NULL, final_states TEXT);
CREATE INDEX IF NOT EXISTS games_ended ON games (ended);
CREATE TABLE IF NOT EXISTS moves (
    game_id INTEGER NOT NULL, seq INTEGER NOT NULL, player_id INTEGER NOT NULL,
    move TEXT NOT NULL, rejection TEXT, time REAL NOT NULL, states TEXT NOT NULL,
    PRIMARY KEY (game_id, seq));
"""

# An update in place where SQLite has upserts (3.24, 2018): a replace would delete
# and insert the row, and touch the primary-key index as well.
SAVE_SESSION = ("INSERT INTO sessions (game, token, snapshot) VALUES (?, ?, ?) "
                "ON CONFLICT (game, token) DO UPDATE SET snapshot = excluded.snapshot"
                if sqlite3.sqlite_version_info >= (3, 24) else
                "INSERT OR REPLACE INTO sessions (game, token, snapshot) VALUES (?, ?, ?)")
SAVE_FAILED = ("server: the change was made, but the server could not save it to disk "
               "(see the server log); it is saved again with the next change")
# With synchronous=NORMAL: how soon a change that no reply waits for is written.
FLUSH_INTERVAL = 0.1  # seconds
HISTORY_MAX_MOVES = 1000  # moves recorded per game; a longer game is kept without the rest


@dataclass(eq=False)
class Batch:
    """Changes written together; replies in ``waiters`` are released once done."""

    sessions: dict[int, Session] = field(default_factory=dict)  # id(session) -> session
    ops: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    waiters: list[Wait] = field(default_factory=list)
    done: bool = False
    error: str | None = None


class Store:
    """SQLite persistence for one server.

    Args:
        path: the database file (created if missing).
        guard: runs the pickling of game objects (game code) under guard.
        history: whether to keep the move log of every game.
        history_max_games: finished games to keep; the oldest are pruned.
    """

    def __init__(self, path: str, guard: GameGuard, history: bool = True,
                 history_max_games: int = 100_000, sync: str = "normal") -> None:
        self.path = path
        self.sync = "NORMAL" if sync == "normal" else "FULL"
        self.history = history
        self.history_max_games = history_max_games
        self._guard = guard
        self._batch: Batch | None = None
        self._held = 0  # depth of held() blocks
        self._ticker: asyncio.TimerHandle | None = None  # NORMAL: see _open_batch
        self._memory_only: set[int] = set()  # id() of sessions that cannot be pickled
        self._unsaved_sessions: dict[int, Session] = {}  # from batches whose commit failed
        self._queue: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._local = threading.local()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.commits = 0  # transactions written, for benchmarks
        self.batches = 0
        _create_private(path)
        writer = self._connect()
        writer.executescript(SCHEMA)
        self._next_game_id = (writer.execute("SELECT MAX(id) FROM games").fetchone()[0]
                              or 0) + 1
        self._finished_since_prune = 0
        self._writer_db = writer
        self._writer = threading.Thread(target=self._write_loop, name="gameserver-store",
                                        daemon=True)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.sync}")
        # Commits may run on the event loop: never wait long for another process's lock.
        db.execute("PRAGMA busy_timeout=500")
        return db

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Accept changes from ``loop`` from now on (and start the writer thread if needed)."""
        self._loop = loop
        if self.sync == "FULL":
            self._writer.start()
        else:
            self._ticker = loop.call_later(FLUSH_INTERVAL, self._tick)

    def close(self) -> None:
        """Write what is pending, then stop the writer thread."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._batch is not None:
            self._flush()
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join(30)
        self._writer_db.close()

    # ------------------------------------------------------------ startup

    def load_sessions(self) -> list[dict[str, Any]]:
        """Unpickle every saved session snapshot; broken ones are logged and deleted."""
        snapshots = []
        for game, token, blob in self._writer_db.execute(
                "SELECT game, token, snapshot FROM sessions").fetchall():
            try:
                snapshots.append(pickle.loads(blob))
            except Exception as err:  # noqa: BLE001 - class gone, file damaged, ...
                log.error("session %s/%s cannot be restored (%s: %s); it is dropped",
                          game, token, type(err).__name__, err)
                self._writer_db.execute("DELETE FROM sessions WHERE game=? AND token=?",
                                        (game, token))
        return snapshots

    # ------------------------------------------------------------ recording (loop thread)

    def changed(self, session: Session, event: str, **detail: Any) -> Batch | None:
        """Record one acknowledged change of ``session``; returns the batch to wait for."""
        if id(session) in self._memory_only:
            return None
        batch = self._open_batch()
        batch.sessions[id(session)] = session
        if self.history:
            self._history(batch, session, event, detail)
        return batch

    def _open_batch(self) -> Batch:
        """The batch that changes go to now.

        With FULL it is handed to the writer thread at the end of this loop
        pass. With NORMAL the reply that waits for it commits it (``settle``)
        without a loop pass in between, which a scheduled flush would cost;
        changes that no reply waits for are written by ``_tick`` within
        ``FLUSH_INTERVAL``.
        """
        batch = self._batch
        if batch is None:
            batch = self._batch = Batch()
            assert self._loop is not None, "Store.start() was not called"
            if self.sync == "FULL":
                self._loop.call_soon(self._flush)
        return batch

    def _tick(self) -> None:
        assert self._loop is not None
        self._ticker = self._loop.call_later(FLUSH_INTERVAL, self._tick)
        if self._batch is not None:
            self._flush()

    def settle(self, batch: Batch) -> None:
        """With synchronous=NORMAL, commit ``batch`` now: a reply need not wait a loop pass.

        With FULL the batch waits for the writer thread, so that one disk
        flush serves every change of the loop pass (group commit). Within
        ``held`` it waits for the end of the burst.
        """
        if self.sync == "NORMAL" and batch is self._batch and not self._held:
            self._flush()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Serve a burst of requests: their changes are committed once, at the end.

        Without it, ``settle`` commits each change as its reply is ready
        (with synchronous=NORMAL): right for one request at a time, but a
        burst of requests served in one go would pay a commit each.
        Replies inside wait for that one commit, as they always wait for
        theirs.
        """
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held and self.sync == "NORMAL" and self._batch is not None:
                self._flush()

    def forget(self, session: Session) -> None:
        """The session ended: delete its snapshot and its unfinished game."""
        if id(session) in self._memory_only:
            self._memory_only.discard(id(session))
            return
        batch = self._open_batch()
        batch.sessions.pop(id(session), None)
        batch.ops.append(("DELETE FROM sessions WHERE game=? AND token=?",
                          (session.game_name, session.token)))
        if session.history_id:
            self._drop_unfinished(batch, session.history_id)

    @staticmethod
    def _drop_unfinished(batch: Batch, game_id: int) -> None:
        batch.ops.append(("DELETE FROM moves WHERE game_id IN (SELECT id FROM games "
                          "WHERE id=? AND ended IS NULL)", (game_id,)))
        batch.ops.append(("DELETE FROM games WHERE id=? AND ended IS NULL", (game_id,)))

    def _history(self, batch: Batch, session: Session, event: str,
                 detail: dict[str, Any]) -> None:
        now = time.time()
        if event in ("start", "restart"):
            if session.history_id:  # a game restarted before its end is not kept
                self._drop_unfinished(batch, session.history_id)
            session.history_id = self._next_game_id
            self._next_game_id += 1
            batch.ops.append((
                "INSERT INTO games (id, game, session, players, started, initial_states) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (session.history_id, session.game_name, session.token,
                 _json([p.name for p in session.players]), now,
                 _json_list(self._states(session)[1]))))
        elif event == "move" and session.history_id:
            states, texts = self._states(session)
            if session.game_moves <= HISTORY_MAX_MOVES:
                batch.ops.append((
                    "INSERT INTO moves (game_id, seq, player_id, move, rejection, time, states) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (session.history_id, session.game_moves, detail["player_id"],
                     _json(detail["move"]), _json_or_none(detail["rejection"]), now,
                     _packed(texts))))
            if states and states[0].get("gameover") is True:
                batch.ops.append((
                    "UPDATE games SET ended = ?, final_states = ?, moves = ? WHERE id = ?",
                    (now, _json_list(texts), session.game_moves, session.history_id)))
                self._finished_since_prune += 1
                if self._finished_since_prune >= 100:
                    self._finished_since_prune = 0
                    self._prune(batch)

    def _states(self, session: Session) -> tuple[list[dict[str, Any]], list[str]]:
        """What each player sees now, and as JSON; a failing or non-JSON state becomes an error."""
        states, texts = [], []
        for player_id in range(session.size):
            try:
                state = session.game.view(player_id)
                text = _json(state)
            except (GameCodeError, TypeError, ValueError) as err:
                state = {"error": str(err)}
                text = _json(state)
            states.append(state)
            texts.append(text)
        return states, texts

    def _prune(self, batch: Batch) -> None:
        keep = self.history_max_games
        old = ("SELECT id FROM games WHERE ended IS NOT NULL ORDER BY id DESC "
               f"LIMIT -1 OFFSET {int(keep)}")
        batch.ops.append((f"DELETE FROM moves WHERE game_id IN ({old})", ()))
        batch.ops.append((f"DELETE FROM games WHERE id IN ({old})", ()))

    def _flush(self) -> None:
        """End of a loop iteration: pickle dirty sessions, hand the batch to the writer."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        if self._unsaved_sessions:  # try again what a failed commit did not save
            batch.sessions = {**self._unsaved_sessions, **batch.sessions}
            self._unsaved_sessions = {}
        for session in batch.sessions.values():
            if session.closed is not None:
                continue
            try:
                blob = self._guard.call(session.game_name, "pickle", pickle.dumps,
                                        session.snapshot(), pickle.HIGHEST_PROTOCOL)
            except GameCodeError as err:
                log.error("session %s/%s is kept in memory only: its game cannot be saved "
                          "(%s)", session.game_name, session.token, err)
                self._memory_only.add(id(session))
                batch.ops.append(("DELETE FROM sessions WHERE game=? AND token=?",
                                  (session.game_name, session.token)))
                continue
            batch.ops.append((SAVE_SESSION, (session.game_name, session.token, blob)))
        self.batches += 1
        if self.sync == "NORMAL":
            # No disk flush to wait for: a commit takes microseconds, so it runs
            # right here, without the cost of handing it to another thread.
            _release([batch], self._commit([batch]))
        else:
            self._queue.put(batch)

    def _commit(self, batches: list[Batch]) -> str | None:
        """Write ``batches`` in one transaction; returns an error message or None."""
        db = self._writer_db
        try:
            db.execute("BEGIN")
            for batch in batches:
                for sql, params in batch.ops:
                    db.execute(sql, params)
            db.execute("COMMIT")
            self.commits += 1
            return None
        except sqlite3.Error:
            log.exception("saving %d change batches failed", len(batches))
            if db.in_transaction:
                db.execute("ROLLBACK")
            for batch in batches:
                self._unsaved_sessions.update(batch.sessions)
            return SAVE_FAILED

    # ------------------------------------------------------------ writer thread

    def _write_loop(self) -> None:
        """With synchronous=FULL: commit (and wait for the disk) off the event loop."""
        while True:
            batches = [self._queue.get()]
            while not self._queue.empty():  # group commit: everything already waiting
                batches.append(self._queue.get())
            stop = None in batches
            batches = [b for b in batches if b is not None]
            if batches:
                error = self._commit(batches)
                assert self._loop is not None
                try:
                    self._loop.call_soon_threadsafe(_release, batches, error)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    pass
            if stop:
                return

    # ------------------------------------------------------------ reading (any thread)

    def _reader(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
            db.row_factory = sqlite3.Row
        return db

    def finished_games(self, game: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Finished games, newest first (see the module docstring for the keys)."""
        where, params = ("AND game = ?", (game,)) if game else ("", ())
        rows = self._reader().execute(
            f"SELECT * FROM games WHERE ended IS NOT NULL {where} ORDER BY ended DESC, id DESC "
            "LIMIT ?", (*params, limit)).fetchall()
        return [_game_row(row) for row in rows]

    def finished_game(self, game_id: int) -> dict[str, Any] | None:
        """One finished game with its initial states and every move, or None."""
        db = self._reader()
        row = db.execute("SELECT * FROM games WHERE id = ? AND ended IS NOT NULL",
                         (game_id,)).fetchone()
        if row is None:
            return None
        record = _game_row(row)
        record["initial_states"] = json.loads(row["initial_states"])
        record["moves"] = [
            {"seq": m["seq"], "player_id": m["player_id"], "move": json.loads(m["move"]),
             "rejection": None if m["rejection"] is None else json.loads(m["rejection"]),
             "time": m["time"], "states": _unpacked(json.loads(m["states"]))}
            for m in db.execute("SELECT * FROM moves WHERE game_id = ? ORDER BY seq",
                                (game_id,))]
        return record


def _release(batches: list[Batch], error: str | None) -> None:
    for batch in batches:
        batch.done = True
        batch.error = error
        for waiter in batch.waiters:
            waiter.wake()
        # Sessions keep their last batch: let it hold nothing but its outcome.
        batch.sessions, batch.ops, batch.waiters = {}, [], []


def _game_row(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "game": row["game"], "session": row["session"],
            "players": json.loads(row["players"]), "started": row["started"],
            "ended": row["ended"], "moves": row["moves"],
            "final_states": json.loads(row["final_states"] or "[]")}


def _json(value: Any) -> str:
    """JSON text, as on the wire (no NaN); raises TypeError/ValueError otherwise."""
    return protocol.encode_json(value)


def _json_or_none(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return _json(value)
    except (TypeError, ValueError):
        return _json(repr(value))


def _json_list(texts: list[str]) -> str:
    """The JSON list of values already encoded, as ``_json`` would write it."""
    return "[" + ", ".join(texts) + "]"


def _packed(texts: list[str]) -> str:
    """Player states (as JSON) as stored: once, when every player sees the same (a chat)."""
    if len(texts) > 1 and texts.count(texts[0]) == len(texts):
        return '{"all": ' + texts[0] + ', "players": ' + str(len(texts)) + "}"
    return _json_list(texts)


def _unpacked(stored: Any) -> list[Any]:
    if isinstance(stored, dict):
        return [stored["all"]] * stored["players"]
    return stored


def _create_private(path: str) -> None:
    """Create the database file readable by its owner only: it holds the players' keys.

    SQLite creates its -wal and -shm files with the same permissions.
    """
    if path != ":memory:" and not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
