"""The dashboard's routes: which request gets which reply.

Routes (GET and HEAD, and POST for ``/api/play``; every one but ``/healthz`` needs the
token when one is set, except those marked *player*, which players reach without it):

====================================== ==========================================
``/``, ``/session/G/T``, ``/history``,  the pages (one HTML shell; app.js draws them)
``/replay/ID``
``/play``, ``/play/G/T``                the play pages (*player*; play.js draws them)
``/static/FILE``, ``/favicon.ico``      the shipped HTML, CSS, JavaScript and icon (*player*)
``/renderers/GAME.html``                a game author's renderer (``GAME.js`` next to
                                        the game's ``.py`` file) in a sandboxed frame
                                        document (*player*; only with
                                        ``web_renderers = "all"``, else 404)
``/api/games``                          games offered (*player*)
``/api/config``                         version, store on/off, the visitor's access (*player*)
``/api/play/...``                       POST: join, state, move, restart, open (*player*;
                                        ``_play``)
``/api/game-files``                     each game file: its games or why none loaded; each
                                        game's game-code errors (``_load_notes``)
``/api/sessions[?q=&offset=&limit=]``   the lobby: counts, live and finished sessions
``/api/events[?q=&offset=&limit=]``     server-sent events: the lobby, on change
``/api/sessions/G/T[?player=N]``        one session: summary and every view (or one)
``/api/sessions/G/T/events?player=N``   server-sent events: one view, on change
``/api/history[?game=G&limit=N]``       finished games, newest first
``/api/history/ID?player=N``            one finished game as player N saw it
``/api/leaderboard[?game=G]``           wins, draws, losses per player name
``/tournaments``, ``/tournament/NAME``  the tournament pages (competition.js)
``/api/tournaments/...``, ``/api/ratings`` tournaments and ratings (``_tournaments``)
``/healthz``                            liveness and the store's health, no token
``/metrics``                            Prometheus text format
====================================== ==========================================

Lobby data comes from the ``LobbyIndex``, sessions from the source through
``_data``, history from ``History`` (worker threads). Logs name a request
by its path alone: the query may hold the access token.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from ..game import has_hidden_information
from . import _data
from ._auth import OPERATOR, Gate
from ._history import History
from ._http import EventStream, HTTPError, Request, Response, json_response
from ._lobby import LIMIT_DEFAULT, LobbyIndex, with_now
from ._play import OFF, Play
from ._streams import Streams
from ._tournaments import Tournaments
from .source import DashboardSource

log = logging.getLogger("gameserver.web")

STATIC = Path(__file__).with_name("static")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml",
                 ".png": "image/png", ".json": "application/json"}
STATIC_FILES = {p.name: p for p in STATIC.iterdir() if p.suffix in CONTENT_TYPES}
PAGES = ("", "session", "history", "replay", "play",
         "tournaments", "tournament")  # first path segments served the HTML shell
PLAYER_PATHS = ("play", "static", "favicon.ico", "renderers")  # first segments players reach
PLAYER_APIS = ("games", "config", "play")  # ... and these under /api
RENDERERS_OFF = (
    "the renderer {game}.js of game {game} is not served: this server draws only with its "
    "bundled renderers; start it with --web-renderers all (or web_renderers = \"all\" in "
    "the config file) to draw games with the renderers in their folders (each runs in a "
    "sandboxed frame of its own)")
FRAME_CSP = (  # a game author's renderer: its frame document may run its scripts, nothing more
    "sandbox allow-scripts; default-src 'none'; script-src 'nonce-{nonce}'; "
    "style-src 'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'")
# What /healthz says of a store's error (anyone may read it; the error's text is logged).
STORE_FAILING = "the store is failing to save (the server's log says why)"
METRICS_MAX_AGE = 2.0  # seconds a rendered /metrics may be reused, at most ...
METRICS_REUSE = 50  # ... and at most this many times as long as rendering it took


class App:
    """Answers the dashboard's requests. Runs on the loop; nothing here may block.

    Args:
        source: the server's data.
        gate: decides who the visitor is.
        index: the lobby's data.
        streams: the live pages.
        history: the history endpoints' work.
        play: the play endpoints.
        stuck_seconds: silence after which a running session is "stuck".
        stopping: whether the dashboard is shutting down.
        renderers: the setting ``web_renderers``: ``bundled`` serves no game's
            own renderer file, ``all`` serves them.
    """

    def __init__(self, source: DashboardSource, gate: Gate, index: LobbyIndex,
                 streams: Streams, history: History, play: Play, stuck_seconds: float,
                 stopping: Callable[[], bool], renderers: str = _data.BUNDLED) -> None:
        self.source = source
        self.gate = gate
        self.index = index
        self.streams = streams
        self.history = history
        self.tournaments = Tournaments(source, history)
        self.play = play
        self.stuck_seconds = stuck_seconds
        self._stopping = stopping
        self.renderers = renderers
        self._games: bytes | None = None
        self._metrics: tuple[float, float, bytes] | None = None  # (made, cost, text)

    def healthz(self) -> Response:
        """Liveness, and the store's health when it reports one. Never needs the token.

        So anyone may read it: the store's error is told as ``STORE_FAILING``, not as its
        text, which can name the store's file and directory (the store logs the text).
        """
        data: dict[str, Any] = {"status": "ok", "version": __version__}
        try:
            store = self.source.store_health()
        except Exception:  # a report that fails says enough
            log.exception("dashboard: the store's health report failed")
            store = {"status": "degraded", "error": "the store's health report failed"}
        else:
            if store is not None and store.get("error") is not None:
                store = {**store, "error": STORE_FAILING}
        if store is not None:
            data["store"] = store
            if store.get("status", "ok") != "ok":
                data["status"] = "degraded"
        return json_response(data)

    async def handle(self, request: Request) -> Response | EventStream:
        parts = request.parts
        head = parts[0] if parts else ""
        if head == "healthz" and len(parts) == 1:
            return self.healthz()
        if self._stopping():
            raise HTTPError(503, "the server is shutting down")
        player_path = self.play.mode != OFF and (
            head in PLAYER_PATHS or (head == "api" and len(parts) > 1 and parts[1] in PLAYER_APIS))
        level = self.gate.level(request, page=head in PAGES, player_path=player_path)
        if isinstance(level, Response):
            return level
        if head == "api" and parts[1:2] == ["play"]:
            return await self.play.handle(parts[2:], request, level)
        if request.method == "POST" and parts[:2] != ["api", "tournaments"]:  # the operator's
            raise HTTPError(501, "method POST is not supported here")
        if head in PAGES and _is_page(parts):
            return _static("index.html")
        if head == "static" and len(parts) == 2 and parts[1] in STATIC_FILES:
            return _static(parts[1])
        if head == "favicon.ico" and len(parts) == 1:
            return _static("favicon.svg")
        if head == "renderers" and len(parts) == 2 and parts[1].endswith(".html"):
            return self._renderer(parts[1][:-5])
        if head == "metrics" and len(parts) == 1:
            return Response(200, self._metrics_text(),
                            "text/plain; version=0.0.4; charset=utf-8")
        if head == "api" and len(parts) >= 2:
            return await self._api(parts[1:], request, level)
        raise HTTPError(404, f"no such page: {request.path[:200]}")

    async def _api(self, parts: list[str], request: Request,
                   level: str) -> Response | EventStream:
        operator = level == OPERATOR
        match parts:
            case ["games"]:
                if self._games is None:  # the games never change while the server runs
                    self._games = json.dumps(_data.games_list(self.source, self.renderers),
                                             separators=(",", ":")).encode()
                return Response(200, self._games, "application/json")
            case ["config"]:
                return json_response({
                    "version": __version__, "store": self.source.history() is not None,
                    "stuck_after": self.stuck_seconds, "access": level,
                    "token": bool(self.gate.token), "play": self.play.config(level)})
            case ["game-files"]:  # not in PLAYER_APIS: the server's paths and errors
                return json_response(self.source.game_files())
            case ["sessions"]:
                q, offset, limit = _lobby_query(request)
                await self.index.fresh()
                page = self.index.page(q, offset, limit)
                return Response(200, with_now(page.body), "application/json")
            case ["events"]:
                return self.streams.lobby(*_lobby_query(request))
            case ["sessions", game, token]:
                player = request.int_param("player", None)
                data = _data.session_data(self.source, (game, token), player, operator,
                                          self.stuck_seconds)
                if data is None:
                    raise HTTPError(404, "no such session (it may have ended)")
                return json_response(data)
            case ["sessions", game, token, "events"]:
                player = request.int_param("player", 0) or 0
                return self.streams.session((game, token), player, operator)
            case ["history"]:
                limit = request.int_param("limit", 50) or 50
                return await self.history.games(request.param("game") or None, limit)
            case ["history", game_id]:
                player = request.int_param("player", 0) or 0
                return await self.history.replay(game_id, player)
            case ["leaderboard"]:
                return await self.history.leaderboard(request.param("game") or None)
            case ["tournaments", *_] | ["ratings"]:
                return await self.tournaments.handle(parts, request, operator)
        raise HTTPError(404, "no such endpoint")

    def _renderer(self, game: str) -> Response:
        game_class = self.source.game_classes().get(game)
        path = _data.renderer_file(game_class) if game_class is not None else None
        if path is not None and self.renderers != _data.ALL:
            raise HTTPError(404, RENDERERS_OFF.format(game=game[:100]))
        if path is None:
            raise HTTPError(404, f"game {game[:100]!r} has no renderer of its own")
        return _frame(game, path.read_text("utf-8", "replace"))

    def _metrics_text(self) -> bytes:
        """``/metrics``, rendered again only when the last rendering is old for its cost.

        With many sessions rendering takes milliseconds of loop time; a
        scraper asking in a tight loop then gets the same text for a while
        (at most ``METRICS_MAX_AGE`` seconds) instead of stalling the game.
        """
        now = time.monotonic()
        if self._metrics is not None:
            made, cost, text = self._metrics
            if now - made < min(METRICS_MAX_AGE, cost * METRICS_REUSE):
                return text
        started = time.perf_counter()
        text = self.source.metrics_text().encode()
        self._metrics = (now, time.perf_counter() - started, text)
        return text

    def hidden(self, game: str) -> bool:
        return has_hidden_information(self.source.game_classes().get(game))


def _lobby_query(request: Request) -> tuple[str, int, int]:
    return (request.param("q"), request.int_param("offset", 0) or 0,
            request.int_param("limit", LIMIT_DEFAULT) or LIMIT_DEFAULT)


def _is_page(parts: list[str]) -> bool:
    head = parts[0] if parts else ""
    return ((head == "" and len(parts) <= 1) or (head == "history" and len(parts) == 1)
            or (head == "session" and len(parts) == 3)
            or (head == "replay" and len(parts) == 2)
            or (head == "tournaments" and len(parts) == 1)
            or (head == "tournament" and len(parts) == 2)
            or (head == "play" and len(parts) in (1, 3)))


def _file(path: Path) -> Response:
    """A game author's file, read fresh each time (they edit it while the server runs)."""
    return Response(200, path.read_bytes(), CONTENT_TYPES[path.suffix])


