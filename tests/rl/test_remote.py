"""The network table: one keep-alive connection, ordered joins, hand-overs, failures."""

from __future__ import annotations

import gc
import json
import math
import select
import socket
import ssl
import struct
import sys
import threading
import time
import warnings
from typing import Any

import numpy as np
import pytest

from gameserver import _no_such_game, _tlsconn, admission, protocol
from gameserver.games.nim import Nim
from gameserver.games.tictactoe import TicTacToe
from gameserver.lobby import TIMED_OUT
from gameserver.rl import GameError, RandomAgent, _remote, aec_env, gym_env, vector_env
from gameserver.web.source import session_summary
from tests.rl.helpers import play_randomly
from tests.test_any_game_client import broken_race_folder
from tests.wire import request, until

TIMEOUT = 20.0  # seconds for any reply: a request that blocks by mistake fails the test


def test_games_show_in_the_history_with_the_player_names(make_server, tmp_path) -> None:
    server = make_server(store=True, store_path=str(tmp_path / "rl.sqlite3"))
    env = aec_env("TicTacToe", server=(server.host, server.port), names=["alice", "bob"],
                  session="rl-history", timeout=TIMEOUT)
    env.reset(seed=1)
    policy = RandomAgent(1)
    for _ in range(3):
        play_randomly(env, policy)
        env.reset()
    # The session and its names are on the dashboard's list of sessions meanwhile.
    summary = server.call(
        lambda: session_summary(server.server.lobby.sessions[("TicTacToe", "rl-history")]))
    assert [p["name"] for p in summary["players"]] == ["alice", "bob"]
    env.close()
    # The env does not wait for the disk (``wait_for_save``): the last game's end is
    # committed a moment later.
    records = until(lambda: len(finished := server.call(
        lambda: server.server.history.finished_games("TicTacToe"))) == 3 and finished,
        "the three games in the history")
    assert all(r["session"] == "rl-history" and r["players"] == ["alice", "bob"]
               for r in records)


@pytest.mark.parametrize("players", [2, 4])
def test_seats_are_joined_in_order_so_names_match_player_ids(make_server, players) -> None:
    server = make_server()
    names = [f"seat{n}" for n in range(players)]
    env = aec_env("NumberRace", players, server=(server.host, server.port), names=names,
                  session="order", timeout=TIMEOUT)
    env.reset()
    summary = server.call(
        lambda: session_summary(server.server.lobby.sessions[("NumberRace", "order")]))
    assert [p["name"] for p in summary["players"]] == names
    env.close()


def test_after_a_finished_game_every_seat_sees_the_new_game(make_server) -> None:
    """The restart hand-over (the old final state, once) is taken and dropped."""
    server = make_server()
    env = aec_env("TicTacToe", server=(server.host, server.port), timeout=TIMEOUT)
    env.reset(seed=2)
    policy = RandomAgent(2)
    for _ in range(4):
        play_randomly(env, policy)
        env.reset()
        assert not any(env.terminations.values())
        for agent in env.agents:
            observation = env.observe(agent)["observation"]
            assert observation[:, :, 2].sum() == 9  # every cell empty
    env.close()


def test_a_reset_in_the_middle_of_a_game_owes_nobody_a_hand_over(make_server) -> None:
    server = make_server()
    env = aec_env("Nim", server=(server.host, server.port), timeout=TIMEOUT)
    env.reset()
    env.step(0)
    env.reset()
    assert env.observe("player_1")["observation"].argmax(axis=1).tolist() == [3, 4, 5]
    env.step(0)
    assert env.observe("player_0")["observation"].argmax(axis=1).tolist() == [2, 4, 5]
    env.close()


def test_no_server_at_the_address_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens here
    env = aec_env("TicTacToe", server=("127.0.0.1", port), timeout=TIMEOUT)
    with pytest.raises(GameError, match=f"cannot connect to the server at 127.0.0.1:{port}: "
                       r".*; is the server running\? Start it first: python3 -m gameserver "
                       r"\(and check the port number\)$"):
        env.reset()
    env.close()


