"""Plain TCP on a raw non-blocking socket, watched by the event loop directly.

Why not asyncio's transports: a classic client opens one connection per
request, and for such a short life asyncio's machinery (a transport object
per connection, protocol callbacks, ``call_soon`` for every state change,
two ``TimerHandle``s) cost several times what serving the request does.
Here a connection is one object: the loop calls it when its socket is
readable (``add_reader``), replies go out with ``socket.send`` directly, and
``add_writer`` is used only when the kernel's send buffer is full.

Deadlines are entries in a dict the listener sweeps (``_rawlisten.py``):
setting one is a dict insert, clearing one a dict pop. They are times of
``time.monotonic()`` (the standard loop's ``time()``, without its call).
Short deadlines (a refused connection's drain, a proxy's wait for its PROXY
header: ``_set_short_deadline``) are in a dict of their own, since each dict
is kept in deadline order by holding deadlines of one length only; an entry
there left behind by a connection that moved on is dropped when due.

Replies are corked while one read is served: a client that sends several
kept-alive requests in one packet (a learning loop sends a move and the
next state together) gets their replies in one ``send``, not one each;
the cork opens at the end of the read, before a close or half-close, and
once it holds more than ``CORK_MAX`` bytes (or ``reply_buffer_max``, if
less). It holds nothing while earlier replies wait unsent: what it held
would only wait behind them, beyond the bound of flow control.

Flow control: once more than ``reply_buffer_max`` bytes of replies wait in a
connection's own buffer (the kernel's is full), the connection stops reading
and serving; when the client has taken all but a quarter of them, it goes on.
What waits in that buffer also counts towards the bounds of its address and
of all (``_unsent.py``): reported when a write leaves bytes there, as
``send`` takes them, and as 0 when the socket closes; a write the kernel
takes whole reports nothing.

A client that takes some of its replies is alive (``_output_taken``): as
``send`` takes bytes of our buffer, and, when a deadline passes with our
buffer empty, as the kernel's send queue changes (Linux: ``TIOCOUTQ``). The
kernel may hold megabytes of replies for a slow reader; a client that takes
none of them is timed out one deadline later than one with nothing unsent;
in WAITING too (``BaseConnection._timed_out`` asks ``_kernel_unsent``: a
waiting request whose client takes none of its replies is ended).
"""

from __future__ import annotations

import _socket
import asyncio
import socket
from time import monotonic as _monotonic

from ._connection import LIMIT_RECHECKS, BaseConnection, short_deadline
from ._connhost import ConnectionHost
from ._connstate import OUTPUT_FULL, READ, READING, WAITING
from ._unsent import kernel_unsent

# Bytes asked for per read. Not asyncio's 256 KiB: a buffer that large is above
# malloc's mmap threshold, so every read would map, shrink and unmap fresh memory
# (three system calls and a page fault; 8.6 against 0.8 µs per small read here).
RECV_SIZE = 64 * 1024

CORK_MAX = 64 * 1024  # bytes of replies held back while a read is served

# connection -> deadline (loop time); kept in insertion order, which is deadline order
Deadlines = dict["RawConnection", float]

