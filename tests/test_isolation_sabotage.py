"""A game that sabotages its own worker: its pipes, its signals, its timers, its process.

Saboteur (``tests/data/hostile_games/saboteur/``) attacks from inside a move
what the worker relies on to talk to the server: it points the pipe to the
server at ``/dev/null``, closes the pipe from it, ignores the interrupt at
the time limit, arms a timer that raises anywhere (halfway through a reply
too), forks and leaves a child to carry on as the worker, or signals or
reads the memory of another game file's worker. As for the other hostile games
(tests/test_isolation_hostile.py): the attacker gets a clear ``framework:``
error (or its move stands, where the sabotage came after it), TicTacToe in
the server's process plays a whole game meanwhile, the server stays up, and
the other sessions of the game come back as they were and play on; another
game file's worker is untouched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.test_isolation_hostile import (
    HOSTILE,
    LANDLOCK,
    LIMIT,
    LIMIT_MESSAGE,
    ROOMY,
    assert_restored,
    attack_alongside,
    attack_held,
    calm_session,
    count,
    hostile_server,
    joined,
    play_tictactoe,
    worker_pid,
)
from tests.wire import Player

GAME = "Saboteur"


def error(message: str) -> dict[str, str]:
    return {"status": "error", "message": f"framework: game {GAME}: {message}"}


def replaced(server, pid: int | None) -> None:  # type: ignore[no-untyped-def]
    """Wait until the worker ``pid`` has a successor."""
    deadline = time.monotonic() + 30  # a bound that turns a hang into a failure
    while worker_pid(server) in (pid, None):
        assert time.monotonic() < deadline, "the worker was never replaced"
        time.sleep(0.01)


def test_a_game_that_points_its_reply_pipe_elsewhere_fails_alone(make_server) -> None:
    """``dup2`` of /dev/null onto the worker's pipe to the server: the pipe ends (the
    worker held its only writing end), its replies go nowhere; the server does not wait
    for them to the time limit, and says what happened."""
    server = hostile_server(make_server, "saboteur")
    calm = calm_session(server, GAME)
    pid = worker_pid(server)
    attacker = joined(server.port, GAME, "attack")
    reply = attack_alongside(server, attacker, how="mute")
    assert reply == error("the game's worker process closed its pipe to the server during "
                          "move()")
    assert worker_pid(server) != pid
    assert_restored(calm)
    assert count(attacker) == 0


def test_a_game_that_closes_the_pipe_its_requests_come_by_harms_its_own_file_alone(
        make_server) -> None:
    """The move closes the worker's pipe from the server, then returns: its reply goes
    out, and the worker ends as it reads the next request. A request of another session
    it never read is sent again to the next worker, and played. The move is played again
    when its game is restored there, from its seed: that worker ends too, after its reply
    (which brings a copy of the game: the next worker starts from that). A request sent
    to both (or read by the first along with the restore) fails: the file's own sessions
    share its worker. By then TicTacToe has been played twice (``attack_alongside``),
    and the workers have usually settled."""
    server = hostile_server(make_server, "saboteur")
    calm = calm_session(server, GAME)
    pid = worker_pid(server)
    attacker = joined(server.port, GAME, "attack")
    assert attack_alongside(server, attacker, how="deaf") == {"status": "ok", "data": None}
    reply = calm.move()
    assert reply == {"status": "ok", "data": None} or reply["message"].startswith(
        f"framework: game {GAME}: the game's worker process died "), reply
    replaced(server, pid)
    assert count(calm) == 1 + (reply["status"] == "ok")
    assert count(attacker) == 1
    assert calm.move() == {"status": "ok", "data": None}
    play_tictactoe(server.port)


def test_a_game_that_ignores_the_interrupt_is_killed(make_server) -> None:
    """SIGINT, SIGTERM and SIGHUP ignored, then an endless loop: the server's interrupt
    at the time limit does nothing, its kill does."""
    server = hostile_server(make_server, "saboteur", game_call_timeout=LIMIT)
    calm = calm_session(server, GAME)
    pid = worker_pid(server)
    attacker = joined(server.port, GAME, "attack")
    assert attack_held(server, attacker, how="stubborn") == error(f"move() {LIMIT_MESSAGE}")
    assert worker_pid(server) != pid
    assert_restored(calm)
    assert count(attacker) == 0


def test_a_timer_that_raises_anywhere_in_the_worker_harms_no_one_else(make_server) -> None:
    """An interval timer whose handler raises every 0.5 ms, wherever the worker is: in
    its loop, in a reply halfway written. Where it strikes is chance, so is what the
    attacker and the game's other sessions get: a reply or a clear error, never a hang;
    the server stays up, TicTacToe plays, and the other session plays on."""
    server = hostile_server(make_server, "saboteur")
    calm = calm_session(server, GAME)
    attacker = joined(server.port, GAME, "attack")
    reply = attack_alongside(server, attacker, how="alarm")
    assert reply == {"status": "ok", "data": None} or reply["message"].startswith(
        f"framework: game {GAME}: "), reply
    played = 0
    for _ in range(20):  # (the attack is played again, from its game's start, at most once)
        reply = calm.move()
        if reply["status"] == "ok":
            played += 1
            if played == 3:
                break
        else:  # (its worker died: it shares the attacker's; or the timer struck its move)
            assert reply["message"].startswith(f"framework: game {GAME}: "), reply
    assert played == 3
    play_tictactoe(server.port)


def test_a_worker_that_forks_and_exits_leaves_no_process_behind(make_server, caplog) -> None:
    """The move forks; the worker's process exits, its child carries on as the worker
    (with its pipes, after a pause). The server sees its worker end, blames the move and
    kills the process group: the child too, which cannot leave it (seccomp)."""
    caplog.set_level(logging.INFO, logger="gameserver")
    server = hostile_server(make_server, "saboteur")
    calm = calm_session(server, GAME)
    attacker = joined(server.port, GAME, "attack")
    assert attack_alongside(server, attacker, how="orphan") == error(
        "the game's worker process died during move(): it exited with status 0 (os._exit() "
        "or sys.exit() in the game?)")
    assert_restored(calm)
    assert count(attacker) == 0
    (child,) = [int(found[1]) for r in caplog.records
                if (found := re.search(r": orphan (\d+)$", r.getMessage()))]
    deadline = time.monotonic() + 20
    while alive(child):
        assert time.monotonic() < deadline, f"the worker's child {child} outlived it"
        time.sleep(0.01)


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, or a process gone, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(LANDLOCK < 6, reason="needs Landlock ABI 6 (Linux 6.12) to stop signals "
                    "out of a worker's sandbox; docs/reliability.md says so")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP, signal.SIGINT])
def test_a_game_cannot_signal_another_game_files_worker(make_server, tmp_path: Path,
                                                        sig: int) -> None:
    """Every game file has a worker of its own, each in a sandbox of its own: a game that
    knows another worker's process id (the ids are easy to guess) cannot kill, stop or
    interrupt it, and the other game's session plays on in the same worker."""
    server = beside_another(make_server, tmp_path)
    victim = Player(server.port, "CatchAll", "victim", 1)
    assert victim.join()["status"] == "ok"
    assert victim.move()["status"] == "ok"
    other = pid_of(server, "catch_all.py")
    attacker = joined(server.port, GAME, "attack")
    reply = attack_alongside(server, attacker, how="signal", pid=other, sig=int(sig))
    assert reply == error("move() raised PermissionError: [Errno 1] Operation not permitted")
    assert victim.move()["status"] == "ok"
    assert count(victim) == 2
    assert pid_of(server, "catch_all.py") == other
    os.kill(other, 0)  # (still there)


