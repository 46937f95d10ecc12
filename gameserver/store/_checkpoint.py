"""Copying the write-ahead log back into the store file, off the event loop.

SQLite in WAL mode appends every commit to ``<file>-wal``; a *checkpoint*
copies those pages into the file itself and syncs both to the disk. SQLite
would run one inside the commit that fills the log past 1,000 pages: on the
event loop, with two disk flushes, stalling every client for milliseconds
(measured: the p99 of a chat's moves was a checkpoint). Here the writer's
connection never checkpoints (``wal_autocheckpoint=0``); this thread does,
on a connection of its own, every ``INTERVAL`` seconds and whenever the
writer has written about ``NUDGE_BYTES`` since the last one. A PASSIVE
checkpoint never waits for, nor blocks, the writer.

The log starts over from its beginning (and is cut back to ``WAL_LIMIT``
bytes) only at a commit that finds every frame of it copied. Under steady
load that never happens by itself: commits land while each checkpoint
copies, so the log grew by every commit (measured: 44 MB a second, 280 MB
after 8 s of tic-tac-toe). So when a checkpoint leaves a log longer than
``WAL_LIMIT``, this thread sets ``catch_up_due``; the store then hands its
next commit to its writer thread, which commits and checkpoints the little
written since, with no commit in between (``catch_up``); the commit after
that starts the log over. Replies wait for that commit about one disk
flush longer; the loop never waits.

That pass may come late: this thread competes for the CPU with the loop it
protects, and a busy machine kept it from running for a quarter of a second
while the log grew by 70 MB (a chat's large messages write four times their
size to the log). So the store also looks at the log's file itself, every
``STAT_EVERY`` bytes it commits (``committing``): once the file is longer
than ``2 * WAL_LIMIT``, the next commit catches up, whether or not this
thread has run. The file is cut back to ``WAL_LIMIT`` whenever the log
starts over, so its size tells how far the current log has grown.

No checkpoint copies the frames a reader may still need: those after the snapshot
of a read transaction still open. Another program that keeps one open (an
``sqlite3`` shell inside ``BEGIN``, a database browser left on a table) keeps the
log from starting over, and it grew without a word until the disk was full (the
server's load writes tens of MB a second). Once the log is past ``WAL_WARN`` with
frames left uncopied, one warning says so, names the file and what to do; again only
after the log started over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger("gameserver.store")

INTERVAL = 1.0  # seconds between checkpoints while the server runs
NUDGE_BYTES = 4 * 2**20  # written since the last checkpoint (estimated): run one now
WAL_LIMIT = 8 * 2**20  # a longer log is made to start over; it is cut back to this size
FRAME_HEADER = 24  # bytes before each page in the log
# The writer's page cache: 256 KB, not SQLite's 2 MB. A commit touches the tail pages of
# a few tables; other pages come back from the operating system's cache. Measured at
# K = 500 sessions: the same CPU per move, and 2 MB less memory.
WRITER_CACHE_KB = 256
WRITER_PRAGMAS = ("PRAGMA wal_autocheckpoint=0", f"PRAGMA journal_size_limit={WAL_LIMIT}",
                  f"PRAGMA cache_size=-{WRITER_CACHE_KB}")
# What a small commit adds to the log besides its rows: its pages (a move's commit
# rewrites two to five 4 KB pages, each with a frame header). Counted for the nudge.
COMMIT_BYTES = 3 * 4096
STAT_EVERY = 256 * 1024  # bytes committed between two looks at the log file's size
WAL_WARN = 32 * WAL_LIMIT  # a log this long that a checkpoint cannot copy whole: warn


class Checkpointer:
    """Runs checkpoints of the store file ``path`` in a thread (see the module docstring)."""

    def __init__(self, path: str, watch: Callable[[], None] = lambda: None,
                 may_copy: Callable[[], bool] = lambda: True,
                 copied: Callable[[int, int], None] = lambda frames, copied: None) -> None:
        self.path = path
        self._watch = watch  # called before each pass (the store: is its file still there?)
        # Called before and after each checkpoint, one at a time (the store: was the file
        # written over since its last? then never again; ``_overwritten``). ``copied`` is
        # given the checkpoint's answer: the frames of the log, and of them those in the
        # file now (-1, -1: it did not run, busy or failed).
        self._may_copy = may_copy
        self._copied = copied
        self.checkpoints = 0
        self.catch_up_due = False  # set here, read by the store on the loop thread
        self._written = 0
        self._since_stat = 0  # bytes committed since the log file's size was looked at
        # Bytes still to commit until one of the two counts above reaches its mark
        # (``committing`` counts them down, and adds them to both only then); and what
        # that countdown started from.
        self._left = self._counted = min(NUDGE_BYTES, STAT_EVERY)
        self._wake = threading.Event()
        self._stopping = False
        self._failed = False
        self._held_back = False  # warned that a reader keeps the log from starting over
        self._one_at_a_time = threading.Lock()  # this thread's pass, or the writer's catch-up
        self._thread = threading.Thread(target=self._run, name="gameserver-checkpoint",
                                        daemon=True)
        self._db: sqlite3.Connection | None = None  # the thread's (``start``)

    def start(self) -> None:
        """Open the thread's connection, and its read of the log, now (the store's start,
        before any client), then run the thread. Opened in the thread, the connection
        met the log's file at its first pass: a ``-wal`` deleted before that (a host
        freeing space) was made anew, empty, by that pass, and the checkpoints copied
        nothing of the deleted log into the file, as a connection holding it open does."""
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # (the log opened)
        except BaseException:
            db.close()
            raise
        self._db = db
        self._thread.start()

    def committing(self, size: int) -> bool:
        """For the loop, before committing about ``size`` bytes of rows: count them (a
        nudge to this thread every ``NUDGE_BYTES``), and whether this commit catches up
        (``catch_up_due``, or the log's file grown past twice its limit, looked at every
        ``STAT_EVERY`` bytes). One call per commit, on the loop thread only."""
        left = self._left = self._left - size - COMMIT_BYTES
        if left > 0:  # (most commits: neither mark reached)
            return self.catch_up_due
        counted = self._counted - left
        written = self._written + counted
        if written >= NUDGE_BYTES:
            written = 0
            self._wake.set()
        self._written = written
        since_stat = self._since_stat + counted
        look = since_stat >= STAT_EVERY
        if look:
            since_stat = 0
        self._since_stat = since_stat
        self._left = self._counted = min(NUDGE_BYTES - written, STAT_EVERY - since_stat)
        if self.catch_up_due:
            return True
        if not look:
            return False
        try:
            return os.stat(self.path + "-wal").st_size > 2 * WAL_LIMIT
        except OSError:
            return False

    def close(self, timeout: float) -> bool:
        """Stop the thread; wait up to ``timeout`` seconds for its pass to end. False if it
        has not ended (a checkpoint may still be copying the log into the file)."""
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        db = self._db
        assert db is not None, "Checkpointer.start() opens it"
        try:
            frame_bytes = db.execute("PRAGMA page_size").fetchone()[0] + FRAME_HEADER
            while True:
                self._wake.wait(INTERVAL)
                self._wake.clear()
                if self._stopping:
                    return
                self._watch()
                with self._one_at_a_time:
                    frames, copied = self._passive(db)
                if frames * frame_bytes > WAL_LIMIT:
                    self.catch_up_due = True
                self._look_held_back(frames * frame_bytes, copied < frames)
        finally:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def catch_up(self, db: sqlite3.Connection) -> None:
        """Checkpoint on the writer's connection ``db``, between two of its commits.

        For the store's writer thread, while no other commit can start: the
        checkpoint copies what was written since the last one, so the next
        commit finds the whole log copied and starts it over. If this
        thread's own checkpoint is running just then, it waits for it to end
        (SQLite runs one at a time). It used to do nothing then and ask again
        after that pass; on a loaded machine the next catch-up collided again,
        and the log grew to 38 MB in one of six runs (14 MB in the others).
        """
        self.catch_up_due = False
        with self._one_at_a_time:
            self._passive(db)

    def _look_held_back(self, size: int, uncopied: bool) -> None:
        """Warn once that a reader holds the log back (see the module docstring), given
        its ``size`` in bytes and whether the checkpoint left frames ``uncopied``."""
        if size > WAL_WARN and uncopied and not self._held_back:
            self._held_back = True
            log.warning("the store's log %s-wal has grown to %d MB, and cannot start over: "
                        "another program keeps a read of the store file open (an sqlite3 "
                        "shell inside a transaction, a database browser?); close it, or the "
                        "log grows until the disk is full (lsof %s lists who has the file "
                        "open)", self.path, size // 2**20, self.path)
        elif 0 <= size <= WAL_LIMIT:  # (-1: a checkpoint that was busy tells no size)
            self._held_back = False

    def _passive(self, db: sqlite3.Connection) -> tuple[int, int]:
        """A PASSIVE checkpoint on ``db``: the frames the log holds, and of those the
        frames copied into the file ((0, 0) if it failed, or may not run: ``may_copy``;
        (-1, -1) if it met another checkpoint: SQLITE_BUSY)."""
        if not self._may_copy():
            return 0, 0
        frames = copied = -1
        try:
            _, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as err:
            if not self._failed:  # once per run of failures: the writer says more
                log.warning("checkpoint of %s failed: %s", self.path, err)
            self._failed = True
            return 0, 0
        finally:
            self._copied(frames, copied)
        self.checkpoints += 1
        self._failed = False
        return int(frames), int(copied)
