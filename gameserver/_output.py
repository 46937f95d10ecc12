"""What a worker process prints (stdout, stderr), read by the server and logged within bounds.

A game's ``print`` in a worker reaches the server through a pipe of its
own (``_process.spawn``), never the server's stderr: writing there, a game
could fill the server's log (and disk) without bound and, where the log's
reader lags, keep that pipe full, so that the server's own log lines would
block its event loop. Each complete line is logged by the logger
``gameserver.game`` as ``game file <path>: <line>`` (control characters written
as escapes, ``\\x1b``: a game cannot write the server's terminal), up to
``LINES_PER_SECOND`` a second (``LINES_BURST`` at once); the lines beyond
are counted and dropped, and a warning every ``REPORT_EVERY`` seconds says
how many. The pipe is read up to ``BYTES_PER_SECOND``; beyond, the server
stops reading until the next second, and the worker's next print waits (a
game call that prints that fast for long runs into its time limit).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from .results import printable

log = logging.getLogger("gameserver.game")

LINES_PER_SECOND = 100
LINES_BURST = 1000
REPORT_EVERY = 10.0  # seconds between two warnings counting the lines dropped
LINE_MAX = 2000  # characters of a line logged; the rest is cut
BYTES_PER_SECOND = 8 * 1024 * 1024
READ_SIZE = 64 * 1024


class Output:
    """The printed output of one source's worker processes, one after the other.

    The budgets belong to the source, not the process: a replaced worker
    does not start afresh.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, label: str) -> None:
        self.loop = loop
        self.label = label
        self._fd: int | None = None
        self._partial = b""
        self._tokens = float(LINES_BURST)
        self._refilled = time.monotonic()
        self._dropped = 0
        self._reported = -REPORT_EVERY  # when the lines dropped were last counted ...
        self._report_due: asyncio.TimerHandle | None = None  # ... and when they will be
        self._window = 0.0  # when the current second of reading started ...
        self._read = 0  # ... and the bytes read in it
        self._resume: asyncio.TimerHandle | None = None

    def watch(self, fd: int) -> None:
        """Read ``fd`` (non-blocking) from now on, instead of the one before."""
        self.stop()
        self._fd = fd
        self.loop.add_reader(fd, self._readable)

    def stop(self) -> None:
        """Log what is still in the pipe (a crash's last words), then stop reading it
        (the caller closes it)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        else:
            self.loop.remove_reader(fd)
        for _ in range(4):  # at most one pipe's worth (64 KB by default)
            data = self._take(fd)
            if not data:
                break
            self.feed(data)
        self._flush()

    def _take(self, fd: int) -> bytes | None:
        """What the pipe holds (b"": its end; None: nothing now)."""
        try:
            return os.read(fd, READ_SIZE)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def _flush(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = b""
        self._report()

    def _readable(self) -> None:
        fd = self._fd
        if fd is None:
            return
        data = self._take(fd)
        if data is None:
            return
        if not data:  # every writer closed it: the worker (and what it started) ended
            self.loop.remove_reader(fd)
            self._fd = None
            self._flush()
            return
        self.feed(data)
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window, self._read = now, 0
        self._read += len(data)
        if self._read > BYTES_PER_SECOND:
            self.loop.remove_reader(fd)
            self._resume = self.loop.call_later(self._window + 1.0 - now, self._resumed, fd)

    def _resumed(self, fd: int) -> None:
        self._resume = None
        if self._fd == fd:
            self.loop.add_reader(fd, self._readable)

    def feed(self, data: bytes) -> None:
        """Log the complete lines in ``data`` (after what was left of the last), within the
        budget; count the others, in a warning every ``REPORT_EVERY`` seconds at most."""
        now = time.monotonic()
        self._tokens = min(float(LINES_BURST),
                           self._tokens + (now - self._refilled) * LINES_PER_SECOND)
        self._refilled = now
        if self._tokens < 1.0:  # over the budget: count, and keep a line's worth at most
            self._dropped += data.count(b"\n")
            self._partial = (self._partial + data).rpartition(b"\n")[2][-4 * LINE_MAX:]
        else:  # the lines the budget has room for are split off, the others only counted:
            # a step per line took the loop 3.7 ms for each 64 KB read of newlines
            *lines, rest = (self._partial + data).split(b"\n", int(self._tokens))
            self._dropped += rest.count(b"\n")
            # (cut when logged; a line may be multibyte)
            self._partial = rest.rpartition(b"\n")[2][-4 * LINE_MAX:]
            self._tokens -= len(lines)
            for line in lines:
                self._line(line)
        if self._dropped and self._report_due is None:
            self._report_due = self.loop.call_later(
                max(0.0, self._reported + REPORT_EVERY - now), self._report)

    def _line(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip("\r")
        if len(text) > LINE_MAX:
            text = text[:LINE_MAX] + f"... ({len(text) - LINE_MAX} more characters)"
        log.info("game file %s: %s", self.label, printable(text))

    def _report(self) -> None:
        if self._report_due is not None:
            self._report_due.cancel()
            self._report_due = None
        self._reported = time.monotonic()
        if self._dropped:
            log.warning("game file %s: %d more lines it printed were not logged (more than %d "
                        "a second)", self.label, self._dropped, LINES_PER_SECOND)
            self._dropped = 0
