"""The game port behind a TCP proxy that sends the PROXY protocol, through real sockets.

The "proxy" is the test itself, on 127.0.0.1 (named in ``proxy_protocol_from``):
it writes the header a proxy writes, then the client's bytes. What the header
says is trusted from there only; every other way to abuse it (a header from
anyone else, a second header from the client behind the proxy, a malformed,
oversized or slow one, none at all) is refused with a server: error the
client reads, a line in the log, and no connection left open.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from gameserver import _connection, _connhost, _proxyheader
from gameserver._proxyheader import ProxyHeaderError, parse
from tests.serverproc import ServerThread
from tests.test_server import HOST, encode, error, join_request, ok, parse_reply, token
from tests.wire import TERMINATOR, TIMEOUT, send_raw, until

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(source: str, family: str = "TCP4") -> bytes:
    destination = "127.0.0.1" if family == "TCP4" else "::1"
    return f"PROXY {family} {source} {destination} 51000 4711\r\n".encode()


def v2(source: str, command: int = 1, tlvs: bytes = b"") -> bytes:
    """A v2 header for an IPv4 ``source`` over TCP (PROXY), or LOCAL (``command`` 0)."""
    addresses = socket.inet_aton(source) + socket.inet_aton("127.0.0.1") + bytes(4) + tlvs
    return (V2_SIGNATURE + bytes([0x20 | command, 0x11]) + len(addresses).to_bytes(2, "big")
            + addresses)


def discover(keep_alive: bool = False) -> bytes:
    return encode({"type": "discover", **({"keep_alive": True} if keep_alive else {})})


def held_open(port: int, header: bytes) -> socket.socket:
    """A kept-alive connection through the "proxy" for the client ``header`` names,
    served once (so it is counted as that client, and stays open)."""
    sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
    sock.sendall(header + discover(keep_alive=True))
    reply = b""
    while not reply.endswith(TERMINATOR):
        chunk = sock.recv(65536)
        assert chunk, reply
        reply += chunk
    assert json.loads(reply[:-len(TERMINATOR)])["status"] == "ok"
    return sock


def proxy_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "PROXY header" in r.getMessage()]


def all_closed(server: ServerThread) -> None:
    until(lambda: server.call(lambda: len(server.server.connections)
                              + server.server.connections.refused_open) == 0, "all closed")


# ---------------------------------------------------------------- served as the client named


def test_each_client_behind_the_proxy_counts_as_itself(
        make_server: Callable[..., ServerThread]) -> None:
    """Every per-address limit counted all of a proxy's clients as one. With the proxy in
    proxy_protocol_from, each counts as the address its header names (v1 and v2), for the
    connections per address and the lobby's sessions per address alike; the proxy's own
    health check (v1 UNKNOWN, v2 LOCAL) counts as the proxy."""
    server = make_server(proxy_protocol_from=["127.0.0.1"], max_connections_per_address=1,
                         max_sessions_per_address=1)
    held = held_open(server.port, v1("203.0.113.7"))
    try:
        refused = send_raw(server.port, v2("203.0.113.7") + discover())
        assert "too many connections from your address" in error(parse_reply(refused))
        for header in (v2("198.51.100.9"), v1("2001:db8::5", "TCP6"), v1("::ffff:192.0.2.4",
                                                                        "TCP6")):
            assert ok(parse_reply(send_raw(server.port, header + discover())))["games"]
        for header in (b"PROXY UNKNOWN\r\n", v2("0.0.0.0", command=0)):
            assert ok(parse_reply(send_raw(server.port, header + discover())))["games"]
    finally:
        held.close()
    all_closed(server)
    first = send_raw(server.port, v1("203.0.113.7") + encode(join_request("Echo", token(), 1)))
    assert ok(parse_reply(first))["player_id"] == 0
    again = send_raw(server.port, v2("203.0.113.7") + encode(join_request("Echo", token(), 1)))
    assert "too many sessions started from your address" in error(parse_reply(again))
    other = send_raw(server.port, v2("203.0.113.8") + encode(join_request("Echo", token(), 1)))
    assert ok(parse_reply(other))["player_id"] == 0
    # (an IPv4 client written as IPv6 is the same client: its session counts)
    mapped = send_raw(server.port, v1("::ffff:203.0.113.8", "TCP6")
                      + encode(join_request("Echo", token(), 1)))
    assert "too many sessions started from your address" in error(parse_reply(mapped))


def test_a_header_split_across_packets_is_read_whole(
        make_server: Callable[..., ServerThread]) -> None:
    """A proxy's header may come in pieces (here a byte at a time, with the request in
    the last piece): it is gathered, never taken for a request, and what follows it is
    the client's request."""
    server = make_server(proxy_protocol_from=["127.0.0.1"], max_connections_per_address=1)
    held = held_open(server.port, v1("203.0.113.7"))
    try:
        for header in (v2("203.0.113.7"), v1("203.0.113.7")):
            with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for at in range(len(header) - 1):
                    sock.sendall(header[at:at + 1])
                    time.sleep(0.002)  # (separate packets, most likely: no timing asserted)
                sock.sendall(header[-1:] + discover())
                reply = b"".join(iter(lambda: sock.recv(65536), b""))
            # counted as the held client: the header was read, and read whole
            assert "too many connections from your address" in error(parse_reply(reply))
    finally:
        held.close()


