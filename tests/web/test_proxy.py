"""The dashboard behind a proxy (setting ``web_trusted_proxies``): each visitor counted by
the address its proxy names in ``X-Forwarded-For``, and nobody else believed.

Behind nginx or Caddy every visitor's connection comes from the proxy, so before the
setting every per-address bound was shared by all of them: a stranger's wrong tokens
locked the operator out of logging in. The attacker's side is tested as much: a peer
that is not trusted, and the entries a client writes itself left of the proxy's.
Requests go over real sockets, from 127.0.0.1 (the proxy) and 127.0.0.2 (a stranger).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from gameserver.web import _auth
from tests.serverproc import ServerThread
from tests.web import play

TOKEN = "a-long-enough-secret-for-tests"
PROXY = "127.0.0.1"
STRANGER = "127.0.0.2"
WRONG = f"Bearer not-{TOKEN}"
RIGHT = f"Bearer {TOKEN}"


@contextlib.contextmanager
def dashboard(**overrides: Any) -> Iterator[ServerThread]:
    server = play.web_server(web_token=TOKEN, **overrides)
    assert server.server is not None and server.server.dashboard is not None
    server.server.dashboard.gate.throttle.interval = 3600.0  # no refill while a test runs
    try:
        yield server
    finally:
        server.stop()


def connect(server: ServerThread, peer: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", play.dashboard_port(server)),
                                    timeout=play.WAIT, source_address=(peer, 0))


def status(server: ServerThread, peer: str, authorization: str,
           *forwarded: str) -> int:
    """The status of ``GET /api/games`` sent from ``peer``, with one X-Forwarded-For
    header per ``forwarded`` (none: no header)."""
    lines = ["GET /api/games HTTP/1.1", "Host: 127.0.0.1", f"Authorization: {authorization}",
             *(f"X-Forwarded-For: {value}" for value in forwarded), "Connection: close"]
    with connect(server, peer) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        reply = b""
        while b"\r\n" not in reply and (chunk := sock.recv(4096)):
            reply += chunk
    return int(reply.split(b" ", 2)[1])


def guesses(server: ServerThread, peer: str, forwarded: list[str]) -> list[int]:
    """The statuses of one distinct wrong token per entry of ``forwarded`` (each sent as
    the X-Forwarded-For of its guess; "" sends none)."""
    return [status(server, peer, f"{WRONG}-{n}", *([value] if value else []))
            for n, value in enumerate(forwarded)]


def throttled(codes: list[int]) -> bool:
    return codes == [401] * _auth.GUESS_BURST + [429] * (len(codes) - _auth.GUESS_BURST)


BURST = _auth.GUESS_BURST + 2  # wrong tokens: beyond an address's burst


def test_a_strangers_wrong_tokens_through_the_proxy_do_not_lock_the_operator_out() -> None:
    """The problem itself: without the setting (the header ignored) a stranger behind the
    proxy locks out every visitor, the operator with the right token too; with it, only
    the stranger's own address is throttled."""
    with dashboard() as server:  # no setting: the header counts for nothing
        assert throttled(guesses(server, PROXY, ["203.0.113.7"] * BURST))
        assert status(server, PROXY, RIGHT, "203.0.113.8") == 429
    with dashboard(web_trusted_proxies=[PROXY]) as server:
        assert throttled(guesses(server, PROXY, ["203.0.113.7"] * BURST))
        assert status(server, PROXY, RIGHT, "203.0.113.8") == 200  # the operator
        assert status(server, PROXY, RIGHT, "203.0.113.7") == 429  # the stranger


def test_a_peer_that_is_not_trusted_cannot_dodge_the_throttle_with_the_header() -> None:
    """The header that gives each visitor of the proxy a bucket of its own gives a
    stranger who sends it directly none: its guesses all count on its own address."""
    with dashboard(web_trusted_proxies=[PROXY]) as server:
        varied = [f"203.0.113.{n}" for n in range(BURST)]
        assert guesses(server, PROXY, varied) == [401] * BURST  # each visitor: one guess
        assert throttled(guesses(server, STRANGER, varied))
        assert status(server, STRANGER, RIGHT, "203.0.113.200") == 429
        assert status(server, PROXY, RIGHT, "203.0.113.200") == 200


def test_entries_a_client_wrote_left_of_the_proxys_count_for_nothing() -> None:
    """A client may send its own X-Forwarded-For; the proxy appends the address it saw.
    Only that rightmost entry is believed: varying the left ones dodges nothing, and a
    client cannot pass for another visitor by writing that visitor's address."""
    with dashboard(web_trusted_proxies=[PROXY]) as server:
        spoofed = [f"198.51.100.{n}, 203.0.113.7" for n in range(BURST)]
        assert throttled(guesses(server, PROXY, spoofed))
        assert status(server, PROXY, RIGHT, "1.2.3.4, 203.0.113.7") == 429
        assert status(server, PROXY, RIGHT, "203.0.113.7, 203.0.113.8") == 200
        # Two headers: the last one's rightmost entry (the list they make together).
        assert status(server, PROXY, RIGHT, "203.0.113.8", "198.51.100.1, 203.0.113.7") == 429
        assert status(server, PROXY, RIGHT, "203.0.113.7", "203.0.113.8") == 200


