"""The one guarded place through which the framework calls game code.

Game code is untrusted student code. ``GameGuard.call`` runs one method of a
game and turns every way it can go wrong into a ``GameCodeError`` for the
request that triggered it:

* an exception (anything, including ``SystemExit``) → logged with traceback;
* a call that runs longer than ``time_limit`` seconds → interrupted.

Why interruption works the way it does: the server runs game code on its
event-loop thread (a game call is short, and running it inline keeps the hot
path free of thread hand-offs). A watchdog thread wakes every
``time_limit / 4`` seconds and, if the same game call has been running for
longer than the limit, raises ``GameCallTimeout`` inside the event-loop
thread with ``PyThreadState_SetAsyncExc``. That stops any game stuck in a
Python-level loop. A call blocked inside C code (``time.sleep``, reading a
file) is interrupted only when it returns to Python code; the docs say so.

The guard never lets a ``GameCallTimeout`` escape: one that arrives just
after the game call returned is still caught here and reported as a timeout.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

log = logging.getLogger("gameserver.guard")

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
# c_void_p, not py_object: clearing a pending exception needs a real NULL.
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.c_void_p)
_set_async_exc.restype = ctypes.c_int


class GameCallTimeout(BaseException):
    """Raised inside a game call that ran past the time limit.

    A ``BaseException`` so that a game's own ``except Exception:`` cannot
    swallow it.
    """


class GameCodeError(Exception):
    """A game method failed; ``str(err)`` is a complete ``framework:`` message.

    ``details`` holds the traceback of the game's exception, when there was
    one, for tools that show it to the game's author.
    """

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class GameGuard:
    """Runs game methods with exception capture and a time limit.

    Args:
        time_limit: seconds one game call may run before it is interrupted.
    """

    def __init__(self, time_limit: float = 5.0) -> None:
        self.time_limit = time_limit
        self.errors = 0  # game calls that failed, for metrics
        # The call in progress: (generation, start time, thread id) or None.
        self._current: tuple[int, float, int] | None = None
        self._generation = 0
        self._interrupted = 0  # generation of the last call the watchdog interrupted
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watchdog = threading.Thread(
            target=self._watch, name="gameserver-watchdog", daemon=True)
        self._watchdog.start()

    def close(self) -> None:
        """Stop the watchdog thread."""
        self._stop.set()

    def call(self, game_name: str, method: str, func: Callable[..., Any], *args: Any) -> Any:
        """Call ``func(*args)``, a method of game ``game_name``, under guard.

        Returns:
            Whatever the game method returned.

        Raises:
            GameCodeError: the method raised or ran out of time; the message
                names the game and the method.
        """
        try:
            try:
                with self._lock:
                    self._generation += 1
                    self._current = (self._generation, time.monotonic(),
                                     threading.get_ident())
                return func(*args)
            finally:
                with self._lock:
                    self._current = None
                    if self._interrupted == self._generation:
                        # Cancel a timeout raised too late to be delivered.
                        _set_async_exc(threading.get_ident(), None)
        except GameCallTimeout:
            self.errors += 1
            log.error("game %s: %s() ran longer than %.3g s and was interrupted",
                      game_name, method, self.time_limit)
            raise GameCodeError(
                f"framework: game {game_name}: {method}() took longer than "
                f"{self.time_limit:g} s and was stopped (endless loop?)") from None
        except BaseException as err:  # noqa: BLE001 - any failure of game code
            self.errors += 1
            log.error("game %s: %s() raised %s", game_name, method,
                      type(err).__name__, exc_info=err)
            raise GameCodeError(
                f"framework: game {game_name}: {method}() raised "
                f"{type(err).__name__}: {_one_line(err)}",
                # Skip the guard's own frame: the author needs only their code.
                details="".join(traceback.format_exception(
                    type(err), err, err.__traceback__ and err.__traceback__.tb_next))) from None

    def _watch(self) -> None:
        while not self._stop.wait(max(0.01, self.time_limit / 4)):
            with self._lock:
                current = self._current
                if current is None:
                    continue
                generation, started, thread_id = current
                if (generation != self._interrupted
                        and time.monotonic() - started > self.time_limit):
                    self._interrupted = generation
                    _set_async_exc(thread_id, id(GameCallTimeout))


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 200 else text[:197] + "..."
