"""Reading finished games back, for the ``history`` command and the dashboard.

Read-only: the connection is opened with ``mode=ro``, takes no lock and
starts no thread, so it can read the file while a server writes it (SQLite
WAL readers never wait for the writer), from any thread (one connection
per thread).

The history stores each move and its verdict, not what the players saw
after it. ``finished_game`` rebuilds those states by replaying the game
from its first snapshot, when the reader was given a ``Replayer`` (the
server gives the dashboard one); without (the command line), each move's
``states`` is None. Games recorded by the previous store format have their
states stored, and get them either way.

While a server runs with the file, a side file of it or the file itself may have been
deleted by hand: a reader then raises ``StoreTakenAway``, whose text says what happened
and what to do, not SQLite's ``disk I/O error`` (``_taken``); before it opens a
connection it looks, so that it makes no new side file in the deleted one's place.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import urllib.parse
import zlib
from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from ..ratings import Rating
from ..results import result_states
from . import _overwritten, _rating_base
from ._file import lock_path
from ._taken import taken_away

HISTORY_SHOWN_MOVES = 1000  # moves of one game that finished_game returns
# ... and bytes of their text (moves as logged, states as sent), at most; the moves take
# at most half of it. Until 2026-11-29 unbounded: 1,000 moves of 1 MB, and the state
# after each, were a replay of 2 GB, and 10 GB of the server's memory to make it.
HISTORY_SHOWN_BYTES = 16 * 1024 * 1024
CUT_NOTE_END = (f" are not shown: too large to show (a replay holds at most "
                f"{HISTORY_SHOWN_BYTES // 2**20} MiB of moves and states)")  # (``_cut``)
LISTED = "id, game, session, players, started, ended, moves, final_states"  # finished_games
LISTED_STATES_MAX = 16 * 1024  # characters of final states finished_games keeps whole

P = ParamSpec("P")
T = TypeVar("T")


class StoreTakenAway(sqlite3.OperationalError):
    """The store file, or a side file of it, was deleted while its server runs;
    ``str(err)`` says so, what to do and what is lost (``_taken``). An
    ``sqlite3.OperationalError``, so that a caller that handles read errors handles it."""


class Replayer(Protocol):
    """Plays a recorded game again (see ``gameserver.store.replay``)."""

    def states(self, game_name: str, size: int, start: tuple[Any, ...],
               moves: list[tuple[int, int, Any, str | None]],
               budget: int = HISTORY_SHOWN_BYTES) -> tuple[list[Any], str | None]:
        """Each player's state after each move ``(seq, player_id, move, verdict)``.

        ``start`` is the game's snapshot row before the first of them: (blob,
        seed, views). Returns the list of per-move state lists and a note when
        the replay stopped early (it diverged or failed, or the states' text
        went beyond ``budget`` characters).
        """


def _reads(method: Callable[Concatenate[HistoryReader, P], T]
           ) -> Callable[Concatenate[HistoryReader, P], T]:
    """A read of ``HistoryReader`` that fails for a file taken away from its running
    server raises ``StoreTakenAway`` (and drops this thread's connection: it read
    through a side file made in the deleted one's place); so does any read once the
    server found its file written over (``_overwritten``), before it reads."""
    @wraps(method)
    def reading(self: HistoryReader, *args: P.args, **kwargs: P.kwargs) -> T:
        if _overwritten.marked(self._lock_file):  # (a connection open reads mixed)
            taken = taken_away(self.path)
            if taken is not None:
                with contextlib.suppress(sqlite3.Error):
                    self.close()
                raise StoreTakenAway(taken)
        try:
            return method(self, *args, **kwargs)
        except StoreTakenAway:
            raise
        except sqlite3.DatabaseError:
            taken = taken_away(self.path, failed=True)
            if taken is None:
                raise
            with contextlib.suppress(sqlite3.Error):
                self.close()
            raise StoreTakenAway(taken) from None
    return reading


class HistoryReader:
    """Finished games from the store file ``path``.

    Args:
        path: the store file (it must exist).
        replayer: rebuilds the states of each move; None leaves them out.
    """

    def __init__(self, path: str, replayer: Replayer | None = None) -> None:
        self.path = path
        self.replayer = replayer
        self._lock_file = lock_path(os.path.realpath(path))  # (the server's, by real path)
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            taken = taken_away(self.path)
            if taken is not None:  # (opened, SQLite would make the missing file anew)
                raise StoreTakenAway(taken)
            uri = "file:" + urllib.parse.quote(self.path) + "?mode=ro"
            db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            try:
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA busy_timeout=500")
                self._local.tables = {row[0] for row in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                columns = {row[1] for row in db.execute("PRAGMA table_info(games)")}
            except BaseException:  # (kept, it failed every later read of this thread)
                db.close()
                raise
            # A file no server of 2026-11-29 or later opened has no own_timer: all rated.
            self._local.listed = LISTED + (", own_timer" if "own_timer" in columns else "")
            self._local.db = db
        return db

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @_reads
    def finished_games(self, game: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Finished games, newest first: id, game, session, players, started, ended, moves,
        final_states (of a game whose final states are larger than ``LISTED_STATES_MAX``,
        only what its result is read from: ``results.result_states``), and ``own_timer``:
        True for a game whose session's timer its starter chose (absent otherwise).

        Raises:
            StoreTakenAway: the file or a side file was deleted while its server runs.
            sqlite3.Error: the file cannot be read (not an SQLite file, say).
        """
        return self._finished_games(game, limit)

    def _finished_games(self, game: str | None, limit: int) -> list[dict[str, Any]]:
        db = self._db()
        if "games" not in self._local.tables:
            return []
        where, params = ("AND game = ?", (game,)) if game else ("", ())
        # Row by row, and a large final state kept as what its result is read from: a
        # client makes a finished game of 1 MB with a join and one move, and the lists
        # read up to 5,000 of them (the ratings).
        return [_game_row(row, result_only=True) for row in db.execute(
            f"SELECT {self._local.listed} FROM games WHERE ended IS NOT NULL {where} "
            "ORDER BY ended DESC, id DESC LIMIT ?", (*params, limit))]

    @_reads
    def rating_inputs(self, named: bool, game: str | None = None, limit: int = 50
                      ) -> tuple[dict[str, dict[str, Rating]], list[dict[str, Any]]]:
        """What ratings are computed from (``gameserver.ratings.compute``), read together:
        the base the games pruned from the history left under rule ``named``
        (``_rating_base``), and the newest ``limit`` finished games (``finished_games``),
        of ``game`` only if given."""
        db = self._db()
        db.execute("BEGIN")  # one snapshot: a prune between the two reads would count twice
        try:
            base = (_rating_base.load(db, named, None if game is None else {game})
                    if "rating_base" in self._local.tables else {})
            return base, self._finished_games(game, limit)
        finally:
            db.execute("COMMIT")

    @_reads
    def finished_game(self, game_id: int, room: int | None = None) -> dict[str, Any] | None:
        """One finished game, or None: ``finished_games``' keys, plus ``initial_states``
        and ``steps``, its moves (the first 1,000, and no more than
        ``HISTORY_SHOWN_BYTES`` with their states), each a dict of seq, player_id,
        move, rejection (None if accepted), time and states (each player's state
        after it, or None where unknown; ``states_note`` says why, and
        ``moves_note`` why the moves end early).

        ``room``: bytes of moves and states the caller can take (the dashboard,
        whose replies unread are bounded together); if they run out before the
        game's moves or ``HISTORY_SHOWN_BYTES`` do, reading stops there and the
        record says ``"no_room": True``, its moves and states cut short.
        """
        db = self._db()
        if "games" not in self._local.tables:
            return None
        row = db.execute("SELECT * FROM games WHERE id = ? AND ended IS NOT NULL",
                         (game_id,)).fetchone()
        if row is None:
            return None
        record = _game_row(row)
        record["initial_states"] = json.loads(row["initial_states"])
        record["seed"] = row["seed"] if "seed" in row.keys() else None  # first format: none
        record["initial_text"] = row["initial_states"]
        shown = HISTORY_SHOWN_BYTES if room is None else max(0, min(room, HISTORY_SHOWN_BYTES))
        budget = _Budget(shown)
        moves = self._old_moves(db, game_id, budget)
        if ("game_moves" in self._local.tables and len(moves) < HISTORY_SHOWN_MOVES
                and not budget.spent):
            moves += self._logged_moves(db, record, HISTORY_SHOWN_MOVES - len(moves),
                                        moves[-1]["seq"] if moves else 0, budget)
        if budget.spent:
            record["moves_note"] = (f"the moves after move {moves[-1]['seq'] if moves else 0}"
                                    + CUT_NOTE_END)
        record["steps"] = moves
        if shown < HISTORY_SHOWN_BYTES and _cut(record):
            record["no_room"] = True
        del record["seed"], record["initial_text"]
        return record

    def _old_moves(self, db: sqlite3.Connection, game_id: int,
                   budget: _Budget) -> list[dict[str, Any]]:
        if "moves" not in self._local.tables:
            return []
        moves = []
        for m in db.execute("SELECT * FROM moves WHERE game_id = ? ORDER BY seq LIMIT ?",
                            (game_id, HISTORY_SHOWN_MOVES)):
            if not budget.take(len(m["move"]) + len(m["states"]) + len(m["rejection"] or "")):
                break
            moves.append({"seq": m["seq"], "player_id": m["player_id"],
                          "move": json.loads(m["move"]), "rejection": _loads(m["rejection"]),
                          "time": m["time"], "states": _unpacked(json.loads(m["states"]))})
        return moves

    def _logged_moves(self, db: sqlite3.Connection, record: dict[str, Any], limit: int,
                      after: int, budget: _Budget) -> list[dict[str, Any]]:
        rows = []
        for m in db.execute("SELECT * FROM game_moves WHERE game_id = ? AND seq > ? "
                            "ORDER BY seq LIMIT ?", (record["id"], after, limit)):
            # The moves take at most half: the states after them are as large, or larger.
            if not budget.take(len(m["move"]) + len(m["verdict"] or ""), half=True):
                break
            rows.append(m)
        moves = [{"seq": m["seq"], "player_id": m["player_id"], "move": json.loads(m["move"]),
                  "rejection": _loads(m["verdict"]), "time": m["time"], "states": None}
                 for m in rows]
        if not moves or self.replayer is None:
            return moves
        if moves[0]["seq"] != after + 1:  # a long game keeps only its moves since a snapshot
            after = moves[0]["seq"] - 1
        start = self._start(db, record, after)
        if start is None:
            record["states_note"] = "the game's first snapshot is missing"
            return moves
        states, note = self.replayer.states(
            record["game"], len(record["players"]), start,
            [(m["seq"], m["player_id"], m["move"], r["verdict"])
             for m, r in zip(moves, rows, strict=True)], budget.left)
        for move, after_move in zip(moves, states, strict=False):
            move["states"] = after_move
        if note:
            record["states_note"] = note
        return moves


    @staticmethod
    def _start(db: sqlite3.Connection, record: dict[str, Any],
               after: int) -> tuple[Any, ...] | None:
        """(blob, seed, views) the game after move ``after`` is made from, or None."""
        row = db.execute("SELECT blob FROM game_snapshots WHERE game_id = ? AND seq = ?",
                         (record["id"], after)).fetchone()
        if row is not None:
            return (row[0], None, None)
        if after or record["seed"] is None:
            return None
        return (None, record["seed"], zlib.crc32(record["initial_text"].encode()))


def _cut(record: dict[str, Any]) -> bool:
    """Whether ``finished_game`` left moves or states out of ``record`` for want of bytes."""
    return bool(record.get("moves_note")) or str(record.get("states_note")).endswith(
        CUT_NOTE_END)


class _Budget:
    """Characters of moves and states ``finished_game`` may still return."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.left = total
        self.spent = False  # a move was left out for it

    def take(self, size: int, half: bool = False) -> bool:
        """Take ``size`` if it fits (within half of the total, with ``half``)."""
        if size > self.left - (self.total // 2 if half else 0):
            self.spent = True
            return False
        self.left -= size
        return True


def _game_row(row: sqlite3.Row, result_only: bool = False) -> dict[str, Any]:
    text = row["final_states"] or "[]"
    final_states = json.loads(text)
    if result_only and len(text) > LISTED_STATES_MAX:
        final_states = result_states(final_states)
    record = {"id": row["id"], "game": row["game"], "session": row["session"],
              "players": json.loads(row["players"]), "started": row["started"],
              "ended": row["ended"], "moves": row["moves"], "final_states": final_states}
    if "own_timer" in row.keys() and row["own_timer"]:  # (not rated: ``ratings.rule``)
        record["own_timer"] = True
    return record


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _unpacked(stored: Any) -> list[Any]:
    """Player states of the older format: stored once when every player saw the same."""
    if isinstance(stored, dict):
        return [stored["all"]] * stored["players"]
    return stored
