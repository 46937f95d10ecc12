"""A browser's requests and the server's ``max_json_depth``, against the game port's.

A browser's body (``/api/play/...``) is decoded, checked for its depth
as a game client's request is, and only then are its fields put into the
lobby's request. Each test sends the same request both ways, the game port's
with its ``"type"`` and the browser's as play.js sends it, and compares what
comes back: the same refusal, word for word, or the same acceptance; never a
500 and never a request deeper than the setting.
"""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gameserver.web import _bots, _carrier
from tests import wire
from tests.serverproc import ServerThread
from tests.web import play
from tests.web.seats import PLAY_HEADERS, WAIT, WebSeat, close_all, next_event, post


@pytest.fixture(autouse=True)
def _close_streams() -> Iterator[None]:
    yield
    close_all()


def lists(levels: int) -> bytes:
    """``levels`` lists, one inside the other, around a 1 (as bytes of JSON)."""
    return b"[" * levels + b"1" + b"]" * levels


def game_port(port: int, kind: str, body: bytes) -> dict[str, Any]:
    """The game port's reply to the browser's ``body`` sent as a ``kind`` request."""
    return json.loads(wire.send_raw(port, b'{"type": "' + kind.encode() + b'", ' + body[1:]
                                    + wire.TERMINATOR))


def stream_start(port: int, path: str, body: bytes) -> tuple[int, Any]:
    """(status, the error's body) of a refused stream, or (200, its first event)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request("POST", path, body, PLAY_HEADERS)
        reply = conn.getresponse()
        if reply.status != 200:
            return reply.status, json.loads(reply.read())
        return 200, next_event(reply.fp.readline)
    finally:
        conn.close()


# Move requests' tails (what follows the seat's ids), by what they test: how deep the
# request is (the request object, the move object, then lists), and the tail. None: beyond
# what JSON decodes on either path (about 1,000 levels), not JSON alike.
MOVES: dict[str, tuple[int | None, bytes]] = {
    "a flat move": (2, b'"move": {"msg": 4}'),
    "a list in the move": (3, b'"move": {"msg": [4]}'),
    "an object and a list in the move": (4, b'"move": {"msg": {"a": [4]}}'),
    # Depth is counted on the decoded value: brackets in a string are text, escaped or not.
    "brackets in a string": (2, b'"move": {"msg": "' + b"[{" * 100 + b'"}'),
    "escaped brackets in a string": (2, b'"move": {"msg": "' + b"\\u005b\\u007b" * 100
                                     + b'"}'),
    # A key the request type does not use is still part of the request, as on the game
    # port: the browser's body is checked whole, not only the keys that are passed on.
    "an unused key nested 40 levels": (41, b'"move": {"msg": 4}, "extra": ' + lists(40)),
    "100 levels": (100, b'"move": {"msg": ' + lists(98) + b"}"),
    "900 levels": (900, b'"move": {"msg": ' + lists(898) + b"}"),
    "5,000 levels": (None, b'"move": {"msg": ' + lists(4998) + b"}"),
}


@pytest.fixture(scope="module", params=[1, 2, 3, 32])
def deep(request: pytest.FixtureRequest) -> Iterator[ServerThread]:
    """A server whose max_json_depth is the parameter: 1 refuses every move with a move
    object ({"position": 4} included), 2 refuses any list in one."""
    running = play.web_server(max_json_depth=request.param)
    yield running
    running.stop()


@pytest.mark.parametrize("what", MOVES)
def test_a_browsers_move_is_refused_or_taken_as_on_the_game_port(deep: ServerThread,
                                                                 what: str) -> None:
    port = play.dashboard_port(deep)
    seat = WebSeat(port, "Echo").join(session=f"browser {what}", players=1, name="ann")
    client = wire.Player(deep.port, "Echo", session=f"client {what}", players=1)
    assert client.join()["status"] == "ok"
    levels, tail = MOVES[what]
    browser_body = json.dumps(seat.ids)[:-1].encode() + b", " + tail + b"}"
    client_body = json.dumps({"game": "Echo", "session": client.session,
                              "player_id": client.player_id, "key": client.key}
                             )[:-1].encode() + b", " + tail + b"}"
    expected = game_port(deep.port, "move", client_body)
    status, reply = post(port, "/api/play/move", None, raw=browser_body)
    assert (status, reply) == (200, expected)
    assert deep.server is not None
    depth = deep.server.settings.max_json_depth
    if levels is None:
        assert expected["message"].startswith("server: request is not valid JSON (")
    elif levels > depth:
        assert expected == {"status": "error", "message": (
            f"server: request is nested too deeply (more than {depth} levels of lists and "
            "objects)")}
    else:
        assert expected == {"status": "ok", "data": None}


@pytest.mark.parametrize(("kind", "path"), [("join", "/api/play/join"),
                                             ("state", "/api/play/state"),
                                             ("restart", "/api/play/restart")])
def test_a_browsers_other_requests_with_a_key_nested_too_deeply_are_refused_alike(
        deep: ServerThread, kind: str, path: str) -> None:
    """A join, state or restart whose body holds a key nested deeper than the setting is
    refused with the game port's words (a stream with 400, a restart with the lobby's
    reply), not started: the browser's keys the lobby does not use were dropped unseen."""
    assert deep.server is not None
    depth = deep.server.settings.max_json_depth
    port = play.dashboard_port(deep)
    seat = WebSeat(port, "Echo").join(session=f"other {kind}", players=1, name="ann")
    ids = {"join": {"game": "Echo", "session": f"new {kind}", "players": 1, "name": "bob"},
           "state": {**seat.ids, "observer": False},
           "restart": seat.ids}[kind]
    body = json.dumps(ids)[:-1].encode() + b', "extra": ' + lists(depth) + b"}"
    expected = game_port(deep.port, kind, body)
    assert expected == {"status": "error", "message": (
        f"server: request is nested too deeply (more than {depth} levels of lists and "
        "objects)")}
    if kind == "restart":
        assert post(port, path, None, raw=body) == (200, expected)
    else:
        assert stream_start(port, path, body) == (400, {"error": expected["message"]})
        within = json.dumps(ids)[:-1].encode() + b', "extra": ' + lists(depth - 1) + b"}"
        status, (event, _) = stream_start(port, path, within)  # one level less: taken
        assert (status, event) == (200, "seated" if kind == "join" else "session")


