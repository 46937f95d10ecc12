"""The keep-alive extension: opt-in per request, classic behaviour untouched."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from tests.serverproc import ROOT
from tests.wire import TERMINATOR, TIMEOUT, until

_buffers: dict[int, bytes] = {}


def read_until_terminator(sock: socket.socket) -> bytes:
    """Read one terminated reply, keeping bytes of the next one for the next call."""
    data = _buffers.pop(sock.fileno(), b"")
    while TERMINATOR not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the terminator; got {data!r}"
        data += chunk
    reply, _, rest = data.partition(TERMINATOR)
    if rest:
        _buffers[sock.fileno()] = rest
    return reply


def send(sock: socket.socket, data: dict) -> None:
    sock.sendall(json.dumps(data).encode() + TERMINATOR)


def test_many_requests_on_one_connection_then_classic_close(server) -> None:
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        send(sock, {"type": "join", "game": "Echo", "session": "ka", "players": 1,
                    "name": "", "keep_alive": True})
        joined = json.loads(read_until_terminator(sock))["data"]
        ids = {"game": "Echo", "session": "ka", "player_id": 0, "key": joined["key"]}
        for n in range(50):
            send(sock, {"type": "move", **ids, "move": {"msg": n}, "keep_alive": True})
            assert json.loads(read_until_terminator(sock)) == {"status": "ok", "data": None}
            send(sock, {"type": "state", **ids, "observer": False, "keep_alive": True})
            state = json.loads(read_until_terminator(sock))
            assert state["data"]["echo"] == n
        # Without the key the reply is classic: no terminator, then the server closes.
        send(sock, {"type": "move", **ids, "move": {"msg": "bye"}})
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
    assert json.loads(rest) == {"status": "ok", "data": None}


def test_two_requests_in_one_packet_are_both_answered(server) -> None:
    join = {"type": "join", "game": "Echo", "session": "ka2", "players": 1, "name": ""}
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        send(sock, {**join, "keep_alive": True})
        key = json.loads(read_until_terminator(sock))["data"]["key"]
        ids = {"game": "Echo", "session": "ka2", "player_id": 0, "key": key}
        both = [{"type": "move", **ids, "move": {"msg": "a"}, "keep_alive": True},
                {"type": "state", **ids, "observer": False, "keep_alive": True}]
        sock.sendall(b"".join(json.dumps(r).encode() + TERMINATOR for r in both))
        assert json.loads(read_until_terminator(sock))["status"] == "ok"
        assert json.loads(read_until_terminator(sock))["data"]["echo"] == "a"


def test_errors_on_a_kept_alive_connection_keep_it_open(server) -> None:
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        send(sock, {"type": "move", "game": "Echo", "session": "none", "player_id": 0,
                    "key": "x", "move": {}, "keep_alive": True})
        assert json.loads(read_until_terminator(sock)) == {
            "status": "error", "message": "framework: no such game session"}
        send(sock, {"type": "observe", "game": "Nope", "session": "s", "name": "n",
                    "keep_alive": True})
        assert "no such game" in json.loads(read_until_terminator(sock))["message"]


def test_idle_kept_alive_connection_is_closed_without_a_reply(make_server) -> None:
    server = make_server(connection_timeout=0.3)
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        send(sock, {"type": "join", "game": "Echo", "session": "idle", "players": 1,
                    "name": "", "keep_alive": True})
        read_until_terminator(sock)
        assert sock.recv(65536) == b""  # closed by the server, nothing sent


def test_moves_sent_together_are_saved_by_one_commit_and_answered_in_order(
        make_server, tmp_path) -> None:
    """A vector of environments moves in 16 sessions with one write (store on):
    the moves share a commit instead of taking one each, and the replies keep
    the order of the requests."""
    server = make_server(store=True, store_path=str(tmp_path / "s.db"))
    count = 16
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        keys = []
        for i in range(count):
            send(sock, {"type": "join", "game": "Echo", "session": f"v{i}", "players": 1,
                        "name": "", "keep_alive": True})
            keys.append(json.loads(read_until_terminator(sock))["data"]["key"])
        store = server.server.store
        before = server.call(lambda: store.commits)
        moves = [{"type": "move", "game": "Echo", "session": f"v{i}", "player_id": 0,
                  "key": key, "move": {"msg": i}, "keep_alive": True}
                 for i, key in enumerate(keys)]
        states = [{"type": "state", "game": "Echo", "session": f"v{i}", "player_id": 0,
                   "key": key, "observer": False, "keep_alive": True}
                  for i, key in enumerate(keys)]
        sock.sendall(b"".join(json.dumps(r).encode() + TERMINATOR for r in moves + states))
        replies = [json.loads(read_until_terminator(sock)) for _ in range(2 * count)]
        commits = server.call(lambda: store.commits) - before
    assert replies[:count] == [{"status": "ok", "data": None}] * count
    assert [reply["data"]["echo"] for reply in replies[count:]] == list(range(count))
    # One read serves them all (one commit); two if the kernel split the write.
    assert 1 <= commits <= 2, f"{commits} commits for {count} moves sent together"


class SlowDisk:
    """Holds the store's writer thread inside its next commit until ``go()``: a disk
    that takes its time. SQLite's own progress callback on the writer's connection
    (``store_sync="full"``: every commit is the writer thread's) does the holding.

    The callback is set once per store, from the loop while no commit is in flight
    (the connection is the writer thread's while one is: ``Store._in_flight``); a later
    ``SlowDisk`` of the same server takes it over. (Each set its own, and the second
    hung the process when the writer thread was committing: ``set_progress_handler``
    waits for the connection's SQLite lock holding the GIL, and the writer thread,
    holding that lock, ran the first callback, which waits for the GIL.)"""

    def __init__(self, server) -> None:
        self._open = threading.Event()
        self._open.set()
        self.holding = threading.Event()  # a commit is held right now
        store = server.server.store
        current = _slow_disks.get(store)
        if current is not None:  # the store's callback is set: this disk takes it over
            current[0] = self
            return
        current = _slow_disks[store] = [self]

        def progress() -> int:
            if threading.current_thread().name == "gameserver-store":
                disk = current[0]
                while not disk._open.is_set():
                    disk.holding.set()
                    disk._open.wait(TIMEOUT)
            return 0

        def set_callback() -> bool:
            if store._in_flight is not None:  # the writer thread's connection now
                return False
            store.db.set_progress_handler(progress, 1)
            return True

        until(lambda: server.call(set_callback), "no commit in flight")

    def stop(self) -> None:
        self.holding.clear()
        self._open.clear()

    def go(self) -> None:
        self._open.set()

    def __enter__(self) -> SlowDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.go()  # whatever failed: the server must be able to stop


_slow_disks: weakref.WeakKeyDictionary[Any, list[SlowDisk]] = weakref.WeakKeyDictionary()


def a_second_slow_disk(path: str) -> None:
    """A second ``SlowDisk`` of a server made while the first holds a commit; each holds
    the commits after its ``stop()``. Run in a child process: it hung there."""
    from tests.serverproc import ServerThread

    with ServerThread(store=True, store_path=path, store_sync="full") as server, \
            socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        first = SlowDisk(server)
        send(sock, {"type": "join", "game": "Echo", "session": "s", "players": 1, "name": "",
                    "keep_alive": True})
        move = {"type": "move", "game": "Echo", "session": "s", "player_id": 0,
                "key": json.loads(read_until_terminator(sock))["data"]["key"],
                "move": {"msg": "held"}, "keep_alive": True}
        with first:
            first.stop()
            send(sock, move)
            assert first.holding.wait(TIMEOUT)
            second = SlowDisk(server)
        assert json.loads(read_until_terminator(sock))["status"] == "ok"
        with second:
            second.stop()
            send(sock, move)
            assert second.holding.wait(TIMEOUT)
        assert json.loads(read_until_terminator(sock))["status"] == "ok"


def test_a_second_slow_disk_takes_over_while_the_first_holds_a_commit(tmp_path) -> None:
    """A test helper's hang, in a child process (the GIL is held: the whole process
    stood still, pytest's timeout too), failing at the timeout instead."""
    path = str(tmp_path / "s.db")
    code = f"from tests.test_server_keepalive import a_second_slow_disk as run; run({path!r})"
    child = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
    assert child.returncode == 0, child.stderr


def solo_echo(server, sock: socket.socket, session: str) -> tuple[dict[str, Any], Any, Any]:
    """Join a one-player Echo ``session`` kept alive on ``sock``, the server's only
    connection: the request's ids, and the server's connection and session."""
    send(sock, {"type": "join", "game": "Echo", "session": session, "players": 1,
                "name": "", "keep_alive": True})
    ids = {"game": "Echo", "session": session, "player_id": 0,
           "key": json.loads(read_until_terminator(sock))["data"]["key"]}
    [conn] = server.call(lambda: list(server.server.connections))
    return ids, conn, server.call(lambda: server.server.lobby.sessions[("Echo", session)])


@pytest.mark.parametrize("tls", [False, True])
def test_large_moves_pipelined_behind_a_slow_commit_stop_at_the_open_batchs_bound(
        make_server, tmp_path, tls_pair, tls) -> None:
    """While the writer thread's commit is held (a slow disk), a kept-alive client
    pipelines 100 KB moves whose replies are tiny. Held replies count their replies'
    bytes, not their moves': until 2026-11-29 each of about 7,000 such moves per
    connection went into the open batch (300 moves measured: 30 MB, nothing paused).
    Past ``OPEN_BATCH_MAX`` a reply that waits for that batch is no longer held: its
    connection waits for the commit (serves nothing more), then every reply comes, in
    order. (Plain TCP: a raw socket; TLS: an asyncio transport.)"""
    from gameserver.store import writer

    size, count = 100_000, 300  # 30 MB of moves, well above the bound
    cert, key = tls_pair
    server = make_server(store=True, store_path=str(tmp_path / "s.db"), store_sync="full",
                         **({"tls_cert": cert, "tls_key": key} if tls else {}))
    store = server.server.store
    disk = SlowDisk(server)
    sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
    if tls:
        sock = ssl.create_default_context(cafile=cert).wrap_socket(
            sock, server_hostname="127.0.0.1")
    with sock, disk:
        ids, conn, session = solo_echo(server, sock, "big")
        disk.stop()
        send(sock, {"type": "move", **ids, "move": {"msg": "first"}, "keep_alive": True})
        assert disk.holding.wait(TIMEOUT)  # its commit is in flight, and stays there
        big = json.dumps({"type": "move", **ids, "move": {"msg": "x" * size},
                          "keep_alive": True}).encode() + TERMINATOR
        def send_all() -> None:  # (each send has the socket's timeout, not all of them)
            for _ in range(count):
                sock.sendall(big)

        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        until(lambda: server.call(lambda: conn.state.name == "WAITING"
                                  or session.moves == 1 + count), "waiting or all made")
        made, open_bytes = server.call(lambda: (session.moves - 1, store._batch.ops.size))
        assert open_bytes < writer.OPEN_BATCH_MAX + 2 * size, (made, open_bytes)
        assert made < count
        disk.go()
        sender.join(TIMEOUT)  # (the replies are small: the kernel takes them meanwhile)
        assert not sender.is_alive()
        replies = [json.loads(read_until_terminator(sock)) for _ in range(1 + count)]
    assert all(reply == {"status": "ok", "data": None} for reply in replies)
    assert server.call(lambda: session.moves) == 1 + count


@pytest.mark.parametrize("ending", ["classic", "hang-up", "refused"])
def test_held_replies_and_the_last_one_are_sent_after_earlier_unsent_replies(
        make_server, tmp_path, ending) -> None:
    """The client has replies still unsent (it reads slowly) when it ends the connection
    behind a reply held for a slow save: the close waits for the held replies, not only
    for what was unsent when it came."""
    server = make_server(store=True, store_path=str(tmp_path / "s.db"), store_sync="full",
                         request_size_max=200_000)
    disk = SlowDisk(server)
    with socket.socket() as sock, disk:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # above a segment
        sock.settimeout(TIMEOUT)
        sock.connect((server.host, server.port))
        ids, conn, session = solo_echo(server, sock, "slow")
        big = {"type": "move", **ids, "move": {"msg": "x" * 60_000}, "with_state": True,
               "keep_alive": True}
        sent = 0
        while not server.call(lambda: bool(conn._out)):  # replies wait in the server
            assert sent < 400, "the kernel took every reply"
            send(sock, big)
            sent += 1
            until(lambda moves=sent: server.call(
                lambda: session.moves == moves and conn._held is None), "answered")
        disk.stop()
        send(sock, {"type": "move", **ids, "move": {"msg": "last"}, "keep_alive": True})
        if ending == "classic":
            send(sock, {"type": "discover"})
        elif ending == "hang-up":
            sock.shutdown(socket.SHUT_WR)
        else:
            sock.sendall(b"x" * 200_001)
        until(lambda: server.call(lambda: conn.state.name in ("CLOSING", "DRAINING")), "ending")
        assert disk.holding.wait(TIMEOUT)
        if ending != "refused":  # CLOSING reads nothing (a hung-up socket stays readable)
            assert not server.call(lambda: conn._reading)
        for _ in range(sent):  # the client takes what was unsent
            assert json.loads(read_until_terminator(sock))["data"] is None
        until(lambda: server.call(lambda: not conn._out), "sent")
        disk.go()
        rest = _buffers.pop(sock.fileno(), b"")
        while chunk := sock.recv(65536):
            rest += chunk
    held, _, last = rest.partition(TERMINATOR)
    assert json.loads(held) == {"status": "ok", "data": None}
    if ending == "classic":  # the classic reply, without terminator
        assert "Echo" in json.dumps(json.loads(last))
    elif ending == "refused":
        assert json.loads(last)["message"] == "server: request size exceeded by client"
    else:
        assert last == b""


def slow_client(server, tls_pair, tls: bool) -> socket.socket:
    """A connected client with a tiny receive buffer, and the server's side of it with a
    tiny send buffer: on loopback the kernel would otherwise take megabytes of replies
    at once, where a client far away reading slowly leaves them in the server."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)
    sock.connect((server.host, server.port))
    if tls:
        sock = ssl.create_default_context(cafile=tls_pair[0]).wrap_socket(
            sock, server_hostname="localhost")
    send(sock, {"type": "discover", "keep_alive": True})
    read_until_terminator(sock)  # (the connection is known to the server now)
    [conn] = server.call(lambda: list(server.server.connections))
    ours = conn._sock if not tls else conn._transport.get_extra_info("socket")
    server.call(ours.setsockopt, socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return sock


def read_slowly_and_ask_again(sock: socket.socket, count: int) -> None:
    """Read ``count`` replies 4 KB at a time, 20 ms apart (~200 KB/s at most), then ask
    once more: the connection must still be open."""
    replies = _buffers.pop(sock.fileno(), b"")
    while replies.count(TERMINATOR) < count:
        chunk = sock.recv(4096)
        assert chunk, f"closed after {replies.count(TERMINATOR)} of {count} replies"
        replies += chunk
        time.sleep(0.02)  # the slow reader's pace (no timing is asserted)
    send(sock, {"type": "discover", "keep_alive": True, "limit": 1})  # still open
    assert json.loads(read_until_terminator(sock))["status"] == "ok"


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_client_that_reads_slowly_is_alive_and_gets_every_reply(
        make_server, tls_pair, tls: bool) -> None:
    """Taking its replies, however slowly, keeps a kept-alive client alive: it is not
    hung up at connection_timeout, nor aborted mid-reply a timeout later. (It was: only
    a request or a subscription's push counted.) Its pace here, ~200 KB/s at most,
    takes ~2 s for the replies and would have been cut off at 0.8 + 0.8 s. (The
    timeout is 40 times the pace: only a stall of the whole test process that long
    could end the connection.)"""
    cert, key = tls_pair
    server = make_server(connection_timeout=0.8, **({"tls_cert": cert, "tls_key": key}
                                                    if tls else {}))
    with slow_client(server, tls_pair, tls) as sock:
        count = 20  # discover replies of ~20 KB each
        sock.sendall((json.dumps({"type": "discover", "keep_alive": True}).encode()
                      + TERMINATOR) * count)
        read_slowly_and_ask_again(sock, count)


@contextlib.contextmanager
def replies_in_the_kernel(server, count: int) -> Iterator[tuple[socket.socket, Any]]:
    """A client with a tiny receive buffer that asked for ``count`` discover replies (~20 KB
    each) at once, and the server's side of it, with a large send buffer: the replies
    leave our buffer at once, into the kernel's."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)
    with sock:
        sock.connect((server.host, server.port))
        send(sock, {"type": "discover", "keep_alive": True})
        read_until_terminator(sock)
        [conn] = server.call(lambda: list(server.server.connections))
        server.call(conn._sock.setsockopt, socket.SOL_SOCKET, socket.SO_SNDBUF, 2**21)
        sock.sendall((json.dumps({"type": "discover", "keep_alive": True}).encode()
                      + TERMINATOR) * count)
        yield sock, conn


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TIOCOUTQ: Linux")
def test_a_slow_reader_of_replies_the_kernel_holds_is_alive(make_server) -> None:
    """All its replies left our buffer at once, into the kernel's (a large send buffer):
    the deadline then asks the kernel whether the client took some since (it did: it is
    not hung up), not only our buffer. (It was: closed after 0.8 s, data then FIN.)"""
    server = make_server(connection_timeout=0.8)
    count = 20
    with replies_in_the_kernel(server, count) as (sock, conn):
        until(lambda: server.call(lambda: not conn._out and not conn._reader.pending),
              "every reply handed to the kernel")
        read_slowly_and_ask_again(sock, count)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TIOCOUTQ: Linux")
def test_a_client_that_took_the_last_replies_the_kernel_held_is_not_idle(
        make_server, monkeypatch) -> None:
    """A client that took the rest of the replies the kernel held since the last deadline
    took some: the deadline starts again, as when it took part of them. It was hung up as
    an idle connection there (the queue, empty now, counted as nothing unsent), though it
    had read a moment before: a slow reader that read its last reply just before a
    deadline lost its connection as it asked again (the flaky
    ``test_a_slow_reader_of_replies_the_kernel_holds_is_alive``, under load). Here the
    client reads everything between two deadlines, and the second must not hang it up."""
    server = make_server(connection_timeout=0.5)
    count = 20
    after: list[tuple[bool, int | None]] = []  # each deadline of the client's: closed, seen
    with replies_in_the_kernel(server, count) as (sock, conn):
        timed_out = type(conn)._timed_out

        def recorded(self) -> None:  # (what the deadline left, noted there: no race)
            timed_out(self)
            if self is conn:
                after.append((self._sock is None, self._unsent_seen))

        monkeypatch.setattr(type(conn), "_timed_out", recorded)
        until(lambda: after, "a deadline while the kernel holds replies")
        replies = _buffers.pop(sock.fileno(), b"")
        while replies.count(TERMINATOR) < count:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {replies.count(TERMINATOR)} of {count} replies"
            replies += chunk
        until(lambda: any(closed or seen == 0 for closed, seen in after),
              "the deadline after the last reply was taken")
    # (An idle client is hung up one timeout after that: as it should be.)
    assert next(a for a in after if a[0] or a[1] == 0) == (False, 0), after


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_kept_alive_client_that_reads_nothing_is_still_dropped(
        make_server, tls_pair, tls: bool) -> None:
    """Only what a client takes counts: one that takes nothing of its replies is hung
    up at connection_timeout and its replies dropped a timeout later, as before."""
    cert, key = tls_pair
    server = make_server(connection_timeout=0.3, **({"tls_cert": cert, "tls_key": key}
                                                    if tls else {}))
    with slow_client(server, tls_pair, tls) as greedy:
        greedy.sendall((json.dumps({"type": "discover", "keep_alive": True}).encode()
                        + TERMINATOR) * 30)
        until(lambda: server.call(lambda: len(server.server.connections)) == 0, "dropped")


class TLSClient:
    """TLS by hand (``ssl.SSLObject``) over a socket: unlike ``SSLSocket`` it can send its
    close_notify, or a bare FIN, and still read what the server sends after it."""

    def __init__(self, sock: socket.socket, cafile: str) -> None:
        self.sock = sock
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        context = ssl.create_default_context(cafile=cafile)
        self.tls = context.wrap_bio(self._in, self._out, server_hostname="localhost")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._pump()
        self._flush()

    def _flush(self) -> None:
        records = self._out.read()
        if records:
            self.sock.sendall(records)

    def _pump(self) -> None:
        self._flush()
        data = self.sock.recv(65536)
        if data:
            self._in.write(data)
        else:
            self._in.write_eof()

    def send(self, data: bytes) -> None:
        self.tls.write(data)
        self._flush()

    def close_notify(self) -> None:
        with contextlib.suppress(ssl.SSLWantReadError):
            self.tls.unwrap()  # ours is sent; the server's comes after its replies
        self._flush()

    def read_to_the_end(self) -> bytes:
        """Everything the server sends until its close_notify (or its FIN)."""
        data = b""
        while True:
            try:
                chunk = self.tls.read(65536)
            except ssl.SSLWantReadError:
                self._pump()
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return data
            if not chunk:
                return data
            data += chunk


@pytest.mark.parametrize("ending", ["close_notify", "fin", "refused"])
def test_tls_replies_held_for_their_save_are_sent_after_the_client_closes_its_side(
        make_server, tmp_path, tls_pair, ending) -> None:
    """As on plain TCP: a TLS client that sends its moves and then closes its side
    (a close_notify, or a bare FIN) gets the replies held for the commit, then the
    server's close_notify. (asyncio's TLS closed at once and dropped them.) One that
    sends a request too large gets them, then its refusal, then the close_notify."""
    cert, key = tls_pair
    server = make_server(store=True, store_path=str(tmp_path / "s.db"), store_sync="full",
                         tls_cert=cert, tls_key=key, request_size_max=200_000)
    disk = SlowDisk(server)
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock, disk:
        client = TLSClient(sock, cert)
        client.send(json.dumps({"type": "join", "game": "Echo", "session": "tls", "players": 1,
                                "name": "", "keep_alive": True}).encode() + TERMINATOR)
        joined = b""
        while TERMINATOR not in joined:
            try:
                joined += client.tls.read(65536)
            except ssl.SSLWantReadError:
                client._pump()
        ids = {"game": "Echo", "session": "tls", "player_id": 0,
               "key": json.loads(joined.partition(TERMINATOR)[0])["data"]["key"]}
        [conn] = server.call(lambda: list(server.server.connections))
        disk.stop()
        client.send(b"".join(json.dumps({"type": "move", **ids, "move": {"msg": n},
                                         "keep_alive": True}).encode() + TERMINATOR
                             for n in range(3)))
        assert disk.holding.wait(TIMEOUT)  # the moves' commit is under way
        if ending == "close_notify":
            client.close_notify()
        elif ending == "fin":
            sock.shutdown(socket.SHUT_WR)
        else:
            client.send(b"x" * 200_001)
        until(lambda: server.call(lambda: conn.state.name == (
            "DRAINING" if ending == "refused" else "CLOSING")), "the client's end seen")
        disk.go()
        replies = client.read_to_the_end()
    *held, last = replies.split(TERMINATOR)
    assert held == [b'{"status": "ok", "data": null}'] * 3
    assert json.loads(last or "null") == (None if ending != "refused" else {
        "status": "error", "message": "server: request size exceeded by client"})
    assert server.call(lambda: server.server.lobby.sessions[("Echo", "tls")].moves) == 3
