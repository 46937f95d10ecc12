"""The dashboard's HTTP server: its life cycle and the feed that wakes live pages.

The dashboard is a view of the game server, not a part of it. It runs a
standard-library ``ThreadingHTTPServer`` in a daemon thread next to the
event loop; each HTTP request gets a thread of its own and reads the lobby
only through ``GameServer.run_on_loop``. If it cannot start (port taken,
refused host), ``start_dashboard`` raises ``OSError`` and the game server
logs that and keeps running.

Live pages use server-sent events. Rather than have every open page ask
the loop again and again whether something changed, one ``ChangeFeed``
compares a cheap fingerprint of all sessions on the loop a few times a
second, only while at least one page is open, and wakes the waiting HTTP
threads when it changed; they then fetch what their page shows.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from ..config import LOCAL_HOSTS
from . import _data

if TYPE_CHECKING:
    from ..server import GameServer

log = logging.getLogger("gameserver.web")

TICK = 0.1  # seconds between two fingerprint comparisons while a live page is open


class ChangeFeed:
    """Wakes HTTP threads soon after any session changed.

    ``generation`` counts the changes seen. A thread remembers it, fetches
    its data, then ``wait``s for the generation to move on; a change between
    the fetch and the wait is not lost because the comparison is with the
    remembered number (the same idea as the sessions' versions).
    """

    def __init__(self, server: GameServer, interval: float = TICK) -> None:
        self._server = server
        self._interval = interval
        self._cond = threading.Condition()
        self._subscribers = 0
        self._ticking = False  # touched only on the loop
        self._last: Any = None
        self.generation = 0
        self.closed = False

    def subscribe(self) -> None:
        """Announce one more live page; starts the ticker on the first one."""
        with self._cond:
            self._subscribers += 1
        loop = self._server.loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._start)
            except RuntimeError:  # the loop has closed: the server is stopping
                pass

    def unsubscribe(self) -> None:
        with self._cond:
            self._subscribers -= 1

    def wait(self, generation: int, timeout: float) -> None:
        """Return once ``generation`` is outdated, the feed closed, or after ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: self.generation != generation or self.closed,
                                timeout)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def _start(self) -> None:  # on the loop
        if not self._ticking:
            self._ticking = True
            self._last = None
            self._tick()

    def _tick(self) -> None:  # on the loop
        with self._cond:
            active = self._subscribers > 0 and not self.closed
        if not active:
            self._ticking = False
            return
        current = _data.fingerprint(self._server)
        if current != self._last:
            self._last = current
            with self._cond:
                self.generation += 1
                self._cond.notify_all()
        assert self._server.loop is not None
        self._server.loop.call_later(self._interval, self._tick)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64
    dashboard: Dashboard


class Dashboard:
    """The running dashboard of one game server.

    Attributes:
        host: the address it listens on.
        port: the real port (useful with ``web_port = 0``).
        token: the access token pages require, or "" for none.
        feed: the change feed of the live pages.
        stopping: set once ``stop()`` was called; live streams end.
    """

    def __init__(self, server: GameServer) -> None:
        from ._handler import Handler  # the handler reads Dashboard's attributes

        settings = server.settings
        self.server = server
        self.host = settings.web_host
        self.token = settings.web_token
        if self.host not in LOCAL_HOSTS and not self.token:
            raise OSError(f"refusing to serve the dashboard on {self.host}, beyond this "
                          "machine, without an access token (set --web-token)")
        self.feed = ChangeFeed(server)
        self.stopping = False
        self._games: list[dict[str, Any]] | None = None
        http_class = type("_DashboardHTTPServer", (_HTTPServer,), {
            "address_family": socket.AF_INET6 if ":" in self.host else socket.AF_INET})
        self.httpd: _HTTPServer = http_class((self.host, settings.web_port), Handler)
        self.httpd.dashboard = self
        self.port: int = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="gameserver-dashboard", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def store(self) -> Any:
        """The history store of the server, or None when it is switched off."""
        return getattr(self.server, "store", None)

    def games(self) -> list[dict[str, Any]]:
        """The games offered (they never change while the server runs); cached."""
        if self._games is None:
            self._games = self.server.run_on_loop(_data.games_snapshot, self.server)
        return self._games

    def game_class(self, name: str) -> Any:
        return self.server.lobby.games.get(name)  # a dict fixed at start-up

    def start(self) -> None:
        self._thread.start()
        log.info("dashboard on %s", self.url)

    def stop(self) -> None:
        """Stop serving: end the live streams, close the listening socket."""
        self.stopping = True
        self.feed.close()
        if self._thread.is_alive():  # shutdown() would wait forever for a loop never run
            self.httpd.shutdown()
            self._thread.join(5)
        self.httpd.server_close()


def start_dashboard(server: GameServer) -> Dashboard:
    """Serve the dashboard of ``server`` from a daemon thread.

    Returns:
        The running ``Dashboard``; its ``port`` is the real port and
        ``stop()`` ends it.

    Raises:
        OSError: the address cannot be bound, or it lies beyond this
            machine and no access token is configured.
    """
    dashboard = Dashboard(server)
    dashboard.start()
    return dashboard
