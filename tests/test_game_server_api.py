"""The client module game_server_api.py, against the real server over real sockets.

Error paths that a correct server never produces (garbage, resets, a server
that ignores keep-alive) use ``FakeServer``: a raw TCP listener in this
process that answers exactly what a test tells it to. It also captures the
bytes the module sends, to pin the classic wire format byte for byte.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import re
import select
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import game_server_api
from game_server_api import GameServerAPI, GameServerError, IllegalMove
from tests.serverproc import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
TERMINATOR = b"EOT\x00"
TIMEOUT = 30.0  # generous: only to avoid hanging forever


def unique(prefix: str) -> str:
    """A session name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def join_all(*apis: GameServerAPI) -> list[int]:
    """Call join() on every api at the same time (join blocks until the session is full)."""
    with ThreadPoolExecutor(len(apis)) as pool:
        futures = [pool.submit(api.join) for api in apis]
        return [future.result(timeout=TIMEOUT) for future in futures]


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ok(data: Any) -> bytes:
    return json.dumps({"status": "ok", "data": data}).encode()


JOINED = {"player_id": 0, "key": "k1", "session": "auto-7", "request_size_max": 1_000_000}


def state(**game: Any) -> dict[str, Any]:
    """A state as every server sends it: the game's keys, 'current' and 'gameover'."""
    return {**game, "current": [0], "gameover": False}


# ---------------------------------------------------------------- a fake server


class FakeServer:
    """A raw TCP listener on a free loopback port; ``handler(conn, fake)`` serves each connection.

    Every request read with ``read_request`` is put on ``requests`` (raw bytes,
    terminator included), so tests can wait for it.
    """

    def __init__(self, handler: Callable[[socket.socket, FakeServer], None]) -> None:
        self.handler = handler
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.host, self.port = self.listener.getsockname()
        self.requests: queue.Queue[bytes] = queue.Queue()
        self.connections = 0
        self.go = threading.Event()  # for handlers that wait for the test
        self.done = threading.Event()  # set by handlers when they did their thing
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self.listener], [], [], 0.05)
            if not readable:
                continue
            conn, _ = self.listener.accept()
            self.connections += 1
            self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handler(conn, self)
        except OSError:
            pass  # the client went away; tests check what they need elsewhere

    def read_request(self, conn: socket.socket) -> bytes:
        """Read one request up to its terminator (or EOF) and record it."""
        data = b""
        while not data.endswith(TERMINATOR):
            chunk = conn.recv(1)
            if not chunk:
                break
            data += chunk
        if data:
            self.requests.put(data)
        return data

    def next_request(self) -> bytes:
        return self.requests.get(timeout=TIMEOUT)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)
        self.go.set()
        for conn in self._conns:
            conn.close()
        for thread in self._threads:
            thread.join(TIMEOUT)
        self.listener.close()


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeServer]]:
    """Factory: ``fake(handler)`` starts a FakeServer, closed at teardown."""
    started: list[FakeServer] = []

    def make(handler: Callable[[socket.socket, FakeServer], None]) -> FakeServer:
        started.append(FakeServer(handler))
        return started[-1]

    yield make
    for server in started:
        server.close()


def replies(*answers: bytes) -> Callable[[socket.socket, FakeServer], None]:
    """A classic handler: the n-th connection gets ``answers[n]``, then it is closed."""
    remaining = list(answers)

    def handler(conn: socket.socket, fake: FakeServer) -> None:
        fake.read_request(conn)
        conn.sendall(remaining.pop(0))
        conn.close()

    return handler


def kept_replies(*answers: bytes) -> Callable[[socket.socket, FakeServer], None]:
    """A keep-alive handler: every request gets the next answer plus the terminator."""
    remaining = list(answers)

    def handler(conn: socket.socket, fake: FakeServer) -> None:
        while remaining and fake.read_request(conn):
            conn.sendall(remaining.pop(0) + TERMINATOR)

    return handler


