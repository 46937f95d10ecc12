"""One client connection: what it does with a request, whatever carries its bytes.

``BaseConnection`` holds everything a connection does that does not depend
on how bytes travel: reading requests, handing them to the lobby, waiting
on a ``Pending``, writing the reply, keep-alive, refusals, limits, metrics
and shutdown. Two subclasses carry the bytes:

* ``RawConnection`` (``_rawconn.py``): plain TCP on a non-blocking socket
  the event loop watches directly. It serves every plain-TCP client.
* ``Connection`` (here): an ``asyncio.Protocol`` on an asyncio transport.
  It serves TLS, which needs asyncio's SSL machinery.

A subclass provides six small methods (``_write``, ``_close``,
``_can_half_close``, ``_half_close``, ``_abort``, ``_set_deadline``) and
calls ``_opened`` (then ``_refusal``), ``_received`` and ``_gone`` as its
connection opens, receives bytes and goes away; it starts the read deadline
once it is open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from . import protocol
from .protocol import TERMINATOR, ProtocolError, RequestReader, server_error
from .waits import Outcome, Wait

if TYPE_CHECKING:
    from .server import GameServer

log = logging.getLogger("gameserver.server")


class BaseConnection:
    """One client connection, from connect to close, without its transport.

    While a request is read, and while a kept-alive connection waits for its
    next request, a deadline of ``connection_timeout`` runs. A request being
    served has none: a join or state may wait far longer. A closing
    connection has one again, so that a client that never reads its reply
    cannot pin it.
    """

    __slots__ = ("_server", "_reader", "_pending", "_keep_alive", "_busy", "_closed",
                 "_kind", "_started", "_address")

    def __init__(self, server: GameServer) -> None:
        self._server = server
        self._reader = RequestReader(server.settings.request_size_max)
        self._pending: Wait | None = None
        self._keep_alive = False
        self._busy = False  # a request is being served; later bytes wait
        self._closed = False  # nothing more may be written
        self._kind = "invalid"  # request type, for metrics
        self._started = 0.0  # when the request was complete
        self._address = ""  # the client's IP address

    # ------------------------------------------------------------ what a transport provides

    def _write(self, data: bytes) -> None:
        """Send ``data`` (buffered if the client does not take it at once)."""
        raise NotImplementedError

    def _close(self) -> None:
        """Close once everything written is sent; stop reading now.

        A client that does not take the rest within ``connection_timeout``
        is aborted: a reply it never reads must not pin the connection.
        """
        raise NotImplementedError

    def _can_half_close(self) -> bool:
        """Whether ``_half_close`` is possible (TLS has no half-close)."""
        raise NotImplementedError

    def _half_close(self) -> None:
        """Send our end of the connection once everything written is sent; keep reading."""
        raise NotImplementedError

    def _abort(self) -> None:
        """Close now, dropping whatever is not sent yet."""
        raise NotImplementedError

    def _set_deadline(self, seconds: float | None) -> None:
        """Call ``_timed_out`` after ``seconds`` (replacing any earlier deadline); None: never."""
        raise NotImplementedError

    # ------------------------------------------------------------ transport events

    def _opened(self, address: str) -> None:
        """The connection is open: count it.

        Then the subclass starts the read deadline and checks ``_refusal``
        (when is its choice).
        """
        self._address = address
        server = self._server
        server.connections.add(self)
        per_address = server.per_address
        per_address[address] = per_address.get(address, 0) + 1
        server.metrics.connections_total += 1

    def _refusal(self) -> bytes | None:
        """The reply that refuses this connection if it is beyond the limits, else None."""
        server = self._server
        settings = server.settings
        if len(server.connections) > settings.max_connections:
            return server_error(
                f"too many connections ({settings.max_connections}); try again later").reply()
        if server.per_address[self._address] > settings.max_connections_per_address:
            return server_error(
                "too many connections from your address (at most "
                f"{settings.max_connections_per_address}); close some and try again").reply()
        return None

    def _received(self, data: bytes) -> None:
        """Bytes from the client."""
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
            self._serve_buffered()

    def _gone(self) -> None:
        """The connection is closed: drop its waiting request, stop counting it."""
        self._closed = True
        self._set_deadline(None)
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        server = self._server
        server.connections.discard(self)
        per_address = server.per_address
        left = per_address.get(self._address, 0) - 1
        if left > 0:
            per_address[self._address] = left
        else:
            per_address.pop(self._address, None)

    # ------------------------------------------------------------ serving

    def _serve(self, raw: bytes) -> None:
        self._busy = True
        self._set_deadline(None)
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
        while isinstance(outcome, Wait):
            if not outcome.woken:
                self._pending = outcome
                outcome.on_wake(self._wake_soon)
                return
            outcome = self._server.lobby.call(outcome.resume)
        self._finish(outcome, self._keep_alive)

    def _wake_soon(self) -> None:
        # Never resume inside wake(): it runs in the middle of another request's change.
        self._server.loop.call_soon(self._resume)

    def _resume(self) -> None:
        pending, self._pending = self._pending, None
        if self._closed or pending is None or pending.cancelled:
            return
        self._deliver(self._server.lobby.call(pending.resume))
        self._serve_buffered()

    def _serve_buffered(self) -> None:
        """Serve the kept-alive requests already received, in turn, until one must wait.

        A loop, not recursion from one reply to the next request: a client may
        send thousands of requests in one packet.
        """
        while not self._busy and not self._closed:
            try:
                raw = self._reader.next_request()
            except ProtocolError as err:
                self._refuse(err.reply())
                return
            if raw is None:
                return
            self._serve(raw)

    def _finish(self, reply: bytes, keep_alive: bool) -> None:
        """Write ``reply``; then close, or wait for the next kept-alive request.

        The caller goes on with ``_serve_buffered``, for requests that came already.
        """
        if self._closed:
            return
        if self._busy:
            self._server.metrics.request_done(self._kind, reply,
                                              time.perf_counter() - self._started)
        if self._server.log_requests:
            # Only the start: a join reply carries the player's secret key.
            log.debug("reply of %d bytes: %s...", len(reply), reply[:24])
        if not keep_alive:
            self._closed = True
            self._write(reply)
            self._close()
            return
        self._write(reply + TERMINATOR)
        if self._closed:  # the client went away while we wrote
            return
        self._busy = False
        self._set_deadline(self._server.settings.connection_timeout)

    def _refuse(self, reply: bytes) -> None:
        """Answer a request that is too large, without reading the rest of it.

        Closing a socket with unread bytes makes the kernel send a reset, which
        would destroy the reply before the client reads it. So the reply is
        followed by our half of the close, and what the client still sends is
        read and dropped until it closes (or ``connection_timeout`` passes).
        """
        if self._closed:
            return
        if not self._can_half_close():
            self._finish(reply, keep_alive=False)
            return
        self._busy, self._keep_alive = True, False  # from now on, bytes are dropped
        self._closed = True  # nothing more may be written
        self._reader = RequestReader(self._server.settings.request_size_max)
        self._set_deadline(self._server.settings.connection_timeout)
        self._write(reply)
        self._half_close()

    def _timed_out(self) -> None:
        """The deadline passed: a request not completed, a client gone quiet or not reading."""
        if self._closed:  # a reply or refusal never read, or a refused client still sending
            self._abort()
        elif self._reader.pending or not self._keep_alive:
            self._finish(server_error("connection timed out on server").reply(), False)
        else:  # an idle kept-alive connection: just close
            self._closed = True
            self._close()

    def shut_down(self, reply: bytes) -> None:
        """Answer a connection that has no request in the lobby, then close it."""
        if self._pending is None and not self._closed:
            self._finish(reply, keep_alive=False)


class Connection(BaseConnection, asyncio.Protocol):
    """A connection on an asyncio transport: the TLS path.

    Deadlines are ``TimerHandle``s: TLS connections are few and costly
    anyway, so this path stays as simple as asyncio makes it.
    """

    __slots__ = ("_transport", "_timer")

    def __init__(self, server: GameServer) -> None:
        super().__init__(server)
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._opened(peer[0] if isinstance(peer, tuple) else str(peer))
        self._set_deadline(self._server.settings.connection_timeout)
        refusal = self._refusal()
        if refusal is not None:
            self._refuse(refusal)

    def data_received(self, data: bytes) -> None:
        self._received(data)

    def eof_received(self) -> bool:
        return False  # the client is gone: close, which drops any waiting request

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone()

    # ------------------------------------------------------------ the transport

    def _write(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.write(data)

    def _close(self) -> None:
        assert self._transport is not None
        self._transport.close()
        self._set_deadline(self._server.settings.connection_timeout)

    def _can_half_close(self) -> bool:
        return self._transport is not None and self._transport.can_write_eof()

    def _half_close(self) -> None:
        assert self._transport is not None
        self._transport.write_eof()

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _set_deadline(self, seconds: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if seconds is not None:
            self._timer = asyncio.get_running_loop().call_later(seconds, self._timed_out)
