"""What ``Store.close`` does with the batches the stopping loop left (see ``writer``).

Apart from the writer because they are the rare ends of its story, each a rule
of its own that a test holds without sockets (tests/test_store_closing.py):

* ``in_flight_left``: the writer thread committed a batch, but the loop
  stopped before it could release it. Saved: its tickets are answered (those
  of a session whose rows the file refused with the error that ends it).
  Failed: its rows and tickets go with the last commit, first, as they
  would have with the next one; a session it started is forgotten, as the
  loop's release does (its joiners never got keys), and its joiners are
  answered ``JOIN_FAILED``.
* ``leave_to_writer``: the writer thread is still inside a commit
  ``WRITER_WAIT`` seconds after the stop (a disk that hangs). The
  connection is its own until it ends (see ``_writer_thread``), so nothing
  more is written and the file is not closed: a statement of ours ran in the
  middle of its transaction, and closing the connection under it crashed the
  process. Its commit may still land; the changes after it are lost, every
  ticket is answered ``SAVE_LOST``, and the file's lock is released as the
  process ends.

Every ticket either answers is woken with its outcome (``Ticket.answer``), that of
its own session (``_batch.outcome``), not of its name; the caller answers the
tickets it returns with the last commit's outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from ._batch import JOIN_FAILED, SAVE_LOST, Batch, Key, Ticket, outcome
from ._rows import Ops

log = logging.getLogger("gameserver.store")

# Seconds ``Store.close`` waits for its threads, together: the checkpoint thread's pass,
# then the writer thread's commit (each waited up to 30 s until 2026-12-01: a disk that
# hangs held the stop for a minute). deploy/'s unit gives the whole stop more
# (``writer.CLOSE_MAX``, tests/test_deploy.py).
WRITER_WAIT = 30.0


def in_flight_left(batch: Batch | None, drop_starts: Callable[[Batch, Ops], None],
                   refuse: Callable[[Batch, Ops], Mapping[Key, str]]
                   ) -> tuple[Ops, list[tuple[Key, Ticket]]]:
    """The rows and tickets of ``batch`` (the one in flight as the loop stopped) that the
    last commit must write and answer; those it settled are answered already.

    ``drop_starts(batch, ops)`` closes and forgets the sessions a failed ``batch``
    started (``ops`` then delete what they insert); ``refuse(batch, ops)`` ends those
    whose rows a saved ``batch`` left out (``Ops.refused``), and says what their tickets
    are answered."""
    if batch is None:
        return Ops(), []
    tickets = batch.every_ticket()
    if batch.landed is None:  # (the writer thread sets it, even as it dies)
        log.error("a commit was not written when the server stopped; the changes in "
                  "it are lost")
        for _, ticket in tickets:
            ticket.answer(SAVE_LOST)
        return Ops(), []
    ops, error = batch.landed
    if error is None:
        refused = refuse(batch, ops) if ops.refused else {}
        for key, ticket in tickets:
            ticket.answer(outcome(refused, key, batch.touched))
        return Ops(), []
    drop_starts(batch, ops)  # its joiners never got keys: not saved now either
    started = {(live.game_name, live.token) for live in batch.starts}
    for key, ticket in tickets:
        if key in started:
            ticket.answer(JOIN_FAILED)
    return ops, [(key, ticket) for key, ticket in tickets if key not in started]


def leave_to_writer(batch: Batch | None, in_flight: Batch | None, backlog: Ops,
                    retry_tickets: Mapping[Key, Ticket]) -> None:
    """The writer thread still commits ``in_flight``: say what is lost (``batch``, the
    open one, and ``backlog``, rows of failed commits) and answer every ticket."""
    lost = backlog.size + (batch.ops.size if batch is not None else 0)
    log.error("a commit was still being written %g s after the server stopped: it is "
              "left to finish, and %d bytes of changes made after it are lost", WRITER_WAIT,
              lost)
    tickets = [*retry_tickets.items()]
    for left in (batch, in_flight):
        if left is not None:
            tickets.extend(left.every_ticket())
    for _, ticket in tickets:
        ticket.answer(SAVE_LOST)
