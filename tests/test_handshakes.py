"""TLS handshakes off the event loop (``_handshakes.py``), on a real server and real sockets.

A handshake's step is held on its thread by the server's own TLS context:
its ``sni_callback`` (which OpenSSL calls while it reads a ClientHello, on
the thread that runs the step) waits on a ``Gate`` for the ClientHellos that
name ``hold.localhost``. Meanwhile the test looks at what the server does:
whether an established client is answered, which connections are refused,
which wait their turn, in what order the held-up steps run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gameserver._tlsconn import ARRIVED_MAX
from tests import wire
from tests.serverproc import ServerThread

HOST = "127.0.0.1"
OTHER = "127.0.0.2"  # another client address (Linux answers all of 127/8 on loopback)
TIMEOUT = 20.0  # seconds; only against a hang
HOLD_MAX = 2 * TIMEOUT  # a step is held at most this long (if the test never opens the gate)
HOLD = "hold.localhost"  # the server name whose handshake steps the gate holds
READ_MAX = 256 * 1024  # bytes the event loop reads at once (asyncio's and uvloop's)
DISCOVER = json.dumps({"type": "discover", "keep_alive": True}).encode() + b"EOT\0"


class Gate:
    """The server's ``sni_callback``: notes every ClientHello's name and thread, and holds
    the steps of those that name ``HOLD`` until ``open``."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.threads: set[int] = set()
        self.held = 0  # steps held now
        self._opened = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, sslobject: Any, name: str | None, context: ssl.SSLContext) -> None:
        with self._lock:
            self.names.append(name or "")
            self.threads.add(threading.get_ident())
            holding = name == HOLD
            if holding:
                self.held += 1
        if holding:
            self._opened.wait(HOLD_MAX)
            with self._lock:
                self.held -= 1

    def open(self) -> None:
        self._opened.set()


@pytest.fixture
def tls_server(make_server: Callable[..., ServerThread],
               tls_pair: tuple[str, str]) -> Iterator[Callable[..., tuple[ServerThread, Gate]]]:
    """``tls_server(**settings)``: a TLS server whose handshakes pass a new ``Gate``."""
    gates: list[Gate] = []

    def start(**settings: Any) -> tuple[ServerThread, Gate]:
        server = make_server(tls_cert=tls_pair[0], tls_key=tls_pair[1], **settings)
        gate = Gate()
        gates.append(gate)
        assert server.server is not None and server.server.tls_context is not None
        server.server.tls_context.sni_callback = gate  # type: ignore[assignment]
        return server, gate

    yield start
    for gate in gates:  # (a held thread must not outlive the test)
        gate.open()


def unverified() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def connect(port: int, source: str = HOST) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=TIMEOUT,
                                    source_address=(source, 0))
    return sock


