"""Memory per connection is bounded, across real sockets (flow control, issue 14).

A kept-alive client that pipelines requests and never reads its replies
makes the server stop reading from it once ``reply_buffer_max`` of replies
wait unsent; a client that pipelines requests behind one that waits makes
it stop once ``request_size_max`` of them are buffered. Both go on when the
client reads, or the waiting request is answered.

"The server has done all it will do with those bytes" is shown by a later
reply: the pipelined requests are all in the server's socket before another
client's two round trips, so by the second reply the loop has handled them.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.serverproc import ServerProcess, ServerThread
from tests.test_server_limits import unverified_context
from tests.wire import TERMINATOR, TIMEOUT, request

SESSIONS = 1_000


@contextlib.contextmanager
def waiting_sessions(port: int, count: int,
                     tls: ssl.SSLContext | None = None) -> Iterator[None]:
    """``count`` TicTacToe sessions waiting for their second player, while inside.

    Each first joiner stays connected (one who leaves gives the seat back).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * count + 1_000  # both ends, when the server runs in this process
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"the system allows only {hard} open files; this test needs {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    joiners: list[socket.socket] = []
    try:
        for number in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            try:
                conn = tls.wrap_socket(sock, server_hostname="127.0.0.1") if tls else sock
            except BaseException:
                sock.close()
                raise
            joiners.append(conn)
            conn.sendall(json.dumps({"type": "join", "game": "TicTacToe",
                                     "session": f"waiting-{number:05}", "players": 2,
                                     "name": ""}).encode() + TERMINATOR)
        yield
    finally:
        for conn in joiners:
            conn.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def discover(port: int, tls: ssl.SSLContext | None = None, **extra: Any) -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        conn = tls.wrap_socket(sock, server_hostname="127.0.0.1") if tls else sock
        with conn:
            conn.sendall(json.dumps({"type": "discover", **extra}).encode() + TERMINATOR)
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
    return json.loads(reply)["data"]


def wait_for_sessions(port: int, count: int, tls: ssl.SSLContext | None = None) -> int:
    """The size of one discover reply, once ``count`` sessions are listed."""
    for _ in range(100):
        data = discover(port, tls)
        if len(data["sessions"]) == count:
            return len(json.dumps(data)) + 64
    raise AssertionError(f"the server does not list {count} waiting sessions")


def later_round_trips(port: int, tls: ssl.SSLContext | None = None) -> None:
    """Two round trips on another connection: the loop has handled what came before."""
    for _ in range(2):
        discover(port, tls, limit=1)


DISCOVER = json.dumps({"type": "discover", "keep_alive": True}).encode() + TERMINATOR


