"""The rules of playing in the browser, without sockets: a real lobby behind its adapter.

The carrier (a ``Wait`` awaited and cancelled), invite links, the seats'
memory and the cross-site check. The same rules across the wire are in
test_play_endpoints.py, and in the browser in test_play_browser.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gameserver.checked import game_types
from gameserver.config import Settings
from gameserver.games.nim import Nim
from gameserver.games.tictactoe import TicTacToe
from gameserver.guard import GameGuard
from gameserver.lobby import Lobby
from gameserver.waits import Wait
from gameserver.web import LobbySource
from gameserver.web._carrier import ask, decode, reply_of
from gameserver.web._http import EventStream, HTTPError, Request
from gameserver.web._play import check_same_origin
from gameserver.web._seats import REPLACED, Invites, Seats


@pytest.fixture
def source() -> Any:
    guard = GameGuard()
    lobby = Lobby(game_types({"TicTacToe": TicTacToe, "Nim": Nim}, guard))
    yield LobbySource(lobby, None, lambda: "")
    guard.close()


DEPTH = Settings().max_json_depth  # the server's default, as the dashboard is given it


def join(game: str, session: str, players: int | None, name: str) -> dict[str, Any]:
    return {"type": "join", "game": game, "session": session, "players": players, "name": name}


# ---------------------------------------------------------------- the carrier


def test_a_join_waits_until_the_session_is_full_and_cancelling_gives_the_seat_back(
        source: Any) -> None:
    async def main() -> None:
        first = asyncio.ensure_future(ask(source, join("TicTacToe", "t", 2, "ann"), "1.2.3.4",
                                          DEPTH))
        await asyncio.sleep(0)
        assert not first.done() and source.session(("TicTacToe", "t")) is not None
        first.cancel()  # the browser went away
        with pytest.raises(asyncio.CancelledError):
            await first
        assert source.session(("TicTacToe", "t")) is None  # its only joiner left: removed

        waiting = asyncio.ensure_future(ask(source, join("TicTacToe", "u", 2, "ann"), "1.2.3.4",
                                            DEPTH))
        await asyncio.sleep(0)
        second = reply_of(await ask(source, join("TicTacToe", "u", None, "bob"), "1.2.3.5", DEPTH))
        first_reply = reply_of(await waiting)
        assert {first_reply["data"]["player_id"], second["data"]["player_id"]} == {0, 1}

    asyncio.run(main())


def test_a_request_that_fails_the_protocols_checks_gets_its_error_reply(source: Any) -> None:
    reply = asyncio.run(ask(source, {"type": "move", "game": "TicTacToe", "session": "t",
                                     "player_id": "0", "key": "k", "move": {}}, "1.2.3.4",
                                     DEPTH))
    assert reply_of(reply)["message"] == (
        "framework: key 'player_id' of a move request must be an integer, not a string")


# ---------------------------------------------------------------- invite links


def started(source: Any, game: str, token: str) -> tuple[Any, Wait]:
    """A session waiting for its second player: its handle, and its first joiner's wait."""
    outcome = source.handle(decode(join(game, token, 2, "ann"), DEPTH), "1.2.3.4")
    assert isinstance(outcome, Wait)
    return source.session((game, token)), outcome