def hello(name: str) -> bytes:
    """The records of a ClientHello that names ``name``."""
    tls = unverified().wrap_bio(ssl.MemoryBIO(), outgoing := ssl.MemoryBIO(),
                                server_hostname=name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def keep_alive_request(conn: ssl.SSLSocket, request: bytes = DISCOVER) -> dict[str, Any]:
    conn.sendall(request)
    data = b""
    while not data.endswith(b"EOT\0"):
        chunk = conn.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    return json.loads(data[:-4])


class Request(threading.Thread):
    """A whole TLS request in a thread: handshake (naming ``name``), discover, its reply."""

    def __init__(self, port: int, name: str, source: str = HOST) -> None:
        super().__init__(daemon=True)
        self.port, self.name, self.source = port, name, source
        self.reply: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            with connect(self.port, self.source) as sock, \
                    unverified().wrap_socket(sock, server_hostname=self.name) as conn:
                self.reply = keep_alive_request(conn)
        except (OSError, AssertionError) as err:
            self.error = err

    def result(self) -> dict[str, Any]:
        self.join(TIMEOUT)
        assert self.reply is not None, self.error
        return self.reply


def until(condition: Callable[[], Any], what: str) -> Any:
    """``wire.until`` with this module's bound: poll ``condition`` until it is true, and
    return its value (only a hang fails)."""
    return wire.until(condition, what, TIMEOUT)


def in_progress(server: ServerThread) -> int:
    return server.call(lambda: server.server.handshakes.in_progress)  # type: ignore[union-attr]


def ended_without_a_byte(sock: socket.socket) -> bool:
    """The server closed ``sock`` (a FIN or a reset) without sending anything."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


@contextlib.contextmanager
def held_and_waiting(server: ServerThread,
                     gate: Gate) -> Iterator[tuple[Request, socket.socket]]:
    """A handshake whose step is held, and (with ``tls_handshakes_max`` 1) a connection
    whose step waits its turn (it names ``waiting.localhost``)."""
    held = Request(server.port, HOLD)
    until(lambda: gate.held == 1, "the first step is held")
    with connect(server.port) as waiting:
        waiting.sendall(hello("waiting.localhost"))
        until(lambda: in_progress(server) == 2, "the second waits")
        yield held, waiting


# ---------------------------------------------------------------- off the loop


def test_an_established_client_is_answered_while_a_handshake_step_runs(tls_server) -> None:
    """The handshake's CPU work (here held in the middle of it) runs on a thread, not on
    the event loop: a connected client's requests are answered meanwhile. (On the loop,
    a flood of replayed ClientHellos raised such a client's request time from 7 to 60 ms;
    here the loop would wait for the held step, and the client for ever.)"""
    server, gate = tls_server()
    with connect(server.port) as sock, \
            unverified().wrap_socket(sock, server_hostname="localhost") as established:
        established.settimeout(TIMEOUT / 2)  # (less than HOLD_MAX: a loop held fails)
        assert keep_alive_request(established)["status"] == "ok"
        held = Request(server.port, HOLD)
        until(lambda: gate.held == 1, "the step is held")
        for _ in range(3):
            assert keep_alive_request(established)["status"] == "ok"
        gate.open()
        assert held.result()["status"] == "ok"
    assert server._thread.ident not in gate.threads  # (the loop's thread)


# ---------------------------------------------------------------- the caps


def test_handshakes_beyond_the_per_address_cap_are_refused_and_logged(
        tls_server, caplog: pytest.LogCaptureFixture) -> None:
    """An address with ``tls_handshakes_per_address`` handshakes in progress gets its next
    connection closed at once (no step, no byte); another address is not held up."""
    server, gate = tls_server(tls_handshakes_per_address=2)
    held = [Request(server.port, HOLD) for _ in range(2)]
    until(lambda: in_progress(server) == 2, "two handshakes in progress")
    with caplog.at_level(logging.WARNING, logger="gameserver.server"):
        with connect(server.port) as refused:
            refused.sendall(hello("refused.localhost"))
            assert ended_without_a_byte(refused)
        other = Request(server.port, HOLD, source=OTHER)  # (held too: it stays in progress)
        until(lambda: in_progress(server) == 3, "the other address's handshake goes on")
    assert ("TLS handshake from 127.0.0.1 refused: 2 handshakes from that address are in "
            "progress already (tls_handshakes_per_address); the connection is closed"
            ) in caplog.text
    gate.open()
    for request in [*held, other]:
        assert request.result()["status"] == "ok"
    assert "refused.localhost" not in gate.names  # (refused before any work)
    assert server.call(lambda: server.server.handshakes.refused) == 1  # type: ignore


def test_steps_beyond_the_cap_of_all_wait_their_turn_address_by_address(
        tls_server, caplog: pytest.LogCaptureFixture) -> None:
    """Beyond ``tls_handshakes_max`` steps a step waits its turn (logged); the turns go
    round the addresses, so one address's many handshakes do not stand in front of
    another's: b1, then c1 (another address), then b2."""
    server, gate = tls_server(tls_handshakes_max=1)
    with caplog.at_level(logging.WARNING, logger="gameserver.server"):
        requests = [Request(server.port, HOLD)]
        until(lambda: gate.held == 1, "the first step is held")
        for count, (name, source) in enumerate(
                [("b1.localhost", HOST), ("b2.localhost", HOST), ("c1.localhost", OTHER)]):
            requests.append(Request(server.port, name, source))
            until(lambda count=count: in_progress(server) == count + 2, f"{name} waits")
    assert ("TLS handshakes wait for a thread: 1 are handed to the threads "
            "(tls_handshakes_max), 1 wait their turn") in caplog.text
    gate.open()
    for request in requests:
        assert request.result()["status"] == "ok"
    assert gate.names == [HOLD, "b1.localhost", "c1.localhost", "b2.localhost"]


