"""The keep-alive extension: opt-in per request, classic behaviour untouched."""

from __future__ import annotations

import json
import socket

from tests.wire import TERMINATOR, TIMEOUT

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
