"""Workers that die from outside (an OOM kill, an operator's kill) take no game down with them.

Real servers with games from a folder, real worker processes killed with
SIGKILL, real sockets. The server's loop is held in a callback where a test
must control what it notices first; a worker is caught in the middle of an
import or a restore by a game file that opens a FIFO, which the test opens
from its side: then the worker is known to be there, and stays there until
the test closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import sqlite3
import struct
import termios
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gameserver import workers
from gameserver._soon import Soon
from gameserver.checked import Call
from gameserver.guard import GameGuard
from gameserver.isolated import Isolation
from gameserver.workers import WorkerSettings
from tests.serverproc import ServerThread
from tests.wire import TERMINATOR, TIMEOUT, Player, until

DATA = Path(__file__).parent / "data"
GATED = '''"""Gated: a game that may wait, or die, while it is imported or made.

Next to it, a FIFO ``import.gate`` or ``init.gate`` holds the import or the
constructor until the FIFO's writer closes it; a file ``import.die`` or
``init.die`` kills the process there, ``init.fail`` makes the constructor
raise. Move ``{"die": true}`` kills it too.
Its constructor prints when it is through.
"""

import os
import signal
from pathlib import Path

from abstract_game import AbstractGame

HERE = Path(__file__).parent


def gate(name):
    if (HERE / f"{name}.die").exists():
        os.kill(os.getpid(), signal.SIGKILL)
    if (HERE / f"{name}.fail").exists():
        raise RuntimeError("cannot be made now")
    if (HERE / f"{name}.gate").exists():
        with open(HERE / f"{name}.gate", "rb") as fifo:
            fifo.read()


gate("import")


class Gated(AbstractGame):
    def __init__(self, players):
        gate("init")
        self.log = []
        print("Gated made")

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return 0

    def game_over(self):
        return False

    def state(self, player_id):
        return {"log": self.log}

    def move(self, move, player_id):
        if move.get("die"):
            os.kill(os.getpid(), signal.SIGKILL)
        self.log.append(move)
'''
HANG = 60.0  # seconds after which a wait for an event fails instead of hanging


def worker_pid(server: ServerThread) -> int | None:
    return server.call(lambda: server.server.isolation.workers[0].pid)  # type: ignore[union-attr]


def killed(pid: int) -> None:
    """SIGKILL ``pid`` and return once it has died (not reaped: the server reaps it)."""
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:  # the server reaped it already
        pass


def replaced(server: ServerThread, pid: int) -> int:
    """Wait until the server runs a new worker instead of ``pid``; its pid."""
    return until(lambda: (new := worker_pid(server)) not in (pid, None) and new, "replaced", HANG)


def delivered(sock: socket.socket) -> bool:
    """Whether every byte sent on ``sock`` reached the other end (nothing left to send)."""
    return struct.unpack("i", fcntl.ioctl(sock, termios.TIOCOUTQ, b"\0" * 4))[0] == 0


def unread_bytes(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]


def stop(pid: int) -> None:
    """SIGSTOP ``pid`` and return once it has stopped. A signal is acted on only when its
    process runs: on a busy CPU a worker woken by both the signal and a request would read
    the request first."""
    os.kill(pid, signal.SIGSTOP)
    until(lambda: stopped(pid), f"process {pid} stopped", HANG)


def stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        return stat.read().rsplit(b")", 1)[1].split()[0] == b"T"


Gated = tuple[ServerThread, Path, Player]


@pytest.fixture
def gated(make_server: Callable[..., ServerThread], tmp_path: Path) -> Gated:
    """A server with the game Gated from ``tmp_path``, and a session that made a move."""
    (tmp_path / "gated.py").write_text(GATED)
    server = make_server(games_dirs=[str(tmp_path)])
    solo = Player(server.port, "Gated", "g", 1)
    assert solo.join()["status"] == "ok"
    assert solo.move(n=1) == {"status": "ok", "data": None}
    return server, tmp_path, solo


def killed_twice(server: ServerThread, gate: Path) -> None:
    """Kill the worker, then its replacement once it waits at the FIFO ``gate``."""
    pid = worker_pid(server)
    assert pid is not None
    os.mkfifo(gate)
    killed(pid)

    def opened() -> int | None:
        try:
            return os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: nobody reads it yet
            return None

    writer = until(opened, f"a new worker at {gate.name}", HANG)  # it waits there until closed
    gate.unlink()
    killed(replaced(server, pid))
    os.close(writer)


def read_reply(sock: socket.socket) -> dict[str, Any]:
    data = b""
    while TERMINATOR not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the terminator; got {data!r}"
        data += chunk
    return json.loads(data.partition(TERMINATOR)[0])  # type: ignore[no-any-return]


# ---------------------------------------------------------------- a request to a dead worker


def test_a_request_written_to_a_worker_already_dead_is_not_blamed_for_its_death(
        make_server: Callable[..., ServerThread]) -> None:
    """The worker dies from outside; before the loop notices, a move reaches the server and
    is written to the dead worker. The move never ran: it is played in the new worker."""
    server = make_server(games_dirs=[str(DATA / "isolated_games")])
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(json.dumps({"type": "join", "game": "Busy", "session": "dead",
                                 "players": 1, "name": "", "keep_alive": True}).encode()
                     + TERMINATOR)
        key = read_reply(sock)["data"]["key"]
        ids = {"game": "Busy", "session": "dead", "player_id": 0, "key": key,
               "keep_alive": True}
        sock.sendall(json.dumps({"type": "move", **ids, "move": {"say": "before"}}).encode()
                     + TERMINATOR)
        assert read_reply(sock) == {"status": "ok", "data": None}
        pid = worker_pid(server)
        assert pid is not None
        holding, sent = threading.Event(), threading.Event()

        def hold() -> None:
            """The loop, held: the move arrives, then the worker dies, then the loop goes
            on and sees the move first."""
            holding.set()
            assert sent.wait(HANG)
            killed(pid)

        server._loop.call_soon_threadsafe(hold)
        assert holding.wait(HANG)
        sock.sendall(json.dumps({"type": "move", **ids, "move": {"say": "after"}}).encode()
                     + TERMINATOR)
        until(lambda: delivered(sock), "the move delivered", HANG)
        sent.set()
        assert read_reply(sock) == {"status": "ok", "data": None}
    replaced(server, pid)
    solo = Player(server.port, "Busy", "dead", 1)
    solo.player_id, solo.key = 0, key
    assert solo.state()["data"]["log"] == [{"say": "before"}, {"say": "after"}]


def test_a_request_the_worker_had_not_read_when_it_was_killed_is_played_in_the_next(
        make_server: Callable[..., ServerThread]) -> None:
    """The move is written to a live worker that cannot read it yet (stopped, as a process
    the scheduler has not run), then the worker is killed: the move is still in the pipe,
    so it did not kill the worker."""
    server = make_server(games_dirs=[str(DATA / "isolated_games")])
    solo = Player(server.port, "Busy", "frozen", 1)
    assert solo.join()["status"] == "ok"
    assert solo.move(say="before")["status"] == "ok"
    worker = server.call(lambda: server.server.isolation.workers[0])  # type: ignore[union-attr]
    pid = worker_pid(server)
    assert pid is not None
    stop(pid)
    replies: list[dict[str, Any]] = []
    mover = threading.Thread(target=lambda: replies.append(solo.move(say="after")))
    mover.start()
    try:
        until(lambda: server.call(lambda: worker.busy), "the move written to the worker", HANG)
    finally:
        killed(pid)
    mover.join(HANG)
    assert replies == [{"status": "ok", "data": None}]
    assert solo.state()["data"]["log"] == [{"say": "before"}, {"say": "after"}]


def test_a_game_that_kills_its_own_worker_in_a_move_is_still_blamed(gated: Gated) -> None:
    server, _, solo = gated
    pid = worker_pid(server)
    assert solo.move(die=True) == {"status": "error", "message": (
        "framework: game Gated: the game's worker process died during move(): it was killed "
        "by signal SIGKILL (out of memory, or killed)")}
    replaced(server, pid)
    assert solo.state()["data"]["log"] == [{"n": 1}]  # as before that move


# ---------------------------------------------------------------- a new worker killed


def test_a_new_worker_killed_while_it_imports_the_file_is_followed_by_another(
        gated: Gated) -> None:
    server, folder, solo = gated
    killed_twice(server, folder / "import.gate")
    assert solo.move(n=2) == {"status": "ok", "data": None}
    assert solo.state()["data"]["log"] == [{"n": 1}, {"n": 2}]


def test_a_file_that_kills_every_worker_importing_it_is_given_up_after_a_few(
        gated: Gated, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(workers, "IMPORT_RETRY_DELAY", 0.01)
    server, folder, solo = gated
    worker = server.call(lambda: server.server.isolation.workers[0])  # type: ignore[union-attr]
    pid = worker_pid(server)
    assert pid is not None
    (folder / "import.die").touch()
    killed(pid)
    until(lambda: server.call(lambda: worker.broken), "the file given up", HANG)
    assert caplog.text.count("a new worker process tries again") == workers.IMPORT_RETRIES
    message = ("framework: game Gated: its file can no longer be loaded (the game's worker "
               "process died during import(): it was killed by signal SIGKILL (out of memory, "
               "or killed))")
    assert solo.state() == {"status": "error", "message": message}
    assert Player(server.port, "Gated", "new", 1).join() == {"status": "error",
                                                              "message": message}


def test_a_game_whose_new_worker_is_killed_while_restoring_it_comes_back_in_the_next(
        caplog: pytest.LogCaptureFixture, gated: Gated) -> None:
    """Each game comes back once: the one whose restore was under way, and the one whose
    restore was waiting behind it (it used to be queued twice)."""
    caplog.set_level(logging.INFO, logger="gameserver.game")
    server, folder, solo = gated
    other = Player(server.port, "Gated", "other", 1)
    assert other.join()["status"] == "ok"
    assert other.move(n=10) == {"status": "ok", "data": None}

    def made() -> int:  # what Gated printed, logged by the server
        return sum(r.getMessage().endswith(": Gated made") for r in caplog.records)

    before = until(made, "the constructor's prints logged", HANG)  # (2: solo's, other's)
    killed_twice(server, folder / "init.gate")  # as it makes a game again from its seed
    assert solo.move(n=2) == {"status": "ok", "data": None}
    assert solo.state()["data"]["log"] == [{"n": 1}, {"n": 2}]
    assert other.move(n=20) == {"status": "ok", "data": None}
    assert other.state()["data"]["log"] == [{"n": 10}, {"n": 20}]
    until(lambda: made() >= before + 2, "the worker after the kills made both games", HANG)
    assert made() == before + 2


def test_a_game_whose_restore_kills_every_new_worker_is_given_up_after_a_few(
        gated: Gated, caplog: pytest.LogCaptureFixture) -> None:
    server, folder, solo = gated
    pid = worker_pid(server)
    assert pid is not None
    (folder / "init.die").touch()
    killed(pid)
    reply = until(lambda: (r := solo.state())["status"] == "error" and r, "the game lost", HANG)
    assert reply["message"] == (
        "framework: game Gated: the game's worker process died during __init__(): it was "
        "killed by signal SIGKILL (out of memory, or killed)")
    assert caplog.text.count("died during __init__()") == 1 + workers.RESTORE_RETRIES
    (folder / "init.die").unlink()
    again = Player(server.port, "Gated", "again", 1)  # the file's worker serves on
    assert again.join()["status"] == "ok"
    assert again.move(n=1) == {"status": "ok", "data": None}


# ---------------------------------------------------------------- what a worker's replies wake


def test_what_a_workers_replies_wake_runs_right_after_them_not_a_loop_pass_later() -> None:
    """A connection woken by a worker's reply schedules its resume with the server's
    ``Soon``: it runs before anything scheduled for the loop's next pass."""
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        soon = Soon(loop)
        isolation = Isolation(WorkerSettings(), GameGuard(watchdog=False))
        game_types = await isolation.load([("file", str(DATA / "isolated_games" / "busy.py"))],
                                          soon)
        try:
            busy = next(game_type for game_type in game_types if game_type.name == "Busy")
            game = busy.new_game(1)
            assert game.pending is not None
            await answered(game.pending)
            ran: list[str] = []

            def woken() -> None:  # as a connection's wake: the resume only scheduled
                loop.call_soon(ran.append, "next pass")
                soon(lambda: ran.append("resumed"))

            call = game.move({"n": 1}, 0)
            call.then(woken)
            await answered(call)
            assert call.result() is None
            for _ in range(3):
                await asyncio.sleep(0)
            return ran
        finally:
            isolation.close()

    assert asyncio.run(main()) == ["resumed", "next pass"]


