"""Importing a game file into this process, within a time limit.

A game file's top level and class bodies run when it is imported. In a
worker process (``isolate_games``) the server stops that import, which has
the worker's start-up limit (``workers.STARTUP_LIMIT``). In the server
itself (``isolate_games = "off"``) and in ``python -m gameserver check``
it ran on the caller's thread with no limit: a student's file with ``while
True: pass`` at its top (or ``time.sleep(1000)``) held the server's
start-up for ever, and the log said nothing.

``run_import`` runs the import on a thread of its own under a ``GameGuard``:
a loop is stopped at the limit with ``GameCallTimeout``, like a game call; an
import that goes on after that (it catches the stop, or is blocked in C code)
is left running on its thread, which nothing can end, and the caller goes on
without the file. Its thread is a daemon: it does not keep the process alive
at exit. (On a thread, not the caller's: an import stuck on the caller's
thread would hold the caller too.)
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from .guard import GameCallTimeout, GameCodeError, GameGuard


def import_limit(call_limit: float) -> float:
    """Seconds a game file's import may take in this process, for a game call's limit of
    ``call_limit``: twice that (a worker's start and import get at least as long)."""
    return 2 * call_limit


class ImportStuck(Exception):
    """The import went on after it was stopped; ``line`` is where it was running."""

    def __init__(self, line: int | str) -> None:
        super().__init__(line)
        self.line = line


def run_import(path: Path, execute: Callable[[], object], time_limit: float) -> None:
    """Run ``execute()``, the import of game file ``path``, within ``time_limit`` seconds.

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
        outcome.append(ImportStuck(_line_running(path, sys._current_frames().get(thread_id))))
        ended.set()

    def attempt() -> BaseException | None:
        try:
            execute()
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            return err
        return None

    def importing() -> None:
        try:
            result = guard.call(path.name, "import", attempt)
        except GameCodeError:  # stopped as it ended (the guard logged it): out of time
            result = GameCallTimeout()
        outcome.append(result)
        ended.set()

    guard = GameGuard(time_limit, stuck=stuck)
    try:
        threading.Thread(target=importing, name=f"gameserver-import-{path.name}",
                         daemon=True).start()
        ended.wait()
    finally:
        guard.close()
    if outcome[0] is not None:
        raise outcome[0]


def _line_running(path: Path, frame: FrameType | None) -> int | str:
    """The line of ``path`` that the innermost of ``frame`` and its callers in that file
    runs, or "?"."""
    while frame is not None:
        if Path(frame.f_code.co_filename) == path:
            return frame.f_lineno or "?"
        frame = frame.f_back
    return "?"
