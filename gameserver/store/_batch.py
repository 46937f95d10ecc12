"""What the writer groups into one commit, and the tickets replies wait on (see ``writer``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..waits import Wait
from ._rows import Live, Ops

Key = tuple[str, str]  # (game name, session token)

log = logging.getLogger("gameserver.store")

# A ticket's errors: what the replies waiting for it say instead.
SAVE_FAILED = ("server: the change was made, but the server could not save it to disk "
               "(see the server log); it is saved again with the next change")
JOIN_FAILED = ("server: the new session could not be saved to disk (see the server log), "
               "so it was not started; join again later")


class Ticket:
    """One session's part of a batch; its replies wait until ``done``.

    (Not a dataclass: one is made for every change, and a default factory costs.)
    """

    __slots__ = ("done", "error", "waiters", "again")

    def __init__(self) -> None:
        self.done = False
        self.error: str | None = None
        self.waiters: list[Wait] = []
        # Failed: the ticket of the commit that writes this one's rows again (None:
        # never). A retry that fails while no reply waits for it is not done: it stays
        # the ticket of the next retry, so that a session nobody asks for holds two
        # tickets, not a chain that grows by one per failed commit for as long as the
        # disk fails.
        self.again: Ticket | None = None

    def answer(self, error: str | None, now: bool = False) -> None:
        """The commit ended: done, with ``error`` (None: saved), and every reply that
        waited for it is woken (``now``: at the start of a loop pass, see ``Wait.wake``)."""
        self.done, self.error = True, error
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            try:
                waiter.wake(now=now)
            except Exception:  # a carrier's bug: the other tickets are answered still
                log.exception("answering a saved change failed")


class Batch:
    """The changes of one loop pass (not a dataclass: its default factories cost twice)."""

    def __init__(self) -> None:
        self.ops = Ops()
        self.tickets: dict[Key, Ticket] = {}
        self.touched: dict[Key, Live] = {}  # for snapshots
        self.starts: list[Live] = []  # sessions that became full
        # Tickets of failed commits whose rows this one writes again (``Ticket.again``).
        self.retries: dict[Key, Ticket] | None = None
        # Set by the writer thread once it committed the batch: what it wrote, and the
        # error (None: saved). ``Store.close`` reads it when the loop stops before it
        # could release the batch.
        self.landed: tuple[Ops, str | None] | None = None

    def every_ticket(self) -> Iterable[tuple[Key, Ticket]]:
        """The tickets this batch answers: the retries first (they stand for changes
        older than the rest), then its own."""
        if self.retries is None:  # (most batches: no list made)
            return self.tickets.items()
        return [*self.retries.items(), *self.tickets.items()]
