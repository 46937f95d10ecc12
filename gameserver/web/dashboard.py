"""The dashboard's life cycle: start it on the game server's event loop, stop it.

Why on the event loop, and not in threads as before (docs/dashboard.md,
"How it works", has the measurements): the lobby and its sessions belong
to the loop, and under the GIL a thread that builds a big reply holds the
interpreter just as the loop would, so a thread protects nothing; it only
adds hand-offs and a thread per open page. On the loop the dashboard's work
is cut into small steps that interleave with the game's (``_lobby``), an
open live page costs a few kilobytes instead of a thread, and a change can
be pushed to hundreds of pages. Blocking work (reading the SQLite history)
goes to a small pool of worker threads (``_history``).

The pieces: ``_http`` (the HTTP/1.1 server and its bounds), ``_auth`` (who
may see what), ``_routes`` (which request gets which reply), ``_lobby``
(the lobby's data), ``_streams`` (live pages), ``_history`` (finished
games), ``_data`` (what the pages show), ``_play`` (playing in the
browser), ``_carrier`` (a game request carried through the lobby),
``_bots`` (the bots), ``source`` (what the dashboard reads from the
server, and how it sends game requests).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from .. import __version__
from ..config import LOCAL_HOSTS, Settings
from . import _data
from ._auth import Gate
from ._bots import Bots
from ._data import ALL
from ._history import History
from ._http import HTTPServer
from ._lobby import LobbyIndex
from ._play import Play
from ._routes import App
from ._streams import SessionFeed, Streams, ViewCache
from .source import DashboardSource

log = logging.getLogger("gameserver.web")


# The server's settings' defaults (``config.Settings``), for WebSettings' own: one place
# for each, so the two cannot drift apart.
_DEFAULTS = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
             for f in dataclasses.fields(Settings)}  # (a list's, from its factory)


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The dashboard's settings (``config.Settings`` has them as ``web_*``, and their
    defaults: a dashboard started without a value for one has the server's default)."""

    host: str = _DEFAULTS["web_host"]
    port: int = _DEFAULTS["web_port"]
    token: str = _DEFAULTS["web_token"]
    game_timeout: float = _DEFAULTS["game_timeout"]
    max_connections: int = _DEFAULTS["web_max_connections"]
    max_connections_per_address: int = _DEFAULTS["web_max_connections_per_address"]
    play: str = _DEFAULTS["web_play"]  # who may start sessions in the browser: off, invite, open
    bots: int = _DEFAULTS["web_bots"]  # bots playing at once, at most
    bots_per_address: int = _DEFAULTS["web_bots_per_address"]  # ... for one address's browsers
    renderers: str = _DEFAULTS["web_renderers"]  # whose renderers: bundled (ours) or all
    # The server's (not web_) setting: browsers' requests and the bots' meet it.
    max_json_depth: int = _DEFAULTS["max_json_depth"]
    # bytes all live pages' clients may leave unread together (``_http.StreamBudget``)
    stream_buffer_max_total: int = _DEFAULTS["web_stream_buffer_max_total"]
    # proxies whose X-Forwarded-For names the client (``_http.forwarded_client``)
    trusted_proxies: tuple[str, ...] = tuple(_DEFAULTS["web_trusted_proxies"])


class Dashboard:
    """The running dashboard of one game server.

    Attributes:
        host: the address it listens on.
        port: the real port (useful with ``port = 0``).
        token: the access token pages require, or "" for none.
        index: the lobby's data.
        streams: the live pages.
        http: the HTTP server (connection counts, limits).
        play: playing in the browser (seats, invite links).
        bots: the bots playing now.
        stopping: set once ``stop()`` was called.
    """

    def __init__(self, source: DashboardSource, settings: WebSettings) -> None:
        if settings.host not in LOCAL_HOSTS and not settings.token:
            raise OSError(f"refusing to serve the dashboard on {settings.host}, beyond this "
                          "machine, without an access token (set --web-token-file)")
        self.source = source
        self.host = settings.host
        self.token = settings.token
        self.port = settings.port
        self._settings = settings
        self.stopping = False
        stuck = _data.stuck_after(settings.game_timeout)
        self.index = LobbyIndex(source, stuck, operators=bool(settings.token))
        self.streams = Streams(
            self.index, SessionFeed(source),
            ViewCache(source, lambda key, player, operator: _data.session_data(
                source, key, player, operator, stuck)),
            lambda: self.stopping)
        self.gate = Gate(settings.token, settings.host, LOGIN_PAGE)
        self.bots = Bots(source, settings.bots, settings.bots_per_address,
                         settings.max_json_depth)
        self.play = Play(source, self.streams.feed, settings.play, self.bots,
                         bool(settings.token), lambda: self.stopping, settings.max_json_depth)
        self.app = App(source, self.gate, self.index, self.streams, History(
            source.history(), self._hidden), self.play, stuck, lambda: self.stopping,
            settings.renderers)
        self.http = HTTPServer(self.app.handle, self.app.healthz, settings.max_connections,
                               settings.max_connections_per_address,
                               f"gameserver-dashboard/{__version__}",
                               settings.stream_buffer_max_total, settings.trusted_proxies)

    def _hidden(self, game: str) -> bool:
        return self.app.hidden(game)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        self.port = await self.http.start(self.host, self._settings.port)
        log.info("dashboard on %s", self.url)
        if self._settings.renderers == ALL:
            log.info("dashboard: web_renderers = \"all\": the renderers next to the games' "
                     "files (GAME.js) draw those games, each in a sandboxed frame: it sees "
                     "the states a page shows and may ask for its seat's legal moves, "
                     "nothing else of the page, the browser or the server")

    def stop(self) -> None:
        """Stop serving: close the port, end every connection and live page."""
        self.stopping = True
        self.http.close()
        self.index.close()
        self.streams.feed.close()
        self.bots.close()
        self.app.history.close()

    async def wait_stopped(self, timeout: float = 1.0) -> None:
        """After ``stop()``: let the connections and bots end (at most ``timeout`` s each)."""
        await self.http.wait_closed(timeout)
        await self.bots.wait_closed(timeout)


async def start_dashboard(source: DashboardSource, settings: WebSettings) -> Dashboard:
    """Serve the dashboard on the running event loop.

    Returns:
        The running ``Dashboard``; its ``port`` is the real port and
        ``stop()`` ends it.

    Raises:
        OSError: the address cannot be bound, or it lies beyond this
            machine and no access token is configured.
    """
    dashboard = Dashboard(source, settings)
    await dashboard.start()
    return dashboard


LOGIN_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="color-scheme" content="light dark">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gameserver dashboard: access token</title></head>
<body><main><h1>gameserver dashboard</h1>
<p>This dashboard needs its access token (the server's <code>--web-token-file</code>).</p>
<form method="post"><label>Access token <input name="token" type="password"
autocomplete="current-password" autofocus required></label>
<button type="submit">Open</button></form></main></body></html>
"""
