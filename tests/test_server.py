"""End-to-end tests through real sockets: reply format and request validation.

This module also holds the small helpers the other ``test_server_*`` modules
use to talk to a real server (``ServerThread``) byte for byte, the way a
classic client does: one connection per request, read until EOF.

A request that is expected to block (a join until the session is full, a
state until it changes) is sent as a ``Call``: the bytes are on their way
when the constructor returns, and ``blocked()`` proves that no reply came
without sleeping: it sends a later request and waits for that one's reply.
The server reads and answers requests in the order they arrive, on one event
loop, so once the later request is answered the earlier one has been served
too: if it has no reply by then, it waits. (This holds for servers without
the store, where no reply waits for a save, as in every test here.) Every
other wait is for a reply, with a generous timeout, never a sleep.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.serverproc import ServerThread
from tests.wire import TERMINATOR, send_raw

GAMES_DIR = Path(__file__).parent / "data" / "games"
REPLY_TIMEOUT = 20.0  # generous: only to avoid hanging forever
HOST = "127.0.0.1"

# ---------------------------------------------------------------- helpers

_tokens = itertools.count()


def token(prefix: str = "s") -> str:
    """A session token no other test uses."""
    return f"{prefix}-{os.getpid()}-{next(_tokens)}"


def encode(data: Any) -> bytes:
    """One request as a classic client sends it: JSON, then ``EOT\\0``."""
    return json.dumps(data).encode() + TERMINATOR


def parse_reply(raw: bytes) -> dict[str, Any]:
    """Decode a reply, checking it is exactly one JSON object of a known shape."""
    assert not raw.endswith(TERMINATOR), raw
    reply = json.loads(raw.decode("utf-8"))  # refuses anything after the object
    assert isinstance(reply, dict), raw
    status = reply.get("status")
    if status == "ok":
        assert set(reply) == {"status", "data"}, reply
    else:
        assert status in ("error", "illegalmove"), reply
        assert set(reply) == {"status", "message"}, reply
        if status == "error":
            assert isinstance(reply["message"], str), reply
            assert reply["message"].startswith(("server: ", "framework: ")), reply
    return reply


_open_calls: set[Call] = set()


class Call:
    """One request on its own connection, sent at once; its reply is read later."""

    def __init__(self, port: int, data: Any = None, *, raw: bytes | None = None) -> None:
        self.port = port
        self.sock = socket.create_connection((HOST, port), timeout=REPLY_TIMEOUT)
        _open_calls.add(self)
        self.sock.sendall(encode(data) if raw is None else raw)

    def send(self, raw: bytes) -> None:
        """Send more bytes of the request."""
        self.sock.sendall(raw)

    def blocked(self, wait: float | None = None) -> bool:
        """Whether no reply (not even EOF) came: proven by a later request's reply.

        With ``wait``, for tests about time itself (a timeout that must not
        fire): whether none came within ``wait`` seconds.
        """
        return all_blocked([self], wait)

    def raw_reply(self) -> bytes:
        """Every byte until the server closes the connection."""
        chunks = []
        try:
            while chunk := self.sock.recv(65536):
                chunks.append(chunk)
        finally:
            self.close()
        return b"".join(chunks)

    def reply(self) -> dict[str, Any]:
        return parse_reply(self.raw_reply())

    def close(self) -> None:
        self.sock.close()
        _open_calls.discard(self)


def all_blocked(calls: list[Call], wait: float | None = None) -> bool:
    """Whether none of ``calls`` got a reply (or EOF); see ``Call.blocked``."""
    if not calls:
        return True
    if wait is None:
        for port in {call.port for call in calls}:
            ask(port, {"type": "discover"})  # answered: everything sent before was served
        wait = 0.0
    readable, _, _ = select.select([call.sock for call in calls], [], [], wait)
    return not readable


def close_leftover_calls() -> None:
    """Close the connections of calls a test left unread (e.g. after a failure)."""
    for call in list(_open_calls):
        call.close()


def ask(port: int, data: Any) -> dict[str, Any]:
    """Send one request and return its checked reply."""
    return Call(port, data).reply()


def ok(reply: dict[str, Any]) -> Any:
    """The data of a success reply (fails the test on any other reply)."""
    assert reply["status"] == "ok", reply
    return reply["data"]


def error(reply: dict[str, Any]) -> str:
    """The message of an error reply (fails the test on any other reply)."""
    assert reply["status"] == "error", reply
    return reply["message"]


def join_request(game: str, session: str, players: int | None = None,
                 name: str = "") -> dict[str, Any]:
    return {"type": "join", "game": game, "session": session, "players": players,
            "name": name}


def observe_request(game: str, session: str, name: str) -> dict[str, Any]:
    return {"type": "observe", "game": game, "session": session, "name": name}


@dataclass
class Seat:
    """One player (or observer) of a session, with what it needs for requests."""

    port: int
    game: str
    session: str
    player_id: int
    key: str
    name: str = ""
    observer: bool = False

    def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "game": self.game, "session": self.session,
                "player_id": self.player_id, "key": self.key, **fields}

    def state_call(self) -> Call:
        """Send a state request whose reply may block."""
        return Call(self.port, self.request("state", observer=self.observer))

    def state(self) -> dict[str, Any]:
        return self.state_call().reply()

    def move(self, **move: Any) -> dict[str, Any]:
        return ask(self.port, self.request("move", move=move))

    def restart(self) -> dict[str, Any]:
        return ask(self.port, self.request("restart"))


def seat_from(port: int, game: str, data: dict[str, Any], name: str = "") -> Seat:
    return Seat(port, game, data["session"], data["player_id"], data["key"], name)


def seat_all(port: int, game: str, players: int, names: list[str] | None = None,
             session: str | None = None) -> list[Seat]:
    """Fill a new session (named unless ``session="auto"``); seats sorted by id.

    Every joiner gives ``players``, so the order in which the server sees the
    joins does not matter here (tests of join order live in their own tests).
    """
    session = token() if session is None else session
    names = names if names is not None else [""] * players
    calls = [Call(port, join_request(game, session, players, name)) for name in names]
    seats = [seat_from(port, game, ok(call.reply()), name)
             for call, name in zip(calls, names, strict=True)]
    return sorted(seats, key=lambda seat: seat.player_id)


def observer_of(seat: Seat) -> Seat:
    """Observe the (named) player ``seat`` and return the observer's seat."""
    data = ok(ask(seat.port, observe_request(seat.game, seat.session, seat.name)))
    assert data["player_id"] == seat.player_id
    return Seat(seat.port, seat.game, seat.session, data["player_id"], data["key"],
                seat.name, observer=True)


