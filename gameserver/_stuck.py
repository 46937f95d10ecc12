"""A game call that nothing can end, in a program that runs the game in itself.

``LocalSession`` (a student's pytest tests) and the in-process RL tables run
game code on the caller's own thread, under a ``GameGuard`` with a watchdog.
A call stuck in a loop is interrupted with ``GameCallTimeout``; a call that
catches it (a bare ``except:`` or ``except BaseException:`` in a loop) goes
on for ever, and so did the student's test run, silently. The guard tells its
``stuck`` callback when a call still runs a time limit after it was
interrupted, or one blocked (``time.sleep``) for that long, which no interruption
reaches; ``exit_stuck`` is that callback here: it writes what happened, where
and what to change to stderr, and ends the process with ``os._exit``.

Why end the process: the stuck call holds the caller's thread (the test's, or
the training loop's), and every way to stop it from another thread is an
exception raised in it, which that very ``except`` catches again. Running
each call on another thread, to abandon it, would cost a thread hand-off per
move on the RL env's hot path and take the game off the thread a debugger
steps through. A process that can only spin is better ended, and said so.

Under pytest the test's output is captured (into a file pytest reads only
after the test): the message would vanish with the process. So pytest's
capture is suspended first, and the message goes to the terminal.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable

from . import _check_words as words
from .guard import GameGuard

STUCK_EXIT = 1  # the process's exit code after a stuck game call


def exit_stuck(game_class: type, guard: GameGuard, setting: str) -> Callable[[str, int], None]:
    """A ``GameGuard(stuck=...)`` callback that reports the stuck call and ends the process.

    Args:
        game_class: the game (its name and file go into the message).
        guard: the guard it is for (its time limit, whether it interrupts calls, and
            whether the stuck call was blocked, in ``time.sleep``, rather than running).
        setting: how the caller sets that limit (``LocalSession(..., time_limit=...)``).
    """
    def stuck(method: str, thread_id: int) -> None:
        place = words.running_line(game_class, sys._current_frames().get(thread_id))
        message = words.stuck_in_process(game_class.__name__, method, guard.time_limit,
                                          setting, place, guard.can_interrupt, guard.blocked)
        _release_pytest_capture()
        text = "\n".join(words.wrap(message, words.WIDTH)) + "\n"
        try:
            sys.stdout.flush()  # what the program printed before, then the message
        except Exception:  # noqa: BLE001, S110 - a closed or broken stdout: the message matters
            pass
        os.write(2, text.encode("utf-8", "replace"))
        os._exit(STUCK_EXIT)

    return stuck


def _release_pytest_capture() -> None:
    """Give stdout and stderr back to the terminal if pytest captures them now."""
    capture = sys.modules.get("_pytest.capture")
    manager = getattr(capture, "CaptureManager", None)
    if manager is None:
        return
    for found in gc.get_referrers(manager):  # its instances (one, while pytest runs)
        if isinstance(found, manager):
            try:
                found.suspend_fixture()  # capsys, capfd: inside the global capture
                found.suspend_global_capture(in_=False)
            except Exception:  # noqa: BLE001, S110 - pytest changed: stderr as it is, then
                pass
