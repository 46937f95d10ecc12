"""Worker processes, seen from the server: start, talk, time, kill, replace.

(About 650 lines on purpose: the queue of requests, its timer and the
replacement of a process are one state machine sharing every field; the
operating-system side is in ``_process``, the messages in ``_channel``.)

Theory of operation
-------------------
A ``Worker`` owns the process that runs the games of one source file
(``gameserver.worker`` is the other end). The server writes requests to
the process's stdin and reads replies from its stdout, both non-blocking,
on the event loop (``add_reader``): nothing here ever waits for a worker.
Requests are answered in the order they were sent, so the requests in
flight are a queue whose head is the one running now.

Messages (plain data, ``gameserver._channel``), server → worker, and the reply
(the hello's as plain data too, the others in ``gameserver._reply``'s layout):

* ``("hello", settings)`` → ``("sandbox", landlock_abi, problems)``, sent
  before the worker imports the game file (its code could rewrite it after),
  then ``("catalog", entries, logs)``;
* ``("new", gid, class, players, seed, wanted)``,
  ``("restore", gid, class, blob, wanted, moves)``,
  ``("remake", gid, class, players, seed, checksum, wanted, moves, save)``,
  ``("move", gid, move, player, wanted, save)`` (``wanted`` None: those of the game's
  request before), ``("view", gid, player, legal)``
  → ``(error, result, current, over, views, snapshot, leftovers, retire,
  logs)``, where ``views`` are the states asked for (``wanted``; for a
  ``view``, the one), in that order, each a state reply (bytes), the error
  that replaces it (str) or None (not sent along: too large); ``result`` is a
  move's rejection as JSON text (for a ``new`` game made from a seed, and a
  ``remake``, the checksum of its start, in ASCII digits); and
  ``leftovers``, if not None, why the worker must be replaced (the game
  left a thread or child process running, or the worker failed outside a
  game call);
* ``("drop", gid)``: no reply.

Time: the head request may run ``time_limit`` seconds (the hello, which
imports the game file, longer), by the wall clock. The server looks at the
process a short window before that and again at the limit (``_starved``): if
it mostly waited for a CPU in between (a loaded machine), it is given another
window, up to three times the limit; if it ran, or was blocked, it gets one
polite interrupt (SIGINT: the game call running gets ``GameCallTimeout``, as
in-process; SIGUSR1 where it was blocked, a ``time.sleep``: its error then
says it waited, not "endless loop?") and ``grace`` seconds to answer; after
that it is killed.

Failure: a worker that dies (``pidfd`` or end of the pipe: at once), is
killed for overrunning, sends something malformed, or left a thread or
child process behind, is *replaced*; so is one whose reply the server fails to
handle (an exception in a reply's callback, a bug of ours: logged with its
traceback). The head request fails with a
``framework:`` error naming the game, the method and the reason (a move
once its game is back: ``_restore_later``); every
other game it hosted comes back in the new process from its last saved
copy, or made again from its seed, and the moves since
(``gameserver.isolated``: nothing is lost), or is *lost* (its session ends
with a clear error) where it had neither; the requests queued behind the
head are sent again.

Deaths from outside: a worker may die of something no game did (the
kernel's OOM killer, an operator's kill), which looks the same as a game
that kills its own process. A head request the worker had not read a byte
of (still in the pipe: ``Process.unread``; or written after it died,
before the loop noticed) cannot have killed it: it is sent again after its
game came back, once (then it fails saying the worker died *before*
running it). One it had read is blamed. A restore whose new worker died is
sent again ``RESTORE_RETRIES`` times, a slice of moves replayed at start-up
once; then that game is lost, so every failure makes progress. A new
worker that dies importing the file is followed by another
``IMPORT_RETRIES`` times in a row, spaced out (``IMPORT_RETRY_DELAY``,
doubling), the requests waiting; then the file is broken until the server
restarts. Repeated failures are spaced out (``restart_delay``) so that a
hostile client cannot make the server spend its time starting processes.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import _channel, _reply, _starved
from ._import_limit import IMPORT_TIMEOUT
from ._output import Output
from ._process import PACKAGE_PARENT, Process, death, spawn
from ._soon import Soon
from .guard import GameGuard, out_of_time

log = logging.getLogger("gameserver.workers")

Source = tuple[str, str]  # ("file", path) or ("module", name)


class GameInWorker(Protocol):
    """What a worker needs of a game it hosts (``gameserver.isolated.RemoteGame``)."""

    gid: int
    type: Any  # its GameType: ``type.name`` names it in messages

    def restore_request(self) -> Request | None:
        """The request that brings the game back in a new worker; None without a copy or
        a seed to come back from."""

    def lose(self, reason: str | None = None) -> str:
        """The game is gone; returns the message its players get."""

_RESTARTS_FREE = 5  # failures within RESTART_WINDOW replaced at once; then spaced out
RESTART_WINDOW = 60.0
RESTART_DELAY_MAX = 30.0
RESTORE_RETRIES = 2  # times a game's restore is sent again after its new worker died in it
IMPORT_RETRIES = 3  # replacements in a row that may die importing the file; then it is broken
IMPORT_RETRY_DELAY = 0.5  # seconds before the first of them, doubling
# Bytes of saved games (each game's copy and the moves since) the server keeps for the
# games of one worker: up to 512 KB a game (``isolated``), 10 GB at 20,000 sessions.
KEPT_MAX = 256 * 1024 * 1024
# ... and for the games of all workers together: a class's thirty game files would
# otherwise allow thirty times KEPT_MAX.
KEPT_TOTAL_MAX = 1024 * 1024 * 1024


@dataclass(eq=False)
class KeptBytes:
    """The bytes of saved games kept for the games of every worker of one server."""

    total: int = 0
READ_SIZE = 256 * 1024
# Seconds a worker may still run after the pipe from it ended (it exits: the pipe ends as
# it does); then it closed the pipe itself, and is killed.
CLOSED_AFTER = 0.2
KILLED_WAIT = 5.0  # seconds the server's stop waits for each killed worker to end
NOTE_MAX = 512  # bytes of a note (``_noted``): the pickle of ("note", a method's name)
# One buffer per thread that every worker's replies are read into (an event loop reads
# one pipe at a time; a process may run loops in several threads, as tests run servers):
# ``os.read`` would allocate READ_SIZE bytes per read, which the C library serves with
# mmap, mremap and munmap, three system calls and a page fault per reply.
_read_buffers = threading.local()


@dataclass(frozen=True)
class WorkerSettings:
    """What every worker is told in its hello (see ``config.Settings``)."""

    time_limit: float = 5.0
    # Seconds the worker may take to start and import its file (``_import_limit``: the
    # same rule as the server's own import and ``check``'s).
    import_limit: float = IMPORT_TIMEOUT
    memory_mb: int = 512
    cpu_seconds: int = 3600
    log_level: int = logging.INFO
    secrets: tuple[str, ...] = ()  # files no game should read (the store, the TLS key)

    @property
    def grace(self) -> float:
        """Seconds between the polite interrupt and the kill."""
        return max(0.5, min(2.0, self.time_limit / 2))


@dataclass(eq=False)
class Request:
    """One request to a worker, kept until its reply comes (and sent again after a failure).

    ``answer(reply)`` takes the reply's fields; ``fail(message)`` ends it
    with an error instead. ``game`` is the game it concerns (None for the hello).
    """

    frame: bytes
    method: str  # the game method it stands for, in error messages
    answer: Callable[[tuple[Any, ...]], None]
    fail: Callable[[str], None]
    game: GameInWorker | None = None
    builds: bool = False  # a new or restored game: nothing to restore if it fails
    retries: int = 0  # times it is sent again if its worker dies in it (a replay slice, restore)
    hello: bool = False  # the first request: its reply is the catalog
    limit: float = 0.0  # seconds it may run (0: the worker's time limit)
    restores: bool = False  # brings its game back in a new worker (``_restore_later``)
    offset: int = 0  # where its frame starts in the bytes written to the process
    resent: bool = False  # sent again once: its worker died before reading it


def _game_name(request: Request | None) -> str | None:
    """The name of the game ``request`` concerns, for the guard's count; None: no game."""
    game = request.game if request is not None else None
    return game.type.name if game is not None else None


