"""A hand-over held for its save, on a kept-alive connection whose client reads nothing.

A restart owes every other view the finished game's end (the hand-over,
``Session._state_for``); the reply that hands it over waits for its save,
held by its connection (``_held.py``). Held replies go out once saved, but
not while the client leaves its replies unread (``OUTPUT_FULL``): the reply
stays woken and unsent for as long as the client keeps the connection.
Meanwhile the player's other connection plays on. When the first one goes,
its reply's Wait is cancelled and the hand-over it carried is lost with it
(``_SavedReply.cancel``: its collection is saved); it must not be handed
again, least of all the later game's end in its place. Real sockets; the
store's commits pass one by one through gates (a disk that takes its time),
so that the held reply's commit lands after the reply before it was written.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gameserver._connstate import OUTPUT_FULL
from gameserver.store import writer
from tests.serverproc import ServerThread
from tests.wire import TERMINATOR, TIMEOUT, until


class Gates:
    """Each commit of the store's writer thread waits at the next gate, while there is
    one (``writer.commit``, in the writer thread only: ``store_sync="full"``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.waiting: list[threading.Event] = []
        self.entered: list[threading.Event] = []
        real = writer.commit

        def gated(db: Any, ops: Any, *file: Any) -> str | None:
            if self.waiting and threading.current_thread().name == "gameserver-store":
                gate = self.waiting.pop(0)
                self.entered.append(gate)
                gate.wait(TIMEOUT)
            return real(db, ops, *file)

        monkeypatch.setattr(writer, "commit", gated)

    def next(self, count: int) -> list[threading.Event]:
        self.waiting[:] = gates = [threading.Event() for _ in range(count)]
        return gates

    def open_all(self) -> None:
        for gate in [*self.waiting, *self.entered]:
            gate.set()
        self.waiting.clear()


class Client:
    """A kept-alive connection to the game port (closed at the test's end: ``OPEN``)."""

    def __init__(self, port: int, receive_buffer: int | None = None) -> None:
        self.sock = socket.socket()
        OPEN.append(self.sock)
        if receive_buffer is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(("127.0.0.1", port))
        self.rest = b""

    def send(self, request: dict[str, Any]) -> None:
        self.sock.sendall(json.dumps({**request, "keep_alive": True}).encode() + TERMINATOR)

    def read(self) -> dict[str, Any]:
        data = self.rest
        while TERMINATOR not in data:
            chunk = self.sock.recv(65536)
            assert chunk, "closed"
            data += chunk
        reply, _, self.rest = data.partition(TERMINATOR)
        return dict(json.loads(reply))

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self.send(request)
        return self.read()

    def reset(self) -> None:
        """The client goes: a reset, not a close that would wait for its replies."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


OPEN: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


@pytest.fixture
def gates(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gates]:
    made = Gates(monkeypatch)
    yield made
    made.open_all()  # whatever failed: the server must be able to stop


def test_a_hand_over_given_up_after_the_next_game_was_restarted_is_not_handed_again(
        make_server: Callable[..., ServerThread], tmp_path: Path, gates: Gates) -> None:
    """Player b's first connection reads nothing; its hand-over of game 1 is held there,
    woken (saved) and unsent, while b's second connection plays game 2, is handed its end
    after a's restart and sees game 3. The first connection goes: owed again, game 1's
    hand-over had b's next state be game 2's end, a second time, in the middle of
    game 3 (a client's loop takes it for the end of the game it plays)."""
    server = make_server(store=True, store_path=str(tmp_path / "s.db"), store_sync="full",
                         reply_buffer_max=49152)
    assert server.server is not None
    first = Client(server.port, receive_buffer=4096)
    echo = first.ask({"type": "join", "game": "Echo", "session": "t", "players": 1,
                      "name": ""})["data"]
    [held_on] = server.call(lambda: list(server.server.connections))
    server.call(held_on._sock.setsockopt, socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    a, b = Client(server.port), Client(server.port)
    a.send({"type": "join", "game": "TicTacToe", "session": "s", "players": 2, "name": "a"})
    seat_b = b.ask({"type": "join", "game": "TicTacToe", "session": "s", "players": 2,
                    "name": "b"})["data"]
    seat_a = a.read()["data"]
    ids = {player: {"game": "TicTacToe", "session": "s", "player_id": seat["player_id"],
                    "key": seat["key"]} for player, seat in (("a", seat_a), ("b", seat_b))}
    clients = {seat_a["player_id"]: (a, ids["a"]), seat_b["player_id"]: (b, ids["b"])}
    session = server.call(lambda: server.server.lobby.sessions[("TicTacToe", "s")])

    def state(client: Client, player: str) -> dict[str, Any]:
        return client.ask({"type": "state", **ids[player], "observer": False})["data"]

    def move() -> None:
        """The player whose turn it is takes the first free cell."""
        mover = server.call(lambda: session.game.current()[0])
        board = server.call(lambda: session.game.view(mover)["board"])
        client, seat = clients[mover]
        assert client.ask({"type": "move", **seat, "move": {"position": board.index(-1)}}
                          )["status"] == "ok"

    def play_to_the_end() -> dict[str, Any]:
        while not server.call(session.game.game_over):
            move()
        assert state(a, "a")["gameover"]
        return state(b, "b")

    play_to_the_end()
    assert a.ask({"type": "restart", **ids["a"]})["status"] == "ok"
    # The first connection leaves replies unread: the next one written fills its bound.
    for _ in range(2):
        first.send({"type": "discover"})
    until(lambda: server.call(lambda: held_on._unsent > 20000), "replies left unread")
    before, handover = gates.next(2)
    first.send({"type": "move", "game": "Echo", "session": "t", "player_id": 0,
                "key": echo["key"], "move": {"msg": "x" * 30000}, "with_state": True})
    until(lambda: before in gates.entered, "the move's commit on its way")
    first.send({"type": "state", **ids["b"], "observer": False})  # game 1's end: held
    until(lambda: server.call(lambda: len(held_on._held or ())) == 2, "both replies held")
    before.set()  # the move's reply is written: the client reads none of it
    until(lambda: handover in gates.entered and server.call(
        lambda: bool(held_on._paused & OUTPUT_FULL)), "the connection's output full")
    handover.set()
    until(lambda: server.call(lambda: held_on._held[0][0].woken), "the hand-over saved")
    assert server.call(lambda: len(held_on._held)) == 1  # and unsent
    # b's second connection plays on: game 2, its end handed over, game 3.
    assert not state(b, "b")["gameover"]
    second_end = play_to_the_end()
    assert a.ask({"type": "restart", **ids["a"]})["status"] == "ok"
    assert state(b, "b") == second_end
    assert not state(b, "b")["gameover"]
    first.reset()  # the first connection goes, its hand-over unsent
    until(lambda: server.call(lambda: len(server.server.connections)) == 2, "it is gone")
    move()
    assert not state(b, "b")["gameover"]  # game 3 goes on (was: game 2's end again)
