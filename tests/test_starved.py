"""A worker past its time limit that waits for a CPU is given more time, bounded; one that
runs or is blocked is interrupted (``gameserver._starved``).

The rule is tested with samples; the server with real worker processes starved by
priority (``nice`` 19, pinned to one CPU beside a process that spins), stopped with
SIGSTOP, and a real clock: no test asserts a time, only what the server did and said.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gameserver import _starved, workers
from gameserver._starved import Sample
from tests.serverproc import ServerThread
from tests.test_workers import HANG, stop, worker_pid
from tests.wire import Player, until

DATA = Path(__file__).parent / "data"
GIVEN = "waits for a CPU (a loaded machine): it is given up to"


def test_a_process_that_ran_or_was_blocked_is_not_starved_one_that_waited_is() -> None:
    before = Sample(cpu=1.0, ran=1.0, waited=0.5, runnable=True)
    # It ran (a spinning game on a quiet machine): interrupted.
    assert not _starved.starved(before, Sample(1.5, 1.5, 0.5, True), 0.5)
    # Its own threads used the CPU while its main thread waited: it ran.
    assert not _starved.starved(before, Sample(1.5, 1.0, 0.9, True), 0.5)
    # Blocked (time.sleep, SIGSTOP): neither ran nor waited, and not runnable now.
    assert not _starved.starved(before, Sample(1.0, 1.0, 0.5, False), 0.5)
    # Waited for a CPU, the kernel counted it.
    assert _starved.starved(before, Sample(1.01, 1.01, 0.95, False), 0.5)
    # Runnable all the window and never run: the kernel counts that wait only when it ends.
    assert _starved.starved(before, Sample(1.0, 1.0, 0.5, True), 0.5)
    # Ran a little, then slept most of the window: blocked.
    assert not _starved.starved(before, Sample(1.1, 1.1, 0.55, False), 0.5)


def test_a_look_at_this_process_reads_what_the_kernel_says() -> None:
    if not Path("/proc/self/schedstat").exists():
        pytest.skip("the kernel does not say (not Linux)")
    seen = _starved.sample(os.getpid())
    assert seen is not None and seen.runnable and seen.cpu > 0 and seen.ran > 0
    assert _starved.sample(2 ** 22 + 12345) is None  # (no such process)


@contextmanager
def starved_worker(pid: int) -> Iterator[None]:
    """Starve worker ``pid``: ``nice`` 19 on one CPU beside a process that spins there
    (about 1.5 % of that CPU for it) until the block ends; the worker is left so."""
    cpu = min(os.sched_getaffinity(0))
    hog = subprocess.Popen([sys.executable, "-c", "print('spinning', flush=True)\n"
                            "while True: pass"], stdout=subprocess.PIPE)
    assert hog.stdout is not None
    try:
        os.sched_setaffinity(hog.pid, {cpu})
        os.sched_setaffinity(pid, {cpu})
        os.setpriority(os.PRIO_PROCESS, pid, 19)  # (its main thread: it runs the game calls)
        # A worker starts a session of its own (``_process.spawn``): where the kernel groups
        # by session (autogroup), its group shares the CPU with the spinner's as an equal,
        # whatever the nice of its threads (the worker had half of it, and was interrupted
        # on a quiet machine). The group's own nice is set too.
        autogroup = Path(f"/proc/{pid}/autogroup")
        if autogroup.exists():
            autogroup.write_text("19")
        assert hog.stdout.readline() == b"spinning\n"
        yield
    finally:
        hog.kill()
        hog.wait()
        hog.stdout.close()


def moving(player: Player, **move: Any) -> Callable[[], dict[str, Any]]:
    """Send ``move`` on a thread of its own; the function returned waits for its reply."""
    reply: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: reply.append(player.move(**move)), daemon=True)
    thread.start()

    def wait() -> dict[str, Any]:
        thread.join(HANG)
        assert reply, "no reply to the move"
        return reply[0]
    return wait


def said(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)


@pytest.fixture
def waiter(make_server: Callable[..., ServerThread], tmp_path: Path,
           caplog: pytest.LogCaptureFixture) -> tuple[ServerThread, Player, int]:
    """A server with Busy in a worker (a call's limit 1 s), a session that played a
    move, and its worker's pid. Busy's move ``{"until": "go"}`` spins until a file
    ``go`` is next to it."""
    if not Path("/proc/self/schedstat").exists():
        pytest.skip("the kernel does not say what a process waited (not Linux)")
    caplog.set_level(logging.INFO, logger="gameserver")
    shutil.copy(DATA / "isolated_games" / "busy.py", tmp_path)
    server = make_server(games_dirs=[str(tmp_path)], game_call_timeout=1.0)
    player = Player(server.port, "Busy", "starved", 1)
    assert player.join()["status"] == "ok"
    assert player.move() == {"status": "ok", "data": None}
    pid = worker_pid(server)
    assert pid is not None
    return server, player, pid


def test_a_worker_starved_of_a_cpu_past_its_limit_is_given_more_time(
        waiter: tuple[ServerThread, Player, int], tmp_path: Path,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker was judged by the wall clock: on a loaded machine one that waited for a
    CPU past its limit was interrupted, killed and replaced, although its game did
    little. Now the server looks at it past the limit: it mostly waited, so it is given
    more time (saying so), and its move, let go once the server said so, comes back
    played, in the same worker. (The bound is raised to 30 times the limit here, so
    that a machine busier still cannot make it end the move first.)"""
    server, player, pid = waiter
    monkeypatch.setattr(_starved, "EXTENDED", 30)
    with starved_worker(pid):
        reply = moving(player, until="go")
        until(lambda: said(caplog, GIVEN), "more time given", HANG)
        (tmp_path / "go").write_text("")
    assert reply() == {"status": "ok", "data": None}
    assert worker_pid(server) == pid
    assert len(player.state()["data"]["log"]) == 2


def test_a_worker_starved_for_ever_is_stopped_at_three_times_its_limit(
        waiter: tuple[ServerThread, Player, int], caplog: pytest.LogCaptureFixture) -> None:
    """The time given is bounded: a worker that waits for a CPU all along is given up to
    three times its limit, then interrupted as before (the same message)."""
    _, player, pid = waiter
    with starved_worker(pid):
        reply = moving(player, until="go")
        moved = reply()
    assert said(caplog, f"move() is past its time limit of 1 s while its worker process "
                        f"{GIVEN} 3 s"), caplog.text
    assert moved["status"] == "error"
    assert "move() took longer than 1 s and was stopped" in moved["message"], moved


def test_a_stopped_worker_is_not_given_more_time(
        waiter: tuple[ServerThread, Player, int], caplog: pytest.LogCaptureFixture) -> None:
    """A worker stopped with SIGSTOP neither runs nor waits for a CPU: it is interrupted
    and killed at its limit as before, given nothing."""
    server, player, pid = waiter
    reply = moving(player, until="go")
    until(lambda: _starved.sample(pid) is not None and _starved.sample(pid).runnable,  # type: ignore[union-attr]
          "spinning in the move", HANG)
    stop(pid)
    moved = reply()
    assert moved["status"] == "error"
    assert "move() took longer than 1 s and was stopped" in moved["message"], moved
    assert not said(caplog, GIVEN), caplog.text
    until(lambda: worker_pid(server) not in (pid, None), "replaced", HANG)


def test_a_spinning_game_is_judged_at_its_limit_by_a_look_a_window_before_it(
        waiter: tuple[ServerThread, Player, int], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first look at a request came at its limit, and the judgement a window later:
    a spinning game was interrupted up to half a second past its limit. The first look
    now comes a window before the limit (only for a request that runs that long), and
    the judgement at it: a game that ran is interrupted at its first check past the
    limit. Read from the server's own looks (their time against the limit, by its
    loop's clock), not timed by the test."""
    server, player, _ = waiter
    worker = server.call(lambda: server.server.isolation.workers[0])  # type: ignore[union-attr]
    looks: list[float] = []  # seconds past the head request's limit, of each look
    sample = _starved.sample

    def looking(pid: int) -> Sample | None:
        due = worker._head_started + worker._limit(worker._queue[0])
        looks.append(worker.loop.time() - due)
        return sample(pid)

    monkeypatch.setattr(_starved, "sample", looking)
    moved = moving(player, until="go")()
    assert moved["status"] == "error"
    assert "move() took longer than 1 s and was stopped" in moved["message"], moved
    assert looks and -_starved.window(1.0) - workers.LOOK_SLACK <= looks[0] < 0, looks
    if not said(caplog, GIVEN):  # (a machine busy enough starves it: more looks)
        assert len(looks) == 2 and looks[1] >= 0, looks
