"""A tournament's results as people read them: standings, crosstable, the dashboard's data.

Pure functions of a ``Tournament`` (``gameserver.tournament``).

Points: a match won counts 1, drawn ½, lost 0. A bye counts 1 in a Swiss
tournament (the usual rule) and nothing in a round robin (where everyone
gets one). Ties are broken by Sonneborn-Berger (round robin: the points of
the opponents one beat, plus half of those one drew) or Buchholz (Swiss:
the points of all one's opponents), then by game points, then by who
registered first.
"""

from __future__ import annotations

from typing import Any, Protocol


class Match(Protocol):
    """What the standings read of a match (``gameserver.tournament.Match``)."""

    round: int
    table: int
    names: tuple[str, str | None]  # names[1] None: a bye for names[0]
    games: list[Any]  # GameResult: seats, points, ...
    running: str  # the key of the game being played now, "" if none

    @property
    def bye(self) -> bool: ...

    def game_points(self, name: str) -> float: ...

    def done(self, best_of: int) -> bool: ...

    def key(self, number: int) -> str: ...

    def match_points(self) -> dict[str, float]: ...


class Tournament(Protocol):
    """What the standings read of a tournament (``gameserver.tournament.Tournament``)."""

    name: str
    settings: Any  # TournamentSettings
    participants: dict[str, Any]  # name -> Participant
    rounds: list[list[Any]]  # of Match
    state: str
    created: float
    started: float | None
    ended: float | None

    @property
    def planned_rounds(self) -> int: ...


def standings(tournament: Tournament) -> list[dict[str, Any]]:
    """Every participant, best first: place, points, tiebreak, games, wins, ..."""
    rows = {name: {"name": name, "points": 0.0, "tiebreak": 0.0, "game_points": 0.0,
                   "matches": 0, "wins": 0, "draws": 0, "losses": 0, "byes": 0,
                   "games": 0, "lost_on_time": 0, "lost_absent": 0,
                   "withdrawn": p.withdrawn}
            for name, p in tournament.participants.items()}
    swiss = tournament.settings.format == "swiss"
    scored: list[tuple[str, str, float]] = []  # (name, opponent, match points)
    for match in (m for r in tournament.rounds for m in r):
        a, b = match.names
        if b is None:
            if match.done(tournament.settings.best_of):
                rows[a]["byes"] += 1
                rows[a]["points"] += 1.0 if swiss else 0.0
            continue
        for game in match.games:
            for seat, name in enumerate(game.seats):
                row = rows[name]
                row["game_points"] += game.points[seat]
                row["games"] += game.reason != "absent"
                if game.points[seat] == 0 and game.points[1 - seat] == 1:
                    if game.reason == "timeout":
                        row["lost_on_time"] += 1
                    elif game.reason == "absent":
                        row["lost_absent"] += 1
        if not match.done(tournament.settings.best_of):
            continue
        for name, points in match.match_points().items():
            row = rows[name]
            row["points"] += points
            row["matches"] += 1
            row["wins" if points == 1 else "draws" if points == 0.5 else "losses"] += 1
            scored.append((name, b if name == a else a, points))
    for name, opponent, points in scored:
        opponent_points = rows[opponent]["points"]
        rows[name]["tiebreak"] += opponent_points if swiss else opponent_points * points
    order = sorted(rows.values(), key=lambda r: (
        -r["points"], -r["tiebreak"], -r["game_points"], tournament.participants[r["name"]].number))
    for place, row in enumerate(order, 1):
        row["place"] = place
    return order


