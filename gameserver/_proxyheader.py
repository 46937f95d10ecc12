"""The PROXY protocol's header (v1 text, v2 binary): who the client behind a TCP proxy is.

A TCP proxy in front of the game port (nginx ``stream`` with
``proxy_protocol on``, HAProxy ``send-proxy``/``send-proxy-v2``, a tunnel)
connects to the server itself, so every client would come from the proxy's
address and every per-address bound would count them all as one. With the
PROXY protocol the proxy begins each connection with a header naming the
client's address (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt);
the server reads it from the addresses of the ``proxy_protocol_from`` setting
only, and from them requires it (``_connection.py``, the HEADER state).
Anyone else could write any address in one, so from anyone else a header is
refused (``framing.ProxyHeader``, ``looks_like``).

Sans-I/O: ``parse`` takes the bytes received so far and says whether the
header is whole, and who it names. It never reads past the header: what
follows (a request, a TLS ClientHello) is the caller's. Bounded: a v1 header
is at most 107 bytes (the spec's own bound), a v2 header at most
``V2_MAX`` (its address block, and the TLVs a proxy may add); beyond, it is
refused without waiting for the rest.

What a header may say, and what the connection then counts as:

* v1 ``TCP4``/``TCP6``, v2 ``PROXY`` over ``INET``/``INET6`` (``STREAM`` or
  ``UNSPEC``): the source address, checked to be one of its family.
* v1 ``UNKNOWN``, v2 ``LOCAL`` (the proxy's own health check), v2 ``UNSPEC``
  or ``UNIX`` addresses: no client address; the proxy's own (``source``
  None), as the spec asks.
* Anything else (another version or command, a datagram, a port of six
  digits, a line without CR LF within 107 bytes, an address that is none):
  ``ProxyHeaderError``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .addresses import canonical_ip
from .protocol import ProtocolError

__all__ = ["ProxyHeader", "ProxyHeaderError", "parse", "looks_like", "SIGNATURES"]

V1_PREFIX = b"PROXY "
V1_MAX = 107  # bytes of a v1 header, its CR LF included (the spec's bound)
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16  # signature, version and command, family, length
V2_MAX = V2_FIXED + 1024  # bytes of a v2 header we take: addresses (36) and a few TLVs
SIGNATURES = (V1_PREFIX, V2_SIGNATURE)  # how a header begins (no JSON text begins so)
_PORT_DIGITS = frozenset(b"0123456789")

# What the log says of each refusal (``ConnectionRegistry.other_protocol``: one rate each).
NO_HEADER_LOG = ("game port: a connection from an address of proxy_protocol_from came "
                 "without a PROXY header (is the proxy's PROXY protocol on? nginx: "
                 "proxy_protocol on; HAProxy: send-proxy); refused")
BAD_HEADER_LOG = ("game port: a PROXY header from an address of proxy_protocol_from is "
                  "malformed or too large; refused")
SLOW_HEADER_LOG = ("game port: a connection from an address of proxy_protocol_from did not "
                   "send its whole PROXY header in time; refused")
UNTRUSTED_LOG = ("game port: a PROXY header came from an address not in "
                 "proxy_protocol_from (a client that claims to be a proxy, or a proxy "
                 "the setting does not name); refused")


class ProxyHeaderError(ProtocolError):
    """A connection from a proxy whose header is missing, malformed or too large; ``log``
    is the line the log says of it (one per kind)."""

    def __init__(self, message: str, log: str = BAD_HEADER_LOG) -> None:
        super().__init__("server: " + message)
        self.log = log


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A whole header: the client's IP address (None: the proxy's own connection, or no
    address given) and the header's size in bytes (what follows is the client's)."""

    source: str | None
    size: int


def looks_like(data: bytes | bytearray) -> bool:
    """Whether ``data`` begins with a PROXY header's signature (v1 or v2)."""
    return data.startswith(SIGNATURES)


