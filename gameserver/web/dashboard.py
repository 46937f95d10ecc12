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
threads when it changed. A spectator page fetches its session again only
when that session's fingerprint moved; the lobby's data (every session, the
expensive one) is computed and encoded once per change in a
``SharedSnapshot`` and sent to every open lobby page.

Connections are bounded: each waits at most ``Handler.timeout`` seconds
for its request (and for each write), and at most ``MAX_CONNECTIONS`` are
served at once; beyond that the dashboard answers 503 at once rather than
start another thread.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Hashable
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from ..config import LOCAL_HOSTS
from . import _data

if TYPE_CHECKING:
    from ..server import GameServer

log = logging.getLogger("gameserver.web")

TICK = 0.1  # seconds between two fingerprint comparisons while a live page is open
MAX_CONNECTIONS = 64  # requests served at once (each open live page holds one); 503 beyond
BUSY_LOG_INTERVAL = 60.0  # seconds: "too many connections" is logged at most this often
_BUSY_BODY = json.dumps({"error": "the dashboard is busy (too many connections); "
                                  "try again"}).encode()
BUSY_REPLY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\nRetry-After: 5\r\nCache-Control: no-store\r\n"
              b"X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n%s"
              % (len(_BUSY_BODY), _BUSY_BODY))


class ChangeFeed:
    """Wakes HTTP threads soon after any session changed.

    ``generation`` counts the changes seen. A thread remembers it, fetches
    its data, then ``wait``s for the generation to move on; a change between
    the fetch and the wait is not lost because the comparison is with the
    remembered number (the same idea as the sessions' versions).

    ``mark(key)`` is one session's part of the latest fingerprint: a page
    that shows one session compares it to skip changes of other sessions.
    """

    def __init__(self, server: GameServer, interval: float = TICK) -> None:
        self._server = server
        self._interval = interval
        self._cond = threading.Condition()
        self._subscribers = 0
        self._ticking = False  # touched only on the loop
        self._last: Any = None
        self._marks: dict[Any, Any] = {}  # the latest fingerprint; replaced, never changed
        self.generation = 0
        self.closed = False

    def subscribe(self) -> None:
        """Announce one more live page; starts the ticker on the first one.

        The first page also moves the generation on: while nobody watched,
        nothing counted the changes, so whatever was fetched before is stale.
        """
        with self._cond:
            self._subscribers += 1
            if self._subscribers == 1:
                self.generation += 1
                self._cond.notify_all()
        loop = self._server.loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._start)
            except RuntimeError:  # the loop has closed: the server is stopping
                pass

    def unsubscribe(self) -> None:
        with self._cond:
            self._subscribers -= 1

    def mark(self, key: Hashable) -> Any:
        """Session ``key``'s part of the latest fingerprint (None when it is not there)."""
        return self._marks.get(key)

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
            self._marks = current
            with self._cond:
                self.generation += 1
                self._cond.notify_all()
        assert self._server.loop is not None
        self._server.loop.call_later(self._interval, self._tick)


class SharedSnapshot:
    """What many live pages show, computed once per change and shared by all of them.

    ``get(compute)`` returns the value computed for the feed's current
    generation; the first thread to ask after a change computes it (the
    others wait for it), and a value older than ``max_age`` seconds is
    computed again, for what changes with time alone (ages, "stuck").
    ``computed`` counts the computations (for tests and curiosity).
    """

    def __init__(self, feed: ChangeFeed, max_age: float) -> None:
        self._feed = feed
        self._max_age = max_age
        self._lock = threading.Lock()
        self._made: tuple[int, float] | None = None  # (generation, time.monotonic())
        self._value: Any = None
        self.computed = 0

    def get(self, compute: Callable[[], Any]) -> Any:
        with self._lock:
            generation = self._feed.generation  # before computing: a change meanwhile counts
            now = time.monotonic()
            made = self._made
            if made is None or made[0] != generation or now - made[1] >= self._max_age:
                self._value = compute()
                self._made = (generation, now)
                self.computed += 1
            return self._value


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64
    max_connections = MAX_CONNECTIONS
    dashboard: Dashboard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._busy_logged = -BUSY_LOG_INTERVAL
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread for the request, or a 503 at once when ``max_connections`` are busy."""
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()  # no thread started: nobody else gives the slot back
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        """Answer 503 without blocking the thread that accepts connections."""
        try:
            request.setblocking(False)
            try:  # read what the client sent: closing over unread data resets the connection
                request.recv(65536)
            except OSError:
                pass
            request.send(BUSY_REPLY)
        except OSError:
            pass
        finally:
            self.shutdown_request(request)
        now = time.monotonic()
        if now - self._busy_logged >= BUSY_LOG_INTERVAL:
            self._busy_logged = now
            log.warning("dashboard: %d connections are being served, the most it serves at "
                        "once; answering 503 to more (each open live page holds one)",
                        self.max_connections)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A failure outside the handler's own error handling: to the log, not stderr."""
        if isinstance(sys.exc_info()[1], OSError):  # the client went away, reset, timed out
            log.debug("dashboard: connection from %s failed", client_address[0],
                      exc_info=True)
        else:
            log.exception("dashboard: connection from %s failed", client_address[0])


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
        from ._handler import STREAM_REFRESH, Handler  # the handler reads Dashboard's

        settings = server.settings
        self.server = server
        self.host = settings.web_host
        self.token = settings.web_token
        if self.host not in LOCAL_HOSTS and not self.token:
            raise OSError(f"refusing to serve the dashboard on {self.host}, beyond this "
                          "machine, without an access token (set --web-token)")
        self.feed = ChangeFeed(server)
        self.lobby = SharedSnapshot(self.feed, STREAM_REFRESH)  # the lobby pages' event
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
        """The history reader of the server, or None when the store is switched off."""
        return getattr(self.server, "history", None)

    def games(self, on_loop: Callable[..., Any]) -> list[dict[str, Any]]:
        """The games offered (they never change while the server runs); cached.

        Args:
            on_loop: how to run a function on the loop (the handler's
                ``_on_loop``, which also answers 503 while stopping).
        """
        if self._games is None:
            self._games = on_loop(_data.games_snapshot, self.server)
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
