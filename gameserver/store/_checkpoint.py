"""Copying the write-ahead log back into the store file, off the event loop.

SQLite in WAL mode appends every commit to ``<file>-wal``; a *checkpoint*
copies those pages into the file itself and syncs both to the disk. SQLite
would run one inside the commit that fills the log past 1,000 pages: on the
event loop, with two disk flushes, stalling every client for milliseconds
(measured: the p99 of a chat's moves was a checkpoint). Here the writer's
connection never checkpoints (``wal_autocheckpoint=0``); this thread does,
on a connection of its own, every ``INTERVAL`` seconds and whenever the
writer has written ``NUDGE_BYTES`` since the last one. A PASSIVE
checkpoint never waits for, nor blocks, the writer; the log starts over
from its beginning once a checkpoint has caught up, and is cut back to
``WAL_LIMIT`` bytes then.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger("gameserver.store")

INTERVAL = 1.0  # seconds between checkpoints while the server runs
NUDGE_BYTES = 2**20  # written since the last checkpoint: run one now
WAL_LIMIT = 4 * 2**20  # the log file is cut back to this after it starts over
WRITER_PRAGMAS = ("PRAGMA wal_autocheckpoint=0", f"PRAGMA journal_size_limit={WAL_LIMIT}")


class Checkpointer:
    """Runs checkpoints of the store file ``path`` in a thread (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.checkpoints = 0
        self._written = 0
        self._wake = threading.Event()
        self._stopping = False
        self._failed = False
        self._thread = threading.Thread(target=self._run, name="gameserver-checkpoint",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def written(self, size: int) -> None:
        """The writer committed about ``size`` bytes (called from any thread)."""
        self._written += size
        if self._written >= NUDGE_BYTES:
            self._written = 0
            self._wake.set()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            while True:
                self._wake.wait(INTERVAL)
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                    self._failed = False
                except sqlite3.Error as err:
                    if not self._failed:  # once per run of failures: the writer says more
                        log.warning("checkpoint of %s failed: %s", self.path, err)
                    self._failed = True
        finally:
            with contextlib.suppress(sqlite3.Error):
                db.close()