def parse(data: bytes | bytearray) -> ProxyHeader | None:
    """The header at the start of ``data``, or None while it is not whole yet.

    Raises:
        ProxyHeaderError: ``data`` begins with no header, or a malformed or too
            large one (nothing more that comes can make it one).
    """
    if data[:1] == b"P":
        return _v1(data)
    if data[:1] == b"\r":
        return _v2(data)
    if not data:
        return None
    raise ProxyHeaderError("this port reads a PROXY protocol header first, from the "
                           "proxies of proxy_protocol_from, and the connection began "
                           "without one", NO_HEADER_LOG)


def _v1(data: bytes | bytearray) -> ProxyHeader | None:
    head = bytes(data[:V1_MAX])
    if not V1_PREFIX.startswith(head[:len(V1_PREFIX)]):
        raise ProxyHeaderError("this port reads a PROXY protocol header first, and the "
                               "connection began without one", NO_HEADER_LOG)
    end = head.find(b"\r\n")
    if end < 0:
        if len(head) >= V1_MAX or b"\n" in head or b"\r" in head[:-1]:
            raise ProxyHeaderError("a PROXY header (v1) without CR LF within its "
                                   f"{V1_MAX} bytes")
        return None
    words = head[len(V1_PREFIX):end].split(b" ")
    if words[0] == b"UNKNOWN":  # the proxy's own connection: what follows is ignored
        return ProxyHeader(None, end + 2)
    if len(words) != 5 or words[0] not in (b"TCP4", b"TCP6"):
        raise ProxyHeaderError("a malformed PROXY header (v1: PROXY TCP4|TCP6 source "
                               "destination source-port destination-port)")
    family = ipaddress.IPv4Address if words[0] == b"TCP4" else ipaddress.IPv6Address
    try:
        source, _ = (family(word.decode("ascii")) for word in words[1:3])
        if getattr(source, "scope_id", None):  # (fe80::1%eth0: text a log would carry)
            raise ValueError("a scope")
    except (ValueError, UnicodeDecodeError):
        raise ProxyHeaderError("a PROXY header (v1) whose addresses are not "
                               f"{words[0].decode()} addresses") from None
    for port in words[3:]:
        if not (0 < len(port) <= 5 and _PORT_DIGITS.issuperset(port) and int(port) < 65536):
            raise ProxyHeaderError("a PROXY header (v1) whose port is no port number")
    return ProxyHeader(_spelt(source), end + 2)


def _v2(data: bytes | bytearray) -> ProxyHeader | None:
    head = bytes(data[:V2_FIXED])
    if not head.startswith(V2_SIGNATURE[:len(head)]):
        raise ProxyHeaderError("this port reads a PROXY protocol header first, and the "
                               "connection began without one", NO_HEADER_LOG)
    if len(head) < V2_FIXED:
        return None
    version, command = head[12] >> 4, head[12] & 0xF
    if version != 2 or command > 1:
        raise ProxyHeaderError(f"a PROXY header (v2) of version {version}, command "
                               f"{command}: only version 2, LOCAL or PROXY, is known")
    size = V2_FIXED + int.from_bytes(head[14:16], "big")
    if size > V2_MAX:
        raise ProxyHeaderError(f"a PROXY header (v2) of {size} bytes: at most {V2_MAX} "
                               "are taken")
    if len(data) < size:
        return None
    if command == 0:  # LOCAL: the proxy's own connection (a health check)
        return ProxyHeader(None, size)
    family, transport = head[13] >> 4, head[13] & 0xF
    if transport > 1:  # 2: a datagram
        raise ProxyHeaderError("a PROXY header (v2) for a datagram, not a stream")
    length = {1: 4, 2: 16}.get(family)
    if length is None:
        if family in (0, 3):  # UNSPEC, UNIX: no IP address to count by
            return ProxyHeader(None, size)
        raise ProxyHeaderError(f"a PROXY header (v2) of address family {family}")
    if size - V2_FIXED < 2 * length + 4:
        raise ProxyHeaderError("a PROXY header (v2) too short for its addresses")
    raw = bytes(data[V2_FIXED:V2_FIXED + length])
    source = ipaddress.IPv4Address(raw) if length == 4 else ipaddress.IPv6Address(raw)
    return ProxyHeader(_spelt(source), size)


def _spelt(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """One spelling (``canonical_ip``'s): an IPv4 address mapped into IPv6 counts as the
    same client as over IPv4."""
    return canonical_ip(str(address)) or str(address)
