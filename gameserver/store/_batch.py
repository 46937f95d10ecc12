"""What the writer groups into one commit, and the tickets replies wait on (see ``writer``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from ..waits import Wait
from ._rows import Live, Ops

# (game name, session token); a ticket of a session that ended while its batch was open
# is keyed by its ``Live`` too (``Store.forget``): a new session of the same name (a join
# that replaces it in the same loop pass) takes the key, with a ticket of its own.
Key = tuple[str, str] | tuple[str, str, Live]

log = logging.getLogger("gameserver.store")

# A ticket's errors: what the replies waiting for it say instead.
SAVE_FAILED = ("server: the change was made, but the server could not save it to disk "
               "(see the server log); it is saved again with the next change")
JOIN_FAILED = ("server: the new session could not be saved to disk (see the server log), "
               "so it was not started; join again later")
# ... and at the server's stop, where nothing writes it again (``Store.close``).
SAVE_LOST = ("server: the change was made, but the server stopped before it could save it "
             "to disk, so it is lost (see the server log); when the server runs again, ask "
             "for the state to see what was saved, and send your request again if your "
             "change is missing")
# ... and once the store file (or its -wal or -shm) was deleted or replaced while the
# server ran (``StoreFile.moved``): nothing writes it again until a restart.
SAVE_GONE = ("server: the change was made, but it was not saved: the server's store file "
             "was deleted or replaced while it ran (see the server log), so nothing is "
             "saved until the server is restarted, and a restart will undo this change")
SAVE_REFUSED = ("server: this session's changes could not be saved to disk (the file "
                "refused them, see the server log), so the session was ended; start a new one")


def outcome(refused: Mapping[Key, str], key: Key, touched: Mapping[Key, Live]) -> str | None:
    """What ticket ``key`` of a batch that touched ``touched`` is answered, given what
    ``Store._refuse`` answers each session it ended (``refused``: keyed by each one's key
    and ``Live``; the current session of a name by its name too): the answer of the
    session the ticket is of, not of its name. An ended session and the new one of its
    name share the name, each with a ticket in its own batch: answered by name together
    (``Store.close``), the refusal of the old one's last changes answered the new one's
    start, which was saved."""
    if len(key) == 3:  # (keyed by its ``Live``: the session had ended, ``Store.forget``)
        return refused.get(key)
    live = touched.get(key)
    return refused.get(key) if live is None else refused.get((*key, live))


class Ticket:
    """One session's part of a batch; its replies wait until ``done``.

    Neither slotted nor with an ``__init__``: one is made for every commit of a
    session's changes (often one move each), and every field starts as the class's
    default, set on the tickets that change it.
    """

    done = False
    error: str | None = None
    waiters: list[Wait] | tuple[()] = ()  # (a list once one waits)
    # Failed: the ticket of the commit that writes this one's rows again (None:
    # never). A retry that fails while no reply waits for it is not done: it stays
    # the ticket of the next retry, so that a session nobody asks for holds two
    # tickets, not a chain that grows by one per failed commit for as long as the
    # disk fails.
    again: Ticket | None = None
    # A reply showing these changes went out before their save (``"wait_for_save":
    # false``): the batch may be committed a little later, grouped (``Store._flush``).
    unwaited = False
    # Called with each reply that starts waiting for it: while its batch is put off,
    # to ask for the commit now; once its batch is past ``OPEN_BATCH_MAX`` while a
    # commit is in flight, to have the reply's connection wait (``writer``).
    hurry: Callable[[Wait], None] | None = None
    # Its batch has grown past ``UNWAITED_MAX`` (a commit before it is slow): every
    # reply waits for it, those that asked not to included (``Session._saved``).
    crowded = False

    def wait(self, waiter: Wait) -> None:
        """Wake ``waiter`` when the commit ends (``answer``); a put-off batch is hurried."""
        waiters = self.waiters
        if waiters:
            waiters.append(waiter)  # type: ignore[union-attr]
        else:
            self.waiters = [waiter]
        if self.hurry is not None:
            self.hurry(waiter)

    def answer(self, error: str | None, now: bool = False) -> None:
        """The commit ended: done, with ``error`` (None: saved), and every reply that
        waited for it is woken (``now``: at the start of a loop pass, see ``Wait.wake``)."""
        self.done = True
        self.error = error
        waiters = self.waiters
        if not waiters:
            return
        self.waiters = ()
        for waiter in waiters:
            try:
                waiter.wake(now)
            except Exception:  # a carrier's bug: the other tickets are answered still
                log.exception("answering a saved change failed")


class Batch:
    """The changes of one loop pass (not a dataclass: its default factories cost twice).

    Where most batches keep a field's default, it is the class's (set on the few that
    change it): ``__init__`` runs for every commit, often one change each.
    """

    # Past ``OPEN_BATCH_MAX`` while a commit was in flight (``Store.changed``).
    full = False
    # Tickets of failed commits whose rows this one writes again (``Ticket.again``).
    retries: dict[Key, Ticket] | None = None
    # Set by the writer thread once it committed the batch: what it wrote, and the
    # error (None: saved). ``Store.close`` reads it when the loop stops before it
    # could release the batch.
    landed: tuple[Ops, str | None] | None = None
    put_off = False  # its commit waits a moment for more (``Store._flush``)
    starts: list[Live] | tuple[()] = ()  # sessions that became full (a list, once one did)

    def __init__(self) -> None:
        self.ops = Ops()
        self.tickets: dict[Key, Ticket] = {}
        self.touched: dict[Key, Live] = {}  # for snapshots

    def may_wait(self) -> bool:
        """Whether the commit may be put off: no reply waits for it, and at least one
        reply showing its changes went out unsaved (else it is one nobody asked to
        put off: a timer's forfeit, a worker's change; those are committed at once)."""
        unwaited = False
        for ticket in self.tickets.values():
            if ticket.waiters:
                return False
            unwaited = unwaited or ticket.unwaited
        return unwaited and not self.starts and self.retries is None

    def every_ticket(self) -> Iterable[tuple[Key, Ticket]]:
        """The tickets this batch answers: the retries first (they stand for changes
        older than the rest), then its own."""
        if self.retries is None:  # (most batches: no list made)
            return self.tickets.items()
        return [*self.retries.items(), *self.tickets.items()]
