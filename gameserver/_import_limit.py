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
2026-12-01). The server therefore first imports the files it will import itself
in a throw-away process (``trial_imports``: all of them in one process, in the
server's order, each within the limit; a process per file cost a fresh interpreter
each, until stop 48), ended at a file's limit, and imports a file only if its import
ended there (or raised: the server's own import then says why), so that what nothing
can stop runs in a process that can be killed. ``run_import``
stays around the server's own import: a file may behave otherwise the second time
(a hostile one can tell the trial from the server), and then, as before, it is
stopped or given up. ``check`` needs no trial: its process ends after the check.

What the trial's process reports is taken only from what the file cannot make: the
marks around each import carry a secret the file is not given (``_trial_run``), and
"it overran" comes from ``faulthandler``'s dump or the kill at the deadline. A file's
code runs in that process, though, with its memory and descriptors: one written
against the trial can still find the secret (in the frames that import it, or in the
process's memory) and forge its own end, as it can behave in the trial and otherwise in
the server. What it gains so is what ``run_import`` stops in the server: a file that
loops there costs a CPU until the server stops, one that ends its process there ends
the server. The trial catches mistakes, and a file that does not aim at it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
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
# ... and beyond each later file's limit, counted from the mark before it (its timer ends
# the process at the limit: this is for a file that cancels its timer).
FILE_SLACK = 2.0
_TRIAL_READ = 64 * 1024  # bytes kept of what a file's import wrote to the report (a dump)
_TIMEOUT = b"Timeout ("  # how faulthandler's dump at the limit begins
_MARK_MAX = 80  # bytes of a mark at most: the end of a read kept for the next one
# The trial process: from the server's sys.path (the files may import what the server
# can), the files are imported in the server's order, as the server would
# (``registry.load_module``), each under ``faulthandler``'s timer, which dumps every
# thread's stack to the report pipe at the limit and ends the process, whatever the
# file's code catches (a C thread does it). Each import is marked before and after,
# with a secret the server writes on the process's standard input, which the trial
# reads and closes before the first file's import (see ``_trial_run``).
_TRIAL = """\
import faulthandler, json, os, sys
def trial():
    paths, fd, limit = json.loads(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    secret = b""
    while chunk := os.read(0, 64):  # (until the server closes it)
        secret += chunk
    null = os.open(os.devnull, os.O_RDONLY)  # (input() at a file's top: end of file)
    os.dup2(null, 0)
    os.close(null)
    sys.path[:] = paths
    from pathlib import Path
    from gameserver.registry import load_module
    report = os.fdopen(fd, "wb", buffering=0)
    for index, file in enumerate(sys.argv[4:]):
        os.write(fd, b"\\ngameserver-trial-%s-start %d\\n" % (secret, index))
        faulthandler.dump_traceback_later(limit, exit=True, file=report)
        try:
            load_module(Path(file))
        except BaseException:
            pass
        faulthandler.cancel_dump_traceback_later()
        os.write(fd, b"\\ngameserver-trial-%s-ended %d\\n" % (secret, index))
trial()
os._exit(0)
"""


class TrialFailed(Exception):
    """The file's import in a throw-away process did not end well: ``overran`` (it ran
    past the limit; ``line``, where it was) or not (the process died: ``os._exit``, a
    crash, which in the server would end the server)."""

    def __init__(self, overran: bool, line: int | str, how: str = "") -> None:
        super().__init__(line)
        self.overran, self.line, self.how = overran, line, how


# Files one trial process is given at most: their paths go on its command line, which
# the system bounds (Linux: ``ARG_MAX``, 2 MB by default; 600 paths of 3,800 bytes failed
# the trial's start with "Argument list too long", and the server's with it).
TRIAL_FILES_MAX = 200


def trial_imports(paths: list[Path], time_limit: float) -> dict[Path, TrialFailed]:
    """Import game files ``paths`` in a throw-away process, in this order, each within
    ``time_limit`` seconds (see the module docstring): why each file whose import did not
    end there failed (a file whose import raised ended: it is not among them).

    One process for all the files (until stop 48 one each: a fresh interpreter and
    ``gameserver`` per file, about 0.1 s, and the imports the files share, again for
    each); a file that overran or ended the process ends with it, and the files after it
    are tried in a new one. They run as in the server: its user, folder, ``sys.path``
    and environment, each after the files before it (what a file's top level does, it
    does twice, once there), ``TRIAL_FILES_MAX`` files at most. The process and whatever
    it started (its process group) are killed when it is done. A file that fails after
    others in its process is tried again alone before it is blamed: a thread a file
    before it left may have done it (that file itself passes, as it did in a process of
    its own: what it does later, it does later in the server too).
    """
    failed: dict[Path, TrialFailed] = {}
    if sys.platform == "win32" or not hasattr(os, "waitid"):  # no trial: Windows (no
        return failed  # process groups, no descriptors passed), macOS (no waitid: below)
    rest = list(paths)
    while rest:
        ended, failure = _trial_run(rest[:TRIAL_FILES_MAX], time_limit)
        if failure is not None:
            if ended:  # files before it ran in that process: a thread one left (one that
                # ends the process later, or hogs it) may have failed it; it is tried alone
                _, failure = _trial_run(rest[ended:ended + 1], time_limit)
            if failure is not None:
                failed[rest[ended]] = failure
            ended += 1
        rest = rest[ended:]
    return failed


def _trial_run(paths: list[Path], time_limit: float) -> tuple[int, TrialFailed | None]:
    """Import ``paths`` in one trial process: how many of them (the first ones) ended,
    and why the next one failed (None: the process ended between two files or after the
    last; the files it did not try are for another process).

    Every run makes progress: a process that ends before its first file's import ended
    fails that file. A mark is taken only if it carries this run's secret, which the
    process reads from its standard input (a pipe, closed and replaced before the first
    file's import) and keeps in no argument, no file and no variable of a module: until
    2026-12-01 the marks were known text, and a file that wrote "this file's import
    ended" with the descriptor its ``sys.argv`` names, then ended its process (or ran on
    past the limit), passed, and was imported by the server. A mark out of order is not
    taken either (a file that found the secret all the same: see the module docstring):
    at most one per file and kind moves the deadline on."""
    from ._process import PACKAGE_PARENT
    folders = [PACKAGE_PARENT, *(entry for entry in sys.path if entry != PACKAGE_PARENT)]
    secret = secrets.token_hex(16).encode()
    marks = re.compile(rb"\ngameserver-trial-" + secret + rb"-(start|ended) (\d+)\n")
    started = ended = -1  # the last file whose import began, and ended
    said = b""  # what the process wrote since the last mark (the running file's dump)
    timed_out = False  # faulthandler's dump at the limit began since the last mark
    deadline = [time.monotonic() + time_limit + TRIAL_SLACK]  # (moved on at each mark)
    report, into = os.pipe()
    try:
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-c", _TRIAL, json.dumps(folders), str(into),
                 repr(time_limit), *map(str, paths)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, pass_fds=(into,), start_new_session=True)
        finally:
            os.close(into)
        try:
            assert process.stdin is not None
            try:  # (a pipe's buffer takes it whole: no wait)
                process.stdin.write(secret)
                process.stdin.close()
            except BrokenPipeError:  # (it ended already: what it wrote says how)
                pass
            unread = b""
            for chunk in _reports(process.pid, report, deadline):
                unread += chunk
                taken = 0
                for mark in marks.finditer(unread):
                    index = int(mark.group(2))
                    if mark.group(1) == b"start" and started == ended == index - 1:
                        started = index
                    elif mark.group(1) == b"ended" and started == index > ended:
                        ended = index
                    else:
                        continue
                    said, taken, timed_out = b"", mark.end(), False
                    deadline[0] = time.monotonic() + time_limit + FILE_SLACK
                keep = max(taken, len(unread) - _MARK_MAX)  # (a mark may begin there)
                # (Looked for as it comes: a dump over ``_TRIAL_READ``, of many threads,
                # loses its beginning, and was taken for the process ending itself.)
                timed_out = timed_out or _TIMEOUT in said[-len(_TIMEOUT):] + unread[taken:keep]
                said = (said + unread[taken:keep])[-_TRIAL_READ:]
                unread = unread[keep:]
            said += unread
        finally:  # (its timer cancelled by a hostile file, or held: killed at the deadline)
            try:  # (not reaped yet: its id still names its group, what it started)
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            status = process.wait()
    finally:
        os.close(report)
    if ended == len(paths) - 1 or started == ended >= 0:
        return ended + 1, None
    index = started if started > ended else 0
    if timed_out or _TIMEOUT in said or status == -signal.SIGKILL:
        return index, TrialFailed(True, _line_dumped(paths[index], said))
    return index, TrialFailed(False, "?", f"exit status {status}" if status >= 0
                              else f"signal {-status}")


def _reports(pid: int, report: int, deadline: list[float]) -> Iterator[bytes]:
    """What child ``pid`` writes to pipe ``report``, as it comes, until it has ended
    (left to be reaped: its id still names its process group) and what it wrote is
    read, or until ``deadline[0]`` (a time of ``time.monotonic``, which the caller may
    move on) has passed."""
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):  # (Linux before 5.3)
        pidfd = None
    reading = True  # (until the pipe ends: whatever the process started may hold it)
    try:
        while (left := deadline[0] - time.monotonic()) > 0:
            waits = [report] if reading else []
            if pidfd is not None:
                waits.append(pidfd)
            else:  # (at start-up, where nothing else waits)
                left = min(left, 0.05)
            ready = select.select(waits, [], [], left)[0] if waits else []
            if not waits:
                time.sleep(left)
            if report in ready:
                chunk = os.read(report, _TRIAL_READ)
                if chunk:
                    yield chunk
                    continue
                reading = False
            if (pidfd in ready if pidfd is not None
                    else os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)):
                yield from _left_in(report) if reading else ()
                return
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _left_in(report: int) -> Iterator[bytes]:
    """What pipe ``report`` holds now, up to a few reads (what the process started may
    write on)."""
    os.set_blocking(report, False)
    for _ in range(4):
        try:
            chunk = os.read(report, _TRIAL_READ)
        except BlockingIOError:
            return
        if not chunk:
            return
        yield chunk


def _line_dumped(path: Path, dump: bytes) -> int | str:
    """The line of ``path`` in ``faulthandler``'s stack dump ``dump`` (innermost first), or
    "?": in the importing thread's stack if it is there, the main thread's, which the dump
    lists last (newest threads first: a file that left threads running was said to be at a
    line of theirs, one they waited on, not its loop's); else in any thread's."""
    last = max(dump.rfind(b"\nThread 0x"), dump.rfind(b"\nCurrent thread 0x"), 0)
    for stack in (dump[last:], dump):
        for match in re.finditer(rb'File "([^"\n]*)", line (\d+)', stack):
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
