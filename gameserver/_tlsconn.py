"""TLS connections, encrypted here (``ssl.SSLObject``) so that a client's close keeps replies.

Why not asyncio's own TLS (``create_server(ssl=...)``): its SSL protocol shuts
the connection down as soon as the client closes its side (a TLS
close_notify or a TCP FIN), whatever the application still has to send,
and ignores the answer of ``eof_received`` (asyncio logs "returning true
from eof_received() has no effect when using ssl"). A kept-alive client
that sends its requests and then closes its side lost the replies held for
the store's commit (``_held.py``), which plain TCP sends
before it closes. TLS itself allows it: after the client's close_notify
the server may still send, then its own close_notify. So the records are
made and read here, between the plain transport and ``BaseConnection``,
through two memory buffers.

What a caller must know:

- The connection is counted (and refused beyond the limits) when TCP
  connects, before the handshake; the handshake must end before the first
  deadline (``connection_timeout``, as asyncio's ``ssl_handshake_timeout``
  was), or the connection is aborted.
- The handshake's steps (``do_handshake`` on the records received) run on
  a thread, not on the event loop (``_handshakes.py``: why, and the caps on
  them); while one runs or waits its turn the loop leaves the TLS object and
  its buffers alone: bytes that come meanwhile wait in ``_arrived``, up to
  ``ARRIVED_MAX`` (then reading pauses until the step ends; it goes on below
  that, so that a client that leaves while its step waits is seen to leave).
  A connection beyond the caps is closed.
- Replies written before the handshake ends (a refusal) wait for it, and
  so does our end that follows them; a server that stops aborts it.
- Flow control, and whether the client took some of its replies
  (``TransportConnection``), count the encrypted bytes in the plain
  transport's buffer.
- A client whose first byte cannot begin a TLS record (printable ASCII or
  whitespace: the JSON of a client without TLS, an HTTP request) is
  answered at once in plain text, with the ``server:`` error a plain port
  would give (``NOT_TLS``), then refused as below, and logged (at most once
  per ``_lograte.LOG_INTERVAL``). Until 2026-11-30 its bytes went to
  OpenSSL, whose failed handshake closed the connection unanswered: the
  client saw an empty reply, the log said nothing above DEBUG. What it
  still sends is dropped until it is quiet, as for any refusal (below).
  One whose first bytes are a PROXY protocol header is told so instead
  (``framing.UntrustedProxyHeader``), as a plain port tells it.
- A connection from a proxy of ``proxy_protocol_from`` begins with its
  PROXY header, in plain text before TLS (``BaseConnection._read_header``);
  what follows it in the same read is the ClientHello. A header missing,
  malformed, too large or late is refused in plain text, as a client
  without TLS is: TLS never starts.
- A refusal (a request too large, or a connection beyond the limits, said
  once the handshake ends) is followed by our close_notify and a TCP FIN,
  and what the client still sends is dropped unread, as plain TCP drains
  it: a close with unread bytes would reset the connection before the
  client read its refusal. The drain is short (``_connection.REFUSED_QUIET``,
  ``REFUSED_DRAIN_MAX``): quiet is counted once the refusal is out, and
  the handshake it waits for must end within ``REFUSED_DRAIN_MAX`` of the
  refusal (a refused client that never began one was held until
  ``connection_timeout``, set aside from the limits, until 2026-12-01).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from time import monotonic

from ._connection import refused_drain_max
from ._connhost import ConnectionHost
from ._connstate import DRAINING, HEADER, READING
from ._handshakes import Handshakes
from ._proxyheader import UNTRUSTED_LOG, ProxyHeaderError, looks_like
from ._transportconn import TransportConnection
from .framing import UntrustedProxyHeader
from .protocol import server_error

log = logging.getLogger("gameserver.server")

RECV_SIZE = 64 * 1024  # plain bytes taken from the TLS object per read
ARRIVED_MAX = 64 * 1024  # bytes kept while a handshake's step runs; beyond, reading pauses
# A connection's first bytes that no TLS record begins with (its first byte is its type,
# 0x14-0x18, or an SSLv2 hello's length, 0x80 and up): JSON (or HTTP) without TLS.
PLAIN_FIRST = frozenset(b"\t\n\r" + bytes(range(0x20, 0x7F)))
NOT_TLS = server_error("this port speaks TLS only, and the request came without it: connect "
                       "with TLS (game_server_api: call enable_tls() before join())").reply()
NOT_TLS_LOG = ("TLS game port: a request came without TLS (a client that does not call "
               "enable_tls()); answered with a server: error in plain text")


class TLSConnection(TransportConnection):
    """A connection whose bytes are encrypted with TLS, on a plain asyncio transport."""

    __slots__ = ("_incoming", "_outgoing", "_tls", "_ready", "_early", "_early_end",
                 "_app_reading", "_decrypt_due", "_fin", "_eof_seen", "_tls_shut",
                 "_handshakes", "_stepping", "_unstepped", "_arrived", "_arrived_bytes",
                 "_plain")

    def __init__(self, host: ConnectionHost, context: ssl.SSLContext,
                 handshakes: Handshakes) -> None:
        super().__init__(host)
        self._handshakes = handshakes  # the threads that run the handshake's steps
        self._stepping = False  # a step runs, or waits its turn: hands off the TLS object
        self._unstepped = False  # records came that no step has seen yet
        self._arrived: list[bytes] = []  # bytes that came while _stepping
        self._arrived_bytes = 0
        self._incoming = ssl.MemoryBIO()  # records from the client, not read yet
        self._outgoing = ssl.MemoryBIO()  # records for the client, not sent yet
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._ready = False  # the handshake ended
        self._early: list[bytes] = []  # written before it did
        # ... and our end too (``_close`` or ``_half_close``): once they are sent
        self._early_end: Callable[[], None] | None = None
        self._app_reading = True  # the connection reads (it may pause, see _pause_reading)
        self._decrypt_due = False  # a _decrypt is scheduled
        self._fin = False  # the client's TCP FIN came
        self._eof_seen = False  # its close_notify or FIN was reported (_eof)
        self._tls_shut = False  # our close_notify is written: nothing more can be
        self._plain: bool | None = None  # the client speaks no TLS (None: nothing came yet)

    # ------------------------------------------------------------ asyncio callbacks

    def data_received(self, data: bytes) -> None:
        if self._tls_shut:  # our close_notify is out: what comes is dropped unread
            self._heard = monotonic()  # (DRAINING: not quiet yet)
            return
        if self._state is HEADER:  # (from a proxy: its PROXY header comes first)
            data = self._read_header(data)
            if not data or self._tls_shut:  # (a header refused: _refuse_header)
                return
        if self._plain is None:  # the client's first bytes
            self._plain = data[0] in PLAIN_FIRST
            if self._plain:
                if looks_like(data):  # a PROXY header from anyone else
                    self._refuse_plain(UntrustedProxyHeader().reply(), UNTRUSTED_LOG)
                else:
                    self._refuse_plain(NOT_TLS, NOT_TLS_LOG)
                return
        if self._stepping:  # kept for the step's end, up to ARRIVED_MAX
            self._arrived.append(data)
            self._arrived_bytes += len(data)
            if self._arrived_bytes > ARRIVED_MAX:
                super()._pause_reading()
            return
        self._incoming.write(data)
        if not self._ready:
            self._unstepped = True
        self._decrypt()

    def eof_received(self) -> bool:
        """The client's TCP FIN: the records before it are read first; the transport
        stays open for the replies still to send (``_close`` ends it).

        OpenSSL is not told (``MemoryBIO.write_eof``): an end without close_notify
        is an error to it, after which it would send nothing more.
        """
        self._fin = True
        if not self._stepping:  # (else the step's end goes on)
            self._decrypt()
        return True

    # ------------------------------------------------------------ records in

    def _decrypt(self) -> None:
        """Go on with the handshake, then hand the client's bytes to the connection while
        it reads; an end of the client's side (close_notify, FIN) is its ``_eof``."""
        self._decrypt_due = False
        if self._stepping:  # the TLS object is a thread's (the step's end goes on)
            return
        if self._tls_shut:  # our close_notify is out (a refusal): only the end counts
            if self._fin:
                self._client_ended()
            return
        if not self._ready:
            if self._unstepped:
                self._next_step()
            elif self._fin:  # the client's end before the handshake's
                self._abort()
            return
        tls = self._tls
        try:
            while (self._app_reading and not self._eof_seen and not self._tls_shut
                   and self._open()):
                data = tls.read(RECV_SIZE)
                if not data:  # close_notify
                    self._client_ended()
                    break
                self._received(data)
        except ssl.SSLWantReadError:  # every whole record is read
            if self._fin and self._app_reading:
                self._client_ended()
        except ssl.SSLZeroReturnError:
            self._client_ended()
        except ssl.SSLError as err:  # not TLS, a failed handshake, a corrupt record
            log.debug("TLS connection from %s ended: %s", self._address or "?", err)
            self._abort()
            return
        self._send_records()
        if self._ready and not self._app_reading:
            super()._pause_reading()  # (the handshake needed reading, the connection not)

    def _refuse_plain(self, reply: bytes, what: str) -> None:
        """The client speaks no TLS (or its proxy's header is refused): ``reply`` in plain
        text, as a plain port says it (then our FIN, and what it still sends drained until
        it is quiet), logged as ``what``; TLS never starts."""
        self._host.registry.other_protocol(self._address, what)
        if self._state is not READING and self._state is not HEADER:
            self._abort()  # refused for the limits already: said in TLS, never now
            return
        self._plain = True
        self._ready = self._tls_shut = True  # (no handshake, and no TLS record, ever)
        self._refuse(reply)

    def _refuse_header(self, err: ProxyHeaderError) -> None:
        """A PROXY header refused: in plain text, before TLS (see the top); it stops
        counting at once, as ``BaseConnection._refuse_header`` says."""
        self._host.registry.set_aside(self, self._counted_as)
        self._refuse_plain(err.reply(), err.log)

    def _drain(self) -> None:
        """Refused: drained once the refusal is out; before the handshake ends it waits for
        it (``_handshake_done``), and the handshake must end within the drain's time."""
        if self._ready:
            super()._drain()
            return
        seconds = refused_drain_max(self._host.settings)
        self._until = monotonic() + seconds
        self._set_deadline(seconds)  # (``_deadline_passed``: no handshake in time, aborted)

    # ------------------------------------------------------------ the handshake

    def _next_step(self) -> None:
        """Hand the records received to a thread for the handshake's next step."""
        self._unstepped = False
        self._stepping = True
        if not self._handshakes.step(self, self._counted_as):
            self._stepping = False
            self._abort()

    def step(self) -> BaseException | None:
        """The handshake's next step, on a thread (``Handshakes``): None once it ended,
        else what ``do_handshake`` raised (``SSLWantReadError``: more records needed)."""
        try:
            self._tls.do_handshake()
        except Exception as err:  # noqa: BLE001 - handed to stepped(), on the loop
            return err
        return None

    def stepped(self, outcome: BaseException | None) -> None:
        """The step's outcome, on the loop: the handshake ended, needs more records (the
        ones that came meanwhile, or the client's next), or failed."""
        self._stepping = False
        if not self._open():  # closed meanwhile (aborted, or by its deadline)
            return
        arrived, self._arrived = self._arrived, []
        self._arrived_bytes = 0
        for data in arrived:
            self._incoming.write(data)
            self._unstepped = True
        if outcome is None:
            self._handshake_done()
        elif not isinstance(outcome, ssl.SSLWantReadError):  # not TLS, a failed handshake
            log.debug("TLS connection from %s ended: %s", self._address or "?", outcome)
            self._abort()
            return
        self._send_records()
        if not self._ready or self._app_reading:
            super()._resume_reading()
        self._decrypt()

    def _handshake_done(self) -> None:
        self._ready = True
        early, self._early = self._early, []
        for data in early:
            self._write(data)
        if self._early_end is not None:
            self._early_end()
        if self._state is DRAINING:  # a refusal, out now: quiet is counted from here
            self._heard = monotonic()
            self._set_short_deadline()

    def _open(self) -> bool:
        transport = self._transport
        return transport is not None and not transport.is_closing()

    def _client_ended(self) -> None:
        if not self._eof_seen:
            self._eof_seen = True
            self._eof()

    # ------------------------------------------------------------ records out

    def _send_records(self) -> None:
        records = self._outgoing.read()
        if records and self._open():
            super()._write(records)

    def _write(self, data: bytes) -> None:
        if not self._ready:
            self._early.append(data)
            return
        if self._tls_shut:
            if self._plain:  # a client without TLS: its refusal, in plain text
                super()._write(data)
            return
        try:
            self._tls.write(data)
        except ssl.SSLError as err:
            log.debug("TLS connection from %s ended: %s", self._address or "?", err)
            self._abort()
            return
        self._send_records()

    def _close(self) -> None:
        """Send what is written, our close_notify, then close (once the transport sent it)."""
        if not self._open():
            return
        if not self._ready:  # a refusal: sent once the handshake ends
            self._early_end = self._close
            return
        self._shut_tls()
        self._transport.close()  # type: ignore[union-attr]

    def _shut_tls(self) -> None:
        """Send our close_notify after what is written: nothing more can be."""
        if not self._tls_shut:
            self._tls_shut = True
            try:
                self._tls.unwrap()
            except ssl.SSLError:  # (want-read: the client's close_notify need not come)
                pass
            self._send_records()

    def _can_half_close(self) -> bool:
        """A refusal is followed by our close_notify and a FIN, and what the client still
        sends is dropped unread until its end (DRAINING), so that closing with unread
        bytes does not reset the connection before the client read its refusal. Before
        the handshake ends (a connection beyond the limits) both wait for it: a client
        sends its request right after its handshake, and was reset (a large one)."""
        return self._open() and self._transport.can_write_eof()  # type: ignore[union-attr]

    def _half_close(self) -> None:
        if not self._open():
            return
        if not self._ready:
            self._early_end = self._half_close
            return
        self._shut_tls()
        self._transport.write_eof()  # type: ignore[union-attr]

    def _pause_reading(self) -> None:
        self._app_reading = False
        if self._ready:  # until the handshake ends, its records are read regardless
            super()._pause_reading()

    def _resume_reading(self) -> None:
        if self._app_reading:
            return
        self._app_reading = True
        if self._ready:  # (before, the handshake's steps pause and resume it)
            super()._resume_reading()
        if not self._decrypt_due:  # records already in may hold requests (or the end)
            self._decrypt_due = True
            asyncio.get_running_loop().call_soon(self._decrypt)

    def _abort(self) -> None:
        if self._stepping:  # a step that waits its turn: no longer
            self._handshakes.forget(self)
        super()._abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stepping:
            self._handshakes.forget(self)
        super().connection_lost(exc)

    def shut_down(self, reply: bytes) -> None:
        """The server stops: before the handshake ends nothing can be said, so close now
        (the server would wait for the handshake until its grace period ends)."""
        if self._ready:
            super().shut_down(reply)
        else:
            self._abort()

    def _deadline_passed(self) -> None:
        if not self._ready and self._state is not HEADER:  # the handshake takes too long
            self._timer = None
            self._abort()
            return
        super()._deadline_passed()