def test_a_name_lookup_that_never_ends_is_bounded_by_the_connect_timeout(
        slow_names: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name server that does not answer held the env in the lookup of
    ``socket.create_connection`` for the system resolver's own time (5 s per try and
    server, and more), whatever its timeouts, and so did ``close()``'s leaves: now the
    lookup gets CONNECT_TIMEOUT (the leaves: their LEAVE_TIMEOUT), and the error says what
    to check. A second try waits for the lookup under way (one thread per name)."""
    monkeypatch.setattr(_remote, "CONNECT_TIMEOUT", 0.3)
    monkeypatch.setattr(_remote, "LEAVE_TIMEOUT", 0.3)
    link = _remote.Link((slow_names.name, 4711), timeout=TIMEOUT)
    slow_names.refuse_twice(
        lambda: link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00']), GameError,
        r"^cannot connect to the server at slow-name-server.example:4711: looking up the "
        r"name 'slow-name-server.example' took longer than 0.3 s: is the name right, and "
        r"the network's name server within reach\? \(An IP address, such as 127.0.0.1, "
        r"needs no lookup.\)$")
    link.leave([b'{"type": "leave", "keep_alive": true}EOT\x00'])  # (errors ignored)
    assert slow_names.held == 1  # (returned before the lookup ended)


def test_a_name_that_is_not_found_says_what_to_check() -> None:
    link = _remote.Link(("no-such-host.invalid", 4711), timeout=TIMEOUT)
    with pytest.raises(GameError, match=r"^cannot connect to the server at "
                                        r"no-such-host.invalid:4711: the name "
                                        r"'no-such-host.invalid' (was not found|took longer)"):
        link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00'])


def test_a_session_taken_over_by_another_env_is_reported(make_server) -> None:
    server = make_server()
    first = aec_env("TicTacToe", server=(server.host, server.port), session="same",
                    timeout=TIMEOUT)
    first.reset()
    second = aec_env("TicTacToe", server=(server.host, server.port), session="same",
                     timeout=TIMEOUT)
    second.reset()  # a full session of the same name is replaced, as for any client
    with pytest.raises(GameError, match="invalid key .has another client started a new "
                                        "session 'same', replacing this one"):
        first.step(4)
    first.close()
    second.close()


def discovers(server: Any) -> int:
    """The discover requests ``server`` has answered."""
    return server.call(lambda: server.server.metrics.requests["discover", "ok"])


def delaying_proxy(target: tuple[str, int], delay: float) -> int:
    """A port that forwards each connection to ``target``, the first join ``delay``
    seconds late (a server slow to seat a joiner, as over a slow network)."""
    listener = socket.create_server(("127.0.0.1", 0))
    joins = []

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)  # (a join's reply ends with its connection)
        except OSError:
            pass

    def forward(conn: socket.socket) -> None:
        with conn, socket.create_connection(target) as upstream:
            first = conn.recv(65536)
            if b'"join"' in first:
                joins.append(first)
                if len(joins) == 1:
                    time.sleep(delay)
            upstream.sendall(first)
            threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
            pipe(conn, upstream)

    def serve() -> None:
        with listener:
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=forward, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def test_a_seat_that_takes_a_while_is_awaited_with_pauses(make_server) -> None:
    """Seats join in order: the env asks discovery until a join shows, pausing between
    the requests (it asked without a pause: thousands of requests in a second's wait)."""
    server = make_server()
    port = delaying_proxy((server.host, server.port), 0.5)
    env = aec_env("TicTacToe", server=("127.0.0.1", port), timeout=TIMEOUT)
    before = discovers(server)
    started = time.monotonic()
    env.reset()  # seat 0's join comes 0.5 s late: the join of seat 1 waits for it
    waited = time.monotonic() - started
    asked = discovers(server) - before
    # Pauses that double up to SEATED_PAUSE_MAX: at most this many requests however
    # long the wait took (a slow machine waits longer and asks no more often).
    pauses = math.ceil(math.log2(_remote.SEATED_PAUSE_MAX / _remote.SEATED_PAUSE_FIRST))
    assert 1 <= asked <= 2 + pauses + waited / _remote.SEATED_PAUSE_MAX, (asked, waited)
    env.step(4)  # seated and playing
    env.close()


def test_a_refused_join_is_reported_at_once_with_the_servers_reason(make_server) -> None:
    """The env waited for a refused seat until its timeout (asking discovery without a
    pause), then said the server did not seat it; now it reads the refusal."""
    server = make_server(overwrite="idle")
    first = aec_env("TicTacToe", server=(server.host, server.port), session="busy",
                    timeout=TIMEOUT)
    first.reset()
    second = aec_env("TicTacToe", server=(server.host, server.port), session="busy",
                     timeout=TIMEOUT)
    before = discovers(server)
    with pytest.raises(GameError, match="join failed: .*game session busy is in use"):
        second.reset()
    assert discovers(server) - before <= 2
    first.step(4)  # the first env plays on
    first.close()
    second.close()


class MyNim(Nim):
    """Nim under a name of its own: a game the user wrote, which the server lacks."""


def test_a_game_the_server_does_not_offer_says_that_the_server_needs_it(make_server) -> None:
    """An env handed its own class met "no such game: 'MyNim'" with the class right in
    its hands, not knowing that the server plays the game itself."""
    server = make_server(games=["TicTacToe"])
    for game in (MyNim, "Nim"):  # (a bundled game the server's --game leaves out)
        env = aec_env(game, server=(server.host, server.port), timeout=TIMEOUT)
        name = game if isinstance(game, str) else game.__name__
        with pytest.raises(GameError, match=(
                f"^join failed: framework: no such game: '{name}' \\(available: TicTacToe\\); "
                "the server plays the game itself and must offer it \\(a game of your own: "
                "start the server with python3 -m gameserver --games-dir FOLDER, the folder "
                "of its file; docs/rl.md\\)$")):
            env.reset()
        env.close()


def test_the_servers_own_hint_for_a_game_is_passed_on_alone(make_server, tmp_path) -> None:
    """Where the server's "no such game" says more (a file that did not load, a name that
    misses one by case), the env adds nothing: that the server plays the game itself is
    no news to a student whose game file is in the server's folder already."""
    server = make_server(games_dirs=[str(broken_race_folder(tmp_path / "mygames"))],
                         isolate_games="off")
    for name, hint in (("MyRace", "the server could not load any game from that file: "
                                  "the file's author finds why"),
                       ("tictactoe", "letter for letter: did you mean 'TicTacToe'?")):
        game = type(name, (TicTacToe,), {})  # the student's own class of that name
        env = aec_env(game, server=(server.host, server.port), timeout=TIMEOUT)
        with pytest.raises(GameError, match=f"no such game: '{name}' ") as raised:
            env.reset()
        env.close()
        assert hint in str(raised.value) and "plays the game itself" not in str(raised.value)


@pytest.mark.parametrize(("name", "kind"), [
    ("MyRace", "a file that loads no game"), ("Skipped", "a class its file skipped"),
    ("tictactoe", "a game's name in other case"), ("my_game", "a class not loaded, in other case"),
    ("Chess", "no hint")])
def test_every_hint_of_the_servers_no_such_game_is_passed_on_alone(name: str, kind: str
                                                                    ) -> None:
    """The env knows the server's hints by their words, which it imports from the module
    that makes them (``_no_such_game.HINT_WORDS``): a hint reworded there can no longer
    silently stop matching (the env's copies of the words had once, and it added its
    advice to a hint that said what to do). Each kind of hint, made by the server's own
    function, must hold the words; a reply without one gets the env's advice."""
    hint = _no_such_game.no_such_game_hint(
        name, ["TicTacToe"], {"MyRace": False, "Skipped": True, "MyGame": False})
    assert bool(hint) == (kind != "no hint")
    message = f"framework: no such game: '{name}' (available: TicTacToe){hint}"
    with pytest.raises(GameError) as raised:
        _remote._joined({"status": "error", "message": message})
    if hint:
        assert str(raised.value) == f"join failed: {message}"
    else:
        assert str(raised.value).startswith(f"join failed: {message}; the server plays the "
                                            "game itself and must offer it")


def test_a_tls_socket_readable_without_a_reply_is_not_taken_for_one(make_server,
                                                                     tls_pair) -> None:
    """While a seat is awaited, a join socket that turns readable may hold the join's
    refusal; over TLS it turns readable with the server's session tickets as well, which
    are no reply (reading one would wait for the session to fill: for ever)."""
    cert, key = tls_pair
    server = make_server(tls_cert=cert, tls_key=key)
    link = _remote.Link(("localhost", server.port), ssl.create_default_context(cafile=cert),
                        timeout=TIMEOUT)
    sock = link.connect()
    if select.select([sock], [], [], 1.0)[0]:  # (TLS 1.3: the tickets came)
        assert _remote._received_now(sock, TIMEOUT) is None
    sock.sendall(b'{"type": "discover"}EOT\x00')
    assert _remote._read_to_end(sock, TIMEOUT)["status"] == "ok"
    sock.close()


def test_a_server_that_goes_away_is_a_clear_error(make_server) -> None:
    server = make_server()
    env = aec_env("TicTacToe", server=(server.host, server.port), timeout=TIMEOUT)
    env.reset()
    server.stop()
    with pytest.raises(GameError, match="connection|shutting down"):
        env.step(4)
    env.close()


def drop_sessions(server: Any) -> None:
    """End every session of ``server`` as its idle timeout (``game_timeout``) does."""
    def drop() -> None:
        lobby = server.server.lobby
        for session in list(lobby.sessions.values()):
            lobby.remove_session(session, protocol.framework_error(TIMED_OUT))

    server.call(drop)


def test_a_server_restarted_without_its_store_has_the_envs_next_reset_join_anew(
        make_server) -> None:
    """The restart of a session the server no longer had failed ("no such game session")
    at every reset() for ever: a training loop that retries its episode after an error
    could never go on, even once the server was back."""
    first = make_server()
    env = aec_env("Nim", server=(first.host, first.port), names=["ann", "bob"],
                  session="lab", timeout=TIMEOUT)
    env.reset()
    env.step(0)
    port = first.port
    first.stop()
    with pytest.raises(GameError, match="connection|shutting down"):
        env.step(0)
    second = make_server(port=port)  # the same address, none of the old sessions
    with pytest.raises(GameError, match=r"^call reset\(\) first: the last step failed "
                       r"\(cannot connect .*\), so the game's state is not known here"):
        env.step(0)  # (until 2026-12-01 it was sent: "no such game session")
    env.reset()
    assert play_randomly(env, RandomAgent(1)) in ({"player_0": 1.0, "player_1": -1.0},
                                                   {"player_0": -1.0, "player_1": 1.0})
    names = second.call(lambda: [[p.name for p in s.players]
                                 for s in second.server.lobby.sessions.values()])
    assert names == [["ann", "bob"]]  # joined anew in order, under the same names
    env.close()


@pytest.mark.parametrize("kind", ["gym", "vector"])
def test_a_session_removed_after_its_idle_timeout_is_joined_anew_at_reset(
        make_server, kind: str) -> None:
    """The same, for the sessions of a gym env and of a vector env (whose restarts go
    out as plans, several sessions in one write), removed as the server's
    ``game_timeout`` removes an idle session (a learner that evaluated elsewhere for a
    while)."""
    server = make_server()
    address = (server.host, server.port)
    env: Any = (gym_env("Nim", server=address, timeout=TIMEOUT) if kind == "gym"
                else vector_env("Nim", 3, server=address, timeout=TIMEOUT))
    env.reset(seed=1)
    drop_sessions(server)
    with pytest.raises(GameError, match="no such game session"):
        env.step(0 if kind == "gym" else [0, 0, 0])
    observation, info = env.reset()
    assert int(np.sum(info["action_mask"])) == (12 if kind == "gym" else 36)
    env.step(0 if kind == "gym" else [0, 0, 0])
    sessions = server.call(lambda: len(server.server.lobby.sessions))
    assert sessions == (1 if kind == "gym" else 3)
    env.close()


def test_tls(make_server, tls_pair) -> None:
    cert, key = tls_pair
    server = make_server(tls_cert=cert, tls_key=key)
    context = ssl.create_default_context(cafile=cert)
    env = aec_env("TicTacToe", server=("localhost", server.port), tls=context,
                  timeout=TIMEOUT)
    env.reset(seed=1)
    finals = play_randomly(env, RandomAgent(1))
    assert set(finals) == {"player_0", "player_1"}
    env.close()  # its leaves too go over TLS (to each address of "localhost" in turn)
    assert server.call(lambda: len(server.server.lobby.sessions)) == 0


def _closed_by_the_server(link: Any) -> None:
    """Wait until the server has closed ``link``'s idle kept-alive connection."""
    assert select.select([link._sock], [], [], TIMEOUT)[0], "the server kept it open"


def _idle_timed_out(server: Any, link: Any) -> None:
    """The server closes its idle kept-alive connections as their connection_timeout
    passes (the deadline's own handling, run now), and ``link``'s is seen closed. Not a
    connection_timeout of 0.2 s: it bounds a TLS handshake and a join's request too, which
    a loaded vCPU passed (the join's connection closed unanswered)."""
    mine = link._sock.getsockname()

    def timed_out() -> bool:  # (in the server's thread)
        for conn in list(server.server.connections):
            sock = getattr(conn, "_sock", None)  # plain TCP; over TLS, the transport's
            sock = sock if sock is not None else conn._transport.get_extra_info("socket")
            if sock.getpeername() == mine and conn.state.name == "READING":
                conn._timed_out()  # (kept while the kernel still holds some of a reply)
                return conn.state.name != "READING"
        return False  # still answering its last request (a step's): not idle yet

    until(lambda: server.call(timed_out), "the link's connection idle")
    _closed_by_the_server(link)


@pytest.mark.parametrize("kind", ["aec", "gym over TLS", "vector"])
def test_a_step_after_the_server_closed_the_idle_connection_goes_on(make_server, tls_pair,
                                                                    kind) -> None:
    """The server closes a kept-alive connection idle for its connection_timeout (60 s
    by default) without a word: a learner that trained or evaluated elsewhere that long
    lost its game at the next step ('the server closed the connection'). The link looks
    at a connection unused for a while before it sends, and takes a new one."""
    cert, key = tls_pair
    tls = kind == "gym over TLS"
    server = make_server(**({"tls_cert": cert, "tls_key": key} if tls else {}))
    address = ("localhost" if tls else server.host, server.port)
    if kind == "aec":
        env: Any = aec_env("TicTacToe", server=address, timeout=TIMEOUT)
    elif tls:
        env = gym_env("TicTacToe", server=address, timeout=TIMEOUT,
                      tls=ssl.create_default_context(cafile=cert))
    else:
        env = vector_env("TicTacToe", 2, server=address, timeout=TIMEOUT)
    env.reset(seed=3)
    link = env.table.link if kind != "vector" else env.envs[0].table.link
    for _ in range(2):
        _idle_timed_out(server, link)
        if kind == "aec":
            mask = env.last()[0]["action_mask"]
            env.step(int(np.flatnonzero(mask)[0]))
        elif tls:
            env.step(int(np.flatnonzero(env.action_masks())[0]))
        else:
            env.step(np.array([int(np.flatnonzero(env.envs[n].action_masks())[0])
                               for n in range(2)]))
    env.close()


def test_a_connection_found_closed_is_replaced_and_no_request_goes_twice(monkeypatch
                                                                          ) -> None:
    """A server that closes every connection after one reply: each request goes once,
    on a new connection (the closed one is seen before anything is sent on it)."""
    monkeypatch.setattr(_remote, "IDLE_LOOK", 0.0, raising=False)
    reply = b'{"status": "ok", "data": null}EOT\x00'
    gone = threading.Event()
    port, _ = hostile([reply] * 3, close=True, gone=gone)
    link = _remote.Link(("127.0.0.1", port), timeout=TIMEOUT)
    for _ in range(3):
        assert link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00']) == [
            {"status": "ok", "data": None}]
        _closed_by_the_server(link)
    # Three answers, each used once: a fourth request finds nobody (the listener is gone;
    # the link sees the third connection closed a moment before the listener closes, and
    # a connection made in between was reset: "lost the connection", seen once in CI).
    assert gone.wait(TIMEOUT)
    with pytest.raises(GameError, match="cannot connect"):
        link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00'])
    link.close()


