"""Elo ratings per player name and game, computed from the finished games in the history.

Why Elo and not Glicko-2: a course reads the numbers. Elo is one number per
player, changed after each game by a formula a first-term student can check
by hand (the expected score ``1 / (1 + 10 ** ((theirs - mine) / 400))``,
and ``K`` times the difference between the real and the expected score).
Glicko-2 adds a rating deviation and a volatility and is meant to be updated
in *rating periods* (batches of games), which a competition day does not
have; its extra precision for players with few games does not outweigh
that. ``K`` is 32, the start is 1500.

Ratings are a function of the history (the store's finished games, oldest
first), recomputed whenever they are asked for and the history has changed,
so they are always consistent with it and *recomputable* by construction
(``python -m gameserver ratings`` does it from the store file), starting
from the *base*: what the games the history pruned left (the store folds
them into the table ``rating_base`` as it prunes them, under both rules
below: ``gameserver.store._rating_base``), so that pruning the history (by
count, or by bytes: a thousand large Echo games) changes no rating.
Which games count (``rated``): every game played in
a tournament (those the tournament recorded; games lost without being
played change nothing), also after the tournament was deleted (its games
stay rated: ``gameserver.tournament_store``), and with ``rated_games = "named"`` also every
other finished game whose players all have names, but for those whose session's timer its
starter chose (``own_timer``: the others who joined had no say in it, and a classic client
is never told; ``gameserver.timers``). A game with a result
(``results.outcome``) changes the rating of each of its players: in a game
of more than two, each pair of players counts as one game at ``K / (n - 1)``
(winners beat losers, players with the same result draw).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .results import outcome

START = 1500.0
K = 32.0
HISTORY_POINTS = 200  # points of each player's rating history kept for the chart


def expected(mine: float, theirs: float) -> float:
    """The score Elo expects of a player rated ``mine`` against one rated ``theirs``."""
    return 1.0 / (1.0 + 10.0 ** ((theirs - mine) / 400.0))


@dataclass(slots=True)
class Rating:
    """One name's rating in one game, and how it got there."""

    name: str
    value: float = START
    games: int = 0
    wins: int = 0
    draws: int = 0
    losses: int = 0
    history: list[tuple[float, float, int]] = field(default_factory=list)  # (time, value, id)


def update(table: dict[str, Rating], scores: Mapping[str, float], when: float = 0.0,
           game_id: int = 0) -> None:
    """Apply one game's result to ``table``: ``scores`` maps each player to 1, ½ or 0."""
    names = list(scores)
    if len(names) < 2:
        return
    k = K / (len(names) - 1)
    old = {name: table.setdefault(name, Rating(name)).value for name in names}
    change = dict.fromkeys(names, 0.0)
    for a in names:
        for b in names:
            if a == b:
                continue
            real = 0.5 if scores[a] == scores[b] else 1.0 if scores[a] > scores[b] else 0.0
            change[a] += k * (real - expected(old[a], old[b]))
    best = max(scores.values())
    for name in names:
        rating = table[name]
        rating.value = old[name] + change[name]
        rating.games += 1
        if all(score == best for score in scores.values()):
            rating.draws += 1
        elif scores[name] == best:
            rating.wins += 1
        else:
            rating.losses += 1
        rating.history.append((when, rating.value, game_id))
        del rating.history[:-HISTORY_POINTS]


def scores_of(record: Mapping[str, Any]) -> dict[str, float] | None:
    """Each player's score in a finished game (1 win, ½ draw, 0 loss), or None if unrated.

    None when the game has no result, when a player has no name, or when a
    name plays twice (nobody can be rated against themselves).
    """
    names = [str(n) for n in record.get("players") or []]
    if len(names) < 2 or not all(names) or len(set(names)) != len(names):
        return None
    result = outcome(record)
    if result["kind"] == "draw":
        return dict.fromkeys(names, 0.5)
    if result["kind"] != "win":
        return None
    return {name: 1.0 if name in result["winners"] else 0.0 for name in names}


def compute(records: Iterable[Mapping[str, Any]],
            rated: Callable[[Mapping[str, Any]], bool],
            base: Mapping[str, Mapping[str, Rating]] | None = None
            ) -> dict[str, dict[str, Rating]]:
    """Every game's ratings from ``records`` (finished games, oldest first), starting
    from ``base`` (what older games left; it is not changed)."""
    tables = {game: {name: replace(r, history=list(r.history)) for name, r in table.items()}
              for game, table in (base or {}).items()}
    for record in records:
        if not rated(record):
            continue
        scores = scores_of(record)
        if scores is None:
            continue
        ended = record.get("ended")
        update(tables.setdefault(str(record.get("game")), {}), scores,
               ended if isinstance(ended, (int, float)) else 0.0, int(record.get("id") or 0))
    return tables


def as_json(rating: Rating) -> str:
    """``rating`` (but its name) as the store keeps it (``from_json`` reads it back)."""
    return json.dumps({"value": rating.value, "games": rating.games, "wins": rating.wins,
                       "draws": rating.draws, "losses": rating.losses,
                       "history": rating.history})


def from_json(name: str, text: str) -> Rating:
    data = json.loads(text)
    return Rating(name, float(data["value"]), int(data["games"]), int(data["wins"]),
                  int(data["draws"]), int(data["losses"]),
                  [(float(w), float(v), int(i)) for w, v, i in data["history"]])


def rule(tournament_games: set[int], named: bool) -> Callable[[Mapping[str, Any]], bool]:
    """Which games are rated: ``tournament_games`` (store ids), and named ones if ``named``."""
    def rated(record: Mapping[str, Any]) -> bool:
        return record.get("id") in tournament_games or (
            named and all(record.get("players") or [""]) and not record.get("own_timer"))
    return rated


def board(tables: Mapping[str, Mapping[str, Rating]]) -> dict[str, list[dict[str, Any]]]:
    """The ratings as the dashboard shows them: per game, best first, with each history."""
    return {game: [{"name": r.name, "rating": round(r.value, 1), "games": r.games,
                    "wins": r.wins, "draws": r.draws, "losses": r.losses,
                    "history": [[when, round(value, 1), game_id]
                                for when, value, game_id in r.history]}
                   for r in sorted(table.values(), key=lambda r: (-r.value, r.name))]
            for game, table in sorted(tables.items())}


def chronological(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finished games oldest first (the reader lists them newest first)."""
    return sorted(records, key=lambda r: (r.get("ended") or -math.inf, r.get("id") or 0))