def reset(conn: socket.socket) -> None:
    """Close with a TCP reset instead of an orderly close."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


# ---------------------------------------------------------------- constructor


@pytest.mark.parametrize(("argument", "value"), [
    ("server", ""), ("server", None), ("server", 127),
    ("port", -1), ("port", 65536), ("port", "4711"), ("port", True), ("port", 4711.0),
    ("game", ""), ("game", None),
    ("session", ""), ("session", 1), ("session", None),
    ("players", 0), ("players", -2), ("players", True), ("players", 2.0), ("players", "2"),
    ("name", None), ("name", 1),
    ("keep_alive", 1), ("keep_alive", "yes"),
])
def test_invalid_constructor_argument_raises_assertion_naming_it(argument, value) -> None:
    arguments = {"server": "127.0.0.1", "port": 4711, "game": "TicTacToe", argument: value}
    with pytest.raises(AssertionError, match=f"^Invalid argument: {argument} "):
        GameServerAPI(**arguments)


def test_valid_constructor_arguments_do_not_contact_the_server(fake) -> None:
    server = fake(replies())
    GameServerAPI("127.0.0.1", server.port, "TicTacToe")
    GameServerAPI("127.0.0.1", server.port, "TicTacToe", "s", 2, "ann", keep_alive=True)
    GameServerAPI("127.0.0.1", 0, "G", players=None, name="")
    GameServerAPI("127.0.0.1", 65535, "G", players=8)
    assert server.connections == 0


# ---------------------------------------------------------------- refused without contact


@pytest.mark.parametrize("call", ["move", "state", "restart"])
def test_calls_before_join_raise_without_contacting_the_server(fake, call) -> None:
    server = fake(replies())
    api = GameServerAPI("127.0.0.1", server.port, "TicTacToe")
    with pytest.raises(GameServerError, match="join a game first"):
        getattr(api, call)()
    assert server.connections == 0


def test_observe_needs_a_name_and_a_named_session_checked_locally(fake) -> None:
    server = fake(replies())
    with pytest.raises(GameServerError, match="a valid name must be passed to the constructor: "
                                              "observe.. watches the player who joined with "
                                              "that name, e.g. GameServerAPI"):
        GameServerAPI("127.0.0.1", server.port, "TicTacToe", session="s").observe()
    with pytest.raises(GameServerError, match="not available for auto-join sessions: give the "
                                              "session a name in both programs"):
        GameServerAPI("127.0.0.1", server.port, "TicTacToe", name="bob").observe()
    assert server.connections == 0


def test_observer_cannot_move_or_restart_checked_locally(fake) -> None:
    server = fake(replies(ok({"player_id": 1, "key": "obs"})))
    api = GameServerAPI("127.0.0.1", server.port, "TicTacToe", session="t", name="bob")
    assert api.observe() == 1
    with pytest.raises(GameServerError, match="cannot submit moves as observer"):
        api.move(position=1)
    with pytest.raises(GameServerError, match="cannot restart game as observer"):
        api.restart()
    assert server.connections == 1


def test_request_over_the_servers_size_limit_is_refused_locally(fake) -> None:
    server = fake(replies(ok({**JOINED, "request_size_max": 200})))
    api = GameServerAPI("127.0.0.1", server.port, "Echo", players=1)
    api.join()
    with pytest.raises(GameServerError, match=r"^api: request size limit exceeded.* 200"):
        api.move(msg="x" * 200)
    assert server.connections == 1


def test_a_move_not_given_as_keywords_says_how_to_write_one(fake) -> None:
    # Python's own error named no keyword: "move() takes 1 positional argument but 2 were
    # given". A first-term student writes move(4) for "the middle cell".
    server = fake(replies(ok(JOINED)))
    api = GameServerAPI("127.0.0.1", server.port, "TicTacToe", players=2)
    api.join()
    with pytest.raises(TypeError, match=r"^move\(\) takes the move as keyword arguments, not "
                                        r"as 4: .* e\.g\. move\(position=4\) for "
                                        r"TicTacToe, not move\(4\)$"):
        api.move(4)
    # A dict is the other first try: it is shown as the keywords it holds.
    with pytest.raises(TypeError, match=r"^move\(\) takes the move as keyword arguments, not "
                                        r"as a dict: write move\(position=4\), or put \*\* "
                                        r"before the dict: move\(\*\*your_dict\)$"):
        api.move({"position": 4})
    with pytest.raises(TypeError, match=r"not as a dict: put \*\* before the dict"):
        api.move({"not a name": 4})
    with pytest.raises(TypeError, match=r"not as 'x', 'y': write the name"):
        api.move("x", "y")
    assert server.connections == 1


def test_move_that_is_not_json_is_refused_locally(fake) -> None:
    server = fake(replies(ok(JOINED)))
    api = GameServerAPI("127.0.0.1", server.port, "Echo", players=1)
    api.join()
    with pytest.raises(GameServerError, match="^api: data could not be converted to JSON"):
        api.move(msg={1, 2})
    assert server.connections == 1


# ---------------------------------------------------------------- the wire format


def test_requests_are_byte_identical_to_the_classic_module(fake) -> None:
    server = fake(replies(ok(JOINED), ok(None), ok(state(board=[])), ok(None),
                          ok({"player_id": 1, "key": "k2"}), ok(state(board=[]))))
    api = GameServerAPI("127.0.0.1", server.port, "TicTacToe", players=2)
    assert api.join() == 0
    api.move(position=4, note="é")
    api.state()
    api.restart()
    watcher = GameServerAPI("127.0.0.1", server.port, "TicTacToe", session="table", name="bob")
    watcher.observe()
    watcher.state()
    sent = [server.next_request() for _ in range(6)]
    assert sent == [
        b'{"type": "join", "game": "TicTacToe", "session": "auto", "players": 2, '
        b'"name": ""}EOT\x00',
        b'{"type": "move", "game": "TicTacToe", "session": "auto-7", "player_id": 0, '
        b'"key": "k1", "move": {"position": 4, "note": "\\u00e9"}}EOT\x00',
        b'{"type": "state", "game": "TicTacToe", "session": "auto-7", "player_id": 0, '
        b'"key": "k1", "observer": false}EOT\x00',
        b'{"type": "restart", "game": "TicTacToe", "session": "auto-7", "player_id": 0, '
        b'"key": "k1"}EOT\x00',
        b'{"type": "observe", "game": "TicTacToe", "session": "table", "name": "bob"}EOT\x00',
        b'{"type": "state", "game": "TicTacToe", "session": "table", "player_id": 1, '
        b'"key": "k2", "observer": true}EOT\x00',
    ]
    assert server.connections == 6  # classic: one connection per request


def test_join_without_players_sends_null(fake) -> None:
    server = fake(replies(ok(JOINED)))
    GameServerAPI("127.0.0.1", server.port, "Chat", session="room", name="ann").join()
    assert server.next_request() == (
        b'{"type": "join", "game": "Chat", "session": "room", "players": null, '
        b'"name": "ann"}EOT\x00')


def test_keep_alive_adds_one_last_key_and_uses_one_connection(fake) -> None:
    server = fake(kept_replies(ok(JOINED), ok(None), ok(state(echo=1))))
    with GameServerAPI("127.0.0.1", server.port, "Echo", players=1, keep_alive=True) as api:
        api.join()
        api.move(msg=1)
        assert api.state() == state(echo=1)
    assert [server.next_request() for _ in range(3)] == [
        b'{"type": "join", "game": "Echo", "session": "auto", "players": 1, "name": "", '
        b'"keep_alive": true}EOT\x00',
        b'{"type": "move", "game": "Echo", "session": "auto-7", "player_id": 0, "key": "k1", '
        b'"move": {"msg": 1}, "keep_alive": true}EOT\x00',
        b'{"type": "state", "game": "Echo", "session": "auto-7", "player_id": 0, "key": "k1", '
        b'"observer": false, "keep_alive": true}EOT\x00',
    ]
    assert server.connections == 1


# ---------------------------------------------------------------- the real server


def test_auto_join_pairs_players_and_uses_the_returned_token(server) -> None:
    # A game of its own: auto sessions of TicTacToe may be shared with other tests.
    a = GameServerAPI(server.host, server.port, "Yahtzee", players=2)
    b = GameServerAPI(server.host, server.port, "Yahtzee", players=2)
    assert sorted(join_all(a, b)) == [0, 1]
    a.move(name="ann")  # only works with the session token the server returned
    assert b.state()["current"] in ([0], [1])


def test_join_after_an_auto_join_asks_for_auto_again(server) -> None:
    """join() twice, or again as the module advises when a session is gone: it sent the
    token the first join got ('auto-3'), which the server refuses ('token must not start
    with reserved prefix'), and so did every later join of that object."""
    api = GameServerAPI(server.host, server.port, "Echo", players=1)
    assert api.join() == 0
    first = api._session
    assert first.startswith("auto-")
    assert api.join() == 0  # a one-player game: a session of its own again
    assert api._session.startswith("auto-") and api._session != first
    api.move(msg="hi")  # with the new session's token and key
    assert api.state()["echo"] == "hi"


def tictactoe_players(server: Any, session: str) -> dict[int, GameServerAPI]:
    """Two players joined to a new tic-tac-toe session, by player id."""
    a, b = (GameServerAPI(server.host, server.port, "TicTacToe", session=session, players=2)
            for _ in range(2))
    ids = join_all(a, b)
    return {ids[0]: a, ids[1]: b}


def play_first_mover_wins(apis: dict[int, GameServerAPI]) -> tuple[int, dict[str, Any]]:
    """Drive a tic-tac-toe game in which each move takes the lowest free cell.

    The first mover gets cells 0, 2, 4, 6 and wins on the diagonal 2-4-6.
    Returns the first mover's id and the final state.
    """
    states = {pid: api.state() for pid, api in apis.items()}
    first = states[0]["current"][0]
    for cell in range(7):
        mover = states[0]["current"][0]
        apis[mover].move(position=cell)
        states = {pid: api.state() for pid, api in apis.items()}  # every view changed
    assert states[0] == states[1]
    return first, states[0]


@pytest.mark.parametrize("keep_alive", [False, True])
def test_full_tictactoe_game_to_a_win(server, keep_alive) -> None:
    session = unique("ttt")
    a, b = (GameServerAPI(server.host, server.port, "TicTacToe", session=session, players=2,
                          keep_alive=keep_alive) for _ in range(2))
    with a, b:
        ids = join_all(a, b)
        first, final = play_first_mover_wins({ids[0]: a, ids[1]: b})
    second = 1 - first
    assert final == {"board": [first, second, first, second, first, second, first, -1, -1],
                     "winner": first, "current": [], "gameover": True}


def test_state_returns_when_another_player_moves(server) -> None:
    session = unique("wait")
    apis = tictactoe_players(server, session)
    a, b = apis[0], apis[1]
    first = a.state()["current"][0]
    b.state()
    waiter = apis[1 - first]
    result: queue.Queue[Any] = queue.Queue()
    thread = threading.Thread(target=lambda: result.put(waiter.state()))
    thread.start()
    apis[first].move(position=4)
    state = result.get(timeout=TIMEOUT)
    thread.join(TIMEOUT)
    assert state["board"][4] == first
    assert state["current"] == [1 - first]


def test_illegal_move_with_a_string_message(server) -> None:
    apis = tictactoe_players(server, unique("ill"))
    first = apis[0].state()["current"][0]
    with pytest.raises(IllegalMove) as caught:
        apis[first].move(position=9)
    assert len(caught.value.args) == 1
    assert str(caught.value).startswith("game: position must be between 0")
    with pytest.raises(IllegalMove, match="^game: position missing"):
        apis[first].move()


@pytest.fixture
def recorder_server(make_server):
    """A real server that also offers the test game Recorder (tests/data/games)."""
    return make_server(games_dirs=[str(DATA / "games")])


def test_illegal_move_with_a_list_raises_with_the_items_as_args(recorder_server) -> None:
    api = GameServerAPI(recorder_server.host, recorder_server.port, "Recorder", players=1)
    api.join()
    with pytest.raises(IllegalMove) as caught:
        api.move(reject=["no such card", 3])
    assert caught.value.args == ("no such card", 3)
    with pytest.raises(IllegalMove) as caught:
        api.move(reject={"code": 7})
    assert caught.value.args == ({"code": 7},)
    with pytest.raises(IllegalMove) as caught:
        api.move(reject="nope")
    assert caught.value.args == ("game: nope",)


def test_server_error_messages_are_passed_on_as_they_are(server) -> None:
    with pytest.raises(GameServerError) as caught:
        GameServerAPI(server.host, server.port, "NoSuchGame", players=1).join()
    assert str(caught.value).startswith("framework: no such game")
    with pytest.raises(GameServerError, match="^framework: .*players"):
        GameServerAPI(server.host, server.port, "Echo", session=unique("none")).join()
    apis = tictactoe_players(server, unique("turn"))
    first = apis[0].state()["current"][0]
    with pytest.raises(GameServerError) as caught:
        apis[1 - first].move(position=0)
    assert str(caught.value).startswith("framework: not your turn; ")
    assert not isinstance(caught.value, IllegalMove)


def test_the_servers_fixed_errors_come_with_what_to_do(server) -> None:
    """The protocol's texts are fixed and say only what is wrong ("framework: not your
    turn"); a student reads them in a traceback. The module adds what to do after '; ',
    the server's text first as it was."""
    session = unique("advice")
    apis = tictactoe_players(server, session)
    try:
        apis[0].move(position=0)  # accepted if player 0 moves first: then it is 1's turn
    except GameServerError:
        pass
    with pytest.raises(GameServerError) as caught:
        apis[0].move(position=1)
    assert str(caught.value) == (
        "framework: not your turn; you are player 0: move only when 0 is in "
        "state()['current'] (state() waits until the others have moved)")
    session = unique("advice")
    apis = tictactoe_players(server, session)
    play_first_mover_wins(apis)
    with pytest.raises(GameServerError, match=r"^framework: game has ended; the game is over "
                                              r".*call restart\(\) to play again$"):
        apis[0].move(position=8)
    with pytest.raises(GameServerError, match=r"^framework: game session already full; .*"
                                              r"pass players=N to start a new game"):
        GameServerAPI(server.host, server.port, "TicTacToe", session=session).join()
    watcher = GameServerAPI(server.host, server.port, "TicTacToe", session=session,
                            name="nobody")
    with pytest.raises(GameServerError, match=r"^framework: no such player; nobody in session "
                                              r".* joined with name='nobody'"):
        watcher.observe()
    missing = GameServerAPI(server.host, server.port, "TicTacToe", session=unique("none"),
                            name="bob")
    with pytest.raises(GameServerError, match=r"^framework: no such game session; nobody has "
                                              r"started session .*check the session name"):
        missing.observe()


def test_waiting_for_a_change_only_oneself_can_make_warns_at_the_callers_line(
        server, monkeypatch) -> None:
    """A beginner who writes ``if state['current'] == my_id:`` (a list is never an int)
    never moves; state() then waited for a change nobody could make, until the server gave
    up, and no message said why. A warning names the student's line and the fix."""
    monkeypatch.setattr(game_server_api, "WAIT_MAX", 0.5)  # the wait ends, as an error
    apis = tictactoe_players(server, unique("ownturn"))
    states = {pid: api.state() for pid, api in apis.items()}
    me = states[0]["current"][0]
    expected = (rf"^state\(\) waits until the game changes, but it is your turn: the last state "
                rf"said current is \[{me}\], and you are player {me}\. Nothing changes until "
                rf"you move, .* Call move\(\) before state\(\); to check whose turn it is, "
                rf"write: if {me} in state\['current'\]$")
    with pytest.warns(UserWarning, match=expected) as caught:
        with pytest.raises(GameServerError, match="did not answer state within 0.5 s"):
            apis[me].state()
    assert [w.filename for w in caught] == [__file__]  # the student's line, not the module's
    with pytest.warns(UserWarning, match=expected) as caught:
        with pytest.raises(GameServerError, match="did not answer state within 0.5 s"):
            for _ in apis[me].states():
                pass
    assert [w.filename for w in caught] == [__file__]
    monkeypatch.setattr(game_server_api, "WAIT_MAX", 30)
    apis[me].move(position=0)  # a move: what comes next is the other player's
    assert apis[me].state()["current"] == [1 - me]
    assert apis[1 - me].state()["current"] == [1 - me]


@pytest.mark.parametrize(("message", "advice"), [
    ("framework: game Mine: move() raised KeyError: 'x'", "; this is a bug in the game's code, "
                                                          "not in your program"),
    ("framework: game session was overwritten", "; someone started a new session with the "
                                                "same name"),
    ("framework: invalid key", "; the session you joined is gone"),
    ("framework: no such game session", "; the session you joined is gone"),
    ("framework: a text this module does not know", ""),
])
def test_advice_for_other_fixed_errors(fake, message, advice) -> None:
    server = fake(after_join(lambda conn, fake, request: conn.sendall(
        json.dumps({"status": "error", "message": message}).encode())))
    api = GameServerAPI("127.0.0.1", server.port, "Echo", players=1)
    api.join()
    with pytest.raises(GameServerError) as caught:
        api.state()
    assert str(caught.value).startswith(message + advice)
    if not advice:
        assert str(caught.value) == message


HOSTILE = "\x1b]52;c;Y3VybA==\x07\x1b[2J\r\u202egood\x9b\ttab\nline"
HOSTILE_SHOWN = "\\x1b]52;c;Y3VybA==\\x07\\x1b[2J\\r\\u202egood\\x9b\ttab\nline"


def test_control_characters_a_game_sends_are_shown_escaped(recorder_server) -> None:
    """A game's rejection and the texts in its states reach a student's terminal: an ANSI
    escape there cleared the screen or wrote the clipboard (OSC 52). The module writes
    control characters as escapes, as repr() does; a newline and a tab stay as they are
    (a board laid out with them)."""
    api = GameServerAPI(recorder_server.host, recorder_server.port, "Recorder", players=1)
    api.join()
    with pytest.raises(IllegalMove) as caught:
        api.move(reject=HOSTILE)
    assert str(caught.value) == "game: " + HOSTILE_SHOWN
    with pytest.raises(IllegalMove) as caught:
        api.move(reject=[HOSTILE, {HOSTILE: HOSTILE}])
    assert caught.value.args == (HOSTILE_SHOWN, {HOSTILE_SHOWN: HOSTILE_SHOWN})
    api.move(say=HOSTILE, plain="Grüße\n")
    log = api.state()["log"]
    assert log[-1] == [0, {"say": HOSTILE_SHOWN, "plain": "Grüße\n"}]
    assert log[0] == [0, {"reject": HOSTILE_SHOWN}]
    poller = GameServerAPI(recorder_server.host, recorder_server.port, "Recorder", players=1)
    poller.join()
    poller.move(**{HOSTILE: [[HOSTILE]]})
    pushed = next(poller.states())
    assert pushed["log"] == [[0, {HOSTILE_SHOWN: [[HOSTILE_SHOWN]]}]]


def test_control_characters_in_a_servers_errors_are_shown_escaped(fake) -> None:
    server = fake(after_join(lambda conn, fake, request: conn.sendall(
        json.dumps({"status": "error", "message": "framework: " + HOSTILE}).encode())))
    api = GameServerAPI("127.0.0.1", server.port, "Echo", players=1)
    api.join()
    with pytest.raises(GameServerError) as caught:
        api.state()
    assert str(caught.value) == "framework: " + HOSTILE_SHOWN
    odd = fake(replies('{"status": "maybe", "message": "\x9b2J"}'.encode()))  # CSI, as it is
    with pytest.raises(GameServerError) as caught:
        GameServerAPI("127.0.0.1", odd.port, "Echo", players=1).join()
    assert "\x9b" not in str(caught.value)
    assert '"message": "\\x9b2J"}' in str(caught.value)


def test_join_timeout_is_reported(make_server) -> None:
    quick = make_server(join_timeout=0.5)
    api = GameServerAPI(quick.host, quick.port, "TicTacToe", session="lonely", players=2)
    with pytest.raises(GameServerError, match="timeout while waiting for others to join"):
        api.join()


def test_request_size_limit_comes_from_the_real_server(make_server) -> None:
    small = make_server(request_size_max=300)
    api = GameServerAPI(small.host, small.port, "Echo", players=1)
    api.join()
    api.move(msg="x" * 100)
    with pytest.raises(GameServerError, match="^api: request size limit exceeded"):
        api.move(msg="x" * 300)
    assert api.state()["echo"] == "x" * 100


def test_observer_sees_what_the_player_sees(server) -> None:
    session = unique("obs")
    a = GameServerAPI(server.host, server.port, "TicTacToe", session=session, players=2,
                      name="ann")
    b = GameServerAPI(server.host, server.port, "TicTacToe", session=session, players=2,
                      name="bob")
    watcher = GameServerAPI(server.host, server.port, "TicTacToe", session=session,
                            name="ann")
    with pytest.raises(GameServerError, match="^framework: no such game session"):
        watcher.observe()
    ids = join_all(a, b)
    assert watcher.observe() == ids[0]
    assert watcher.state() == a.state()
    with pytest.raises(GameServerError, match="cannot submit moves as observer"):
        watcher.move(position=0)
    with pytest.raises(GameServerError, match="cannot restart game as observer"):
        watcher.restart()
    nobody = GameServerAPI(server.host, server.port, "TicTacToe", session=session, name="cy")
    with pytest.raises(GameServerError, match="^framework: no such player"):
        nobody.observe()


@pytest.mark.parametrize("keep_alive", [False, True])
def test_leave_gives_up_the_seat_and_the_last_one_ends_the_session(make_server,
                                                                   keep_alive: bool) -> None:
    """The client module had no way to send ``leave``: a student's program that started a
    session for every game was refused at the starter's cap (here 2), as its sessions
    stayed until idle. Now ``leave()`` gives the seat up, and the last one ends it."""
    server = make_server(max_sessions_per_address=2)
    with pytest.raises(GameServerError, match=r"^join a game first: call join\(\) before "
                                              r"leave\(\)$"):
        GameServerAPI(server.host, server.port, "TicTacToe").leave()
    for number in range(5):  # beyond the cap: each loop's session ends with its leaves
        session = unique(f"loop{number}")
        apis = [GameServerAPI(server.host, server.port, "TicTacToe", session=session,
                              players=2, name=name, keep_alive=keep_alive)
                for name in ("ann", "bob")]
        ids = join_all(*apis)
        mover = apis[0].state()["current"][0]
        first, other = apis[ids.index(mover)], apis[ids.index(1 - mover)]
        first.move(position=4)
        key = first._key
        assert first.leave() is None
        # The seat is gone: this object says so itself; its old key gets the server's word.
        with pytest.raises(GameServerError, match=r"^join a game first: call join\(\) before "
                                                  r"move\(\)"):
            first.move(position=0)
        thief = GameServerAPI(server.host, server.port, "TicTacToe", session=session)
        thief._player_id, thief._key = mover, key
        with pytest.raises(GameServerError, match="^framework: invalid key: this player left"):
            thief.state()
        # The other plays on, watched by an observer, who has no seat to leave.
        watcher = GameServerAPI(server.host, server.port, "TicTacToe", session=session,
                                name=other._name)
        watcher.observe()
        with pytest.raises(GameServerError, match="^an observer has no seat to leave"):
            watcher.leave()
        assert other.state()["board"][4] == mover
        other.leave()
        with pytest.raises(GameServerError, match="^framework: every player left the game "
                                                  "session|^framework: no such game session"):
            watcher.state()
        for api in apis:
            api.close()


def test_leave_with_a_classic_server_says_it_does_not_know_it(fake) -> None:
    """A classic server refuses the request type: the error says so, and that nothing is
    lost; the seat stays this object's (a classic server's session ends when idle)."""
    unknown = json.dumps({"status": "error", "message": "framework: unknown request type "
                                                        "'leave'"}).encode()
    classic = fake(replies(ok(JOINED), unknown, ok(state(n=1))))
    api = GameServerAPI("127.0.0.1", classic.port, "Echo", players=1)
    api.join()
    with pytest.raises(GameServerError) as caught:
        api.leave()
    assert str(caught.value) == (
        "framework: unknown request type 'leave'; this server does not know leave(): it is a "
        "classic server, or an older one. Nothing is lost: it ends the session by itself once "
        "nobody has sent a request for a while, so just stop calling leave()")
    assert api.state() == state(n=1)  # still seated
    classic.next_request()  # the join
    assert classic.next_request() == (  # in the classic requests' form
        b'{"type": "leave", "game": "Echo", "session": "auto-7", "player_id": 0, '
        b'"key": "k1"}EOT\x00')


def test_restart_hands_over_the_final_state_then_a_new_game(server) -> None:
    session = unique("restart")
    apis = tictactoe_players(server, session)
    a, b = apis[0], apis[1]
    play_first_mover_wins(apis)
    a.restart()
    final = b.state()
    assert final["gameover"] and final["winner"] is not None
    fresh = b.state()
    assert not fresh["gameover"] and fresh["board"] == [-1] * 9
    assert a.state()["board"] == [-1] * 9


# ---------------------------------------------------------------- TLS


def test_tls_with_a_verified_certificate(make_server, tls_pair) -> None:
    cert, key = tls_pair
    secure = make_server(tls_cert=cert, tls_key=key)
    for host in ("127.0.0.1", "localhost"):
        api = GameServerAPI(host, secure.port, "Echo", players=1)
        api.enable_tls(cert)
        api.join()
        api.move(msg="secret")
        assert api.state()["echo"] == "secret"


def test_tls_encryption_only_without_a_certificate(make_server, tls_pair) -> None:
    secure = make_server(tls_cert=tls_pair[0], tls_key=tls_pair[1])
    with GameServerAPI(secure.host, secure.port, "Echo", players=1, keep_alive=True) as api:
        api.enable_tls()
        api.join()
        kept = api._idle[0]
        api.move(msg=1)
        assert api.state()["echo"] == 1
        assert api._idle == [kept]  # one TLS connection for all three requests


def test_tls_with_the_wrong_certificate_fails_verification(make_server, tls_pair,
                                                           other_tls_pair) -> None:
    secure = make_server(tls_cert=tls_pair[0], tls_key=tls_pair[1])
    api = GameServerAPI(secure.host, secure.port, "Echo", players=1)
    api.enable_tls(other_tls_pair[0])
    with pytest.raises(GameServerError) as caught:
        api.join()
    message = str(caught.value)
    assert message.startswith(f"api: TLS error: the certificate of 127.0.0.1:{secure.port} "
                              "could not be verified")
    assert "enable_tls()" in message


def test_tls_verify_without_a_file_refuses_a_self_signed_certificate(
        make_server, tls_pair, monkeypatch) -> None:
    """``enable_tls(verify=True)``: the system's authorities only, no file (there was
    no way to ask for that: no file meant no check at all). A self-signed certificate
    is refused, and the message says what to do."""
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):  # the system's own authorities
        monkeypatch.delenv(name, raising=False)
    secure = make_server(tls_cert=tls_pair[0], tls_key=tls_pair[1])
    api = GameServerAPI(secure.host, secure.port, "Echo", players=1)
    api.enable_tls(verify=True)
    with pytest.raises(GameServerError) as caught:
        api.join()
    message = str(caught.value)
    assert message.startswith(f"api: TLS error: the certificate of 127.0.0.1:{secure.port} "
                              "could not be verified (self-signed certificate); "
                              "enable_tls(verify=True) trusts the authorities your system "
                              "trusts"), message
    assert "call enable_tls('cert.pem') with it" in message
    assert secure.call(lambda: len(secure.server.lobby.sessions)) == 0  # never joined


