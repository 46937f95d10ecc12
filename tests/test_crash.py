"""kill -9 in the middle of many games: every game finishes, no move lost or doubled.

Twelve tic-tac-toe sessions are played by two client threads each, while two
more sessions wait for their second player (clients blocked in join). When
enough moves are acknowledged, the server is killed with SIGKILL and started
again on the same port and store file. The clients behave like careful
students' clients: they retry what failed on a dropped connection, and after
a move whose reply was lost they look at the board to learn whether it
counted. At the end, the store's move log of every game must hold exactly the
moves the clients had acknowledged, each once.

``CRASH_RUNS=20 python -m pytest tests/test_crash.py`` repeats the whole test.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gameserver.store import HistoryReader
from tests.serverproc import ServerProcess
from tests.wire import TERMINATOR

SESSIONS = 12
LATE_SESSIONS = 2  # their second player joins only after the crash
KILL_AFTER_MOVES = 30
DEADLINE = 120.0  # generous: only to avoid hanging forever


class Down(Exception):
    """The server is not there (killed, or not yet back)."""


def exchange(port: int, request: dict[str, Any]) -> dict[str, Any]:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(json.dumps(request).encode() + TERMINATOR)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
    except OSError as err:
        raise Down(str(err)) from None
    if not reply:
        raise Down("no reply")
    return json.loads(reply)


class CarefulClient:
    """One seat of a tic-tac-toe session that survives a server crash."""

    def __init__(self, port: int, session: str, rng: random.Random) -> None:
        self.port = port
        self.session = session
        self.rng = rng
        self.player_id: int | None = None
        self.key = ""
        self.acknowledged: list[int] = []  # positions this seat knows were accepted
        self.final: dict[str, Any] | None = None

    def retry(self, request: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                return exchange(self.port, request)
            except Down:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)  # the server is restarting: try again shortly

    def join(self) -> None:
        while True:
            reply = self.retry({"type": "join", "game": "TicTacToe", "session": self.session,
                                "players": 2, "name": ""})
            if reply["status"] == "ok":
                self.player_id = reply["data"]["player_id"]
                self.key = reply["data"]["key"]
                return
            # The session this seat waited in was lost with the crash: join again.
            assert "timed out" not in reply["message"], reply

    def request(self, kind: str, **extra: Any) -> dict[str, Any]:
        return {"type": kind, "game": "TicTacToe", "session": self.session,
                "player_id": self.player_id, "key": self.key, **extra}

    def state(self) -> dict[str, Any]:
        reply = self.retry(self.request("state", observer=False))
        assert reply["status"] == "ok", reply
        return reply["data"]

    def play(self, on_move: Any) -> None:
        self.join()
        state = self.state()
        while not state["gameover"]:
            if self.player_id not in state["current"]:
                state = self.state()  # blocks until the other player moved
                continue
            position = self.rng.choice([i for i, c in enumerate(state["board"]) if c == -1])
            time.sleep(self.rng.random() * 0.01)  # think a little: games overlap the crash
            try:
                reply = exchange(self.port, self.request("move", move={"position": position}))
            except Down:
                # Did the move count before the crash? The board tells (after a restart
                # the first state returns at once).
                state = self.state()
                if state["board"][position] == self.player_id:
                    self.acknowledged.append(position)
                    on_move()
                continue
            assert reply["status"] == "ok", reply
            self.acknowledged.append(position)
            on_move()
            state = self.state()
        self.final = state


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_crash_scenario(tmp_path: Path, seed: int, sync: str) -> None:
    db = str(tmp_path / f"crash-{seed}.sqlite3")
    port = free_port()
    args = ("--port", str(port), "--store-path", db, "--store-sync", sync)
    server = ServerProcess(*args)
    server.port = port
    server.start()
    rng = random.Random(seed)
    moves = threading.Semaphore(0)
    clients = []
    for n in range(SESSIONS + LATE_SESSIONS):
        clients += [CarefulClient(port, f"crash-{n}", random.Random(rng.random()))
                    for _ in range(2)]
    errors: list[BaseException] = []

    def run(client: CarefulClient) -> None:
        try:
            client.play(moves.release)
        except BaseException as err:  # noqa: BLE001 - reported by the test
            errors.append(err)

    threads = {id(c): threading.Thread(target=run, args=(c,), daemon=True) for c in clients}
    late = clients[2 * SESSIONS + 1::2]  # the second seat of each late session
    for client in clients:
        if client not in late:
            threads[id(client)].start()
    for _ in range(KILL_AFTER_MOVES):
        assert moves.acquire(timeout=DEADLINE), "games did not get going"
    assert server.proc is not None
    server.proc.kill()  # mid-game: clients are blocked in state, in join, or moving
    server.stop()
    restarted = ServerProcess(*args)
    restarted.port = port
    restarted.start()
    try:
        for client in late:
            threads[id(client)].start()
        for thread in threads.values():
            thread.join(DEADLINE)
        assert not errors, errors
        assert not any(t.is_alive() for t in threads.values()), "a client got stuck"
    finally:
        restarted.stop()

    store = HistoryReader(db)
    records = {r["session"]: r for r in store.finished_games(limit=1000)}
    for n in range(SESSIONS + LATE_SESSIONS):
        pair = clients[2 * n: 2 * n + 2]
        record = store.finished_game(records[f"crash-{n}"]["id"])
        assert record is not None
        accepted = [m["move"]["position"] for m in record["steps"] if m["rejection"] is None]
        assert len(accepted) == len(set(accepted)), f"a move was doubled: {accepted}"
        acknowledged = sorted(pair[0].acknowledged + pair[1].acknowledged)
        assert sorted(accepted) == acknowledged, f"session {n}: log {accepted}"
        final = pair[0].final
        assert final is not None and final == pair[1].final
        assert sorted(i for i, c in enumerate(final["board"]) if c != -1) == acknowledged


RUNS = int(os.environ.get("CRASH_RUNS", "1"))


@pytest.mark.parametrize("sync", ["normal", "full"])
@pytest.mark.parametrize("run", range(RUNS))
def test_kill_9_mid_game_loses_and_doubles_nothing(tmp_path: Path, run: int, sync: str) -> None:
    run_crash_scenario(tmp_path, seed=run, sync=sync)