def crosstable(tournament: Tournament,
               rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Who did what against whom: rows in standings order, one cell per opponent.

    A cell is None (never met) or ``{"points": match points, "score":
    "2-1" (game points), "forfeit": any game lost without being played}``
    from the row's side; several meetings (Swiss rematches) add up. ``rows``: the
    standings, where the caller has them already.
    """
    names = [row["name"] for row in (rows if rows is not None else standings(tournament))]
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for match in (m for r in tournament.rounds for m in r):
        a, b = match.names
        if b is None or not match.games:
            continue
        done = match.done(tournament.settings.best_of)
        points = match.match_points() if done else {}
        for me, other in ((a, b), (b, a)):
            cell = cells.setdefault((me, other), {"points": 0.0, "mine": 0.0,
                                                  "theirs": 0.0, "forfeit": False,
                                                  "finished": True})
            cell["points"] += points.get(me, 0.0)
            cell["mine"] += match.game_points(me)
            cell["theirs"] += match.game_points(other)
            cell["forfeit"] |= any(g.reason == "absent" for g in match.games)
            cell["finished"] &= done
    rows = []
    for me in names:
        row = []
        for other in names:
            cell = cells.get((me, other))
            if cell is not None:
                cell = {"points": cell["points"], "forfeit": cell["forfeit"],
                        "finished": cell["finished"],
                        "score": f"{number(cell['mine'])}-{number(cell['theirs'])}"}
            row.append(cell)
        rows.append({"name": me, "cells": row})
    return {"names": names, "rows": rows}


def final_words(tournament: Tournament, name: str) -> str:
    """What a participant is told when it joins after the end."""
    if tournament.state == "cancelled":
        if tournament.stopped_because:
            return f"tournament {tournament.name} was stopped: {tournament.stopped_because}"
        return f"tournament {tournament.name} was cancelled by the operator"
    rows = standings(tournament)
    row = next((r for r in rows if r["name"] == name), None)
    if row is None:
        return f"tournament {tournament.name} is over"
    return (f"tournament {tournament.name} is over: {name} placed {ordinal(row['place'])} of "
            f"{len(rows)} with {number(row['points'])} point{'' if row['points'] == 1 else 's'}"
            " (the standings are on the dashboard)")


# What the dashboard's page of a tournament shows, at most. Both grow with the square of
# a round robin's participants, and the page asks for its description every 2 s while
# games end: a round robin of 256 took 0.7 s of the event loop to describe (12 MB of
# JSON) after each change. The standings are always whole; the CSV exports hold every
# game.
CROSSTABLE_MAX = 64  # participants: beyond, no crosstable
MATCHES_SHOWN = 1024  # matches of the latest rounds shown (the latest round always whole)


def describe(tournament: Tournament) -> dict[str, Any]:
    """Everything the dashboard shows of it, as JSON-ready data (no secrets).

    ``crosstable`` is None beyond ``CROSSTABLE_MAX`` participants; ``rounds``
    holds the latest rounds up to ``MATCHES_SHOWN`` matches, the first of them
    being round ``rounds_from`` of ``rounds_played``.
    """
    rows = standings(tournament)
    shown, matches = 0, 0
    for played in reversed(tournament.rounds):
        if shown and matches + len(played) > MATCHES_SHOWN:
            break
        shown += 1
        matches += len(played)
    first = len(tournament.rounds) - shown
    return {
        "settings": tournament.settings.as_dict(), "state": tournament.state,
        "created": tournament.created, "started": tournament.started, "ended": tournament.ended,
        "stopped_because": tournament.stopped_because,
        "participants": [{"name": p.name, "withdrawn": p.withdrawn}
                         for p in sorted(tournament.participants.values(),
                                         key=lambda p: p.number)],
        "planned_rounds": tournament.planned_rounds if tournament.state != "registering" else None,
        "standings": rows,
        "crosstable": (crosstable(tournament, rows)
                       if len(tournament.participants) <= CROSSTABLE_MAX else None),
        "rounds_played": len(tournament.rounds), "rounds_from": first + 1,
        "rounds": [[_match_data(m, tournament.settings.best_of) for m in r]
                   for r in tournament.rounds[first:]],
    }


def _match_data(match: Match, best_of: int) -> dict[str, Any]:
    done = match.done(best_of)
    return {"round": match.round, "table": match.table, "names": list(match.names),
            "running": match.running, "done": done,
            "points": match.match_points() if done and not match.bye else None,
            "games": [{"key": match.key(n), "seats": list(g.seats), "points": list(g.points),
                       "reason": g.reason, "history_id": g.history_id}
                      for n, g in enumerate(match.games, 1)]}


def number(value: float) -> str:
    """1.5 as "1½", 2.0 as "2"."""
    whole = int(value)
    return (str(whole) if whole or value == whole else "") + ("½" if value != whole else "")


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
