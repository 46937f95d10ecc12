"""Importing a game file into this process, within a time limit; the one rule for that limit.

A game file's top level and class bodies run when it is imported. Every place that
imports one gives it the same time, ``import_limit`` (``IMPORT_TIMEOUT``, 20 s by
default, setting ``game_import_timeout``, and at least twice a game call's limit): a
worker process (``isolate_games``, which the server stops at that limit, its start
included), the server itself (``isolate_games = "off"``) and ``python -m gameserver
check``. Until 2026-12-01 they disagreed (4 s in ``check``, 10 s in the server, 20 s
in a worker), and a file whose top level legitimately takes 5 to 15 s (a cold ``import
numpy``) failed ``check`` as "an endless loop?" although the server would load it.
Before limits, the server and ``check`` imported on the caller's thread with no
limit: a student's file with ``while True: pass`` at its top (or ``time.sleep(1000)``)
held the server's start-up for ever, and the log said nothing.

``run_import`` runs the import on a thread of its own under a ``GameGuard``:
a loop is stopped at the limit with ``GameCallTimeout``, like a game call; an
import that goes on after that (it catches the stop, or is blocked in C code)
is left running on its thread, which nothing can end, and the caller goes on
without the file. Its thread is a daemon: it does not keep the process alive
at exit. (On a thread, not the caller's: an import stuck on the caller's
thread would hold the caller too.)

A file given up so ran on in the server for ever, costing a CPU (until
2026-12-01). The server therefore first imports each file it will import itself
in a throw-away process (``trial_import``), killed at the limit, and imports it
only if that import ended (or raised: the server's own import then says why), so
that what nothing can stop runs in a process that can be killed. ``run_import``
stays around the server's own import: a file may behave otherwise the second time
(a hostile one can tell the trial from the server), and then, as before, it is
stopped or given up. ``check`` needs no trial: its process ends after the check.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from .guard import GameCallTimeout, GameCodeError, GameGuard

# Seconds a game file's import may take, by default: a cold ``import numpy`` (files not
# yet in the page cache, a slow disk, a loaded machine) takes 5 to 15 s.
IMPORT_TIMEOUT = 20.0


def import_limit(call_limit: float, import_timeout: float = IMPORT_TIMEOUT) -> float:
    """Seconds a game file's import may take, for a game call's limit of ``call_limit``
    and the import's own setting ``import_timeout``: the longer of that and twice
    ``call_limit`` (a top level that makes a game, or warms a table, is calls' work).

    The one rule: ``check``, the server's own import (``isolate_games = "off"``) and a
    worker's start (which includes its interpreter's start, a fraction of a second) all
    take their limit from here."""
    return max(import_timeout, 2 * call_limit)


class ImportStuck(Exception):
    """The import went on after it was stopped; ``line`` is where it was running."""

    def __init__(self, line: int | str) -> None:
        super().__init__(line)
        self.line = line


def run_import(path: Path | str, execute: Callable[[], object], time_limit: float) -> None:
    """Run ``execute()``, the import of game file ``path`` (or of the module of that name:
    ``games.my_game``), within ``time_limit`` seconds.

    Returns when the import ended, or when it was given up (see the module
    docstring).

    Raises:
        GameCallTimeout: the import was stopped at the limit (its traceback goes
            through the file's line that was running).
        ImportStuck: the import ran on after it was stopped; it still runs.
        BaseException: whatever else the import raised.
    """
    outcome: list[BaseException | None] = []
    ended = threading.Event()

    def stuck(method: str, thread_id: int) -> None:
        outcome.append(ImportStuck(_line_running(file_of(path),
                                                 sys._current_frames().get(thread_id))))
        ended.set()

    def attempt() -> BaseException | None:
        try:
            execute()
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            return err
        return None

    def importing() -> None:
        try:
            result = guard.call(name, "import", attempt)
        except GameCodeError:  # stopped as it ended (the guard logged it): out of time
            result = GameCallTimeout()
        outcome.append(result)
        ended.set()

    name = path.name if isinstance(path, Path) else path
    guard = GameGuard(time_limit, stuck=stuck)
    try:
        threading.Thread(target=importing, name=f"gameserver-import-{name}",
                         daemon=True).start()
        ended.wait()
    finally:
        guard.close()
    if outcome[0] is not None:
        raise outcome[0]


# Seconds a trial process may take beyond the import's limit: its interpreter's start and
# the import of ``gameserver`` (the limit is counted in the trial from the file's import).
TRIAL_SLACK = 10.0
_TRIAL_READ = 64 * 1024  # bytes of the trial's report read at most (a stack dump)
_TRIAL_ENDED = b"\ngameserver-trial-import-ended\n"
# The trial process: from the server's sys.path (the file may import what the server
# can), the file is imported as the server would (``registry.load_module``), under
# ``faulthandler``'s timer, which dumps every thread's stack to the report pipe at the
# limit and ends the process, whatever the file's code catches (a C thread does it).
_TRIAL = """\
import faulthandler, json, os, sys
paths, file, fd, limit = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
sys.path[:] = paths
from pathlib import Path
from gameserver.registry import load_module
report = os.fdopen(fd, "wb", buffering=0)
faulthandler.dump_traceback_later(limit, exit=True, file=report)
try:
    load_module(Path(file))
except BaseException:
    pass
faulthandler.cancel_dump_traceback_later()
os.write(fd, sys.argv[5].encode())
os._exit(0)
"""


class TrialFailed(Exception):
    """The file's import in a throw-away process did not end well: ``overran`` (it ran
    past the limit; ``line``, where it was) or not (the process died: ``os._exit``, a
    crash, which in the server would end the server)."""

    def __init__(self, overran: bool, line: int | str, how: str = "") -> None:
        super().__init__(line)
        self.overran, self.line, self.how = overran, line, how


def trial_import(path: Path, time_limit: float) -> None:
    """Import game file ``path`` in a throw-away process, within ``time_limit`` seconds
    (see the module docstring); returns if that import ended, whether or not it raised.

    The process runs as the server does (its user, folder, ``sys.path`` and
    environment: what the file's top level does, it does twice, once there); it and
    whatever it started (its process group) are killed when it is done.

    Raises:
        TrialFailed: the import overran, or ended its process.
    """
    if sys.platform == "win32" or not hasattr(os, "waitid"):  # no trial: Windows (no
        return  # process groups, no descriptors passed), macOS (no waitid: see below)
    from ._process import PACKAGE_PARENT
    paths = [PACKAGE_PARENT, *(entry for entry in sys.path if entry != PACKAGE_PARENT)]
    report, into = os.pipe()
    try:
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-c", _TRIAL, json.dumps(paths), str(path), str(into),
                 repr(time_limit), _TRIAL_ENDED.decode()],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, pass_fds=(into,), start_new_session=True)
        finally:
            os.close(into)
        try:
            _wait_unreaped(process.pid, time_limit + TRIAL_SLACK)  # (its timer cancelled,
        finally:  # by a hostile file, or held: killed at this bound)
            try:  # (not reaped yet: its id still names its group, what it started)
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            status = process.wait()
        os.set_blocking(report, False)
        try:
            said = os.read(report, _TRIAL_READ)
        except BlockingIOError:
            said = b""
    finally:
        os.close(report)
    if said.endswith(_TRIAL_ENDED) and status == 0:
        return
    if b"Timeout (" in said or status == -signal.SIGKILL:
        raise TrialFailed(True, _line_dumped(path, said))
    raise TrialFailed(False, "?", f"exit status {status}" if status >= 0
                      else f"signal {-status}")


def _wait_unreaped(pid: int, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for child ``pid`` to end, leaving it to be reaped."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # (Linux before 5.3, macOS)
        pidfd = None
    if pidfd is not None:
        try:
            select.select([pidfd], [], [], timeout)
        finally:
            os.close(pidfd)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and os.waitid(
            os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        time.sleep(0.05)  # (at start-up, where nothing else waits)


def _line_dumped(path: Path, dump: bytes) -> int | str:
    """The line of ``path`` in ``faulthandler``'s stack dump ``dump`` (innermost first), or
    "?"."""
    for match in re.finditer(rb'File "([^"\n]*)", line (\d+)', dump):
        if os.fsdecode(match.group(1)) == str(path):
            return int(match.group(2))
    return "?"


def file_of(path: Path | str) -> Path | None:
    """The file of ``path``: itself, or for a module's name the module's file once its import
    has begun (None before, or without one)."""
    if isinstance(path, Path):
        return path
    file = getattr(sys.modules.get(path), "__file__", None)
    return Path(file) if isinstance(file, str) else None


def _line_running(path: Path | None, frame: FrameType | None) -> int | str:
    """The line of ``path`` that the innermost of ``frame`` and its callers in that file
    runs, or "?"."""
    while frame is not None and path is not None:
        if Path(frame.f_code.co_filename) == path:
            return frame.f_lineno or "?"
        frame = frame.f_back
    return "?"
