"""Whether a worker past its time limit waited for a CPU (not its fault) or ran.

A request to a worker is timed by the wall clock (``workers``): nothing is read
on a request's normal path. On a loaded machine, though, a worker that did little
may wait for a CPU past its limit, and was interrupted, killed and replaced (its
games restored) for it, until stop 48. So the server looks at the worker of a request
still running a probe ``window`` before its limit and again at the limit, and asks the
kernel what the process did in between (``sample``: two reads of ``/proc``, only for a
request that runs that long; until stop 49 the first look came at the limit, and a
spinning game was interrupted a window past it):

* it RAN: its threads together used at least half the window's CPU time
  (``/proc/PID/stat``, utime and stime, the whole process: a game's own threads
  that hog the CPU count as the game running). It is interrupted, as before;
* it WAITED for a CPU: its main thread, which runs the game calls, was runnable
  and not running for at least half the window (``/proc/PID/schedstat``'s run
  delay; the kernel adds a wait only when it ends, so a thread runnable at the
  window's end is counted as waiting for the time it is not seen running or
  waiting). It is given another window, up to ``EXTENDED`` times its limit by
  the wall clock (``extended``), then interrupted;
* else it was blocked (``time.sleep``, a read, the GIL that a thread of its own
  holds, SIGSTOP): it is interrupted, as before.

Each window counts from its own start: the first ends at the limit, the next ones
follow it. The attempt of stop 47 counted the wait from the server's last look at
the worker idle: a worker never idle (steady play of its game) forgave a spinning
game the waits of the requests before it, up to four times the limit (reverted).
Here nothing before the last window before the limit counts, and no request runs
past ``EXTENDED`` times its limit, whatever its worker waited.

What a game can still do: make itself wait (its own priority lowered, ``nice`` or
``SCHED_IDLE``, beside a busy machine) and be given up to ``EXTENDED`` times its
limit; on a quiet machine it gets its CPU and is interrupted as before. Where the
kernel does not say (not Linux), nothing is extended.

``read_stat`` and ``read_schedstat`` read those two files; the guard reads its
threads' with them too (``guard.GameGuard._went_on``).
"""

from __future__ import annotations

import os
from typing import NamedTuple

EXTENDED = 3  # times its limit a request may run by the wall clock, its worker starved
PROBE_WINDOW = 0.5  # seconds of a look at a worker near its limit, at most ...
_TICK = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def window(limit: float) -> float:
    """Seconds between two looks at a worker near a limit of ``limit`` seconds: up to
    ``PROBE_WINDOW``, and half the limit for a short one (the first look comes that much
    before the limit, the second at it: a spinning game is stopped at its limit)."""
    return min(PROBE_WINDOW, limit / 2)


def extended(limit: float) -> float:
    """Seconds a request of ``limit`` seconds may run by the wall clock at most."""
    return EXTENDED * limit


class Sample(NamedTuple):
    """What the kernel says of a process at one moment (seconds, since it started)."""

    cpu: float  # CPU time its threads used together
    ran: float  # ... its main thread ran
    waited: float  # ... its main thread waited for a CPU (runnable, not running)
    runnable: bool  # its main thread is runnable now (running, or waiting for a CPU)


def sample(pid: int) -> Sample | None:
    """What the kernel says of process ``pid`` now; None where it does not say (not
    Linux, or the process is gone)."""
    stat = read_stat(f"/proc/{pid}/stat")
    times = read_schedstat(f"/proc/{pid}/schedstat") if stat is not None else None
    if stat is None or times is None:
        return None
    return Sample(stat[1], times[0], times[1], stat[0])


def read_stat(path: str) -> tuple[bool, float] | None:
    """From a ``stat`` file of ``/proc`` (a process's, or a thread's under ``task/``):
    whether it is runnable now (state R: running, or waiting for a CPU), and the seconds
    of CPU it used (utime and stime, in whole clock ticks); None where the kernel does
    not say. (The name before the fields may hold ")": the last one ends it.)"""
    try:
        fields = _read(path).rsplit(b")", 1)[1].split()
        return fields[0] == b"R", (int(fields[11]) + int(fields[12])) * _TICK
    except (OSError, IndexError, ValueError):
        return None


def read_schedstat(path: str) -> tuple[float, float] | None:
    """From a ``schedstat`` file of ``/proc``: the seconds it ran, and those it waited
    for a CPU (counted once each wait ends), so far; None where the kernel does not say."""
    try:
        ran, waited = _read(path).split()[:2]
        return int(ran) / 1e9, int(waited) / 1e9
    except (OSError, ValueError):
        return None


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1024)
    finally:
        os.close(fd)


def blocked(before: Sample, after: Sample, seconds: float) -> bool:
    """Whether a process seen as ``before`` and, ``seconds`` later, as ``after``, not
    ``starved``, was blocked in between (a ``time.sleep``: its error says so, not
    "endless loop?"): its threads used less than a quarter of that time's CPU, and its
    main thread is not runnable now."""
    return after.cpu - before.cpu < seconds / 4 and not after.runnable


def starved(before: Sample, after: Sample, seconds: float) -> bool:
    """Whether a process seen as ``before`` and, ``seconds`` later, as ``after`` mostly
    waited for a CPU in between (see the module docstring): it did not use half of that
    time's CPU, and its main thread waited half of it."""
    half = seconds / 2
    if after.cpu - before.cpu >= half:
        return False
    waited = after.waited - before.waited
    if after.runnable:  # (a wait going on now is not counted yet)
        waited = max(waited, seconds - (after.ran - before.ran))
    return waited >= half
