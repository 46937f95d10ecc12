"""End-to-end tests through real sockets: move, state (long poll) and restart."""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Callable
from typing import Any

import pytest

from tests.serverproc import ServerThread
from tests.test_server import (
    GAMES_DIR,
    REPLY_TIMEOUT,
    Call,
    Seat,
    all_blocked,
    ask,
    error,
    observer_of,
    ok,
    parse_reply,
    seat_all,
    token,
)
from tests.test_server_keepalive import SlowDisk
from tests.wire import TERMINATOR, send_raw, until


def two_players(server: ServerThread, names: tuple[str, str] = ("ann", "bob"),
                ) -> tuple[Seat, Seat]:
    """A full two-player Recorder session; ``ann`` (id 0) is on turn first."""
    ann, bob = seat_all(server.port, "Recorder", 2, names=list(names))
    return ann, bob


def log_of(reply: dict[str, Any]) -> list[Any]:
    return ok(reply)["log"]


# ---------------------------------------------------------------- move


def test_move_checks_session_before_anything_else(games_server: ServerThread) -> None:
    ann, _ = two_players(games_server)
    ghost = Seat(ann.port, "Recorder", token(), player_id=7, key="wrong")
    assert error(ghost.move(step=1)) == "framework: no such game session"


def test_move_checks_game_over_before_key(games_server: ServerThread) -> None:
    (alone,) = seat_all(games_server.port, "Recorder", 1)
    assert ok(alone.move(end=True)) is None
    wrong_key = Seat(alone.port, alone.game, alone.session, player_id=0, key="wrong")
    wrong_id = Seat(alone.port, alone.game, alone.session, player_id=5, key="wrong")
    for seat in (alone, wrong_key, wrong_id):
        assert error(seat.move(step=1)) == "framework: game has ended"