async def answered(call: Call) -> None:
    future = asyncio.get_running_loop().create_future()
    call.then(lambda: future.set_result(None))
    await asyncio.wait_for(future, HANG)


@pytest.mark.parametrize(("oversize", "why"), [
    (False, "undecodable message (UnpicklingError: refused to load posix.system: not plain "
            "data)"),
    (True, "a message of 4294967295 bytes announced, more than 25165824")])
def test_a_reply_read_with_a_forged_message_goes_out_after_its_commit_and_both_games_go_on(
        make_server: Callable[..., ServerThread], tmp_path: Path, oversize: bool,
        why: str) -> None:
    """One read of the worker's pipe brings a move's reply, then a message that another
    session's game forged: the worker is replaced in the middle of the read. The first
    move's reply goes out once its commit landed (right after the read,
    ``gameserver._soon``); the move at fault fails once its game is back; both play on.
    A forged header announcing too large a message (``oversize``) used to fail the read
    before the reply read with it was handed over: the first move failed too, blamed."""
    db, marker = tmp_path / "store.sqlite3", tmp_path / "marker"
    server = make_server(games_dirs=[str(DATA / "hostile_games" / "forger")], store=True,
                         store_path=str(db))
    calm, spoiler = (Player(server.port, "Forger", name, 1) for name in ("calm", "spoiler"))
    for player in (calm, spoiler):
        assert player.join()["status"] == "ok"
    assert calm.move(n=1) == {"status": "ok", "data": None}
    worker = server.call(lambda: server.server.isolation.workers[0])  # type: ignore[union-attr]
    pid = worker_pid(server)
    assert pid is not None
    replies: dict[str, Any] = {}

    def calm_moves() -> None:
        reply = calm.move(n=2)
        with contextlib.closing(sqlite3.connect(db)) as saved:  # at once: is it on disk?
            replies["calm"] = reply, saved.execute(
                "SELECT COUNT(*) FROM game_moves JOIN games ON games.id = game_moves.game_id "
                "WHERE games.session = 'calm'").fetchone()[0]

    def spoiler_moves() -> None:
        replies["spoiler"] = spoiler.move(attack=True, marker=str(marker), stop=True,
                                          oversize=oversize)

    stop(pid)  # the requests wait in its pipe, in this order
    movers = []
    for queued, move in enumerate((calm_moves, spoiler_moves), 1):
        movers.append(threading.Thread(target=move))
        movers[-1].start()
        until(lambda: server.call(lambda: len(worker._queue)) == queued,  # noqa: B023
              f"{queued} requests written to the worker", HANG)
    holding, go = threading.Event(), threading.Event()
    server._loop.call_soon_threadsafe(lambda: (holding.set(), go.wait(HANG)))
    assert holding.wait(HANG)  # the loop reads nothing until both answers are in the pipe
    try:
        from_worker = worker._process.from_worker
        os.kill(pid, signal.SIGCONT)
        until(lambda: unread_bytes(from_worker) > 0 and stopped(pid),
              "the reply and the forged message in the pipe", HANG)
    finally:
        go.set()
    for mover in movers:
        mover.join(HANG)
    assert replies["calm"] == ({"status": "ok", "data": None}, 2)
    assert replies["spoiler"] == {"status": "error", "message": (
        "framework: game Forger: the game's worker process sent something malformed during "
        f"move() ({why})")}
    assert not marker.exists()
    replaced(server, pid)
    assert calm.move(n=3) == {"status": "ok", "data": None}
    assert calm.state()["data"]["count"] == 3
    assert spoiler.state()["data"]["count"] == 0  # as before the move at fault
    assert spoiler.move(n=1) == {"status": "ok", "data": None}