def test_tls_mistakes_say_what_to_pass(make_server, tls_pair) -> None:
    """Without tls against a TLS server, with tls=True against a self-signed certificate,
    and with tls against a server without TLS: each error says what to change."""
    cert, key = tls_pair
    server = make_server(tls_cert=cert, tls_key=key)
    plain = gym_env("TicTacToe", server=("localhost", server.port), timeout=TIMEOUT)
    with pytest.raises(GameError, match=r"speaks TLS only: pass "
                                        r"tls=True \(or tls=ssl.create_default_context"):
        plain.reset()
    plain.close()
    for kind in ("aec", "vector"):  # (their first request is another one: a discover)
        env: Any = (aec_env("TicTacToe", server=("localhost", server.port), timeout=TIMEOUT)
                    if kind == "aec" else
                    vector_env("TicTacToe", 2, server=("localhost", server.port),
                               timeout=TIMEOUT))
        with pytest.raises(GameError, match="speaks TLS only: pass tls=True"):
            env.reset()
        env.close()
    unverified = gym_env("TicTacToe", server=("localhost", server.port), tls=True,
                         timeout=TIMEOUT)
    with pytest.raises(GameError, match=r"certificate verify failed.*pass "
                                        r"tls=ssl.create_default_context\(cafile=CERT\)"):
        unverified.reset()
    unverified.close()
    plain_server = make_server(connection_timeout=0.2)
    wrong = gym_env("TicTacToe", server=(plain_server.host, plain_server.port),
                    tls=ssl.create_default_context(cafile=cert), timeout=TIMEOUT)
    with pytest.raises(GameError, match=r"does the server speak TLS\? If not, leave out "
                                        "tls"):
        wrong.reset()
    wrong.close()


def test_a_server_that_sends_garbage_or_never_ends_its_reply(monkeypatch) -> None:
    """Not a game server: it answers with something that is not JSON, then with
    endless bytes and no terminator."""
    monkeypatch.setattr(_remote, "REPLY_MAX", 100_000)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def flood() -> None:
        for reply in (b"no json hereEOT\x00", None):
            conn, _ = listener.accept()
            with conn:
                try:
                    while True:
                        conn.sendall(reply or b"x" * 65536)
                        if reply:
                            conn.recv(100)  # until the client closes
                except OSError:  # the client gave up and closed: done
                    pass

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    link = _remote.Link(("127.0.0.1", port), timeout=TIMEOUT)
    with pytest.raises(GameError, match="a reply that is not JSON: b'no json here'"):
        link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00'])
    with pytest.raises(GameError, match="a reply of more than 100000 bytes"):
        link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00'])
    link.close()
    thread.join(TIMEOUT)
    listener.close()
    assert not thread.is_alive()


def test_a_move_whose_next_view_is_the_movers_own_carries_it_in_its_reply() -> None:
    """Plans do no I/O: the request bytes and what the reply does, checked without a server."""
    table = _remote.RemoteTable(_remote.Link(("127.0.0.1", 1)), "Echo", 1, ["solo"],
                                session="s")
    table.seated(0, "k" * 32, "solo")
    plan = table.plan(("move", 0, {"msg": "hi"}, 0))
    [payload] = plan.payloads  # one request: no state request behind it
    request = json.loads(payload[:-len(b"EOT\x00")])
    assert request["with_state"] is True and request["legal_moves"] is True
    state = {"echo": "hi", "current": [0], "gameover": False, "legal_moves": None}
    assert plan.finish([{"status": "ok", "data": None, "state": state}]) is None
    assert table.plan(("view", 0)).payloads == []  # known from the move's reply
    assert table.plan(("view", 0)).finish([]).state["echo"] == "hi"
    # A server without the extension answers without "state": the view is fetched ...
    for n in range(_remote.STATE_MISSES_MAX):
        plan = table.plan(("move", 0, {"msg": n}, 0))
        plan.finish([{"status": "ok", "data": None}])
        assert table.plan(("view", 0)).payloads  # a state request
    # ... and after a few such replies in a row, the state request goes beside the
    # move, in the same write.
    plan = table.plan(("move", 0, {"msg": "third"}, 0))
    assert len(plan.payloads) == 2
    assert "with_state" not in json.loads(plan.payloads[0][:-len(b"EOT\x00")])


def test_a_restart_asks_for_the_restarters_new_state_in_itself() -> None:
    """One request per restart; a server that answers without the state a few times in a
    row (older, or a game in a worker process) gets the state request beside the restart
    from then on."""
    table = _remote.RemoteTable(_remote.Link(("127.0.0.1", 1)), "Echo", 1, ["solo"],
                                session="s")
    table.seated(0, "k" * 32, "solo")
    plan = table.plan(("start", None, 0))
    [payload] = plan.payloads
    request = json.loads(payload[:-len(b"EOT\x00")])
    assert (request["type"], request["with_state"], request["legal_moves"]) == (
        "restart", True, True)
    state = {"echo": "", "current": [0], "gameover": False, "legal_moves": None}
    assert plan.finish([{"status": "ok", "data": None, "state": state}]) is None
    assert table.plan(("view", 0)).payloads == []  # known from the restart's reply
    for _ in range(_remote.STATE_MISSES_MAX):  # replies without the state, in a row
        plan = table.plan(("start", None, 0))
        assert len(plan.payloads) == 1  # (one miss, say a hand-over owed, changes nothing)
        plan.finish([{"status": "ok", "data": None}])
        assert table.plan(("view", 0)).payloads  # fetched ...
    plan = table.plan(("start", None, 0))  # ... and from now on asked beside the restart
    assert [json.loads(p[:-len(b"EOT\x00")])["type"] for p in plan.payloads] == [
        "restart", "state"]
    assert "with_state" not in json.loads(plan.payloads[0][:-len(b"EOT\x00")])


def test_a_state_that_misses_now_and_then_keeps_states_in_the_move_replies() -> None:
    """Only misses in a row count: a worker game's state too large to come along once
    does not make the table ask beside every later move."""
    table = _remote.RemoteTable(_remote.Link(("127.0.0.1", 1)), "Echo", 1, ["solo"],
                                session="s")
    table.seated(0, "k" * 32, "solo")
    for n in range(3 * _remote.STATE_MISSES_MAX):
        plan = table.plan(("move", 0, {"msg": n}, 0))
        [payload] = plan.payloads  # the state still comes in the move's reply
        assert json.loads(payload[:-len(b"EOT\x00")])["with_state"] is True
        if n % _remote.STATE_MISSES_MAX:  # a miss, but never STATE_MISSES_MAX in a row
            plan.finish([{"status": "ok", "data": None}])
        else:
            state = {"echo": n, "current": [0], "gameover": False, "legal_moves": None}
            plan.finish([{"status": "ok", "data": None, "state": state}])


