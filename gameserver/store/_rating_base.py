"""The ratings of the games the history prunes, kept as running totals (``rating_base``).

Ratings are computed from the history (``gameserver.ratings``); the history is
pruned by count and by bytes (``_rows.Rows.prune``), oldest games first, so a
rating computed from what is left would lose the games pruned (a thousand
large Echo games pushed a day of tournament games out, and the leaderboard
changed). So the games pruned are folded, in the commit that deletes them,
into the ratings they leave: one row per rule (tournament games only, or
every game of named players too: ``rated_games``), game and player name,
from which a rating computed later starts (``HistoryReader.rating_base``).
The history is pruned by end time, oldest first, so those games are exactly
the oldest of the history: the base and the games left give what the whole
history would.

Bounded: ``NAMES_MAX`` names per rule and game are kept, those with the most
games; beyond, the ratings of names with the fewest games are dropped (a
player who comes back starts again at 1500).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, Protocol

from .. import ratings

NAMES_MAX = 10_000  # names kept per rule and game (those with the most games)
SAVE = ("INSERT OR REPLACE INTO rating_base (named, game, name, games, rating) "
        "VALUES (?, ?, ?, ?, ?)")
TRIM = ("DELETE FROM rating_base WHERE named = ? AND game = ? AND name IN (SELECT name "
        "FROM rating_base WHERE named = ? AND game = ? ORDER BY games DESC, name "
        "LIMIT -1 OFFSET ?)")


class Ops(Protocol):
    """Where the rows go (``_rows.Ops``, which imports this module)."""

    def add(self, sql: str, params: tuple[Any, ...], size: int = 64) -> None: ...


def fold(db: sqlite3.Connection, ops: Ops, doomed: str, params: tuple[Any, ...],
         rated: Callable[[], set[int]]) -> None:
    """Add to ``ops`` the base rows that fold in the games ``doomed`` selects (the ids of
    the games pruned: ``SELECT id ...`` with ``params``), read from ``db`` as committed.
    ``rated``: the history ids of the tournament games."""
    candidates = []
    for game_id, game, players, ended, own_timer in db.execute(
            f"SELECT id, game, players, ended, own_timer FROM games WHERE id IN ({doomed}) "
            "ORDER BY ended, id", params).fetchall():
        names = json.loads(players)
        if len(names) < 2 or not all(names) or len(set(names)) != len(names):
            continue  # never rated (``ratings.scores_of``): its final states are not read
        candidates.append({"id": game_id, "game": game, "players": names, "ended": ended,
                           "own_timer": bool(own_timer)})
    if not candidates:
        return
    tournament_games = rated()
    for record in candidates:
        [final] = db.execute("SELECT final_states FROM games WHERE id = ?",
                             (record["id"],)).fetchone()
        record["final_states"] = json.loads(final or "[]")
    for named in (False, True):
        rule = ratings.rule(tournament_games, named)
        games = {record["game"] for record in candidates if rule(record)}
        if not games:
            continue
        tables = ratings.compute(candidates, rule, load(db, named, games))
        for game in games:
            touched = {name for record in candidates if record["game"] == game and rule(record)
                       for name in record["players"]}
            table = tables.get(game, {})
            for name in sorted(touched & table.keys()):
                ops.add(SAVE, (int(named), game, name, table[name].games,
                               ratings.as_json(table[name])), 256)
            if len(table) > NAMES_MAX:
                ops.add(TRIM, (int(named), game, int(named), game, NAMES_MAX))


def load(db: sqlite3.Connection, named: bool, games: set[str] | None = None
         ) -> dict[str, dict[str, ratings.Rating]]:
    """The base of rule ``named`` (of ``games`` only, if given): by game, by name."""
    tables: dict[str, dict[str, ratings.Rating]] = {}
    query = "SELECT game, name, rating FROM rating_base WHERE named = ?"
    try:
        rows = (db.execute(query, (int(named),)).fetchall() if games is None else
                [row for game in sorted(games)
                 for row in db.execute(f"{query} AND game = ?", (int(named), game))])
    except sqlite3.OperationalError:  # a file no server of this version opened: no base
        return tables
    for game, name, text in rows:
        tables.setdefault(game, {})[name] = ratings.from_json(name, text)
    return tables