def test_a_proxy_that_names_no_client_is_counted_as_itself(
        caplog: pytest.LogCaptureFixture) -> None:
    """No header, an empty one, or an entry that is no IP address (a port, brackets, a
    name): the request counts as the proxy's own address, is served, and the log says
    why (the proxy is not set up to add the header)."""
    with dashboard(web_trusted_proxies=[PROXY]) as server:
        unusable = ["", " ", "203.0.113.7,", "203.0.113.7:8080", "[2001:db8::1]", "unknown",
                    "203.0.113.7, x" * 500, "999.1.1.1", "1.2.3.4, ,"]
        codes = guesses(server, PROXY, (unusable * 2)[:BURST])
        assert throttled(codes)  # all on the proxy's own bucket, none a 400 or a 500
        assert status(server, PROXY, RIGHT, "203.0.113.9") == 200
        assert "without a client address in X-Forwarded-For" in caplog.text


def test_ipv6_visitors_count_by_their_64_and_mapped_ipv4_as_ipv4() -> None:
    """The visitors' addresses are counted as the dashboard counts its peers'
    (``addresses.address_key``): one IPv6 host may take any address of its /64."""
    with dashboard(web_trusted_proxies=[PROXY]) as server:
        assert throttled(guesses(server, PROXY, [f"2001:db8::{n:x}" for n in range(BURST)]))
        assert status(server, PROXY, RIGHT, "2001:DB8:0:0:ffff::1") == 429  # the same /64
        assert status(server, PROXY, RIGHT, "2001:db8:0:1::1") == 200  # another
        assert throttled(guesses(server, PROXY, ["::ffff:203.0.113.7"] * BURST))
        assert status(server, PROXY, RIGHT, "203.0.113.7") == 429


def test_the_proxys_connections_are_not_capped_per_address() -> None:
    """Every visitor's connection comes from the proxy: capped per address, a few live
    pages anywhere took the dashboard from everyone (503). A stranger is capped still."""
    with dashboard(web_trusted_proxies=[PROXY], web_max_connections_per_address=2) as server:
        with contextlib.ExitStack() as held:
            for _ in range(3):
                held.enter_context(connect(server, PROXY))
                held.enter_context(connect(server, STRANGER))
            assert status(server, PROXY, RIGHT, "203.0.113.8") == 200
            assert status(server, STRANGER, RIGHT) == 503


def kept_alive(server: ServerThread, peer: str, path: str = "/api/games",
               *headers: str) -> tuple[socket.socket, int]:
    """A connection from ``peer`` left open after one kept-alive ``GET path`` (with
    ``headers``; no X-Forwarded-For unless among them), and that request's status."""
    sock = connect(server, peer)
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: {RIGHT}", *headers]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    with sock.makefile("rb") as reply:  # (the head, and the body its length says)
        code = int(reply.readline().split(b" ", 2)[1])
        length = 0
        while (line := reply.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        reply.read(length)
    return sock, code


def test_a_direct_client_on_the_proxys_machine_counts_as_its_peer_capped_per_address(
        caplog: pytest.LogCaptureFixture) -> None:
    """The operator's ssh -L, or any program on the proxy's machine, reaches the dashboard
    from the trusted address without X-Forwarded-For: nobody vouches for its address, so
    it counts as its peer as if the proxy were not trusted, and its connections against
    web_max_connections_per_address too. The attack: a local program holding kept-alive
    header-less connections took every dashboard connection from the proxy's visitors
    (the proxy's connections are capped by web_max_connections only). Now it holds its
    address's share; /healthz is still answered to it, the visitors are served, and no
    warning blames the proxy for it (INFO says what it is)."""
    with dashboard(web_trusted_proxies=[PROXY], web_max_connections=4,
                   web_max_connections_per_address=2) as server, \
            contextlib.ExitStack() as held, caplog.at_level("INFO", "gameserver.web"):
        http = server.server.dashboard.http  # type: ignore[union-attr]
        codes = []
        for _ in range(4):
            sock, code = kept_alive(server, PROXY)
            if code == 200:
                held.enter_context(sock)
            else:  # refused, closed: the server lets it go (_linger) once the client does
                sock.close()
            codes.append(code)
        assert codes == [200, 200, 503, 503]
        sock, code = kept_alive(server, PROXY, "/healthz")
        sock.close()
        assert code == 200
        play.wait_until(lambda: server.call(lambda: http.open) == 2, "the refused let go")
        assert status(server, PROXY, RIGHT, "203.0.113.8") == 200  # a visitor of the proxy
        assert "without X-Forwarded-For, a direct client (ssh -L" in caplog.text
        assert "without a client address in X-Forwarded-For" not in caplog.text
        # Through a proxy that sends other forwarding headers but no usable client: warned.
        sock, code = kept_alive(server, PROXY, "/api/games", "X-Forwarded-Proto: https")
        assert code == 503 and "without a client address in X-Forwarded-For" in caplog.text
        sock.close()
