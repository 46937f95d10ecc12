"""The leave extension through real sockets: a seat given up for good, and a session
that ends once every seat has left (it no longer counts against its starter's address)."""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

from tests.test_game_server_api import wait_until_a_request_waits
from tests.test_server_push import subscribed
from tests.test_store import seat_two
from tests.wire import TERMINATOR, Player, request, until


def pair(port: int, session: str) -> tuple[Player, Player]:
    """Two players (ann and bob) seated in a new session of TicTacToe, by id."""
    players = seat_two(port, "TicTacToe", session)
    return players[0], players[1]


def leave(player: Player, **changes: Any) -> dict[str, Any]:
    return request(player.port, {"type": "leave", "game": player.game,
                                 "session": player.session, "player_id": player.player_id,
                                 "key": player.key, **changes})


def sessions(server: Any) -> list[tuple[str, str]]:
    return server.call(lambda: sorted(server.server.lobby.sessions))


def test_a_session_every_seat_left_ends_and_counts_no_more(make_server) -> None:
    """Without leave a session stayed until idle for game_timeout, counted against its
    starter's address: a loop of fresh sessions was refused at the cap (200 by default)."""
    server = make_server(max_sessions_per_address=2)
    for number in range(6):  # three times the cap
        a, b = pair(server.port, f"loop-{number}")
        assert leave(a) == {"status": "ok", "data": None}
        assert sessions(server) == [("TicTacToe", f"loop-{number}")]  # bob is still in it
        assert leave(b) == {"status": "ok", "data": None}
        assert sessions(server) == []
    # Whoever still waits in it (an observer's state) hears why it ended.
    a, b = pair(server.port, "watched")
    watcher = Player(server.port, "TicTacToe", "watched", name="ann")
    assert watcher.observe()["status"] == "ok"
    assert watcher.state()["status"] == "ok"  # (seen: the next one waits for a change)
    replies: list[dict[str, Any]] = []
    waiting = threading.Thread(target=lambda: replies.append(watcher.state()))
    waiting.start()
    wait_until_a_request_waits(server, "TicTacToe", "watched")  # (else: no such session)
    leave(a)
    leave(b)
    waiting.join(30)
    assert replies == [{"status": "error",
                        "message": "framework: every player left the game session"}]


def test_only_a_seats_own_key_makes_it_leave_and_only_all_of_them_end_the_game(
        make_server) -> None:
    """An attacker's tries: no key, a guessed key, another seat's id with one's own key,
    an observer's key (read-only), leaving twice, and a player who leaves to end the game
    of the others (it goes on for them); a tournament's game cannot be left."""
    server = make_server()
    a, b = pair(server.port, "guarded")
    assert a.move(position=4)["status"] == "ok" or b.move(position=4)["status"] == "ok"
    watcher = Player(server.port, "TicTacToe", "guarded", name="bob")
    assert watcher.observe()["status"] == "ok"
    refused = [
        leave(a, key="0" * 32),
        leave(a, player_id=b.player_id),  # ann's key, bob's seat
        leave(watcher),  # bob's observer key
        leave(a, player_id=7),
        leave(a, key=None),
        leave(a, session="other"),
    ]
    assert [r.get("message") for r in refused] == [
        "framework: invalid key",
        "framework: invalid key",
        "framework: invalid key: an observer key only works for state requests with "
        "observer=true",
        "framework: invalid key",
        "framework: key 'key' of a leave request must be a string, not null",
        "framework: no such game session",
    ]
    assert leave(a)["status"] == "ok"
    again = leave(a)
    assert again == {"status": "error",
                     "message": "framework: invalid key: this player left the game session"}
    assert a.state()["message"] == "framework: invalid key: this player left the game session"
    # Bob still plays on: his state, his observer, his moves (none is ann's to make).
    assert b.state()["status"] == "ok"
    assert watcher.state()["status"] == "ok"
    assert sessions(server) == [("TicTacToe", "guarded")]
    reply = request(server.port, {"type": "leave", "game": "TicTacToe",
                                  "session": "tournament-cup/r1t1g1", "player_id": 0,
                                  "key": "0" * 32})
    assert reply == {"status": "error",
                     "message": "framework: the games of a tournament cannot be left"}


