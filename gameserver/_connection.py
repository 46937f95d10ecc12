"""One client connection: what it does with requests, whatever carries its bytes.

Theory of operation
-------------------
A connection is always in one state of the table ``TRANSITIONS``
(``_connstate.py``: the states, what moves a connection between them, which
of them have a deadline); this module does what each state says.

A client that takes some of the replies waiting for it is alive, however
slowly it reads: the transport reports it (``_output_taken``), and the
deadline starts again (in any state but DRAINING, whose deadlines are
short: ``REFUSED_QUIET``). One that takes none of
them during a whole ``connection_timeout`` is ended, in every state: in
READING and CLOSING as the table says, in WAITING (and SERVING)
by an abort, its waiting request dropped as if the client had hung up (a
joiner's seat is given back). Otherwise a request that waits (a join until
its session fills, a blocking state) would hold up to ``reply_buffer_max``
of replies unsent, and its share of its address's and of all the bounds,
for as long as it waits, which may be for ever. So in WAITING a deadline
runs while replies are unsent: READING's, which lapses into it, or one set
as replies are first left unsent there (``_unsent_now``). Replies only
the kernel holds (the transport's own buffer is empty) count at a deadline
as the transport tells them (``_kernel_unsent``): while the kernel's send
queue changes from one deadline to the next the client is alive (it took
some, or replies came meanwhile: a subscription's pushes may grow the
queue faster than a slow reader takes them; a client that takes none is
ended once the queue is full, as replies then stay in the transport's
buffer); one whose queue stayed the same for a whole deadline is ended
(a raw socket did that; a TLS connection kept its waiting request for
ever until 2026-11-29; until then a queue that grew ended a waiting
client that was reading). A waiting request with nothing unsent has no
deadline (a join may wait ``join_timeout``), and costs no more than before.

Flow control is not a state: it pauses reading in any state. Reading stops
while the replies a client has not taken exceed ``reply_buffer_max``
(the transport reports it: ``_writing_paused`` / ``_writing_resumed``), and
while a request is being served and the next ones already buffered reach
``request_size_max``; and while replies held for their save (``_held.py``) reach
``reply_buffer_max``. So a client that sends and never reads holds at most
about twice ``reply_buffer_max`` of replies (unsent, and held) and
``request_size_max`` of requests. Reading and serving also pause
(``UNSENT_FULL``) while this connection leaves replies unsent (or holds
more than ``held_free`` for their save) and its address's connections
together, or all, leave more than their bounds (``_unsent.py``: the
transport reports what stays unsent, ``_unsent_now``, and what it drops as
it closes, ``_unsent_gone``; ``_recount`` adds the held bytes); it goes on
once its own are taken (held ones: saved and taken) or the address and all
are back under a quarter.

Replies are written in READING, SERVING and WAITING (and once more on the
way into CLOSING or DRAINING; replies held for their save (``_held.py``) also
while CLOSING or DRAINING, before the close). Subscriptions (``subscribe``: the states of a
view pushed as they change, ``_push.py``) live beside the state, not as
one: data the connection holds, pushing in READING and WAITING (never in
the middle of serving a request), paused with the output, and dropped on
every transition into CLOSING, DRAINING or CLOSED. A subscribed connection
is not idle: its READING deadline closes it only while the client does not
take its pushes (paused on replies it has not taken, for its own bound or its
address's: ``_takes_nothing``).

A reply that waits only for the store's commit (``Wait.saving``) is woken
as the commit lands, at the start of the next loop pass, and answered right
there; a classic connection whose first read gave such a request is not
registered with the loop meanwhile (two ``epoll_ctl`` calls and a loop pass
less per move: 127 -> 105 Python calls per classic request).

Replies held for their save on a kept-alive connection (their order, their
bounds, the close behind them) are ``HeldReplies``' (``_held.py``), a base
class of ``BaseConnection``.

A refused connection (DRAINING) is drained for a short bounded time, and
closed as soon as its client is quiet (``REFUSED_QUIET``, ``_drain``). A
connection from a proxy of ``proxy_protocol_from`` begins in HEADER: its
PROXY header (``_proxyheader.py``) names the client it counts as from then
on (``_read_header``); one missing, malformed, too large or late is refused.

Why this module is longer than our ~450 lines: serving, waiting, flow
control and the deadlines all decide what one connection does next (what
it reads, serves and writes, and when it closes), and read best side by
side.

The parts
---------
``BaseConnection`` does everything that does not depend on how bytes
travel; two subclasses carry them: ``RawConnection`` (``_rawconn.py``, plain
TCP on non-blocking sockets) and ``TransportConnection``
(``_transportconn.py``, asyncio transports; TLS in ``_tlsconn.py``). A
subclass provides the transport methods (``_write``, ``_close``,
``_can_half_close``, ``_half_close``, ``_abort``, ``_set_deadline``,
``_set_short_deadline``, ``_pause_reading``, ``_resume_reading``;
``_kernel_unsent`` where the kernel's send queue can be asked) and reports
what happens to it (``_opened``, ``_received``, ``_eof``, ``_gone``,
``_output_taken``, ``_writing_paused``, ``_writing_resumed``, ``_unsent_now``,
``_unsent_gone``, ``_timed_out``). What a connection needs from the server
is the narrow ``ConnectionHost`` (``_connhost.py``).
"""

