"""Abuse: floods, idle and greedy connections, huge and deep payloads, clients that
never read. Throughout, a well-behaved client must complete its game."""

from __future__ import annotations

import json
import resource
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.wire import TERMINATOR, TIMEOUT, Player, request, send_raw


def play_tictactoe(port: int, session: str) -> dict:
    """A complete game by two polite clients; returns the final state."""
    ann = Player(port, "TicTacToe", session, 2)
    bob = Player(port, "TicTacToe", session, 2)
    joiner = threading.Thread(target=ann.join)
    joiner.start()
    assert bob.join()["status"] == "ok"
    joiner.join(TIMEOUT)
    seats = {ann.player_id: ann, bob.player_id: bob}
    state = ann.state()["data"]
    bob.state()
    while not state["gameover"]:
        mover = seats[state["current"][0]]
        assert mover.move(position=state["board"].index(-1))["status"] == "ok"
        state = ann.state()["data"]
        bob.state()
    return state


def wait_until(condition, timeout: float = TIMEOUT) -> bool:
    """Poll ``condition`` (the server's counters have no event to wait on)."""
    tick = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return True
        tick.wait(0.02)
    return False


@pytest.fixture
def many_files() -> Iterator[int]:
    """Raise this process's open-file limit for tests that hold thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 12_000
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the system allows only {hard} open files; this test needs {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield wanted
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_thousands_of_idle_connections_do_not_stop_a_game(make_server, many_files) -> None:
    server = make_server(connection_timeout=60)
    idle = []
    try:
        for n in range(4000):
            # Spread over source addresses, like many clients, within per-address limits.
            sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT,
                                            source_address=(f"127.0.0.{2 + n % 50}", 0))
            idle.append(sock)
        assert wait_until(lambda: server.call(lambda: len(server.server.connections)) >= 4000)
        assert play_tictactoe(server.port, "among-idlers")["gameover"] is True
    finally:
        for sock in idle:
            sock.close()


def test_too_many_connections_from_one_address_are_refused_clearly(make_server) -> None:
    server = make_server(max_connections_per_address=5, max_connections=8)
    held = [socket.create_connection((server.host, server.port), timeout=TIMEOUT)
            for _ in range(5)]
    try:
        refused = send_raw(server.port, b"")
        assert json.loads(refused)["message"] == (
            "server: too many connections from your address (at most 5); close some and "
            "try again")
        # Another address still gets in, until the global limit.
        other = [socket.create_connection((server.host, server.port), timeout=TIMEOUT,
                                          source_address=("127.0.0.3", 0)) for _ in range(3)]
        try:
            reply = send_raw(server.port, b"", host="127.0.0.1")
            assert "too many connections" in json.loads(reply)["message"]
            with socket.create_connection((server.host, server.port), timeout=TIMEOUT,
                                          source_address=("127.0.0.4", 0)) as late:
                late.sendall(b"{}" + TERMINATOR)
                assert b"server: too many connections (8)" in late.recv(1000)
        finally:
            for sock in other:
                sock.close()
    finally:
        for sock in held:
            sock.close()
    # Once they are closed, the address may connect again.
    assert play_tictactoe(server.port, "after")["gameover"] is True


def test_a_flood_of_new_sessions_from_one_address_is_slowed_down(make_server) -> None:
    """80 sessions started as fast as possible, 50 per minute allowed."""
    server = make_server(new_sessions_per_minute=50)
    started = time.monotonic()
    replies = [request(server.port, {"type": "join", "game": "Echo", "session": f"f{n}",
                                     "players": 1, "name": ""}) for n in range(80)]
    elapsed = time.monotonic() - started
    refused = [r for r in replies if r["status"] == "error"]
    assert all(r["status"] == "ok" for r in replies[:50])  # the bucket starts full
    # Beyond that, only what refilled meanwhile (50 a minute) got through.
    assert 80 - len(refused) <= 50 + int(elapsed * 50 / 60) + 1
    assert refused[0]["message"].startswith(
        "framework: too many new sessions from your address (at most 50 a minute)")
    # The same address stays limited; other addresses are not affected.
    reply = json.loads(send_raw(server.port, json.dumps(
        {"type": "join", "game": "Echo", "session": "elsewhere", "players": 1,
         "name": ""}).encode() + TERMINATOR, host="127.0.0.1"))
    assert reply["status"] == "error"  # same address, still limited
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT,
                                  source_address=("127.0.0.5", 0)) as sock:
        sock.sendall(json.dumps({"type": "join", "game": "Echo", "session": "other-address",
                                 "players": 1, "name": ""}).encode() + TERMINATOR)
        assert json.loads(sock.makefile("rb").read())["status"] == "ok"


def test_session_count_and_name_lengths_are_limited(make_server) -> None:
    server = make_server(max_sessions=3, max_name_length=10)

    def join(session: str, name: str = "") -> dict:
        return request(server.port, {"type": "join", "game": "Echo", "session": session,
                                     "players": 1, "name": name})

    assert join("s" * 11)["message"] == ("framework: session name too long (11 characters; "
                                         "at most 10)")
    assert join("ok", name="n" * 11)["message"].startswith("framework: player name too long")
    assert [join(f"s{n}")["status"] for n in range(3)] == ["ok"] * 3
    assert join("s4")["message"] == ("framework: the server has too many sessions (3); "
                                     "try again later")


def test_huge_and_deep_payloads_are_refused_while_a_game_goes_on(make_server) -> None:
    server = make_server(request_size_max=100_000)
    results: dict[str, bytes] = {}

    def attack(name: str, payload: bytes) -> None:
        results[name] = send_raw(server.port, payload)

    attacks = [
        threading.Thread(target=attack, args=("huge", b"[" + b"1," * 3_000_000 + b"1]"
                                              + TERMINATOR)),
        threading.Thread(target=attack, args=("deep", b"[" * 50_000 + b"]" * 50_000
                                              + TERMINATOR)),
        threading.Thread(target=attack, args=("deep-ok-size", b'{"type": "join", "x": '
                                              + b"[" * 40 + b"]" * 40 + b"}" + TERMINATOR)),
    ]
    for thread in attacks:
        thread.start()
    assert play_tictactoe(server.port, "meanwhile")["gameover"] is True
    for thread in attacks:
        thread.join(TIMEOUT)
    assert json.loads(results["huge"])["message"] == "server: request size exceeded by client"
    assert json.loads(results["deep"])["message"] == "server: request size exceeded by client"
    assert json.loads(results["deep-ok-size"])["message"] == (
        "server: request is nested too deeply (more than 32 levels of lists and objects)")


def test_a_client_that_never_reads_its_reply_is_dropped(make_server) -> None:
    server = make_server(connection_timeout=1, request_size_max=8_000_000)
    chatter = Player(server.port, "Echo", "big", 1)  # (Chat keeps 250,000 characters)
    chatter.join()
    # A state of several megabytes: more than the socket buffers hold.
    assert chatter.move(msg="y" * 7_000_000)["status"] == "ok"
    greedy = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    greedy.sendall(json.dumps({"type": "state", "game": "Echo", "session": "big",
                               "player_id": 0, "key": chatter.key, "observer": False}).encode()
                   + TERMINATOR)
    try:
        assert play_tictactoe(server.port, "while-greedy")["gameover"] is True
        # The stuck reply is abandoned after connection_timeout: the server lets go of it.
        assert wait_until(lambda: server.call(lambda: len(server.server.connections)) == 0)
    finally:
        greedy.close()


def test_a_request_one_server_kept_is_refused_by_a_stricter_server_in_the_same_process(
        make_server) -> None:
    """Decoded requests are kept process-wide, by their bytes (``protocol._KNOWN``): two
    servers in one process share them. A request a lenient server decoded and kept must
    not pass a stricter server's ``max_json_depth`` the next time the same bytes come."""
    lenient, strict = make_server(max_json_depth=64), make_server(max_json_depth=1)
    move = {"type": "move", "game": "Echo", "session": "nobody-here", "player_id": 0,
            "key": "k", "move": {"msg": "hi"}}
    payload = json.dumps(move).encode() + TERMINATOR
    for _ in range(2):  # (the second time: found among the requests kept)
        assert json.loads(send_raw(lenient.port, payload))["message"] == (
            "framework: no such game session")
        assert json.loads(send_raw(strict.port, payload))["message"] == (
            "server: request is nested too deeply (more than 1 levels of lists and objects)")
