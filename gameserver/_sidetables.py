"""Tables of our own in the store's SQLite file: one way in, one way out.

Turn timers and tournaments keep what they must not lose in tables the
store does not know. They write through ``append`` alone, which adds a
statement to the store's current batch: it commits with the session
changes of the same loop pass (a move and the timer it restarted are saved
together, or not at all; unless the file refuses one of them for good: then
that one alone is left out, see ``append``). It is the one place to adapt
when the store's writing side changes. They read through ``read_only``, a
connection of their own, so the command line can read while the server runs.

``TimerBook`` keeps each timed session's timer (and the forfeit, if the
framework ended its game): one row per session, merged into the saved
sessions before the lobby restores them. Without a timer nothing is
written.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .store import ServerRows

log = logging.getLogger("gameserver.store")

TIMER_SCHEMA = ("CREATE TABLE IF NOT EXISTS session_timers (game TEXT NOT NULL, "
                "token TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (game, token))")
SAVE_TIMER = ("INSERT INTO session_timers (game, token, data) VALUES (?, ?, ?) "
              "ON CONFLICT (game, token) DO UPDATE SET data = excluded.data")
DROP_TIMER = "DELETE FROM session_timers WHERE game = ? AND token = ?"


def append(store: Any, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Add one statement to the store's current batch (committed with the loop pass's changes).

    The statement is owned apart (``ServerRows``): if the file refuses it
    (a constraint, a trigger another program added), it alone is left out, with a log
    line; the sessions' changes and the server's other rows of the commit are saved.
    """
    ops = store._open_batch().ops
    ops.by(ServerRows(sql))
    ops.add(sql, params)


def read_only(path: str) -> sqlite3.Connection:
    """A read-only connection to the store file (the server may be writing it).

    Raises:
        sqlite3.Error: the file cannot be opened.
    """
    db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                         check_same_thread=False)
    db.execute("PRAGMA busy_timeout=2000")
    return db


class TimerBook:
    """Each timed session's timer in the store file; see the module docstring.

    Written when a game begins, when the framework ends one (a forfeit) and
    for every timed session when the server stops: not per move, which
    would cost each move of a timed session a second write. After a clean
    stop every deadline therefore comes back exactly. After a crash the
    saved row is older than the session's last moves: ``merge`` then marks
    it with the time of the game's last logged move (``resume_at``), from
    which the current players' turns are taken to run (see
    ``TurnTimer.restore``).

    Args:
        store: the server's store (written through ``append``; its ``path`` is read).
    """

    def __init__(self, store: Any) -> None:
        self._store = store
        self._schema_written = False
        self._marks: dict[tuple[str, str], tuple[int, bool]] = {}  # what the saved row is of

    def changed(self, session: Any) -> None:
        """The session's timer changed: save it if a new game began or the game was lost."""
        mark = (session.games_played, getattr(session.game, "forfeit", None) is not None)
        key = (session.game_name, session.token)
        if self._marks.get(key) != mark:
            self._marks[key] = mark
            self._write(session)

    def save_all(self, sessions: Iterable[Any]) -> None:
        """The server stops: save every timed session's timer as it is now."""
        for session in sessions:
            if session.timer is not None and session.full and session.closed is None:
                self._write(session)

    def _write(self, session: Any) -> None:
        if session.timer is None:
            return
        if not self._schema_written:
            append(self._store, TIMER_SCHEMA)
            self._schema_written = True
        data: dict[str, Any] = {"timer": session.timer.snapshot(session.now(), time.time()),
                                "games_played": session.games_played,
                                "game_moves": session.game_moves}
        forfeit = getattr(session.game, "forfeit", None)
        if forfeit is not None:
            data["forfeit"] = forfeit
        append(self._store, SAVE_TIMER, (session.game_name, session.token, json.dumps(data)))

    def gone(self, session: Any) -> None:
        """The session ended: its row goes."""
        if self._marks.pop((session.game_name, session.token), None) is not None:
            append(self._store, DROP_TIMER, (session.game_name, session.token))

    def merge(self, snapshots: list[dict[str, Any]]) -> None:
        """Add each saved timer to its session's data (for ``Session.restore``)."""
        try:
            db = read_only(self._store.path)
        except sqlite3.Error:
            return
        try:
            try:
                rows = db.execute("SELECT game, token, data FROM session_timers").fetchall()
            except sqlite3.OperationalError:  # the table was never written: no timers
                return
            saved = {(game, token): json.loads(data) for game, token, data in rows}
            for snapshot in snapshots:
                key = (snapshot["game_name"], snapshot["token"])
                data = saved.get(key)
                if data is None:
                    continue
                timer = dict(data["timer"])
                if (data.get("games_played"), data.get("game_moves")) != (
                        snapshot["games_played"], snapshot["game_moves"]):
                    timer["resume_at"] = _last_change(db, snapshot.get("history_id") or 0)
                    timer["new_game"] = data.get("games_played") != snapshot["games_played"]
                snapshot["timer"] = timer
                if "forfeit" in data:
                    snapshot.setdefault("forfeit", data["forfeit"])
                self._marks[key] = (snapshot["games_played"], "forfeit" in snapshot)
        finally:
            db.close()


def _last_change(db: sqlite3.Connection, game_id: int) -> float:
    """When the game's last logged move was made (or the game began); now if unknown."""
    try:
        row = db.execute("SELECT MAX(time) FROM game_moves WHERE game_id = ?",
                         (game_id,)).fetchone()
        if row is None or row[0] is None:
            row = db.execute("SELECT started FROM games WHERE id = ?", (game_id,)).fetchone()
    except sqlite3.Error:
        row = None
    return float(row[0]) if row is not None and row[0] is not None else time.time()