def test_a_move_whose_next_view_is_another_seat_of_the_table_carries_that_view() -> None:
    """Self-play: the move names the seat that moves next and gets its view in the reply;
    a server that does not know this (no "state") makes the table ask beside the move."""
    table = _remote.RemoteTable(_remote.Link(("127.0.0.1", 1)), "TicTacToe", 2, ["a", "b"],
                                session="s")
    table.seated(0, "0" * 32, "a")
    table.seated(1, "1" * 32, "b")
    plan = table.plan(("move", 0, {"position": 4}, 1))
    [payload] = plan.payloads
    request = json.loads(payload[:-len(b"EOT\x00")])
    assert request["player_id"] == 0 and request["key"] == "0" * 32
    assert request["with_state"] == {"player_id": 1, "key": "1" * 32}
    assert request["legal_moves"] is True
    state = {"board": [-1] * 4 + [0] + [-1] * 4, "current": [1], "gameover": False,
             "legal_moves": [{"position": 0}]}
    assert plan.finish([{"status": "ok", "data": None, "state": state}]) is None
    assert table.plan(("view", 1)).payloads == []  # known from the move's reply
    assert table.plan(("view", 1)).finish([]).state["current"] == [1]
    # An older server ignores the object: no "state" comes, the view is fetched ...
    for position in range(_remote.STATE_MISSES_MAX):
        seat = position % 2
        plan = table.plan(("move", seat, {"position": position}, 1 - seat))
        assert "with_state" in json.loads(plan.payloads[0][:-len(b"EOT\x00")])
        plan.finish([{"status": "ok", "data": None}])
        assert table.plan(("view", 1 - seat)).payloads
    # ... and after a few such replies in a row, later moves send the state request
    # beside the move, in the same write.
    plan = table.plan(("move", 0, {"position": 8}, 1))
    assert len(plan.payloads) == 2
    assert "with_state" not in json.loads(plan.payloads[0][:-len(b"EOT\x00")])


def test_a_game_in_a_worker_process_is_played_with_the_states_in_the_move_replies(
        make_server) -> None:
    """A worker sends the view a move with state asks for along with that move."""
    server = make_server(isolate_games="all")
    env = aec_env("TicTacToe", server=(server.host, server.port), timeout=TIMEOUT)
    env.reset(seed=3)
    table = env.unwrapped.table
    assert isinstance(table, _remote.RemoteTable)
    policy = RandomAgent(3)
    for _ in range(3):
        finals = play_randomly(env, policy)
        assert set(finals) == {"player_0", "player_1"}
        assert sum(finals.values()) == 0  # a win and a loss, or a draw
        env.reset()
    assert table._move_states.on is True and table._move_states.misses == 0
    env.close()


def test_replies_are_read_whole_however_the_bytes_arrive() -> None:
    """Two replies in one write, then a reply larger than a receive followed by a
    small one: every reply comes out whole and in order."""
    big = {"status": "ok", "data": "x" * (2 * _remote.RECV_SIZE)}
    answers = [b'{"status": "ok", "data": 1}EOT\x00{"status": "ok", "data": 2}EOT\x00',
               json.dumps(big).encode() + b'EOT\x00{"status": "ok", "data": 3}EOT\x00']
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            for reply in answers:
                conn.recv(65536)
                conn.sendall(reply)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    link = _remote.Link(("127.0.0.1", listener.getsockname()[1]), timeout=TIMEOUT)
    request = b'{"type": "discover", "keep_alive": true}EOT\x00'
    assert [reply["data"] for reply in link.exchange([request, request])] == [1, 2]
    assert link.exchange([request, request]) == [big, {"status": "ok", "data": 3}]
    link.close()
    thread.join(TIMEOUT)
    listener.close()


@pytest.mark.parametrize("wait_for_save", [False, True])
def test_a_tables_changes_and_states_say_whether_they_wait_for_the_save(
        wait_for_save: bool) -> None:
    """By default a learning loop does not wait for the server's disk: its moves,
    restarts and states say ``"wait_for_save": false``; ``wait_for_save=True`` leaves
    the key out (the server then waits, as for every classic client)."""
    table = _remote.RemoteTable(_remote.Link(("127.0.0.1", 1)), "TicTacToe", 2, ["a", "b"],
                                session="s", wait_for_save=wait_for_save)
    table.seated(0, "0" * 32, "a")
    table.seated(1, "1" * 32, "b")
    sent = [*table.plan(("move", 0, {"position": 4}, 1)).payloads,  # naming the next seat
            *table.plan(("move", 0, {"position": 4}, 0)).payloads,  # its own view
            *table.plan(("move", 0, {"position": 4}, None)).payloads,  # no view
            *table.plan(("start", None, 0)).payloads,
            *table.plan(("view", 1)).payloads]
    requests = [json.loads(payload[:-len(b"EOT\x00")]) for payload in sent]
    assert [r["type"] for r in requests] == ["move", "move", "move", "restart", "state"]
    expected = None if wait_for_save else False
    assert [r.get("wait_for_save") for r in requests] == [expected] * 5


def test_a_learning_loop_that_does_not_wait_for_the_disk_still_fills_the_history(
        make_server, tmp_path) -> None:
    """Its commits are put off and grouped, not skipped: every game is in the history
    with all its moves, and the file holds them once the env is closed."""
    path = tmp_path / "rl.sqlite3"
    server = make_server(store=True, store_path=str(path))
    env = aec_env("TicTacToe", server=(server.host, server.port), session="rl-later",
                  timeout=TIMEOUT)
    env.reset(seed=3)
    policy = RandomAgent(3)
    moves: list[int] = []  # one entry per move made

    def counted(observation: Any, mask: Any) -> Any:
        moves.append(1)
        return policy(observation, mask)

    for _ in range(5):
        play_randomly(env, counted)
        env.reset()
    env.close()
    records = until(lambda: len(finished := server.call(
        lambda: server.server.history.finished_games("TicTacToe"))) == 5 and finished,
        "the five games in the history")
    assert sum(r["moves"] for r in records) == len(moves)


def test_a_join_nobody_else_joins_ends_with_a_clear_error(make_server) -> None:
    """The seat's own connection waits for the others; past the timeout that is a
    GameError saying so (it was a bare TimeoutError from inside the socket module)."""
    server = make_server()
    env = gym_env("TicTacToe", opponent="server", server=(server.host, server.port),
                  session="alone", timeout=0.5)
    with pytest.raises(GameError, match=r"no reply from the server within 0.5 s \(waiting "
                                        "for another client"):
        env.reset()
    env.close()


def hostile(answers: list[bytes], drip: bytes = b"", close: bool = False,
            gone: threading.Event | None = None) -> tuple[int, threading.Event]:
    """A listener that answers each request (on any connection) with the next of
    ``answers``, closing the connection after each with ``close``; after the last one it
    sends ``drip`` a byte every 0.05 s (until set), then closes; ``gone`` is set once the
    listener is closed too (a connection made before then is reset, not refused)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    remaining = list(answers)

    def serve() -> None:
        try:
            answer()
        finally:
            if gone is not None:
                gone.set()

    def answer() -> None:
        with listener:
            while remaining:
                conn, _ = listener.accept()
                with conn:
                    try:
                        while remaining and conn.recv(65536):
                            conn.sendall(remaining.pop(0))
                            if drip and not remaining:
                                for byte in drip:
                                    if stop.wait(0.05):
                                        break
                                    conn.sendall(bytes([byte]))
                            if close or (drip and not remaining):
                                break
                        if not (close or drip):
                            conn.recv(65536)  # until the client closes
                    except OSError:
                        pass

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], stop


def test_a_reply_that_drips_is_bounded_by_the_timeout() -> None:
    """A byte now and then, each well within the timeout, never the whole reply: the
    timeout bounds the reply, not each read (it did: a reply could drip for ever)."""
    port, stop = hostile([b'{"status": "ok", "data": '], drip=b" " * 100)
    link = _remote.Link(("127.0.0.1", port), timeout=0.3)
    with pytest.raises(GameError, match=r"no reply from the server within 0.3 s"):
        link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00'])
    stop.set()
    link.close()


def test_a_server_that_never_answers_is_bounded_by_the_kernels_timeout() -> None:
    """On Linux the link's socket blocks and the kernel keeps its timeout (no ``poll``
    before every send and receive); a server that never answers still ends in the
    timeout's error, and the next exchange opens a new connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    link = _remote.Link(listener.getsockname(), timeout=0.3)
    with pytest.raises(GameError, match=r"^no reply from the server within 0.3 s"):
        link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00'])
    assert link._sock is None  # closed after the failure
    with pytest.raises(GameError, match=r"^no reply from the server within 0.3 s"):
        link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00'])
    if sys.platform.startswith("linux"):
        sock = link._kernel_timed(link.connect())
        assert sock.gettimeout() is None  # blocking: no poll() before each call
        timeval = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)
        assert struct.unpack("@ll", timeval) == (0, 300000)
        sock.close()
    link.close()
    listener.close()


def test_a_join_reply_that_drips_is_bounded_by_the_timeout() -> None:
    port, stop = hostile([b'{"status": "ok", "data": '], drip=b" " * 100)
    link = _remote.Link(("127.0.0.1", port), timeout=0.3)
    table = _remote.RemoteTable(link, "Echo", 1, ["me"], session="s")
    with pytest.raises(GameError, match=r"no reply from the server within 0.3 s"):
        link.join([table])
    stop.set()
    link.close()


NOT_A_GAME_SERVER = [
    (b"[" * 100_000, "a reply that is not JSON"),  # nested too deeply to decode
    (b"[1]", "a reply that is not a game server's: b'\\[1\\]'"),
    (b'{"status": "illegalmove"}', "a reply that is not a game server's"),
    (b'{"status": "ok", "data": [1]}', r"the server sent a state of player 0 that is not a "
                                       r"game state: \[1\]"),
    (b'{"status": "ok", "data": {"current": [5], "gameover": false}}',
     "not a game state"),
    (b'{"status": "ok", "data": {"current": [0, -1], "gameover": false}}',
     "not a game state"),
    (b'{"status": "ok", "data": {"current": [true], "gameover": false}}',
     "not a game state"),
    (b'{"status": "ok", "data": {"current": [0.0], "gameover": false}}',
     "not a game state"),
    (b'{"status": "ok", "data": {"current": [0], "gameover": false, "legal_moves": 3}}',
     "not a game state"),
]