def test_trying_keys_does_not_tell_a_guesser_that_a_seat_left(make_server) -> None:
    """An attacker who tries keys on a seat must get the same answer whether the seat left
    or not: every wrong key said "this player left" once the seat had left. Only the key
    the seat left with (its player, who knew it) is told so, for any request."""
    server = make_server()
    a, b = pair(server.port, "quiet")
    assert leave(a)["status"] == "ok"

    def tries(seat: Player) -> list[Any]:
        wrong = [("0" * 32), "f" * 31, "é" * 32, "", (b if seat is a else a).key]
        replies = [leave(seat, key=key) for key in wrong]
        replies += [request(seat.port, {"game": seat.game, "session": seat.session,
                                        "player_id": seat.player_id, "key": key, **kind})
                    for kind in ({"type": "state", "observer": False},
                                 {"type": "move", "move": {"position": 0}})
                    for key in wrong]
        return [reply.get("message") for reply in replies]

    assert tries(a) == tries(b) == ["framework: invalid key"] * 15
    told = "framework: invalid key: this player left the game session"
    assert leave(a)["message"] == told
    assert a.state()["message"] == told
    assert a.move(position=0)["message"] == told
    assert b.state()["status"] == "ok"  # (bob, who did not leave, plays on)


def test_a_classic_request_is_answered_as_before(make_server) -> None:
    """Only a client that sends a leave request gets one's effect: the classic requests'
    replies, and the error for an unknown type, are unchanged."""
    server = make_server()
    a, b = pair(server.port, "classic")
    assert request(server.port, {"type": "bye"})["message"] == (
        "framework: unknown request type 'bye' (expected one of: join, move, state, "
        "observe, restart)")
    assert a.restart() == {"status": "ok", "data": None}
    assert sessions(server) == [("TicTacToe", "classic")]


def test_after_a_restart_a_seat_that_left_has_the_key_the_store_last_saved(
        tmp_path) -> None:
    """A leave is not saved itself: the store has the seat's key as the session's row was
    last written. Untouched since, the old key works again after a restart; written again
    after the leave (here: an observer code asked for), the row holds the key nobody
    knows, and the seat stays locked (docs/protocol.md said the old key came back)."""
    from tests.serverproc import ServerThread

    db = str(tmp_path / "store.sqlite3")
    with ServerThread(store=True, store_path=db) as server:
        quiet = pair(server.port, "quiet")
        written = pair(server.port, "written")
        for players in (quiet, written):
            assert leave(players[0])["status"] == "ok"
        observer = request(server.port, {"type": "observer_code", "game": "TicTacToe",
                                         "session": "written", "player_id": written[1].player_id,
                                         "key": written[1].key})
        assert observer["status"] == "ok"
    with ServerThread(store=True, store_path=db) as restarted:
        for player in (*quiet, *written):
            player.port = restarted.port
        assert quiet[0].state()["status"] == "ok"
        assert written[0].state()["message"] == "framework: invalid key"
        assert written[1].state()["status"] == "ok"


def test_a_subscription_of_a_seat_that_left_pushes_its_state_no_more(make_server) -> None:
    """The key works no more, for anyone: a feed opened with it before the leave (a copy
    of the key an attacker read, the player's own second connection) kept pushing the
    seat's state; it now ends with the leave's error at the next change."""
    server = make_server()
    a, b = pair(server.port, "fed")
    feed = subscribed(server.port, a)
    mover, leaver = a, b  # (the game goes on: the seat on turn stays)
    if feed.push()["data"]["current"] == [b.player_id]:  # the state now
        mover, leaver = b, a
    else:
        feed.close()
        feed = subscribed(server.port, b)
        assert feed.push()["status"] == "ok"  # the state now
    try:
        assert leave(leaver) == {"status": "ok", "data": None}
        assert mover.move(position=4)["status"] == "ok"
        ended = feed.push()
        assert ended == {"push": 1, "status": "error",
                         "message": "framework: invalid key: this player left the game "
                                    "session"}, ended
    finally:
        feed.close()