def test_tls_verify_without_a_file_takes_a_certificate_the_system_trusts(
        make_server, tls_pair, monkeypatch) -> None:
    """The same check passes for a certificate of an authority the system trusts (here
    the test's certificate, made one by OpenSSL's SSL_CERT_FILE), by name and by IP."""
    monkeypatch.setenv("SSL_CERT_FILE", tls_pair[0])
    secure = make_server(tls_cert=tls_pair[0], tls_key=tls_pair[1])
    for host in ("127.0.0.1", "localhost"):
        api = GameServerAPI(host, secure.port, "Echo", players=1)
        api.enable_tls(verify=True)
        api.join()
        api.move(msg="checked")
        assert api.state()["echo"] == "checked"


def test_enable_tls_refuses_a_file_with_verify_false_and_a_verify_not_a_bool(
        tls_pair) -> None:
    api = GameServerAPI("127.0.0.1", 1, "Echo", players=1)
    with pytest.raises(GameServerError, match=r"^api: enable_tls\(\) was given a "
                       "certificate file and verify=False"):
        api.enable_tls(tls_pair[0], verify=False)
    with pytest.raises(AssertionError, match="verify"):
        api.enable_tls(verify="yes")
    assert api._tls_context is None


def test_plain_client_against_a_tls_server_is_told_to_enable_tls(make_server,
                                                                 tls_pair) -> None:
    secure = make_server(tls_cert=tls_pair[0], tls_key=tls_pair[1])
    api = GameServerAPI(secure.host, secure.port, "Echo", players=1)
    with pytest.raises(GameServerError) as caught:
        api.join()
    message = str(caught.value)  # the server's, since 2026-11-30 (it closed unanswered)
    assert message.startswith("server: this port speaks TLS only, and the request came "
                              "without it")
    assert "call enable_tls() before join()" in message
    # The class a student's traceback names is the documented one, not an internal subclass
    # ("game_server_api._Dropped: api: ..."; state()'s retry of a server restarting, which
    # that class marked: test_state_waits_for_a_restarting_server_and_asks_once_more).
    assert type(caught.value) is GameServerError


def test_tls_client_against_a_plain_server_is_told_the_server_may_not_use_tls(
        make_server) -> None:
    # The plain server answers the TLS greeting with a timeout error after 1 s.
    plain = make_server(connection_timeout=1)
    api = GameServerAPI(plain.host, plain.port, "Echo", players=1)
    api.enable_tls()
    with pytest.raises(GameServerError) as caught:
        api.join()
    message = str(caught.value)
    assert message.startswith(f"api: TLS error: the TLS handshake with 127.0.0.1:{plain.port}")
    assert "does the server use TLS?" in message


def test_tls_handshake_that_gets_no_answer_times_out(fake, monkeypatch) -> None:
    monkeypatch.setattr(game_server_api, "_CONNECT_TIMEOUT", 0.5)
    silent = fake(lambda conn, fake: fake.go.wait(TIMEOUT))
    api = GameServerAPI("127.0.0.1", silent.port, "Echo", players=1)
    api.enable_tls()
    with pytest.raises(GameServerError, match="^api: TLS error: .* timed out; does the server"):
        api.join()


def test_enable_tls_reports_missing_and_invalid_certificate_files(tmp_path) -> None:
    api = GameServerAPI("127.0.0.1", 4711, "Echo")
    with pytest.raises(GameServerError, match="could not be found"):
        api.enable_tls(str(tmp_path / "missing.pem"))
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(GameServerError, match="TLS error while loading certificate"):
        api.enable_tls(str(bogus))


def test_enable_tls_with_the_key_instead_of_the_certificate_says_so(tls_pair) -> None:
    """key.pem given for cert.pem (the pair sits side by side): OpenSSL's words were
    '[X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found (_ssl.c:4154)'."""
    api = GameServerAPI("127.0.0.1", 4711, "Echo")
    with pytest.raises(GameServerError) as caught:
        api.enable_tls(tls_pair[1])
    assert str(caught.value) == (f"api: {tls_pair[1]!r} is a private key, not a certificate: "
                                 "pass the server's certificate (cert.pem); its key stays on "
                                 "the server, secret")


def test_relative_certificate_is_found_next_to_the_module(make_server, tls_pair, tmp_path,
                                                          monkeypatch) -> None:
    secure = make_server(tls_cert=tls_pair[0], tls_key=tls_pair[1])
    monkeypatch.chdir(tmp_path)  # the classic module looks next to itself, not here
    api = GameServerAPI(secure.host, secure.port, "Echo", players=1)
    api.enable_tls(os.path.relpath(tls_pair[0], ROOT))
    assert api.join() == 0


def test_relative_certificate_is_also_found_in_the_current_directory(make_server, tls_pair,
                                                                     tmp_path,
                                                                     monkeypatch) -> None:
    secure = make_server(tls_cert=tls_pair[0], tls_key=tls_pair[1])
    shutil.copy(tls_pair[0], tmp_path / "my-server-cert.pem")
    monkeypatch.chdir(tmp_path)
    api = GameServerAPI(secure.host, secure.port, "Echo", players=1)
    api.enable_tls("my-server-cert.pem")
    assert api.join() == 0


# ---------------------------------------------------------------- connection problems


def test_server_not_running_is_refused_with_a_hint_to_start_it() -> None:
    port = free_port()
    api = GameServerAPI("127.0.0.1", port, "Echo", players=1)
    with pytest.raises(GameServerError) as caught:
        api.join()
    message = str(caught.value)
    assert message.startswith(f"api: unable to connect to 127.0.0.1:{port}: connection refused")
    assert "python3 -m gameserver" in message


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_address_is_shown_in_brackets() -> None:
    port = free_port()
    with pytest.raises(GameServerError, match=rf"^api: unable to connect to \[::1\]:{port}: "):
        GameServerAPI("::1", port, "Echo", players=1).join()