@pytest.mark.parametrize(("reply", "expected"), NOT_A_GAME_SERVER)
def test_a_reply_of_another_shape_is_a_clear_error(reply, expected) -> None:
    """A GameError naming the problem, not a RecursionError, AttributeError or KeyError
    from inside the table; and the link does not keep the bad bytes for the next reply."""
    port, _ = hostile([reply + b"EOT\x00", b'{"status": "ok", "data": 1}EOT\x00'])
    link = _remote.Link(("127.0.0.1", port), timeout=TIMEOUT)
    table = _remote.RemoteTable(link, "Echo", 1, ["me"], session="s")
    table.seated(0, "k", "me")
    with pytest.raises(GameError, match=expected):
        table.view(0)
    assert link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00']) == [
        {"status": "ok", "data": 1}]
    link.close()


def test_a_join_reply_of_another_shape_is_a_clear_error() -> None:
    port, _ = hostile([b'{"status": "ok", "data": {"player_id": 7, "key": "k"}}'], close=True)
    link = _remote.Link(("127.0.0.1", port), timeout=TIMEOUT)
    table = _remote.RemoteTable(link, "Echo", 1, ["me"], session="s")
    with pytest.raises(GameError, match=r"join failed: the server sent a reply that is not a "
                                        r"game server's: .*'player_id': 7"):
        link.join([table])
    link.close()


@pytest.mark.parametrize("request_kind", ["exchange", "join"])
def test_a_reply_of_too_many_values_is_refused_before_it_is_decoded(monkeypatch,
                                                                     request_kind) -> None:
    """Decoded, 3 bytes of '{},' take 72 of memory: a hostile reply of 64 MB of them (the
    bound on bytes) took the env 1.7 GB. Values past REPLY_ITEMS_MAX are refused (the
    same reply: 226 MB), as the client module does."""
    many = json.dumps({"status": "ok", "data": {"board": [{}] * 600_000}}).encode()
    for limit, expected in ((1_000_000, "refused"), (2_000_000, "decoded")):
        monkeypatch.setattr(_remote, "REPLY_ITEMS_MAX", limit)
        close = request_kind == "join"
        port, _ = hostile([many if close else many + b"EOT\x00"], close=close)
        link = _remote.Link(("127.0.0.1", port), timeout=TIMEOUT)
        table = _remote.RemoteTable(link, "Echo", 1, ["me"], session="s")
        if expected == "refused":
            with pytest.raises(GameError, match=r"a reply of more than 1,000,000 values "
                                                r"\(1,200,003 commas, lists and dicts\): is "
                                                r"that a game server\? .* raise gameserver.rl."
                                                r"_remote.REPLY_ITEMS_MAX after the import"):
                if close:
                    link.join([table])
                else:
                    link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00'])
        elif close:  # decoded: then refused as a join reply without a key
            with pytest.raises(GameError, match="join failed: the server sent a reply that "
                                                "is not a game server's"):
                link.join([table])
        else:
            reply = link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00'])
            assert len(reply[0]["data"]["board"]) == 600_000
        link.close()


@pytest.mark.parametrize("bound", ["bytes", "values"])
def test_the_replies_of_one_round_are_bounded_together(monkeypatch, bound: str) -> None:
    """A vector env's sessions are answered in one round: each of its N replies could
    reach REPLY_MAX and REPLY_ITEMS_MAX, N times the memory either allows (16 sessions:
    1 GB of bytes, or 16 million values decoded). Both now bound the round's replies
    together; here two replies, each within the limits (larger than a receive: read in
    pieces, as a large round is), and over them together."""
    monkeypatch.setattr(_remote, "REPLY_MAX", 600_000 if bound == "bytes" else 10**8)
    monkeypatch.setattr(_remote, "REPLY_ITEMS_MAX", 10**8 if bound == "bytes" else 300_000)
    data = "x" * 400_000 if bound == "bytes" else [0] * 200_000
    reply = json.dumps({"status": "ok", "data": data}).encode() + b"EOT\x00"
    request = b'{"type": "discover", "keep_alive": true}EOT\x00'
    port, _ = hostile([reply, reply + reply])
    link = _remote.Link(("127.0.0.1", port), timeout=TIMEOUT)
    assert link.exchange([request])[0]["data"] == data  # one alone: within the limits
    limit = ("600000 bytes in all to the 2 requests of one round" if bound == "bytes" else
             "300,000 values \\(commas, lists and dicts\\) in all to the 2 requests of "
             "one round")
    with pytest.raises(GameError, match=(
            f"^the server sent replies of more than {limit} \\(a vector env's sessions are "
            "answered together\\): is that a game server\\? If your game's states are that "
            f"large, raise gameserver.rl._remote.REPLY_{'MAX' if bound == 'bytes' else 'ITEMS_MAX'}"
            " after the import, or play fewer sessions in one vector env$")):
        link.exchange([request, request])
    link.close()


def waiting_joins(port: int, game: str, sessions: list[str], players: int = 2
                  ) -> list[socket.socket]:
    """A join sent to each of ``sessions`` on a connection left open (as ``student<n>``):
    they wait for the other players, listed by discovery."""
    socks = []
    for number, token in enumerate(sessions):
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        sock.sendall(json.dumps({"type": "join", "game": game, "session": token,
                                 "players": players, "name": f"student{number}"}).encode()
                     + b"EOT\x00")
        socks.append(sock)
    return socks


def test_the_envs_session_is_found_on_any_page_of_discovery(make_server, monkeypatch) -> None:
    """A discover reply lists 1,000 waiting sessions (4 here); while its seats joined, the
    env read only the first page, so with more waiting sessions sorted before its own it
    never saw its seat and failed after its timeout ('did not seat player 0')."""
    monkeypatch.setattr(protocol, "DISCOVER_SESSIONS_MAX", 4)
    server = make_server(max_waiting_joins_per_address=100)
    others = waiting_joins(server.port, "TicTacToe", [f"class-{n:02}" for n in range(10)])
    try:
        until(lambda: len(server.call(server.server.lobby.open_sessions)) == 10,
              "ten sessions waiting")
        env = aec_env("TicTacToe", server=(server.host, server.port), session="lab",
                      timeout=TIMEOUT)
        env.reset()
        env.step(4)  # seated and playing
        env.close()
    finally:
        for sock in others:
            sock.close()


@pytest.mark.parametrize("players", [2, 3])
def test_a_stranger_in_the_session_of_an_env_that_plays_every_seat_is_a_clear_error(
        make_server, players) -> None:
    """Another client joined the env's session first: the env took its seat for one of
    its own and joined on (two players: the session filled, and the env's next join
    replaced it and waited out the timeout; three: the session filled without its last
    seat, the same). Now it stops at once, naming the session and the stranger."""
    server = make_server()
    stranger = waiting_joins(server.port, "NumberRace", ["lab"], players)
    try:
        until(lambda: server.call(server.server.lobby.open_sessions), "the stranger waiting")
        env = aec_env("NumberRace", players, server=(server.host, server.port),
                      session="lab", timeout=TIMEOUT)
        with pytest.raises(GameError, match="session 'lab': another client joined it"):
            env.reset()
        env.close()
    finally:
        for sock in stranger:
            sock.close()


def test_seats_played_elsewhere_may_join_first_and_the_names_stay_with_their_seats(
        make_server) -> None:
    """A table that plays two of three seats, the third taken first by another client:
    its seats are players 1 and 2, named as they joined (the second was named as the
    first: the names were read after the first join's reply had renamed its seat)."""
    server = make_server()
    stranger = waiting_joins(server.port, "NumberRace", ["mixed"], 3)
    try:
        until(lambda: server.call(server.server.lobby.open_sessions), "the stranger waiting")
        link = _remote.Link((server.host, server.port), timeout=TIMEOUT)
        table = _remote.RemoteTable(link, "NumberRace", 3, ["a", "b", "c"],
                                    session="mixed", controlled=[0, 1])
        link.join([table])
        assert table.controlled == [1, 2]
        assert table.names[1:] == ["a", "b"]
        summary = server.call(
            lambda: session_summary(server.server.lobby.sessions[("NumberRace", "mixed")]))
        assert [p["name"] for p in summary["players"]] == ["student0", "a", "b"]
        link.close()
    finally:
        for sock in stranger:
            sock.close()


def test_a_session_filled_before_the_tables_seats_all_joined_is_a_clear_error(
        make_server) -> None:
    """Two of three seats played elsewhere were expected; two others joined, and the
    table's first join filled the session: its second seat has none left."""
    server = make_server()
    others = waiting_joins(server.port, "NumberRace", ["crowded", "crowded"], 3)
    try:
        until(lambda: [s["joined"] for s in server.call(server.server.lobby.open_sessions)]
              == [2], "two others waiting")
        link = _remote.Link((server.host, server.port), timeout=TIMEOUT)
        table = _remote.RemoteTable(link, "NumberRace", 3, ["a", "b", "c"],
                                    session="crowded", controlled=[0, 1])
        with pytest.raises(GameError, match="session 'crowded': other clients filled it "
                                            "before this env's 2 seats had joined"):
            link.join([table])
        link.close()
    finally:
        for sock in others:
            sock.close()