def run_games_server(**overrides: Any) -> Iterator[ServerThread]:
    """A real server offering the bundled games plus those in tests/data/games.

    Every test client comes from 127.0.0.1, so the flood limit on waiting
    joins per address is lifted (tests/test_server_flood.py tests it).
    """
    overrides.setdefault("max_waiting_joins_per_address", 10_000)
    with ServerThread(games_dirs=[str(GAMES_DIR)], **overrides) as running:
        yield running


# ---------------------------------------------------------------- fixtures


# ---------------------------------------------------------------- reply format


def test_every_kind_of_reply_is_one_json_object_then_eof(games_server: ServerThread) -> None:
    port = games_server.port
    (seat,) = seat_all(port, "Recorder", 1)
    replies = {
        "ok": seat.move(step=1),
        "illegalmove": seat.move(reject="no"),
        "error": ask(port, {"type": "join"}),
    }
    for status, reply in replies.items():
        assert reply["status"] == status
    # send_raw reads until EOF: the server closed the connection after the reply.
    raw = send_raw(port, encode(seat.request("state", observer=False)))
    assert parse_reply(raw)["data"]["log"] == [[0, {"step": 1}], [0, {"reject": "no"}]]


def test_move_reply_is_ok_with_null_data(games_server: ServerThread) -> None:
    (seat,) = seat_all(games_server.port, "Echo", 1)
    assert seat.move(msg="hi") == {"status": "ok", "data": None}


def test_server_closes_even_if_client_sends_bytes_after_the_request(
        games_server: ServerThread) -> None:
    payload = encode(join_request("Echo", token(), 1)) + b"trailing garbage"
    data = ok(parse_reply(send_raw(games_server.port, payload)))
    assert data["player_id"] == 0


def test_non_ascii_text_round_trips(games_server: ServerThread) -> None:
    (seat,) = seat_all(games_server.port, "Echo", 1)
    text = "h\u00e9llo \u2713 \U0001f3b2"
    assert ok(seat.move(msg=text)) is None
    assert ok(seat.state())["echo"] == text


def test_keep_alive_false_is_classic(games_server: ServerThread) -> None:
    request = {**join_request("Echo", token(), 1), "keep_alive": False}
    raw = send_raw(games_server.port, encode(request))
    assert ok(parse_reply(raw))["player_id"] == 0


# ---------------------------------------------------------------- undecodable requests