def test_unknown_server_name() -> None:
    api = GameServerAPI("no-such-host.invalid", 4711, "Echo", players=1)
    with pytest.raises(GameServerError, match="^api: unable to connect to no-such-host.invalid"
                                              ":4711: unknown server name"):
        api.join()


def test_a_name_lookup_that_never_ends_is_bounded_by_the_connect_timeout(
        slow_names: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name server that does not answer held ``join()`` in the lookup of
    ``socket.create_connection`` for the system resolver's own time (5 s per try and
    server, and more), whatever ``_CONNECT_TIMEOUT``: now the lookup gets that too, and
    the error says what to check. A second try waits for the lookup under way (one
    thread per name)."""
    monkeypatch.setattr(game_server_api, "_CONNECT_TIMEOUT", 0.3)
    api = GameServerAPI(slow_names.name, 4711, "Echo", players=1)
    slow_names.refuse_twice(
        api.join, GameServerError,
        r"^api: unable to connect to slow-name-server.example:4711: looking up the name "
        r"'slow-name-server.example' took longer than 0.3 s; check the spelling; is the "
        r"network \(its name server\) up\? An IP address such as 127.0.0.1 needs no lookup$")


@pytest.mark.parametrize("keep_alive", [False, True])
@pytest.mark.parametrize("sent", [
    b'{"status": "ok", "da', b'{"status": "ok", "data": {"board": [1, 2', b'{"status": "ok"  ',
    b'{"status": "ok", "data": "caf\xc3'])
def test_a_reply_the_server_stops_in_the_middle_of_is_named_so(fake, sent,
                                                                keep_alive) -> None:
    """A server that stops (is killed, crashes) while it sends a reply: the reply ends
    with the connection, its JSON half-way (or its last character in two). The error
    said 'corrupt json ...; is this really a game server, on the right port?', which
    sends a student looking for the wrong fault."""
    answers = kept_replies(ok(JOINED)) if keep_alive else replies(ok(JOINED), sent)

    def stops(conn: socket.socket, fake: FakeServer) -> None:
        answers(conn, fake)
        if keep_alive:  # the join was answered: the state's reply stops half-way
            fake.read_request(conn)
            conn.sendall(sent)
            conn.close()

    api = GameServerAPI("127.0.0.1", fake(stops).port, "Echo", players=1,
                        keep_alive=keep_alive)
    api.join()
    with pytest.raises(GameServerError, match=(
            rf"^api: corrupt json received from server 127.0.0.1:\d+: the reply stops in the "
            rf"middle after {len(sent)} bytes \(the server closed the connection before its "
            r"end\); did the server stop or crash\? Start it again if so, then try again$")):
        api.state()


@pytest.mark.parametrize(("reply", "expected"), [
    pytest.param(b'{"status": "ok", "da', "^api: corrupt json received from server 127.0.0.1:",
                 id="truncated-json"),
    # The dashboard's port (8080), the one students see in the browser, given instead:
    pytest.param(b"HTTP/1.1 400 Bad Request\r\n\r\n", "^api: corrupt json received .*; port "
                 r"\d+ is a web server's \(the game server's dashboard\?\), not a game "
                 "server's: use the game server's port, 4711", id="wrong-port-http"),
    pytest.param(b"\xff\xfe\x00garbage", "^api: could not decode binary data received from",
                 id="not-utf8"),
    pytest.param(b"\x15\x03\x03\x00\x02\x02\x46", "it answered with TLS; the server uses TLS: "
                 r"call enable_tls\(\)", id="tls-alert"),
    pytest.param(b"[1, 2]", "^api: unexpected reply received from server", id="not-an-object"),
    pytest.param(b'{"status": "maybe"}', "^api: unexpected reply received from server",
                 id="unknown-status"),
    pytest.param(b'{"status": "ok", "data": 5}',
                 "^api: unexpected reply received from server .* to join", id="bad-join-data"),
    # Wrong shapes that used to pass join and fail later with a TypeError, or a
    # RecursionError from the decoder: each is a GameServerError saying what came.
    pytest.param(b"[" * 100_000, "^api: corrupt json received from server", id="nested-deep"),
    pytest.param(ok({**JOINED, "request_size_max": "big"}),
                 "^api: unexpected reply received from server .* to join", id="limit-not-int"),
    pytest.param(ok({**JOINED, "player_id": "0"}),
                 "^api: unexpected reply received from server .* to join", id="id-not-int"),
    pytest.param(ok({**JOINED, "key": None}),
                 "^api: unexpected reply received from server .* to join", id="key-not-str"),
    pytest.param(ok({**JOINED, "session": ["auto-7"]}),
                 "^api: unexpected reply received from server .* to join", id="session-not-str"),
])
def test_broken_replies_are_reported(fake, reply, expected) -> None:
    broken = fake(replies(reply))
    api = GameServerAPI("127.0.0.1", broken.port, "Echo", players=1)
    with pytest.raises(GameServerError, match=expected):
        api.join()



@pytest.mark.parametrize("data", [{"board": []}, {"current": 0, "gameover": False},
                                  {"current": [0]}, [], None], ids=str)
@pytest.mark.parametrize("call", ["state", "states"])
def test_a_state_without_current_and_gameover_is_reported(fake, data, call) -> None:
    """The module promises both keys in every state; a broken server's state without them
    passed, and the student's loop failed with KeyError: 'gameover' (or, for a 'current'
    that is no list, TypeError: argument of type 'int' is not iterable)."""
    def pushes(conn: socket.socket, fake: FakeServer, request: bytes) -> None:
        if b'"subscribe"' in request:
            conn.sendall(ok(None) + TERMINATOR + ok(data) + TERMINATOR)
            fake.go.wait(TIMEOUT)
        else:
            conn.sendall(ok(data))

    api = GameServerAPI("127.0.0.1", fake(after_join(pushes)).port, "Echo", players=1)
    api.join()
    with pytest.raises(GameServerError, match=r"^api: unexpected reply received from server "
                                              r"127.0.0.1:\d+ to state: "):
        api.state() if call == "state" else next(api.states())


@pytest.mark.parametrize("keep_alive", [False, True])
def test_request_too_large_for_the_server_gets_the_servers_message(make_server,
                                                                     keep_alive) -> None:
    # Before join the module does not know the server's limit, so the server must say it.
    small = make_server(request_size_max=100)
    api = GameServerAPI(small.host, small.port, "Echo", players=1, name="x" * 900_000,
                        keep_alive=keep_alive)
    with pytest.raises(GameServerError) as caught:
        api.join()
    assert str(caught.value) == "server: request size exceeded by client"


def test_bytes_after_a_kept_alive_reply_are_reported(fake) -> None:
    chatty = fake(kept_replies(ok(JOINED) + TERMINATOR + b"surprise"))
    api = GameServerAPI("127.0.0.1", chatty.port, "Echo", players=1, keep_alive=True)
    with pytest.raises(GameServerError, match="^api: corrupt json .*: bytes after the reply"):
        api.join()
    assert api._idle == []


@pytest.mark.parametrize("keep_alive", [False, True])
def test_empty_reply_is_reported(fake, keep_alive) -> None:
    def hang_up(conn: socket.socket, fake: FakeServer) -> None:
        fake.read_request(conn)
        conn.close()

    mute = fake(hang_up)
    api = GameServerAPI("127.0.0.1", mute.port, "Echo", players=1, keep_alive=keep_alive)
    with pytest.raises(GameServerError, match="^api: empty or no response received from "
                                              f"server 127.0.0.1:{mute.port}"):
        api.join()
    assert mute.connections == 1  # a new connection is never tried twice


def test_reset_before_the_reply_is_reported(fake) -> None:
    def hang_up_hard(conn: socket.socket, fake: FakeServer) -> None:
        fake.read_request(conn)
        reset(conn)

    rude = fake(hang_up_hard)
    api = GameServerAPI("127.0.0.1", rude.port, "Echo", players=1)
    with pytest.raises(GameServerError, match="^api: connection reset by server "
                                              f"127.0.0.1:{rude.port} before it answered"):
        api.join()


def wait_until_delivered(conn: socket.socket) -> None:
    """Wait until the peer's kernel has acknowledged every byte sent on ``conn``."""
    siocoutq = 0x5411  # Linux: bytes in the send queue not yet acknowledged
    deadline = time.monotonic() + TIMEOUT
    while struct.unpack("i", fcntl.ioctl(conn, siocoutq, b"\0" * 4))[0]:
        assert time.monotonic() < deadline, "the client never received the bytes"
        time.sleep(0.001)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses a Linux ioctl")
def test_reset_in_the_middle_of_the_reply_is_reported(fake) -> None:
    def cut_off(conn: socket.socket, fake: FakeServer) -> None:
        fake.read_request(conn)
        conn.sendall(b'{"status": "ok", ')
        wait_until_delivered(conn)  # a reset would discard bytes still on their way
        reset(conn)

    rude = fake(cut_off)
    api = GameServerAPI("127.0.0.1", rude.port, "Echo", players=1)
    with pytest.raises(GameServerError, match="^api: connection closed by server "
                                              f"127.0.0.1:{rude.port} in the middle of the reply"):
        api.join()


# ---------------------------------------------------------------- keep-alive


def test_keep_alive_game_against_the_real_server_reuses_one_connection(server) -> None:
    with GameServerAPI(server.host, server.port, "Echo", players=1, keep_alive=True) as api:
        api.join()
        kept = api._idle[0]
        for n in range(20):
            api.move(msg=n)
            assert api.state()["echo"] == n
        with pytest.raises(IllegalMove, match="^game: "):
            api.move(msg="error")
        assert api._idle == [kept]
    assert api._idle == []
    assert kept.fileno() == -1  # closed by the with block


def test_idle_connection_closed_by_the_server_is_replaced_transparently(make_server) -> None:
    quick = make_server(connection_timeout=0.3)
    with GameServerAPI(quick.host, quick.port, "Echo", players=1, keep_alive=True) as api:
        api.join()
        kept = api._idle[0]
        # Wait for the real event: the server closes the idle connection.
        readable, _, _ = select.select([kept], [], [], TIMEOUT)
        assert readable
        api.move(msg="after the idle timeout")
        assert api.state()["echo"] == "after the idle timeout"
        assert api._idle != [kept]


def test_server_that_ignores_keep_alive_still_works(fake) -> None:
    classic = fake(replies(ok(JOINED), ok(None), ok(state(echo=2))))
    with GameServerAPI("127.0.0.1", classic.port, "Echo", players=1, keep_alive=True) as api:
        api.join()
        api.move(msg=2)
        assert api.state() == state(echo=2)
        assert api._idle == []
    assert classic.connections == 3


def serve_then(after_first: Callable[[socket.socket, FakeServer], None]):
    """A keep-alive handler: the first connection answers a join, then runs ``after_first``.

    Later connections answer every request with ``ok(None)``.
    """

    def handler(conn: socket.socket, fake: FakeServer) -> None:
        if fake.connections == 1:
            fake.read_request(conn)
            conn.sendall(ok(JOINED) + TERMINATOR)
            after_first(conn, fake)
        else:
            while fake.read_request(conn):
                conn.sendall(ok(state(echo="again")) + TERMINATOR)

    return handler


def test_connection_closed_while_idle_is_noticed_before_sending(fake) -> None:
    def close_idle(conn: socket.socket, fake: FakeServer) -> None:
        conn.close()
        fake.done.set()

    server = fake(serve_then(close_idle))
    with GameServerAPI("127.0.0.1", server.port, "Echo", players=1, keep_alive=True) as api:
        api.join()
        assert server.done.wait(TIMEOUT)
        api.move(msg="x")
    server.next_request()  # the join
    assert b'"move"' in server.next_request()
    assert server.requests.empty()  # sent once, on the new connection
    assert server.connections == 2


@pytest.mark.parametrize("came", ["an extra reply", "the server's last word"])
def test_a_reply_nobody_asked_for_is_refused_before_the_next_request(fake, came) -> None:
    """A server that answered the join twice, the second reply a moment after the first:
    the kept connection was found readable before the next request and replaced without
    a word (one reply taken for another's, if it came a moment later still). Now it is
    an error, and the request after it goes on a new connection. Our server's last word
    as it stops (an error reply without the terminator, then the close) is no such
    reply: the request goes on a new connection, as after a close without a word."""
    extra = (ok(state(echo="extra")) + TERMINATOR if came == "an extra reply"
             else b'{"status": "error", "message": "server: server is shutting down"}')

    def answer_twice(conn: socket.socket, fake: FakeServer) -> None:
        assert fake.go.wait(TIMEOUT)
        conn.sendall(extra)
        fake.read_request(conn)  # (until the client closes)

    server = fake(serve_then(answer_twice))
    with GameServerAPI("127.0.0.1", server.port, "Echo", players=1, keep_alive=True) as api:
        api.join()
        kept = api._idle[0]
        server.go.set()
        assert select.select([kept], [], [], TIMEOUT)[0]  # the extra reply came
        if came == "an extra reply":
            with pytest.raises(GameServerError, match=(
                    r"^api: server 127.0.0.1:\d+ sent a reply that no request asked for "
                    r"\(b'\{\"status\": \"ok\", \"data\": \{\"echo\": \"extra\".*\); is this "
                    r"really a game server\? The connection is closed: the next request goes "
                    r"on a new one$")):
                api.state()
            assert kept.fileno() == -1
        assert api.state() == state(echo="again")  # on a new connection
    assert server.connections == 2