def test_a_move_reply_seen_before_brings_the_same_views_without_decoding(server) -> None:
    """Tic-tac-toe's states come again and again: a move's (or a restart's) reply whose
    bytes came before is not decoded nor encoded again; the views (and their read-only
    arrays) kept for it are used again, and every observation still is what
    rl_observation makes of the state, every mask what legal_moves lists."""
    env = aec_env("TicTacToe", server=(server.host, server.port), timeout=TIMEOUT)
    env.reset(seed=1)
    table = env.unwrapped.table
    known = table.link.known["TicTacToe"]
    assert known is table._known
    views_seen: dict[int, list[Any]] = {}  # id(view) -> [the view, times seen]
    for _ in range(12):  # always the first legal action: the same few games, both starts
        for agent in env.agent_iter():
            observation, _, terminated, truncated, _ = env.last()
            seat = int(agent[-1])
            view = table.view(seat)
            views_seen.setdefault(id(view), [view, 0])[1] += 1
            expected = np.array(TicTacToe.rl_observation(view.state, seat), np.float32)
            assert np.array_equal(observation["observation"], expected)
            assert np.flatnonzero(observation["action_mask"]).tolist() == [
                move["position"] for move in view.legal or []]
            assert not view.observation.flags.writeable and not view.mask.flags.writeable
            observation["observation"][:] = 7  # the caller's copy: the view's stays
            assert view.observation.max() <= 1
            env.step(None if terminated or truncated else
                     int(np.flatnonzero(observation["action_mask"])[0]))
        env.reset()
    # The moves of the two games (who starts differs) and the two restarts' replies.
    restarts = [key for key in known if key[:2] == (-1, -1)]
    assert 0 < len(restarts) <= 2 and 0 < len(known) - len(restarts) <= 2 * 9
    assert max(times for _, times in views_seen.values()) > 2  # used again, in later games
    env.close()


def test_the_replies_kept_are_bounded(server, monkeypatch) -> None:
    """At most KNOWN_MAX replies are kept per connection and game, none larger than
    KNOWN_BYTES_MAX bytes; the games play on as before once it is full."""
    monkeypatch.setattr(_remote, "KNOWN_MAX", 5)
    env = aec_env("TicTacToe", server=(server.host, server.port), timeout=TIMEOUT)
    env.reset(seed=2)
    policy = RandomAgent(2)
    for _ in range(5):
        assert set(play_randomly(env, policy)) == {"player_0", "player_1"}
        env.reset()
    known = env.unwrapped.table._known
    assert len(known) == 5
    monkeypatch.setattr(_remote, "KNOWN_BYTES_MAX", 10)
    known.clear()
    play_randomly(env, policy)
    assert not known
    env.close()


class LargeTicTacToe(TicTacToe):
    """Tic-tac-toe seen as 1,200 numbers: 4.8 kB of float32 per view."""

    rl_observation_shape = (1200,)

    @staticmethod
    def rl_observation(state: dict[str, Any], player_id: int) -> list[Any]:
        return [float(cell == player_id) for cell in state["board"]] + [0.0] * 1191


def test_a_game_with_large_observations_keeps_no_replies() -> None:
    """Kept views hold their arrays: a game whose views take more than
    KNOWN_ARRAYS_MAX bytes keeps none (4,096 of them would take 40 MB)."""
    from gameserver.rl._common import make_table
    from gameserver.rlhooks import RLSpec

    small = make_table(RLSpec(TicTacToe), 2, ("127.0.0.1", 1))
    large = make_table(RLSpec(LargeTicTacToe), 2, ("127.0.0.1", 1))
    assert small._known_max == _remote.KNOWN_MAX and large._known_max == 0


def test_a_move_reply_split_or_of_another_shape_over_one_request() -> None:
    """A move that asks for nothing beside it (one request, its bytes read by ``ask``):
    a reply that comes in pieces is read whole; one that is not JSON is a clear error,
    and the link does not keep its bytes for the next reply."""
    state = json.dumps({"board": [-1] * 9, "winner": None, "current": [1],
                        "gameover": False, "legal_moves": [{"position": 0}]}).encode()
    whole = b'{"status": "ok", "data": null, "state": ' + state + b"}EOT\x00"
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.recv(65536)
            conn.sendall(whole[:10])
            time.sleep(0.1)  # (the rest in a receive of its own)
            conn.sendall(whole[10:])
            conn.recv(65536)
            conn.sendall(b"no json hereEOT\x00")
            conn.recv(65536)  # until the client closes
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b'{"status": "ok", "data": 1}EOT\x00')
            conn.recv(65536)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    link = _remote.Link(("127.0.0.1", listener.getsockname()[1]), timeout=TIMEOUT)
    table = _remote.RemoteTable(link, "TicTacToe", 2, ["a", "b"], session="s")
    table.seated(0, "0" * 32, "a")
    table.seated(1, "1" * 32, "b")
    assert table.move(0, {"position": 4}, 1) is None
    assert table.view(1).state["current"] == [1]
    with pytest.raises(GameError, match="a reply that is not JSON: b'no json here'"):
        table.move(1, {"position": 3}, 0)
    assert link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00']) == [
        {"status": "ok", "data": 1}]
    link.close()
    thread.join(TIMEOUT)
    listener.close()


def test_a_server_that_pages_discovery_for_ever_is_a_clear_error() -> None:
    """While a seat is awaited, discovery is read page after page until the session shows:
    a server whose pages never reach it (each ends with another "next") kept the env
    asking in a tight loop, hundreds of requests a second, until its timeout, then said
    the server did not seat the player. Now it gives up after SEATED_PAGES_MAX pages."""
    listener = socket.create_server(("127.0.0.1", 0))
    pages: list[int] = []
    done = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                while not done.is_set():
                    request = conn.recv(65536)
                    if not request or b'"join"' in request:
                        done.wait(TIMEOUT)  # a join waits (for the session to fill)
                        return
                    pages.append(1)
                    page = {"sessions": [{"game": "TicTacToe", "session": f"a{len(pages)}",
                                          "joined": 1, "names": ["x"]}],
                            "next": ["TicTacToe", f"a{len(pages)}"]}
                    conn.sendall(json.dumps({"status": "ok", "data": page}).encode()
                                 + b"EOT\x00")
            except OSError:
                pass

    def accept() -> None:
        with listener:
            while not done.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    env = aec_env("TicTacToe", server=("127.0.0.1", listener.getsockname()[1]),
                  session="lab", timeout=TIMEOUT)
    try:
        with pytest.raises(GameError, match=r"discover failed: the server sent 100 pages of "
                                            r"sessions without reaching session 'lab'"):
            env.reset()
        assert len(pages) == _remote.SEATED_PAGES_MAX
    finally:
        done.set()
        env.close()
        listener.close()


def test_a_closed_network_env_refuses_to_play_on(server) -> None:
    """A closed network env opened a new connection at its next request and played on,
    with its guard stopped: an endless rl_observation would then have hung for ever."""
    address = (server.host, server.port)
    env = aec_env("Nim", server=address, timeout=TIMEOUT)
    env.reset(seed=1)
    env.close()
    env.close()  # twice is fine
    with pytest.raises(GameError, match="this environment was closed"):
        env.step(0)
    with pytest.raises(GameError, match="this environment was closed"):
        env.reset()
    vector = vector_env("Nim", 2, server=address, timeout=TIMEOUT)
    vector.reset(seed=1)
    vector.close()
    with pytest.raises(GameError, match="this environment was closed"):
        vector.reset()


def seat_of_bot(address: tuple[str, int], session: str) -> tuple[threading.Thread, list[Any]]:
    """A client (on a thread) that joins ``session`` of Nim first and, if the first move
    is its own, makes it; the list gets its link and its join's data."""
    got: list[Any] = []

    def play() -> None:
        link = _remote.Link(address, timeout=TIMEOUT)
        sock = link.connect()
        sock.sendall(_remote._encode({"type": "join", "game": "Nim", "session": session,
                                      "players": 2, "name": "bot"}))
        seat = _remote._read_to_end(sock, TIMEOUT)["data"]
        sock.close()
        ids = {"game": "Nim", "session": session, "player_id": seat["player_id"],
               "key": seat["key"], "keep_alive": True}
        state = link.exchange([_remote._encode(
            {"type": "state", **ids, "observer": False, "legal_moves": True})])[0]["data"]
        if seat["player_id"] in state["current"]:
            link.exchange([_remote._encode({"type": "move", **ids,
                                            "move": state["legal_moves"][0]})])
        got.extend([link, ids])

    thread = threading.Thread(target=play)
    thread.start()
    return thread, got


@pytest.mark.parametrize("kind", ["aec", "gym", "vector"])
def test_an_env_collected_without_close_stops_its_watchdog_thread(server, kind: str
                                                                  ) -> None:
    """A network env that was not closed left the watchdog thread of its guard running
    for ever (an in-process env stopped it): a loop that made an env per evaluation and
    dropped it had one thread more per env."""
    address = (server.host, server.port)
    before = set(threading.enumerate())
    env: Any = (aec_env("TicTacToe", server=address, timeout=TIMEOUT) if kind == "aec" else
                gym_env("TicTacToe", server=address, timeout=TIMEOUT) if kind == "gym" else
                vector_env("TicTacToe", 2, server=address, timeout=TIMEOUT))
    env.reset()
    made = [thread for thread in set(threading.enumerate()) - before
            if thread.name == "gameserver-watchdog"]
    assert len(made) == 1  # (a vector env's tables share one)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # (its socket, not closed either)
        del env
        gc.collect()
    made[0].join(TIMEOUT)
    assert not made[0].is_alive()