def test_a_request_for_a_game_whose_restore_failed_fails_with_it_and_costs_no_worker(
        gated: Gated, caplog: pytest.LogCaptureFixture) -> None:
    """A worker dies with a move of another game queued behind; that game cannot be made
    again in the new worker (its restore fails with an error). The queued move was sent
    anyway, to a worker without the game: it failed "outside the game's code
    (KeyError)", and the new worker was replaced too (every game of the file restored
    once more). Now it fails with the game's loss, in the same worker."""
    server, folder, other = gated
    attacker = Player(server.port, "Gated", "attacker", 1)
    assert attacker.join()["status"] == "ok"
    worker = server.call(lambda: server.server.isolation.workers[0])  # type: ignore[union-attr]
    pid = worker_pid(server)
    assert pid is not None
    replies: dict[str, Any] = {}
    stop(pid)  # the two moves wait in its pipe, in this order
    movers = []
    for queued, (name, player, move) in enumerate(
            [("attacker", attacker, {"die": True}), ("other", other, {"n": 2})], 1):
        movers.append(threading.Thread(
            target=lambda n=name, p=player, m=move: replies.__setitem__(n, p.move(**m))))
        movers[-1].start()
        until(lambda: server.call(lambda: len(worker._queue)) == queued,  # noqa: B023
              f"{queued} requests written to the worker", HANG)
    (folder / "init.fail").touch()
    caplog.clear()
    os.kill(pid, signal.SIGCONT)
    for mover in movers:
        mover.join(HANG)
    lost = "framework: game Gated: __init__() raised RuntimeError: cannot be made now"
    assert replies["other"] == {"status": "error", "message": lost}
    assert other.state() == {"status": "error", "message": lost}
    replacements = [r.getMessage() for r in caplog.records
                    if r.getMessage().endswith("its worker process is replaced")]
    assert len(replacements) == 1, replacements
    (folder / "init.fail").unlink()
    again = Player(server.port, "Gated", "again", 1)  # the file's worker serves on
    assert again.join()["status"] == "ok"
    assert again.move(n=1) == {"status": "ok", "data": None}