def test_move_checks_key_before_turn(games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    # bob is not on turn, and the key is wrong: the key is reported.
    for player_id, key in ((1, "wrong"), (1, ann.key), (0, bob.key), (-1, ann.key),
                           (2, ann.key), (10**20, ann.key)):
        seat = Seat(ann.port, ann.game, ann.session, player_id, key)
        assert error(seat.move(reject="never")) == "framework: invalid key"


@pytest.mark.parametrize("kind, extra", [("move", {"move": {}}), ("state", {"observer": False}),
                                         ("restart", {})])
def test_unencodable_key_is_just_an_invalid_key(games_server: ServerThread, kind: str,
                                                extra: dict[str, Any]) -> None:
    ann, _ = two_players(games_server)
    request = {**ann.request(kind, **extra), "key": "\ud800"}  # valid JSON: "\ud800"
    assert error(ask(ann.port, request)) == "framework: invalid key"


def test_move_checks_turn_before_the_game(games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    assert error(bob.move(reject="never")) == "framework: not your turn"
    assert error(bob.move()) == "framework: not your turn"
    assert log_of(ann.state()) == []  # neither move reached the game


@pytest.mark.parametrize("rejection, message", [
    ("that cell is taken", "game: that cell is taken"),
    (["no such card", 3], ["no such card", 3]),
    (["one"], ["one"]),
    ({"code": 7, "text": "no"}, {"code": 7, "text": "no"}),
    (42, 42),
    (True, True),
])
def test_rejected_move_is_an_illegalmove(games_server: ServerThread, rejection: Any,
                                         message: Any) -> None:
    ann, _ = two_players(games_server)
    assert ann.move(reject=rejection) == {"status": "illegalmove", "message": message}
    assert log_of(ann.state()) == [[0, {"reject": rejection}]]
    assert ok(ann.move(step=1)) is None  # still ann's turn


def test_a_number_beyond_the_float_range_is_refused_before_the_game_keeps_it(
        games_server: ServerThread) -> None:
    """``1e999`` is valid JSON and was decoded as Infinity: the game kept it, and from then
    on no player could get a state (``state() returned something that cannot be sent as
    JSON``): one player's move broke the game for everyone."""
    ann, bob = two_players(games_server)
    text = json.dumps(ann.request("move", move={"bid": 0})).replace('"bid": 0', '"bid": 1e999')
    reply = parse_reply(send_raw(games_server.port, text.encode() + TERMINATOR))
    assert error(reply) == ("server: request is not valid JSON (the number 1e999 is beyond "
                            "what a JSON number may be here (about ±1.8e308))")
    assert log_of(bob.state()) == []  # it never reached the game
    assert ok(ann.move(bid=1.5e308)) is None  # large, but a number
    assert log_of(bob.state()) == [[0, {"bid": 1.5e308}]]


def test_bundled_game_rejection_gets_game_prefix(games_server: ServerThread) -> None:
    seats = seat_all(games_server.port, "TicTacToe", 2)
    current = ok(seats[0].state())["current"]
    reply = seats[current[0]].move(position=9)
    assert reply["status"] == "illegalmove"
    assert reply["message"].startswith("game: "), reply


def test_rejected_move_wakes_a_blocked_state(games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    ok(bob.state())
    waiting = bob.state_call()
    assert waiting.blocked()
    assert ann.move(reject="no")["status"] == "illegalmove"
    state = ok(waiting.reply())
    assert state["log"] == [[0, {"reject": "no"}]]
    assert state["current"] == [0]  # still ann's turn


def test_echo_stores_a_deliberately_rejected_message(games_server: ServerThread) -> None:
    (seat,) = seat_all(games_server.port, "Echo", 1)
    ok(seat.state())
    waiting = seat.state_call()
    assert waiting.blocked()
    reply = seat.move(msg="error")
    assert reply["status"] == "illegalmove" and reply["message"].startswith("game: ")
    assert ok(waiting.reply())["echo"] == "error"


# ---------------------------------------------------------------- state


def test_first_state_returns_at_once_with_current_and_gameover(
        games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    # Recorder's current_player() returns a bare int; clients always get a list.
    assert ok(ann.state()) == {"you": 0, "log": [], "current": [0], "gameover": False}
    assert ok(bob.state()) == {"you": 1, "log": [], "current": [0], "gameover": False}


def test_current_lists_every_simultaneous_player(games_server: ServerThread) -> None:
    seats = seat_all(games_server.port, "Chat", 3)
    for seat in seats:
        state = ok(seat.state())
        assert state["current"] == [0, 1, 2] and state["gameover"] is False


def test_second_state_blocks_until_another_player_moves(games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    first = ok(bob.state())
    waiting = bob.state_call()
    assert waiting.blocked()
    assert ok(ann.move(step=1)) is None
    state = ok(waiting.reply())
    assert state != first
    assert state["log"] == [[0, {"step": 1}]] and state["current"] == [1]


def test_own_move_changes_own_view(games_server: ServerThread) -> None:
    ann, _ = two_players(games_server)
    ok(ann.state())
    assert ok(ann.move(step=1)) is None
    call = ann.state_call()
    assert not call.blocked(10.0)  # returns at once: the state changed
    assert ok(call.reply())["current"] == [1]


def test_each_change_is_seen_once(games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    for step in range(3):
        mover, other = (ann, bob) if step % 2 == 0 else (bob, ann)
        ok(other.state())
        waiting = other.state_call()
        assert waiting.blocked()
        assert ok(mover.move(step=step)) is None
        assert log_of(waiting.reply())[-1] == [mover.player_id, {"step": step}]


def test_many_blocked_states_wake_on_one_move(games_server: ServerThread) -> None:
    seats = seat_all(games_server.port, "Chat", 100)
    for seat in seats:
        ok(seat.state())
    waiting = [seat.state_call() for seat in seats]
    assert all_blocked(waiting)
    assert ok(seats[0].move(name="ann")) is None
    assert ok(seats[0].move(message="hello")) is None
    for call in waiting:
        assert ok(call.reply())["current"] == list(range(100))


def test_game_played_to_the_end(games_server: ServerThread) -> None:
    seats = seat_all(games_server.port, "TicTacToe", 2)
    first = seats[ok(seats[0].state())["current"][0]]
    second = seats[1 - first.player_id]
    for mover, position in ((first, 0), (second, 3), (first, 1), (second, 4), (first, 2)):
        assert ok(mover.move(position=position)) is None
    for seat in seats:
        state = ok(seat.state())
        assert state["winner"] == first.player_id
        assert state["current"] == [] and state["gameover"] is True
    assert error(second.move(position=8)) == "framework: game has ended"


def test_blocked_states_get_session_timeout(make_server: Callable[..., ServerThread]) -> None:
    port = make_server(games_dirs=[str(GAMES_DIR)], game_timeout=1).port
    (ann,) = seat_all(port, "Recorder", 1, names=["ann"])
    watcher = observer_of(ann)
    ok(ann.state())
    ok(watcher.state())
    waiting = [ann.state_call(), watcher.state_call()]
    for call in waiting:
        assert error(call.reply()) == "framework: game session has timed out"
    assert error(ann.state()) == "framework: no such game session"


def test_player_and_observer_views_are_independent(games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    watcher = observer_of(ann)
    ok(ann.state())
    ann_waiting = ann.state_call()
    assert ann_waiting.blocked()
    # ann's view has seen the state; the observer view of ann has not.
    call = watcher.state_call()
    assert not call.blocked(10.0)
    ok(call.reply())
    watcher_waiting = watcher.state_call()
    assert all_blocked([ann_waiting, watcher_waiting])
    assert ok(ann.move(step=1)) is None
    assert ok(ann_waiting.reply()) == ok(watcher_waiting.reply())
    # Reading the player's view does not consume the observer's, either way round.
    assert ok(bob.move(step=2)) is None
    assert log_of(ann.state()) == [[0, {"step": 1}], [1, {"step": 2}]]
    call = watcher.state_call()
    assert not call.blocked(10.0)
    assert log_of(call.reply()) == [[0, {"step": 1}], [1, {"step": 2}]]
    assert all_blocked([ann.state_call(), watcher.state_call()])


# ---------------------------------------------------------------- restart


def test_restart_keeps_ids_keys_and_names(games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    assert ok(ann.move(step=1)) is None
    assert ok(bob.restart()) is None
    for seat in (ann, bob):
        assert ok(seat.state()) == {"you": seat.player_id, "log": [], "current": [0],
                                    "gameover": False}
    assert ok(ann.move(step=2)) is None
    assert ok(bob.move(step=3)) is None
    assert observer_of(bob).player_id == 1


def test_restart_of_finished_game_hands_over_final_state(games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    watchers = [observer_of(ann), observer_of(bob)]
    assert ok(ann.move(end=True)) is None
    final = {"log": [[0, {"end": True}]], "current": [], "gameover": True}
    new = {"log": [], "current": [0], "gameover": False}
    assert ok(bob.state()) == {"you": 1, **final}  # bob saw the end before the restart

    assert ok(ann.restart()) is None
    assert ok(ann.state()) == {"you": 0, **new}  # the restarting player: new game at once
    for seat in (bob, *watchers):
        assert ok(seat.state()) == {"you": seat.player_id, **final}
        assert ok(seat.state()) == {"you": seat.player_id, **new}
    waiting = [seat.state_call() for seat in (ann, bob, *watchers)]
    assert all_blocked(waiting)  # each view got the hand-over once only


def test_blocked_state_wakes_with_the_hand_over(games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    assert ok(ann.move(end=True)) is None
    assert ok(bob.state())["gameover"] is True
    waiting = bob.state_call()
    assert waiting.blocked()
    assert ok(ann.restart()) is None
    assert ok(waiting.reply())["gameover"] is True
    assert ok(bob.state())["gameover"] is False


def test_restart_of_running_game_has_no_hand_over(games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    watcher = observer_of(bob)
    assert ok(ann.move(step=1)) is None
    ok(bob.state())
    waiting = bob.state_call()
    assert waiting.blocked()
    assert ok(ann.restart()) is None
    new = {"you": 1, "log": [], "current": [0], "gameover": False}
    assert ok(waiting.reply()) == new
    assert ok(watcher.state()) == new


def test_hand_over_survives_a_second_restart(games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    assert ok(ann.move(end=True)) is None
    assert ok(ann.restart()) is None
    assert ok(ann.restart()) is None  # e.g. a training loop restarting again at once
    assert ok(bob.state())["gameover"] is True
    assert ok(bob.state())["gameover"] is False


def test_an_observer_who_first_watches_after_the_restart_gets_the_hand_over(
        games_server: ServerThread) -> None:
    """The classic project's own test (PROTOCOL.md, restart), as it runs it."""
    (player,) = seat_all(games_server.port, "Echo", 1, names=["p"])
    assert ok(player.move(msg="quit")) is None
    assert ok(player.state())["gameover"] is True
    assert ok(player.restart()) is None
    assert ok(player.state()) == {"echo": "", "current": [0], "gameover": False}
    watcher = observer_of(player)  # only now does anyone observe p
    assert ok(player.move(msg="hello")) is None
    assert ok(watcher.state()) == {"echo": "quit", "current": [], "gameover": True}
    assert ok(watcher.state()) == {"echo": "hello", "current": [0], "gameover": False}


def test_every_waiting_observer_of_a_seat_gets_the_hand_over(
        games_server: ServerThread) -> None:
    """Two observers of bob wait on his view when ann restarts the finished game. The
    restart is the change each waited for, and it hands over the old game's end: the
    first to be answered took the view's hand-over, and the other got the new game's
    state (it never saw how the game ended). Each waiting request gets the end now;
    the next state of each is the new game's."""
    ann, bob = two_players(games_server)
    watchers = [observer_of(bob), observer_of(bob)]
    assert ok(ann.move(end=True)) is None
    final = {"you": 1, "log": [[0, {"end": True}]], "current": [], "gameover": True}
    assert ok(watchers[0].state()) == final  # the view (theirs alike) has seen the end ...
    waiting = [watcher.state_call() for watcher in watchers]
    assert all_blocked(waiting)  # ... and waits for the next change
    assert ok(ann.restart()) is None
    assert [ok(call.reply()) for call in waiting] == [final, final]
    new = {"you": 1, "log": [], "current": [0], "gameover": False}
    assert ok(watchers[1].state()) == new  # (then the view, theirs alike, has seen it)
    assert watchers[0].state_call().blocked()
    assert ok(bob.state()) == final  # bob's own view: handed over once, as before
    assert ok(bob.state()) == new


def test_every_view_opened_after_the_restart_gets_the_hand_over_once(
        games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    assert ok(ann.move(end=True)) is None
    assert ok(ann.restart()) is None
    assert ok(ann.move(step=1)) is None
    final = {"log": [[0, {"end": True}]], "current": [], "gameover": True}
    new = {"log": [[0, {"step": 1}]], "current": [1], "gameover": False}
    for seat in (observer_of(ann), observer_of(bob), bob):
        assert ok(seat.state()) == {"you": seat.player_id, **final}
        assert ok(seat.state()) == {"you": seat.player_id, **new}
    assert ok(ann.state()) == {"you": 0, **new}  # the restarting player: no hand-over


def test_restart_needs_a_valid_key(games_server: ServerThread) -> None:
    ann, bob = two_players(games_server)
    assert ok(ann.move(step=1)) is None
    for player_id, key in ((0, bob.key), (1, "wrong"), (2, ann.key)):
        impostor = Seat(ann.port, ann.game, ann.session, player_id, key)
        assert error(impostor.restart()) == "framework: invalid key"
    ghost = Seat(ann.port, ann.game, token(), 0, ann.key)
    assert error(ghost.restart()) == "framework: no such game session"
    assert log_of(bob.state()) == [[0, {"step": 1}]]  # the game was not restarted


def test_a_hand_over_lost_with_its_connection_leaves_the_seat_the_new_games_state(
        make_server: Callable[..., ServerThread], tmp_path: Any) -> None:
    """A player's hand-over waits for its save (a slow disk) and its client resets the
    connection meanwhile: that reply is lost with the connection, as any reply in flight
    is, and the view is not owed it again (its collection was saved). A reconnecting
    client of that seat still gets its state: the new game's, at once; and so after the
    server comes back from its store."""
    path = str(tmp_path / "s.db")
    server = make_server(store=True, store_path=path, store_sync="full")
    session = token()
    ann, bob = seat_all(server.port, "TicTacToe", 2, session=session)
    first = ok(ann.state())["current"][0]
    seats = (ann, bob) if first == 0 else (bob, ann)
    for position in (0, 3, 1, 4, 2):  # the first mover wins along the top row
        assert ok(seats[position in (3, 4)].move(position=position)) is None
    end = ok(bob.state())
    assert end["gameover"] and end["winner"] == first
    live = server.call(lambda: server.server.lobby.sessions[("TicTacToe", session)])
    with SlowDisk(server) as disk:
        disk.stop()
        restart = Call(ann.port, ann.request("restart"))
        assert disk.holding.wait(REPLY_TIMEOUT)  # the restart's commit is held
        lost = bob.state_call()  # bob's view is owed the old game's end: taken, held
        until(lambda: server.call(lambda: (1, False) not in live.handover[1]),
              "bob's hand-over collected")
        lost.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        lost.close()  # a reset (seen by the server once it writes the held reply)
        disk.go()
    assert ok(restart.reply()) is None
    until(lambda: not server.call(lambda: len(server.server.connections)),
          "the hand-over's connection closed")
    new = ok(bob.state())  # at once (else the call's timeout fails the test)
    assert not new["gameover"] and new["board"] == [-1] * 9
    server.stop()
    bob.port = make_server(store=True, store_path=path, store_sync="full").port
    assert ok(bob.state()) == new  # back from the store: the new game, no hand-over owed
