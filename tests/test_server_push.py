"""The push extension across real sockets: subscriptions, moves with state, errors, bounds.

A ``Subscriber`` is a raw keep-alive connection that sorts what comes into
replies (one per request, in order) and pushes (``{"push": N, ...}``). The
rules without sockets are in ``test_push.py`` and ``test_session.py``.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gameserver._push import SUBSCRIPTIONS_MAX
from gameserver.games import chat
from gameserver.tournament import TournamentSettings
from tests.serverproc import ServerThread
from tests.wire import TERMINATOR, TIMEOUT, Player, send_raw, until


class Subscriber:
    """One kept-alive connection that may carry subscriptions."""

    def __init__(self, port: int, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock = tls.wrap_socket(sock, server_hostname="127.0.0.1") if tls else sock
        self.buffer = b""
        self.replies: list[dict[str, Any]] = []
        self.pushes: list[dict[str, Any]] = []
        self.raw_pushes: list[bytes] = []

    def send(self, data: dict[str, Any]) -> None:
        self.sock.sendall(json.dumps({**data, "keep_alive": True}).encode() + TERMINATOR)

    def _read_one(self) -> None:
        while TERMINATOR not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, f"closed by the server; unread: {self.buffer!r}"
            self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(TERMINATOR)
        message = json.loads(raw)
        if "push" in message:
            self.pushes.append(message)
            self.raw_pushes.append(raw)
        else:
            self.replies.append(message)

    def reply(self) -> dict[str, Any]:
        """The next reply (pushes that come first are kept in ``pushes``)."""
        while not self.replies:
            self._read_one()
        return self.replies.pop(0)

    def push(self) -> dict[str, Any]:
        """The next push (replies that come first are kept in ``replies``)."""
        while not self.pushes:
            self._read_one()
        return self.pushes.pop(0)

    def request(self, data: dict[str, Any]) -> dict[str, Any]:
        self.send(data)
        return self.reply()

    def close(self) -> None:
        self.sock.close()


def ids(player: Player) -> dict[str, Any]:
    return {"game": player.game, "session": player.session, "player_id": player.player_id,
            "key": player.key}


def seat_two(port: int, session: str, game: str = "TicTacToe") -> list[Player]:
    """Both players of a new two-player session, in player-id order.

    Both joins must succeed: a failed one (its reply, or what it raised, is in the
    message) would otherwise show up later as a bare failed assert on some move."""
    first = Player(port, game, session, 2)
    outcomes: list[Any] = []

    def join_first() -> None:
        try:
            outcomes.append(first.join())
        except Exception as err:  # (shown by the assert below)
            outcomes.append(err)

    thread = threading.Thread(target=join_first)
    thread.start()
    second = Player(port, game, session, 2)
    second_reply = second.join()
    thread.join(TIMEOUT)
    assert outcomes and second_reply["status"] == "ok" and first.key is not None, (
        f"seat_two({session!r}): the joins gave {outcomes or 'nothing in time'} and "
        f"{second_reply}")
    return sorted([first, second], key=lambda player: player.player_id or 0)


def subscribed(port: int, player: Player, tls: ssl.SSLContext | None = None,
               **extra: Any) -> Subscriber:
    conn = Subscriber(port, tls)
    assert conn.request({"type": "subscribe", **ids(player), "observer": player.observer,
                         **extra}) == {"status": "ok", "data": {"subscription": 1}}
    return conn


def play_both_seats(conn: Subscriber, players: list[Player],
                    state: dict[str, Any] | None = None) -> None:
    """One client plays both seats of a TicTacToe session to its end on ``conn``, each
    move's reply showing the next seat's state (``state``: the game as player 0 saw it
    last, if it has seen it since it changed)."""
    if state is None:
        state = conn.request({"type": "state", **ids(players[0]), "observer": False})["data"]
    while not state["gameover"]:
        mover = state["current"][0]
        nxt = players[1 - mover]
        reply = conn.request({"type": "move", **ids(players[mover]),
                              "move": {"position": state["board"].index(-1)},
                              "with_state": {"player_id": nxt.player_id, "key": nxt.key}})
        assert reply["status"] == "ok", reply
        assert reply["state"]["current"] in ([nxt.player_id], [])
        state = reply["state"]


def play_until_over(players: list[Player], conns: list[Subscriber]) -> None:
    """Both sides move on the pushes they get (moves with state), until the game ends."""
    states = [conn.push()["data"] for conn in conns]
    while not states[0]["gameover"]:
        mover = states[0]["current"][0]
        position = states[mover]["board"].index(-1)
        reply = conns[mover].request({"type": "move", **ids(players[mover]),
                                      "move": {"position": position}, "with_state": True})
        assert reply["status"] == "ok", reply
        states[mover] = reply["state"]
        states[1 - mover] = conns[1 - mover].push()["data"]
        assert states[0] == states[1]


def test_two_players_play_on_pushes_and_moves_with_state(server: ServerThread) -> None:
    players = seat_two(server.port, "push-play")
    conns = [subscribed(server.port, player) for player in players]
    play_until_over(players, conns)
    # A push is the reply to a state request with one key in front.
    for conn in conns:
        assert all(raw.startswith(b'{"push": 1, "status": "ok", "data": {"board": ')
                   for raw in conn.raw_pushes)
    for conn in conns:
        conn.close()


def test_one_client_plays_both_seats_with_the_next_seats_state_in_each_reply(
        server: ServerThread) -> None:
    players = seat_two(server.port, "both-seats")
    conn = Subscriber(server.port, None)  # one kept-alive connection for both seats
    state = conn.request({"type": "state", **ids(players[0]), "observer": False})["data"]
    mover = state["current"][0]
    wrong = conn.request({"type": "move", **ids(players[mover]), "move": {"position": 0},
                          "with_state": {"player_id": 1 - mover, "key": players[mover].key}})
    # Refused before the game saw it: the loop below plays cell 0 first, and it is free.
    assert wrong == {"status": "error", "message": "framework: invalid key"}
    play_both_seats(conn, players, state)
    conn.close()


def test_a_restart_hands_the_old_game_over_on_the_subscription(server: ServerThread) -> None:
    players = seat_two(server.port, "push-restart")
    conns = [subscribed(server.port, player) for player in players]
    play_until_over(players, conns)
    assert conns[0].request({"type": "restart", **ids(players[0])})["status"] == "ok"
    handed_over, new_game = conns[1].push()["data"], conns[1].push()["data"]
    assert handed_over["gameover"] is True and new_game["gameover"] is False
    assert new_game["board"] == [-1] * 9
    assert conns[0].push()["data"] == new_game  # the restarter is owed no hand-over
    for conn in conns:
        conn.close()


def test_an_observer_subscribes_with_its_key_and_sees_what_the_player_sees(
        server: ServerThread) -> None:
    player = Player(server.port, "Echo", "push-watched", 1, name="p")
    player.join()
    watcher = Player(server.port, "Echo", "push-watched", name="p")
    watcher.observe()
    conn = subscribed(server.port, watcher, legal_moves=True)
    assert conn.push()["data"] == {"echo": "", "current": [0], "gameover": False,
                                   "legal_moves": None}  # Echo does not list its moves
    player.move(msg="hello")
    assert conn.push()["data"]["echo"] == "hello"
    conn.close()


def test_errors_arrive_on_the_subscription_and_end_it(make_server: Callable[...,
                                                                             ServerThread]) -> None:
    server = make_server(game_timeout=0.5)
    players = seat_two(server.port, "push-errors")
    conn = subscribed(server.port, players[0])
    conn.push()
    # Overwritten: a new session under the same name.
    seat_two(server.port, "push-errors")
    assert conn.push() == {"push": 1, "status": "error",
                           "message": "framework: game session was overwritten"}
    assert "no subscription 1" in conn.request({"type": "unsubscribe",
                                                "subscription": 1})["message"]
    # Timed out: nobody touches the session; the subscriber is no activity.
    player = Player(server.port, "Echo", "push-idle", 1)
    player.join()
    assert conn.request({"type": "subscribe", **ids(player), "observer": False})[
        "data"] == {"subscription": 2}
    conn.push()
    assert conn.push() == {"push": 2, "status": "error",
                           "message": "framework: game session has timed out"}
    conn.close()


def test_subscriptions_ended_by_their_sessions_free_their_slots(server: ServerThread) -> None:
    conn = Subscriber(server.port)
    players = [Player(server.port, "Echo", f"push-slot{n}", 1) for n in range(SUBSCRIPTIONS_MAX)]
    for n, player in enumerate(players, 1):
        player.join()
        assert conn.request({"type": "subscribe", **ids(player), "observer": False}) == {
            "status": "ok", "data": {"subscription": n}}
        conn.push()
    one_more = Player(server.port, "Echo", "push-slot-more", 1)
    one_more.join()
    assert "too many subscriptions" in conn.request(
        {"type": "subscribe", **ids(one_more), "observer": False})["message"]
    for player in players:  # overwritten: each subscription ends with the error
        Player(server.port, "Echo", player.session, 1).join()
    ended = [conn.push() for _ in players]
    assert sorted(push["push"] for push in ended) == list(range(1, SUBSCRIPTIONS_MAX + 1))
    assert {push["message"] for push in ended} == {"framework: game session was overwritten"}
    assert conn.request({"type": "subscribe", **ids(one_more), "observer": False})[
        "data"] == {"subscription": SUBSCRIPTIONS_MAX + 1}
    conn.close()


@pytest.mark.parametrize(("removal", "message"), [
    ("idle", "framework: game session has timed out"),
    ("delete", "framework: tournament pushed was deleted")])
def test_a_tournament_games_subscription_ends_when_the_lobby_removes_the_game(
        make_server: Callable[..., ServerThread], removal: str, message: str) -> None:
    """The tournament ends (its only game lost on time); its game's session stays in the
    lobby until it is idle for game_timeout, or the operator deletes the tournament (it
    stayed until idle then too, before 2026-11-29: its subscriptions went on, and a
    tournament made again under the name took the old game for its own)."""
    server = make_server(game_timeout=2.0 if removal == "idle" else 1000.0)
    assert server.server is not None
    hall = server.server.hall
    server.call(lambda: hall.create(TournamentSettings("pushed", "TicTacToe",
                                                       turn_timeout=0.5, start_with=2)))
    players = [Player(server.port, "TicTacToe", "tournament-pushed", 2, name=name)
               for name in ("ann", "bob")]
    thread = threading.Thread(target=players[0].join)
    thread.start()
    players[1].join()
    thread.join(TIMEOUT)
    conn = subscribed(server.port, players[0])
    while conn.push()["data"]["gameover"] is False:
        pass  # nobody moves: the game is lost on time, and the tournament is over
    assert server.call(lambda: hall.tournament("pushed").over)
    if removal == "delete":
        server.call(lambda: hall.delete("pushed"))
    assert conn.push() == {"push": 1, "status": "error", "message": message}
    assert "no subscription 1" in conn.request({"type": "unsubscribe",
                                                "subscription": 1})["message"]
    conn.close()


def test_a_server_that_stops_pushes_the_reason_then_closes() -> None:
    running = ServerThread().start()
    player = Player(running.port, "Echo", "push-stop", 1)
    player.join()
    conn = subscribed(running.port, player)
    conn.push()
    running.stop()
    assert conn.push() == {"push": 1, "status": "error",
                           "message": "server: server is shutting down"}
    conn.close()


def test_subscriptions_work_over_tls(make_server: Callable[..., ServerThread],
                                     tls_pair: tuple[str, str]) -> None:
    cert, key = tls_pair
    server = make_server(tls_cert=cert, tls_key=key)
    context = ssl.create_default_context(cafile=cert)
    player = Player(server.port, "Echo", "push-tls", 1)
    join = Subscriber(server.port, context)
    joined = join.request({"type": "join", "game": "Echo", "session": "push-tls",
                           "players": 1, "name": ""})["data"]
    player.player_id, player.key = joined["player_id"], joined["key"]
    conn = subscribed(server.port, player, context)
    assert conn.push()["data"]["echo"] == ""
    assert join.request({"type": "move", **ids(player), "move": {"msg": "over tls"}})[
        "status"] == "ok"
    assert conn.push()["data"]["echo"] == "over tls"
    conn.close()
    join.close()


def test_a_subscriber_that_does_not_read_holds_a_bounded_buffer(
        make_server: Callable[..., ServerThread]) -> None:
    """Pushes coalesce in the server while the client reads nothing; nothing is lost.

    Without coalescing, the 300 states of a growing chat (~23 MB in all) would
    pile up in the server once the kernel's buffers are full. The messages
    (300 of ~500 characters) stay within what Chat keeps, so every push counts
    all messages sent so far.
    """
    bound = 64 * 1024
    server = make_server(reply_buffer_max=bound)
    chatter = Player(server.port, "Chat", "push-slow", 1)
    chatter.join()
    chatter.move(name="me")
    slow = subscribed(server.port, chatter)
    sender = Subscriber(server.port)
    moves, size = 300, 500
    assert moves * (size + 5) < chat.KEPT_CHARACTERS
    largest = 0
    for n in range(moves):
        assert sender.request({"type": "move", **ids(chatter), "move": {
            "message": f"{n:04} " + "x" * size}})["status"] == "ok"
        largest = max(largest, server.call(unsent_bytes, server))
    assert 0 < largest <= bound + 2 * moves * (size + 20)  # the bound, and one push beyond
    counts = []
    while not counts or counts[-1] < moves:
        counts.append(len(slow.push()["data"]["messages"]))
    assert counts == sorted(set(counts)) and len(counts) < moves
    slow.close()
    sender.close()


def unsent_bytes(server: ServerThread) -> int:
    """The most bytes any connection of the server holds unsent."""
    assert server.server is not None
    return max((len(getattr(conn, "_out", b"")) for conn in server.server.connections),
               default=0)


def test_classic_clients_see_the_same_bytes_whether_or_not_someone_subscribes(
        server: ServerThread) -> None:
    """The same classic exchange twice; the second time a watcher subscribes beside it."""
    def classic_run(session: str, subscribe: bool) -> list[bytes]:
        def send(data: dict[str, Any]) -> bytes:
            return send_raw(server.port, json.dumps(data).encode() + TERMINATOR)

        joined = json.loads(send({"type": "join", "game": "Echo", "session": session,
                                  "players": 1, "name": "p"}))["data"]
        who = {"game": "Echo", "session": session, "player_id": 0, "key": joined["key"]}
        transcript = [send({"type": "observe", "game": "Echo", "session": session,
                            "name": "p"})]
        watcher_key = json.loads(transcript[0])["data"]["key"]
        conn = None
        if subscribe:
            watcher = Player(server.port, "Echo", session)
            watcher.player_id, watcher.key, watcher.observer = 0, watcher_key, True
            conn = subscribed(server.port, watcher)
        transcript += [
            send({"type": "state", **who, "observer": False}),
            send({"type": "move", **who, "move": {"msg": "hi"}}),
            send({"type": "state", **who, "observer": False}),
            send({"type": "move", **who, "move": {"msg": "error"}}),
            send({"type": "move", **who, "move": {"msg": "quit"}}),
            send({"type": "restart", **who}),
            send({"type": "state", **who, "observer": False}),
            send({"type": "move", "game": "Echo", "session": session, "player_id": 0,
                  "key": "bad", "move": {}}),
        ]
        if conn is not None:
            pushed = [conn.push()["data"] for _ in range(6)]
            assert [(p["echo"], p["gameover"]) for p in pushed] == [
                ("", False), ("hi", False), ("error", False), ("quit", True),
                ("quit", True), ("", False)]  # the last game's end, handed over
            conn.close()
        return [part.replace(joined["key"].encode(), b"KEY").replace(
            watcher_key.encode(), b"WATCHER") for part in transcript]

    plain = classic_run("classic-plain", subscribe=False)
    beside = classic_run("classic-beside", subscribe=True)
    assert plain == beside
    assert plain[2] == b'{"status": "ok", "data": null}'
    assert plain[3] == (b'{"status": "ok", "data": {"echo": "hi", "current": [0], '
                        b'"gameover": false}}')


@pytest.fixture(scope="module")
def worker_server() -> Iterator[ServerThread]:
    """A server that runs TicTacToe in a worker process."""
    with ServerThread(isolate_games="all", games=["TicTacToe"]) as running:
        yield running


def seated_with_mover(port: int, session: str) -> tuple[list[Player], Subscriber, int]:
    """Both players of a new session, one kept-alive connection, and who moves first."""
    players = seat_two(port, session)
    conn = Subscriber(port, None)
    state = conn.request({"type": "state", **ids(players[0]), "observer": False})["data"]
    return players, conn, state["current"][0]


def test_moves_with_state_carry_the_state_for_a_game_in_a_worker_process(
        worker_server: ServerThread) -> None:
    players = seat_two(worker_server.port, "worker-push")
    conns = [subscribed(worker_server.port, player) for player in players]
    play_until_over(players, conns)  # every move's reply has its state: one request a turn
    for conn in conns:
        conn.close()


def test_a_worker_games_state_shown_in_a_moves_reply_is_not_sent_again(
        worker_server: ServerThread) -> None:
    """The mover's next ``state`` waits for the next change, as for a game in the server."""
    players, conn, mover = seated_with_mover(worker_server.port, "worker-seen")
    other = players[1 - mover]
    reply = conn.request({"type": "move", **ids(players[mover]), "move": {"position": 4},
                          "with_state": True})
    assert reply["state"]["board"][4] == mover
    conn.send({"type": "state", **ids(players[mover]), "observer": False})  # waits ...
    assert other.move(position=0)["status"] == "ok"  # ... until the other player's move
    assert conn.reply()["data"]["board"][0] == 1 - mover  # not the state it had already
    conn.close()