@pytest.mark.parametrize("kind", ["aec", "gym", "vector", "server"])
def test_a_closed_env_leaves_its_session_so_a_loop_of_new_envs_is_never_refused(
        make_server, kind: str) -> None:
    """A closed env's session stayed on the server until idle for ``game_timeout``
    (1,000 s), counted against the address: a loop that made a new env for each
    evaluation was refused at about the 200th (``max_sessions_per_address``; here 2).
    With ``opponent="server"`` the env leaves its own seat only: the other client's
    game goes on, and the session ends once that client leaves too."""
    server = make_server(max_sessions_per_address=2)
    address = (server.host, server.port)

    def open_sessions() -> list[tuple[str, str]]:
        return server.call(lambda: sorted(server.server.lobby.sessions))

    for number in range(5):
        if kind == "server":
            bot, got = seat_of_bot(address, f"table-{number}")
            until(lambda: server.call(lambda: len(server.server.lobby.sessions)),
                  "the bot's join")  # (the bot is player 0)
            env: Any = gym_env("Nim", opponent="server", server=address,
                               session=f"table-{number}", timeout=TIMEOUT)
        elif kind == "aec":
            env = aec_env("Nim", server=address, timeout=TIMEOUT)
        elif kind == "gym":
            env = gym_env("Nim", server=address, timeout=TIMEOUT)
        else:
            env = vector_env("Nim", 2, server=address, timeout=TIMEOUT)
        env.reset(seed=number)
        assert len(open_sessions()) == (2 if kind == "vector" else 1)
        env.close()
        if kind != "server":
            assert open_sessions() == []
            continue
        bot.join(TIMEOUT)
        link, ids = got
        assert open_sessions() == [("Nim", f"table-{number}")]  # the bot's game goes on
        state = link.exchange([_remote._encode({"type": "state", **ids, "observer": False})])
        assert state[0]["status"] == "ok"
        link.leave([_remote._encode({"type": "leave", **ids})])
        assert open_sessions() == []
    env.close()  # a second close: nothing to leave, no error


def test_envs_not_closed_until_the_server_refuses_are_told_to_close_them(make_server
                                                                          ) -> None:
    """Envs made in a loop, kept and not closed, hold their sessions: at
    ``max_sessions_per_address`` (200 by default; here 2) a join was refused with the
    server's "finish or leave some first", which did not say how an env leaves its
    sessions."""
    server = make_server(max_sessions_per_address=2)
    address = (server.host, server.port)
    kept = []
    for _ in range(2):
        kept.append(gym_env("Nim", server=address, timeout=TIMEOUT))
        kept[-1].reset()
    env = gym_env("Nim", server=address, timeout=TIMEOUT)
    with pytest.raises(GameError, match=(
            r"^join failed: framework: too many sessions started from your address \(at "
            r"most 2 at once\); finish or leave some first \(an env leaves its sessions when "
            r"it is closed: call close\(\) on each env you are done with, or make it in a "
            r"with block; one still open holds its sessions until it is dropped or the "
            r"program ends\)$")):
        env.reset()
    kept.pop().close()
    env.reset()  # (a closed env's session counts no more)
    for done in [env, *kept]:
        done.close()


def test_a_join_refused_by_the_limit_of_new_sessions_a_minute_is_sent_again(
        make_server) -> None:
    """A loop of fresh envs faster than the server's ``new_sessions_per_minute`` (1,200
    by default: 20 a second) had ``reset()`` fail with "too many new sessions from your
    address ... wait a little": the env now waits a little and joins. Any other refusal
    is final, at once (here: the sessions at once from the address)."""
    server = make_server(new_sessions_per_minute=60, max_sessions_per_address=61)
    address = (server.host, server.port)
    for number in range(60):  # the minute's sessions, all at once (one more a second)
        joined = request(server.port, {"type": "join", "game": "Echo", "players": 1,
                                       "session": f"echo-{number}", "name": ""})
        assert joined["status"] == "ok"
    refused = request(server.port, {"type": "join", "game": "Echo", "players": 1,
                                    "session": "one-more", "name": ""})
    assert _remote.RATE_LIMITED in refused["message"]
    env = gym_env("Nim", server=address, timeout=TIMEOUT)
    env.reset(seed=1)  # (it waited for the next one)
    other = gym_env("Nim", server=address, timeout=TIMEOUT)
    with pytest.raises(GameError, match="too many sessions started from your address"):
        other.reset()
    other.close()
    env.close()