def pipelining_client(port: int, count: int,
                      tls: ssl.SSLContext | None = None) -> socket.socket:
    """A kept-alive connection that sent ``count`` discovers and reads nothing (yet)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    conn = tls.wrap_socket(sock, server_hostname="127.0.0.1") if tls else sock
    conn.sendall(DISCOVER * count)
    return conn


def read_replies(conn: socket.socket, count: int) -> list[bytes]:
    """The next ``count`` kept-alive replies (and no more may have been sent)."""
    replies: list[bytes] = []
    data = b""
    while len(replies) < count:
        chunk = conn.recv(1 << 20)
        assert chunk, f"closed after {len(replies)} of {count} replies"
        *complete, data = (data + chunk).split(TERMINATOR)
        replies += complete
    assert len(replies) == count and not data
    return replies


def rss(pid: int) -> int:
    """Resident memory of process ``pid``, in bytes (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux (/proc)")
def test_a_client_that_pipelines_discovers_and_never_reads_cannot_grow_the_server() -> None:
    """The issue's case: 1,000 waiting sessions, ~100 kB per reply, 300 of them asked for.

    Without flow control the server would hold 30 MB of replies for this one
    client (and more for every further request); with it, reply_buffer_max.
    """
    bound = 1 << 20
    pipelined = 300
    with ServerProcess("--no-web", "--reply-buffer-max", str(bound),
                       "--new-sessions-per-minute", "5000", "--max-sessions-per-address",
                       "5000", "--max-waiting-joins-per-address", "5000") as server:
        assert server.proc is not None
        with waiting_sessions(server.port, SESSIONS), \
                pipelining_client(server.port, 0) as greedy:
            reply_size = wait_for_sessions(server.port, SESSIONS)
            assert pipelined * reply_size > 25 * bound
            before = rss(server.proc.pid)
            greedy.sendall(DISCOVER * pipelined)
            later_round_trips(server.port)
            grown = rss(server.proc.pid) - before
            assert grown < bound + 2 * reply_size + 12 * (1 << 20), f"grew by {grown} bytes"
            # Reading lets the server go on: every reply arrives, whole.
            replies = read_replies(greedy, pipelined)
            assert all(len(json.loads(reply)["data"]["sessions"]) == SESSIONS
                       for reply in replies)


def the_connection(server: ServerThread) -> Any:
    """The one kept-alive connection open (the test's other requests are classic)."""
    connections = server.call(lambda: [connection for connection in server.server.connections
                                       if connection._keep_alive])
    assert len(connections) == 1
    return connections[0]


def test_tls_connections_stop_reading_while_their_replies_wait(
        make_server: Callable[..., ServerThread], tls_pair: tuple[str, str]) -> None:
    """The same bound on asyncio's transports (pause_writing / pause_reading)."""
    bound = 256 * 1024
    cert, key = tls_pair
    server = make_server(tls_cert=cert, tls_key=key, reply_buffer_max=bound,
                         max_sessions_per_address=1000, max_waiting_joins_per_address=1000)
    context = unverified_context()
    pipelined = 200
    with waiting_sessions(server.port, 200, context):
        reply_size = wait_for_sessions(server.port, 200, context)
        with pipelining_client(server.port, pipelined, context) as greedy:
            later_round_trips(server.port, context)
            connection = the_connection(server)
            unsent = server.call(lambda: connection._transport.get_write_buffer_size())
            assert unsent <= bound + reply_size + 4096  # + TLS record overhead
            assert not server.call(lambda: connection._transport.is_reading())
            answered = server.call(lambda: server.server.metrics.requests["discover", "ok"])
            assert answered < pipelined  # the rest wait, unread or unserved
            assert len(read_replies(greedy, pipelined)) == pipelined


def test_requests_pipelined_behind_a_waiting_one_are_held_in_the_socket(
        make_server: Callable[..., ServerThread]) -> None:
    """A request's worth is buffered, the rest stays in the kernel; nothing is refused."""
    size_max = 10_000
    server = make_server(request_size_max=size_max)
    joined = []
    ann = threading.Thread(target=lambda: joined.append(request(server.port, {
        "type": "join", "game": "TicTacToe", "session": "held", "players": 2, "name": ""})))
    ann.start()
    bob = request(server.port, {"type": "join", "game": "TicTacToe", "session": "held",
                                "players": 2, "name": ""})["data"]
    ann.join(TIMEOUT)
    state = json.dumps({"type": "state", "game": "TicTacToe", "session": "held",
                        "player_id": bob["player_id"], "key": bob["key"], "observer": False,
                        "keep_alive": True}).encode() + TERMINATOR
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(state)
        current = json.loads(read_replies(sock, 1)[0])["data"]["current"]
        # A state that waits, with two requests' worth behind it; then far more.
        sock.sendall(state * (2 * size_max // len(state) + 1))

        def send_more() -> None:
            try:
                sock.sendall(state * (100 * size_max // len(state)))
            except OSError:  # shut down below, while blocked: the server stopped reading
                pass

        sender = threading.Thread(target=send_more)
        sender.start()
        later_round_trips(server.port)
        connection = the_connection(server)
        buffered = server.call(lambda: connection._reader.pending)
        assert size_max <= buffered < size_max + 65536  # at most one read past it
        assert server.call(lambda: not connection._reading)
        mover = bob if current == [bob["player_id"]] else joined[0]["data"]
        assert request(server.port, {"type": "move", "game": "TicTacToe", "session": "held",
                                     "player_id": mover["player_id"], "key": mover["key"],
                                     "move": {"position": 4}})["status"] == "ok"
        # The waiting state is answered; the next one waits (no change since).
        assert json.loads(read_replies(sock, 1)[0])["status"] == "ok"
        sock.shutdown(socket.SHUT_RDWR)
        sender.join(TIMEOUT)