def test_one_client_plays_both_seats_of_a_worker_game_with_states_in_replies(
        worker_server: ServerThread) -> None:
    players = seat_two(worker_server.port, "worker-both")
    conn = Subscriber(worker_server.port, None)
    play_both_seats(conn, players)
    conn.close()


def test_a_worker_games_first_move_with_state_and_legal_moves_carries_them(
        worker_server: ServerThread) -> None:
    """The view a move with state shows comes along with that move, even the first time
    its legal moves are asked for: a learning loop with many seats (each seat's first
    move) is not taken for an older server that never sends states in move replies."""
    players, conn, mover = seated_with_mover(worker_server.port, "worker-legal")
    other = players[1 - mover]
    reply = conn.request({"type": "move", **ids(players[mover]), "move": {"position": 4},
                          "with_state": {"player_id": other.player_id, "key": other.key},
                          "legal_moves": True})
    assert reply["state"]["current"] == [other.player_id]
    assert {"position": 4} not in reply["state"]["legal_moves"]
    conn.close()


def test_a_view_never_goes_back_when_pushes_wait_for_a_slow_save_beside_held_replies(
        tmp_path) -> None:
    """A push waits for the save of the state it shows while the connection serves a
    move with state of the same view (its reply held for a later save): the push, of
    the older state, must come before the reply of the newer one, not after it."""
    from tests.test_server_keepalive import SlowDisk

    with ServerThread(store=True, store_path=str(tmp_path / "s.db"),
                      store_sync="full") as server, SlowDisk(server) as disk:
        other = Subscriber(server.port)
        client = Subscriber(server.port)
        base = {"game": "Chat", "session": "slow", "players": 2}
        other.send({"type": "join", **base, "name": ""})
        client.send({"type": "join", **base, "name": ""})
        seats = {r["data"]["player_id"]: r["data"]["key"] for r in (other.reply(), client.reply())}
        ids = {"game": "Chat", "session": "slow"}
        for seat, key in seats.items():
            client.send({"type": "move", **ids, "player_id": seat, "key": key,
                         "move": {"name": f"P{seat}"}})
            assert client.reply()["status"] == "ok"
        client.send({"type": "subscribe", **ids, "player_id": 1, "key": seats[1],
                     "observer": False})
        assert client.reply()["data"] == {"subscription": 1}
        assert client.push()["data"]["messages"] == []
        session = server.call(lambda: server.server.lobby.sessions[("Chat", "slow")])
        disk.stop()
        client.send({"type": "move", **ids, "player_id": 0, "key": seats[0],
                     "move": {"message": "first"}})
        assert disk.holding.wait(TIMEOUT)  # its commit is on its way to a slow disk
        # ... and the push of the state it made waits for that commit
        until(lambda: server.call(lambda: session._seen[2] == session.version), "pushing")
        client.send({"type": "move", **ids, "player_id": 1, "key": seats[1],
                     "move": {"message": "second"}, "with_state": True})
        until(lambda: server.call(lambda: session.moves) == 4, "served")
        disk.go()
        shown = []  # the number of messages player 1's view shows, in the order it came
        while len(shown) < 2:
            client._read_one()
            for push in client.pushes:
                shown.append(len(push["data"]["messages"]))
            client.pushes.clear()
            for reply in client.replies:
                if "state" in reply:
                    shown.append(len(reply["state"]["messages"]))
            client.replies.clear()
        assert shown == [1, 2]
        other.sock.close()
        client.sock.close()