class RawConnection(BaseConnection):
    """A plain-TCP connection on a non-blocking socket."""

    __slots__ = ("_loop", "_deadlines", "_short", "_sock", "_fd", "_out", "_reading",
                 "_corked", "_corked_bytes", "_cork_max", "_when_sent")

    def __init__(self, host: ConnectionHost, loop: asyncio.AbstractEventLoop,
                 deadlines: Deadlines, short: Deadlines, sock: _socket.socket) -> None:
        super().__init__(host)
        self._loop = loop
        self._deadlines = deadlines  # shared by every connection of the listener
        self._short = short  # ... and the short ones (see the top)
        self._sock: _socket.socket | None = sock  # None once closed
        self._fd = sock.fileno()
        self._out = bytearray()  # written, but not yet taken by the kernel
        self._reading = False  # registered with the loop's add_reader
        self._corked: list[bytes] | None = None  # replies held back while a read is served
        self._corked_bytes = 0
        # Flow control bounds the cork and _out together (see the top).
        self._cork_max = min(CORK_MAX, host.settings.reply_buffer_max)
        # What _close (True) or _half_close (False) left to do once _out is sent. Not
        # the state: a connection may be CLOSING or DRAINING while replies held for
        # their save are still to be written behind _out.
        self._when_sent: bool | None = None

    def start(self, address: str) -> None:
        """Serve the connection, just accepted from ``address``.

        Beyond the connection limits, the verdict waits for the loop's next
        rounds (``BaseConnection._recheck``): the loop may report a new
        connection before the closes that came before it, and a client that
        closes some connections and opens others must not be refused for the
        old ones. Nothing is read meanwhile.
        """
        self._opened(address)
        if self._refusal() is None:
            self._start_reading()
        else:
            self._loop.call_soon(self._recheck, LIMIT_RECHECKS)

    def _rechecked(self) -> None:
        super()._rechecked()  # (what came with a PROXY header)
        self._start_reading()

    def _start_reading(self) -> None:
        """Read what has arrived, then let the loop call us when more does.

        A classic client sends its request right after connecting, so it has
        usually arrived by the time we accept: reading at once often serves
        and closes the connection before it is ever registered with the loop.
        """
        self._on_readable()
        if self._sock is None:
            return
        state = self._state
        if state is READING and self not in self._deadlines:
            # The rest of a request is due (a kept-alive reply set READING's deadline).
            self._set_deadline(self._host.settings.connection_timeout)
        if state is WAITING and self._wait is not None and self._wait.saving:
            return  # answered after the commit (``_resume`` reads on if it stays open)
        if not self._paused and state in READ:
            self._resume_reading()

    # ------------------------------------------------------------ loop callbacks

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset by the client
            self._abort()
            return
        if data:
            corked = self._corked = []
            try:
                self._received(data)
            finally:
                # The cork ends before what it held is sent: nothing written meanwhile
                # (by a callback of the send) can wait in it.
                self._corked = None
                if corked:
                    self._send_held(corked)
        else:  # the client closed its side: it is gone
            self._eof()

    def _on_writable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        out = self._out
        try:
            sent = sock.send(out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._abort()
            return
        del out[:sent]
        if sent:  # (a deadline of the READING or CLOSING it may be in starts again)
            self._output_taken()
            self._unsent_now(len(out))
        if not out:
            self._loop.remove_writer(self._fd)
            when_sent, self._when_sent = self._when_sent, None
            if when_sent is not None:
                if when_sent:
                    self._shut()
                else:
                    self._shutdown_write()
                return
        if self._paused & OUTPUT_FULL and len(out) <= self._host.settings.reply_buffer_max // 4:
            self._writing_resumed()

    # ------------------------------------------------------------ the transport

    def _write(self, data: bytes) -> None:
        """Send ``data``, or hold it back while a read is served (the cork, see the top)."""
        corked = self._corked
        if corked is None or self._out:  # (the cork is empty while _out is not)
            self._send(data)
            return
        corked.append(data)
        self._corked_bytes += len(data)
        if self._corked_bytes > self._cork_max:
            self._uncork()

    def _uncork(self) -> None:
        """Send the replies held back, in one piece."""
        corked = self._corked
        if corked:
            self._send_held(corked)

    def _send_held(self, corked: list[bytes]) -> None:
        """Send the replies in ``corked`` (held back), in one piece, and empty it."""
        data = b"".join(corked)  # (one reply: itself, not a copy)
        corked.clear()
        self._corked_bytes = 0
        self._send(data)

    def _send(self, data: bytes) -> None:
        """Send ``data`` now, keeping what the kernel does not take; past
        ``reply_buffer_max`` kept, stop reading and serving (flow control)."""
        sock = self._sock
        if sock is None:
            return
        out = self._out
        if out:  # behind what is already waiting
            out += data
        else:
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:  # reset by the client
                self._abort()
                return
            if sent == len(data):
                return
            out += memoryview(data)[sent:]
            self._loop.add_writer(self._fd, self._on_writable)
        if len(out) > self._host.settings.reply_buffer_max and not self._paused & OUTPUT_FULL:
            self._writing_paused()
        self._unsent_now(len(out))  # (only what stays unsent counts towards its address's)

    def _close(self) -> None:
        if self._sock is None:
            return
        self._uncork()
        if not self._out:
            self._shut()
        else:  # _on_writable shuts once the rest is sent
            self._when_sent = True
            self._pause_reading()

    def _can_half_close(self) -> bool:
        return True

    def _half_close(self) -> None:
        self._uncork()
        if self._sock is None:
            return
        if self._out:  # _on_writable does it once the rest is sent
            self._when_sent = False
        else:
            self._shutdown_write()

    def _abort(self) -> None:
        self._shut()

    def _set_deadline(self, seconds: float | None) -> None:
        deadlines = self._deadlines
        deadlines.pop(self, None)
        self._unsent_seen = None
        if seconds is not None and self._sock is not None:
            deadlines[self] = _monotonic() + seconds

    def _set_short_deadline(self) -> None:
        self._deadlines.pop(self, None)
        short = self._short
        short.pop(self, None)
        if self._sock is not None:
            short[self] = _monotonic() + short_deadline(self._host.settings)

    def _kernel_unsent(self) -> int | None:
        if self._out or self._sock is None:
            return None
        return kernel_unsent(self._fd)

    def _pause_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _resume_reading(self) -> None:
        if not self._reading and self._sock is not None:
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    # ------------------------------------------------------------ the socket

    def _shutdown_write(self) -> None:
        assert self._sock is not None
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:  # the client is gone already
            self._abort()

    def _shut(self) -> None:
        """Close the socket now (what is not sent yet is dropped), once."""
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        self._pause_reading()
        if self._corked:
            self._corked.clear()
        if self._out:
            self._loop.remove_writer(self._fd)
            self._out.clear()
            self._unsent_gone()
        sock.close()
        self._gone()
