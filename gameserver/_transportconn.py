"""Connections on asyncio transports: TLS, and plain TCP where the loop cannot watch sockets.

TLS runs here (``_tlsconn.TLSConnection`` encrypts, on a plain transport);
Windows' default (proactor) loop has no ``add_reader``, so plain TCP runs
here too on it. Everything a connection does with requests is
``BaseConnection``'s; this module only carries bytes.
Deadlines are ``TimerHandle``s: these connections are few and costly
anyway, so this path stays as simple as asyncio makes it.

Flow control is asyncio's own: the transport calls ``pause_writing`` once
more than ``reply_buffer_max`` bytes wait to be sent, and ``resume_writing``
once they are down to a quarter of that. The bytes that stay in the buffer
after a write count towards the bounds of the connection's address and of
all (``_unsent.py``); asyncio does not say when part of them leaves, so the
count is brought up to date at the next write, at a deadline (in WAITING
one runs while replies are unsent: ``BaseConnection``) and at ``resume_writing``,
and a connection paused for those bounds is told when its buffer is empty
(``_watch_drain``). Whether the client took any of them
(it is alive, see ``BaseConnection._output_taken``) is asked when a deadline
passes: of the bytes that waited in the transport's buffer, more have left
it. (Bytes the kernel took at once, a TLS handshake's or a small reply's,
say nothing of the client: they never count.) With that buffer empty, the
deadline asks the kernel's send queue, as raw sockets do
(``BaseConnection._timed_out``, ``_kernel_unsent``; Linux): a client that
took none of the replies only the kernel holds is ended one deadline later,
in WAITING too. (Until 2026-11-29 such a waiting request had no deadline: a
client that never read kept its connection, and a join its seat, for as long
as the request waited.)
"""

from __future__ import annotations

import asyncio
from typing import cast

from ._connection import BaseConnection, short_deadline
from ._connhost import ConnectionHost
from ._connstate import UNSENT_FULL
from ._unsent import kernel_unsent


class TransportConnection(BaseConnection, asyncio.Protocol):
    """A connection on an asyncio transport."""

    __slots__ = ("_transport", "_timer", "_buffered", "_taken", "_watching")

    def __init__(self, host: ConnectionHost) -> None:
        super().__init__(host)
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._buffered = 0  # bytes that waited in the transport's buffer
        self._taken = 0  # ... of them gone from it when the deadline was set
        self._watching = False  # paused for unsent replies: told when the buffer is empty

    # ------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, not always a subclass of asyncio.Transport: uvloop's is not
        transport = self._transport = cast(asyncio.Transport, transport)
        limit = self._host.settings.reply_buffer_max
        transport.set_write_buffer_limits(high=limit, low=limit // 4)
        peer = transport.get_extra_info("peername")
        self._set_deadline(self._host.settings.connection_timeout)
        self._opened(peer[0] if isinstance(peer, tuple) else str(peer))  # (HEADER's: short)
        refusal = self._refusal()
        if refusal is not None:
            self._refuse_beyond_limits(refusal)

    def data_received(self, data: bytes) -> None:
        self._received(data)

    def eof_received(self) -> bool:
        """The client's FIN: the transport stays open (True) until ``_close``, which comes
        at once, or once the replies held for their save are sent (asyncio's own close
        would drop them)."""
        self._eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._unsent_gone()
        self._gone()

    def pause_writing(self) -> None:
        self._writing_paused()

    def resume_writing(self) -> None:
        if self._unsent and self._transport is not None:
            self._unsent_now(self._transport.get_write_buffer_size())
        self._writing_resumed()

    # ------------------------------------------------------------ the transport

    def _write(self, data: bytes) -> None:
        transport = self._transport
        assert transport is not None
        before = transport.get_write_buffer_size()
        transport.write(data)
        after = transport.get_write_buffer_size()
        self._buffered += after - before
        if after or self._unsent:  # (only what stays unsent counts towards its address's)
            self._unsent_now(after)

    def _unsent_now(self, size: int) -> None:
        super()._unsent_now(size)
        if self._paused & UNSENT_FULL and not self._watching:
            self._watch_drain(True)

    def _unsent_resume(self) -> None:
        if self._watching:  # (first: what it serves now may stay in the buffer)
            self._watch_drain(False)
        super()._unsent_resume()

    def _watch_drain(self, watching: bool) -> None:
        """While paused for unsent replies, have asyncio say when its buffer is empty.

        asyncio says nothing as the client takes part of the buffer; only
        ``resume_writing`` once it is down to the low-water mark. So a
        connection paused for its address (or all) gets limits of 0: its
        ``pause_writing`` comes at once, its ``resume_writing`` (with the
        count of 0) once everything is sent. When it goes on, the limits are
        ``reply_buffer_max`` again (if more than a quarter of that is still
        unsent, ``OUTPUT_FULL`` lasts until it is not, as for any connection
        past its own bound).
        """
        self._watching = watching
        transport = self._transport
        if transport is not None and not transport.is_closing():
            limit = 0 if watching else self._host.settings.reply_buffer_max
            transport.set_write_buffer_limits(high=limit, low=limit // 4)

    def _close(self) -> None:
        assert self._transport is not None
        self._transport.close()

    def _can_half_close(self) -> bool:
        return self._transport is not None and self._transport.can_write_eof()

    def _half_close(self) -> None:
        assert self._transport is not None
        self._transport.write_eof()

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _pause_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def _set_deadline(self, seconds: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._unsent_seen = None
        if seconds is not None:
            self._taken = self._taken_now()
            self._timer = asyncio.get_running_loop().call_later(seconds, self._deadline_passed)

    def _set_short_deadline(self) -> None:
        self._set_deadline(short_deadline(self._host.settings))

    def _kernel_unsent(self) -> int | None:
        transport = self._transport
        if transport is None or transport.get_write_buffer_size():
            return None
        sock = transport.get_extra_info("socket")
        return None if sock is None else kernel_unsent(sock.fileno())

    def _taken_now(self) -> int:
        """The bytes that waited in the transport's buffer and left it (the client took
        them)."""
        transport = self._transport
        if transport is None:
            return self._taken
        return self._buffered - transport.get_write_buffer_size()

    def _deadline_passed(self) -> None:
        self._timer = None
        if self._unsent and self._transport is not None:  # (what left since is seen now)
            self._unsent_now(self._transport.get_write_buffer_size())
        if self._taken_now() > self._taken:  # the client read something meanwhile
            self._output_taken()
            if self._timer is not None:  # (the deadline started again)
                return
        self._timed_out()