def test_an_invite_seats_one_player_once(source: Any) -> None:
    invites = Invites(source)
    handle, _ = started(source, "TicTacToe", "t")
    secret, = invites.make("TicTacToe", "t", handle, 1)
    assert len(secret) >= 22  # 16 random bytes, URL-safe
    invite = invites.take(secret)
    with pytest.raises(HTTPError) as held:  # used right now by someone else
        invites.take(secret)
    assert held.value.status == 409
    invites.release(invite)  # its holder left before being seated: usable again
    invite = invites.take(secret)
    invites.spend(invite)
    invites.release(invite)  # releasing a spent invite changes nothing
    with pytest.raises(HTTPError) as spent:
        invites.take(secret)
    assert spent.value.status == 410 and "used already" in str(spent.value)
    with pytest.raises(HTTPError) as unknown:
        invites.take(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert unknown.value.status == 404


def test_an_invite_is_for_its_session_only_not_a_new_one_of_the_same_name(source: Any) -> None:
    invites = Invites(source)
    handle, first_joiner = started(source, "TicTacToe", "t")
    secret, = invites.make("TicTacToe", "t", handle, 1)
    first_joiner.cancel()  # its only joiner left: the session is gone
    assert source.session(("TicTacToe", "t")) is None
    started(source, "TicTacToe", "t")  # the same name, another session
    with pytest.raises(HTTPError) as ended:
        invites.take(secret)
    assert ended.value.status == 410 and "ended" in str(ended.value)


def test_invites_are_bounded_per_address_and_in_all_and_never_push_out_others(
        source: Any) -> None:
    """One address's sessions once pushed out the oldest links, everyone's."""
    invites = Invites(source, limit=4, per_address=3)
    handle, _ = started(source, "TicTacToe", "t")
    mine = invites.make("TicTacToe", "t", handle, 3, "1.1.1.1")
    with pytest.raises(HTTPError) as over:  # its address holds as many as it may
        invites.make("TicTacToe", "t", handle, 1, "1.1.1.1")
    assert over.value.status == 429 and "your address holds 3 open" in str(over.value)
    theirs = invites.make("TicTacToe", "t", handle, 1, "2.2.2.2")
    with pytest.raises(HTTPError) as full:  # the server holds as many as it keeps
        invites.make("TicTacToe", "t", handle, 1, "3.3.3.3")
    assert full.value.status == 503 and "holds 4 open invite links" in str(full.value)
    assert invites.take(theirs[0]) and invites.take(mine[0])  # nobody's link was pushed out
    invites.spend(invites.take(mine[1]))  # a spent link is forgotten when room is needed
    assert len(invites.make("TicTacToe", "t", handle, 1, "")) == 1  # the operator's


def test_the_invite_links_of_one_ipv6_host_count_together_by_its_64(source: Any) -> None:
    """Each address of a /64 held links of its own: one IPv6 host used up the server's."""
    invites = Invites(source, limit=100, per_address=2)
    handle, _ = started(source, "TicTacToe", "t")
    invites.make("TicTacToe", "t", handle, 2, "2001:db8::1")
    with pytest.raises(HTTPError) as over:  # was: 2 more, and 2 for every other address
        invites.make("TicTacToe", "t", handle, 1, "2001:db8::2")
    assert over.value.status == 429 and "your address holds 2 open" in str(over.value)
    assert invites.make("TicTacToe", "t", handle, 1, "2001:db8:0:1::1")  # another /64


def test_invites_of_sessions_ended_or_full_are_forgotten_when_room_is_needed(
        source: Any) -> None:
    invites = Invites(source, limit=3, per_address=2)
    handle, first_joiner = started(source, "TicTacToe", "t")
    invites.make("TicTacToe", "t", handle, 2, "1.1.1.1")
    first_joiner.cancel()  # the session ends
    handle, _ = started(source, "TicTacToe", "u")
    invites.make("TicTacToe", "u", handle, 2, "1.1.1.1")  # the ended session's go
    source.handle(decode(join("TicTacToe", "u", None, "bob"), DEPTH), "5.6.7.8")  # now full
    assert invites.make("TicTacToe", "u", handle, 2, "1.1.1.1")  # the full session's go
    with pytest.raises(HTTPError):  # the server's cap does not look for full sessions ...
        invites.make("TicTacToe", "u", handle, 2, "2.2.2.2")
    invites.filled("TicTacToe", "u")  # ... the play endpoints say when one fills
    assert len(invites.make("TicTacToe", "u", handle, 2, "2.2.2.2")) == 2
    with pytest.raises(HTTPError) as many:  # more than an address may hold, holding none
        invites.make("TicTacToe", "v", handle, 3, "3.3.3.3")  # (was a KeyError: a 500)
    assert many.value.status == 429 and "holds 0 open invite links" in str(many.value)


# ---------------------------------------------------------------- seats


class FakeWriter:
    """The little of a ``StreamWriter`` an ``EventStream`` uses, recording what it sends."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.transport = self

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def is_closing(self) -> bool:
        return False


def test_a_second_stream_of_a_seat_takes_over_and_the_first_is_told() -> None:
    async def main() -> None:
        seats = Seats()
        seat_id = ("TicTacToe", "t", 0, b"digest")
        first_writer = FakeWriter()
        first = EventStream(lambda stream: asyncio.sleep(0))
        first.attach(first_writer)  # type: ignore[arg-type]

        async def hold() -> None:
            seat = seats.take(seat_id, first)
            seats.remember(seat, b'{"status":"ok","data":1}')
            await asyncio.sleep(3600)

        task = asyncio.ensure_future(hold())
        await asyncio.sleep(0)
        second = EventStream(lambda stream: asyncio.sleep(0))
        second.attach(FakeWriter())  # type: ignore[arg-type]
        seat = seats.take(seat_id, second)
        assert seat.last == b'{"status":"ok","data":1}'  # the next stream shows it at once
        assert first_writer.sent == [REPLACED]
        with pytest.raises(asyncio.CancelledError):
            await task
        seats.release(seat, first)  # the first stream's cleanup leaves the second alone
        assert seat.stream is second

    asyncio.run(main())


def test_seats_are_bounded_in_number_and_bytes_but_keep_open_streams() -> None:
    async def main() -> None:
        seats = Seats(limit=3, bytes_limit=100)
        open_stream = EventStream(lambda stream: asyncio.sleep(0))
        kept = seats.take(("G", "open", 0, b""), open_stream)
        seats.remember(kept, b"x" * 60)
        for n in range(5):
            seat = seats.take(("G", str(n), 0, b""), open_stream)
            seats.remember(seat, b"y" * 30)
            seats.release(seat, open_stream)
        assert len(seats) <= 3 and seats.bytes <= 100
        assert seats._seats[("G", "open", 0, b"")] is kept  # it has a stream

    asyncio.run(main())


# ---------------------------------------------------------------- cross-site requests


def request(headers: dict[str, str], method: str = "POST") -> Request:
    base = {"host": "games.example:8080", "content-type": "application/json",
            "x-gameserver-play": "1"}
    return Request(method, "/api/play/move", "HTTP/1.1", {**base, **headers}, "1.2.3.4")


@pytest.mark.parametrize(("headers", "method", "status"), [
    ({}, "GET", 405),
    ({"x-gameserver-play": ""}, "POST", 403),  # a form or a simple fetch from elsewhere
    ({"content-type": "text/plain"}, "POST", 415),
    ({"content-type": "application/x-www-form-urlencoded"}, "POST", 415),
    ({"origin": "http://evil.example"}, "POST", 403),
    ({"origin": "http://games.example:9999"}, "POST", 403),
    ({"sec-fetch-site": "cross-site"}, "POST", 403),
    ({"sec-fetch-site": "same-site"}, "POST", 403),
])
def test_requests_another_site_could_make_are_refused(headers: dict[str, str], method: str,
                                                      status: int) -> None:
    with pytest.raises(HTTPError) as refused:
        check_same_origin(request(headers, method))
    assert refused.value.status == status


@pytest.mark.parametrize("headers", [
    {}, {"origin": "http://games.example:8080"}, {"origin": "https://GAMES.example:8080"},
    {"sec-fetch-site": "same-origin"}, {"content-type": "application/json; charset=utf-8"},
])
def test_requests_of_the_play_pages_pass(headers: dict[str, str]) -> None:
    check_same_origin(request(headers))


def test_event_data_is_one_line_of_json() -> None:
    from gameserver.web._play import event
    data = json.dumps({"text": "two\nlines"}).encode()
    assert event("state", data).count(b"\n") == 3


def test_the_status_of_a_reply_is_read_without_decoding_it(source: Any) -> None:
    """The seat's stream checks each state reply so: it must agree with decoding it."""
    from gameserver import protocol
    from gameserver.web._carrier import is_ok
    outcome = source.handle(decode(join("Nim", "s", 2, "ann"), DEPTH), "1.2.3.4")
    assert isinstance(outcome, Wait)
    second = asyncio.run(ask(source, join("Nim", "s", None, "bob"), "1.2.3.5", DEPTH))
    assert is_ok(second) and is_ok(protocol.ok(None))  # the lobby's own replies
    assert not is_ok(protocol.error("framework: invalid key"))
    assert not is_ok(protocol.illegal_move(["no", 3]))
    assert is_ok(b'{"status":"ok","data":1}')  # encoded another way: decoded
    assert not is_ok(b'{"status":"error","message":"x"}')