# ---------------------------------------------------------------- the bots


def bot_server(depth: int) -> ServerThread:
    server = play.web_server(max_json_depth=depth)
    assert server.server is not None and server.server.dashboard is not None
    server.server.dashboard.bots.pause = 0.0  # the bots' pause is for people watching
    return server


def test_a_bot_whose_every_move_is_too_deep_leaves_and_says_why(
        caplog: pytest.LogCaptureFixture) -> None:
    """max_json_depth 1 refuses every move with a move object: the bot's move never
    reached the lobby, so nothing changed and its next state waited for ever, the bot
    counted as playing (against its address's and the server's caps) until the session
    timed out. Now it leaves at its first turn, and the log says why, once."""
    server = bot_server(1)
    assert server.server is not None
    bots = server.server.dashboard.bots
    try:
        with caplog.at_level(logging.INFO, "gameserver.web"):
            WebSeat(play.dashboard_port(server), "RockPaperScissors").join(
                session="shallow", players=2, name="ann", bots=1)  # both choose at once
            play.wait_until(lambda: server.call(lambda: bots.playing + bots.waiting) == 0,
                            "the bot to leave")
        left = [r.getMessage() for r in caplog.records if "a bot left" in r.getMessage()]
        assert left == ["a bot left RockPaperScissors/shallow: the server refuses the moves "
                        "RockPaperScissors lists as legal now as requests (the last: server: "
                        "request is nested too deeply (more than 1 levels of lists and "
                        "objects))"]
        session = server.call(lambda: server.server.lobby.sessions.get(
            ("RockPaperScissors", "shallow")))
        assert [p.name for p in session.players] == ["ann", "bot"]  # it had joined
    finally:
        server.stop()


