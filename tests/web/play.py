"""Play real games through the client module, for the dashboard's tests and screenshots.

Players are ``GameServerAPI`` objects, exactly as students use them. To know
whose turn it is without blocking in ``state()``, the helpers read the
session's views on the server's loop (which never waits).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from game_server_api import GameServerAPI, GameServerError
from tests.serverproc import ServerThread

WAIT = 10.0  # seconds: only so a broken test fails instead of hanging


def web_server(**overrides: Any) -> ServerThread:
    """A started server with its dashboard on a free port (and whatever else is asked)."""
    overrides.setdefault("web", True)
    overrides.setdefault("web_port", 0)
    return ServerThread(**overrides).start()


def dashboard_port(server: ServerThread) -> int:
    assert server.server is not None and server.server.dashboard is not None
    return int(server.server.dashboard.port)


def operator_cookie(server: ServerThread, token: str) -> dict[str, str]:
    """The ``Cookie`` header of a browser that logged in with ``token`` as a browser does
    (``/?token=``: a 303 that sets it); its key is drawn at random when the server starts."""
    connection = http.client.HTTPConnection("127.0.0.1", dashboard_port(server), timeout=WAIT)
    try:
        connection.request("GET", "/?token=" + urllib.parse.quote(token))
        reply = connection.getresponse()
        reply.read()
    finally:
        connection.close()
    assert reply.status == 303, reply.status
    return {"Cookie": reply.headers["Set-Cookie"].split(";")[0]}


def get_json(server: ServerThread, path: str, headers: dict[str, str] | None = None) -> Any:
    url = f"http://127.0.0.1:{dashboard_port(server)}{path}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                timeout=WAIT) as reply:
        return json.loads(reply.read())


def wait_until(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Return ``condition()`` once it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)  # reading another thread's state: there is nothing to await


def joined(server: ServerThread, game: str, session: str) -> int:
    """How many players have joined ``game``/``session`` (0 if it does not exist)."""
    def count() -> int:
        assert server.server is not None
        found = server.server.lobby.sessions.get((game, session))
        return len(found.players) if found is not None else 0
    return int(server.call(count))


def seat(server: ServerThread, game: str, session: str, names: Sequence[str],
         players: int | None = None) -> list[GameServerAPI]:
    """Start ``game``/``session`` and join one client per name, in id order.

    Returns:
        The clients; ``clients[i]`` has player id ``i``. Joining happens in
        threads (a join waits for the others), one after the other so that
        the ids follow ``names``.
    """
    size = players or len(names)
    clients = [GameServerAPI("127.0.0.1", server.port, game, session=session,
                             players=size if i == 0 else None, name=name)
               for i, name in enumerate(names)]
    errors: list[BaseException] = []

    def join(client: GameServerAPI) -> None:
        try:
            client.join()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = []
    for i, client in enumerate(clients):
        thread = threading.Thread(target=join, args=(client,), daemon=True)
        thread.start()
        threads.append(thread)
        if i + 1 < size:
            wait_until(lambda n=i + 1: joined(server, game, session) >= n or errors,
                       f"player {i} to join {game}/{session}")
    for thread in threads:
        thread.join(WAIT)
    if errors:
        raise errors[0]
    return clients


class Waiting:
    """A client blocked in ``join`` of a session that waits for more players."""

    def __init__(self, client: GameServerAPI, thread: threading.Thread) -> None:
        self.client = client
        self.thread = thread

    def stop(self) -> None:
        """Nothing to do: the join ends with an error when the session or server ends."""


def seat_partially(server: ServerThread, game: str, session: str, name: str,
                   players: int) -> Waiting:
    """Start ``game``/``session`` for ``players`` players but join only one."""
    client = GameServerAPI("127.0.0.1", server.port, game, session=session,
                           players=players, name=name)

    def join() -> None:
        try:
            client.join()
        except GameServerError:
            pass  # the session timed out or the server stopped: expected

    thread = threading.Thread(target=join, daemon=True)
    thread.start()
    wait_until(lambda: joined(server, game, session) == 1, f"{name} to join {game}/{session}")
    return Waiting(client, thread)


def observer(server: ServerThread, game: str, session: str, name: str) -> GameServerAPI:
    """An observer of the player called ``name``."""
    client = GameServerAPI("127.0.0.1", server.port, game, session=session, name=name)
    client.observe()
    return client


def make_quiet(server: ServerThread, game: str, token: str, seconds: float) -> None:
    """Pretend nobody sent a request to this session for ``seconds``. Run on the loop."""
    assert server.server is not None
    server.server.lobby.sessions[(game, token)].last_activity -= seconds


def view(server: ServerThread, game: str, session: str, player: int) -> dict[str, Any]:
    """What ``player`` would get from ``state()`` now, without waiting.

    Read in the server's process, not through the dashboard: a spectator of
    a game with hidden information does not get the players' views.
    """
    def read() -> dict[str, Any]:
        assert server.server is not None
        return server.server.lobby.sessions[(game, session)].game.view(player)
    return dict(server.call(read))


def turn(server: ServerThread, game: str, session: str) -> list[int]:
    return view(server, game, session, 0)["current"]


# ---------------------------------------------------------------- scripted games

def play_tictactoe(server: ServerThread, clients: list[GameServerAPI], session: str,
                   cells: Sequence[int], after: Callable[[], None] | None = None) -> None:
    """Whoever is on turn marks the next cell of ``cells``; ``after()`` after each move."""
    for cell in cells:
        if view(server, "TicTacToe", session, 0)["gameover"]:
            return
        (current,) = turn(server, "TicTacToe", session)
        clients[current].move(position=cell)
        if after is not None:
            after()


FLEET_A = [[0, 0, 5, "h"], [2, 0, 4, "h"], [4, 0, 3, "h"], [6, 0, 3, "h"], [8, 0, 2, "h"]]
FLEET_B = [[0, 9, 5, "v"], [0, 7, 4, "v"], [5, 5, 3, "h"], [9, 2, 3, "h"], [7, 8, 2, "v"]]


def place_fleets(clients: list[GameServerAPI]) -> None:
    clients[0].move(ships=FLEET_A)
    clients[1].move(ships=FLEET_B)


def shoot(server: ServerThread, clients: list[GameServerAPI], session: str,
          shots: dict[int, list[list[int]]]) -> None:
    """Both players shoot in turn, each from its own list, until one list runs out."""
    queues = {0: list(shots[0]), 1: list(shots[1])}
    while True:
        state = view(server, "Battleship", session, 0)
        if state["gameover"]:
            return
        (current,) = state["current"]
        if not queues[current]:
            return
        clients[current].move(shot=queues[current].pop(0))


def play_connect_four(server: ServerThread, clients: list[GameServerAPI], session: str,
                      columns: Sequence[int]) -> None:
    for column in columns:
        (current,) = turn(server, "ConnectFour", session)
        clients[current].move(column=column)


def play_crazy_eights(server: ServerThread, clients: list[GameServerAPI], session: str,
                      moves: int) -> None:
    """Play legally: the first fitting card (an 8 names hearts), else draw, else pass."""
    for _ in range(moves):
        state = view(server, "CrazyEights", session, 0)
        if state["gameover"]:
            return
        (current,) = state["current"]
        mine = view(server, "CrazyEights", session, current)
        top_rank = mine["top"][:-1]
        hand = [mine["drawn"]] if mine["drawn"] else mine["hand"]
        fitting = [c for c in hand if c[-1] == mine["suit"] or c[:-1] == top_rank
                   or c[:-1] == "8"]
        if fitting:
            card = fitting[0]
            if card[:-1] == "8":
                clients[current].move(play=card, suit="H")
            else:
                clients[current].move(play=card)
        elif not mine["drawn"] and mine["draw_pile"]:
            clients[current].move(draw=True)
        else:
            clients[current].move(**{"pass": True})