def _then(request: Request, after: Callable[[], None]) -> None:
    """Have ``after()`` run once ``request`` is answered or has failed."""
    answer, fail = request.answer, request.fail

    def answered(reply: tuple[Any, ...]) -> None:
        answer(reply)
        after()

    def failed(message: str) -> None:
        fail(message)
        after()

    request.answer, request.fail = answered, failed


# Seconds a check may come before the look of a window before the limit and take it: a
# check armed for the request before (which ended less than that before its own window)
# stands for it, rather than a second timer.
LOOK_SLACK = 0.001


@dataclass(eq=False)
class Worker:
    """The worker process of one source and the requests in flight to it.

    Args:
        source: what it runs: ``("file", path)`` or ``("module", name)``.
        settings: limits for the process.
        loop: the server's event loop.
        guard: the server's guard (its ``errors`` count worker failures too).
        soon: the server's ``call_soon`` (``_soon``), held while replies are handled so
            that what they wake runs right after them; None: one of its own.
        everyone: what the server's workers keep in all (see ``keep``), shared by them.
    """

    source: Source
    settings: WorkerSettings
    loop: asyncio.AbstractEventLoop
    guard: GameGuard
    soon: Soon | None = None
    everyone: KeptBytes = field(default_factory=KeptBytes)
    games: weakref.WeakValueDictionary[int, GameInWorker] = field(
        default_factory=weakref.WeakValueDictionary)
    broken: str | None = None  # why no new process will be started (requests fail at once)
    catalog: asyncio.Future[tuple[Any, ...]] | None = None
    sandbox: tuple[int, list[str]] | None = None  # the process's report: Landlock ABI, problems
    # Called with the catalog of each replacement process (its file imported again, maybe
    # edited since): ``gameserver.isolated`` takes the player ranges from it.
    on_catalog: Callable[[tuple[Any, ...]], None] | None = None
    _queue: collections.deque[Request] = field(default_factory=collections.deque)
    _process: Process | None = None
    _out: bytearray = field(default_factory=bytearray)
    _reader: _channel.FrameReader = field(default_factory=_channel.FrameReader)
    _head_started: float = 0.0
    _interrupted: tuple[Request, float, bool] | None = None  # ... when, and whether blocked
    _blocked = False  # the last look past a limit (``_starved``) saw the worker blocked
    _running: str | None = None  # the game method the head request was interrupted in
    # A look at the process near the head request's limit (``_starved``): the request, the
    # process, when, what the kernel said, and whether more time was given already.
    _probe: tuple[Request, Process, float, _starved.Sample, bool] | None = None
    _timer: asyncio.TimerHandle | None = None
    _failures: collections.deque[float] = field(default_factory=collections.deque)
    _drops: list[int] = field(default_factory=list)
    _kept: dict[int, int] = field(default_factory=dict)  # bytes kept per game, see ``keep``
    kept_bytes: int = 0  # ... and in all
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _spawning: asyncio.TimerHandle | None = None
    _dying: list[subprocess.Popen[bytes]] = field(default_factory=list)  # killed, not reaped
    _sent: int = 0  # bytes written (or buffered in ``_out``) to the process
    _import_deaths: int = 0  # replacements in a row that died importing the file
    _output: Output = field(init=False)  # what its processes print, logged within bounds

    def __post_init__(self) -> None:
        if self.soon is None:
            self.soon = Soon(self.loop)
        self._output = Output(self.loop, self.label)

    @property
    def label(self) -> str:
        return self.source[1]

    @property
    def busy(self) -> bool:
        """Whether requests are in flight (the first one is running)."""
        return bool(self._queue)

    @property
    def pid(self) -> int | None:
        return self._process.popen.pid if self._process is not None else None

    def new_id(self) -> int:
        return next(self._ids)

    # ------------------------------------------------------------ starting

    def start(self) -> asyncio.Future[tuple[Any, ...]]:
        """Start the process; the future gets its catalog (see ``gameserver.isolated``)."""
        self.catalog = self.loop.create_future()
        self._spawn()
        return self.catalog

    def _spawn(self) -> None:
        """Start a process and queue its hello ahead of everything else."""
        self._spawning = None
        kind, where = self.source
        folder = str(Path(where).parent) if kind == "file" else PACKAGE_PARENT
        hello = ("hello", {
            "source": self.source, "time_limit": self.settings.time_limit,
            "memory_mb": self.settings.memory_mb, "cpu_seconds": self.settings.cpu_seconds,
            "readable": [folder] if kind == "file" else [], "parent": os.getpid(),
            "log_level": self.settings.log_level})
        try:
            process = self._process = spawn(folder)
        except OSError as err:
            self._broken(f"its worker process could not be started ({err})")
            return
        self.loop.add_reader(process.from_worker, self._readable, process)
        self._output.watch(process.printed)
        if process.pidfd is not None:
            self.loop.add_reader(process.pidfd, self._exited, process)
        self._reader = _channel.FrameReader()
        self._sent = 0
        self.sandbox = None
        queued, self._queue = self._queue, collections.deque()
        self._send(Request(_channel.encode(hello), "import", self._catalogued, self._no_catalog,
                           hello=True, limit=self.settings.import_limit))
        for request in queued:
            self._send(request)

    def _catalogued(self, reply: tuple[Any, ...]) -> None:
        if self.catalog is not None and not self.catalog.done():
            self.catalog.set_result(reply)
        elif self.on_catalog is not None:  # a replacement's
            self.on_catalog(reply)

    def _no_catalog(self, message: str) -> None:
        if self.catalog is not None and not self.catalog.done():
            self.catalog.set_exception(_channel.ChannelError(message))
        elif self.broken is None:  # a replacement that cannot load the file any more
            self._broken(f"its file can no longer be loaded ({message})")

    # ------------------------------------------------------------ requests

    def send(self, request: Request) -> None:
        """Send ``request``; its ``answer`` or ``fail`` is called later, never now."""
        if self.broken is not None:
            self.loop.call_soon(request.fail, self._message(request, self.broken))
            return
        # In the request's write: a write of their own would wake the worker for them
        # alone, a switch to it and back more per game ended (on one CPU).
        drops = self._take_drops() if self._drops and self._process is not None else b""
        self._send(request, drops)

    def flush_drops(self) -> None:
        """Write the drops no request has taken along (the server's tick calls this).

        Without it a worker kept the games of sessions that had ended until the next
        request for one of its games, for ever where none came (a game file nobody
        played any more, a class server after the lab): found by a soak test, 10
        ended sessions of a game holding 20 MB each kept its worker at 226 MB instead
        of 21 MB, and their copies counted against ``KEPT_MAX`` and ``KEPT_TOTAL_MAX``.
        Under load most drops still go along with requests; this writes at most once a
        tick, and only to a worker with drops left over.
        """
        if self._drops and self._process is not None:
            self._write(self._take_drops())

    def _take_drops(self) -> bytes:
        """The drop messages of the games ended since the last ones were written; their
        copies no longer count as kept."""
        gids, self._drops = self._drops, []
        for gid in gids:
            self._count_kept(-self._kept.pop(gid, 0))
        return b"".join(_channel.encode(("drop", gid)) for gid in gids)

    def _send(self, request: Request, drops: bytes = b"") -> None:
        """Queue ``request`` and write it (after ``drops``, messages that get no reply)."""
        queue = self._queue
        queue.append(request)
        request.offset = self._sent + len(drops)
        if self._process is not None:
            self._write(drops + request.frame if drops else request.frame)
            if len(queue) == 1:  # the head: its time starts now (a later one's in ``_reply``)
                self._head_starts(request)

    def forget(self, gid: int) -> None:
        """The game is gone on the server: let the worker drop it (with the next request,
        or at the server's next tick, ``flush_drops``).

        Runs from a finalizer, at any moment: it only notes the id.
        """
        self._drops.append(gid)

    def keep(self, gid: int, size: int) -> bool:
        """Count ``size`` bytes the server keeps to bring game ``gid`` back (its copy and
        the moves since; 0: none). False, and nothing counted, where the game grows and
        the games of this worker would take more than ``KEPT_MAX`` bytes in all, or the
        games of every worker more than ``KEPT_TOTAL_MAX``."""
        grown = size - self._kept.get(gid, 0)
        everyone = self.everyone
        if grown > 0 and (self.kept_bytes + grown > KEPT_MAX
                          or everyone.total + grown > KEPT_TOTAL_MAX):
            return False
        self.kept_bytes += grown  # (``_count_kept``, inline: every change comes here)
        everyone.total += grown
        if size:
            self._kept[gid] = size
        else:
            self._kept.pop(gid, None)
        return True

    def _count_kept(self, change: int) -> None:
        self.kept_bytes += change
        self.everyone.total += change

    def _write(self, data: bytes) -> None:
        process = self._process
        assert process is not None
        self._sent += len(data)
        if self._out:
            self._out += data
            return
        try:
            written = os.write(process.to_worker, data)
        except BlockingIOError:
            written = 0
        except OSError:  # the worker is gone; its end of the pipe will say so
            self._sent -= len(data)  # never written: never read
            return
        if written < len(data):
            self._out += data[written:]
            self.loop.add_writer(process.to_worker, self._writable, process)

    def _writable(self, process: Process) -> None:
        if process is not self._process:
            return
        try:
            written = os.write(process.to_worker, self._out)
        except BlockingIOError:
            return
        except OSError:
            self.loop.remove_writer(process.to_worker)
            return
        del self._out[:written]
        if not self._out:
            self.loop.remove_writer(process.to_worker)

    # ------------------------------------------------------------ replies

    def _readable(self, process: Process) -> None:
        """Bytes from the worker: one read per turn of the loop, so a flood cannot stall it."""
        if process is not self._process:
            return
        try:
            buffer: memoryview = _read_buffers.buffer
        except AttributeError:  # (the thread's first read)
            buffer = _read_buffers.buffer = memoryview(bytearray(READ_SIZE))
        try:
            size = os.readv(process.from_worker, [buffer])
        except BlockingIOError:
            return
        except OSError:
            size = 0
        if not size:
            self._ended(process)
            return
        soon = self.soon
        assert soon is not None
        # What the replies wake (a requester's resume, the commit it waits for) runs
        # right after them, not in the next pass of the loop (``_soon``).
        holding = soon.hold()
        reader = self._reader
        payload = b""  # the message being handled, for the log if it is malformed
        try:
            for payload in reader.feed(buffer[:size]):
                if payload.startswith(_reply.TAG):
                    self._reply(_reply.decode(payload))
                else:
                    self._plain(payload)
                if process is not self._process:
                    return  # the reply made us replace the worker
            payload = b""
            if reader.broken is not None:  # after the replies read before the bad frame
                raise _channel.ChannelError(reader.broken)
        except _channel.ChannelError as err:
            if payload:  # (a reply's header is its first 34 bytes: see ``_reply``)
                log.warning("game file %s: the malformed message from its worker process: "
                            "%d bytes, the first 64: %s", self.label, len(payload),
                            payload[:64].hex())
            self._replace("the game's worker process sent something malformed{during} "
                          f"({err})")
        except Exception as err:  # noqa: BLE001 - a bug of ours: no client may wait for ever
            # The request whose reply failed is the head again (``_reply``): it fails, its
            # game comes back as it was before it, the replies read after it are asked again.
            log.exception("game file %s: a reply of its worker process could not be handled",
                          self.label)
            self._replace("the server could not handle what the game's worker process "
                          f"sent{{during}} ({type(err).__name__}: {str(err)[:200]}); this is "
                          "a bug of the server (see its log)")
        finally:
            if holding:
                soon.release()

    def _plain(self, payload: bytes) -> None:
        """A message that is no reply (a pickle of plain data): the hello's report and
        catalog, or a note (``_noted``). Past the hello only a note, of a few dozen
        bytes, may come: a larger message is refused before it is decoded."""
        queue = self._queue
        if not queue:
            raise _channel.ChannelError("a message nobody asked for")
        if len(payload) > NOTE_MAX and not queue[0].hello:
            raise _channel.ChannelError(f"a message of {len(payload)} bytes that is neither a "
                                        "reply nor a note")
        message = _channel.decode_plain(payload)
        if self._noted(message):
            return
        if not queue[0].hello:
            raise _channel.ChannelError("a message that is neither a reply nor a note")
        if self.sandbox is None:  # its first message: how it is confined
            if not _channel.valid_sandbox(message):
                raise _channel.ChannelError("a malformed report of its sandbox")
            self.sandbox = (message[1], [_channel.cut(p) for p in message[2]])
            return
        if not _channel.valid_catalog(message):
            raise _channel.ChannelError("a malformed catalog")
        self._reply(message, catalog=True)

    def _reply(self, reply: tuple[Any, ...], catalog: bool = False) -> None:
        """The head request's reply: checked already (``_reply.decode``), or, for the
        hello, the catalog (``_plain``)."""
        queue = self._queue
        if not queue:
            raise _channel.ChannelError("a reply nobody asked for")
        request = queue[0]
        if request.hello and not catalog:  # (``_plain`` takes a catalog only for the hello)
            raise _channel.ChannelError("a reply before the catalog")
        queue.popleft()
        self._interrupted = self._running = self._probe = None  # (a look: the request's)
        if queue:  # the next request's time starts now (``_send`` starts a first one's)
            self._head_starts(queue[0])
        if reply[-1]:
            _channel.log_forwarded(reply[-1], self.label)
        if request.hello:
            self._import_deaths = 0
            self._answer(request, reply)
            return
        error, current, over = reply[0], reply[2], reply[3]
        if error is not None:
            self.guard.count(_game_name(request))
        if reply[6] is not None:  # leftovers: why it must be replaced (cut, as errors are)
            queue.appendleft(request)  # it fails with the process
            self._replace(f"{request.method}() {_channel.cut(reply[6])}")
            return
        if ((error is not None and len(error) > _channel.ERROR_MAX)
                or (type(current) is str and len(current) > _channel.ERROR_MAX)
                or (type(over) is str and len(over) > _channel.ERROR_MAX)):
            # A player gets them, the store keeps them: as short as the server's own.
            reply = (_channel.cut(error), reply[1], _channel.cut(current), _channel.cut(over),
                     *reply[4:])
        self._answer(request, reply)  # (its fields past the sixth are the worker's)
        if reply[7]:  # retire
            log.info("game file %s: its worker process used its CPU time; replacing it",
                     self.label)
            self._replace("")

    def _noted(self, message: Any) -> bool:
        """Whether ``message`` is a note that the worker is being interrupted in a method
        (``worker.Host.on_interrupt``); kept for the message that stops it."""
        if type(message) is not tuple or len(message) != 2 or message[0] != "note":
            return False
        if type(message[1]) is not str or self._running is not None:
            raise _channel.ChannelError("a malformed note")
        self._running = message[1][:100]
        return True

    def _answer(self, request: Request, reply: tuple[Any, ...]) -> None:
        """Hand ``reply`` to ``request``; if that raises, the request is the head again, to
        fail with the process (``_readable``)."""
        try:
            request.answer(reply)
        except Exception:
            self._queue.appendleft(request)
            raise

    # ------------------------------------------------------------ time

    def _limit(self, request: Request) -> float:
        return request.limit or self.settings.time_limit

    def _head_starts(self, head: Request) -> None:
        """``head`` is the request the worker runs from now on: its time starts, and the
        first check of it comes a window before its limit (``_check_time``)."""
        self._head_started = now = self.loop.time()
        limit = self._limit(head)
        self._arm(now + limit - _starved.window(limit))

    def _arm(self, when: float) -> None:
        """Check the time at ``when``, unless a check comes sooner anyway."""
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timer = self.loop.call_at(when, self._check_time)

    def _check_time(self) -> None:
        """The head request's time may be up: interrupt it, then kill the worker."""
        self._timer = None
        if not self._queue or self._process is None:
            return
        head, now = self._queue[0], self.loop.time()
        limit = self._limit(head)
        due = self._head_started + limit
        if now < due:
            early = due - _starved.window(limit)
            if now < early - LOOK_SLACK:  # (a check armed for an earlier head)
                self._arm(early)
                return
            if due - now >= _starved.window(limit) / 2:  # (a look too short says little)
                self._look_early(head, now)
            self._arm(due)
            return
        interrupted = self._interrupted
        if interrupted is None or interrupted[0] is not head:
            if self._starved(head, now):
                return
            blocked = self._blocked and not head.hello  # (the import's message is its own)
            self._interrupted = (head, now, blocked)
            if hasattr(signal, "SIGINT") and sys.platform != "win32":
                try:
                    os.kill(self._process.popen.pid,
                            signal.SIGUSR1 if blocked else signal.SIGINT)
                except ProcessLookupError:
                    pass
                self._arm(now + self.settings.grace)
                return
        elif now < interrupted[1] + self.settings.grace:
            self._arm(interrupted[1] + self.settings.grace)
            return
        self._replace(out_of_time(self._running or head.method, self._limit(head),
                                  interrupted is not None and interrupted[2]))

    def _starved(self, head: Request, now: float) -> bool:
        """Whether the head request, past its limit, is given more time because its worker
        waits for a CPU (``_starved``: the look a window before, ``_look_early``, or one
        earlier past the limit, and one now); if so, the next look is armed. Only here and
        in ``_look_early`` is ``/proc`` read."""
        process, limit = self._process, self._limit(head)
        assert process is not None
        self._blocked = False
        seen = _starved.sample(process.popen.pid)
        probe, self._probe = self._probe, None
        if seen is None:  # (not Linux, or gone: judged by the wall clock)
            return False
        given = False  # (more time given to this request: at its second look and after)
        if probe is not None and probe[0] is head and probe[1] is process:
            if not _starved.starved(probe[3], seen, now - probe[2]):
                self._blocked = _starved.blocked(probe[3], seen, now - probe[2])
                return False
            if not probe[4]:
                log.warning("game file %s: %s() is past its time limit of %g s while its "
                            "worker process waits for a CPU (a loaded machine): it is given "
                            "up to %g s", self.label, self._running or head.method, limit,
                            _starved.extended(limit))
            given = True
        bound = self._head_started + _starved.extended(limit)
        if now >= bound:
            return False
        self._probe = (head, process, now, seen, given)
        self._arm(min(now + _starved.window(limit), bound))
        return True

    def _look_early(self, head: Request, now: float) -> None:
        """The first look of ``_starved`` at the head request, a window before its limit
        (once), so that one running at its limit is interrupted there, not a window
        later (until stop 49 the first look came at the limit: a spinning game was
        stopped up to half a second past it). The window it judges by is as long as the
        later ones, and nothing before it counts (see ``_starved``); a request that ends
        sooner is not looked at."""
        probe, process = self._probe, self._process
        if process is None or (probe is not None and probe[0] is head
                               and probe[1] is process):
            return
        seen = _starved.sample(process.popen.pid)
        self._probe = (head, process, now, seen, False) if seen is not None else None

    # ------------------------------------------------------------ failure

    def _ended(self, process: Process) -> None:
        """The pipe from the worker ended: it is exiting (or closed the pipe itself)."""
        self.loop.remove_reader(process.from_worker)
        process.ended = True
        if process.pidfd is None:
            process.kill()
            try:
                process.popen.wait(0.5)  # killed: it ends at once
            except subprocess.TimeoutExpired:
                pass
            self._exited(process)
        else:  # the exit status comes with the pidfd; make sure it comes
            self.loop.call_later(CLOSED_AFTER, self._closed, process)

    def _closed(self, process: Process) -> None:
        """The pipe from the worker ended ``CLOSED_AFTER`` seconds ago: if it still runs,
        it closed the pipe itself (a game did: ``os.close``, ``dup2``; the pipe ends by
        itself only as the process exits), and is replaced saying so."""
        if process is self._process and process.running():
            self._exited(process, closed=True)
        else:
            process.kill()

    def _exited(self, process: Process, closed: bool = False) -> None:
        if process is not self._process:
            return
        process.kill()
        status = process.popen.poll()
        unread = process.unread()
        read = None if unread is None else self._sent - len(self._out) - unread
        how = "closed its pipe to the server{during}" if closed else "died{during}: " + death(
            status)
        self._replace(f"the game's worker process {how}", died=True, read=read)

    def _replace(self, why: str, died: bool = False, read: int | None = None) -> None:
        """Replace the worker: fail the head request with ``why``, bring the rest back.

        ``why`` is empty when no request is to blame (the worker retires);
        ``{during}`` in it becomes " during move()" (the head request's method; nothing
        without one: a reply nobody asked for).
        ``died``: the process ended by itself or was killed from outside;
        ``read``: how many of the bytes written to it it had read (None: unknown).
        """
        process = self._process
        if process is not None:
            self._close_process(process)
        self._process = None
        self._out.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._interrupted = self._running = self._probe = None
        queue, self._queue = list(self._queue), collections.deque()
        head = queue.pop(0) if queue and why else None
        # A request the dead worker never read (it died idle, from outside) did not kill it.
        unread = head is not None and died and read is not None and read <= head.offset
        why = why.replace("{during}", "" if head is None else
                          f" {'before running' if unread else 'during'} {head.method}()")
        if why:
            self.guard.count(_game_name(head))
        if head is not None and head.hello:
            self._queue.extend(queue)
            self._import_failed(why, died)
            return
        if why:
            log.error("game file %s: %s; its worker process is replaced", self.label, why)
        if head is not None and ((unread and not head.resent) or (died and head.retries)):
            # Sent again after its game is back: it was not read (once), or it is a replay
            # slice or a restore, whose death may have come from outside (an OOM kill).
            if unread and not head.resent:
                head.resent = True
            else:
                head.retries -= 1
            queue.insert(0, head)
            head = None
        lost, waits = self._restore_later(head, why, queue)
        if head is not None and not waits:
            head.fail(self._message(head, why))
        delay = self._restart_delay()
        for request in queue:
            if request.game is not None and request.game.gid in lost:
                request.fail(lost[request.game.gid])
            else:
                self._queue.append(request)
        if delay:
            log.warning("game file %s: its worker failed %d times within %g s; the next "
                        "one starts in %.1f s", self.label, len(self._failures),
                        RESTART_WINDOW, delay)
            self._spawning = self.loop.call_later(delay, self._spawn)
        else:
            self._spawn()

    def _restore_later(self, head: Request | None, why: str, queued: list[Request],
                       ) -> tuple[dict[int, str], bool]:
        """Queue the restore of every game with a copy or seed; lose the others (returned).

        The head request's game comes back as it was before that request,
        unless the head was building it: then the head's failure is its end.
        A game whose restore is ``queued`` already (the worker died before
        answering it) comes back from that one alone.
        A move that failed fails once its game is back (then True is
        returned: the caller does not fail it): the session logs that move
        in the store, which must save the game with it, from the fresh copy
        the restore brings; the copy before may be older than moves logged
        since, which the next start would play again, the failed move too.
        """
        lost, waits = {}, False
        restoring = {id(request.game) for request in queued if request.restores}
        for gid, game in list(self.games.items()):
            if head is not None and head.game is game and head.builds:
                del self.games[gid]
                continue
            if id(game) in restoring:
                continue
            request = game.restore_request()
            if request is None:
                del self.games[gid]
                lost[gid] = game.lose()
                continue
            request.restores, request.retries = True, RESTORE_RETRIES
            if head is not None and head.game is game and head.method == "move":
                _then(request, functools.partial(head.fail, self._message(head, why)))
                waits = True
            self._queue.append(request)
        return lost, waits

    def _import_failed(self, why: str, died: bool) -> None:
        """The hello failed: the file cannot be loaded (any more), unless the worker of a
        running file died (from outside?): then a new one tries again, a few times, spaced
        out, its requests waiting meanwhile."""
        starting = self.catalog is not None and not self.catalog.done()
        if starting or not died or self._import_deaths >= IMPORT_RETRIES:
            self._broken(why if starting else f"its file can no longer be loaded ({why})")
            return
        self._import_deaths += 1
        delay = max(self._restart_delay(), IMPORT_RETRY_DELAY * 2 ** (self._import_deaths - 1))
        log.error("game file %s: %s; a new worker process tries again in %.1f s", self.label,
                  why, delay)
        self._spawning = self.loop.call_later(delay, self._spawn)

    def _restart_delay(self) -> float:
        now = time.monotonic()
        failures = self._failures
        failures.append(now)
        while failures and failures[0] < now - RESTART_WINDOW:
            failures.popleft()
        extra = len(failures) - _RESTARTS_FREE
        return 0.0 if extra <= 0 else min(RESTART_DELAY_MAX, 0.5 * 2 ** (extra - 1))

    def _broken(self, why: str) -> None:
        """No process will be started any more: every game is lost, every request fails."""
        self.broken = why
        if self.catalog is not None and not self.catalog.done():
            self.catalog.set_exception(_channel.ChannelError(why))  # skipped at start-up
            return
        log.error("game file %s: %s; its games fail from now on", self.label, why)
        for gid, game in list(self.games.items()):
            del self.games[gid]
            game.lose(f"framework: game {game.type.name}: {why}")
        queue, self._queue = list(self._queue), collections.deque()
        for request in queue:
            if not request.hello:
                request.fail(self._message(request, why))

    def _message(self, request: Request, why: str) -> str:
        name = request.game.type.name if request.game is not None else self.label
        return f"framework: game {name}: {why}"

    def _close_process(self, process: Process) -> None:
        if not process.ended:
            self.loop.remove_reader(process.from_worker)
        self.loop.remove_writer(process.to_worker)
        if process.pidfd is not None:
            self.loop.remove_reader(process.pidfd)
        self._output.stop()
        process.close()
        self._dying.append(process.popen)
        self._reap()

    def _reap(self, tries: int = 100) -> None:
        """Collect the exit status of killed processes without blocking the loop."""
        self._dying = [popen for popen in self._dying if popen.poll() is None]
        if self._dying and tries and not self.loop.is_closed():
            self.loop.call_later(0.05, self._reap, tries - 1)

    def close(self) -> None:
        """Stop the worker (the server is stopping); requests in flight fail saying so."""
        self.broken = self.broken or "the server is shutting down"
        if self._spawning is not None:
            self._spawning.cancel()
        if self._timer is not None:
            self._timer.cancel()
        process, self._process = self._process, None
        if process is not None:
            self._close_process(process)
        for popen in self._dying:
            try:
                # Killed: it ends at once, unless the machine is loaded: a full test suite
                # under heavy load saw 1 s pass (and the process then left unwaited).
                popen.wait(KILLED_WAIT)
            except subprocess.TimeoutExpired:
                log.warning("game file %s: worker process %d did not end", self.label,
                            popen.pid)
        self._dying = []
        queue, self._queue = list(self._queue), collections.deque()
        for request in queue:
            if not request.hello:
                request.fail("server: server is shutting down")