def test_a_waiting_connection_keeps_little_of_what_comes_meanwhile(tls_server) -> None:
    """What comes while a step waits its turn is kept up to ``ARRIVED_MAX`` (and one
    read); the rest of megabytes stays in the kernel."""
    server, gate = tls_server(tls_handshakes_max=1)
    with held_and_waiting(server, gate) as (held, waiting):
        waiting.setblocking(False)
        sent = 0
        try:
            for _ in range(1000):
                sent += waiting.send(b"\x17\x03\x03" + b"x" * 65533)
        except BlockingIOError:  # the kernel's buffers are full: the server reads no more
            pass

        def kept() -> int:
            return sum(conn._arrived_bytes for conn in server.server.connections)

        assert sent > 1_000_000
        until(lambda: server.call(kept) > ARRIVED_MAX, "the server reads until its bound")
        for _ in range(3):  # (and then no more, pass after pass of its loop)
            assert server.call(kept) <= ARRIVED_MAX + READ_MAX
    gate.open()
    assert held.result()["status"] == "ok"


def test_a_client_that_leaves_while_its_step_waits_leaves_its_place(tls_server) -> None:
    """It no longer counts towards its address's cap, and its step never runs."""
    server, gate = tls_server(tls_handshakes_max=1, tls_handshakes_per_address=2)
    with held_and_waiting(server, gate) as (held, waiting):
        waiting.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    until(lambda: in_progress(server) == 1, "the one that left no longer counts")
    second = Request(server.port, "second.localhost")  # not refused: 1 of 2 in progress
    until(lambda: in_progress(server) == 2, "the second one waits")
    gate.open()
    assert held.result()["status"] == "ok"
    assert second.result()["status"] == "ok"
    assert "waiting.localhost" not in gate.names  # (it never had its turn)


def test_a_handshake_waiting_its_turn_ends_at_its_deadline(tls_server) -> None:
    """The handshake must end within ``connection_timeout``, waiting included: a
    connection whose turn does not come is closed, and leaves its place."""
    server, gate = tls_server(tls_handshakes_max=1, connection_timeout=0.5)
    with connect(server.port) as first, connect(server.port) as second:
        first.sendall(hello(HOLD))
        until(lambda: gate.held == 1, "the first step is held")
        second.sendall(hello("second.localhost"))
        assert ended_without_a_byte(second)
        until(lambda: in_progress(server) == 1, "the second no longer counts")
        gate.open()
        until(lambda: in_progress(server) == 0, "the held step is back")
    assert "second.localhost" not in gate.names
    request = Request(server.port, "third.localhost")  # the server goes on as ever
    assert request.result()["status"] == "ok"


def test_a_server_stops_while_a_handshake_step_is_held(tls_server) -> None:
    server, gate = tls_server(tls_handshakes_max=1)
    with held_and_waiting(server, gate) as (held, waiting):
        server.stop()
        assert not server._thread.is_alive()
        assert ended_without_a_byte(waiting)
    gate.open()
    held.join(TIMEOUT)
    assert held.reply is None and held.error is not None


# ---------------------------------------------------------------- metrics


def handshake_metrics(server: ServerThread) -> dict[str, float]:
    """The TLS handshake samples of the server's ``/metrics`` (its dashboard, over HTTP),
    which must parse as Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    port = server.server.dashboard.port  # type: ignore[union-attr]
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=TIMEOUT) as reply:
        text = reply.read().decode()
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name.startswith("gameserver_tls_handshake")}


def test_the_metrics_count_the_handshakes_refused_and_waiting(tls_server) -> None:
    """An operator sees the caps at work in ``/metrics``, not only in the log: the
    handshakes in progress, those refused for ``tls_handshakes_per_address``, and the
    steps that waited for ``tls_handshakes_max``."""
    server, gate = tls_server(tls_handshakes_max=1, tls_handshakes_per_address=2,
                              web=True, web_port=0)
    assert handshake_metrics(server) == {"gameserver_tls_handshakes_in_progress": 0,
                                         "gameserver_tls_handshakes_refused_total": 0,
                                         "gameserver_tls_handshake_waits_total": 0}
    with held_and_waiting(server, gate) as (held, _):
        with connect(server.port) as refused:
            refused.sendall(hello("refused.localhost"))
            assert ended_without_a_byte(refused)
        # The dashboard may answer with the rendering of the first read for a while
        # (METRICS_MAX_AGE, web/_routes.py): the first that shows handshakes is new.
        shown = until(lambda: (metrics := handshake_metrics(server))[
            "gameserver_tls_handshakes_in_progress"] and metrics,
            "a /metrics rendered after the handshakes began")
        assert shown == {"gameserver_tls_handshakes_in_progress": 2,
                         "gameserver_tls_handshakes_refused_total": 1,
                         "gameserver_tls_handshake_waits_total": 1}
        gate.open()
        assert held.result()["status"] == "ok"


def test_a_server_without_tls_shows_no_handshake_metrics(
        make_server: Callable[..., ServerThread]) -> None:
    assert handshake_metrics(make_server(web=True, web_port=0)) == {}
