"""The dashboard's tournaments and ratings: standings, crosstables, CSV, the operator's actions.

Endpoints (under ``/api``; the pages ``/tournaments`` and ``/tournament/NAME``
are drawn by ``static/competition.js``):

========================================= ======================================
``GET tournaments``                       every tournament in a line
``GET tournaments/NAME``                  settings, participants, standings,
                                          crosstable, rounds and their games
``GET tournaments/NAME/standings.csv``    the standings as CSV
``GET tournaments/NAME/games.csv``        every game as CSV
``POST tournaments``                      operator: create one (JSON settings)
``POST tournaments/NAME/ACTION``          operator: ``start``, ``cancel``, ``delete``
``GET ratings[?game=G]``                  Elo ratings with each player's history
========================================= ======================================

Tournaments live on the event loop (in the server's ``TournamentHall``), so
their endpoints read them there. A big one is not small: a round robin of
128 is about 3 MB of JSON, and encoding it took the loop 58 ms at half way
(1.4 MB), for every refresh of every page showing it (every 2 s). So its
encoding is kept, as its description is (``Tournament.describe``), until
something it shows changes; for the last ``BODIES_KEPT`` tournaments asked.
Ratings are computed from the history (``gameserver.ratings``) in the
history's worker threads, and kept until the history changes.

An operator's action needs the access token (only a server with a token
has an operator), a JSON body with ``Content-Type: application/json``
(which a form on another web site cannot send without the browser asking
first), and its ``Origin``, when the browser sends one, must be this
dashboard.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from .. import ratings
from ..tournament import TournamentError, TournamentSettings
from ..tournament_store import games_csv, standings_csv
from ._history import History
from ._http import HTTPError, Request, Response, json_response
from .source import DashboardSource

RATING_GAMES = 5000  # newest finished games the ratings are computed from
SETTING_KEYS = {"name": str, "game": str, "format": str, "best_of": int, "rounds": int,
                "turn_timeout": float, "game_clock": float, "start_with": int,
                "max_participants": int, "max_moves": int}
ACTIONS = ("start", "cancel", "delete")


BODIES_KEPT = 8  # tournaments whose description is kept encoded (a big one: 3 MB)


class Tournaments:
    """Answers the tournament and rating endpoints.

    Args:
        source: the server's data (its ``competition()``).
        history: runs the ratings' work off the loop.
    """

    def __init__(self, source: DashboardSource, history: History) -> None:
        self.source = source
        self.history = history
        self._ratings: tuple[Any, dict[str, Any]] | None = None  # (what it was made of, board)
        self._lock = threading.Lock()
        # Tournament name -> (its description, that description encoded), newest last.
        self._bodies: dict[str, tuple[dict[str, Any], bytes]] = {}

    def _described(self, tournament: Any, operator: bool) -> Response:
        """``tournament.describe()`` as JSON with ``"operator"``, encoded once per
        description (see the top)."""
        described = tournament.describe()
        kept = self._bodies.pop(tournament.name, None)
        if kept is None or kept[0] is not described:
            kept = (described, json_response(described).body)
            while len(self._bodies) >= BODIES_KEPT:
                del self._bodies[next(iter(self._bodies))]
        self._bodies[tournament.name] = kept  # (last: asked most recently)
        body = kept[1]
        return Response(200, b"".join((body[:-1], b',"operator":true}' if operator
                                      else b',"operator":false}')), "application/json")

    async def handle(self, parts: list[str], request: Request, operator: bool) -> Response:
        """``parts`` follow ``/api/`` (``["tournaments", ...]`` or ``["ratings"]``)."""
        if parts == ["ratings"]:
            return await self._ratings_reply(request.param("game") or None)
        hall = self.source.competition()
        if request.method == "POST":
            if not operator:
                raise HTTPError(403, "only the operator (with the dashboard's access token) "
                                     "may create, start, cancel or delete tournaments")
            _check_origin(request)
            return self._act(hall, parts[1:], request)
        match parts[1:]:
            case []:
                return json_response({"operator": operator, "tournaments":
                                      hall.summaries() if hall is not None else []})
            case [name]:
                tournament = _tournament(hall, name)
                return self._described(tournament, operator)
            case [name, "standings.csv"]:
                return _csv(f"{name}-standings.csv", standings_csv(_tournament(hall, name)))
            case [name, "games.csv"]:
                return _csv(f"{name}-games.csv", games_csv(_tournament(hall, name)))
        raise HTTPError(404, "no such endpoint")

    def _act(self, hall: Any, parts: list[str], request: Request) -> Response:
        if hall is None:
            raise HTTPError(503, "this server has no tournaments")
        try:
            match parts:
                case []:
                    tournament = hall.create(_settings(request))
                    return json_response({"name": tournament.name,
                                          "state": tournament.state}, 201)
                case [name, action] if action in ACTIONS:
                    getattr(hall, action)(name)
                    tournament = hall.tournament(name)
                    return json_response({"name": name, "state": tournament.state
                                          if tournament is not None else "deleted"})
        except TournamentError as err:
            raise HTTPError(400, str(err)) from None
        raise HTTPError(404, "no such action (start, cancel or delete)")

    async def _ratings_reply(self, game: str | None) -> Response:
        hall = self.source.competition()
        rated = hall.rated_games() if hall is not None else set()
        named = bool(hall is not None and hall.rate_named_games)

        def work(reader: Any) -> dict[str, Any]:
            base, records = reader.rating_inputs(named, None, RATING_GAMES)
            made_of = (records[0]["id"] if records else 0, len(records), len(rated), named,
                       sum(r.games for table in base.values() for r in table.values()))
            with self._lock:
                cached = self._ratings
            if cached is None or cached[0] != made_of:
                tables = ratings.compute(ratings.chronological(records),
                                         ratings.rule(rated, named), base)
                cached = (made_of, ratings.board(tables))
                with self._lock:
                    self._ratings = cached
            board = cached[1]
            return {"store": True, "counted": len(records), "named": named,
                    "ratings": {g: rows for g, rows in board.items() if game in (None, g)}}

        return await self.history._run(work)


def _tournament(hall: Any, name: str) -> Any:
    tournament = hall.tournament(name) if hall is not None else None
    if tournament is None:
        raise HTTPError(404, f"there is no tournament {name[:100]!r}")
    return tournament


def _settings(request: Request) -> TournamentSettings:
    """The settings of a new tournament from the request's JSON body."""
    try:  # (its content type is checked with the origin: every action's is JSON)
        data = json.loads(getattr(request, "body", b"") or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):  # Recursion: nested too deep
        raise HTTPError(400, "the body is not valid JSON") from None
    if not isinstance(data, Mapping):
        raise HTTPError(400, "the settings must be a JSON object")
    unknown = set(data) - set(SETTING_KEYS)
    if unknown:
        raise HTTPError(400, f"unknown settings: {', '.join(sorted(map(str, unknown)))[:200]}")
    values: dict[str, Any] = {}
    for key, kind in SETTING_KEYS.items():
        if key not in data:
            continue
        value = data[key]
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            raise HTTPError(400, f"{key} must be {'a number' if kind is not str else 'text'}")
        values[key] = value
    if "name" not in values or "game" not in values:
        raise HTTPError(400, "a tournament needs a name and a game")
    return TournamentSettings(**values)


def _check_origin(request: Request) -> None:
    """Refuse an operator's action another site's page could have made (CSRF).

    Every action, not only a creation, has a JSON body: a form elsewhere can
    post ``start``, ``cancel`` or ``delete`` with the operator's cookie but not
    with that content type without asking first (until 2026-11-30 only a
    creation was held to it, and a form post without ``Origin`` cancelled).
    """
    request.refuse_other_sites("an operator's action",
                               "an operator's action must come from the dashboard itself")


def _csv(filename: str, text: str) -> Response:
    return Response(200, text.encode(), "text/csv; charset=utf-8",
                    (("Content-Disposition", f'attachment; filename="{filename}"'),))