@pytest.mark.parametrize("payload", [
    b"\xff\xfe\xfd",
    b'{"type": "join", "game": "Ech\xc3',
    b'{"type": "join", "game": "Echo"',
    b"not json at all",
    b"",
    b'{"type": "join", "game": "Echo", "session": "x", "players": NaN, "name": ""}',
    b"[" * 100_000,
], ids=["not-utf8", "cut-utf8", "cut-json", "text", "empty", "nan", "deep-nesting"])
def test_undecodable_request_gets_server_error(games_server: ServerThread,
                                               payload: bytes) -> None:
    message = error(parse_reply(send_raw(games_server.port, payload + TERMINATOR)))
    assert message.startswith("server: "), message


# ---------------------------------------------------------------- request validation

_JOIN = {"type": "join", "game": "Echo", "session": "v", "players": 1, "name": ""}
_MOVE = {"type": "move", "game": "Echo", "session": "v", "player_id": 0, "key": "k",
         "move": {}}
_STATE = {"type": "state", "game": "Echo", "session": "v", "player_id": 0, "key": "k",
          "observer": False}
_OBSERVE = {"type": "observe", "game": "Echo", "session": "v", "name": "n"}
_RESTART = {"type": "restart", "game": "Echo", "session": "v", "player_id": 0, "key": "k"}


def _without(request: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in request.items() if k != key}


@pytest.mark.parametrize("request_data, named", [
    ([1, 2], "object"),
    ("join", "object"),
    (None, "object"),
    ({}, "type"),
    ({"game": "Echo"}, "type"),
    ({**_JOIN, "type": "quit"}, "type"),  # ("leave" is an extension since 2026-11-30)
    ({**_JOIN, "type": 5}, "type"),
    ({**_JOIN, "type": None}, "type"),
    (_without(_JOIN, "game"), "'game'"),
    (_without(_JOIN, "session"), "'session'"),
    (_without(_JOIN, "players"), "'players'"),
    (_without(_JOIN, "name"), "'name'"),
    (_without(_MOVE, "move"), "'move'"),
    (_without(_MOVE, "key"), "'key'"),
    (_without(_STATE, "observer"), "'observer'"),
    (_without(_OBSERVE, "name"), "'name'"),
    (_without(_RESTART, "player_id"), "'player_id'"),
    ({**_JOIN, "players": True}, "'players'"),
    ({**_JOIN, "players": 2.0}, "'players'"),
    ({**_JOIN, "players": "2"}, "'players'"),
    ({**_JOIN, "session": 5}, "'session'"),
    ({**_JOIN, "game": None}, "'game'"),
    ({**_JOIN, "name": 1}, "'name'"),
    ({**_MOVE, "player_id": 0.0}, "'player_id'"),
    ({**_MOVE, "player_id": False}, "'player_id'"),
    ({**_MOVE, "player_id": "0"}, "'player_id'"),
    ({**_MOVE, "key": 1234}, "'key'"),
    ({**_MOVE, "move": [1]}, "'move'"),
    ({**_MOVE, "move": "up"}, "'move'"),
    ({**_MOVE, "move": None}, "'move'"),
    ({**_STATE, "observer": 1}, "'observer'"),
    ({**_STATE, "observer": None}, "'observer'"),
    ({**_OBSERVE, "session": ["v"]}, "'session'"),
    ({**_RESTART, "key": None}, "'key'"),
])
def test_invalid_request_gets_framework_error_naming_the_key(
        games_server: ServerThread, request_data: Any, named: str) -> None:
    message = error(ask(games_server.port, request_data))
    assert message.startswith("framework: "), message
    assert named in message, message


def test_unknown_keys_are_ignored(games_server: ServerThread) -> None:
    request = {**join_request("Echo", token(), 1), "extra": [1, 2], "version": 99}
    data = ok(ask(games_server.port, request))
    seat = seat_from(games_server.port, "Echo", data)
    reply = ask(games_server.port, {**seat.request("move", move={"msg": 1}), "x": None})
    assert ok(reply) is None
    reply = ask(games_server.port, {**seat.request("state", observer=False), "y": {}})
    assert ok(reply)["echo"] == 1


def test_a_call_on_the_servers_loop_raises_what_the_function_raised(
        games_server: ServerThread) -> None:
    with pytest.raises(ZeroDivisionError):
        games_server.call(lambda: 1 / 0)


def test_blocked_is_proven_by_a_later_reply(games_server: ServerThread) -> None:
    (seat,) = seat_all(games_server.port, "Echo", 1)
    ok(seat.state())
    waiting = seat.state_call()
    assert waiting.blocked()  # a discover sent after it was answered first
    assert ok(seat.move(msg="wake")) is None
    assert not waiting.blocked()
    assert ok(waiting.reply())["echo"] == "wake"