def _frame(game: str, script: str) -> Response:
    """The frame document a game author's renderer draws in (see static/frame.js).

    Sandboxed by its own header too, so opened by itself (not in the
    dashboard's iframe) it still runs in an opaque origin. Its scripts are
    inline with a fresh nonce: the frame loads nothing, and its renderer can
    add no script. ``</script`` in the author's file (in a string, say) gets
    a backslash before its slash: the same text to JavaScript.
    """
    nonce = secrets.token_urlsafe(16)
    scripts = [_static("renderers.js").body.decode(), _static("frame.js").body.decode(),
               re.sub(r"</(script)", r"<\/\1", script, flags=re.IGNORECASE)]
    if "<!--" in script:  # it would change how the HTML around it is read
        name, problem = (json.dumps(text).replace("<", "\\u003c") for text in (
            game, f"the renderer {game}.js contains <!-- (an HTML comment): remove it"))
        scripts[2] = f"GameDashboard.register({name}, () => GameDashboard.errorBox({problem}));"
    page = "".join([
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="color-scheme" content="light dark"><style>',
        _static("style.css").body.decode(), "</style></head>\n"
        '<body class="renderer-frame-body"><main id="board" class="board"></main>\n',
        *(f'<script nonce="{nonce}">\n{text}\n</script>\n' for text in scripts),
        "</body></html>\n"])
    return Response(200, page.encode(), CONTENT_TYPES[".html"], (
        ("Content-Security-Policy", FRAME_CSP.format(nonce=nonce)),
        ("X-Frame-Options", "SAMEORIGIN")))


_STATIC_CACHE: dict[str, Response] = {}


def _static(name: str) -> Response:
    """A shipped file: read once, it does not change while the server runs."""
    if name not in _STATIC_CACHE:
        _STATIC_CACHE[name] = _file(STATIC_FILES[name])
    return _STATIC_CACHE[name]
