"""The one guarded place through which the framework calls game code.

Game code is untrusted student code. ``GameGuard.call`` runs one method of a
game and turns every way it can go wrong into a ``GameCodeError`` for the
request that triggered it:

* an exception (anything, including ``SystemExit``) → logged with traceback;
* a call that runs longer than ``time_limit`` seconds → interrupted.

Why interruption works the way it does: the server runs trusted game code
(the bundled games) on its event-loop thread (a game call is short, and
running it inline keeps the hot path free of thread hand-offs). A watchdog
thread wakes every ``time_limit / 4`` seconds and, if the same game call has
been running for longer than the limit, raises ``GameCallTimeout`` inside
the event-loop thread with ``PyThreadState_SetAsyncExc``, and again at each
later wake-up while that call runs on: an exception that lands in a
``__del__``, a weakref callback or a ``gc.callbacks`` entry (the collector
runs them inside whatever code happens to allocate) is printed as
"unraisable" and dropped, and the call would go on. That stops any game
stuck in a Python-level loop, unless the game catches ``BaseException``.
A call blocked inside C code (``time.sleep``, reading a file) is
interrupted only when it returns to Python code; the docs say so.
Untrusted games run in worker processes (``gameserver.workers``), which the
server interrupts with a signal and kills if need be; their guard has no
watchdog (``watchdog=False``).

``PyThreadState_SetAsyncExc`` is a CPython function outside the stable
public API, called through ctypes. ``async_exception_problem()`` checks
once per process that it still interrupts a thread; where it does not (a
Python that changed or dropped it), the watchdog only logs overlong calls,
and one log line at start-up says so.

The guard never lets a ``GameCallTimeout`` escape: one that arrives just
after the game call returned is still caught here and reported as a timeout.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ._starved import read_schedstat, read_stat

log = logging.getLogger("gameserver.guard")


def _async_exc_function() -> Callable[[int, int | None], int] | None:
    try:
        func = ctypes.pythonapi.PyThreadState_SetAsyncExc
    except (AttributeError, ValueError):  # not CPython, or the symbol is gone
        return None
    # c_void_p, not py_object: clearing a pending exception needs a real NULL.
    func.argtypes = (ctypes.c_ulong, ctypes.c_void_p)
    func.restype = ctypes.c_int
    return func  # type: ignore[no-any-return]


_set_async_exc = _async_exc_function()
_monotonic, _get_ident = time.monotonic, threading.get_ident  # (one lookup less per call)
_self_check: str | None = None  # async_exception_problem()'s answer, once known


class GameCallTimeout(BaseException):
    """Raised inside a game call that ran past the time limit.

    A ``BaseException`` so that a game's own ``except Exception:`` cannot
    swallow it. ``GameCallTimeout(WAITED)``: the call was seen waiting, not running
    (blocked in ``time.sleep``: a worker's server saw it so), which its message says.
    """


WAITED = "waited"  # GameCallTimeout's argument for a call seen blocked, not running


def out_of_time(method: str, time_limit: float, waited: bool) -> str:
    """The end of the error for a call of ``method`` stopped at ``time_limit`` seconds,
    after "framework: game NAME: ". ``waited``: it was seen blocked, not running (a
    ``time.sleep``, most likely): "endless loop?" sent students looking for a loop
    that was not there."""
    if waited:
        return (f"{method}() took longer than {time_limit:g} s and was stopped: it was "
                "waiting, not running (time.sleep()?). A game must answer at once: take the "
                "sleep out")
    return f"{method}() took longer than {time_limit:g} s and was stopped (endless loop?)"


class GameCodeError(Exception):
    """A game method failed; ``str(err)`` is a complete ``framework:`` message.

    ``details`` holds the traceback of the game's exception, when there was
    one, for tools that show it to the game's author.
    """

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class _Probe(BaseException):
    """Raised in a thread by the self-check of ``PyThreadState_SetAsyncExc``."""


class _Cancelled(BaseException):
    """Raised by ``_cancel_pending`` in its own thread, and caught there."""


def _cancel_pending() -> None:
    """Cancel a ``GameCallTimeout`` raised in this thread and not delivered yet.

    Not with ``PyThreadState_SetAsyncExc(thread, NULL)``, as until stop 46: that too
    sets the interpreter's "eval breaker", which only the delivery of an exception
    resets. On Python 3.11 it then stayed set for good (every loop and call of every
    thread took the slow path), and the first call of a Python function under a trace
    or profile function (``sys.setprofile``, ``sys.settrace``: a game's, a debugger's,
    coverage's) looped for ever in CPython's own code, ``RESUME``: "the setprofile hang
    of stop 40", a test process that had run an interrupted call before. So the pending
    exception is replaced by one of ours, which this thread takes delivery of here.
    """
    assert _set_async_exc is not None
    ident = _get_ident()
    try:
        _set_async_exc(ident, id(_Cancelled))
        for _ in (1, 2):  # (a loop's jump back: a thread takes delivery there; no call)
            pass
    except _Cancelled:
        return
    _set_async_exc(ident, None)  # not delivered here (a Python that changed): cancelled


def async_exception_problem() -> str:
    """Why overlong calls cannot be interrupted on this Python, or "" if they can.

    Checked once per process: a thread spins until ``PyThreadState_SetAsyncExc``
    raises an exception in it (a few milliseconds).
    """
    global _self_check
    if _self_check is None:
        _self_check = _probe_async_exc()
        if _self_check:
            log.warning("game calls running in the server process cannot be interrupted on "
                        "this Python (%s): a bundled game stuck in a loop would stall the "
                        "server; games in worker processes (isolate_games) are still "
                        "stopped", _self_check)
    return _self_check


def _probe_async_exc() -> str:
    if _set_async_exc is None:
        return "ctypes.pythonapi has no PyThreadState_SetAsyncExc"
    started, interrupted, stop = threading.Event(), threading.Event(), threading.Event()

    def spin() -> None:
        try:
            started.set()
            while not stop.is_set():
                pass
        except _Probe:
            interrupted.set()

    thread = threading.Thread(target=spin, name="gameserver-guard-check", daemon=True)
    thread.start()
    started.wait(5)
    assert thread.ident is not None
    try:
        count = _set_async_exc(thread.ident, id(_Probe))
    except Exception as err:  # noqa: BLE001 - a changed signature
        count = -1
        log.debug("PyThreadState_SetAsyncExc failed: %s", err)
    works = count == 1 and interrupted.wait(5)
    stop.set()
    thread.join(5)
    if works:
        return ""
    return f"PyThreadState_SetAsyncExc did not interrupt a thread (it returned {count})"


class GameGuard:
    """Runs game methods with exception capture and a time limit.

    Args:
        time_limit: seconds one game call may run before it is interrupted.
        watchdog: interrupt overlong calls with a watchdog thread (see the
            module docstring); False where something else enforces the
            limit (a worker process, which the server interrupts).
        stuck: called by the watchdog thread, once per call, with the method's
            name and the thread's id, when a call still runs ``time_limit``
            seconds after it was first interrupted, and was interrupted again
            since (it caught the interruptions: a bare ``except:`` in a loop),
            or could not be interrupted, and its thread has run or been blocked
            (``time.sleep``) for a time limit since, not waited for a CPU
            (``_went_on``): the checker reports it and ends, since nothing stops
            that call. The watchdog stops interrupting it then. ``blocked`` says
            which, when it is called.
    """

    def __init__(self, time_limit: float = 5.0, watchdog: bool = True,
                 stuck: Callable[[str, int], None] | None = None) -> None:
        self.time_limit = time_limit
        self.stuck = stuck
        # Whether the call last reported ``stuck`` was blocked (``time.sleep``, ``input()``:
        # neither running nor waiting for a CPU), not running: it did not catch a stop, it
        # never met one. Set before ``stuck`` is called; False where the kernel does not say.
        self.blocked = False
        self.errors = 0  # game calls that failed, for metrics (``count``) ...
        self.by_game: Counter[str] = Counter()  # ... and for the dashboard, by game name
        # The end of a timed-out call's message, from the interrupted call's traceback:
        # where the game was stopped (``_check_words.stopped_at``; LocalSession sets it).
        # None on the server: its players are not shown the server's file names.
        self.where: Callable[[TracebackType | None], str] | None = None
        self.watchdog = watchdog
        # The call in progress: (start time, thread id, method) or None. A new tuple for
        # each call: the tuple is the call's identity (kept below, it is not reused).
        self._current: tuple[float, int, str] | None = None
        self._method: str | None = None  # ... its method, without a watchdog
        self._interrupted: tuple[float, int, str] | None = None  # the last call interrupted
        self._stuck: tuple[float, int, str] | None = None  # ... and reported as stuck
        self._blocked = False  # what ``_went_on`` saw last: blocked for a time limit
        self._deliveries = 0  # times the timeout was raised in the call ``_interrupted``
        # ... when it was first raised, its thread's kernel id, and what the kernel said of
        # that thread then (``_thread_times``): see ``_went_on``.
        self._asked: tuple[float, int | None, tuple[float, float] | None] = (0.0, None, None)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.can_interrupt = watchdog and not async_exception_problem()
        if watchdog:
            threading.Thread(target=self._watch, name="gameserver-watchdog",
                             daemon=True).start()
        else:  # one test less in every call
            self.call = self._unwatched  # type: ignore[method-assign]

    @property
    def method(self) -> str | None:
        """The game method running now, if any (for a worker's interrupt handler)."""
        current = self._current
        return self._method if current is None else current[2]

    def close(self) -> None:
        """Stop the watchdog thread."""
        self._stop.set()

    def call(self, game_name: str, method: str, func: Callable[..., Any], *args: Any) -> Any:
        """Call ``func(*args)``, a method of game ``game_name``, under guard.

        (A guard without watchdog has ``_unwatched`` in its place: see ``__init__``.)

        Returns:
            Whatever the game method returned.

        Raises:
            GameCodeError: the method raised or ran out of time; the message
                names the game and the method.
        """
        try:
            # No lock: only the calling thread writes these, and the watchdog reads
            # ``_current`` whole (one store). The watchdog marks a call interrupted
            # before it checks, under its lock, that the call still runs and raises the
            # timeout; this thread ends the call before it reads the mark. So either
            # the watchdog sees the call ended and raises nothing, or this thread sees
            # the mark and waits for the lock, after which a timeout raised too late to
            # be delivered is cancelled (one that is delivered is caught below).
            try:
                current = self._current = (_monotonic(), _get_ident(), method)
                return func(*args)
            finally:
                self._current = None
                if self._interrupted is current:
                    with self._lock:
                        if self.can_interrupt:  # cancel a timeout not delivered yet
                            _cancel_pending()
        except BaseException as err:  # noqa: BLE001 - any failure of game code
            raise self._failed(game_name, method, err) from None

    def _unwatched(self, game_name: str, method: str, func: Callable[..., Any],
                   *args: Any) -> Any:
        """``call`` without watchdog: no other thread reads what runs, so no clock, no
        lock (a worker process, which the server interrupts with a signal)."""
        self._method = method
        try:
            return func(*args)
        except BaseException as err:  # noqa: BLE001 - any failure of game code
            # The call has ended: an interrupt while its failure is described (its message,
            # its traceback: the game's code may run there) is not for it, nor fatal.
            self._method = None
            raise self._failed(game_name, method, err) from None
        finally:
            self._method = None

    def count(self, game_name: str | None) -> None:
        """Count one failed call of game ``game_name``: it raised, ran out of time or
        returned a wrong value (``checked``), here or in a worker process (``workers``).
        None: a failure of no one game (a worker that died idle): in ``errors`` alone."""
        self.errors += 1
        if game_name is not None:
            self.by_game[game_name] += 1

    def _failed(self, game_name: str, method: str, err: BaseException) -> GameCodeError:
        """The error for ``err``, raised by the game's ``method`` (logged, counted)."""
        self.count(game_name)
        if isinstance(err, GameCallTimeout):
            # With the traceback: its last frames of the game's file are the line the call
            # was running, which is all an operator has to tell a student where to look.
            log.error("game %s: %s() ran longer than %.3g s and was interrupted",
                      game_name, method, self.time_limit, exc_info=err)
            where = self.where(err.__traceback__) if self.where is not None else ""
            waited = err.args == (WAITED,)
            return GameCodeError(f"framework: game {game_name}: "
                                 f"{out_of_time(method, self.time_limit, waited)}{where}")
        log.error("game %s: %s() raised %s", game_name, method,
                  type(err).__name__, exc_info=err)
        return GameCodeError(
            f"framework: game {game_name}: {method}() raised "
            f"{type(err).__name__}: {_one_line(err)}",
            # Skip the guard's own frame: the author needs only their code.
            details="".join(traceback.format_exception(
                type(err), err, err.__traceback__ and err.__traceback__.tb_next)))

    def _watch(self) -> None:
        while not self._stop.wait(max(0.01, self.time_limit / 4)):
            stuck = None
            with self._lock:
                current = self._current
                if current is None:
                    continue
                started, thread_id, method = current
                running = time.monotonic() - started
                if running <= self.time_limit or current is self._stuck:
                    continue
                if current is not self._interrupted:
                    self._interrupted = current  # first: see ``call``
                    self._deliveries = 0
                    native = _native_id(thread_id)
                    self._asked = (started + running, native, _thread_times(native))
                    if not self.can_interrupt:
                        log.error("a game call, %s(), has run longer than %.3g s and cannot "
                                  "be stopped on this Python (%s)", method, self.time_limit,
                                  async_exception_problem())
                elif (self.stuck is not None and running > 2 * self.time_limit
                        and (self._deliveries > 1 or not self.can_interrupt)
                        and self._went_on(started + running)):
                    self._stuck = current  # interrupted a time limit ago, and still on
                    self.blocked = self._blocked
                    stuck = self.stuck
                # Delivered again at every wake-up while the call runs on: an interruption
                # that lands in a ``__del__``, a weakref or ``gc.callbacks`` callback (the
                # collector runs them inside whatever code allocates) is printed as
                # "unraisable" and dropped there, and the call goes on as if never stopped.
                if stuck is None and self.can_interrupt and self._current is current:
                    assert _set_async_exc is not None  # (else the call has ended)
                    _set_async_exc(thread_id, id(GameCallTimeout))
                    self._deliveries += 1
            if stuck is not None:
                stuck(method, thread_id)

    def _went_on(self, now: float) -> bool:
        """Whether the call interrupted (``_interrupted``) went on after it was first asked
        to stop, at ``now``, rather than not being run since.

        It went on if its thread has run a time limit since (it caught the stops: a bare
        ``except:`` in a loop; or a long computation in C code), or was blocked for one
        (``time.sleep``, a read, or the GIL that another thread holds): neither running
        nor waiting to run. A thread that was waiting to run all along (a loaded machine
        ran other work) has not had the chance to stop: until stop 46 the watchdog's
        asks alone counted, and ``check`` reported such a call as stuck, and ended.
        Where the kernel does not say what a thread did (not Linux), the time since the
        first ask counts, as before.

        One read of ``/proc`` where it tells (``_thread_stat``: a thread that ran a time
        limit, or is runnable now), a second (``_thread_times``) only for a thread that is
        blocked now, to tell how long it was blocked from how long it waited for a CPU.
        (Until stop 48 ``schedstat`` was always read, and ``stat`` after it for a thread
        that seemed blocked: a starved thread took both at every ask.)
        """
        self._blocked = False  # (``blocked``: it went on blocked, not running)
        asked_at, native, before = self._asked
        seen = _thread_stat(native) if before is not None else None
        if before is None or seen is None:
            return True
        runnable, cpu = seen
        if cpu - before[0] >= self.time_limit:  # (``stat``'s time: whole ticks, cut)
            return True
        if runnable:  # (running, or waiting to run: not blocked, whatever it was before)
            return False
        after = _thread_times(native)
        if after is None:
            return True
        ran, waited = after[0] - before[0], after[1] - before[1]
        # (The kernel adds a wait to run to ``waited`` only once it ends: a thread
        # waiting to run all along shows neither, and is not blocked: runnable, above.)
        if ran >= self.time_limit:
            return True
        self._blocked = now - asked_at - ran - waited >= self.time_limit
        return self._blocked


def _native_id(ident: int) -> int | None:
    """The kernel's id of the thread of ``threading.get_ident()`` ``ident``, if known."""
    for thread in threading.enumerate():
        if thread.ident == ident:
            return thread.native_id
    return None


def _thread_times(native_id: int | None) -> tuple[float, float] | None:
    """Seconds thread ``native_id`` of this process has run, and has waited to run (it
    was runnable, and another ran), so far; None where the kernel does not say (Linux's
    ``schedstat``, one read of a few bytes)."""
    if native_id is None:
        return None
    return read_schedstat(f"/proc/self/task/{native_id}/schedstat")


def _thread_stat(native_id: int | None) -> tuple[bool, float] | None:
    """Whether thread ``native_id`` of this process is runnable now (Linux's state R:
    running, or waiting for a CPU), and the seconds it has run so far (utime and stime,
    in whole clock ticks: the time of ``_thread_times``, cut); None where the kernel
    does not say (one read of ``stat``).

    ``schedstat`` alone cannot tell: it counts a wait for a CPU when the wait ends, so a
    thread starved since the watchdog first asked it to stop (``SCHED_IDLE`` beside a
    busy neighbour in a test run under load) showed no time run and none waited, all of
    it counted as blocked, and the call was reported stuck (once in a README test run).
    ``stat`` alone cannot either: it has no wait for a CPU (neither has ``sched``
    without ``kernel.sched_schedstats``), which tells a thread blocked now from one that
    waited to run most of the time and is blocked only now (on the GIL, once it ran)."""
    if native_id is None:
        return None
    return read_stat(f"/proc/self/task/{native_id}/stat")


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 200 else text[:197] + "..."