def test_move_is_resent_when_sending_on_a_reused_connection_fails(fake, monkeypatch) -> None:
    def reset_idle(conn: socket.socket, fake: FakeServer) -> None:
        reset(conn)
        fake.done.set()

    server = fake(serve_then(reset_idle))
    # Pretend the reset came in just after the idle check, so that sending fails.
    monkeypatch.setattr(game_server_api, "_unasked", lambda sock: None)
    with GameServerAPI("127.0.0.1", server.port, "Echo", players=1, keep_alive=True) as api:
        api.join()
        assert server.done.wait(TIMEOUT)
        api.move(msg="x")
    server.next_request()  # the join
    assert b'"move"' in server.next_request()
    assert server.requests.empty()
    assert server.connections == 2


@pytest.mark.parametrize(("call", "resent"), [("move", False), ("restart", False),
                                              ("state", True)])
def test_reused_connection_closed_after_the_request_resends_only_reads(fake, call,
                                                                        resent) -> None:
    def read_then_hang_up(conn: socket.socket, fake: FakeServer) -> None:
        fake.read_request(conn)
        conn.close()

    server = fake(serve_then(read_then_hang_up))
    with GameServerAPI("127.0.0.1", server.port, "Echo", players=1, keep_alive=True) as api:
        api.join()
        if resent:
            assert getattr(api, call)() == state(echo="again")
        else:
            with pytest.raises(GameServerError, match=f"before it answered; the {call} may or "
                                                      "may not have reached the server"):
                getattr(api, call)()
    server.next_request()  # the join
    server.next_request()  # the request on the reused connection
    if resent:
        assert f'"{call}"'.encode() in server.next_request()
    assert server.requests.empty()
    assert server.connections == (2 if resent else 1)


def test_close_without_keep_alive_is_a_no_op(server) -> None:
    api = GameServerAPI(server.host, server.port, "Echo", players=1)
    api.close()
    with api as same:
        assert same is api
        api.join()
    api.move(msg="still usable")
    api.close()


def test_close_closes_the_kept_connection_and_the_object_stays_usable(fake) -> None:
    def serve_until_eof(conn: socket.socket, fake: FakeServer) -> None:
        while fake.read_request(conn):
            conn.sendall((ok(JOINED) if fake.connections == 1 else ok(None)) + TERMINATOR)
        fake.done.set()  # the client closed its side

    server = fake(serve_until_eof)
    api = GameServerAPI("127.0.0.1", server.port, "Echo", players=1, keep_alive=True)
    api.join()
    api.close()
    assert server.done.wait(TIMEOUT)
    api.move(msg="again")
    api.close()
    assert server.connections == 2


def test_threads_may_share_a_keep_alive_object(server) -> None:
    session = unique("chat")
    api = GameServerAPI(server.host, server.port, "Chat", session=session, players=1,
                        keep_alive=True)
    with api:
        api.join()
        api.move(name="ann")
        api.state()
        result: queue.Queue[Any] = queue.Queue()
        thread = threading.Thread(target=lambda: result.put(api.state()))
        thread.start()  # blocks in state() on one connection ...
        api.move(message="hi")  # ... while this one uses another
        assert result.get(timeout=TIMEOUT)["messages"] == [["ann", "hi"]]
        thread.join(TIMEOUT)


# ---------------------------------------------------------------- Python 3.8


def python38() -> str | None:
    """Path of a working Python 3.8 interpreter, if this machine has one.

    ``$PYTHON38`` wins; then pyenv's 3.8.18, then ``python3.8`` on the PATH
    (which may be a pyenv shim that does not run, hence the trial run).
    """
    candidates = [os.environ.get("PYTHON38"),
                  os.path.expanduser("~/.pyenv/versions/3.8.18/bin/python"),
                  shutil.which("python3.8")]
    for candidate in candidates:
        if not candidate or not os.path.exists(candidate):
            continue
        try:
            probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                                   capture_output=True, text=True, timeout=TIMEOUT)
        except OSError:
            continue
        if probe.stdout.strip() == "(3, 8)":
            return candidate
    return None


SCRIPT_38 = """
import sys
sys.path.insert(0, sys.argv[1])
from game_server_api import GameServerAPI, GameServerError, IllegalMove
port = int(sys.argv[2])
assert sys.version_info[:2] == (3, 8), sys.version
for keep_alive in (False, True):
    with GameServerAPI('127.0.0.1', port, 'Echo', players=1, keep_alive=keep_alive) as api:
        api.join()
        api.move(msg=[1, 'two'])
        assert api.state()['echo'] == [1, 'two']
        try:
            api.move(msg='error')
        except IllegalMove as error:
            print('illegal:', error)
try:
    GameServerAPI('127.0.0.1', int(sys.argv[3]), 'Echo', players=1).join()
except GameServerError as error:
    print('refused:', error)
api = GameServerAPI('127.0.0.1', port, 'Echo', players=1)
api.enable_tls()
try:
    api.join()
except GameServerError as error:
    print('tls:', error)
print('done')
"""