def test_close_waits_for_its_leaves_no_longer_than_leave_timeout_in_all(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that answers the leaves of a vector env's seats slowly, each reply within
    the timeout of one: ``close()`` waited for every one of them (20 seats, 20 times
    LEAVE_TIMEOUT), though it says it waits LEAVE_TIMEOUT at most. It gives up then,
    whatever is still to come; the server here sends the rest only once it has."""
    monkeypatch.setattr(_remote, "LEAVE_TIMEOUT", 1.0)
    listener = socket.create_server(("127.0.0.1", 0))
    returned = threading.Event()
    sent: list[int] = []

    def serve() -> None:
        with listener, listener.accept()[0] as conn:
            for number in range(20):  # one every quarter of LEAVE_TIMEOUT, until close returns
                if returned.wait(0.25):
                    return
                try:
                    conn.sendall(b'{"status":"ok","data":null}' + _remote.TERMINATOR)
                except OSError:
                    return
                sent.append(number)

    thread = threading.Thread(target=serve)
    thread.start()
    link = _remote.Link(("127.0.0.1", listener.getsockname()[1]), timeout=TIMEOUT)
    leave = _remote._encode({"type": "leave", "game": "Nim", "session": "s", "player_id": 0,
                             "key": "0" * 32})
    link.leave([leave] * 20)
    returned.set()
    thread.join(TIMEOUT)
    assert len(sent) < 20


def _trickle_handshake(conn: socket.socket, cert: str, key: str, returned: threading.Event,
                       steps: int) -> int:
    """The start of a TLS record of 16 KB (the client waits for all of it), a byte a
    step: the steps taken before the client gave up."""
    conn.recv(65536)  # the client's hello
    conn.sendall(bytes([0x16, 3, 3, 0x40, 0]))
    for step in range(steps):
        if returned.wait(0.05):
            return step
        try:
            conn.sendall(b"\0")
        except OSError:  # (the client gave up and closed)
            return step
    return steps


def _read_slowly(conn: socket.socket, cert: str, key: str, returned: threading.Event,
                 steps: int) -> int:
    """A whole handshake, then a few KB of the requests a step."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with context.wrap_socket(conn, server_side=True) as tls:
        for step in range(steps):
            if returned.wait(0.05):
                return step
            try:
                tls.recv(4096)
            except OSError:  # (the client gave up and closed: a reset, unsent bytes left)
                return step
        return steps


@pytest.mark.parametrize("peer", [_trickle_handshake, _read_slowly])
def test_close_waits_no_longer_than_leave_timeout_for_a_tls_server_that_trickles(
        peer: Any, tls_pair: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A TLS server that trickles its handshake, or reads the leave requests a little
    at a time: ``close()`` still gives up at LEAVE_TIMEOUT in all (a review feared the
    handshake could stretch it). It does, as ``_ssl`` waits a socket's timeout in all for
    a handshake or a write, and ``_leave`` sets that timeout to what is left of its one
    deadline before each; given the link's timeout instead, both fail. The peer goes on
    for five LEAVE_TIMEOUTs, unless ``close()`` returns first."""
    cert, key = tls_pair
    monkeypatch.setattr(_remote, "LEAVE_TIMEOUT", 1.0)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    returned = threading.Event()
    steps: list[int] = []

    def serve() -> None:
        with listener, listener.accept()[0] as conn:
            steps.append(peer(conn, cert, key, returned, 100))
            returned.wait(TIMEOUT)

    thread = threading.Thread(target=serve)
    thread.start()
    link = _remote.Link(("localhost", listener.getsockname()[1]),
                        ssl.create_default_context(cafile=cert), timeout=TIMEOUT)
    leave = _remote._encode({"type": "leave", "game": "Nim", "session": "s", "player_id": 0,
                             "key": "0" * 32})
    try:
        link.leave([leave] * 100_000)  # (15 MB: more than the sockets' buffers hold)
    finally:
        returned.set()
        thread.join(TIMEOUT)
    assert steps and steps[0] < 100


def test_only_a_tls_ports_refusal_says_to_pass_tls() -> None:
    """The words the env looks for are the server's own (``_tlsconn.NOT_TLS``, not imported
    by the env: that would bring asyncio and the server's connections into its process);
    a connection closed without a word is no sign of TLS."""
    assert _remote._closed_message(_tlsconn.NOT_TLS.decode()).startswith(
        "the server speaks TLS only: pass tls=True (or tls=ssl.create_default_context(")
    assert "tls" not in _remote._closed_message("").lower()
    assert _remote.RATE_LIMITED is admission.NEW_SESSIONS_REFUSED  # (imported: one text)


@pytest.mark.parametrize("kind", ["exchange", "ask", "join"])
def test_a_new_connection_closed_unanswered_is_not_taken_for_tls(kind: str) -> None:
    """A request after an idle pause goes on a new connection; one closed without a word
    (a server killed meanwhile, a proxy whose server is down) was reported as "if it
    speaks TLS, pass tls=True", to a learner whose env had played there for an hour: only
    a TLS port's refusal says so now (``test_tls_mistakes_say_what_to_pass``). A join's
    connection, always new, alike."""
    answers = [] if kind == "join" else [b'{"status": "ok", "data": null}EOT\x00']
    port, _ = hostile([*answers, b""], close=True)
    link = _remote.Link(("127.0.0.1", port), timeout=TIMEOUT)
    request = b'{"type": "discover", "keep_alive": true}EOT\x00'
    with pytest.raises(GameError) as raised:
        if kind == "join":
            link.join([_remote.RemoteTable(link, "Echo", 1, ["me"], session="s")])
        else:
            link.exchange([request])  # answered, then closed while idle
            _closed_by_the_server(link)
            link.exchange([request]) if kind == "exchange" else link.ask(request)
    assert str(raised.value) == ("the server closed the connection without answering: did it "
                                 "stop or crash? (If it runs, is that port a game server's?)")
    link.close()


@pytest.mark.parametrize("kind", ["exchange", "ask"])
def test_a_reply_more_than_asked_for_is_refused_not_kept_for_the_next_request(kind: str
                                                                              ) -> None:
    """A server that answered one request twice: the second reply stayed in the link's
    buffer and was taken for the next request's, the one after took that one's, and so on
    (a state read as a move's reply). Now the extra bytes are an error, and the next
    request goes on a new connection."""
    extra = b'{"status": "ok", "data": 2}EOT\x00'
    port, _ = hostile([b'{"status": "ok", "data": 1}EOT\x00' + extra,
                       b'{"status": "ok", "data": 3}EOT\x00'], close=True)
    link = _remote.Link(("127.0.0.1", port), timeout=TIMEOUT)
    request = b'{"type": "discover", "keep_alive": true}EOT\x00'
    with pytest.raises(GameError, match=r"^the server sent more than the 1 replies asked for "
                                        r"\(b'\{\"status\": \"ok\", \"data\": 2\}EOT"):
        link.exchange([request]) if kind == "exchange" else link.ask(request)
    assert link.exchange([request]) == [{"status": "ok", "data": 3}]
    link.close()


def late_extra_reply(extra: bytes) -> tuple[int, threading.Event]:
    """A listener whose first connection answers a request, then sends ``extra`` once the
    test sets the event (the reply was read by then); every later connection answers
    each request with ``{"data": 3}``."""
    listener = socket.create_server(("127.0.0.1", 0))
    read = threading.Event()

    def serve() -> None:
        with listener:
            for number in range(3):
                conn, _ = listener.accept()
                with conn:
                    try:
                        if number == 0:
                            conn.recv(65536)
                            conn.sendall(b'{"status": "ok", "data": 1}EOT\x00')
                            assert read.wait(TIMEOUT)
                            conn.sendall(extra)
                        while conn.recv(65536):
                            conn.sendall(b'{"status": "ok", "data": 3}EOT\x00')
                    except OSError:
                        pass

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], read


@pytest.mark.parametrize("kind", ["exchange", "ask"])
def test_a_reply_nobody_asked_for_that_comes_later_is_refused_before_the_next_request(
        kind: str) -> None:
    """A server that answered one request twice, the second reply a moment after the
    first (the link had read the first by then): in a busy loop (the connection was looked
    at only after 50 ms unused) the next request took it for its own reply, and every later
    request the one before's. Now the link looks before each request: the extra reply is
    an error, and the next request goes on a new connection."""
    port, read = late_extra_reply(b'{"status": "ok", "data": 2}EOT\x00')
    link = _remote.Link(("127.0.0.1", port), timeout=TIMEOUT)
    request = b'{"type": "discover", "keep_alive": true}EOT\x00'
    assert link.exchange([request]) == [{"status": "ok", "data": 1}]
    sock = link._sock
    read.set()
    assert select.select([sock], [], [], TIMEOUT)[0]  # the extra reply came
    with pytest.raises(GameError, match=r"^the server sent a reply that no request asked "
                                        r"for \(b'\{\"status\": \"ok\", \"data\": 2\}EOT"):
        link.exchange([request]) if kind == "exchange" else link.ask(request)
    assert link._sock is None
    assert link.exchange([request]) == [{"status": "ok", "data": 3}]  # a new connection
    link.close()


def test_the_servers_last_word_as_it_stops_is_no_reply_nobody_asked_for() -> None:
    """Our server, as it stops, says ``server: server is shutting down`` to each
    kept-alive connection between requests (no terminator), then closes it: the next
    request goes on a new connection (a server started again meanwhile), as after a close
    without a word."""
    port, read = late_extra_reply(protocol.server_error("server is shutting down").reply())
    link = _remote.Link(("127.0.0.1", port), timeout=TIMEOUT)
    request = b'{"type": "discover", "keep_alive": true}EOT\x00'
    assert link.exchange([request]) == [{"status": "ok", "data": 1}]
    sock = link._sock
    read.set()
    assert select.select([sock], [], [], TIMEOUT)[0]
    assert link.exchange([request]) == [{"status": "ok", "data": 3}]
    link.close()


HTTP_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
WEB_PORT = (r"^the server answered in HTTP \('HTTP/1.1 400 Bad Request'\): that port is a "
            r"web server's \(the game server's dashboard\?\), not a game server's: use the "
            r"game server's port")


@pytest.mark.parametrize(("kind", "answer", "expected"), [
    ("exchange", HTTP_400, WEB_PORT),
    ("join", HTTP_400, WEB_PORT),
    ("exchange", b'{"status": "ok", "data": null}',
     r"^the server answered, then closed the connection: it does not keep connections "
     r"open \(a classic game server\?\)")])
def test_a_web_server_or_a_classic_server_is_named(kind: str, answer: bytes,
                                                   expected: str) -> None:
    """The port of a web server (the dashboard's answers a JSON line with a 408 after its
    10 s), and a server that closes each connection after its reply: the env said "the
    server closed the connection after 'HTTP/1.1 ...'" (or after the reply), now what the
    port is. (A classic server's join is a reply as any other: its first kept-alive
    request is the one that fails.)"""
    port, _ = hostile([answer], close=True)
    link = _remote.Link(("127.0.0.1", port), timeout=TIMEOUT)
    with pytest.raises(GameError, match=expected):
        if kind == "join":
            link.join([_remote.RemoteTable(link, "Echo", 1, ["me"], session="s")])
        else:
            link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00'])
    link.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's listen backlog")
def test_a_connection_nobody_takes_waits_the_connect_timeout(monkeypatch) -> None:
    """A listener that takes no connection (its queue full: a server hung, or too busy):
    Linux drops the SYNs, and connecting waited the env's whole timeout (120 s by
    default), then said "timed out"."""
    monkeypatch.setattr(_remote, "CONNECT_TIMEOUT", 0.3, raising=False)
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    queued = [socket.socket() for _ in range(3)]  # (more than the queue holds)
    for sock in queued:
        sock.setblocking(False)
        sock.connect_ex(listener.getsockname())
    link = _remote.Link(listener.getsockname(), timeout=TIMEOUT)
    try:
        with pytest.raises(GameError, match=r"^cannot connect to the server at "
                                            r"127.0.0.1:\d+: no answer within 0.3 s"):
            link.exchange([b'{"type": "discover", "keep_alive": true}EOT\x00'])
    finally:
        for sock in [*queued, listener]:
            sock.close()


@pytest.mark.parametrize("peer", ["silent", "trickling"])
def test_a_tls_handshake_waits_the_connect_timeout_not_the_reply_timeout(
        peer: str, tls_pair: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that accepts and never answers the handshake (or trickles it, a byte
    well within the time limit each) held the env for its whole ``timeout`` (120 s by
    default: it allows for other clients' moves), then said "timed out". The handshake
    waits CONNECT_TIMEOUT now, as in the client module, in all."""
    cert, key = tls_pair
    monkeypatch.setattr(_remote, "CONNECT_TIMEOUT", 0.3, raising=False)
    listener = socket.create_server(("127.0.0.1", 0))
    returned = threading.Event()
    steps: list[int] = []

    def serve() -> None:
        with listener, listener.accept()[0] as conn:
            if peer == "trickling":
                steps.append(_trickle_handshake(conn, cert, key, returned, 400))
            returned.wait(TIMEOUT)

    thread = threading.Thread(target=serve)
    thread.start()
    env = gym_env("TicTacToe", server=("127.0.0.1", listener.getsockname()[1]),
                  tls=ssl.create_default_context(cafile=cert), timeout=TIMEOUT)
    try:
        with pytest.raises(GameError, match=r"cannot connect to the server at 127.0.0.1:\d+: "
                                            r"it accepted the connection but did not end "
                                            r"the TLS handshake within 0.3 s"):
            env.reset()
    finally:
        returned.set()
        thread.join(TIMEOUT)
        env.close()
    assert peer == "silent" or steps[0] < 400