from __future__ import annotations

import logging
from functools import partial
from time import monotonic, perf_counter

from . import protocol
from ._connhost import ConnectionHost
from ._connstate import (
    CLOSED,
    CLOSING,
    DRAINING,
    GONE,
    HANG_UP,
    HEADER,
    HEADER_READ,
    INPUT_FULL,
    LAST_REPLY,
    NOT_SERVING,
    OUTPUT_FULL,
    READ,
    READING,
    REFUSE,
    SERVING,
    TAKEN_RESTARTS,
    TIMED,
    TRANSITIONS,
    UNSENT_FULL,
    VERDICT,
    WAIT,
    WAITING,
    WAKE,
    Event,
    State,
    next_state,
)
from ._held import HeldReplies
from ._proxyheader import SIGNATURES, SLOW_HEADER_LOG, UNTRUSTED_LOG, ProxyHeaderError, parse
from ._push import Subscriptions
from .addresses import address_key, canonical_ip
from .config import Settings
from .framing import (
    TERMINATOR,
    HTTPRequest,
    RequestReader,
    TLSHandshake,
    UntrustedProxyHeader,
)
from .protocol import ProtocolError, decode, server_error
from .waits import Outcome, Wait

log = logging.getLogger("gameserver.server")

PUSH_REQUESTS = frozenset({"subscribe", "unsubscribe"})  # answered here, not by the lobby
TLS_ON_PLAIN = ("game port: a TLS handshake came, and this server has no TLS (--tls-cert, "
                "--tls-key); refused with a server: error in plain text (a client that "
                "calls enable_tls() for a server without it)")
HTTP_ON_GAME_PORT = ("game port: an HTTP request came (a browser or curl given the game "
                     "port, not the dashboard's); answered with an HTTP 400 saying so")
# What the log says of a refusal at a request's first look (``framing``), by its type.
OTHER_PROTOCOLS: dict[type[ProtocolError], str] = {
    TLSHandshake: TLS_ON_PLAIN, HTTPRequest: HTTP_ON_GAME_PORT,
    UntrustedProxyHeader: UNTRUSTED_LOG}
# A refused connection (DRAINING) is closed once its client sent nothing for REFUSED_QUIET
# seconds (it read its refusal, or will: nothing unread, so no reset destroys it), and
# aborted REFUSED_DRAIN_MAX seconds after the refusal however much it still sends, or
# whatever it leaves unread after the close (both at most connection_timeout). Its
# deadlines are short ones (``_set_short_deadline``), every REFUSED_QUIET seconds: the
# quiet close comes REFUSED_QUIET to twice that after its last bytes. Until 2026-12-01
# every refusal but the TLS port's to a plain client drained for a whole
# connection_timeout after it, however quiet the client (a script that kept its
# sockets open held its address's connections, a class's NAT, a minute each), and one
# refused near the end of its READING deadline about twice that in all.
REFUSED_QUIET = 2.0
REFUSED_DRAIN_MAX = 10.0
# Seconds a connection from a proxy of proxy_protocol_from has for its PROXY header (a
# proxy sends it as it connects), at most connection_timeout; checked at short deadlines.
PROXY_HEADER_DEADLINE = 5.0
# Rounds of the loop a connection beyond the limits waits for closes it has not seen yet
# before it is refused (``_recheck``): the loop may report a new connection, or a
# proxy's header naming its client, before the closes that came before it (asyncio's
# transports, too, report a new connection two rounds after accepting it).
LIMIT_RECHECKS = 2