def test_module_works_under_python_3_8(make_server) -> None:
    interpreter = python38()
    if interpreter is None:
        pytest.skip("no working Python 3.8 found ($PYTHON38, pyenv 3.8.18, python3.8 on PATH)")
    plain = make_server(connection_timeout=1)
    done = subprocess.run([interpreter, "-W", "error", "-c", SCRIPT_38, str(ROOT),
                           str(plain.port), str(free_port())],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("illegal: game: ")
    assert lines[1].startswith("illegal: game: ")
    assert lines[2].startswith("refused: api: unable to connect to 127.0.0.1:")
    assert lines[3].startswith("tls: api: TLS error: the TLS handshake")
    assert lines[4] == "done"


# ---------------------------------------------------------------- extensions and retries


def test_discover_lists_games_without_joining(server) -> None:
    games = {g["name"]: g for g in GameServerAPI(server.host, server.port, "Any").discover()
             ["games"]}
    assert games["TicTacToe"]["min_players"] == 2
    assert "Yahtzee" in games


def test_state_can_bring_the_legal_moves(server) -> None:
    apis = {0: GameServerAPI(server.host, server.port, "NumberRace", unique("lm"), 2),
            1: None}
    apis[1] = GameServerAPI(server.host, server.port, "NumberRace", apis[0]._session, 2)
    join_all(apis[0], apis[1])
    by_id = {api._player_id: api for api in apis.values()}
    assert by_id[0].state(legal_moves=True)["legal_moves"] == [{"add": 1}, {"add": 2},
                                                                {"add": 3}]
    assert by_id[1].state(legal_moves=True)["legal_moves"] == []  # not player 1's turn
    by_id[0].move(add=3)
    assert "legal_moves" not in by_id[0].state()  # a classic request gets no extra key


def test_legal_moves_off_sends_the_classic_bytes(fake) -> None:
    server = fake(replies(ok(JOINED), ok({"current": [0], "gameover": False})))
    api = GameServerAPI(server.host, server.port, "TicTacToe")
    api.join()
    server.next_request()
    api.state(legal_moves=False)
    assert b"legal_moves" not in server.next_request()


def test_state_waits_for_a_restarting_server_and_asks_once_more(tmp_path, monkeypatch) -> None:
    # The window a client waits for a restarting server is 10 s; a server's start took
    # longer on a loaded vCPU (the state() gave up: "did not answer again within 10 s, last
    # try: connection refused"). What is tested is the retry, not the window's length.
    monkeypatch.setattr(game_server_api, "_RETRY_WINDOW", 4 * TIMEOUT)
    port = free_port()
    # DEBUG logs each request: the test sees when the state has reached the server.
    args = ("--port", str(port), "--store-path", str(tmp_path / "s.sqlite3"),
            "--log-level", "DEBUG")
    first = ServerProcess(*args)
    first.port = port
    first.start()
    api = GameServerAPI("127.0.0.1", port, "Echo", unique("retry"), 1)
    api.join()
    api.state()  # the next state() blocks until something changes
    result: list[Any] = []
    waiter = threading.Thread(target=lambda: result.append(api.state()))
    waiter.start()
    assert first.wait_for_log("request State(", count=2)
    assert first.proc is not None
    first.proc.kill()  # the blocked state's connection drops
    first.stop()
    again = ServerProcess(*args)
    again.port = port
    again.start()
    try:
        waiter.join(4 * TIMEOUT)
        assert result == [{"echo": "", "current": [0], "gameover": False}]
    finally:
        again.stop()


def test_state_gives_up_on_a_server_that_is_gone_and_says_what_to_do(
        tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(game_server_api, "_RETRY_WINDOW", 1.0)
    port = free_port()
    args = ("--port", str(port), "--log-level", "DEBUG")
    server = ServerProcess(*args)
    server.port = port
    server.start()
    api = GameServerAPI("127.0.0.1", port, "Echo", unique("gone"), 1)
    api.join()
    api.state()
    failed: list[BaseException] = []

    def wait() -> None:
        try:
            api.state()
        except GameServerError as err:
            failed.append(err)

    waiter = threading.Thread(target=wait)
    waiter.start()
    try:
        assert server.wait_for_log("request State(", count=2)
        assert server.proc is not None
        server.proc.kill()  # the blocked state's connection drops; nobody starts it again
    finally:
        server.stop()
    waiter.join(TIMEOUT)
    message = str(failed[0])
    assert message.startswith(f"api: the connection to server 127.0.0.1:{port} was lost "
                              "while state() waited, and the server did not answer again "
                              "within 1 s (last try: unable to connect to ")
    assert "connection refused" in message and message.endswith(
        "; is the server still running? Start it again if it stopped, then call state() again")


@pytest.mark.filterwarnings("ignore:state.. waits until the game changes")  # the fake's
# states say it is player 0's turn, and player 0 asks again without moving
def test_state_waits_no_longer_than_its_window_for_a_server_that_accepts_and_hangs(
        fake, monkeypatch) -> None:
    """Each probe once waited up to the 120 s reply timeout: a hung server held a student's
    program for minutes, twice, before any message."""
    monkeypatch.setattr(game_server_api, "_RETRY_WINDOW", 1.0)
    monkeypatch.setattr(game_server_api, "_REPLY_TIMEOUT", TIMEOUT)

    def drop_then_hang(conn: socket.socket, fake: FakeServer) -> None:
        request = fake.read_request(conn)
        if b'"type": "join"' in request:
            conn.sendall(ok(JOINED))
        elif b'"type": "state"' in request and not fake.done.is_set():
            fake.done.set()  # the first state is answered, the second dropped
            conn.sendall(ok({"current": [0], "gameover": False}))
        elif b'"type": "discover"' in request:
            fake.go.wait(TIMEOUT)  # accepted, and never a word: a hung server
        conn.close()

    server = fake(drop_then_hang)
    api = GameServerAPI(server.host, server.port, "TicTacToe")
    api.join()
    api.state()
    with pytest.raises(GameServerError) as caught:
        api.state()
    assert "did not answer again within 1 s (last try: it accepted the connection but did " \
           "not answer); is the server still running?" in str(caught.value)


def test_a_move_is_never_sent_twice(fake) -> None:
    def drop_moves(conn: socket.socket, fake: FakeServer) -> None:
        request = fake.read_request(conn)
        if b'"type": "join"' in request:
            conn.sendall(ok(JOINED))
        conn.close()  # a move gets no answer at all

    server = fake(drop_moves)
    api = GameServerAPI(server.host, server.port, "TicTacToe")
    api.join()
    with pytest.raises(GameServerError, match="api: empty or no response"):
        api.move(position=1)
    assert server.connections == 2  # join + one move, no retry


@pytest.mark.parametrize("case", ["answered before", "over TLS"])
def test_a_request_closed_unanswered_advises_tls_only_while_it_may_be_the_cause(
        fake, tls_pair, case) -> None:
    """A new connection closed without a word said "if the server uses TLS, call
    enable_tls() before join()" to a program that had called it, and to one the server
    had answered without TLS (the server killed meanwhile, a proxy whose server is down).
    A program whose first request goes so is still told (a classic TLS server)."""
    def drop_moves(conn: socket.socket, fake: FakeServer) -> None:
        if case == "over TLS":
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls_pair)
            conn = context.wrap_socket(conn, server_side=True)
        request = fake.read_request(conn)
        if b'"type": "join"' in request and case == "answered before":
            conn.sendall(ok(JOINED))
        conn.close()

    server = fake(drop_moves)
    api = GameServerAPI(server.host, server.port, "TicTacToe")
    if case == "over TLS":
        api.enable_tls()
    else:
        first = GameServerAPI(server.host, server.port, "TicTacToe")
        with pytest.raises(GameServerError, match="; if the server uses TLS, call "
                                                  r"enable_tls\(\) before join\(\)"):
            first.discover()  # (its first request, unanswered)
        api.join()
    with pytest.raises(GameServerError) as caught:
        api.join() if case == "over TLS" else api.move(position=1)
    assert str(caught.value).startswith("api: empty or no response received from server ")
    assert str(caught.value).endswith("; did the server stop or crash? If it runs, is this "
                                      "really a game server, on the right port?")


# ---------------------------------------------------------------- poll (never waits)


def next_poll(api: GameServerAPI, legal_moves: bool = False) -> dict[str, Any]:
    """Call poll() until it returns a state, waiting for the poll connection in between."""
    while True:
        state = api.poll(legal_moves=legal_moves)
        if state is not None:
            return state
        readable, _, _ = select.select([api._poll_sock], [], [], TIMEOUT)
        assert readable, "no reply arrived on the poll connection"


def wait_until_a_request_waits(server: Any, game: str, session: str) -> None:
    """Wait until a state request (poll's) waits at ``server`` (a ServerThread) in a session."""
    def waiting() -> int:
        found = server.server.lobby.sessions.get((game, session))
        return found.waiting if found is not None else 0

    deadline = time.monotonic() + TIMEOUT
    while server.call(waiting) < 1:
        assert time.monotonic() < deadline, "the request never reached the server"
        time.sleep(0.005)


def polling_echo_player(server: Any) -> GameServerAPI:
    """An Echo player whose poll() request waits at ``server`` (a ServerThread)."""
    api = GameServerAPI(server.host, server.port, "Echo", players=1)
    api.join()
    next_poll(api)
    wait_until_a_request_waits(server, "Echo", api._session)
    return api


def nothing_arrives(api: GameServerAPI, other: GameServerAPI) -> bool:
    """poll() has nothing, even after a later request of ``other`` was answered.

    The server handles the requests in order, so a state reply caused by
    anything before ``other``'s discover would be there first.
    """
    other.discover()
    readable, _, _ = select.select([api._poll_sock], [], [], 0)
    return not readable and api.poll() is None


@pytest.mark.parametrize("keep_alive", [False, True])
def test_poll_returns_each_new_state_once_and_none_in_between(server, keep_alive) -> None:
    with GameServerAPI(server.host, server.port, "Echo", unique("poll"), 1,
                       keep_alive=keep_alive) as api:
        api.join()
        assert next_poll(api) == {"echo": "", "current": [0], "gameover": False}
        assert nothing_arrives(api, api)
        api.move(msg="hello")  # move() works while poll's request waits at the server
        assert next_poll(api)["echo"] == "hello"
        assert nothing_arrives(api, api)
        with pytest.raises(IllegalMove):
            api.move(msg="error")  # a rejected move changes the state too (the contract)
        assert next_poll(api)["echo"] == "error"
        api.move(msg="quit")
        assert next_poll(api) == {"echo": "quit", "current": [], "gameover": True}
        kept = api._poll_sock
        api.restart()
        assert next_poll(api) == {"echo": "", "current": [0], "gameover": False}
        assert api._poll_sock is kept  # one connection for every poll
    assert kept.fileno() == -1  # closed by the with block


def test_poll_sees_the_other_players_move(server) -> None:
    session = unique("pollttt")
    apis = tictactoe_players(server, session)
    a, b = apis[0], apis[1]
    first = next_poll(a)["current"][0]
    next_poll(b)
    apis[first].move(position=4)
    for api in (a, b):
        state = next_poll(api)
        assert state["board"][4] == first and state["current"] == [1 - first]
    a.close()
    b.close()


def test_poll_for_an_observer_and_with_legal_moves(server) -> None:
    session = unique("pollobs")
    ann, bob = (GameServerAPI(server.host, server.port, "NumberRace", session, 2, name=name)
                for name in ("ann", "bob"))
    join_all(ann, bob)
    watchers = [GameServerAPI(server.host, server.port, "NumberRace", session, name=name)
                for name in ("ann", "bob")]
    for watcher in watchers:
        watcher.observe()
    seen = next_poll(watchers[0])
    assert seen == ann.state() and "legal_moves" not in seen
    with_moves = next_poll(watchers[1], legal_moves=True)
    assert with_moves["legal_moves"] in ([], [{"add": 1}, {"add": 2}, {"add": 3}])
    for watcher in watchers:
        watcher.close()


def test_state_takes_the_answer_to_the_waiting_poll_request(server) -> None:
    # The server answers one request per change and view: had state() asked
    # again, poll's waiting request would get the change and state() would wait.
    session = unique("pollstate")
    api = GameServerAPI(server.host, server.port, "Echo", session, 1)
    api.join()
    next_poll(api)
    wait_until_a_request_waits(server, "Echo", session)
    api.move(msg="next")
    result: queue.Queue[Any] = queue.Queue()
    threading.Thread(target=lambda: result.put(api.state()), daemon=True).start()
    assert result.get(timeout=TIMEOUT)["echo"] == "next"
    api.move(msg="after")
    assert next_poll(api)["echo"] == "after"  # poll() goes on after state() took its answer
    api.close()


def test_poll_raises_the_servers_error_when_the_session_is_overwritten(server) -> None:
    session = unique("pollover")
    api = GameServerAPI(server.host, server.port, "Echo", session, 1)
    api.join()
    next_poll(api)  # a request now waits for the next change ...
    wait_until_a_request_waits(server, "Echo", session)  # ... once the server has it
    GameServerAPI(server.host, server.port, "Echo", session, 1).join()  # replaces the session
    with pytest.raises(GameServerError, match="^framework: game session was overwritten; "):
        next_poll(api)
    with pytest.raises(GameServerError, match="^framework: invalid key"):
        next_poll(api)  # the next poll() asks again: our key is not in the new session
    api.close()


def test_poll_raises_the_shutdown_message_of_a_stopping_server(make_server) -> None:
    stopping = make_server()
    api = polling_echo_player(stopping)
    stopping.stop()
    with pytest.raises(GameServerError, match="^server: server is shutting down$"):
        next_poll(api)
    with pytest.raises(GameServerError, match="connection refused"):
        api.poll()  # asks again: nobody listens any more
    api.close()


def test_poll_after_the_connection_dropped_reconnects_once_the_server_is_back(tmp_path) -> None:
    port = free_port()
    args = ("--port", str(port), "--store-path", str(tmp_path / "s.sqlite3"))
    first = ServerProcess(*args)
    first.port = port
    first.start()
    api = GameServerAPI("127.0.0.1", port, "Echo", unique("polldrop"), 1)
    api.join()
    api.move(msg="saved")
    assert next_poll(api)["echo"] == "saved"
    assert first.proc is not None
    first.proc.kill()  # the waiting request's connection drops without a reply
    first.stop()
    readable, _, _ = select.select([api._poll_sock], [], [], TIMEOUT)
    assert readable
    with pytest.raises(GameServerError, match=f"^api: unable to connect to 127.0.0.1:{port}: "
                                              "connection refused"):
        api.poll()
    again = ServerProcess(*args)
    again.port = port
    again.start()
    try:
        assert next_poll(api) == {"echo": "saved", "current": [0], "gameover": False}
    finally:
        api.close()
        again.stop()


def test_poll_works_with_a_server_that_ignores_keep_alive(fake) -> None:
    # A classic server does not push: it refuses the subscription (and closes), and
    # poll() keeps a state request waiting instead. The third state answer is for the
    # request poll() leaves waiting after the second.
    unknown = json.dumps({"status": "error", "message": "framework: unknown request type "
                                                        "'subscribe'"}).encode()
    classic = fake(replies(ok(JOINED), unknown, ok(state(n=1)), ok(state(n=2)), ok(state(n=3))))
    api = GameServerAPI("127.0.0.1", classic.port, "Echo", players=1)
    api.join()
    assert next_poll(api) == state(n=1)  # the reply ended with the connection
    assert next_poll(api) == state(n=2)  # asked again at once, on a new connection
    classic.next_request()  # the join
    assert classic.next_request() == (
        b'{"type": "subscribe", "game": "Echo", "session": "auto-7", "player_id": 0, '
        b'"key": "k1", "observer": false, "keep_alive": true}EOT\x00')  # asked once only
    assert classic.next_request() == (
        b'{"type": "state", "game": "Echo", "session": "auto-7", "player_id": 0, "key": "k1", '
        b'"observer": false, "keep_alive": true}EOT\x00')
    api.close()


def test_poll_before_join_raises_without_contacting_the_server(fake) -> None:
    server = fake(replies())
    with pytest.raises(GameServerError, match="join a game first"):
        GameServerAPI("127.0.0.1", server.port, "Echo").poll()
    assert server.connections == 0


def test_poll_over_tls(make_server, tls_pair) -> None:
    secure = make_server(tls_cert=tls_pair[0], tls_key=tls_pair[1])
    with GameServerAPI(secure.host, secure.port, "Echo", players=1) as api:
        api.enable_tls(tls_pair[0])
        api.join()
        assert next_poll(api)["echo"] == ""
        assert api.poll() is None
        api.move(msg="secret")
        assert next_poll(api)["echo"] == "secret"


def drop_all_connections(server: Any) -> None:
    """Cut every client connection of ``server`` (a ServerThread) without a reply."""
    def drop() -> None:
        for connection in list(server.server.connections):
            connection.abort()

    server.call(drop)


def test_poll_asks_again_on_a_new_connection_when_its_connection_drops(make_server) -> None:
    running = make_server()
    api = polling_echo_player(running)
    dropped = api._poll_sock
    drop_all_connections(running)
    readable, _, _ = select.select([dropped], [], [], TIMEOUT)
    assert readable
    assert api.poll() is None  # nothing new: the request waits again, on a new connection
    assert api._poll_sock is not dropped
    wait_until_a_request_waits(running, "Echo", api._session)
    api.move(msg="still here")
    assert next_poll(api)["echo"] == "still here"
    api.close()


POLL_SCRIPT_38 = """
import select, sys
sys.path.insert(0, sys.argv[1])
from game_server_api import GameServerAPI, GameServerError
assert sys.version_info[:2] == (3, 8), sys.version

def next_poll(api):
    while True:
        state = api.poll()
        if state is not None:
            return state
        select.select([api._poll_sock], [], [], 30)

def step(text):  # tell the test, wait until it has done its part
    print(text, flush=True)
    sys.stdin.readline()

api = GameServerAPI('127.0.0.1', int(sys.argv[2]), 'Echo', sys.argv[3], 1)
api.join()
print('first:', repr(next_poll(api)['echo']))
api.move(msg='polled')
print('moved:', next_poll(api)['echo'])
step('drop me')
dropped = api._poll_sock
select.select([dropped], [], [], 30)
print('after drop:', api.poll(), api._poll_sock is not dropped)
step('waiting again')
api.move(msg='again')
print('again:', next_poll(api)['echo'])
step('overwrite me')
try:
    next_poll(api)
except GameServerError as error:
    print('error:', error)
api.close()
print('done')
"""


def test_poll_works_under_python_3_8(make_server) -> None:
    interpreter = python38()
    if interpreter is None:
        pytest.skip("no working Python 3.8 found ($PYTHON38, pyenv 3.8.18, python3.8 on PATH)")
    running = make_server()
    session = unique("poll38")
    script = subprocess.Popen([interpreter, "-W", "error", "-c", POLL_SCRIPT_38, str(ROOT),
                               str(running.port), session], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert script.stdin is not None and script.stdout is not None
    try:
        assert script.stdout.readline() == "first: ''\n"
        assert script.stdout.readline() == "moved: polled\n"
        assert script.stdout.readline() == "drop me\n"
        wait_until_a_request_waits(running, "Echo", session)
        drop_all_connections(running)
        script.stdin.write("go\n")
        script.stdin.flush()
        assert script.stdout.readline() == "after drop: None True\n"
        assert script.stdout.readline() == "waiting again\n"
        wait_until_a_request_waits(running, "Echo", session)
        script.stdin.write("go\n")
        script.stdin.flush()
        assert script.stdout.readline() == "again: again\n"
        assert script.stdout.readline() == "overwrite me\n"
        wait_until_a_request_waits(running, "Echo", session)
        GameServerAPI(running.host, running.port, "Echo", session, 1).join()
        script.stdin.write("go\n")
        script.stdin.flush()
        assert script.stdout.readline().startswith(
            "error: framework: game session was overwritten; ")
        assert script.stdout.readline() == "done\n"
        assert script.wait(TIMEOUT) == 0
    finally:
        if script.poll() is None:
            script.kill()
        script.wait(TIMEOUT)
        script.stdin.close()
        script.stdout.close()


# ---------------------------------------------------------------- push: states(), poll()


def test_states_gives_each_state_once_and_the_end_of_a_game_before_the_next(server) -> None:
    apis = tictactoe_players(server, unique("states"))
    results: queue.Queue[Any] = queue.Queue()

    def second_player() -> None:  # plays first free cells on the states it is sent
        try:
            seen = []
            for state in apis[1].states():
                seen.append(state)
                if len([s for s in seen if s["gameover"]]) == 2:  # the end, handed over
                    break
                if not state["gameover"] and 1 in state["current"]:
                    apis[1].move(position=state["board"].index(-1))
            results.put(seen)
        except Exception as error:  # noqa: BLE001 - handed to the test
            results.put(error)

    threading.Thread(target=second_player, daemon=True).start()
    boards = []
    for state in apis[0].states():
        boards.append(state["board"])
        if state["gameover"]:
            break
        if 0 in state["current"]:
            apis[0].move(position=state["board"].index(-1))
    assert boards == [b for i, b in enumerate(boards) if b not in boards[:i]]  # none twice
    apis[0].restart()  # the other player is handed the end of this game once more
    seen = results.get(timeout=TIMEOUT)
    assert not isinstance(seen, Exception), seen
    assert [s["gameover"] for s in seen][-2:] == [True, True]
    assert seen[-1]["board"] == seen[-2]["board"] == boards[-1]
    for api in apis.values():
        api.close()


def test_states_starts_with_what_state_gave_when_nothing_changed_since(server) -> None:
    """print(api.state()), then a for loop over api.states(): a student's first program.

    The server does not send a state twice, so without this the loop would wait
    for a change that only this player can make: on its own turn, for ever.
    """
    with GameServerAPI(server.host, server.port, "Echo", unique("after-state"), 1) as api:
        api.join()
        first = api.state()
        loop = api.states()
        assert next(loop) == first  # at once: it is this player's turn
        api.move(msg="hi")
        assert next(loop)["echo"] == "hi"
        again = api.states()  # a second loop does not repeat what the first one gave
        api.move(msg="there")
        assert next(again)["echo"] == "there"


def test_poll_gives_pushed_states_oldest_first(server) -> None:
    with GameServerAPI(server.host, server.port, "Echo", unique("pushed"), 1) as api:
        api.join()
        assert next_poll(api)["echo"] == ""
        assert api._pushing  # our server pushes
        for message in ("a", "b", "c"):
            api.move(msg=message)
        assert [next_poll(api)["echo"] for _ in range(3)] == ["a", "b", "c"]
        assert nothing_arrives(api, api)
        api.move(msg="d")
        assert api.state()["echo"] == "d"  # state() reads the same pushes
        assert nothing_arrives(api, api)


@pytest.mark.filterwarnings("ignore:state.. waits until the game changes")  # the fake's
# states say it is player 0's turn, and player 0 asks again without moving
def test_states_with_a_server_that_does_not_push_asks_with_state(fake) -> None:
    unknown = json.dumps({"status": "error", "message": "framework: unknown request type "
                                                        "'subscribe'"}).encode()
    classic = fake(replies(ok(JOINED), unknown, ok(state(n=1)), ok(state(n=2))))
    api = GameServerAPI("127.0.0.1", classic.port, "Echo", players=1)
    api.join()
    states = api.states()
    assert [next(states), next(states)] == [state(n=1), state(n=2)]
    assert [json.loads(classic.next_request()[:-4])["type"] for _ in range(4)] == [
        "join", "subscribe", "state", "state"]


# ---------------------------------------------------------------- a hostile server


SENT_MAX = 32 * 1024 * 1024  # bytes a flooding fake sends at most (bounds the test, not the module)


def flood(conn: socket.socket, start: bytes = b"") -> None:
    """Send ``start`` and then bytes without end (up to SENT_MAX), until the client hangs up."""
    chunk = b"x" * 65536
    conn.sendall(start)
    for _ in range(SENT_MAX // len(chunk)):
        conn.sendall(chunk)
    conn.close()


def after_join(then: Callable[[socket.socket, FakeServer, bytes], None]
               ) -> Callable[[socket.socket, FakeServer], None]:
    """A classic handler: a join is answered; any other request is handed to ``then``."""

    def handler(conn: socket.socket, fake: FakeServer) -> None:
        request = fake.read_request(conn)
        if b'"join"' in request:
            conn.sendall(ok(JOINED))
        else:
            then(conn, fake, request)
        conn.close()

    return handler


@pytest.mark.parametrize("keep_alive", [False, True])
def test_a_reply_without_end_is_refused_at_the_size_limit(fake, monkeypatch,
                                                          keep_alive) -> None:
    monkeypatch.setattr(game_server_api, "REPLY_MAX", 256 * 1024)
    flooding = fake(lambda conn, fake: (fake.read_request(conn),
                                        flood(conn, b'{"status": "ok", "data": "')))
    api = GameServerAPI("127.0.0.1", flooding.port, "Echo", players=1, keep_alive=keep_alive)
    with pytest.raises(GameServerError, match=f"^api: the reply from server 127.0.0.1:"
                                              f"{flooding.port} to join is larger than "
                                              "262,144 bytes"):
        api.join()


def test_a_push_without_end_is_refused_at_the_size_limit(fake, monkeypatch) -> None:
    monkeypatch.setattr(game_server_api, "REPLY_MAX", 256 * 1024)

    def pushes_forever(conn: socket.socket, fake: FakeServer, request: bytes) -> None:
        if b'"subscribe"' in request:
            flood(conn, ok(None) + TERMINATOR)
        else:  # after the pushes: the old module asked again, and got this
            conn.sendall(json.dumps({"status": "error", "message": "no more"}).encode())

    flooding = fake(after_join(pushes_forever))
    api = GameServerAPI("127.0.0.1", flooding.port, "Echo", players=1)
    api.join()
    with pytest.raises(GameServerError, match="^api: the reply from server .* to state is "
                                              "larger than"):
        api.poll()  # subscribes, and reads what has come: the limit may be reached here ...
        api.state()  # ... or here, waiting for the rest of the push, which never ends
    assert api._poll_sock is None and api._poll_reply == b""


@pytest.mark.parametrize("call", ["states", "poll", "subscribe"])
def test_a_long_push_is_searched_for_its_end_once(fake, monkeypatch, call) -> None:
    """Each read of 4 KB searched the whole push (or reply) so far for its terminator: 17 MB
    of 'E' (the terminator's first byte: the slowest to search) without end took the client
    67 s of CPU, and it reported the time limit of 120 s instead of the size limit (with 'x':
    21 s of CPU, and a real 16 MB state as long). Now 0.1 s: well within the 20 s here.
    A subscribe reply refused as too large left its connection open, 16 MB kept."""
    monkeypatch.setattr(game_server_api, "_REPLY_TIMEOUT", 20.0)
    endless = b'{"status": "ok", "data": "' + b"E" * (game_server_api.REPLY_MAX + 65536)
    unknown = json.dumps({"status": "error", "message": "framework: unknown request type "
                                                        "'subscribe'"}).encode()

    def sends(conn: socket.socket, fake: FakeServer, request: bytes) -> None:
        if call == "poll" and b'"subscribe"' in request:  # a server without push ...
            conn.sendall(unknown + TERMINATOR)
            return
        if call != "subscribe":  # ... keeps a state request waiting, or pushes
            conn.sendall(ok(None) + TERMINATOR if b'"subscribe"' in request else b"")
        conn.sendall(endless)
        fake.go.wait(TIMEOUT)

    api = GameServerAPI("127.0.0.1", fake(after_join(sends)).port, "Echo", players=1)
    api.join()
    with pytest.raises(GameServerError, match=r"is larger than 16,777,216 bytes"):
        if call == "poll":
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                assert api.poll() is None
        else:
            next(api.states())
    assert api._poll_sock is None and api._poll_seen == 0


GONE_SERVER = """
import socket, subprocess, sys, threading
sys.path.insert(0, sys.argv[1])
import game_server_api
from game_server_api import GameServerAPI, GameServerError
game_server_api._KEEPALIVE_IDLE = game_server_api._KEEPALIVE_INTERVAL = 1
game_server_api._KEEPALIVE_COUNT = 2
listener = socket.create_server(("127.0.0.1", 0))
asked = threading.Event()

def serve():  # answers the join (unless it is the call), then nothing, ever
    while True:
        conn, _ = listener.accept()
        request = b""
        while not request.endswith(b"EOT\\x00"):
            request += conn.recv(4096)
        if sys.argv[2] != "join" and b'"join"' in request:
            conn.sendall(b'{"status": "ok", "data": {"player_id": 0, "key": "k"}}')
            conn.close()
        elif b'"subscribe"' in request:
            conn.sendall(b'{"status": "ok", "data": null}EOT\\x00')
            asked.set()
        else:
            asked.set()

threading.Thread(target=serve, daemon=True).start()
# The network goes (as when the server's machine is switched off): nothing arrives.
threading.Thread(target=lambda: asked.wait() and subprocess.run(
    ["ip", "link", "set", "lo", "down"], check=True)).start()
api = GameServerAPI("127.0.0.1", listener.getsockname()[1], "Echo", players=1)
try:
    if sys.argv[2] != "join":
        api.join()
    print(getattr(api, sys.argv[2])() if sys.argv[2] != "states" else next(api.states()))
except GameServerError as error:
    print(error)
"""


def isolated_network() -> list[str]:
    """The command that runs a shell in a network of its own (no root needed), or skip."""
    command = ["unshare", "--user", "--map-root-user", "--net", "sh", "-c"]
    try:
        ready = subprocess.run([*command, "ip link set lo up"], capture_output=True,
                               timeout=TIMEOUT).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ready = False
    if not ready:
        pytest.skip("needs unshare and ip (Linux, user namespaces allowed)")
    return command


@pytest.mark.parametrize("call", ["join", "state", "states"])
def test_a_server_that_is_gone_without_a_word_is_noticed(call) -> None:
    """join() and state() wait as long as the server lets them. A server whose machine
    was switched off (here: the loopback taken down, in a network of its own) sends
    nothing, not even a reset: they waited for ever. Now the system's keep-alive checks
    end the connection (2 minutes; 3 s here), with an error that says so."""
    script = ["ip link set lo up && exec \"$0\" -c \"$1\" \"$2\" \"$3\"",
              sys.executable, GONE_SERVER, str(ROOT), call]
    result = subprocess.run([*isolated_network(), *script], capture_output=True, text=True,
                            timeout=TIMEOUT)
    kind = "state" if call == "states" else call
    assert re.fullmatch(
        rf"api: the connection to server 127.0.0.1:\d+ was lost while waiting for its reply "
        rf"to {kind}: Connection timed out \(the system checks a silent connection after 1 "
        r"s; the server answered none of 2 checks\); is the server still running, and the "
        r"network between up\?\n", result.stdout), (result.stdout, result.stderr)


def test_the_default_reply_limit_is_16_mib_and_its_error_says_how_to_raise_it(fake) -> None:
    # The limit was 64 MiB: decoding such a reply took the client 4 times that and more.
    large = ok({"text": "x" * game_server_api.REPLY_MAX})
    api = GameServerAPI("127.0.0.1", fake(replies(ok(JOINED), large)).port, "Echo", players=1)
    api.join()
    with pytest.raises(GameServerError, match=r"to state is larger than 16,777,216 bytes "
                                              r"\(game_server_api.REPLY_MAX\).* raise the "
                                              r"limit after the import: game_server_api."
                                              r"REPLY_MAX = 64 \* 1024 \* 1024$"):
        api.state()


@pytest.mark.parametrize("keep_alive", [False, True])
def test_a_reply_of_too_many_values_is_refused_before_it_is_decoded(fake, monkeypatch,
                                                                    keep_alive) -> None:
    """Three bytes of '{},' decode to 72 bytes of memory: a reply of 64 MiB of them took the
    client 1.7 GB and 11 s. Now its commas, lists and dicts are counted first (bytes.count:
    no Python per byte), and more than REPLY_ITEMS_MAX are refused (~67 MB at most, measured:
    docs/reliability.md)."""
    many = ok(state(board=[{}] * 600_000))  # 1.8 MB; 1,200,006 commas, lists and dicts
    answers = kept_replies if keep_alive else replies
    api = GameServerAPI("127.0.0.1", fake(answers(ok(JOINED), many)).port, "Echo", players=1,
                        keep_alive=keep_alive)
    api.join()
    with pytest.raises(GameServerError, match=r"to state holds more than 1,000,000 values "
                                              r"\(game_server_api.REPLY_ITEMS_MAX\): it has "
                                              r"1,200,006 commas, lists and dicts; .* raise "
                                              r"the limit after the import"):
        api.state()
    # A game whose states are that large raises the limit, as the error says.
    monkeypatch.setattr(game_server_api, "REPLY_ITEMS_MAX", 2_000_000)
    api = GameServerAPI("127.0.0.1", fake(answers(ok(JOINED), many)).port, "Echo", players=1,
                        keep_alive=keep_alive)
    api.join()
    assert len(api.state()["board"]) == 600_000


def test_a_push_of_too_many_values_is_refused_and_ends_the_subscription(fake) -> None:
    many = ok(state(board=[0] * 1_100_000)) + TERMINATOR

    def pushes_many(conn: socket.socket, fake: FakeServer, request: bytes) -> None:
        conn.sendall(ok({"subscription": 1}) + TERMINATOR + many)
        fake.go.wait(TIMEOUT)

    api = GameServerAPI("127.0.0.1", fake(after_join(pushes_many)).port, "Echo", players=1)
    api.join()
    with pytest.raises(GameServerError, match="to state holds more than 1,000,000 values"):
        next(api.states())
    assert api._poll_sock is None


@pytest.mark.parametrize(("call", "sent"), [
    ("move", b""), ("move", b'{"status": "ok", '), ("state", b'{"status": "ok", '),
    ("discover", b""), ("discover", b'{"status": "ok", ')])
def test_a_reply_that_does_not_come_whole_times_out(fake, monkeypatch, call, sent) -> None:
    monkeypatch.setattr(game_server_api, "_REPLY_TIMEOUT", 0.3)

    def stops(conn: socket.socket, fake: FakeServer, request: bytes) -> None:
        conn.sendall(sent)
        fake.go.wait(5)  # the old module waited until then, and got broken JSON or nothing

    stuck = fake(after_join(stops))
    api = GameServerAPI("127.0.0.1", stuck.port, "Echo", players=1)
    api.join()
    with pytest.raises(GameServerError, match=f"^api: server 127.0.0.1:{stuck.port} did not "
                                              f"send its whole reply to {call} within 0.3 s"):
        getattr(api, call)(**({"msg": 1} if call == "move" else {}))


def test_join_and_state_wait_longer_than_the_reply_timeout_for_their_answer(
        fake, monkeypatch) -> None:
    # They wait for other players as long as the server lets them; the limit
    # starts with the reply's first byte.
    monkeypatch.setattr(game_server_api, "_REPLY_TIMEOUT", 0.2)

    def slow(conn: socket.socket, fake: FakeServer) -> None:
        request = fake.read_request(conn)
        fake.go.wait(0.6)  # others take their time
        conn.sendall(ok(JOINED if b'"join"' in request else state(echo=1)))
        conn.close()

    patient = fake(slow)
    api = GameServerAPI("127.0.0.1", patient.port, "Echo", players=1)
    assert api.join() == 0
    assert api.state() == state(echo=1)


def test_poll_reports_a_push_that_stops_half_way(fake, monkeypatch) -> None:
    monkeypatch.setattr(game_server_api, "_REPLY_TIMEOUT", 0.3)

    def stops(conn: socket.socket, fake: FakeServer, request: bytes) -> None:
        conn.sendall(ok(None) + TERMINATOR + b'{"status": "ok", "da')
        fake.go.wait(TIMEOUT)

    stuck = fake(after_join(stops))
    api = GameServerAPI("127.0.0.1", stuck.port, "Echo", players=1)
    api.join()
    deadline = time.monotonic() + TIMEOUT
    with pytest.raises(GameServerError, match="did not send its whole reply to state within"):
        while time.monotonic() < deadline:  # poll() never waits: the error comes by itself
            assert api.poll() is None
            time.sleep(0.01)
    assert api._poll_sock is None


@pytest.mark.parametrize("call", ["poll", "states"])
def test_a_subscribe_reply_that_drips_times_out(fake, monkeypatch, call) -> None:
    """A byte now and then, each well within the time limit, never the whole reply: the
    limit counts from the request, not from the last byte (it did, so the module read
    on for as long as the server dripped; then took the drip for a classic server)."""
    monkeypatch.setattr(game_server_api, "_REPLY_TIMEOUT", 0.3)

    def drips(conn: socket.socket, fake: FakeServer, request: bytes) -> None:
        if b'"subscribe"' not in request:  # the old module fell back to a state request
            conn.sendall(json.dumps({"status": "error", "message": "no more"}).encode())
            return
        conn.sendall(b'{"status": "ok", "data": ')
        for _ in range(100):  # 5 s of drip, a byte every 0.05 s
            if fake.go.wait(0.05):
                return
            conn.sendall(b" ")

    dripping = fake(after_join(drips))
    api = GameServerAPI("127.0.0.1", dripping.port, "Echo", players=1)
    api.join()
    with pytest.raises(GameServerError, match=f"^api: server 127.0.0.1:{dripping.port} did "
                                              "not send its whole reply to subscribe within "
                                              "0.3 s"):
        if call == "poll":
            api.poll()
        else:
            next(api.states())
    assert api._poll_sock is None


@pytest.mark.parametrize("call", ["move", "state", "poll"])
def test_a_reply_that_keeps_coming_past_its_deadline_is_cut_off_there(fake, monkeypatch,
                                                                      call) -> None:
    """Past its deadline a read waited 1 ms (``_wait_until``'s least), and the reply went
    on while bytes came that often: a server that sent a byte every 0.5 ms held a call
    for as long as it dripped (up to REPLY_MAX: 16 MB, hours), not ``_REPLY_TIMEOUT``.
    Here the bytes come without end, faster than the module reads them; the deadline
    (5 ms) passes long before REPLY_MAX (24 MB, some thousands of reads), and no read
    follows it. (``move``, and ``poll``'s subscribe, count from the request; ``state``
    from its reply's first byte.)"""
    monkeypatch.setattr(game_server_api, "REPLY_MAX", 24 * 1024 * 1024)

    def floods(conn: socket.socket, fake: FakeServer, request: bytes) -> None:
        flood(conn, b'{"status": "ok", "data": "')

    flooding = fake(after_join(floods))
    api = GameServerAPI("127.0.0.1", flooding.port, "Echo", players=1)
    api.join()
    monkeypatch.setattr(game_server_api, "_REPLY_TIMEOUT", 0.005)
    kind = "subscribe" if call == "poll" else call
    with pytest.raises(GameServerError, match=f"^api: server 127.0.0.1:{flooding.port} did "
                                              f"not send its whole reply to {kind} within "
                                              "0.005 s"):
        getattr(api, call)(**({"msg": 1} if call == "move" else {}))


@pytest.mark.parametrize("call", ["join", "state", "states"])
def test_join_and_state_wait_no_longer_than_wait_max_for_a_server_that_never_answers(
        fake, monkeypatch, call) -> None:
    """A server that accepts and never answers (broken, or no game server) held join() and
    state() for ever: they wait for the other players, and the system's keep-alive checks
    are answered by the server's machine. Now WAIT_MAX (an hour; here 0.3 s) ends the
    wait, with an error that names the limit and says how to raise it."""
    def silent(conn: socket.socket, fake: FakeServer) -> None:
        request = fake.read_request(conn)
        if call != "join" and b'"join"' in request:
            conn.sendall(ok(JOINED))
            conn.close()
            return
        if b'"subscribe"' in request:
            conn.sendall(ok(None) + TERMINATOR)  # subscribed; then no state ever comes
        fake.go.wait(TIMEOUT)

    server = fake(silent)
    api = GameServerAPI("127.0.0.1", server.port, "Echo", players=1)
    if call != "join":
        api.join()  # (before the limit: under load a join may take longer than 0.3 s)
    monkeypatch.setattr(game_server_api, "WAIT_MAX", 0.3)
    kind = "state" if call == "states" else call
    with pytest.raises(GameServerError, match=(
            rf"^api: server 127.0.0.1:{server.port} did not answer {kind} within 0.3 s "
            r"\(game_server_api.WAIT_MAX\): .*; are the other players' programs still "
            r"running\? .* game_server_api.WAIT_MAX = 4 \* 3600 \(None: no limit\)$")):
        api.join() if call == "join" else api.state() if call == "state" else next(
            api.states())
    assert api._poll_sock is None  # (states: the subscription is given up, asked again next)


def test_poll_is_not_ended_by_wait_max(fake, monkeypatch) -> None:
    # poll() never waits, so no wait of it runs into WAIT_MAX, however long it polls.
    def subscribed(conn: socket.socket, fake: FakeServer, request: bytes) -> None:
        conn.sendall(ok(None) + TERMINATOR)
        fake.go.wait(TIMEOUT)

    api = GameServerAPI("127.0.0.1", fake(after_join(subscribed)).port, "Echo", players=1)
    api.join()
    monkeypatch.setattr(game_server_api, "WAIT_MAX", 0.0)
    for _ in range(3):
        assert api.poll() is None
    assert api._pushing


@pytest.mark.parametrize("python", ["limit", "lowered", "switched-off", "raised", "old"])
def test_a_number_of_too_many_digits_is_refused_before_it_is_decoded(fake, monkeypatch,
                                                                    python) -> None:
    """Decimal text to int is quadratic in its digits: a hostile reply of one 16 MB number
    took about 17 minutes of CPU to decode (400,000 digits: 0.64 s). Python 3.11 (3.8.14,
    3.9.14, 3.10.7) refuses more than 4300 digits; an older Python (without
    sys.get_int_max_str_digits), or a program that switched the limit off (0) or raised it
    (for its own big numbers: 10**8 digits bounds nothing), decoded it. Now the module
    refuses it there too. A limit lowered below 4300 digits is the one the error names."""
    big = b'{"status": "ok", "data": {"current": [0], "gameover": false, "n": -' + b"7" * 5000
    api = GameServerAPI("127.0.0.1", fake(replies(ok(JOINED), big + b"}}")).port, "Echo",
                        players=1)
    api.join()
    limit = sys.get_int_max_str_digits()
    try:
        if python != "limit":
            sys.set_int_max_str_digits({"lowered": 1000, "raised": 10**8}.get(python, 0))
        if python == "old":
            monkeypatch.delattr(sys, "get_int_max_str_digits")
        with pytest.raises(GameServerError, match=r"^api: the reply from server .* to state "
                                                  r"holds a number of more than "
                                                  fr"{1000 if python == 'lowered' else 4300} "
                                                  r"digits; "
                                                  r"is this really a game server\?$"):
            api.state()
    finally:
        monkeypatch.undo()
        sys.set_int_max_str_digits(limit)


def test_a_reply_nobody_asked_for_on_the_poll_connection_is_forgotten_with_it() -> None:
    """The poll connection found holding a reply nobody asked for was closed and the error
    raised, but kept as the poll connection: every later ``state``/``poll`` call then
    raised ``OSError: Bad file descriptor`` instead of a ``GameServerError``, for good. Now
    it is forgotten with the error, and the next poll opens a new one."""
    api = GameServerAPI("127.0.0.1", 9, "Echo", players=1)
    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(b'{"status": "ok", "data": {}}' + TERMINATOR)
        api._poll_sock = ours
        with pytest.raises(GameServerError, match="sent a reply that no request asked for"):
            api._poll_send(False)
        assert api._poll_sock is None and ours.fileno() == -1
        assert select.select([theirs], [], [], TIMEOUT)[0] and theirs.recv(100) == b""
    finally:
        ours.close()
        theirs.close()
