"""Playing through /api/play against a real server: the rules across the wire.

A "browser" here is ``tests.web.seats.WebSeat``, which sends exactly what
play.js sends. Who may join (invite links, the operator, the setting
web_play), whose key moves, what a seat sees, the seat's stream (pushed
changes, one stream per seat, the last state after a reconnect), the bots,
a Python client in the same session, and the refusals of requests another
site could make.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from game_server_api import GameServerAPI
from gameserver.web.source import session_summary
from tests import wire
from tests.serverproc import ServerThread
from tests.web import play
from tests.web.seats import PlayRefused, Stream, WebSeat, close_all, next_event, post

GAMES = Path(__file__).with_name("games")
TOKEN = "operator token of the play tests"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


def started(**overrides: Any) -> ServerThread:
    server = play.web_server(**overrides)
    assert server.server is not None
    server.server.dashboard.bots.pause = 0.0  # the bots' pause is for people watching
    return server


@pytest.fixture(autouse=True)
def _close_streams() -> Iterator[None]:
    yield
    close_all()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    running = started()
    yield running
    running.stop()


def port_of(server: ServerThread) -> int:
    return play.dashboard_port(server)


def invite_secret(link: str) -> str:
    return link.split("#invite=", 1)[1]


def pair(server: ServerThread, game: str, session: str) -> tuple[WebSeat, WebSeat]:
    """Two browsers in a new two-player session: the creator and a friend with its invite."""
    creator = WebSeat(port_of(server), game)
    creator.start_join(session=session, players=2, name="ann")
    (link,) = creator.first_waiting()["invites"]
    friend = WebSeat(port_of(server), game).join(invite=invite_secret(link), name="bob")
    creator.finish_join()
    return creator, friend


def session_of(server: ServerThread, game: str, session: str) -> Any:
    assert server.server is not None
    return server.call(lambda: server.server.lobby.sessions.get((game, session)))


def whose_turn(seats: list[WebSeat], state: dict[str, Any]) -> WebSeat:
    (current,) = state["current"]
    return next(s for s in seats if s.player_id == current)


# ---------------------------------------------------------------- a whole game


def test_two_browsers_play_a_game_each_change_pushed_once(server: ServerThread) -> None:
    ann, bob = pair(server, "TicTacToe", "web-1")
    assert {ann.player_id, bob.player_id} == {0, 1} and ann.session == "web-1"
    seats = [ann, bob]
    first = ann.state()
    assert first["board"] == [-1] * 9 and ann.players == [{"id": 0, "name": "ann"},
                                                            {"id": 1, "name": "bob"}]
    assert bob.state()["board"] == first["board"]
    state = first
    for cell in (4, 0, 8, 2, 6, 1):  # the player moving first wins on the 4-2-6 diagonal
        mover = whose_turn(seats, state)
        assert mover.move(position=cell) == {"status": "ok", "data": None}
        state = ann.state()  # the next push is this move: none lost, none repeated
        assert state["board"][cell] == mover.player_id
        assert bob.state()["board"] == state["board"]
        if state["gameover"]:
            break
    assert state["gameover"] and state["winner"] is not None and state["legal_moves"] == []

    loser = next(s for s in seats if s.player_id != state["winner"])
    assert loser.restart() == {"status": "ok", "data": None}
    winner = next(s for s in seats if s is not loser)
    handover = winner.state()  # how the old game ended, once more (the restart hand-over)
    assert handover["gameover"] and handover["board"] == state["board"]
    fresh = winner.state()
    assert fresh["board"] == [-1] * 9 and not fresh["gameover"]


def test_a_rejected_move_comes_back_with_the_games_message(server: ServerThread) -> None:
    ann, bob = pair(server, "TicTacToe", "web-2")
    state = ann.state()
    mover = whose_turn([ann, bob], state)
    other = bob if mover is ann else ann
    assert mover.move(position=4)["status"] == "ok"
    rejected = other.move(position=4)
    assert rejected["status"] == "illegalmove"
    assert rejected["message"].startswith("game: position 4 is already taken")
    assert mover.move(position=5) == {"status": "error", "message": "framework: not your turn"}
    assert other.move(place=4)["status"] == "illegalmove"


# ---------------------------------------------------------------- seats and secrets


def test_a_browser_cannot_act_or_look_for_another_seat(server: ServerThread) -> None:
    ann, bob = pair(server, "Battleship", "web-secret")
    forged = {**ann.ids, "player_id": bob.player_id}  # bob's seat with ann's key
    for path, extra in (("/api/play/move", {"move": {"shot": [0, 0]}}),
                        ("/api/play/restart", {})):
        status, reply = post(port_of(server), path, {**forged, **extra})
        assert status == 200 and reply == {"status": "error", "message": "framework: invalid key"}
    spy = Stream(port_of(server), "/api/play/state", forged)
    assert spy.next() == ("refused", {"status": "error", "message": "framework: invalid key"})
    assert spy.next() == ("eof", None)
    guessed = Stream(port_of(server), "/api/play/state", {**bob.ids, "key": "0" * 32})
    assert guessed.next()[0] == "refused"


def test_a_seat_sees_its_own_view_and_never_the_opponents_fleet(server: ServerThread) -> None:
    ann, bob = pair(server, "Battleship", "web-fleet")
    fleets = {ann.player_id: play.FLEET_A, bob.player_id: play.FLEET_B}
    for seat in (ann, bob):
        assert seat.move(ships=fleets[seat.player_id])["status"] == "ok"
    seen = []
    for seat in (ann, bob):
        seen.append((seat, seat.state()))
        state = seen[-1][1]
        while state["phase"] != "shooting":
            state = seat.state()
            seen.append((seat, state))
    for seat, state in seen:
        own = play.view(server, "Battleship", "web-fleet", seat.player_id)
        text = json.dumps(state)
        for ship in fleets[1 - seat.player_id]:
            assert json.dumps(ship) not in text
        if state["phase"] == "shooting":
            assert {k: v for k, v in state.items() if k != "legal_moves"} == own


# ---------------------------------------------------------------- invite links


def test_an_invite_link_seats_one_player_once_and_nobody_else_without_one(
        server: ServerThread) -> None:
    port = port_of(server)
    creator = WebSeat(port, "CrazyEights")
    creator.start_join(session="web-inv", players=3, name="ann")
    waiting = creator.first_waiting()
    assert waiting["size"] == 3 and waiting["joined"] == 1 and len(waiting["invites"]) == 2
    first, second = (invite_secret(link) for link in waiting["invites"])
    assert first != second and len(first) >= 22
    bob = WebSeat(port, "CrazyEights")
    bob.start_join(invite=first, name="bob")
    assert bob.first_waiting()["joined"] == 2
    with pytest.raises(PlayRefused) as again:  # bob's link, while bob waits with it
        WebSeat(port, "CrazyEights").join(invite=first, name="eve")
    assert again.value.status == 409
    carl = WebSeat(port, "CrazyEights").join(invite=second, name="carl")
    bob.finish_join()
    creator.finish_join()
    assert sorted(s.player_id for s in (creator, bob, carl)) == [0, 1, 2]
    for secret in (first, second):
        with pytest.raises(PlayRefused) as used:
            WebSeat(port, "CrazyEights").join(invite=secret, name="eve")
        assert used.value.status == 410 and "used already" in used.value.message


def test_a_friend_who_leaves_while_waiting_gives_back_the_seat_and_the_link(
        server: ServerThread) -> None:
    port = port_of(server)
    creator = WebSeat(port, "CrazyEights")
    creator.start_join(session="web-leave", players=3, name="ann")
    first, _ = (invite_secret(link) for link in creator.first_waiting()["invites"])
    bob = WebSeat(port, "CrazyEights")
    bob.start_join(invite=first, name="bob")
    bob.first_waiting()
    assert creator.join_stream.next() == ("waiting", {"joined": 2, "names": ["ann", "bob"]})
    bob.close()  # the browser is closed while it waits
    assert creator.join_stream.next() == ("waiting", {"joined": 1, "names": ["ann"]})
    dora = WebSeat(port, "CrazyEights")
    dora.start_join(invite=first, name="dora")  # the link works again
    assert dora.first_waiting()["names"] == ["ann", "dora"]
    creator.close()
    dora.close()


def test_the_creator_leaving_ends_a_session_nobody_else_waits_for(server: ServerThread) -> None:
    creator = WebSeat(port_of(server), "TicTacToe")
    creator.start_join(session="web-gone", players=2, name="ann")
    (link,) = creator.first_waiting()["invites"]
    assert session_of(server, "TicTacToe", "web-gone") is not None
    creator.close()
    play.wait_until(lambda: session_of(server, "TicTacToe", "web-gone") is None,
                    "the abandoned session to go")
    with pytest.raises(PlayRefused) as ended:
        WebSeat(port_of(server), "TicTacToe").join(invite=invite_secret(link), name="bob")
    assert ended.value.status == 410


def test_wrong_invite_links_are_throttled_and_a_real_one_still_seats_its_holder() -> None:
    """The guesser may share the address of the friend with the real link (a class's NAT,
    the TLS proxy in front): the real link was answered 429 too, for as long as the guesser
    kept guessing."""
    fresh = started()
    try:
        creator = WebSeat(port_of(fresh), "TicTacToe")
        creator.start_join(session="web-throttled", players=2, name="ann")
        (link,) = creator.first_waiting()["invites"]
        statuses = []
        for n in range(12):
            try:
                WebSeat(port_of(fresh), "TicTacToe").join(invite=f"guess-{n}", name="eve")
            except PlayRefused as err:
                statuses.append(err.status)
        assert statuses[:10] == [404] * 10 and statuses[10:] == [429, 429]
        friend = WebSeat(port_of(fresh), "TicTacToe").join(invite=invite_secret(link),
                                                          name="bob")
        assert friend.player_id == 1
        with pytest.raises(PlayRefused) as still:  # the guesser is still throttled
            WebSeat(port_of(fresh), "TicTacToe").join(invite="guess-13", name="eve")
        assert still.value.status == 429
    finally:
        fresh.stop()


# ---------------------------------------------------------------- who may start sessions


def test_with_a_token_only_the_operator_starts_sessions_and_invites_still_work() -> None:
    guarded = started(web_token=TOKEN)
    port = port_of(guarded)
    try:
        with pytest.raises(PlayRefused) as refused:
            WebSeat(port, "TicTacToe").join(session="t1", players=2, name="eve")
        assert refused.value.status == 403 and "invite link" in refused.value.message
        assert post(port, "/api/play/open", {})[0] == 403
        assert play.get_json(guarded, "/api/config")["play"] == {
            "mode": "invite", "create": False, "bots": False}
        creator = WebSeat(port, "TicTacToe")
        stream = Stream(port, "/api/play/join", {"game": "TicTacToe", "session": "t1",
                                                "players": 2, "name": "op"}, OPERATOR)
        creator.join_stream = stream
        (link,) = creator.first_waiting()["invites"]
        friend = WebSeat(port, "TicTacToe").join(invite=invite_secret(link), name="bob")
        creator.finish_join()
        mover = whose_turn([creator, friend], friend.state())
        assert mover.move(position=0)["status"] == "ok"  # no token needed to play
    finally:
        guarded.stop()


def test_web_play_open_lets_anyone_start_and_off_lets_nobody_play() -> None:
    open_server = started(web_token=TOKEN, web_play="open")
    try:
        port = port_of(open_server)
        assert play.get_json(open_server, "/api/config")["play"]["create"] is True
        seat = WebSeat(port, "Echo").join(session="solo", players=1, name="eve")
        assert seat.move(msg="hi")["status"] == "ok"
        assert post(port, "/api/play/open", {})[0] == 200
    finally:
        open_server.stop()
    off = started(web_play="off")
    try:
        status, reply = post(port_of(off), "/api/play/join", {"game": "Echo", "players": 1})
        assert status == 404 and "switched off" in reply["error"]
    finally:
        off.stop()


def test_one_address_cannot_use_up_the_invite_links_of_an_open_server() -> None:
    """With web_play=open, one visitor's sessions once pushed out everyone's links."""
    open_server = started(web_token=TOKEN, web_play="open")
    try:
        port = port_of(open_server)
        invites = open_server.server.dashboard.play.invites  # type: ignore[union-attr]
        invites.limit, invites.per_address = 5, 3  # (10,000 and 200 on a real server)

        def start(source: str, session: str, players: int) -> tuple[Stream, str, Any]:
            stream = Stream(port, "/api/play/join", {"game": "Chat", "session": session,
                                                     "players": players, "name": "x"},
                            source=source)
            name, data = stream.next()
            return stream, name, data

        first, name, data = start("127.0.0.2", "a-1", 4)  # 3 links: all its address may hold
        assert name == "waiting" and len(data["invites"]) == 3
        second, name, data = start("127.0.0.2", "a-2", 2)
        assert name == "refused" and "your address holds 3 open invite links" in data["message"]
        assert second.next() == ("eof", None)
        play.wait_until(lambda: session_of(open_server, "Chat", "a-2") is None,
                        "the refused session to end")
        other, name, theirs = start("127.0.0.3", "b-1", 3)  # another address: 2 links
        assert name == "waiting" and len(theirs["invites"]) == 2
        third, name, data = start("127.0.0.4", "c-1", 2)  # the server's 5 are all open
        assert name == "refused" and "this server holds 5 open invite links" in data["message"]
        friend = WebSeat(port, "Chat")  # the others' links were left alone: they work
        friend.start_join(invite=invite_secret(theirs["invites"][0]), name="bob")
        assert friend.first_waiting()["joined"] == 2
        first.close()  # its creator leaves: the session and its links end
        play.wait_until(lambda: session_of(open_server, "Chat", "a-1") is None,
                        "the first session to end")
        _, name, data = start("127.0.0.2", "a-3", 2)  # room again
        assert name == "waiting" and len(data["invites"]) == 1
    finally:
        open_server.stop()


def test_the_links_of_a_session_that_filled_stop_counting_at_once() -> None:
    """A session filled by a Python client kept its unused link counted towards the
    server's cap for as long as it ran: with the cap reached, nobody could start a
    session with a friend ("this server holds 1 open invite links") until it ended."""
    server = started()
    try:
        port = port_of(server)
        server.server.dashboard.play.invites.limit = 1  # type: ignore[union-attr]
        ann = WebSeat(port, "TicTacToe")
        ann.start_join(session="filled-1", players=2, name="ann")
        (link,) = ann.first_waiting()["invites"]
        client = GameServerAPI("127.0.0.1", server.port, "TicTacToe", session="filled-1",
                               name="py")
        client.join()  # the seat the link was for
        ann.finish_join()
        bob = WebSeat(port, "TicTacToe")
        bob.start_join(session="filled-2", players=2, name="bob")
        assert len(bob.first_waiting()["invites"]) == 1  # was: refused, the server "full"
        status, data = post(port, "/api/play/join", {"invite": invite_secret(link)})
        assert status == 410 and "has all its players" in data["error"]  # not "not valid"
        client.close()
    finally:
        server.stop()


def test_the_open_sessions_are_those_waiting_for_players(server: ServerThread) -> None:
    creator = WebSeat(port_of(server), "ConnectFour")
    creator.start_join(session="web-open", players=2, name="ann")
    creator.first_waiting()
    status, reply = post(port_of(server), "/api/play/open", {})
    assert status == 200
    assert {"game": "ConnectFour", "session": "web-open", "players": 2, "joined": 1,
            "names": ["ann"]} in reply["sessions"]
    joiner = WebSeat(port_of(server), "ConnectFour").join(session="web-open", name="bob")
    creator.finish_join()
    assert joiner.player_id != creator.player_id


# ---------------------------------------------------------------- the seat's stream


def test_one_stream_per_seat_and_a_new_one_shows_the_last_state_at_once(
        server: ServerThread) -> None:
    ann, bob = pair(server, "Nim", "web-tabs")
    first = ann.state()
    tab = Stream(port_of(server), "/api/play/state", ann.ids)  # a second tab, or a reload
    assert tab.next()[0] == "session"
    assert tab.next() == ("state", {"status": "ok", "data": first})  # at once
    assert ann.states().next() == ("replaced", {})  # the first tab is told ...
    assert ann.states().next() == ("eof", None)  # ... and its stream ends
    mover = whose_turn([ann, bob], first)
    mover.move(heap=0, take=1)
    name, reply = tab.next()
    assert name == "state" and reply["data"]["heaps"] == [2, 4, 5]
    tab.close()
    again = Stream(port_of(server), "/api/play/state", ann.ids)  # after a broken connection
    assert again.next()[0] == "session"
    assert again.next()[1]["data"]["heaps"] == [2, 4, 5]
    again.close()


def test_streams_with_wrong_keys_do_not_push_out_the_seats_remembered() -> None:
    """A seat was remembered before its key proved itself, so wrong keys (anyone may send
    them, as fast as they are refused) filled the table and pushed out the real seats'
    last states: a reload then showed nothing until someone moved (if it was that
    player's turn, until the turn timer, if any)."""
    fresh = started()
    assert fresh.server is not None
    seats = fresh.server.dashboard.play.seats
    port = port_of(fresh)
    try:
        ann, bob = pair(fresh, "Nim", "web-wrong-keys")
        first = ann.state()
        ann.close()  # the page is closed: its seat and last state are remembered
        play.wait_until(lambda: fresh.call(lambda: [s.task for s in seats._seats.values()])
                        == [None], "the closed page's stream to end")
        fresh.call(lambda: setattr(seats, "limit", 1))
        for n in range(3):
            wrong = Stream(port, "/api/play/state", {**ann.ids, "key": f"guess-{n}"})
            name, reply = wrong.next()
            assert name == "refused" and reply["message"] == "framework: invalid key"
            wrong.close()
        assert fresh.call(lambda: len(seats)) == 1  # the wrong keys left nothing behind
        again = Stream(port, "/api/play/state", ann.ids)  # the reload
        assert again.next()[0] == "session"
        assert again.next() == ("state", {"status": "ok", "data": first})  # at once
        again.close()
        bob.close()
    finally:
        fresh.stop()


def test_bad_play_requests_are_refused_with_a_reason(server: ServerThread) -> None:
    port = port_of(server)
    assert post(port, "/api/play/move", {}, headers={"X-Gameserver-Play": ""})[0] == 403
    assert post(port, "/api/play/move", {}, headers={"Content-Type": "text/plain"})[0] == 415
    assert post(port, "/api/play/move", {}, headers={"Origin": "http://evil.example"})[0] == 403
    assert post(port, "/api/play/move", {}, headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
    status, reply = post(port, "/api/play/move", None, raw=b"[1, 2")
    assert status == 400 and "not JSON" in reply["error"]
    # 1e999 is valid JSON that Python reads as Infinity, which no state can hold: refused
    # as the game port refuses it (it was an internal error, 500).
    status, reply = post(port, "/api/play/move", None, raw=(
        b'{"game": "TicTacToe", "session": "s", "player_id": 0, "key": "k",'
        b' "move": {"position": 1e999}}'))
    assert status == 400 and "the number 1e999 is beyond" in reply["error"]
    # A whole number longer than Python reads: the game port's words, not Python's advice
    # to the server's programmer ("use sys.set_int_max_str_digits()").
    status, reply = post(port, "/api/play/move", None, raw=(
        b'{"game": "TicTacToe", "session": "s", "player_id": 0, "key": "k",'
        b' "move": {"position": ' + b"1" * 5000 + b"}}"))
    assert (status, reply) == (400, {"error": "the request body is not JSON (a whole number "
                                              "has 5000 digits; at most 4300 are read)"})
    status, reply = post(port, "/api/play/move", None, raw=b"x" * (64 * 1024 + 1))
    assert status == 413
    assert post(port, "/api/play/nope", {})[0] == 404
    status, reply = post(port, "/api/play/move", {"game": "TicTacToe"})
    assert status == 200 and "missing the key 'session'" in reply["message"]
    status, reply = post(port, "/api/play/join", {"game": "TicTacToe", "players": "two"})
    assert status == 400 and "players" in reply["error"]
    assert post(port, "/api/games", {})[0] == 501  # nothing else takes a POST


def nested(levels: int) -> Any:
    """A JSON value of ``levels`` lists, one inside the other, around a 1."""
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(("depth", "deepest"), [(4, 2), (64, 62)])
def test_a_browsers_move_is_held_to_the_servers_max_json_depth_as_on_the_game_port(
        depth: int, deepest: int) -> None:
    """A move request is the request object, the move object and then the message's lists:
    ``deepest`` lists make it exactly ``depth`` levels deep, one more is too deep. The
    browser's request is decoded with the server's setting, not the default of 32: the
    same move is accepted or refused alike on both paths."""
    configured = started(max_json_depth=depth)
    try:
        seat = WebSeat(port_of(configured), "Echo").join(session="deep", players=1,
                                                         name="ann")
        client = wire.Player(configured.port, "Echo", session="deeper", players=1)
        assert client.join()["status"] == "ok"
        too_deep = {"status": "error", "message": (
            f"server: request is nested too deeply (more than {depth} levels of lists and "
            "objects)")}
        for move in (nested(deepest), nested(deepest + 1)):
            expected = too_deep if move == nested(deepest + 1) else {
                "status": "ok", "data": None}
            assert client.move(msg=move) == expected
            assert seat.move(msg=move) == expected
    finally:
        configured.stop()


def test_a_browsers_request_nested_about_as_deep_as_json_decodes_is_refused_not_failed(
        server: ServerThread) -> None:
    """A body the dashboard decodes (up to about 1,000 levels) is encoded again for the
    protocol's checks, deeper down the stack: at 977-980 levels (whatever max_json_depth)
    that raised RecursionError, a 500 "internal error" and a traceback in the log for
    every such request. Now the game port's refusal, at any depth."""
    port = port_of(server)
    seat = WebSeat(port, "Echo").join(session="deepest", players=1, name="ann")
    head = json.dumps({"game": "Echo", "session": seat.session, "player_id": seat.player_id,
                       "key": seat.key})[:-1].encode()
    for levels in range(900, 1001):
        body = head + b', "move": {"msg": ' + b"[" * levels + b"]" * levels + b"}}"
        status, reply = post(port, "/api/play/move", None, raw=body)
        assert status == 400 or (status == 200 and reply["status"] == "error"), (
            levels, status, reply)


# ---------------------------------------------------------------- bots, mixed sessions, caps


def test_a_browser_plays_nim_against_the_bot_to_the_end(server: ServerThread) -> None:
    seat = WebSeat(port_of(server), "Nim").join(session="web-bot", players=2, name="ann",
                                                bots=1)
    summary = session_summary(session_of(server, "Nim", "web-bot"))
    assert [p["name"] for p in summary["players"]] == ["ann", "bot"]
    assert finish_nim(seat)["winner"] in (0, 1)


def finish_nim(seat: WebSeat) -> dict[str, Any]:
    """Play ``seat`` (against the bot) to the end of its game; the final state."""
    state = seat.state()
    while not state["gameover"]:
        if seat.player_id in state["current"]:
            seat.move(**state["legal_moves"][0])
        state = seat.state()
    return state


def test_a_bot_whose_game_is_over_waits_for_a_restart_and_then_leaves() -> None:
    capped = started(web_bots=2, web_bots_per_address=1)
    assert capped.server is not None
    bots = capped.server.dashboard.bots
    try:
        seat = WebSeat(port_of(capped), "Nim").join(session="n-1", players=2, name="ann",
                                                    bots=1)
        finish_nim(seat)
        play.wait_until(lambda: capped.call(lambda: (bots.playing, bots.waiting)) == (0, 1),
                        "the bot to wait for a restart")
        other = WebSeat(port_of(capped), "Nim").join(session="n-2", players=2, name="ann",
                                                     bots=1)  # it no longer counts
        seat.restart()  # (the restarting player gets no hand-over: the new game comes next)
        assert finish_nim(seat)["gameover"]  # the bot played the new game too
        bots.idle_seconds = 0.05
        finish_nim(other)
        play.wait_until(lambda: capped.call(lambda: bots.playing + bots.waiting) == 1,
                        "the second bot to leave when nobody restarts")
    finally:
        capped.stop()


def test_bots_are_capped_and_leave_with_the_browser_that_asked_for_them() -> None:
    capped = started(web_bots=2, web_bots_per_address=1)
    port = port_of(capped)
    try:
        creator = WebSeat(port, "CrazyEights")
        creator.start_join(session="c-bots", players=3, name="ann", bots=1)
        waiting = creator.first_waiting()
        assert waiting["bots"] == 1 and len(waiting["invites"]) == 1
        play.wait_until(lambda: len(session_of(capped, "CrazyEights", "c-bots").players) == 2,
                        "the bot to join")
        with pytest.raises(PlayRefused) as busy:
            WebSeat(port, "Nim").join(session="c-2", players=2, name="ann", bots=1)
        assert busy.value.status == 429 and "your address" in busy.value.message
        creator.close()  # leaves before the session is full: its bot goes too
        play.wait_until(lambda: session_of(capped, "CrazyEights", "c-bots") is None,
                        "the session to go with its bot")
        assert capped.call(lambda: capped.server.dashboard.bots.playing) == 0
    finally:
        capped.stop()
    none = started(web_bots=0)
    try:
        with pytest.raises(PlayRefused) as off:
            WebSeat(port_of(none), "Nim").join(session="n", players=2, name="ann", bots=1)
        assert off.value.status == 403
    finally:
        none.stop()


def test_joins_that_arrive_together_cannot_pass_the_bots_cap_together() -> None:
    """Eight joins asking for two bots each reach the loop at once, from one address
    allowed two bots: one gets its bots, the others are refused saying why."""
    capped = started(web_bots=50, web_bots_per_address=2)
    port = port_of(capped)
    sockets = []
    try:
        for _ in range(8):  # open and served once, so each waits for its next request
            sock = socket.create_connection(("127.0.0.1", port), timeout=play.WAIT)
            sockets.append(sock)
            sock.sendall(b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            reply = b""
            while not reply.endswith(b"}"):
                reply += sock.recv(65536)

        def send_all() -> None:  # on the loop: it reads them all in its next round
            for i, sock in enumerate(sockets):
                body = json.dumps({"game": "CrazyEights", "session": f"burst-{i}",
                                   "players": 3, "bots": 2, "name": "ann"}).encode()
                sock.sendall(b"POST /api/play/join HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Content-Type: application/json\r\nX-Gameserver-Play: 1\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

        capped.call(send_all)
        first_events = []
        for sock in sockets:
            stream = sock.makefile("rb")
            assert stream.readline().startswith(b"HTTP/1.1 ")
            while stream.readline() != b"\r\n":
                pass  # the head
            first_events.append(next_event(stream.readline))
        waiting = [data for name, data in first_events if name == "waiting"]
        refused = [data for name, data in first_events if name == "refused"]
        assert len(waiting) == 1 and waiting[0]["bots"] == 2, first_events
        assert len(refused) == 7 and all("too many bots" in r["message"] for r in refused)
        assert capped.call(lambda: capped.server.dashboard.bots.playing) == 2
    finally:
        for sock in sockets:
            sock.close()
        capped.stop()


def test_a_browser_and_a_python_client_play_in_one_session(server: ServerThread) -> None:
    seat = WebSeat(port_of(server), "ConnectFour")
    seat.start_join(session="web-mixed", players=2, name="ann")
    seat.first_waiting()
    client = GameServerAPI("127.0.0.1", server.port, "ConnectFour", session="web-mixed",
                           name="py")
    python_id = client.join()
    seat.finish_join()
    assert {seat.player_id, python_id} == {0, 1}
    column = {seat.player_id: 0, python_id: 1}
    state = seat.state()
    while not state["gameover"]:
        (current,) = state["current"]
        if current == seat.player_id:
            seat.move(column=column[current])
        else:
            client.move(column=column[current])
        state = seat.state()
    assert state["winner"] in (0, 1)
    assert client.state()["gameover"]


def test_the_lobbys_per_address_caps_apply_to_browsers() -> None:
    strict = started(max_waiting_joins_per_address=2)
    try:
        waiting = []
        for n in range(2):
            seat = WebSeat(port_of(strict), "TicTacToe")
            seat.start_join(session=f"cap-{n}", players=2, name="ann")
            seat.first_waiting()
            waiting.append(seat)
        with pytest.raises(PlayRefused) as refused:
            WebSeat(port_of(strict), "TicTacToe").join(session="cap-3", players=2, name="ann")
        assert "too many joins from your address" in refused.value.message
        for seat in waiting:
            seat.close()
    finally:
        strict.stop()


def test_a_join_that_waits_for_a_python_client_gets_its_seat_in_a_thread(
        server: ServerThread) -> None:
    """The auto-join: the session's token comes with the seat."""
    seat = WebSeat(port_of(server), "NumberRace")
    done = threading.Thread(target=lambda: seat.join(session="auto", players=2, name="ann"))
    done.start()
    client = GameServerAPI("127.0.0.1", server.port, "NumberRace", session="auto", players=2)
    client_id = client.join()
    done.join(play.WAIT)
    assert seat.session.startswith("auto-") and {seat.player_id, client_id} == {0, 1}


def test_the_games_say_whether_a_bot_can_play_them_also_from_a_worker_process(
        tmp_path: Path) -> None:
    """Games from a games folder run in worker processes; the list still knows."""
    (tmp_path / "listed.py").write_text(
        "from gameserver.games.nim import Nim\n\n\nclass Listed(Nim):\n    pass\n")
    folder = started(games_dirs=[str(tmp_path), str(GAMES)])
    try:
        games = {g["name"]: g for g in play.get_json(folder, "/api/games")}
        assert games["Listed"]["legal_moves"] is True  # in a worker process
        assert games["CoinToss"]["legal_moves"] is False
        assert games["Nim"]["legal_moves"] is True and games["Chat"]["legal_moves"] is False
        seat = WebSeat(port_of(folder), "Listed").join(session="l", players=2, name="ann",
                                                       bots=1)
        assert finish_nim(seat)["gameover"]  # against the bot, through the worker
    finally:
        folder.stop()
