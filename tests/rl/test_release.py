"""How an env gives its sessions back: ``with``, ``close()``, dropped, the program's end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gameserver.lobby import NO_SUCH_SESSION
from gameserver.players import LEFT
from gameserver.protocol import framework_error
from gameserver.rl import GameError, _remote, aec_env, gym_env, vector_env
from tests.serverproc import ServerProcess
from tests.test_workers import stop
from tests.wire import request, until

TIMEOUT = 20.0  # seconds for any reply: a request that blocks by mistake fails the test
ROOT = Path(__file__).resolve().parents[2]
GONE = (str(framework_error(NO_SUCH_SESSION)), str(framework_error(LEFT)))  # (seat left)


def make_env(kind: str, server: Any = None) -> Any:
    address = None if server is None else (server.host, server.port)
    options = {} if server is None else {"timeout": TIMEOUT}
    if kind == "aec":
        return aec_env("Nim", server=address, **options)
    if kind == "gym":
        return gym_env("Nim", server=address, **options)
    return vector_env("Nim", 2, server=address, **options)


def sessions_of(server: Any) -> list[tuple[str, str]]:
    return server.call(lambda: sorted(server.server.lobby.sessions))


@pytest.mark.parametrize("kind", ["aec", "gym", "vector"])
def test_every_env_is_a_context_manager_that_closes_it(make_server, kind: str) -> None:
    """``with aec_env(...) as env:`` and ``with vector_env(...) as envs:`` failed ("does
    not support the context manager protocol"): Gymnasium's ``Env`` is one, PettingZoo's
    ``AECEnv`` and Gymnasium's ``VectorEnv`` are not. The same rules as Gymnasium's: the
    env itself, closed at the end (its sessions left), an exception going on."""
    server = make_server()
    with pytest.raises(ZeroDivisionError):
        with make_env(kind, server) as env:
            assert type(env).__name__ == {"aec": "GameAECEnv", "gym": "GameGymEnv",
                                          "vector": "GameVectorEnv"}[kind]
            env.reset(seed=1)
            assert len(sessions_of(server)) == (2 if kind == "vector" else 1)
            1 / 0  # noqa: B018 (the block fails)
    assert sessions_of(server) == []
    with pytest.raises(GameError, match="this environment was closed"):
        env.reset()
    with make_env(kind) as local:  # in-process: its guard is stopped
        local.reset(seed=1)
    with pytest.raises(GameError, match="this environment was closed"):
        local.reset()


@pytest.mark.parametrize("kind", ["aec", "gym", "vector"])
def test_an_env_dropped_without_close_leaves_its_sessions(make_server, kind: str) -> None:
    """An env the caller dropped without ``close()`` held its sessions on the server
    until idle for its ``game_timeout`` (1,000 s by default), counted against the
    address's ``max_sessions_per_address``: a loop that made an env per evaluation and
    dropped it was refused at about the 200th (here: the 3rd). Gymnasium's
    ``VectorEnv.close`` says it is called "when garbage collected". Dropped, the env is
    collected at once (no cycles), and leaves its sessions on a thread of its own."""
    server = make_server(max_sessions_per_address=2)
    for number in range(4):
        env = make_env(kind, server)
        env.reset(seed=number)
        assert len(sessions_of(server)) == (2 if kind == "vector" else 1)
        del env  # (no gc.collect(): nothing else holds it)
        until(lambda: sessions_of(server) == [], "the dropped env's sessions left")


def test_a_table_closed_or_dropped_leaves_the_connection_its_siblings_share(make_server
                                                                            ) -> None:
    """The sessions of a vector env share one connection (``vector_env`` passes its
    ``link`` to each): one of them closed, or dropped and collected, closed it under the
    others (a collection runs wherever it interrupts, a request of another session under
    way too), whose next request needed a new connection. Only the last closes it."""
    server = make_server()
    address = (server.host, server.port)
    link = _remote.Link(address, timeout=TIMEOUT)
    kept, dropped, closed = (gym_env("Nim", server=address, link=link) for _ in range(3))
    _, info = kept.reset(seed=1)
    dropped.reset(seed=2)
    closed.reset(seed=3)
    shared = link._sock
    assert len(sessions_of(server)) == 3
    del dropped  # (collected at once: its table's __del__ abandons it)
    until(lambda: len(sessions_of(server)) == 2, "the dropped env's session left")
    closed.close()
    assert len(sessions_of(server)) == 1
    assert link._sock is shared and shared.fileno() != -1  # (still open, still the link's)
    kept.step(int(np.flatnonzero(info["action_mask"])[0]))
    assert link._sock is shared
    kept.close()
    assert link._sock is None and shared.fileno() == -1  # (the last one closed it)
    assert sessions_of(server) == []


SCRIPT = """
import sys
from gameserver.rl import _remote, aec_env, vector_env
_remote.EXIT_LEAVE_TIMEOUT = 60.0  # (the test asserts on what happened, not on time)
address = ("127.0.0.1", int(sys.argv[1]))
kept = [aec_env("Nim", server=address, timeout=20), vector_env("Nim", 2, server=address,
                                                               timeout=20)]
for env in kept:
    env.reset(seed=1)
dropped = aec_env("Nim", server=address, timeout=20)
dropped.reset(seed=1)
del dropped
print("ready", flush=True)
"""


def test_a_program_that_ends_without_close_leaves_its_sessions(make_server) -> None:
    """A script that never called ``close()`` left its sessions on the server for its
    ``game_timeout``; at its end the leaves are sent (and those of an env dropped just
    before are waited for), ``EXIT_LEAVE_TIMEOUT`` at most."""
    server = make_server()
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(server.port)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ready\n"
    assert sessions_of(server) == []  # (the program waited for the leaves' replies)


FORK = """
import gc, os, sys
from gameserver.rl import gym_env
address = ("127.0.0.1", int(sys.argv[1]))
env = gym_env("Nim", server=address, timeout=20)
observation, info = env.reset(seed=1)
pid = os.fork()
if pid == 0:  # a worker forked with a copy of the env: it plays an env of its own
    own = gym_env("Nim", server=address, timeout=20)
    own.reset(seed=2)
    own.close()
    del env
    gc.collect()
    sys.exit(0)  # (the exit's hook runs: it must leave nothing of the parent's either)
assert os.waitpid(pid, 0)[1] == 0
action = int(info["action_mask"].argmax())
observation, reward, terminated, truncated, info = env.step(action)
print("played on", flush=True)
env.close()
"""


def test_a_forked_child_leaves_nothing_of_its_parents_sessions(make_server) -> None:
    """A child forked from a process that holds an env has a copy of the env's table:
    collected in the child (or left at the child's exit), it would leave the parent's
    seats, and the parent's next step would fail. Only the process that joined leaves."""
    server = make_server()
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(FORK), str(server.port)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "played on\n"
    assert sessions_of(server) == []


STUCK = """
import json, sys, time
from gameserver.rl import _remote, gym_env
_remote.ABANDONED_MAX = 3
_remote.LEAVE_TIMEOUT = 600.0  # (the leaver waits for the stopped server: not a time)
_remote.EXIT_LEAVE_TIMEOUT = 600.0
address = ("127.0.0.1", int(sys.argv[1]))
envs = [gym_env("Nim", server=address, timeout=20) for _ in range(12)]
for env in envs:
    env.reset(seed=1)
del env  # (the loop's name held the last one)
print(json.dumps([[env.table.session, env.table._keys[0]] for env in envs]), flush=True)
sys.stdin.readline()  # the server is stopped now
del envs[0]  # the leaver takes its leaves, and waits for the server's replies
deadline = time.monotonic() + 60
while _remote._abandoned.qsize():
    assert time.monotonic() < deadline, "the leaver did not take the first leaves"
    time.sleep(0.01)
while envs:  # 11 more dropped in turn while it waits: 3 wait in the queue, 8 not sent
    del envs[0]
print(_remote._abandoned.qsize(), getattr(_remote, "leaves_unsent", 0), flush=True)
sys.stdin.readline()  # the server goes on: the exit waits for the leaves queued
"""


def test_the_leaves_of_dropped_envs_wait_in_a_bounded_queue() -> None:
    """The leaver thread sends the leaves of dropped envs, and waits for each server's
    replies: a server that does not answer (here: stopped) holds it, and a loop that
    dropped envs meanwhile grew its queue without limit. At most ``ABANDONED_MAX`` tables'
    leaves wait; those of a table dropped beyond are not sent then (the guardian sends them
    when the program ends), counted, and the leaver warns once it goes on."""
    with ServerProcess() as server:
        assert server.proc is not None
        child = subprocess.Popen(
            [sys.executable, "-c", STUCK, str(server.port)], cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdin is not None and child.stdout is not None
        try:
            seats = json.loads(child.stdout.readline())
            stop(server.proc.pid)
            child.stdin.write("stopped\n")
            child.stdin.flush()
            assert child.stdout.readline().split() == ["3", "8"]  # (queued, not sent)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        _, errors = child.communicate("go on\n", timeout=120)
        assert child.returncode == 0, errors
        assert "the leaves of 8 dropped envs' sessions were not sent" in errors
        # The first and the 3 queued were left by the leaver thread, the other 8 by the
        # guardian once the program ended (``_guardian``).
        until(lambda: all(left(server.port, "Nim", *seat) for seat in seats),
              "every dropped env's session left")


def left(port: int, game: str, session: str, key: str) -> bool:
    """Whether seat 0 of ``session``, whose key is ``key``, has left (its session ended, or
    the key is no more): asked with a move no game takes, which changes nothing else."""
    reply = request(port, {"type": "move", "game": game, "session": session,
                           "player_id": 0, "key": key, "move": {"no such move": True}})
    return reply.get("message") in GONE


ENDS = """
import json, multiprocessing, os, sys, time
from gameserver.rl import gym_env, vector_env
address, end = ("127.0.0.1", int(sys.argv[1])), sys.argv[2]
kept = []


def play():
    kept.extend([gym_env("Nim", server=address, timeout=20),
                 vector_env("Nim", 2, server=address, timeout=20)])
    for env in kept:
        env.reset(seed=1)
    return [[table.session, table._keys[0]] for table in
            [kept[0].table] + [env.table for env in kept[1].envs]]


def child(queue):
    queue.put(play())  # (multiprocessing ends its child with os._exit: no exit hooks)


if end == "multiprocessing":
    queue = multiprocessing.get_context("fork").Queue()
    worker = multiprocessing.get_context("fork").Process(target=child, args=(queue,))
    worker.start()
    print(json.dumps(queue.get()), flush=True)
    worker.join()
    sys.stdin.readline()
    sys.exit(0)
seats = play()
if end == "fork":  # a child forked with a copy of the env runs on after the kill
    forked = os.fork()
    if forked == 0:
        time.sleep(600)
        os._exit(0)
    print(forked, flush=True)
if end == "os._exit":
    print(json.dumps(seats), flush=True)
    os._exit(0)
if end == "Ctrl-C":  # the terminal's Ctrl-C reaches the whole process group
    try:  # (the seats printed inside: the test's Ctrl-C may come right after them)
        print(json.dumps(seats), flush=True)
        sys.stdin.readline()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
else:
    print(json.dumps(seats), flush=True)
sys.stdin.readline()  # until killed
"""


@pytest.mark.parametrize("end", ["SIGKILL", "os._exit", "multiprocessing", "fork", "Ctrl-C"])
def test_a_process_that_dies_without_its_exit_hooks_leaves_its_sessions(make_server,
                                                                        end: str) -> None:
    """A seat belongs to its key, not to a connection: the server saw the connections of
    a process killed with SIGKILL close at once (the kernel closes them), and kept its
    sessions until idle for its ``game_timeout`` (1,000 s by default), as those of a
    process that called ``os._exit`` or ended as a ``multiprocessing`` child (no exit
    hooks), counted against ``max_sessions_per_address``. The guardian process
    (``_guardian``) leaves them once the process has died: with a child forked from it
    still running too (the child does not hold the guardian's pipe), and after a Ctrl-C
    that the process caught (the guardian is not in its process group)."""
    server = make_server()
    process = subprocess.Popen([sys.executable, "-c", ENDS, str(server.port), end],
                               cwd=ROOT, text=True, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, start_new_session=True)
    assert process.stdin is not None and process.stdout is not None
    forked = int(process.stdout.readline()) if end == "fork" else None
    try:
        seats = json.loads(process.stdout.readline())
        assert len(sessions_of(server)) == 3
        assert not any(left(server.port, "Nim", *seat) for seat in seats)
        if end == "Ctrl-C":
            os.killpg(process.pid, signal.SIGINT)
            assert process.stdout.readline() == "interrupted\n"
            assert len(sessions_of(server)) == 3  # (the process lives on: nothing left)
        if end in ("SIGKILL", "fork", "Ctrl-C"):
            process.kill()
        elif end == "multiprocessing":  # (its child is gone: the parent ends cleanly)
            process.stdin.write("end\n")
            process.stdin.flush()
        process.wait(120)
        until(lambda: sessions_of(server) == [], "the dead process's sessions left")
        if forked is not None:
            os.kill(forked, 0)  # (the forked child still runs: ProcessLookupError if not)
    finally:
        process.kill()
        process.wait(120)
        process.stdin.close()
        process.stdout.close()
        if forked is not None:
            os.kill(forked, signal.SIGKILL)


STOPPED_GUARDIAN = """
import os, signal, sys
from gameserver.rl import _guardian, gym_env
address = ("127.0.0.1", int(sys.argv[1]))
with gym_env("Nim", server=address, timeout=20) as env:
    env.reset(seed=1)
os.kill(_guardian.guardian_pid, signal.SIGSTOP)
try:
    for number in range(400):  # 1,200 messages, about 170 KB: more than a pipe holds
        with gym_env("Nim", server=address, timeout=20) as env:
            env.reset(seed=number)
finally:
    os.kill(_guardian.guardian_pid, signal.SIGCONT)
print("played", flush=True)
"""


def test_a_guardian_that_does_not_read_never_holds_the_env(make_server) -> None:
    """The env tells its guardian each table's leaves and when they are done with, through
    a pipe: written blocking, a guardian that stopped reading (stopped, starved) would hold
    every join and close once the pipe was full. The writes never block: a message that
    does not fit is lost (a table unguarded, or a leave sent twice, which the server
    refuses)."""
    server = make_server(new_sessions_per_minute=100_000)
    done = subprocess.run([sys.executable, "-c", STOPPED_GUARDIAN, str(server.port)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "played\n"
    assert sessions_of(server) == []
