"""The I/O adapter: asyncio connections in, lobby replies out.

One ``Connection`` (an ``asyncio.Protocol``) per TCP connection. It feeds
bytes to a ``RequestReader``, hands the decoded request to the lobby and
writes back what the lobby answers. A request that must wait (join until the
session is full, state until it changes) leaves the connection holding a
future and nothing else: no task, no thread, a few hundred bytes.

Classic mode is one request per connection: reply, then close. A request
with ``"keep_alive": true`` gets its reply followed by ``EOT\\0`` and the
connection stays open for the next request.

A client that closes its side (EOF) is gone: its waiting request is dropped
at once. Classic clients never half-close, so this costs them nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import ssl
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from . import protocol
from .config import Settings
from .game import AbstractGame
from .guard import GameGuard
from .lobby import Lobby, LobbyLimits
from .metrics import Metrics
from .protocol import TERMINATOR, ProtocolError, RequestReader, server_error
from .session import Outcome, Pending
from .store import Store

log = logging.getLogger("gameserver.server")

T = TypeVar("T")

LISTEN_BACKLOG = 4096  # the kernel caps this at net.core.somaxconn


class Connection(asyncio.Protocol):
    """One client connection, from connect to close."""

    __slots__ = ("_server", "_transport", "_reader", "_timer", "_pending",
                 "_keep_alive", "_busy", "_closed", "_kind", "_started", "_address")

    def __init__(self, server: GameServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._reader = RequestReader(server.settings.request_size_max)
        self._timer: asyncio.TimerHandle | None = None
        self._pending: Pending | None = None
        self._keep_alive = False
        self._busy = False  # a request is being served; later bytes wait
        self._closed = False
        self._kind = "invalid"  # request type, for metrics
        self._started = 0.0  # when the request was complete
        self._address = ""  # the client's IP address

    # ------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        server = self._server
        peer = transport.get_extra_info("peername")
        self._address = peer[0] if isinstance(peer, tuple) else str(peer)
        server.connections.add(self)
        server.per_address[self._address] += 1
        server.metrics.connections_total += 1
        self._arm_timer()
        settings = server.settings
        if len(server.connections) > settings.max_connections:
            self._refuse(server_error(
                f"too many connections ({settings.max_connections}); try again later").reply())
        elif server.per_address[self._address] > settings.max_connections_per_address:
            self._refuse(server_error(
                "too many connections from your address (at most "
                f"{settings.max_connections_per_address}); close some and try again").reply())

    def data_received(self, data: bytes) -> None:
        try:
            if self._busy:
                if self._keep_alive:  # the next request; classic mode ignores extra bytes
                    self._reader.feed_later(data)
                return
            raw = self._reader.feed(data)
        except ProtocolError as err:
            self._refuse(err.reply())
            return
        if raw is not None:
            self._serve(raw)

    def eof_received(self) -> bool:
        return False  # the client is gone: close, which drops any waiting request

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._cancel_timer()
        if self._pending is not None:
            self._pending.future.cancel()
            self._pending = None
        server = self._server
        server.connections.discard(self)
        server.per_address[self._address] -= 1
        if not server.per_address[self._address]:
            del server.per_address[self._address]

    # ------------------------------------------------------------ serving

    def _serve(self, raw: bytes) -> None:
        self._busy = True
        self._cancel_timer()
        self._started = time.perf_counter()
        try:
            envelope = protocol.decode_request(raw, self._server.settings.max_json_depth)
        except ProtocolError as err:
            self._kind = "invalid"
            self._finish(err.reply(), keep_alive=False)
            return
        self._kind = envelope.request.kind
        self._keep_alive = envelope.keep_alive
        if self._server.log_requests:
            log.debug("request %s", protocol.describe(envelope.request))
        self._deliver(self._server.lobby.handle(envelope.request, self._address))

    def _deliver(self, outcome: Outcome) -> None:
        while isinstance(outcome, Pending):
            if not outcome.future.done():
                self._pending = outcome
                outcome.future.add_done_callback(self._resume)
                return
            outcome = self._server.lobby.call(outcome.resume)
        self._finish(outcome, self._keep_alive)

    def _resume(self, future: asyncio.Future[None]) -> None:
        pending, self._pending = self._pending, None
        if self._closed or pending is None or future.cancelled():
            return
        self._deliver(self._server.lobby.call(pending.resume))

    def _finish(self, reply: bytes, keep_alive: bool) -> None:
        """Write ``reply``; then close, or wait for the next kept-alive request."""
        transport = self._transport
        if self._closed or transport is None:
            return
        if self._busy:
            self._server.metrics.request_done(self._kind, reply,
                                              time.perf_counter() - self._started)
        if self._server.log_requests:
            # Only the start: a join reply carries the player's secret key.
            log.debug("reply of %d bytes: %s...", len(reply), reply[:24])
        if not keep_alive:
            transport.write(reply)
            self._closed = True
            transport.close()
            # A client that never reads its reply must not pin the connection.
            self._timer = asyncio.get_running_loop().call_later(
                self._server.settings.connection_timeout, transport.abort)
            return
        transport.write(reply + TERMINATOR)
        self._busy = False
        self._arm_timer()
        try:
            raw = self._reader.next_request()
        except ProtocolError as err:
            self._refuse(err.reply())
            return
        if raw is not None:
            self._serve(raw)

    def _refuse(self, reply: bytes) -> None:
        """Answer a request that is too large, without reading the rest of it.

        Closing a socket with unread bytes makes the kernel send a reset, which
        would destroy the reply before the client reads it. So the reply is
        followed by our half of the close, and what the client still sends is
        read and dropped until it closes (or ``connection_timeout`` passes).
        """
        transport = self._transport
        if self._closed or transport is None:
            return
        if not transport.can_write_eof():  # TLS has no half-close
            self._finish(reply, keep_alive=False)
            return
        self._busy, self._keep_alive = True, False  # from now on, bytes are dropped
        self._closed = True  # nothing more may be written
        self._reader = RequestReader(self._server.settings.request_size_max)
        transport.write(reply)
        transport.write_eof()
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(
            self._server.settings.connection_timeout, transport.abort)

    # ------------------------------------------------------------ timers

    def _arm_timer(self) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(
            self._server.settings.connection_timeout, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self._reader.pending or not self._keep_alive:
            self._finish(server_error("connection timed out on server").reply(), False)
        elif self._transport is not None:
            self._transport.close()  # an idle kept-alive connection: just close

    def shut_down(self, reply: bytes) -> None:
        """Answer a connection that has no request in the lobby, then close it."""
        if self._pending is None and not self._closed:
            self._finish(reply, keep_alive=False)


class GameServer:
    """A running game server: listening socket, lobby and open connections.

    Args:
        settings: the server settings.
        games: game name -> game class to offer.
    """

    def __init__(self, settings: Settings, games: Mapping[str, type[AbstractGame]]) -> None:
        self.settings = settings
        self.guard = GameGuard(settings.game_call_timeout)
        self.store = (Store(settings.store_path, self.guard, history=settings.history,
                            history_max_games=settings.history_max_games,
                            sync=settings.store_sync)
                      if settings.store else None)
        self.lobby = Lobby(games, self.guard, LobbyLimits(
            game_timeout=settings.game_timeout, join_timeout=settings.join_timeout,
            request_size_max=settings.request_size_max, max_sessions=settings.max_sessions,
            new_sessions_per_minute=settings.new_sessions_per_minute,
            max_name_length=settings.max_name_length), store=self.store)
        self.per_address: Counter[str] = Counter()  # open connections by client address
        self.connections: set[Connection] = set()
        self.metrics = Metrics()
        self.log_requests = log.isEnabledFor(logging.DEBUG)
        self.port = settings.port
        self.dashboard: Any = None  # the web dashboard, when settings.web is on
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None

    def run_on_loop(self, func: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run ``func(*args)`` on the server's event loop from another thread.

        The lobby and its sessions belong to the event loop's thread; other
        threads (the web dashboard) read them only through this.

        Raises:
            TimeoutError: the loop did not run it within ``timeout`` seconds.
            Exception: whatever ``func`` raised.
        """
        assert self.loop is not None, "the server is not running"
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(func(*args))
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                result.set_exception(err)

        self.loop.call_soon_threadsafe(run)
        return result.result(timeout)

    async def start(self) -> None:
        """Start listening; ``self.port`` is the real port afterwards."""
        tls = self._tls_context() if self.settings.tls else None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Connection(self), self.settings.host, self.settings.port,
            ssl=tls, backlog=LISTEN_BACKLOG, reuse_address=True,
            ssl_handshake_timeout=self.settings.connection_timeout if tls else None)
        self.port = self._server.sockets[0].getsockname()[1]
        self.loop = loop
        if self.store is not None:
            self.store.start(loop)
            self.lobby.restore(self.store.load_sessions())
        self.lobby.start_sweeper()
        log.info("gameserver listening on %s:%d (TLS %s), games: %s",
                 self.settings.host, self.port, "on" if tls else "off",
                 ", ".join(sorted(self.lobby.games)) or "none")
        log.info("store: %s", f"sessions and history saved in {self.settings.store_path}"
                 if self.store else "off (sessions live in memory only)")
        if self.settings.web:
            self._start_dashboard()

    def _start_dashboard(self) -> None:
        # The game server keeps running without its dashboard: it is a view, not a part.
        from .web import start_dashboard
        try:
            self.dashboard = start_dashboard(self)
        except OSError as err:
            log.error("web dashboard not started on %s:%d: %s (pick another --web-port, "
                      "or --no-web)", self.settings.web_host, self.settings.web_port, err)

    async def stop(self, grace: float = 2.0) -> None:
        """Stop accepting, answer every waiting client, close within ``grace`` seconds."""
        if self._server is not None:
            self._server.close()
        if self.dashboard is not None:
            self.dashboard.stop()
        self.lobby.close()  # waiting joins and states get "server is shutting down"
        reply = server_error("server is shutting down").reply()
        for connection in list(self.connections):
            connection.shut_down(reply)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.connections and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self.connections):
            if connection._transport is not None:
                connection._transport.abort()
        if self.store is not None:
            self.store.close()
        self.guard.close()
        log.info("gameserver stopped")

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        return context
