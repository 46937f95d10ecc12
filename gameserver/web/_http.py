"""A small HTTP/1.1 server on the game server's event loop: bounded in every way.

Theory of operation
-------------------
Each accepted connection is one asyncio task that reads a request head,
asks the application (``App``) for a ``Response`` or an ``EventStream``,
writes it, and reads the next request (keep-alive) until the client or the
server closes. A request is its head (at most ``HEAD_MAX`` bytes and
``HEADERS_MAX`` header lines, each line ending in CR LF: ``read_head``) and, for
``POST`` only (the play endpoints), a body of at most ``BODY_MAX`` bytes
announced by ``Content-Length``.

What keeps it from stalling or starving (issue 14):

* **A deadline per request, not per read.** The whole head (and body) must arrive
  within ``REQUEST_DEADLINE`` seconds of the moment the connection started
  waiting for it (also the idle limit of a kept-alive connection); one byte
  every few seconds does not keep a connection alive. Writing a reply has
  its own deadline (``WRITE_DEADLINE``).
* **Caps.** At most ``max_connections`` connections are served at once, and
  at most ``max_per_address`` from one client address. A connection beyond
  either cap is not refused blindly: it is *triaged*. It gets
  ``TRIAGE_DEADLINE`` seconds to send a short head; ``/healthz`` is
  answered, anything else gets ``503`` with ``Retry-After``. At most
  ``TRIAGE_MAX`` connections are in triage; a new one pushes out the
  oldest. So ``/healthz`` is answered even while one address holds its
  whole share with idle sockets, and starving the dashboard takes more
  sockets than one address may hold.
* **Behind a proxy** (setting ``web_trusted_proxies``): a request whose
  connection comes from a trusted proxy counts as the address the rightmost
  entry of its ``X-Forwarded-For`` names (``forwarded_client``), for every
  per-address bound of the application (the token throttle, invite links,
  bots) and the log; the proxy's connections count against
  ``max_connections`` only, not ``max_per_address`` (they are counted when
  accepted, before any header, and one carries the requests of many
  visitors). A request from the trusted address that names no client (the
  operator's ``ssh -L``, a program on that machine, a proxy that does not
  add the header) is vouched for by nobody: it counts as its peer, as if
  the proxy were not trusted, and from then on its connection counts
  against ``max_per_address`` too (beyond it: ``/healthz`` answered, ``503``
  to the rest, as in triage). Until 2026-12-01 such connections were
  bounded by ``max_connections`` only. From any other peer the header is
  ignored.
* **Event streams are bounded.** An ``EventStream`` writes without waiting;
  when the bytes its client has not read reach ``STREAM_BUFFER_MAX``, or
  its buffer did not drain between two keep-alive pings, the stream is
  dropped (the browser reconnects and gets the current state). A stream
  whose client closes its side is ended at once (its ``run`` is
  cancelled), so a waiting request it carries is given up without delay.
  One event can therefore never be larger than ``STREAM_BUFFER_MAX``:
  the application checks ``fits`` and sends something smaller instead
  (``_streams``, ``_play``), because a dropped stream's browser reconnects
  and would be sent the same event again, forever.
* **And bounded together** (``StreamBudget``): every stream's unread bytes
  count against ``web_stream_buffer_max_total``; once they exceed it, the
  streams with the most unread are dropped until they hold 7/8 of it (512
  connections of 512 KiB each were 256 MiB the server held for clients that
  did not read).

Everything runs on the loop: nothing here blocks, and the application's
handlers must not either (see ``dashboard.py``).

(About 800 lines, on purpose: every bound of a connection, from its first
byte to its stream's last event, is here to be read and reviewed together.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .._lograte import LogRate, since
from ..addresses import address_key, canonical_ip
from ..protocol import server_error

log = logging.getLogger("gameserver.web")

HEAD_MAX = 16 * 1024  # bytes: request line and headers together
HEADERS_MAX = 100  # header lines in a request head, at most (a browser sends about 20)
# Parts of a path and fields of a query (or a login form), at most: the dashboard's have a
# few. Every request's are decoded before anything else (before the token is looked at),
# on the game server's loop: 16 KiB of "a&" took 5-14 ms, of "%41/" 11 ms, from anyone.
PATH_PARTS_MAX = 32
FIELDS_MAX = 32
BODY_MAX = 64 * 1024  # bytes: the body of a POST (a move, a join)
TRIAGE_HEAD_MAX = 2048  # bytes a triaged connection may send
REQUEST_DEADLINE = 10.0  # seconds to send a whole request head (and idle keep-alive limit)
WRITE_DEADLINE = 30.0  # seconds a reply may take to be taken by the client
TRIAGE_DEADLINE = 2.0  # seconds a connection beyond a cap has to send its head
TRIAGE_MAX = 64  # connections in triage at once; the oldest is pushed out
STREAM_BUFFER_MAX = 512 * 1024  # bytes a stream's client may leave unread
STREAM_PING = 15.0  # seconds between keep-alive comments on a quiet stream
BUSY_LOG_INTERVAL = 60.0  # seconds between two "busy" log lines
LINGER_SECONDS = 2.0  # after our last reply: how long to wait for the client to close
LINGER_MAX = 256 * 1024  # ... and how much of what it still sends to discard meanwhile
# Refused when repeated (400): a proxy in front may read the other one. The framing
# headers would let a request hide in another; Host too (RFC 9112, 3.2: a server MUST
# refuse two), since the check against DNS rebinding reads the last and a proxy may route
# by the first (until 2026-11-30 two Hosts were served).
ONCE_HEADERS = ("content-length", "transfer-encoding", "host")
# Control characters a request line or a header line may not hold (a header's value may
# hold a tab): a bare LF or CR ends a line for some proxies and not for us, so they would
# read other headers (a Content-Length) than we do, and a request could hide in another.
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# RFC 9112, 2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
BARE_LF = ("bad request: a line of the head ends with LF alone; lines end with CR LF "
           "(RFC 9112)")

# frame-src 'self': a game author's renderer frame (/renderers/GAME.html) is checked against
# it on every navigation, its own included, so it cannot take what it was shown to another
# site in an address (default-src says the same; this is not left to a fallback).
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; "
     "frame-ancestors 'none'"),
)


class HTTPError(Exception):
    """Ends a request with ``status`` and a JSON ``{"error": message}``."""

    def __init__(self, status: int, message: str,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


@dataclass(slots=True)
class Request:
    """One parsed request head. ``parts`` is the path split at "/" and then decoded."""

    method: str
    target: str
    version: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    client: str
    path: str = ""
    parts: list[str] = field(default_factory=list)
    query: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""

    def param(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[-1]

    def int_param(self, name: str, default: int | None) -> int | None:
        value = self.param(name)
        if value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise HTTPError(400, f"{name} must be a whole number") from None

    @property
    def media_type(self) -> str:
        """The body's media type named by ``Content-Type``, without its parameters, in lower case.

        Type and subtype are case-insensitive (RFC 9110, 8.3.1): ``Application/JSON;
        charset=UTF-8`` is ``application/json``. Every check of a body's type reads it here,
        so none of them refuses a case another accepts. "" without the header.
        """
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def refuse_other_sites(self, what: str, refusal: str) -> None:
        """Refuse a request with side effects that another site's page could have made
        (CSRF): ``what`` ("a play request") must have a JSON body (415), and where the
        browser names the page's origin (``Sec-Fetch-Site``, ``Origin``) it must be this
        server (403, ``refusal``).

        A page elsewhere cannot send that content type without asking first (a CORS
        preflight, which this server never grants); a client that is no browser (the
        command line) names no origin.
        """
        if self.media_type != "application/json":  # in any case: a form cannot send it
            raise HTTPError(415, f"{what} has a JSON body (Content-Type: application/json)")
        headers = self.headers
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            raise HTTPError(403, refusal)
        origin = headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != headers.get(
                "host", "").lower():
            raise HTTPError(403, refusal)

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.1":
            return "close" not in connection
        return "keep-alive" in connection


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()
    # Called once the client has taken the body, or the connection ended before it did
    # (the history's bytes in flight, ``_history.OUT_MAX``).
    taken: Callable[[], None] | None = None


def json_response(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, allow_nan=False, separators=(",", ":")).encode()
    return Response(status, body, "application/json")


def error_response(status: int, message: str,
                   headers: tuple[tuple[str, str], ...] = ()) -> Response:
    response = json_response({"error": message}, status)
    response.headers = headers
    return response


# A TLS record's first byte (a handshake's): ``https://`` to this plain port (``read_head``).
# Answered in plain text, which a TLS client takes for a broken record at once (curl and
# OpenSSL say "wrong version number", the usual hint); anyone who reads the bytes (nc, a
# packet capture) reads what to do.
TLS_HANDSHAKE = b"\x16"
BUSY = error_response(503, "the dashboard is busy (too many connections); try again",
                      (("Retry-After", "5"),))
# Headers a proxy sends: a request from a trusted proxy's address with one of them and no
# usable X-Forwarded-For came through a proxy not set up to add one (_forwarded).
PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-forwarded-proto", "x-forwarded-host",
                 "x-real-ip", "via")
TLS_REFUSAL = Response(400, b"this is the dashboard's plain HTTP port, and a TLS handshake "
                            b"came: use http://, not https:// (for TLS, put a proxy in front: "
                            b"docs/dashboard.md, Access token)\n",
                       "text/plain; charset=utf-8")
# A head's first byte "{": a game client's JSON request (game_server_api.py given the
# dashboard's port), never a request line. Answered at once in the game protocol, not in
# HTTP (``_refused_head``), which the game client shows as a server: error; until
# 2026-12-01 it waited the whole REQUEST_DEADLINE for a line's end and got a 408. The game
# port answers an HTTP request with a 400 in HTTP alike (``framing.HTTPRequest``).
GAME_REQUEST = b"{"
GAME_REFUSAL = Response(400, server_error(
    "this is the web dashboard's HTTP port, not the game port: connect game clients "
    "(game_server_api.py) to the game server's port (the setting port, 4711 by "
    "default)").reply(), "application/json")

# A request line as ``parse_request_line`` parsed it: (method, target, version); and a
# request head as ``read_head`` read it: its request line, then its header lines (each
# with its CR LF), for ``parse_head``. The request line is parsed once, as it is read.
RequestLine = tuple[str, str, str]
Head = tuple[RequestLine, list[bytes]]


class EventStream:
    """A server-sent event stream the application fills; see ``App``.

    ``run(stream)`` is the application's coroutine: it calls ``send`` and
    returns when the stream should end. ``send`` never waits: a client that
    does not read is dropped (``dropped`` becomes True and ``send`` returns
    False), so one slow browser holds at most ``STREAM_BUFFER_MAX`` bytes.
    """

    def __init__(self, run: Callable[[EventStream], Awaitable[None]]) -> None:
        self.run = run
        self.dropped = False
        self._writer: asyncio.StreamWriter | None = None
        self._budget: StreamBudget | None = None
        self._last_write = 0.0
        self._buffer_at_ping = 0

    def attach(self, writer: asyncio.StreamWriter, budget: StreamBudget | None = None) -> None:
        """Send on ``writer``; its unread bytes count against ``budget`` (the server's)."""
        self._writer = writer
        self._budget = budget
        self._last_write = time.monotonic()

    @property
    def unread(self) -> int:
        """Bytes written to the stream that its client has not taken yet (0 once gone)."""
        writer = self._writer
        if self.dropped or writer is None or writer.is_closing():
            return 0
        return writer.transport.get_write_buffer_size()

    def drop(self, why: str) -> None:
        """End the stream now, its unread bytes with it (``why`` goes to the log)."""
        log.info("dashboard: dropped an event stream %s", why)
        self.dropped = True
        if self._writer is not None:
            self._writer.transport.abort()

    @staticmethod
    def fits(data: bytes) -> bool:
        """Whether ``data`` is small enough to be sent as one event."""
        return len(data) <= STREAM_BUFFER_MAX

    def send(self, data: bytes) -> bool:
        writer = self._writer
        if self.dropped or writer is None or writer.is_closing():
            self.dropped = True
            return False
        if not self.fits(data):  # the application's mistake: see fits
            log.warning("dashboard: an event of %d bytes is larger than a stream carries "
                        "(%d); the stream ends", len(data), STREAM_BUFFER_MAX)
            self.dropped = True
            writer.transport.abort()
            return False
        if writer.transport.get_write_buffer_size() + len(data) > STREAM_BUFFER_MAX:
            self.drop("whose client does not read")
            return False
        writer.write(data)
        self._last_write = time.monotonic()
        if self._budget is not None:
            self._budget.wrote(self)
        return not self.dropped  # (the budget may have dropped this one)

    def ping_due(self) -> bool:
        """Send a keep-alive comment if the stream was quiet; drop it if it is stuck.

        Returns False once the stream is gone.
        """
        writer = self._writer
        if self.dropped or writer is None or writer.is_closing():
            return False
        if time.monotonic() - self._last_write < STREAM_PING:
            return True
        pending = writer.transport.get_write_buffer_size()
        if pending and self._buffer_at_ping:  # nothing was read for a whole ping interval
            self.drop("whose client stopped reading")
            return False
        self._buffer_at_ping = pending
        return self.send(b": ping\n\n")

    @property
    def open(self) -> bool:
        writer = self._writer
        return not self.dropped and writer is not None and not writer.is_closing()


class StreamBudget:
    """The bytes the clients of all event streams left unread, bounded together.

    Each stream holds at most ``STREAM_BUFFER_MAX``; this bounds their sum
    by ``limit``. After each write a stream's unread count is updated
    (``wrote``); the others' counts are what they were at their last write,
    so the sum can only overstate (their clients may have read since). When
    it exceeds ``limit`` every stream is counted afresh, and while the true
    sum still exceeds ``low``, 7/8 of it, the streams with the most unread
    (the slowest readers) are dropped, with the reason in the log. Their
    browsers reconnect and get the current state, as after any dropped
    stream. So the next count is at least ``limit - low`` bytes of writes
    away: a true sum kept just under ``limit`` (slow pages holding nearly all
    of it, their clients reading what they are sent) made each write count
    every stream afresh (512 streams: 58 ms of the loop per change sent to all).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.low = limit - limit // 8  # what a count past the limit sheds down to
        self.total = 0  # bytes, an upper bound (see above)
        self.dropped = 0  # streams dropped for the budget, for metrics and tests
        self.recounts = 0  # times every stream was counted afresh, for tests
        self._unread: dict[EventStream, int] = {}

    def wrote(self, stream: EventStream) -> None:
        unread = stream.unread
        self.total += unread - self._unread.get(stream, 0)
        self._unread[stream] = unread
        if self.total > self.limit:
            self._shed()

    def remove(self, stream: EventStream) -> None:
        self.total -= self._unread.pop(stream, 0)

    def _shed(self) -> None:
        self.recounts += 1
        self._unread = {stream: stream.unread for stream in self._unread}
        self.total = sum(self._unread.values())
        if self.total <= self.low:
            return
        over, dropped = self.total, 0
        for stream in sorted(self._unread, key=self._unread.__getitem__, reverse=True):
            if self.total <= self.low:
                break
            unread = self._unread[stream]
            stream.drop(f"whose client left {unread} bytes unread (the slowest reader)")
            dropped += 1
            self.total -= unread
            self._unread[stream] = 0
        self.dropped += dropped
        log.warning("dashboard: the live pages' clients left %d bytes unread together, near "
                    "or past web_stream_buffer_max_total (%d): dropped the %d streams that "
                    "read slowest, down to 7/8 of it (their pages reconnect)", over,
                    self.limit, dropped)


Handler = Callable[[Request], Awaitable["Response | EventStream"]]


class HTTPServer:
    """Serves ``handler`` on the running loop with the bounds described above.

    Args:
        handler: the application: a request in, a ``Response`` or an
            ``EventStream`` out; ``HTTPError`` becomes a JSON error reply.
        healthz: the ``/healthz`` reply, answered even in triage.
        max_connections: connections served at once.
        max_per_address: connections served at once from one address.
        server_header: the ``Server`` header.
        stream_buffer_max_total: bytes all event streams' clients may leave
            unread together (``StreamBudget``).
        trusted_proxies: IP addresses of proxies whose ``X-Forwarded-For`` names
            the client (``forwarded_client``); their connections are not counted
            per address.
    """

    def __init__(self, handler: Handler, healthz: Callable[[], Response],
                 max_connections: int, max_per_address: int, server_header: str,
                 stream_buffer_max_total: int, trusted_proxies: Iterable[str] = ()) -> None:
        self._handler = handler
        self._healthz = healthz
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.streams = StreamBudget(stream_buffer_max_total)
        self._server_header = server_header
        self._server: asyncio.Server | None = None
        self.per_address: dict[str, int] = {}
        self.open = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._triage: OrderedDict[asyncio.StreamWriter, None] = OrderedDict()
        self._busy_logged = LogRate(BUSY_LOG_INTERVAL)  # the connection limit (_log_busy)
        self._tls_logged = LogRate(BUSY_LOG_INTERVAL)  # TLS handshakes (TLS_REFUSAL)
        self._game_logged = LogRate(BUSY_LOG_INTERVAL)  # game clients (GAME_REFUSAL)
        # (each an IP address: config.Settings.check refuses anything else)
        self.trusted_proxies = frozenset(filter(None, map(canonical_ip, trusted_proxies)))
        self._unforwarded_logged = LogRate(BUSY_LOG_INTERVAL)  # (_forwarded): a proxy's
        self._direct_logged = LogRate(BUSY_LOG_INTERVAL)  # ... a direct one's (ssh -L)
        self.stopping = False

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port``; return the real port."""
        self._server = await asyncio.start_server(
            self._accepted, host, port, limit=HEAD_MAX, backlog=256, reuse_address=True)
        return int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        """Stop listening and end every connection now."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers) + list(self._triage):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()

    async def wait_closed(self, timeout: float) -> None:
        """After ``close()``: give the connections' tasks ``timeout`` seconds to end."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    # ------------------------------------------------------------ connections

    async def _accepted(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        client = _peer(writer)
        # A trusted proxy's connections carry many visitors' requests: not counted per
        # address (its visitors are, per request, by the header it adds: _serve).
        proxied = bool(self.trusted_proxies) and canonical_ip(client) in self.trusted_proxies
        counted_as = "" if proxied else address_key(client)  # an IPv6 client: its /64
        try:
            if (self.open >= self.max_connections
                    or self.per_address.get(counted_as, 0) >= self.max_per_address):
                await self._triaged(reader, writer, client)
                return
            self.open += 1
            if counted_as:
                self._count(counted_as)
            self._writers.add(writer)
            # (from a trusted proxy) the peer's key, once a request named no client
            unforwarded: list[str] = []
            try:
                await self._serve(reader, writer, client, unforwarded if proxied else None)
                await self._linger(reader, writer)
            finally:
                self._writers.discard(writer)
                self.open -= 1
                for key in (counted_as, *unforwarded):
                    if key:
                        self._uncount(key)
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:  # a bug of ours: log it, keep serving the others
            log.exception("dashboard: connection from %s failed", client)
        finally:
            self._tasks.discard(task)
            writer.transport.abort()  # after _linger, nothing is left to send or read

    def _count(self, key: str) -> None:
        self.per_address[key] = self.per_address.get(key, 0) + 1

    def _uncount(self, key: str) -> None:
        left = self.per_address[key] - 1
        if left:
            self.per_address[key] = left
        else:
            del self.per_address[key]

    async def _linger(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        """Close our side, then read what the client still sends until it closes too.

        Closing a socket with unread data in it makes the kernel send a reset,
        and a reset can destroy the reply before the client reads it (a
        browser then reports ``net::ERR_CONNECTION_RESET``). So the server
        half-closes, lets the reply go out, and discards at most
        ``LINGER_MAX`` bytes for at most ``LINGER_SECONDS`` before closing.
        """
        if self.stopping or writer.is_closing():
            return
        try:
            if writer.can_write_eof():
                writer.write_eof()
            async with asyncio.timeout(LINGER_SECONDS):
                await writer.drain()
                received = 0
                while received < LINGER_MAX and (chunk := await reader.read(65536)):
                    received += len(chunk)
        except (TimeoutError, OSError, RuntimeError):  # OSError: ENOTCONN after a reset
            pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     client: str, unforwarded: list[str] | None) -> None:
        """Serve the connection's requests. ``unforwarded``: None unless ``client`` is a
        trusted proxy; then the key this connection counts under once one of its requests
        named no client (``_unforwarded``), added here, taken off by the caller."""
        while not self.stopping:
            head = await self._read_head(reader, writer, REQUEST_DEADLINE)
            if head is None:
                return
            request = parse_head(head, client)
            if isinstance(request, Response):
                await self._write(writer, request, "GET", keep_alive=False)
                return
            if unforwarded is not None:  # per request: a proxy's connection serves many
                forwarded = self._forwarded(request, client)
                if forwarded is not None:
                    request.client = forwarded
                elif not unforwarded and not await self._unforwarded(writer, request, client,
                                                                     unforwarded):
                    return
            if request.method == "POST" and not await self._read_body(reader, writer, request):
                return
            try:
                reply = await self._handler(request)
            except HTTPError as err:
                reply = error_response(err.status, str(err), err.headers)
            except Exception:  # a bug of ours: log it (never the query: it may hold the token)
                log.exception("dashboard: internal error on %s", request.path[:200])
                reply = error_response(500, "internal error (see the server log)")
            if isinstance(reply, EventStream):
                if request.method == "HEAD":  # the head alone: no stream, none of its work
                    writer.write(self._stream_head())
                    await _drained(writer)
                    return
                await self._stream(reader, writer, reply)
                return
            keep_alive = request.keep_alive and not self.stopping
            if not await self._write(writer, reply, request.method, keep_alive, request):
                return
            if not keep_alive:
                return

    async def _read_head(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         deadline: float) -> Head | None:
        """The next request head, or None when the connection is done (replied to if due)."""
        lines: list[bytes] = []
        try:
            async with asyncio.timeout(deadline):
                head = await read_head(reader, lines, HEAD_MAX)
        except TimeoutError:
            if lines or reader._buffer:  # type: ignore[attr-defined]  # a request was under way
                await self._write(writer, error_response(
                    408, f"the request took longer than {deadline:g} s"), "GET", False)
            return None
        except asyncio.IncompleteReadError as err:
            if lines or err.partial.strip():  # a client that gave up mid-way
                await self._write(writer, error_response(400, "bad request"), "GET", False)
            return None
        except asyncio.LimitOverrunError:  # one line longer than the whole head may be
            head = error_response(431, f"request head larger than {HEAD_MAX} bytes")
        if isinstance(head, Response):
            await self._refused_head(writer, head)
            return None
        return head

    async def _refused_head(self, writer: asyncio.StreamWriter, head: Response) -> None:
        """Answer a head refused before it was whole (``read_head``): in HTTP, but a game
        client in the game protocol; another protocol's is logged (once a minute)."""
        if head is GAME_REFUSAL:
            held = self._game_logged.due()
            if held is not None:
                log.warning("dashboard: a game client's request from %s on the dashboard's "
                            "HTTP port (game_server_api.py given the dashboard's port, not "
                            "the game port): answered with a server: error%s",
                            _peer(writer), since(held, "game requests"))
            writer.write(head.body)
            await _drained(writer)
            return
        if head is TLS_REFUSAL:
            self._log_tls(writer)
        await self._write(writer, head, "GET", False)

    async def _read_body(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         request: Request) -> bool:
        """Read a POST's body into ``request.body``; False (replied if due) when it fails.

        The body has its own ``REQUEST_DEADLINE``: together with the head's,
        a request may take at most twice that, never more.
        """
        length = body_size(request.headers.get("content-length", "0")) or 0  # checked
        if (length and request.version == "HTTP/1.1"
                and request.headers.get("expect", "").lower() == "100-continue"):
            # RFC 9110, 10.1.1: a client that asks waits for it before the body (curl does,
            # a second, for a body over 1 KiB; until 2026-11-30 it was never sent).
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            async with asyncio.timeout(REQUEST_DEADLINE):
                request.body = await reader.readexactly(length)
        except TimeoutError:
            await self._write(writer, error_response(
                408, f"the request took longer than {REQUEST_DEADLINE:g} s"), "GET", False)
            return False
        except asyncio.IncompleteReadError:
            return False
        return True

    async def _write(self, writer: asyncio.StreamWriter, response: Response, method: str,
                     keep_alive: bool, request: Request | None = None) -> bool:
        lines = [f"HTTP/1.1 {response.status} {HTTPStatus(response.status).phrase}",
                 f"Server: {self._server_header}",
                 f"Content-Type: {response.content_type}",
                 f"Content-Length: {len(response.body)}",
                 "Cache-Control: no-store",
                 "Connection: keep-alive" if keep_alive else "Connection: close"]
        own = {name for name, _ in response.headers}  # a response's own replace the defaults
        lines += [f"{name}: {value}" for name, value in SECURITY_HEADERS if name not in own]
        lines += [f"{name}: {value}" for name, value in response.headers]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            writer.write(head if method == "HEAD" else head + response.body)
            if request is not None and log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s %s %d", request.client, request.method, request.path[:200],
                          response.status)
            return await _drained(writer)
        finally:
            if response.taken is not None:
                response.taken()

    def _stream_head(self) -> bytes:
        """The head of an event stream's response (the connection closes after it)."""
        head = ["HTTP/1.1 200 OK", f"Server: {self._server_header}",
                "Content-Type: text/event-stream; charset=utf-8", "Cache-Control: no-store",
                "X-Accel-Buffering: no", "Connection: close"]
        head += [f"{name}: {value}" for name, value in SECURITY_HEADERS]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      stream: EventStream) -> None:
        writer.write(self._stream_head() + b"retry: 2000\n\n")
        stream.attach(writer, self.streams)
        try:
            await self._streamed(reader, writer, stream)
        finally:
            self.streams.remove(stream)

    async def _streamed(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        stream: EventStream) -> None:
        # The client sends nothing more on a stream: its end of file (or a reset) means
        # it went away, and the stream's work (a waiting join, say) is cancelled at once.
        run = asyncio.ensure_future(stream.run(stream))
        gone = asyncio.ensure_future(_until_closed(reader))
        try:
            await asyncio.wait((run, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not run.done():
                stream.dropped = True
                run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
        if run.cancelled():
            return
        run.result()  # a bug in the stream's work: raised here, logged by the connection
        if stream.open:
            await _drained(writer)

    async def _triaged(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       client: str) -> None:
        """Beyond a cap: answer ``/healthz`` quickly, ``503`` to anything else."""
        self._log_busy(client)
        if len(self._triage) >= TRIAGE_MAX:
            oldest, _ = self._triage.popitem(last=False)
            oldest.transport.abort()
        self._triage[writer] = None
        try:
            try:
                async with asyncio.timeout(TRIAGE_DEADLINE):
                    head = await read_head(reader, [], TRIAGE_HEAD_MAX)
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            if isinstance(head, Response):  # too long (closed: no answer) or malformed
                if head.status != 431:
                    await self._refused_head(writer, head)
                return
            await self._busy(writer, parse_head(head, client))
        finally:
            self._triage.pop(writer, None)

    async def _busy(self, writer: asyncio.StreamWriter, request: Request | Response) -> None:
        """Answer a request beyond a cap (``_triaged``, ``_unforwarded``): ``/healthz`` as
        ever, anything else (a head that is no request too) ``503`` with ``Retry-After``;
        the caller closes the connection."""
        if isinstance(request, Request) and request.path == "/healthz":
            await self._write(writer, self._healthz(), request.method, False)
        else:
            await self._write(writer, BUSY, request.method if isinstance(request, Request)
                              else "GET", False)

    def _forwarded(self, request: Request, proxy: str) -> str | None:
        """``forwarded_client``; when none, a line in the log (at most one a minute): a
        warning if a proxy sent the request (it sent some forwarding header: it is not
        set up to add a usable X-Forwarded-For, and its visitors share its address), else
        at INFO (no forwarding header at all: a direct client on the proxy's machine,
        the operator's ``ssh -L``, whose requests are expected)."""
        headers = request.headers
        client = forwarded_client(headers.get("x-forwarded-for", ""))
        if client is not None:
            return client
        if any(name in headers for name in PROXY_HEADERS):
            held = self._unforwarded_logged.due()
            if held is not None:
                log.warning("dashboard: a request through the trusted proxy %s without a "
                            "client address in X-Forwarded-For: counted as %s itself, under "
                            "its per-address limits (set nginx's proxy_set_header "
                            "X-Forwarded-For $proxy_add_x_forwarded_for;)%s",
                            proxy, proxy, since(held, "such requests"))
        else:
            held = self._direct_logged.due()
            if held is not None:
                log.info("dashboard: a request from %s (a trusted proxy's address) without "
                         "X-Forwarded-For, a direct client (ssh -L, a program on that "
                         "machine): counted as %s itself, under its per-address limits%s",
                         proxy, proxy, since(held, "such requests"))
        return None

    async def _unforwarded(self, writer: asyncio.StreamWriter, request: Request, peer: str,
                           unforwarded: list[str]) -> bool:
        """The first request of a trusted proxy's connection that names no client:
        nobody vouches for it, so the connection counts against ``max_per_address`` as
        its ``peer`` from now on (added to ``unforwarded``), as if the proxy were not
        trusted: True. Beyond the cap it is answered as in triage (``/healthz``, else
        ``503``) and closed: False. Until 2026-12-01 anyone on the proxy's machine could
        hold every dashboard connection with kept-alive header-less requests (one that
        sends no request at all is still bounded by the request deadline alone)."""
        key = address_key(peer)
        if self.per_address.get(key, 0) < self.max_per_address:
            self._count(key)
            unforwarded.append(key)
            return True
        self._log_busy(peer)
        await self._busy(writer, request)
        return False

    def _log_tls(self, writer: asyncio.StreamWriter) -> None:
        held = self._tls_logged.due()
        if held is not None:
            log.warning("dashboard: a TLS handshake from %s on the plain HTTP port (https:// "
                        "to an http:// address, or a proxy that speaks TLS to the dashboard): "
                        "answered 400 in plain text%s", _peer(writer),
                        since(held, "TLS handshakes"))

    def _log_busy(self, client: str) -> None:
        if self._busy_logged.due() is not None:
            log.warning("dashboard: connection limit reached (%d open, %d from %s; at most "
                        "%d, %d per address): answering /healthz and 503 to more",
                        self.open, self.per_address.get(address_key(client), 0), client,
                        self.max_connections, self.max_per_address)


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return str(peer[0]) if peer else "?"


def forwarded_client(header: str) -> str | None:
    """The client a trusted proxy names in its ``X-Forwarded-For`` ``header``: the
    rightmost entry, the one the proxy appended (those to its left came from the client,
    who may write anything there); None when that entry is missing or no IP address. A
    repeated header: ``Request.headers`` keeps the last, whose rightmost entry is the
    rightmost of them all read as one list (RFC 9110, 5.3), so it is served, not refused.
    """
    last = header.rpartition(",")[2].strip()
    return canonical_ip(last) if last else None


async def _drained(writer: asyncio.StreamWriter) -> bool:
    """Wait until what is written is taken, at most ``WRITE_DEADLINE``; a client that
    takes nothing for that long is aborted (False)."""
    try:
        async with asyncio.timeout(WRITE_DEADLINE):
            await writer.drain()
    except TimeoutError:
        writer.transport.abort()
        return False
    return True


async def _until_closed(reader: asyncio.StreamReader) -> None:
    """Return once the client has closed its side (what it still sends is discarded)."""
    try:
        while await reader.read(4096):
            pass
    except ConnectionError:
        pass


def body_size(length: str) -> int | None:
    """A ``Content-Length`` as a number: None unless it is ASCII digits (not "²", not "+1").

    Thousands of digits are just "too large" (``int`` refuses more than 4300).
    """
    if not (length.isascii() and length.isdigit()):
        return None
    digits = length.lstrip("0")
    return int(digits or "0") if len(digits) <= 18 else 10 ** 18


async def read_head(reader: asyncio.StreamReader, lines: list[bytes],
                    limit: int) -> Head | Response:
    """Read a request head line by line: its request line (parsed) and header lines, or
    the error ``Response`` to send.

    Line by line, so that what is wrong is answered as soon as its line has
    arrived, not at the deadline: a line that ends in LF alone (a bare LF;
    RFC 9112, 2.2 lets a server take it as a line's end, and h11 does, but a
    proxy in front that does not would read other headers than we do, and we
    refuse it: 400; before, such a head was waited for until the deadline, as
    it holds no CR LF CR LF), a request line that is none (HTTP/0.9's
    ``GET /``, an unknown version) or more than ``HEADERS_MAX`` header lines
    (``431``, as a head over ``limit`` bytes). One empty line before the request
    line is ignored (RFC 9112, 2.2: a client may send one after a body).

    A head's first byte 0x16 is a TLS handshake's (``https://`` to this plain
    port): no request line begins with it, and the handshake holds no line's
    end to wait for, so it is answered at once (``TLS_REFUSAL``), not at the
    deadline (until 2026-11-30 it held its connection for 10 s). So is a first
    byte "{", a game client's JSON request (``GAME_REFUSAL``).

    ``lines`` receives the lines read so far, the first from its first byte on
    (the caller's, to tell a request under way at its deadline). Raises what
    ``readuntil`` raises: TimeoutError and LimitOverrunError (a line longer than
    the reader's limit) included.
    """
    first = await reader.readexactly(1)
    if first == TLS_HANDSHAKE:
        return TLS_REFUSAL
    if first == GAME_REQUEST:
        return GAME_REFUSAL
    lines.append(first)  # a request under way, for the caller (until its line is whole)
    line = first if first == b"\n" else first + await reader.readuntil(b"\n")
    lines.pop()
    size = 0
    request_line: RequestLine | Response | None = None
    while True:
        size += len(line)
        if size > limit:
            return error_response(431, f"request head larger than {limit} bytes")
        if line[-2:-1] != b"\r":
            return error_response(400, BARE_LF)
        if line == b"\r\n":
            if request_line is not None:
                return request_line, lines[1:]
            if size > 2:
                return error_response(400, "bad request: empty lines before the request line")
        else:
            if request_line is None:
                request_line = parse_request_line(line[:-2].decode("latin-1"))
                if isinstance(request_line, Response):
                    return request_line
            lines.append(line)
            if len(lines) > HEADERS_MAX + 1:
                return error_response(431, f"more than {HEADERS_MAX} header lines")
        line = await reader.readuntil(b"\n")


def parse_request_line(line: str) -> RequestLine | Response:
    """``(method, target, version)`` of a request line, or the error ``Response`` to send.

    The version is ``HTTP/1.0`` or ``HTTP/1.1``: a later ``HTTP/1.x`` is served as
    ``HTTP/1.1`` (RFC 9110, 2.5: minor versions are compatible; h11 does so too), another
    major version gets ``505``, and anything that is not ``HTTP/`` DIGIT "." DIGIT
    (``HTTP/1.10``, ``HTTP/1.x``, ``http/1.1``) is no version: ``400``. Until 2026-11-30
    all of ``HTTP/1.`` was taken, and ``HTTP/1.9`` was served as ``HTTP/1.0``.
    """
    try:
        method, target, version = line.split(" ")
    except ValueError:
        return error_response(400, "bad request line")
    if CONTROL.search(line) or "\t" in line:
        return error_response(400, "bad request line (a control character)")
    numbers = VERSION.fullmatch(version)
    if numbers is None:
        return error_response(400, f"bad request line: {version[:20]!r} is no HTTP version "
                                   "(HTTP/1.1)")
    if numbers[1] != "1":
        return error_response(505, "only HTTP/1.0 and HTTP/1.1 are served")
    return method, target, "HTTP/1.0" if numbers[2] == "0" else "HTTP/1.1"


def parse_head(head: Head, client: str) -> Request | Response:
    """A request head (``read_head``'s) as a ``Request``, or the error ``Response`` to send.

    An ``HTTP/1.1`` request must name its ``Host`` (RFC 9112, 3.2: a server MUST answer
    one without it ``400``; until 2026-11-30 it was served); an ``HTTP/1.0`` one need not
    (its clients may predate the header; the check against DNS rebinding takes its "" as
    localhost, and a browser always sends one).
    """
    (method, target, version), header_lines = head
    headers: dict[str, str] = {}
    for raw_line in header_lines:
        line = raw_line[:-2].decode("latin-1")
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            return error_response(400, "bad header line")
        if CONTROL.search(line):
            return error_response(400, "bad header line (a control character: a line ends "
                                       "with CR LF, nothing else)")
        name = name.lower()
        if name in headers and name in ONCE_HEADERS:
            return error_response(400, f"the header {name} is given twice")
        headers[name] = value.strip()
    if version == "HTTP/1.1" and "host" not in headers:
        return error_response(400, "an HTTP/1.1 request names its Host (RFC 9112, 3.2)")
    if method not in ("GET", "HEAD", "POST"):
        return error_response(501, f"method {method[:20]} is not supported")
    if "transfer-encoding" in headers:  # even empty: a proxy may take it for chunked
        return error_response(501, "a request body must come with Content-Length")
    length = headers.get("content-length", "0")
    if method == "POST":
        size = body_size(length)
        if size is None:
            return error_response(411, "a POST needs a Content-Length (a whole number)")
        if size > BODY_MAX:
            return error_response(413, f"request body larger than {BODY_MAX} bytes")
    elif length != "0":
        return error_response(400, "GET and HEAD requests to the dashboard have no body")
    try:
        url = urlsplit(target)
    except ValueError:  # "//[x/": an IPv6 address that does not close
        return error_response(400, "bad request target")
    if url.path.count("/") > PATH_PARTS_MAX:
        return error_response(404, f"no path of the dashboard has more than {PATH_PARTS_MAX} "
                                   "parts")
    query = form_fields(url.query)
    if query is None:
        return error_response(400, f"more than {FIELDS_MAX} query parameters")
    # Split first, then decode: a session token may contain an encoded "/".
    parts = [unquote(p) for p in url.path.split("/")[1:]]
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # a trailing slash
    return Request(method, target, version, headers, client, url.path, parts, query)


def form_fields(text: str) -> dict[str, list[str]] | None:
    """A query string (or a form's body) decoded, blanks kept; None beyond ``FIELDS_MAX``
    fields (counted before anything is decoded: see ``PATH_PARTS_MAX``)."""
    try:
        return parse_qs(text, keep_blank_values=True, max_num_fields=FIELDS_MAX)
    except ValueError:  # more fields
        return None