def test_a_restart_with_state_carries_the_restarters_new_state(server: ServerThread) -> None:
    players = seat_two(server.port, "restart-with-state")
    conn = Subscriber(server.port)
    play_both_seats(conn, players)
    reply = conn.request({"type": "restart", **ids(players[0]), "with_state": True,
                          "legal_moves": True})
    assert reply["status"] == "ok" and reply["data"] is None
    assert reply["state"]["board"] == [-1] * 9 and not reply["state"]["gameover"]
    assert "legal_moves" in reply["state"]
    # Seen: player 0's next state waits for the next change (player 1's hand-over first).
    conn.send({"type": "state", **ids(players[0]), "observer": False})
    assert players[1].state()["data"]["gameover"] is True  # the old game's end ...
    first = players[1].state()["data"]  # ... then the new game
    mover = first["current"][0]
    assert players[mover].move(position=4)["status"] == "ok"
    assert conn.reply()["data"]["board"][4] == mover  # not the state it had already
    # Without the flag, a restart's reply is the classic one, byte for byte.
    classic = json.dumps({"type": "restart", **ids(players[0])}).encode() + TERMINATOR
    assert send_raw(server.port, classic) == b'{"status": "ok", "data": null}'
    conn.close()


def test_a_restart_with_state_of_a_worker_game_carries_it_without_legal_moves(
        worker_server: ServerThread) -> None:
    """A worker sends a new game's views without legal moves along with it: a restart
    asking for legal moves gets no state, and the view stays unseen (docs/protocol.md)."""
    players = seat_two(worker_server.port, "worker-restart-state")
    conn = Subscriber(worker_server.port)
    play_both_seats(conn, players)
    shown = conn.request({"type": "restart", **ids(players[0]), "with_state": True})
    assert shown["state"]["board"] == [-1] * 9
    play_both_seats(conn, players, shown["state"])
    unshown = conn.request({"type": "restart", **ids(players[0]), "with_state": True,
                            "legal_moves": True})
    assert unshown == {"status": "ok", "data": None}
    assert conn.request({"type": "state", **ids(players[0]), "observer": False,
                         "legal_moves": True})["data"]["board"] == [-1] * 9
    conn.close()


