"""Framing: where one request ends in a stream of bytes.

A client sends one UTF-8 JSON object followed by the terminator ``EOT\\0``
(valid JSON never holds a raw NUL byte, so it cannot appear inside).
``RequestReader`` collects the bytes of a connection until the terminator,
enforcing the size limit, and keeps what follows for the next request of a
kept-alive connection. Sans-I/O: bytes in, request bytes out.

A request whose first byte is 0x16, a TLS record's (a handshake's), is a
client that speaks TLS to a plain port: no JSON text begins with it, and the
handshake holds no terminator, so it is refused as soon as it comes
(``TLSHandshake``), not at the connection's deadline (until 2026-11-30 the
client waited ``connection_timeout`` for its handshake's answer). So is one
that begins as an HTTP request (``GET /``: a browser, or curl, pointed at the
game port instead of the dashboard's), with an HTTP reply saying so
(``HTTPRequest``): it waited for the deadline too, and the browser then
showed no page (the game port's error is no HTTP reply). And so is one that
begins with a PROXY protocol header (``UntrustedProxyHeader``): a reader of
this one never reads it (``_connection.py`` reads the header of a connection
from an address of ``proxy_protocol_from`` before any request, and only
theirs), so it came from a client that may write any address in it, or
from a proxy the setting does not name.
"""

from __future__ import annotations

from ._proxyheader import SIGNATURES
from .protocol import ProtocolError, server_error

__all__ = ["TERMINATOR", "RequestReader", "TLSHandshake", "HTTPRequest",
           "UntrustedProxyHeader"]

TERMINATOR = b"EOT\x00"
_TERMINATOR_SIZE = len(TERMINATOR)
TLS_HANDSHAKE = 0x16  # a TLS record's first byte, a handshake's
# How an HTTP request begins (RFC 9110's methods): no JSON text begins so.
HTTP_METHODS = tuple(method + b" " for method in (
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH"))


class TLSHandshake(ProtocolError):
    """A request that is a TLS handshake: the client speaks TLS to a plain port."""

    def __init__(self) -> None:
        super().__init__(
            "server: a TLS handshake came, but this port speaks plain TCP, without TLS: "
            "connect without TLS (game_server_api: do not call enable_tls())")


class HTTPRequest(ProtocolError):
    """A request that is an HTTP request: a browser (or curl) on the game port. Its reply
    is an HTTP reply, which the browser shows."""

    def __init__(self) -> None:
        super().__init__(
            "server: an HTTP request came, but this port speaks the game protocol (JSON "
            "requests ending in EOT\\0: game_server_api.py), not HTTP; the web dashboard, if "
            "the server runs one, has a port of its own (web_port, 8080 by default)")

    def reply(self) -> bytes:
        text = str(self).encode() + b"\n"
        return (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(text), text))


class UntrustedProxyHeader(ProtocolError):
    """A request that begins with a PROXY protocol header, from an address that is not
    one of ``proxy_protocol_from`` (see the top)."""

    def __init__(self) -> None:
        super().__init__(
            "server: a PROXY protocol header came, and this server reads one only from the "
            "proxies its proxy_protocol_from setting names (none, by default): name the "
            "proxy's address there, or turn the PROXY protocol off in the proxy")


class RequestReader:
    """Collects the bytes of one request until its terminator.

    Feed every chunk to ``feed``. It returns ``None`` while the request is
    incomplete and the request's JSON bytes (without terminator) once it is
    complete; after that the reader keeps any bytes that followed, for the
    next request on a kept-alive connection (``next_request``).

    Raises ``ProtocolError`` when the request grows past ``size_max`` bytes,
    terminator included (the classic client counts it too), and
    ``TLSHandshake``, ``HTTPRequest`` or ``UntrustedProxyHeader`` when it begins as
    one (see the top).
    """

    __slots__ = ("buffer", "_size_max", "_scanned")

    def __init__(self, size_max: int) -> None:
        # What came after the last request taken (read it, never change it: a caller
        # tests it to know whether ``next_request`` may find one, without a call)
        self.buffer = bytearray()
        self._size_max = size_max
        self._scanned = 0  # bytes already searched for the terminator

    def feed(self, data: bytes) -> bytes | None:
        if not self.buffer:  # a classic request usually comes in one piece
            end = data.find(TERMINATOR)
            if end >= 0 and end + _TERMINATOR_SIZE == len(data) <= self._size_max:
                return data[:end]
        self.buffer += data
        return self.next_request()

    def feed_later(self, data: bytes) -> None:
        """Buffer bytes that arrived while a request is being served (or reading is paused).

        Nothing is checked here: the caller bounds the buffer by pausing its
        reading once ``pending`` reaches ``size_max``, and ``next_request``
        checks each request when its turn comes.
        """
        self.buffer += data

    def next_request(self) -> bytes | None:
        """Return the next complete request already buffered, or ``None``."""
        buffer = self.buffer
        if not buffer:  # the usual case after a request: nothing more came with it
            return None
        end = buffer.find(TERMINATOR, max(0, self._scanned - len(TERMINATOR) + 1))
        if end < 0:
            if not self._scanned:  # (a request's first look)
                if buffer[0] == TLS_HANDSHAKE:
                    raise TLSHandshake()
                if buffer.startswith(HTTP_METHODS):
                    raise HTTPRequest()
                if buffer.startswith(SIGNATURES):
                    raise UntrustedProxyHeader()
            self._scanned = len(buffer)
            if len(buffer) > self._size_max:
                raise server_error("request size exceeded by client")
            return None
        if end + len(TERMINATOR) > self._size_max:
            raise server_error("request size exceeded by client")
        request = bytes(buffer[:end])
        del buffer[: end + len(TERMINATOR)]
        self._scanned = 0
        return request

    @property
    def pending(self) -> int:
        """Number of bytes buffered (requests not yet taken, complete or not)."""
        return len(self.buffer)

    @property
    def size_max(self) -> int:
        """The largest request accepted, in bytes, terminator included."""
        return self._size_max
