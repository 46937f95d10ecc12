"""Plain TCP runs on raw sockets (``_rawconn.py``, ``_rawlisten.py``): what only that path does.

Accepting in bursts, running out of file descriptors, sweeping deadlines
instead of timers, binding like asyncio, and falling back to asyncio's
transports on a loop without ``add_reader``. Everything else a connection
does is shared with the TLS path and tested through the other
``test_server_*`` modules.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import resource
import selectors
import socket
import struct
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gameserver import _rawlisten, protocol
from gameserver._connstate import OUTPUT_FULL, READING
from tests.serverproc import ServerProcess, ServerThread
from tests.test_server import token
from tests.wire import TERMINATOR, TIMEOUT, request, send_raw

BURST = 2_000  # more than one wake-up accepts (ACCEPTS_PER_WAKEUP)


@pytest.fixture
def many_files() -> Iterator[None]:
    """Room for a burst of sockets in this process (both ends when the server is here)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 3 * BURST + 1_000
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the system allows only {hard} open files; this test needs {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_burst_of_connections_at_once_is_served(make_server, many_files) -> None:
    """2,000 connects at once, more than one wake-up accepts; every one is answered."""
    server = make_server(max_connections_per_address=BURST)
    payload = json.dumps({"type": "discover"}).encode() + TERMINATOR
    selector = selectors.DefaultSelector()
    replies: dict[socket.socket, bytearray] = {}
    try:
        for _ in range(BURST):  # all connects first, as fast as they go
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex((server.host, server.port))
            replies[sock] = bytearray()
            selector.register(sock, selectors.EVENT_WRITE)
        waiting = set(replies)
        # The hang guard counts from the last progress, not from the start: on a loaded
        # machine the whole burst took longer than TIMEOUT (439 of 2,000 unanswered after
        # 30 s at a load average of 25-30) while every reply was on its way.
        moved = time.monotonic()
        while waiting and time.monotonic() - moved < TIMEOUT:
            ready = selector.select(1.0)
            if ready:
                moved = time.monotonic()
            for key, events in ready:
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if events & selectors.EVENT_WRITE:  # connected: send the request
                    sock.sendall(payload)
                    selector.modify(sock, selectors.EVENT_READ)
                    continue
                chunk = sock.recv(65536)
                replies[sock] += chunk
                if not chunk:
                    selector.unregister(sock)
                    waiting.discard(sock)
        assert not waiting, (f"{len(waiting)} of {BURST} connections got no reply, and "
                             f"nothing happened for {TIMEOUT} s")
        statuses = [json.loads(reply)["status"] for reply in replies.values()]
        assert statuses == ["ok"] * BURST
    finally:
        selector.close()
        for sock in replies:
            sock.close()


def connections(server: ServerThread) -> int:
    return server.call(lambda: len(server.server.connections))


def wait_until(condition: Callable[[], bool]) -> bool:
    """Poll ``condition``: the server's connection count has no event to wait on."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_kept_alive_client_that_never_reads_is_dropped(make_server) -> None:
    """Its replies fill the socket buffers; the idle deadline closes, then aborts."""
    server = make_server(connection_timeout=0.5)
    greedy = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:  # 300 replies of ~18 kB each: more than the socket buffers hold
        greedy.sendall((json.dumps({"type": "discover", "keep_alive": True}).encode()
                        + TERMINATOR) * 300)
        assert wait_until(lambda: connections(server) == 1)
        assert wait_until(lambda: connections(server) == 0)
    finally:
        greedy.close()


@pytest.mark.parametrize("bound", [4096, 100_000])  # below and above the cork's 64 KB
def test_replies_held_back_during_a_read_count_toward_reply_buffer_max(
        make_server, bound: int) -> None:
    """The replies of one read go out together (the cork), yet a client that pipelines
    and never reads leaves at most reply_buffer_max and one reply unsent, as before
    (a discover reply is ~20 kB: the games list)."""
    server = make_server(reply_buffer_max=bound)
    payload = json.dumps({"type": "discover", "keep_alive": True}).encode() + TERMINATOR
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as probe:
        probe.sendall(payload)
        reply_size = len(one_reply(probe))
    pipelined = 600  # 12 MB of replies: more than the socket buffers hold (~4 MB here)
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as greedy:
        greedy.sendall(payload * pipelined)
        for _ in range(2):  # two round trips of another client: the loop handled the rest
            request(server.port, {"type": "discover", "limit": 1})
        (connection,) = server.call(lambda: [c for c in server.server.connections
                                             if c.state is READING and c._keep_alive])
        paused, unsent = server.call(lambda: (connection._paused, len(connection._out)))
        assert paused & OUTPUT_FULL  # the socket buffers are full: the bound is reached
        assert unsent <= bound + reply_size, unsent
        replies = b""
        while replies.count(TERMINATOR) < pipelined:  # reading lets it go on
            chunk = greedy.recv(1 << 20)
            assert chunk, f"closed after {replies.count(TERMINATOR)} replies"
            replies += chunk
        assert replies.count(TERMINATOR) == pipelined


def one_reply(sock: socket.socket) -> bytes:
    """One kept-alive reply read from ``sock`` (terminator included)."""
    reply = b""
    while TERMINATOR not in reply:
        chunk = sock.recv(65536)
        assert chunk, "closed before the reply"
        reply += chunk
    return reply


def test_thousands_of_requests_in_one_packet_are_all_answered(server) -> None:
    """Kept-alive requests already received are served in a loop, not by recursion."""
    session = token("pipelined")
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(json.dumps({"type": "join", "game": "Echo", "session": session,
                                 "players": 1, "name": "", "keep_alive": True}).encode()
                     + TERMINATOR)
        reply = b""
        while TERMINATOR not in reply:
            reply += sock.recv(65536)
        key = json.loads(reply[: -len(TERMINATOR)])["data"]["key"]
        move = json.dumps({"type": "move", "game": "Echo", "session": session,
                           "player_id": 0, "key": key, "move": {"msg": 1},
                           "keep_alive": True}).encode() + TERMINATOR
        count = 5_000
        sender = threading.Thread(target=sock.sendall, args=(move * count,))
        sender.start()
        replies = b""
        while replies.count(TERMINATOR) < count:
            chunk = sock.recv(1 << 20)
            assert chunk, f"closed after {replies.count(TERMINATOR)} of {count} replies"
            replies += chunk
        sender.join(TIMEOUT)
    assert replies == (b'{"status": "ok", "data": null}' + TERMINATOR) * count


def test_deadlines_fire_late_by_at_most_a_tenth(make_server) -> None:
    """The sweep runs every connection_timeout / 10: a silent client waits about that long."""
    server = make_server(connection_timeout=1.0)
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        started = time.monotonic()
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        waited = time.monotonic() - started
    assert json.loads(reply)["message"] == "server: connection timed out on server"
    assert 0.9 <= waited < 1.0 + 0.1 + 0.5  # 0.5: a busy test machine


def test_ipv6_loopback_is_served(make_server) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this system")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    server = make_server(host="::1")
    reply = request(server.port, {"type": "join", "game": "Echo", "session": "v6",
                                  "players": 1, "name": ""}, host="::1")
    assert reply["status"] == "ok"


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.skipif(not hasattr(resource, "prlimit") or not os.path.isdir("/proc/self/fd"),
                    reason="needs Linux (prlimit, /proc)")
def test_out_of_file_descriptors_pauses_accepting_then_recovers() -> None:
    """EMFILE is logged once; connections wait in the queue and are served later."""
    with ServerProcess("--no-web") as server:
        assert server.proc is not None
        pid = server.proc.pid
        idle = []
        try:
            # Room for 5 more connections, then accept() fails with EMFILE.
            _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (open_files(pid) + 5, hard))
            for _ in range(10):  # 5 are accepted, 5 wait in the kernel's queue
                idle.append(socket.create_connection((server.host, server.port),
                                                     timeout=TIMEOUT))
            assert server.wait_for_log("cannot accept connections")
            late = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
            late.sendall(json.dumps({"type": "join", "game": "Echo", "session": "late",
                                     "players": 1, "name": ""}).encode() + TERMINATOR)
            time.sleep(0.5)  # not a wait for an event: retries (every 0.1 s) must not log
            for sock in idle:
                sock.close()
            idle.clear()
            with late:
                reply = b""
                while chunk := late.recv(65536):
                    reply += chunk
            assert json.loads(reply)["status"] == "ok"
            assert server.wait_for_log("accepting connections again")
            assert server.log.count("cannot accept connections") == 1
        finally:
            for sock in idle:
                sock.close()


class LoopWithoutReaders(asyncio.SelectorEventLoop):
    """Like Windows' proactor loop: cannot watch sockets with add_reader."""

    def add_reader(self, *args: Any) -> None:
        raise NotImplementedError


def test_a_loop_that_cannot_watch_sockets_serves_plain_tcp_on_transports(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asyncio, "new_event_loop", LoopWithoutReaders)
    with ServerThread(request_size_max=1_000) as server:
        assert server.server is not None and server.server._listener is None
        reply = request(server.port, {"type": "join", "game": "Echo", "session": "proactor",
                                      "players": 1, "name": ""})
        assert reply["status"] == "ok"
        # A refusal half-closes on this path too, so the reply survives the unread rest.
        refused = send_raw(server.port, b"x" * 100_000)
        assert json.loads(refused)["message"] == "server: request size exceeded by client"


def test_accepted_sockets_send_small_replies_at_once(make_server) -> None:
    """TCP_NODELAY on every accepted socket: a kept-alive client must not wait for Nagle."""
    server = make_server()
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as client:
        client.sendall(b'{"type": "disc')  # the connection stays open, waiting for the rest
        deadline = time.monotonic() + TIMEOUT
        while not server.call(lambda: len(server.server.connections)):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        (connection,) = server.call(lambda: list(server.server.connections))
        assert connection._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_a_burst_of_moves_with_the_store_is_answered_and_saved(make_server, tmp_path) -> None:
    """Connections accepted together are served in one pass: their changes share commits."""
    server = make_server(store=True, store_path=str(tmp_path / "burst.sqlite3"))
    count = 100
    keys = [request(server.port, {"type": "join", "game": "Echo", "session": f"b{i}",
                                  "players": 1, "name": ""})["data"]["key"]
            for i in range(count)]

    def move(i: int) -> dict[str, Any]:
        return request(server.port, {"type": "move", "game": "Echo", "session": f"b{i}",
                                     "player_id": 0, "key": keys[i], "move": {"msg": i}})

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        replies = list(pool.map(move, range(count)))
    assert all(reply == {"status": "ok", "data": None} for reply in replies)
    store = server.server.store
    assert store is not None
    snapshots = server.call(store.load_sessions)  # what a restart would bring back
    games = [s["game"].instance for s in snapshots]  # checked games, replayed
    assert sorted(game.message for game in games) == list(range(count))


def test_the_c_level_accept_works_on_this_python() -> None:
    accept, problem = _rawlisten.fast_accept()
    assert problem is None and accept is not _rawlisten._public_accept


def test_without_the_c_level_accept_the_public_one_is_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a Python whose socket module no longer has ``_accept``."""
    monkeypatch.setattr(_rawlisten, "_socket", types.SimpleNamespace(socket=object))
    accept, problem = _rawlisten.fast_accept.__wrapped__()
    assert accept is _rawlisten._public_accept and "public socket API" in problem


def test_fallbacks_from_private_fast_paths_are_logged_once_and_the_server_serves(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(_rawlisten, "fast_accept",
                        lambda: (_rawlisten._public_accept, "accept: the public one"))
    monkeypatch.setattr(protocol, "FAST_PATH_FALLBACKS", ["json: the public one"])
    with caplog.at_level(logging.WARNING, logger="gameserver.server"), \
            ServerThread(max_connections_per_address=BURST) as server:
        replies = [request(server.port, {"type": "join", "game": "Echo", "session": f"p{n}",
                                         "players": 1, "name": ""}) for n in range(3)]
        assert all(reply["status"] == "ok" for reply in replies)
    warnings = [record.getMessage() for record in caplog.records
                if record.levelno == logging.WARNING]
    assert warnings.count("accept: the public one") == 1
    assert warnings.count("json: the public one") == 1


def test_a_kept_alive_connection_reads_on_after_a_reply_that_waited_for_its_save(
        make_server, tmp_path) -> None:
    """A first request whose reply waits for the store is not watched meanwhile; after it
    the connection is read from the loop like any other (the next requests are answered).
    """
    server = make_server(store=True, store_path=str(tmp_path / "store.db"))
    stalled, go = threading.Event(), threading.Event()

    def stall() -> None:  # the loop waits here: the join is in the socket when it accepts
        stalled.set()
        go.wait(TIMEOUT)

    staller = threading.Thread(target=server.call, args=(stall,))
    staller.start()
    assert stalled.wait(TIMEOUT)
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        def send(data: dict[str, Any]) -> None:
            sock.sendall(json.dumps({**data, "keep_alive": True}).encode() + TERMINATOR)

        def ask(data: dict[str, Any]) -> dict[str, Any]:
            if data:
                send(data)
            reply = b""
            while TERMINATOR not in reply:
                chunk = sock.recv(65536)
                assert chunk, "the server closed the kept-alive connection"
                reply += chunk
            return json.loads(reply[:-len(TERMINATOR)])

        session = token()
        send({"type": "join", "game": "Echo", "session": session, "players": 1, "name": "p"})
        go.set()
        staller.join(TIMEOUT)
        joined = ask({})  # served by the first read; waited for the new session's save
        assert joined["status"] == "ok", joined
        ids = {"game": "Echo", "session": session, "player_id": joined["data"]["player_id"],
               "key": joined["data"]["key"]}
        assert ask({"type": "move", **ids, "move": {"msg": "saved"}})["status"] == "ok"
        state = ask({"type": "state", **ids, "observer": False})
        assert state["data"]["echo"] == "saved"


def test_clients_that_reset_while_their_reply_waits_for_its_save_leave_nothing_behind(
        make_server, tmp_path) -> None:
    """Moves read on the first read wait for the commit unwatched; their clients reset
    the connection meanwhile. Each reply then meets a dead socket: the connections are
    gone, and the server serves the next client.
    """
    server = make_server(store=True, store_path=str(tmp_path / "store.db"),
                         max_connections_per_address=1_000)
    session = token()
    joined = request(server.port, {"type": "join", "game": "Echo", "session": session,
                                   "players": 1, "name": "p"})["data"]
    ids = {"game": "Echo", "session": session, "player_id": joined["player_id"],
           "key": joined["key"]}
    stalled, go = threading.Event(), threading.Event()

    def stall() -> None:  # the moves are all in their sockets when the loop accepts
        stalled.set()
        go.wait(TIMEOUT)

    staller = threading.Thread(target=server.call, args=(stall,))
    staller.start()
    assert stalled.wait(TIMEOUT)
    hostile = []
    for n in range(200):
        sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
        sock.sendall(json.dumps({"type": "move", **ids, "move": {"msg": f"m{n}"}}).encode()
                     + TERMINATOR)
        hostile.append(sock)
    go.set()
    staller.join(TIMEOUT)
    for sock in hostile:  # reset (no FIN), most before their reply is written
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    state = request(server.port, {"type": "state", **ids, "observer": False})
    assert state["status"] == "ok" and state["data"]["echo"].startswith("m")
    deadline = time.monotonic() + TIMEOUT
    while server.call(lambda: len(server.server.connections)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.call(lambda: len(server.server.connections)) == 0