class BaseConnection(HeldReplies):
    """One client connection, from connect to close, without its transport."""

    __slots__ = ("_host", "_reader", "_state", "_wait", "_keep_alive", "_paused", "_kind",
                 "_started", "_address", "_counted_as", "_subs", "_unsent", "_counted",
                 "_unsent_seen", "_header", "_heard", "_until")

    def __init__(self, host: ConnectionHost) -> None:
        self._host = host
        self._reader = RequestReader(host.settings.request_size_max)
        self._state = READING
        self._wait: Wait | None = None  # what a WAITING connection waits for
        self._keep_alive = False  # the last request asked for keep-alive
        self._paused = 0  # bits of ``_connstate`` (OUTPUT_FULL, ...): why reading is paused
        self._kind = "invalid"  # request type, for metrics
        self._started = 0.0  # when the request was complete
        self._address = ""  # the client's IP address
        self._counted_as = ""  # ... as the per-address bounds count it (its /64 for IPv6)
        self._subs: Subscriptions | None = None  # made by the first subscribe
        # HeldReplies' (``_held.py``: what each is there), set here: one __init__ call
        self._held = None
        self._held_bytes = 0
        self._held_unsaved = 0
        self._flush_due = False
        self._after_held = None
        self._unsent = 0  # bytes of replies the transport left unsent, as last reported
        # What host.unsent counts of this connection: _unsent, and its held bytes once they
        # are more than host.unsent.held_free (``_recount``)
        self._counted = 0
        # The kernel's unsent bytes when the last deadline passed with the transport's own
        # buffer empty (None: not asked since the deadline was set; ``_kernel_unsent``).
        self._unsent_seen: int | None = None
        self._header: bytearray | None = None  # HEADER: the PROXY header's bytes so far
        self._heard = 0.0  # DRAINING: when (``monotonic``) the client's last bytes came
        self._until = 0.0  # HEADER, DRAINING: when the wait for the header, the drain, ends

    @property
    def state(self) -> State:
        return self._state

    # ------------------------------------------------------------ what a transport provides

    def _write(self, data: bytes) -> None:
        """Send ``data`` (buffered if the client does not take it at once)."""
        raise NotImplementedError

    def _close(self) -> None:
        """Close once everything written is sent; stop reading now."""
        raise NotImplementedError

    def _can_half_close(self) -> bool:
        """Whether ``_half_close`` is possible (the transport can send our end)."""
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

    def _set_short_deadline(self) -> None:
        """Call ``_timed_out`` after ``short_deadline(settings)`` seconds, one length for
        every connection of a server (replacing any earlier deadline): HEADER's and
        DRAINING's, which the connection then checks against ``_until``."""
        raise NotImplementedError

    def _pause_reading(self) -> None:
        """Stop reading from the socket until ``_resume_reading``."""
        raise NotImplementedError

    def _kernel_unsent(self) -> int | None:
        """Bytes of replies the kernel's send queue still holds for the client while the
        transport's own buffer is empty (Linux: ``TIOCOUTQ``); else None. A transport
        that sets a deadline sets ``_unsent_seen`` to None."""
        return None

    def _resume_reading(self) -> None:
        """Read from the socket again."""
        raise NotImplementedError

    # ------------------------------------------------------------ the state machine

    def _go(self, event: Event) -> None:
        """Take the transition ``event``; set or clear the deadline of the new state."""
        try:  # next_state(), inline (a request's REQUEST and REPLIED are inline themselves)
            state = self._state = TRANSITIONS[self._state][event]
        except KeyError:
            next_state(self._state, event)  # raises ConnectionStateError
            raise
        if state in TIMED:
            self._set_deadline(self._host.settings.connection_timeout)
        elif state is CLOSED:
            self._set_deadline(None)
        elif state is DRAINING:
            self._drain()
        # else SERVING or WAITING: READING's deadline lapses (see the top)
        if self._subs is not None and state >= CLOSING:
            subs, self._subs = self._subs, None
            subs.drop()

    # ------------------------------------------------------------ transport events

    def _opened(self, address: str) -> None:
        """The connection is open: count it.

        Then the subclass checks ``_refusal``, starts reading and sets the
        deadline of READING (when is its choice: the raw path reads first,
        and most classic requests are served by that first read). A
        connection from a proxy of ``proxy_protocol_from`` reads its PROXY
        header first (HEADER, its short deadline set here), and is checked
        against the limits once the header names its client.
        """
        self._address = address
        counted_as = self._counted_as = address_key(address)
        registry = self._host.registry
        registry.add(self, counted_as)
        self._host.unsent.opened(self, counted_as)
        if registry.proxies and canonical_ip(address) in registry.proxies:
            self._state = HEADER
            self._header = bytearray()
            self._until = monotonic() + min(PROXY_HEADER_DEADLINE,
                                            self._host.settings.connection_timeout)
            self._set_short_deadline()

    def _refusal(self) -> bytes | None:
        """The reply that refuses this connection if it is beyond the limits, else None
        (and None until a PROXY header names the client: the proxy's own address is no
        client's)."""
        if self._state is HEADER:
            return None
        return self._host.registry.refusal(self._counted_as)

    def _read_header(self, data: bytes) -> bytes:
        """HEADER: ``data`` is more of the PROXY header (``_proxyheader.parse``). Once it
        is whole, the connection counts as the client it names (the proxy's own, a
        health check, as the proxy), READING begins, and the limits are checked: beyond
        them, the verdict waits for the loop's next rounds as a direct client's does
        (``_recheck``; a client behind the proxy that closes a connection and opens
        another must not be refused for the old one), nothing served meanwhile. A
        header that is missing, malformed or too large is refused (``_refuse_header``).
        Returns what came after the header, for the caller to read as the client's
        (b"" until then, or once refused; kept unserved while the verdict waits)."""
        header = self._header
        assert header is not None
        header += data
        try:
            parsed = parse(header)
        except ProxyHeaderError as err:
            self._refuse_header(err)
            return b""
        if parsed is None:  # (bounded: parse refuses a header beyond its size)
            return b""
        self._header = None
        if parsed.source is not None:
            host = self._host
            before, after = self._counted_as, address_key(parsed.source)
            host.registry.rekey(self, before, after)
            host.unsent.closed(self, before)
            host.unsent.opened(self, after)
            self._address, self._counted_as = parsed.source, after
        self._go(HEADER_READ)
        self._until = 0.0  # (HEADER's: the wait for the header is over)
        if self._refusal() is not None:
            self._pause(VERDICT)
            self._host.call_soon(partial(self._recheck, LIMIT_RECHECKS))
        return bytes(header[parsed.size:])

    def _recheck(self, rounds: int) -> None:
        """Beyond the limits: the verdict waits for the loop's next ``rounds``
        (``LIMIT_RECHECKS``) with nothing served; then the connection is refused if it
        is still beyond them (``_refuse_beyond_limits``), and goes on (``_rechecked``)."""
        if self._state is not READING:  # gone, or answered by a shutdown meanwhile
            return
        refusal = self._refusal()
        if refusal is not None and rounds > 1:
            self._host.call_soon(partial(self._recheck, rounds - 1))
            return
        self._unpause(VERDICT)
        if refusal is not None:
            self._refuse_beyond_limits(refusal)
        self._rechecked()

    def _rechecked(self) -> None:
        """The verdict is given (``_recheck``): serve what came meanwhile (with a PROXY
        header) and read on. A transport that had not started reading starts here."""
        self._go_on()

    def _refuse_header(self, err: ProxyHeaderError) -> None:
        """Refuse a connection whose PROXY header is missing, malformed, too large or late
        (logged, at most once per ``LOG_INTERVAL`` for each kind). It stops counting at
        once (``ConnectionRegistry.set_aside``): it counts as the proxy, whose address
        every client behind it shares (the proxy's health checks were refused for it
        while it drained)."""
        registry = self._host.registry
        registry.set_aside(self, self._counted_as)
        registry.other_protocol(self._address, err.log)
        self._refuse(err.reply())

    def _refuse_beyond_limits(self, reply: bytes) -> None:
        """Refuse this connection (``_refusal``): it stops counting towards the limits at
        once (``ConnectionRegistry.set_aside``)."""
        self._host.registry.set_aside(self, self._counted_as)
        self._refuse(reply)

    def _received(self, data: bytes) -> None:
        """Bytes from the client."""
        state = self._state
        if state is READING and not self._paused:
            try:
                raw = self._reader.feed(data)
            except ProtocolError as err:
                what = OTHER_PROTOCOLS.get(type(err))
                if what is not None:
                    self._host.registry.other_protocol(self._address, what)
                self._refuse(err.reply())
                return
            if raw is not None:
                self._serve(raw)
                if self._paused or self._reader.buffer:  # else it would find nothing to do
                    self._serve_buffered()
        elif state is READING or (self._keep_alive and (state is SERVING or state is WAITING)):
            # Kept for later; classic mode ignores what follows its request.
            reader = self._reader
            reader.feed_later(data)
            if reader.pending >= reader.size_max:
                self._pause(INPUT_FULL)
        elif state is DRAINING:  # dropped; the client is not quiet yet
            self._heard = monotonic()
        elif state is HEADER:
            rest = self._read_header(data)
            if rest:
                self._received(rest)

    def _eof(self) -> None:
        """The client closed its side: it is gone (its waiting request is dropped)."""
        if self._state is not CLOSING and self._state is not CLOSED:
            self._hang_up()

    def _gone(self) -> None:
        """The socket is closed: drop the waiting request, stop counting the connection."""
        if self._state is CLOSED:
            return
        self._drop_wait()
        self._drop_held()
        self._go(GONE)
        self._host.registry.remove(self, self._counted_as)
        self._host.unsent.closed(self, self._counted_as)

    def _writing_paused(self) -> None:
        """More than ``reply_buffer_max`` of replies are unsent: stop reading and serving."""
        self._pause(OUTPUT_FULL)

    def _output_taken(self) -> None:
        """The client took some of the replies waiting for it: it is alive, and reading
        (a slow reader of a large reply); the deadline starts again (not DRAINING's: there
        the client must stop sending; nor a refused connection's, bounded: ``_drain``)."""
        if self._state in TAKEN_RESTARTS and not self._until:
            self._set_deadline(self._host.settings.connection_timeout)

    def _writing_resumed(self) -> None:
        """The client took most of its replies: push, serve what came meanwhile, read again."""
        self._unpause(OUTPUT_FULL)
        if self._subs is not None and self._state is READING:
            self._set_deadline(self._host.settings.connection_timeout)  # a subscriber's life
        if self._held is not None:
            self._flush_held()
        self._go_on()

    def _unsent_now(self, size: int) -> None:
        """``size`` bytes of replies wait unsent in the transport now (reported when a
        write leaves some, and as the client takes them): they count towards the
        bounds of the address and of all (``_unsent.py``); beyond one, reading and
        serving pause until this connection's are sent, or the address's and all
        are back under a quarter of their bounds."""
        before, self._unsent = self._unsent, size
        if size and not before and self._state is WAITING:
            # A client that takes none of them meanwhile is ended (see the top).
            self._set_deadline(self._host.settings.connection_timeout)
        self._recount()

    def _recount(self) -> None:
        """Tell the account what this connection leaves unsent, and holds for their save
        once that is more than ``held_free`` (``_unsent.py``): beyond its address's bound or all,
        reading and serving pause (``UNSENT_FULL``)."""
        host = self._host
        held = self._held_bytes
        size = self._unsent + (held if held > host.unsent.held_free else 0)
        before, self._counted = self._counted, size
        if host.unsent.update(self, self._counted_as, before, size):
            self._pause(UNSENT_FULL)
        elif self._paused & UNSENT_FULL:  # (not now: this may be the middle of a write)
            host.call_soon(self._unsent_resume)

    def _unsent_gone(self) -> None:
        """The transport dropped its unsent bytes (the connection is closed)."""
        if self._unsent:
            self._unsent = 0
            self._recount()

    def unsent_resumed(self) -> None:
        """The address's and all unsent replies are back under a quarter of their bounds
        (``_unsent.Pausable``): go on at the loop's next pass."""
        self._host.call_soon(self._unsent_resume)

    def unsent_paused(self) -> None:
        """Its address is beyond its bound and the margin (``_unsent.Pausable``): read
        and serve nothing more, though nothing of its own is unsent."""
        self._pause(UNSENT_FULL)

    def _unsent_resume(self) -> None:
        if self._paused & UNSENT_FULL and self._state is not CLOSED:
            self._unpause(UNSENT_FULL)
            self._go_on()

    def _go_on(self) -> None:
        """Output may be written again: push what is due, serve what came meanwhile."""
        if self._paused & NOT_SERVING:
            return
        if self._subs is not None:
            self._subs.resume_due()
        self._serve_buffered()

    def _timed_out(self) -> None:
        """The deadline of the current state passed (see the table at the top)."""
        state = self._state
        if self._until and state is CLOSING:  # refused, or hung up in HEADER (``_hang_up``)
            if monotonic() < self._until or (self._held_unsaved
                                              and not self._takes_nothing()):
                # (replies held for their save, a slow disk: sent once saved, as below)
                self._set_short_deadline()
            else:
                self._abort()  # the client did not take what is unsent in the drain's time
            return
        if state in TAKEN_RESTARTS:
            unsent = self._kernel_unsent()
            # Only the kernel holds replies for the client, or held some at the last
            # deadline: it may have taken the rest since (not idle all along: it read a
            # moment ago, and a slow reader was hung up as it asked again).
            if unsent or (unsent == 0 and self._unsent_seen):
                # Changed since the last deadline: it took some (or pushes came meanwhile,
                # maybe faster than it takes them: it may be reading, ask again). Unchanged
                # for a whole deadline: it took none.
                if unsent != self._unsent_seen:
                    self._set_deadline(self._host.settings.connection_timeout)
                    self._unsent_seen = unsent
                    return
                if state is WAITING or state is SERVING:
                    self._abort()  # none of them taken during a whole deadline
                    return
        if state is SERVING or state is WAITING:
            if self._unsent:  # none of them taken during a whole deadline (see the top)
                self._abort()
            return  # else READING's, left to lapse (``_go``), or all taken meanwhile
        if (self._held_unsaved or self._paused & UNSENT_FULL) and not self._takes_nothing():
            # replies wait for their save (a slow disk), and what the client sent after
            # them (its next requests, its last one, a close) with them: it is not late;
            # nor while its address's other connections hold it up (``unsent_paused``)
            self._set_deadline(self._host.settings.connection_timeout)
        elif state is READING:
            if self._reader.pending or not self._keep_alive:  # a request not completed
                self._last_reply(server_error("connection timed out on server").reply())
            elif self._subs and not self._takes_nothing():  # waiting for pushes
                self._set_deadline(self._host.settings.connection_timeout)
            else:  # an idle kept-alive connection, or a client that takes nothing
                self._hang_up()
        elif state is DRAINING:
            now = monotonic()
            if now >= self._until:  # it sends on: it does not read its refusal
                self._abort()
            elif now - self._heard >= REFUSED_QUIET:  # quiet: it has sent all it will
                self._hang_up()  # (our FIN is out; the close follows what is unsent)
            else:
                self._set_short_deadline()
        elif state is HEADER:
            if monotonic() >= self._until:
                timeout = min(PROXY_HEADER_DEADLINE, self._host.settings.connection_timeout)
                self._refuse_header(ProxyHeaderError(
                    f"the PROXY header did not come whole within {timeout:g} s",
                    SLOW_HEADER_LOG))
            else:
                self._set_short_deadline()
        elif state is CLOSING:
            self._abort()

    def _takes_nothing(self) -> bool:
        """Paused on its own replies left unsent (for its bound, or its address's while it
        leaves some: not for held ones alone): at a deadline, it took none of them."""
        paused = self._paused
        return bool(paused & OUTPUT_FULL or paused & UNSENT_FULL and self._unsent)

    # ------------------------------------------------------------ serving

    def _serve(self, raw: bytes) -> None:
        # _go(REQUEST), inline (every caller serves in READING): SERVING has no deadline
        # to set (READING's lapses) and keeps the subscriptions
        self._state = SERVING
        self._started = perf_counter()
        host = self._host
        try:
            request, self._keep_alive = decode(raw, host.settings.max_json_depth)
        except ProtocolError as err:
            self._kind = "invalid"
            self._keep_alive = False
            if raw.startswith(SIGNATURES):  # and a whole request with it, in one read
                host.registry.other_protocol(self._address, UNTRUSTED_LOG)
                self._answer(UntrustedProxyHeader().reply())
            else:
                self._answer(err.reply())
            return
        kind = self._kind = request.kind
        if host.log_requests:
            log.debug("request %s", protocol.describe(request))
        if kind in PUSH_REQUESTS:  # answered here; a new subscription pushes after its reply
            subs = self._subs
            if subs is None:
                subs = self._subs = Subscriptions(host, self._emit, self._output_full,
                                                  self._hold_push)
            reply, sub = subs.request(request, self._address, self._keep_alive)  # type: ignore
            self._answer(reply)
            if sub is not None:
                subs.start(sub)
            return
        outcome = host.handle(request, self._address)
        if type(outcome) is bytes:  # (_deliver's first test)
            self._answer(outcome)
        else:
            self._deliver(outcome)

    def _output_full(self) -> bool:
        return bool(self._paused & NOT_SERVING)

    def _serve_buffered(self) -> None:
        """Serve the kept-alive requests already received, in turn, until one must wait.

        A loop, not recursion from one reply to the next request: a client may
        send thousands of requests in one packet.
        """
        reader = self._reader
        while self._state is READING and not self._paused & NOT_SERVING:
            try:
                raw = reader.next_request()
            except ProtocolError as err:
                self._refuse(err.reply())
                return
            if raw is None:
                break
            self._serve(raw)
        state = self._state
        if (state is WAITING or state is SERVING) and reader.pending >= reader.size_max:
            self._pause(INPUT_FULL)  # a request's worth waits behind this one: read no more
        elif self._paused & INPUT_FULL:  # (in READING the reader refuses what is too large)
            self._unpause(INPUT_FULL)

    def _answer(self, reply: bytes) -> None:
        """Write the reply of the request being served; then read on, or close."""
        host = self._host
        # _replied, inline (every request is answered here, or held: ``_held.py``)
        host.metrics.request_done(self._kind, reply, perf_counter() - self._started)
        if host.log_requests:
            _log_reply(reply)
        if not self._keep_alive:
            self._last_reply(reply)
            return
        self._emit(reply + TERMINATOR)
        if self._state is SERVING:  # else the client went away while we wrote
            # _go(REPLIED), inline: READING, whose deadline starts now
            self._state = READING
            self._set_deadline(host.settings.connection_timeout)

    def _replied(self, kind: str, reply: bytes, started: float) -> None:
        """Count the reply of a request of type ``kind`` complete since ``started``."""
        host = self._host
        host.metrics.request_done(kind, reply, perf_counter() - started)
        if host.log_requests:
            _log_reply(reply)

    def _last_reply(self, reply: bytes) -> None:
        """Write ``reply``, then close once it is sent."""
        self._go(LAST_REPLY)
        self._emit(reply)
        self._finish(close=True)

    def _refuse(self, reply: bytes) -> None:
        """Answer a request that is too large, without reading the rest of it.

        Closing a socket with unread bytes makes the kernel send a reset, which
        would destroy the reply before the client reads it. So the reply is
        followed by our half of the close, and what the client still sends is
        read and dropped until it closes, or is quiet (then closed: nothing is
        left unread to reset the connection), for a short bounded time at most
        (``_drain``; then aborted).
        """
        if not self._can_half_close():
            self._last_reply(reply)
            return
        self._go(REFUSE)
        self._reader = RequestReader(self._reader.size_max)  # let go of what was buffered
        self._unpause(INPUT_FULL)
        self._emit(reply)
        self._finish(close=False)

    def _drain(self) -> None:
        """Refused (DRAINING): drained until the client is quiet, at most a short bounded
        time (``REFUSED_QUIET``, ``REFUSED_DRAIN_MAX``), from now on. The bound holds
        after the drain too: closed once quiet, a client that does not take what is
        unsent (its refusal, replies before it) is aborted at its end (``_hang_up``)."""
        now = self._heard = monotonic()
        self._until = now + refused_drain_max(self._host.settings)
        self._set_short_deadline()

    def _hang_up(self) -> None:
        """Close without a reply (replies held for their save go out first). Refused
        (``_until`` set: see ``_drain``), CLOSING keeps the drain's end, checked at
        short deadlines, not ``connection_timeout`` (a client that read nothing held its
        refused connection that long, until 2026-12-01)."""
        self._drop_wait()
        self._go(HANG_UP)
        if self._until:
            self._set_short_deadline()
        self._finish(close=True)

    def _finish(self, close: bool) -> None:
        """Close (or half-close) once everything written is sent, held replies included."""
        if self._held is not None:
            self._after_held = close
            if close:  # CLOSING reads nothing (a socket at its end would stay readable)
                self._pause_reading()
        elif close:
            self._close()
        else:
            self._half_close()

    def shut_down(self, reply: bytes) -> None:
        """The server stops: answer a connection between requests with ``reply`` and close.

        Its subscriptions get ``reply`` pushed first. A waiting request (and
        the subscriptions beside it) is answered by the lobby as it closes
        its sessions.
        """
        if self._state is READING:
            if self._subs is not None:
                self._subs.shut_down(reply)
            self._last_reply(reply)

    def abort(self) -> None:
        """Close now, whatever is unsent."""
        self._abort()

    # ------------------------------------------------------------ flow control

    def _pause(self, reason: int) -> None:
        if not self._paused:
            self._pause_reading()
        self._paused |= reason

    def _unpause(self, reason: int) -> None:
        if not self._paused & reason:
            return
        self._paused &= ~reason
        if not self._paused and self._state in READ:
            self._resume_reading()

    # ------------------------------------------------------------ waiting (the lobby's Wait)

    def _deliver(self, outcome: Outcome) -> None:
        """Answer with ``outcome``, or wait for it while it is a ``Wait``."""
        host = self._host
        while isinstance(outcome, Wait):
            if not outcome.woken:
                if outcome.saving and self._keep_alive:
                    self._hold(outcome)
                    return
                self._wait = outcome
                self._go(WAIT)
                outcome.on_wake(self._woken)
                return
            outcome = host.resume(outcome.resume)
        self._answer(outcome)

    def _woken(self, now: bool) -> None:
        if now:  # the store's commit landed: nothing else is under way
            self._resume()
        else:  # never resume inside wake(): it runs in the middle of another request's change
            self._host.call_soon(self._resume)

    def _resume(self) -> None:
        """What the connection waited for happened (unless it was dropped meanwhile)."""
        wait, self._wait = self._wait, None
        if wait is None or self._state is not WAITING or wait.cancelled:
            return
        self._go(WAKE)
        self._deliver(self._host.resume(wait.resume))
        self._serve_buffered()
        if not self._paused and self._state in READ:
            self._resume_reading()  # a connection served before it was read from the loop

    def _drop_wait(self) -> None:
        """The client is gone: the lobby forgets its waiting request (a joiner's seat too)."""
        wait, self._wait = self._wait, None
        if wait is not None:
            wait.cancel()


def _log_reply(reply: bytes) -> None:
    # Only the start: a join reply carries the player's secret key.
    log.debug("reply of %d bytes: %s...", len(reply), reply[:24])


def short_deadline(settings: Settings) -> float:
    """Seconds of a short deadline (``_set_short_deadline``): one length per server."""
    return min(REFUSED_QUIET, settings.connection_timeout)


def refused_drain_max(settings: Settings) -> float:
    """Seconds a refused connection stays open at most after its refusal (``_drain``)."""
    return min(REFUSED_DRAIN_MAX, settings.connection_timeout)