def play_to_the_end_asking_for_final_states(server: ServerThread, session: str) -> None:
    """One client plays both seats of a TicTacToe session with ``"final_state": true``: the
    last move's reply brings the mover's own final state, which the mover's view has seen
    then (as the other seat's, shown under "state")."""
    players = seat_two(server.port, session)
    conn = Subscriber(server.port, None)
    state = conn.request({"type": "state", **ids(players[0]), "observer": False})["data"]
    finals = []
    while not state["gameover"]:
        mover = state["current"][0]
        nxt = players[1 - mover]
        reply = conn.request({"type": "move", **ids(players[mover]), "final_state": True,
                              "move": {"position": state["board"].index(-1)},
                              "with_state": {"player_id": nxt.player_id, "key": nxt.key}})
        assert reply["status"] == "ok", reply
        state = reply["state"]
        finals.append(reply.get("final_state"))
    assert finals[:-1] == [None] * (len(finals) - 1)  # only the move that ends it
    assert finals[-1] == state and state["gameover"] is True
    played = server.call(lambda: server.server.lobby.sessions[("TicTacToe", session)])
    assert server.call(lambda: played._seen[0] == played._seen[2] == played.version)
    # The restarter's blocked state is woken by the restart (not answered with the end).
    conn.send({"type": "state", **ids(players[mover]), "observer": False})
    index = 2 * players[mover].player_id
    until(lambda: server.call(lambda: bool(played._view_waits and played._view_waits[index])),
          "the state waiting")
    restarter = Subscriber(server.port, None)
    assert restarter.request({"type": "restart", **ids(players[mover])})["status"] == "ok"
    assert conn.reply()["data"]["gameover"] is False
    conn.close()
    restarter.close()


