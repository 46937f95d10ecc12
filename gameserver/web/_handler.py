"""HTTP requests of the dashboard: routing, the access token, JSON, files and live streams.

Every request runs in its own thread (``ThreadingHTTPServer``; at most
``dashboard.MAX_CONNECTIONS`` at once, each waiting at most ``TIMEOUT``
seconds for its request). Lobby data is read through
``GameServer.run_on_loop``; history through the store's thread-safe read
API. Whatever goes wrong ends as a JSON error reply with a status code,
never as a traceback sent to the client. Logs name a request by its path
alone: the query may hold the access token.

Routes (GET; every one but ``/healthz`` needs the token when one is set):

====================================== ==========================================
``/``, ``/session/G/T``, ``/history``,  the pages (one HTML shell; app.js draws them)
``/replay/ID``
``/static/FILE``                        the shipped HTML, CSS and JavaScript
``/renderers/GAME.js``                  a game author's renderer (``GAME.js`` next to
                                        the game's ``.py`` file)
``/api/games``                          games offered
``/api/sessions``                       live sessions, flagged waiting / stuck
``/api/sessions/G/T[?player=N]``        one session: summary and every view (or one)
``/api/events``                         server-sent events: the sessions, on change
``/api/sessions/G/T/events?player=N``   server-sent events: one view, on change
``/api/history[?game=G&limit=N]``       finished games, newest first
``/api/history/ID?player=N``            one finished game as player N saw it
``/api/leaderboard[?game=G]``           wins, draws, losses per player name
``/healthz``                            liveness, never needs the token
``/metrics``                            Prometheus text format
====================================== ==========================================
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from .. import __version__
from ..game import has_hidden_information
from ..metrics import prometheus_text
from . import _data

if TYPE_CHECKING:
    from .dashboard import Dashboard, _HTTPServer

log = logging.getLogger("gameserver.web")

STATIC = Path(__file__).with_name("static")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml",
                 ".png": "image/png", ".json": "application/json"}
STATIC_FILES = {p.name: p for p in STATIC.iterdir() if p.suffix in CONTENT_TYPES}
PAGES = ("", "session", "history", "replay")  # first path segments served the HTML shell

COOKIE = "gameserver_dashboard"
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
)
LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1", "")  # "": an HTTP/1.0 client
QUERY = re.compile(r"\?[^\s\"']*")  # a query string in a logged line: it may hold the token

TIMEOUT = 30.0  # seconds a connection may take to send its request, and for each write
STREAM_REFRESH = 2.0  # seconds: live pages also see slow changes (ages, "stuck")
STREAM_PING = 15.0  # seconds between keep-alive comments on a quiet stream
LOOP_TIMEOUT = 5.0  # seconds to wait for the event loop to answer
HISTORY_LIMIT_MAX = 500
LEADERBOARD_GAMES = 2000  # finished games the leaderboard counts, newest first


@dataclass(frozen=True)
class Event:
    """One server-sent event, encoded once however many pages it goes to.

    ``compared`` is the data without ``now``: a page sends the event only
    when that differs from what it sent last.
    """

    ended: bool
    compared: str
    message: bytes


END = Event(True, "", b"event: end\ndata: {}\n\n")


def event(data: dict[str, Any] | None) -> Event:
    """``data`` as a server-sent event (None: the ``end`` event)."""
    if data is None:
        return END
    rest = {k: v for k, v in data.items() if k != "now"}
    compared = json.dumps(rest, separators=(",", ":"))
    body = compared
    if "now" in data:  # {"now": ..., the rest}: encoded once, "now" spliced in
        body = '{"now":' + json.dumps(data["now"]) + ("," + compared[1:] if rest else "}")
    return Event(False, compared, f"data: {body}\n\n".encode())


class HTTPError(Exception):
    """Ends a request with ``status`` and a JSON ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def cookie_value(token: str) -> str:
    """The cookie that stands for the token: derived, so the token itself is never stored."""
    return hmac.new(token.encode(), b"gameserver dashboard cookie", hashlib.sha256).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """One dashboard request. ``self.server.dashboard`` is the running ``Dashboard``."""

    server: _HTTPServer
    server_version = f"gameserver-dashboard/{__version__}"
    sys_version = ""
    protocol_version = "HTTP/1.0"  # one request per connection; event streams end by closing
    timeout = TIMEOUT  # an idle connection is closed; a stream only writes, so it stays

    # ------------------------------------------------------------ plumbing

    @property
    def dashboard(self) -> Dashboard:
        return self.server.dashboard

    def _logged_path(self) -> str:
        """The request's path for the log: never its query, which may hold the token."""
        return urlsplit(getattr(self, "path", "") or "").path[:200]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # DEBUG only: the method, the path without its query, the status.
        log.debug("%s %s %s %s", self.address_string(), getattr(self, "command", None) or "-",
                  self._logged_path(), getattr(code, "value", code))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        # http.server's other messages (a timeout), DEBUG only, any query string cut out.
        log.debug("%s %s", self.address_string(), QUERY.sub("?", format % args))

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unknown method) as JSON too."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self._json({"error": message or phrase}, code)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        try:
            self._route()
        except HTTPError as err:
            self._json({"error": str(err)}, err.status)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the browser went away or the loop is busy
        except Exception:  # a bug of ours: log it, answer, keep serving
            log.exception("dashboard: internal error on %s", self._logged_path())
            try:
                self._json({"error": "internal error (see the server log)"}, 500)
            except OSError:
                pass

    def _send(self, status: int, body: bytes, content_type: str,
              headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in SECURITY_HEADERS + headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200) -> None:
        body = json.dumps(data, allow_nan=False, separators=(",", ":")).encode()
        self._send(status, body, "application/json")

    def _on_loop(self, func: Callable[..., Any], *args: Any) -> Any:
        if self.dashboard.stopping:
            raise HTTPError(503, "the server is shutting down")
        try:
            return self.dashboard.server.run_on_loop(func, *args, timeout=LOOP_TIMEOUT)
        except (RuntimeError, AssertionError):  # loop closed or not running
            raise HTTPError(503, "the game server is not running") from None
        except TimeoutError:
            raise HTTPError(503, "the game server is busy; try again") from None

    # ------------------------------------------------------------ routing

    def _route(self) -> None:
        url = urlsplit(self.path)
        # Split first, then decode: a session token may contain an encoded "/".
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        if parts and parts[-1] == "" and len(parts) > 1:
            parts.pop()  # a trailing slash
        query = parse_qs(url.query, keep_blank_values=True)
        head = parts[0] if parts else ""
        if head == "healthz" and len(parts) == 1:
            self._json({"status": "ok", "version": __version__})
            return
        self._check_host()
        if not self._authorized(query, url.path, page=head in PAGES):
            return
        if head in PAGES and self._is_page(parts):
            self._file(STATIC / "index.html")
        elif head == "static" and len(parts) == 2 and parts[1] in STATIC_FILES:
            self._file(STATIC_FILES[parts[1]])
        elif head == "renderers" and len(parts) == 2 and parts[1].endswith(".js"):
            self._renderer(parts[1][:-3])
        elif head == "metrics" and len(parts) == 1:
            text = self._on_loop(prometheus_text, self.dashboard.server)
            self._send(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")
        elif head == "api" and len(parts) >= 2:
            self._api(parts[1:], query)
        else:
            raise HTTPError(404, f"no such page: {url.path[:200]}")

    @staticmethod
    def _is_page(parts: list[str]) -> bool:
        head = parts[0] if parts else ""
        return ((head == "" and len(parts) <= 1) or (head == "history" and len(parts) == 1)
                or (head == "session" and len(parts) == 3)
                or (head == "replay" and len(parts) == 2))

    def _api(self, parts: list[str], query: dict[str, list[str]]) -> None:
        server = self.dashboard.server
        match parts:
            case ["games"]:
                self._json(self.dashboard.games(self._on_loop))
            case ["sessions"]:
                self._json(self._on_loop(_data.sessions_snapshot, server))
            case ["events"]:
                # Every lobby page shows the same: computed and encoded once per change.
                self._stream(lambda: self.dashboard.lobby.get(
                    lambda: event(self._on_loop(_data.sessions_snapshot, server))))
            case ["sessions", game, token]:
                player = _int(query, "player", None)
                data = self._on_loop(_data.session_snapshot, server, game, token, player)
                if data is None:
                    raise HTTPError(404, "no such session (it may have ended)")
                self._json(data)
            case ["sessions", game, token, "events"]:
                player = _int(query, "player", 0)
                self._stream(lambda: event(self._on_loop(_data.session_snapshot, server, game,
                                                         token, player)),
                             key=(game, token))
            case ["history"]:
                self._history(query)
            case ["history", game_id]:
                self._replay(game_id, query)
            case ["leaderboard"]:
                self._leaderboard(query)
            case ["config"]:
                self._json({"version": __version__, "store": self.dashboard.store is not None,
                            "stuck_after": _data.stuck_after(server.settings.game_timeout)})
            case _:
                raise HTTPError(404, "no such endpoint")

    # ------------------------------------------------------------ access

    def _check_host(self) -> None:
        """Without a token, answer only requests addressed to localhost.

        Stops a web page elsewhere from reading the dashboard through DNS
        rebinding (a name of theirs that resolves to 127.0.0.1).
        """
        if self.dashboard.token:
            return
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in LOCAL_NAMES and name != self.dashboard.host:
            raise HTTPError(403, "the dashboard answers only requests for localhost")

    def _authorized(self, query: dict[str, list[str]], path: str, page: bool) -> bool:
        token = self.dashboard.token
        if not token:
            return True
        expected = cookie_value(token)
        given = query.get("token", [""])[-1]
        if given and hmac.compare_digest(given.encode(), token.encode()):
            if page:  # take the token out of the address bar and the history
                rest = urlencode([(k, v) for k, values in query.items() if k != "token"
                                  for v in values])
                location = (path if path.startswith("/") else "/") + ("?" + rest if rest else "")
                self._send(303, b"", "text/plain", (
                    ("Location", location),
                    ("Set-Cookie", f"{COOKIE}={expected}; Path=/; HttpOnly; "
                                   "SameSite=Strict")))
                return False
            return True
        cookies = self.headers.get("Cookie") or ""
        for item in cookies.split(";"):
            name, _, value = item.strip().partition("=")
            if name == COOKIE and hmac.compare_digest(value.encode(), expected.encode()):
                return True
        bearer = self.headers.get("Authorization") or ""
        if bearer.startswith("Bearer ") and hmac.compare_digest(
                bearer[7:].strip().encode(), token.encode()):
            return True
        if page:
            self._send(401, LOGIN_PAGE, "text/html; charset=utf-8")
        else:
            self._json({"error": "access token required: add ?token=... or send "
                                 "'Authorization: Bearer ...'"}, 401)
        return False

    # ------------------------------------------------------------ files

    def _file(self, path: Path) -> None:
        self._send(200, path.read_bytes(), CONTENT_TYPES[path.suffix])

    def _renderer(self, game: str) -> None:
        game_class = self.dashboard.game_class(game)
        path = _data.renderer_file(game_class) if game_class is not None else None
        if path is None:
            raise HTTPError(404, f"game {game[:100]!r} has no renderer of its own")
        self._file(path)

    # ------------------------------------------------------------ live streams

    def _stream(self, produce: Callable[[], Event], key: Hashable | None = None) -> None:
        """Send ``produce()`` as a server-sent event now and whenever it changes.

        A change anywhere wakes the stream (the feed's generation moves); a
        stream of one session (``key``: ``(game, token)``) fetches again
        only if that session's part of the fingerprint moved. Every
        ``STREAM_REFRESH`` seconds it fetches anyway, for what changes with
        time alone. Ends when ``produce`` returns the ``end`` event (the
        session is gone), when the dashboard stops, or when the browser goes
        away.
        """
        feed = self.dashboard.feed
        feed.subscribe()  # first: the generation read below then counts every change
        try:
            generation = feed.generation
            mark = feed.mark(key) if key is not None else None
            current = produce()  # errors before the stream starts are ordinary replies
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Accel-Buffering", "no")
            for name, value in SECURITY_HEADERS:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(b"retry: 2000\n\n")
            last: str | None = None
            last_write = time.monotonic()
            while True:
                if current.ended:
                    self.wfile.write(current.message)
                    return
                if current.compared != last:
                    last = current.compared
                    self.wfile.write(current.message)
                    last_write = time.monotonic()
                elif time.monotonic() - last_write > STREAM_PING:
                    self.wfile.write(b": ping\n\n")
                    last_write = time.monotonic()
                self.wfile.flush()
                refresh_at = time.monotonic() + STREAM_REFRESH
                while (left := refresh_at - time.monotonic()) > 0:
                    feed.wait(generation, left)
                    if self.dashboard.stopping or feed.closed:
                        return
                    if feed.generation == generation:
                        continue  # woken early for nothing
                    generation = feed.generation
                    if key is None or feed.mark(key) != mark:
                        break  # a change this page shows
                if self.dashboard.stopping:
                    return
                generation = feed.generation
                mark = feed.mark(key) if key is not None else None
                try:
                    current = produce()
                except HTTPError:
                    return  # the server is stopping: the browser reconnects later
        finally:
            feed.unsubscribe()

    # ------------------------------------------------------------ history

    def _history_store(self) -> Any:
        store = self.dashboard.store
        if store is None:
            self._json({"store": False, "message": "the history is switched off on this "
                        "server (the store is off)", "games": [], "leaderboard": {}})
        return store

    def _history(self, query: dict[str, list[str]]) -> None:
        store = self._history_store()
        if store is None:
            return
        game = query.get("game", [""])[-1] or None
        limit = max(1, min(_int(query, "limit", 50) or 50, HISTORY_LIMIT_MAX))
        records = _stored(lambda: store.finished_games(game, limit))
        self._json({"store": True, "games": [_data.history_entry(r) for r in records]})

    def _replay(self, game_id: str, query: dict[str, list[str]]) -> None:
        if not game_id.isdigit():
            raise HTTPError(404, "no such finished game")
        store = self._history_store()
        if store is None:
            return
        record = _stored(lambda: store.finished_game(int(game_id)))
        if record is None:
            raise HTTPError(404, "no such finished game")
        player = _int(query, "player", 0) or 0
        if not 0 <= player < max(1, len(record.get("players") or [])):
            raise HTTPError(404, f"game {game_id} has no player {player}")
        hidden = has_hidden_information(self.dashboard.game_class(record["game"]))
        self._json(_data.replay(record, player, hidden))

    def _leaderboard(self, query: dict[str, list[str]]) -> None:
        store = self._history_store()
        if store is None:
            return
        game = query.get("game", [""])[-1] or None
        records = _stored(lambda: store.finished_games(game, LEADERBOARD_GAMES))
        self._json({"store": True, "counted": len(records),
                    "leaderboard": _data.leaderboard(records)})


def _int(query: dict[str, list[str]], name: str, default: int | None) -> int | None:
    value = query.get(name, [""])[-1]
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise HTTPError(400, f"{name} must be a whole number") from None


def _stored(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except sqlite3.Error as err:
        log.error("dashboard: reading the history failed: %s", err)
        raise HTTPError(500, "the history store could not be read (see the server log)"
                        ) from None


LOGIN_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="color-scheme" content="light dark">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gameserver dashboard: access token</title></head>
<body><main><h1>gameserver dashboard</h1>
<p>This dashboard needs its access token (the server's <code>--web-token</code>).</p>
<form method="get"><label>Access token <input name="token" type="password"
autocomplete="current-password" autofocus required></label>
<button type="submit">Open</button></form></main></body></html>
"""
