"""Tournaments on disk: our own two tables in the store's SQLite file, and the CSV export.

A tournament is saved as its settings (table ``tournaments``) and the log
of everything that happened to it (table ``tournament_events``): each
registration, the start, each game's result, each withdrawal and
reinstatement, the end or cancellation. ``rebuild`` replays that log into
a ``Tournament``, which gives back exactly the tournament that was saved
(its rules are deterministic: see ``gameserver.tournament``).

Writing goes through ``_sidetables.append``: it commits together with the
session changes of the same loop pass (a game's last move and the result
it decides are saved together, or not at all). Reading uses a read-only
connection of our own, so the ``tournament`` command can read while the
server runs.

The tables are bounded as the history is: at most ``KEPT_MAX`` tournaments are kept
(finished ones included); one more deletes the oldest finished one (``to_prune``, as the
operator's delete does, with a line in the log), and is refused while none is
finished. Each tournament's events are bounded by its settings (its participants, its
rounds, ``BEST_OF_MAX`` games a match).

Deleting a tournament deletes its rows, but not what it did to the ratings:
the history ids of the games it rated move to the table ``rated_games``,
which keeps them rated (``gameserver.ratings``; an instructor tidying up the
list of tournaments must not change everyone's rating after the fact). A row
lasts as long as the history keeps its game: the store's prune, which folds
the game's ratings into its base, deletes it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
from dataclasses import MISSING, dataclass, fields
from typing import Any

from ._sidetables import append, read_only
from .tournament import GameResult, Tournament, TournamentError, TournamentSettings

log = logging.getLogger("gameserver.tournament")

# Tournaments kept (finished and cancelled ones included): beyond, the oldest finished
# one is deleted (``to_prune``), and a new one refused while none is finished.
KEPT_MAX = 100

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tournaments (name TEXT PRIMARY KEY, settings TEXT NOT NULL, "
    "created REAL NOT NULL, salt TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tournament_events (tournament TEXT NOT NULL, "
    "seq INTEGER NOT NULL, time REAL NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL, "
    "PRIMARY KEY (tournament, seq))",
)  # (and ``rated_games``, which the store makes: its prune deletes from it)


@dataclass(slots=True)
class Saved:
    """One tournament as read from disk."""

    settings: TournamentSettings
    created: float
    salt: str
    events: list[tuple[int, float, str, dict[str, Any]]]  # (seq, time, kind, data)
    last_seq: int = 0  # of its events in the file, those left out (unreadable) included


class TournamentBook:
    """The tournaments' tables in the store file: ``append`` to write, ``load`` to read.

    Args:
        store: the server's store (written through ``append``; its file, ``path``,
            is read through a read-only connection).
    """

    def __init__(self, store: Any) -> None:
        self._store = store
        self._schema_written = False
        self._seq: dict[str, int] = {}
        # Saved tournaments this version cannot read (``load``): their rows stay, so
        # their names stay taken (a new one's row would collide, failing every save).
        self.unreadable: set[str] = set()

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        if not self._schema_written:
            for statement in SCHEMA:
                append(self._store, statement)
            self._schema_written = True
        append(self._store, sql, params)

    def created(self, tournament: Tournament, salt: str) -> None:
        self._write("INSERT INTO tournaments (name, settings, created, salt) VALUES (?, ?, ?, ?)",
                    (tournament.name, json.dumps(tournament.settings.as_dict()),
                     tournament.created, salt))
        self._seq[tournament.name] = 0

    def event(self, tournament: str, kind: str, when: float, data: dict[str, Any]) -> None:
        """Log one event of ``tournament`` (see ``rebuild`` for the kinds)."""
        seq = self._seq.get(tournament, 0) + 1
        self._seq[tournament] = seq
        self._write("INSERT INTO tournament_events (tournament, seq, time, kind, data) "
                    "VALUES (?, ?, ?, ?, ?)", (tournament, seq, when, kind, json.dumps(data)))

    def deleted(self, name: str, rated: set[int]) -> None:
        """Forget tournament ``name``; the games it ``rated`` (history ids) stay rated."""
        for history_id in sorted(rated):
            self._write("INSERT OR IGNORE INTO rated_games (history_id, tournament) "
                        "VALUES (?, ?)", (history_id, name))
        self._write("DELETE FROM tournament_events WHERE tournament = ?", (name,))
        self._write("DELETE FROM tournaments WHERE name = ?", (name,))
        self._seq.pop(name, None)

    def load(self) -> list[Saved]:
        """Every saved tournament (none if the tables do not exist yet)."""
        saved = load(self._store.path, self.unreadable)
        for entry in saved:
            self._seq[entry.settings.name] = entry.last_seq
        return saved

    def load_rated(self) -> set[int]:
        """The history ids the deleted tournaments rated (``load_rated``)."""
        return load_rated(self._store.path)


def to_prune(tournaments: list[Tournament], keep: int | None = None) -> list[str]:
    """The names of the finished (or cancelled) ``tournaments`` to delete so that at most
    ``keep`` (``KEPT_MAX``) are left, the oldest first (by the time they ended); fewer, or
    none, if not enough are over: a tournament open or running is never pruned. Each is
    said in the log."""
    keep = KEPT_MAX if keep is None else keep
    over = sorted((t for t in tournaments if t.over),
                  key=lambda t: (t.ended if t.ended is not None else t.created, t.created))
    names = [t.name for t in over[:max(0, len(tournaments) - keep)]]
    for name in names:
        log.warning("tournament %s is deleted: the server keeps at most %d tournaments, and "
                    "it is the oldest finished one (its games stay in the history and the "
                    "ratings)", name, KEPT_MAX)
    return names


def make_room(tournaments: list[Tournament]) -> list[str]:
    """The finished ``tournaments`` to delete before one more is made (``to_prune``).

    Raises:
        TournamentError: ``KEPT_MAX`` are kept, and none is finished.
    """
    names = to_prune(tournaments, KEPT_MAX - 1)
    if len(tournaments) - len(names) >= KEPT_MAX:
        raise TournamentError(f"the server keeps at most {KEPT_MAX} tournaments, none of "
                              "them finished: cancel one and delete it first")
    return names


def load(path: str, unreadable: set[str] | None = None) -> list[Saved]:
    """Every tournament saved in the store file at ``path``, oldest first.

    A tournament whose settings this version cannot read (a newer version's
    setting, a damaged row, a value out of range) is left out, its name added
    to ``unreadable``; an event whose data cannot be read is left out of its
    tournament. Each is logged; their rows stay in the file. (Either stopped
    the server's start with a traceback.)
    """
    try:
        db = read_only(path)
    except sqlite3.Error:
        return []
    try:
        rows = db.execute("SELECT name, settings, created, salt FROM tournaments "
                          "ORDER BY created").fetchall()
        saved = []
        for name, settings, created, salt in rows:
            try:
                read = _settings(name, settings)
            except ValueError as err:
                log.error("tournament %s: its saved settings cannot be read (%s); it is left "
                          "out (its rows stay in the store file, and its name stays taken)",
                          name, err)
                if unreadable is not None:
                    unreadable.add(name)
                continue
            events, last_seq = [], 0
            for seq, when, kind, data in db.execute(
                    "SELECT seq, time, kind, data FROM tournament_events WHERE tournament = ? "
                    "ORDER BY seq", (name,)):
                last_seq = seq
                try:
                    events.append((seq, when, kind, _mapping(data)))
                except ValueError as err:
                    log.error("tournament %s: saved event %d (%s) skipped: %s", name, seq,
                              kind, err)
            saved.append(Saved(read, created, salt, events, last_seq))
        return saved
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return []
        raise
    finally:
        db.close()


def _mapping(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, TypeError, RecursionError) as err:
        raise ValueError(f"not JSON: {err}") from None
    if type(value) is not dict:
        raise ValueError("not a JSON object")
    return value


def _settings(name: str, text: str) -> TournamentSettings:
    """The settings a row holds, each of its type, or ValueError saying what is wrong."""
    values = _mapping(text)
    known = {f.name: f for f in fields(TournamentSettings)}
    if unknown := sorted(set(values) - known.keys()):
        raise ValueError(f"settings this version does not know: {', '.join(unknown)[:200]} "
                         "(a newer version of gameserver wrote it?)")
    for key, value in values.items():
        default = known[key].default
        kind = str if default is MISSING else type(default)
        if not (type(value) is kind or (kind is float and type(value) is int)):
            raise ValueError(f"{key} is {value!r:.50}, not {kind.__name__}")
    try:
        settings = TournamentSettings(**values)
    except TypeError as err:  # a setting missing
        raise ValueError(str(err)) from None
    if settings.name != name:
        raise ValueError(f"its settings name another tournament, {settings.name!r:.50}")
    try:  # each value as at its creation (a turn_timeout of -1 s lost every game at once);
        settings.check(longest=float("inf"))  # (any game_timeout: this start's may be lower)
    except TournamentError as err:
        raise ValueError(str(err)) from None
    return settings


def load_rated(path: str) -> set[int]:
    """The history ids of the games of deleted tournaments, which stay rated."""
    try:
        db = read_only(path)
    except sqlite3.Error:
        return set()
    try:
        return {row[0] for row in db.execute("SELECT history_id FROM rated_games")}
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return set()
        raise
    finally:
        db.close()


def rated_games(tournament: Tournament) -> set[int]:
    """The history ids of the games ``tournament`` rated: those played (not ``absent``)."""
    return {game.history_id for matches in tournament.rounds for match in matches
            for game in match.games if game.history_id and game.reason != "absent"}


def rebuild(saved: Saved) -> Tournament:
    """The tournament whose log ``saved`` holds.

    Events: ``register`` {name, secret, address}, ``start``, ``result``
    {key, seats, points, reason, history_id}, ``withdraw`` / ``reinstate``
    {name}, ``end``, ``cancel`` {because: why the server stopped it, if it
    did}. An event that no longer fits (a log damaged by hand) is logged and
    skipped.
    """
    tournament = Tournament(saved.settings, saved.created)
    for seq, when, kind, data in saved.events:
        try:
            if kind == "register":
                tournament.register(data["name"], data.get("secret", ""), data.get("address", ""),
                                    restored=True)
            elif kind == "start":
                tournament.start(when)
            elif kind == "result":
                tournament.record(data["key"], GameResult(
                    tuple(data["seats"]), tuple(data["points"]), data["reason"],  # type: ignore[arg-type]
                    data.get("history_id", 0)))
            elif kind == "withdraw":
                tournament.withdraw(data["name"])
            elif kind == "reinstate":
                tournament.reinstate(data["name"])
            elif kind == "cancel":
                tournament.cancel(when, data.get("because", ""))
            elif kind == "end":
                tournament.ended = when
        except (TournamentError, KeyError, TypeError, ValueError) as err:
            log.error("tournament %s: saved event %d (%s) skipped: %s", saved.settings.name,
                      seq, kind, err)
    return tournament


# ---------------------------------------------------------------- CSV


def standings_csv(tournament: Tournament) -> str:
    """The standings as CSV: one row per participant, best first."""
    columns = ["place", "name", "points", "tiebreak", "game_points", "matches", "wins", "draws",
               "losses", "byes", "games", "lost_on_time", "lost_absent", "withdrawn"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in tournament.standings():
        writer.writerow([_cell(row[c]) for c in columns])
    return out.getvalue()


def games_csv(tournament: Tournament) -> str:
    """Every game as CSV: round, table, game, who sat where, the points and why."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["round", "table", "game", "player_0", "player_1", "points_0", "points_1",
                     "result", "history_id"])
    for matches in tournament.rounds:
        for match in matches:
            if match.bye:
                writer.writerow([match.round, match.table, "", _cell(match.names[0]), "", "", "",
                                 "bye", ""])
            for number, game in enumerate(match.games, 1):
                writer.writerow([match.round, match.table, number,
                                 *(_cell(name) for name in game.seats),
                                 *(_cell(p) for p in game.points), game.reason,
                                 game.history_id or ""])
    return out.getvalue()


def _cell(value: Any) -> Any:
    """A value as a CSV cell; text that a spreadsheet would run as a formula is quoted."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