def test_a_move_that_ends_the_game_brings_the_movers_final_state_when_asked(
        server: ServerThread) -> None:
    play_to_the_end_asking_for_final_states(server, "final-state")


def test_a_move_that_ends_a_worker_game_brings_the_movers_final_state_too(
        worker_server: ServerThread) -> None:
    play_to_the_end_asking_for_final_states(worker_server, "worker-final-state")


def restart_showing_both_seats(server: ServerThread, session: str) -> None:
    """One client plays both seats to the end, then restarts with the other seat's new
    state in the reply: that seat is not handed the old end, and has seen the new game."""
    players = seat_two(server.port, session)
    conn = Subscriber(server.port, None)
    play_both_seats(conn, players)
    restarter, other = players
    refused = conn.request({"type": "restart", **ids(restarter), "with_state": True,
                            "with_states_of": [{"player_id": other.player_id, "key": "x"}]})
    assert refused == {"status": "error", "message": "framework: invalid key"}
    # (Without legal moves: a game's worker sends the new game's states without them.)
    reply = conn.request({"type": "restart", **ids(restarter), "with_state": True,
                          "with_states_of": [{"player_id": other.player_id,
                                              "key": other.key}]})
    assert reply["status"] == "ok" and reply["state"]["gameover"] is False
    assert [state["board"] for state in reply["states"]] == [[-1] * 9]
    played = server.call(lambda: server.server.lobby.sessions[("TicTacToe", session)])
    assert server.call(lambda: (other.player_id, False) not in played._owed)
    assert server.call(lambda: played._seen[2 * other.player_id] == played.version)
    conn.close()
    # Malformed: named clearly (and, as any malformed request, answered the classic way).
    wrong = json.loads(send_raw(server.port, json.dumps({
        "type": "restart", **ids(restarter), "with_state": True,
        "with_states_of": {"player_id": other.player_id}}).encode() + TERMINATOR))
    assert wrong["status"] == "error" and "'with_states_of'" in wrong["message"]


def test_a_restart_shows_the_other_seats_it_names_the_new_game(server: ServerThread) -> None:
    restart_showing_both_seats(server, "states-of")


def test_a_restart_of_a_worker_game_shows_the_other_seats_it_names_the_new_game(
        worker_server: ServerThread) -> None:
    restart_showing_both_seats(worker_server, "worker-states-of")
