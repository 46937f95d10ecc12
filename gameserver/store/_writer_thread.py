"""The store's writer thread: the commits that would hold the event loop up (see ``writer``).

Why a thread: with ``sync="full"`` a commit waits for the disk, a large one
takes long, and one followed by a catch-up checkpoint (the log starting over)
longer still. In this thread the loop goes on collecting the next batch
meanwhile. One batch at a time (``Store._in_flight``), so they land in order.

What a caller must know:

* The store's connection is this thread's from ``send`` until ``landed`` runs
  on the loop (``Store._in_flight`` is set all along): nothing else may use
  it then. Not only for SQLite's sake: a call on the connection from the
  loop's thread (``set_progress_handler``, binding a statement's parameters)
  waits for the connection's SQLite lock while holding the GIL. The loop
  would stand still for the whole commit, and if the commit runs Python code
  (a progress handler, a function), that code waits for the GIL: the process
  deadlocks (it did in a test's slow disk, tests/test_server_keepalive.py).
* After each commit ``batch.landed`` is set (for ``Store.close``, when the
  loop stopped before ``landed`` could run), the checkpoint follows if asked,
  then ``landed(batch, ops, error)`` is called on the loop.
* Once it handed a batch to the loop, the thread keeps no reference to it.
* ``stop(timeout)`` says whether the thread ended: one still inside its
  commit (a disk that hangs) keeps the connection (see ``_closing``).
* ``commit`` turns every error it can into a failed commit; one that still ends
  the thread lands its batch failed and sets ``dead`` (``_died``): the store
  rolls back and starts another thread before it sends one more batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable

from ._batch import Batch
from ._rows import Ops

log = logging.getLogger("gameserver.store")

NAME = "gameserver-store"


class WriterThread(threading.Thread):
    """Commits the batches it is sent, in order; see the module docstring.

    Args:
        loop: the event loop ``landed`` is called on.
        commit: writes ``ops`` in one transaction; an error message or None.
        catch_up: a checkpoint that lets the log start over (after a commit sent so).
        landed: on the loop, once a commit (and its checkpoint) ended.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, commit: Callable[[Ops], str | None],
                 catch_up: Callable[[], None],
                 landed: Callable[[Batch, Ops, str | None], None]) -> None:
        super().__init__(name=NAME, daemon=True)
        self._loop = loop
        self._commit = commit
        self._catch_up = catch_up
        self._landed = landed
        self._queue: queue.SimpleQueue[tuple[Batch, Ops, bool] | None] = queue.SimpleQueue()
        self.dead = False  # it ended on an error (``_died``): it commits nothing more

    def send(self, batch: Batch, ops: Ops, catch_up: bool) -> None:
        """Commit ``ops`` (``batch``'s), then checkpoint if ``catch_up``."""
        self._queue.put((batch, ops, catch_up))

    def stop(self, timeout: float) -> bool:
        """End after what was sent; whether it ended within ``timeout`` seconds."""
        self._queue.put(None)
        self.join(timeout)
        return not self.is_alive()

    def run(self) -> None:
        item = None
        try:
            while (item := self._queue.get()) is not None:
                if not self._write(*item):
                    return
                # Let the batch go before waiting for the next: held while the thread
                # waits, its rows (megabytes of a large commit's states) stayed for as
                # long as the store had nothing more to send this thread.
                item = None
        except BaseException as err:  # noqa: BLE001 - told to the loop, then the thread ends
            self._died(item, err)

    def _died(self, item: tuple[Batch, Ops, bool] | None, err: BaseException) -> None:
        """The thread ends on an error ``commit`` did not turn into a failed commit (a
        bug; ``commit`` fails those it can): the batch it held lands failed, unless its
        commit ended already (the checkpoint after it raised), so that its replies are
        answered and its rows written again; ``dead`` tells the store to start another
        thread before it sends one more batch. Untold, the store sent every later batch
        to a thread that would never commit it, and every reply waited for ever."""
        log.critical("the store's writer thread failed; another takes over", exc_info=err)
        self.dead = True
        if item is None:
            return
        batch, ops, _ = item
        if batch.landed is None:
            batch.landed = (ops, f"the store's writer failed ({type(err).__name__}: {err})")
        with contextlib.suppress(RuntimeError):  # the loop is closed: ``close`` reads it
            self._loop.call_soon_threadsafe(self._landed, batch, *batch.landed)

    def _write(self, batch: Batch, ops: Ops, catch_up: bool) -> bool:
        """Commit one batch; whether the loop can still be told (else nobody waits)."""
        error = self._commit(ops)
        batch.landed = (ops, error)
        if catch_up:
            self._catch_up()
        try:
            self._loop.call_soon_threadsafe(self._landed, batch, ops, error)
        except RuntimeError:  # the loop is closed: nobody waits any more
            return False
        return True