def request_from(source: str, port: int, data: dict[str, Any]) -> dict[str, Any]:
    """``request`` from the loopback address ``source`` (Linux answers all of 127/8)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30,
                                  source_address=(source, 0)) as sock:
        sock.sendall(json.dumps(data).encode() + TERMINATOR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return json.loads(b"".join(chunks))  # type: ignore[no-any-return]


def test_a_seat_that_left_gives_its_machine_no_say_over_the_session(make_server) -> None:
    """The overwrite rule 'players' lets a client on the machine of one of a running
    session's players replace it (a student who restarted a program). A seat that left
    counted still: its machine replaced the game of the players who stayed, which a leave
    must not let it end (docs/protocol.md). Now only the seats still in count."""
    server = make_server(join_timeout=2)
    seats = {}
    for source, name in (("127.0.0.2", "ann"), ("127.0.0.3", "bob")):
        def join(source: str = source, name: str = name) -> None:
            seats[name] = request_from(source, server.port, {
                "type": "join", "game": "TicTacToe", "session": "kept", "players": 2,
                "name": name})
        threading.Thread(target=join).start()
    until(lambda: len(seats) == 2, "both seated")
    ann, bob = (Player(server.port, "TicTacToe", "kept") for _ in range(2))
    for player, name in ((ann, "ann"), (bob, "bob")):
        assert seats[name]["status"] == "ok", seats[name]
        player.player_id, player.key = seats[name]["data"]["player_id"], seats[name]["data"]["key"]
    assert leave(ann) == {"status": "ok", "data": None}
    replacing = request_from("127.0.0.2", server.port, {
        "type": "join", "game": "TicTacToe", "session": "kept", "players": 2, "name": "ann"})
    assert replacing["status"] == "error"
    assert replacing["message"].startswith("framework: game session kept is in use"), replacing
    assert bob.state()["status"] == "ok"
    assert sessions(server) == [("TicTacToe", "kept")]


GATE = '''import os
import time

from gameserver.game import AbstractGame

HERE = os.path.dirname(os.path.abspath(__file__))


def _held(name):
    """While the test keeps the file ``name`` in this folder, the call waits (20 s at most)."""
    deadline = time.monotonic() + 20
    while os.path.exists(os.path.join(HERE, name)) and time.monotonic() < deadline:
        time.sleep(0.01)


class Gate(AbstractGame):
    """Two players, each with a secret; a move or a new game waits while the test holds it."""

    def __init__(self, players):
        _held("hold-new")
        self.round = 0

    @staticmethod
    def min_players():
        return 2

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        return 0

    def game_over(self):
        return False

    def state(self, player_id):
        _held("hold-state")
        return {"round": self.round, "secret": f"secret of {player_id} in round {self.round}"}

    def move(self, move, player_id):
        _held("hold-move")
        self.round += 1
'''


def test_a_seat_that_left_while_a_worker_was_asked_is_shown_nothing_after(
        make_server, tmp_path) -> None:
    """A move (``with_state`` naming another seat), a restart (``with_states_of``) or a
    state that a game worker is asked for is answered when the worker has answered. A seat
    that left meanwhile was shown all the same: whoever held a copy of its key (checked
    when the request came) read its state, its hidden information, after the leave that
    revoked the key (of the new position, for a move or restart). Now the move's or
    restart's reply goes without that state, as for a state not at hand, and the state
    request gets the leave's error."""
    from tests.test_isolation_hostile import in_flight

    (tmp_path / "gate.py").write_text(GATE)
    server = make_server(games_dirs=[str(tmp_path)], game_call_timeout=30)
    for kind, hold in (("move", "hold-move"), ("restart", "hold-new"),
                       ("state", "hold-state")):
        seats = seat_two(server.port, "Gate", kind)
        mover, other = seats[0], seats[1]
        (tmp_path / hold).touch()
        shown = {"player_id": other.player_id, "key": other.key}
        sent = {"game": "Gate", "session": kind, "player_id": mover.player_id,
                "key": mover.key, **{
                    "move": {"type": "move", "move": {}, "with_state": shown},
                    "restart": {"type": "restart", "with_state": True, "with_states_of": [shown]},
                    # (with legal moves: a view not sent along with changes, so it is asked)
                    "state": {"type": "state", "observer": False, "legal_moves": True, **shown},
                }[kind]}
        replies: list[dict[str, Any]] = []
        sender = threading.Thread(target=lambda sent=sent, replies=replies: replies.append(
            request(server.port, sent)))
        sender.start()
        in_flight(server)
        assert leave(other) == {"status": "ok", "data": None}
        (tmp_path / hold).unlink()
        sender.join(60)
        (reply,) = replies
        assert "secret of 1" not in json.dumps(reply), reply
        assert reply == ({"status": "error", "message": "framework: invalid key: this player "
                          "left the game session"} if kind == "state"
                         else {**reply, "status": "ok"}), reply