def beside_another(make_server, folder: Path):  # type: ignore[no-untyped-def]
    """A server of Saboteur and another game file, CatchAll (a counter, unless attacked),
    from ``folder``: a worker each."""
    shutil.copy(HOSTILE / "saboteur" / "saboteur.py", folder)
    shutil.copy(HOSTILE / "catch_all" / "catch_all.py", folder)
    return make_server(games_dirs=[str(folder)], game_call_timeout=ROOMY)


def pid_of(server, file: str) -> int | None:  # type: ignore[no-untyped-def]
    """The process id of the worker of the game file named ``file``."""
    assert server.server is not None
    (pid,) = server.call(lambda: [w.pid for w in server.server.isolation.workers
                                  if w.label.endswith(file)])
    return pid  # type: ignore[no-any-return]


@pytest.mark.skipif(LANDLOCK < 1, reason="needs Landlock (Linux 5.13): without it, and without "
                    "Yama, a game may read the memory of processes of its user")
def test_a_game_cannot_read_the_memory_of_another_game_files_worker_or_the_server(
        make_server, tmp_path: Path) -> None:
    """Another game file's worker holds its sessions' games (hidden boards, hands), the
    server every key: a game cannot read their memory, by ``/proc/<pid>/mem`` (outside
    what its sandbox may read) or by ``process_vm_readv`` (which Landlock allows only
    into its own sandbox; its own memory is readable: ``EFAULT`` at an address never
    mapped, so the call itself works)."""
    server = beside_another(make_server, tmp_path)
    attacker = joined(server.port, GAME, "attack")
    loot = {}
    for name, pid in [("other", pid_of(server, "catch_all.py")), ("server", os.getpid()),
                      ("own", pid_of(server, "saboteur.py"))]:
        assert attacker.move(attack=True, how="peek", pid=pid) == {"status": "ok",
                                                                   "data": None}
        loot[name] = attacker.state()["data"]["loot"]
    assert loot == {"other": {"mem": "PermissionError", "vm": "EPERM"},
                    "server": {"mem": "PermissionError", "vm": "EPERM"},
                    "own": {"mem": "PermissionError", "vm": "EFAULT"}}