def test_behind_the_header_tls_is_served_even_in_the_same_packet(
        make_server: Callable[..., ServerThread], tls_pair: tuple[str, str]) -> None:
    """With TLS on, the header comes in plain text before the ClientHello, in the same
    packet or the next: the rest of that packet is the handshake's, the client is counted
    as the header names it (limits, TLS handshakes per address), and served."""
    cert, key = tls_pair
    server = make_server(tls_cert=cert, tls_key=key, proxy_protocol_from=["127.0.0.1"],
                         max_connections_per_address=1)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    for client in ("203.0.113.7", "203.0.113.8"):
        reply = tls_through(server.port, v1(client), discover(), context)
        assert ok(parse_reply(reply))["games"]
    with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(v2("203.0.113.9"))  # the header alone, then TLS
        with context.wrap_socket(sock, server_hostname="localhost") as tls:
            tls.sendall(discover(keep_alive=True))
            reply = b""
            while not reply.endswith(TERMINATOR):
                reply += tls.recv(65536)
            assert ok(parse_reply(reply[:-len(TERMINATOR)]))["games"]
            # beyond its limit (its verdict after the loop's rounds): refused, in TLS
            refused = tls_through(server.port, v1("203.0.113.9"), discover(), context)
            assert "too many connections from your address" in error(parse_reply(refused))


def tls_through(port: int, header: bytes, payload: bytes, context: ssl.SSLContext) -> bytes:
    """``payload`` over TLS, the ClientHello sent in one packet with ``header``."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
        first = header
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(first + outgoing.read())
                first = b""
                data = sock.recv(65536)
                assert data, "closed during the handshake"
                incoming.write(data)
        tls.write(payload)
        sock.sendall(outgoing.read())
        reply = b""
        while True:
            try:
                chunk = tls.read(65536)
            except ssl.SSLWantReadError:
                chunk = None
            except ssl.SSLZeroReturnError:
                return reply
            if chunk == b"":  # the server's close_notify
                return reply
            if chunk is not None:
                reply += chunk
                continue
            data = sock.recv(65536)
            if not data:
                return reply
            incoming.write(data)


@contextlib.contextmanager
def loop_held(server: ServerThread) -> Iterator[None]:
    """The server's loop held in a call while the block runs: what the block's sockets do
    meanwhile, the loop's next round sees together, in the order it happened."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        holding.set()
        release.wait(TIMEOUT)

    server._loop.call_soon_threadsafe(hold)
    assert holding.wait(TIMEOUT)
    try:
        yield
    finally:
        release.set()


def test_a_client_behind_the_proxy_that_closes_one_and_opens_another_is_not_refused(
        make_server: Callable[..., ServerThread]) -> None:
    """A client at its limit closes a connection and opens another; the loop may see the
    new one before the close (here: in the same round, the new one first). A direct
    client's verdict waits for the loop's next rounds (LIMIT_RECHECKS), so it is served;
    one behind the proxy was refused as soon as its header named it ("too many
    connections from your address"). The same rule now."""
    server = make_server(proxy_protocol_from=["127.0.0.1"], max_connections_per_address=1)
    for source, header in (("127.0.0.1", v1("203.0.113.7")), ("127.0.0.2", b"")):
        def connect(source: str = source) -> socket.socket:
            return socket.create_connection((HOST, server.port), timeout=TIMEOUT,
                                            source_address=(source, 0))

        with connect() as old:
            old.sendall(header + discover(keep_alive=True))
            assert old.recv(65536).endswith(TERMINATOR)  # served: counted as the client
            with loop_held(server):
                new = connect()
                new.sendall(header + discover())
                old.close()
        with new:
            reply = b"".join(iter(lambda: new.recv(65536), b""))  # noqa: B023
        assert ok(parse_reply(reply))["games"], (source, reply)
    all_closed(server)