def test_a_bot_draws_again_from_the_moves_the_server_takes() -> None:
    """max_json_depth 2 takes Yahtzee's scoring moves ({"score", "category"}) and refuses
    its rerolls ({"roll_dice": [...]}, 3 levels): a bot drawing a reroll stalled the game
    (most of the moves it draws from on a turn are rerolls). Now it scores, the turn comes
    back, and it still plays."""
    server = bot_server(2)
    assert server.server is not None
    bots = server.server.dashboard.bots
    try:
        ann = WebSeat(play.dashboard_port(server), "Yahtzee").join(
            session="two levels", players=2, name="ann", bots=1)
        state = ann.state()
        assert ann.move(name="ann")["status"] == "ok"
        while state["current"] != [ann.player_id] or "current_name" not in state:
            state = ann.state()  # both named: the first turn is drawn
        if state["current_name"] == "ann":  # ann's turn first: the bot's comes after it
            assert ann.move(score="cross out", category="Chance")["status"] == "ok"
            state = ann.state()
            while state["current"] != [ann.player_id]:  # (only a score passes the turn)
                state = ann.state()
        assert server.call(lambda: bots.playing) == 1  # it scored, and plays on
    finally:
        server.stop()


MANY_DEEP_MOVES = """
from gameserver.game import AbstractGame


class ManyDeepMoves(AbstractGame):
    \"\"\"Two players choose at once from 5,000 moves of three levels.\"\"\"

    def __init__(self, players):
        self.chosen = {}

    @staticmethod
    def min_players():
        return 2

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        return [p for p in (0, 1) if p not in self.chosen]

    def move(self, move, player_id):
        self.chosen[player_id] = move
        return None

    def game_over(self):
        return len(self.chosen) == 2

    def state(self, player_id):
        return {"chosen": len(self.chosen)}

    def legal_moves(self, player_id):
        return [{"pick": [n]} for n in range(5000)]
"""


def test_a_game_listing_thousands_of_moves_the_server_refuses_costs_a_bot_few_decodes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A game is student code: one listing 5,000 legal moves that max_json_depth refuses
    would have the bot decode each of them, on the loop, every turn. It draws DRAWS_MAX
    at most, then leaves. (``decode`` is counted, not changed.)"""
    (tmp_path / "many_deep_moves.py").write_text(MANY_DEEP_MOVES)
    decoded = []

    def counted(fields: dict[str, Any], depth: int) -> Any:
        decoded.append(fields["type"])
        return _carrier.decode(fields, depth)

    monkeypatch.setattr(_bots, "decode", counted)
    server = play.web_server(max_json_depth=2, games_dirs=[str(tmp_path)])
    assert server.server is not None and server.server.dashboard is not None
    bots = server.server.dashboard.bots
    bots.pause = 0.0
    try:
        with caplog.at_level(logging.WARNING, "gameserver.web"):
            WebSeat(play.dashboard_port(server), "ManyDeepMoves").join(
                session="many", players=2, name="ann", bots=1)
            play.wait_until(lambda: server.call(lambda: bots.playing + bots.waiting) == 0,
                            "the bot to leave")
        assert decoded == ["join", "state"] + ["move"] * _bots.DRAWS_MAX
        assert [r.getMessage() for r in caplog.records if "a bot left" in r.getMessage()] == [
            "a bot left ManyDeepMoves/many: the server refuses the moves ManyDeepMoves lists "
            "as legal now as requests (the last: server: request is nested too deeply (more "
            "than 2 levels of lists and objects))"]
    finally:
        server.stop()


class Compared(dict):  # type: ignore[type-arg]
    """A move that counts how often it is compared with another (a deep walk each)."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        Compared.compared += 1
        return dict.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]


def test_a_bot_draws_again_without_comparing_the_moves() -> None:
    """Drawing again took each refused move out of the list by equality: up to a walk of
    every move before it, each as deep as the setting refuses or deeper, for each of the
    DRAWS_MAX draws (a game listing 20,000 moves 20 levels deep: twice the time of
    reading its state, on the server's loop). Now no move is compared with another."""
    import random

    moves = [Compared(pick=[[[n]]]) for n in range(1000)]
    seat = {"game": "G", "session": "s", "player_id": 0, "key": "k"}
    Compared.compared = 0
    assert _bots.Bots._move_request(seat, moves, random.Random(7), 2) == (
        "server: request is nested too deeply (more than 2 levels of lists and objects)")
    assert Compared.compared == 0