# ---------------------------------------------------------------- refused, and why


def test_a_header_from_anyone_else_is_refused_and_never_believed(
        make_server: Callable[..., ServerThread], tls_pair: tuple[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    """Anyone may write any address in a header: from an address not in
    proxy_protocol_from (or with the setting off) it is refused with a server: error
    that says what to do, on plain and TLS ports, whole request in the same packet or
    not; a client behind the trusted proxy that sends a header of its own, to be counted
    as someone else, is refused the same way. Logged, once per kind."""
    told = "server: a PROXY protocol header came, and this server reads one only from"
    cert, key = tls_pair
    off = make_server(max_connections_per_address=1)
    elsewhere = make_server(proxy_protocol_from=["192.0.2.1"])
    tls = make_server(tls_cert=cert, tls_key=key)
    trusted = make_server(proxy_protocol_from=["127.0.0.1"])
    with caplog.at_level(logging.WARNING, "gameserver.server"):
        for server in (off, elsewhere, tls):
            for header in (v1("203.0.113.7"), v2("203.0.113.7")):
                for payload in (header, header + discover()):
                    reply = parse_reply(send_raw(server.port, payload))
                    assert error(reply).startswith(told), (server.settings, payload)
        for spoofed in (v1("198.51.100.1"), v2("198.51.100.1")):
            reply = send_raw(trusted.port, v1("203.0.113.7") + spoofed + discover())
            assert error(parse_reply(reply)).startswith(told)
    said = proxy_lines(caplog)
    assert said and all("from an address not in proxy_protocol_from" in line
                        for line in said), said
    for server in (off, elsewhere, tls, trusted):
        all_closed(server)


@pytest.mark.parametrize(("payload", "why"), [
    (discover(), "began without one"),
    (b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 4711\n" + discover(), "without CR LF"),
    (b"PROXY TCP4 999.0.113.7 127.0.0.1 51000 4711\r\n" + discover(), "not TCP4 addresses"),
    (b"PROXY TCP4 ::1 ::1 51000 4711\r\n" + discover(), "not TCP4 addresses"),
    (b"PROXY TCP6 fe80::1%eth0 ::1 51000 4711\r\n" + discover(), "not TCP6 addresses"),
    (b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 99999\r\n" + discover(), "no port number"),
    (b"PROXY TCP4 203.0.113.7\r\n" + discover(), "a malformed PROXY header"),
    (b"PROXY " + b"x" * 200, "without CR LF within its 107 bytes"),
    (v2("203.0.113.7", tlvs=bytes(60_000))[:20_000], "at most 1040 are taken"),
    (V2_SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12) + discover(), "of version 3"),
    (V2_SIGNATURE + b"\x21\x12\x00\x0c" + bytes(12) + discover(), "for a datagram"),
])
def test_a_connection_from_the_proxy_without_a_good_header_is_refused(
        make_server: Callable[..., ServerThread], caplog: pytest.LogCaptureFixture,
        payload: bytes, why: str) -> None:
    """From the proxy, a connection without a header, or with one malformed or larger
    than any proxy sends, is refused at once (the oversized one before the rest of it
    comes), with a server: error the client behind the proxy reads, and a log line that
    says to check the proxy."""
    server = make_server(proxy_protocol_from=["127.0.0.1"], connection_timeout=600)
    with caplog.at_level(logging.WARNING, "gameserver.server"):
        reply = error(parse_reply(send_raw(server.port, payload)))
    assert reply.startswith("server: ") and why in reply, reply
    said = [r.getMessage() for r in caplog.records if "proxy_protocol_from" in r.getMessage()]
    assert len(said) == 1 and "(from 127.0.0.1)" in said[0], said
    all_closed(server)


def test_a_refused_header_does_not_hold_the_proxys_place_while_it_drains(
        make_server: Callable[..., ServerThread], monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection whose header is refused counts as the proxy (no client was named),
    whose address every client behind it shares. It stayed counted there while it drained
    (up to 10 s), so the proxy's own health check beyond max_connections_per_address (1
    here) was refused for it. Now it stops counting at once, as a connection refused for
    the limits does (here it drains until the test closes it)."""
    monkeypatch.setattr(_connection, "REFUSED_QUIET", 600.0)  # (never quiet enough)
    server = make_server(proxy_protocol_from=["127.0.0.1"], max_connections_per_address=1,
                         connection_timeout=600)
    with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as bad:
        bad.sendall(b"PROXY TCP4 203.0.113.7\r\n")
        assert "a malformed PROXY header" in error(parse_reply(bad.recv(65536)))
        assert server.call(lambda: len(server.server.connections)
                           + server.server.connections.refused_open) == 1  # draining
        for check in (b"PROXY UNKNOWN\r\n", v2("0.0.0.0", command=0)):
            assert ok(parse_reply(send_raw(server.port, check + discover())))["games"]
    all_closed(server)


def test_refused_headers_cannot_close_an_honest_clients_refusal_before_it_is_read(
        make_server: Callable[..., ServerThread], monkeypatch: pytest.MonkeyPatch) -> None:
    """Header refusals are set aside with the refusals for the limits, at most
    REFUSED_MAX (3 here) open. Anyone at the proxy's address (a local user, when the
    proxy runs on the same host) could open headerless connections: each closed the
    oldest refused one, an honest client's refusal among them, reset before it was read
    (not told why). Beyond REFUSED_MAX the address that holds the most refused
    connections now loses its oldest: a flood closes its own."""
    monkeypatch.setattr(_connhost, "REFUSED_MAX", 3)
    monkeypatch.setattr(_connection, "REFUSED_QUIET", 600.0)  # (never quiet enough)
    server = make_server(proxy_protocol_from=["127.0.0.1"], max_connections_per_address=1,
                         connection_timeout=600)

    def refused_open() -> int:
        return server.call(lambda: server.server.connections.refused_open)

    with contextlib.ExitStack() as stack:
        def connect(source: str) -> socket.socket:
            return stack.enter_context(socket.create_connection(
                (HOST, server.port), timeout=TIMEOUT, source_address=(source, 0)))

        connect("127.0.0.2")  # the honest client's first connection: accepted
        until(lambda: server.call(lambda: len(server.server.connections)) == 1, "counted")
        honest = connect("127.0.0.2")  # beyond its limit: refused, not read yet
        until(lambda: refused_open() == 1, "the honest refusal set aside")
        for _ in range(6):  # from the proxy's address, without a header: each refused
            flood = connect("127.0.0.1")
            flood.sendall(b"no header\n")
            assert b"began without one" in flood.recv(65536)
        # Still open on the server's side: its refusal is not cut off (on loopback it
        # has arrived already; over a slow link a reset lost it, unsent or unread).
        addresses = server.call(lambda: [conn._address for conn in server.server.connections])
        assert addresses.count("127.0.0.2") == 2 and refused_open() == 3, addresses
        reply = honest.recv(65536)
        assert b"too many connections from your address" in reply, reply
        assert honest.recv(65536) == b""  # our FIN, not a reset


def test_a_slow_header_is_refused_at_its_short_deadline(
        make_server: Callable[..., ServerThread], caplog: pytest.LogCaptureFixture) -> None:
    """A proxy sends its header as it connects; one that does not within
    PROXY_HEADER_DEADLINE (at most connection_timeout: 1 s here) is refused, not held
    until a request deadline, and the connection is let go."""
    server = make_server(proxy_protocol_from=["127.0.0.1"], connection_timeout=1)
    with caplog.at_level(logging.WARNING, "gameserver.server"):
        with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as sock:
            sock.sendall(b"PROXY TCP4 203.0.113.7 ")
            reply = b"".join(iter(lambda: sock.recv(65536), b""))
    assert error(parse_reply(reply)) == ("server: the PROXY header did not come whole "
                                         "within 1 s")
    said = [r.getMessage() for r in caplog.records if "in time" in r.getMessage()]
    assert len(said) == 1 and "did not send its whole PROXY header" in said[0], said
    all_closed(server)


def test_every_cut_of_a_good_header_waits_and_no_more_bytes_mend_a_bad_one() -> None:
    """The parser, byte by byte: a whole header is found at its last byte, exactly (what
    follows is the client's), never before; a wrong byte is refused as soon as it comes."""
    for header in (v1("203.0.113.7"), v1("2001:db8::5", "TCP6"), v2("203.0.113.7"),
                   b"PROXY UNKNOWN whatever\r\n", v2("0.0.0.0", command=0)):
        for cut in range(len(header)):
            assert parse(header[:cut]) is None, header[:cut]
        found = parse(header + b"{rest")
        assert found is not None and found.size == len(header)
    for bad in (b"PROXZ", b"\r\n\r\n\x01", b"{", b"\x16\x03\x01"):
        with pytest.raises(ProxyHeaderError):
            parse(bad)
    assert _proxyheader.looks_like(v1("203.0.113.7")) and _proxyheader.looks_like(v2("1.2.3.4"))
