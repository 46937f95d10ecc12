"""What a request that cannot be answered yet is: a ``Wait``, plain data.

The rules (lobby, session, store) never create futures or timers. A request
that must wait — a join until its session is full, a state until it
changes, any reply until its change is saved — comes back as a ``Wait``
that the rules keep in the list of what it waits for. When the awaited
thing happens the rules call ``wake()``; whoever carries the request (a
connection, a test) learns of it through the callback it gave ``on_wake``
and then calls ``resume()``, which gives the next outcome: reply bytes or
another ``Wait``.

The carrier must not resume from inside the wake callback: ``wake`` runs in
the middle of someone else's change (a move is being recorded), so the
callback should only schedule the resume (``loop.call_soon``). The one
exception is ``wake(now=True)``: the store calls it when a commit has landed,
at the start of a loop pass where no change is under way, and a carrier may
resume right there (a reply that waited for its save goes out a pass
sooner). A carrier
that loses interest (its client disconnected) calls ``cancel()``: the rules
then forget the wait at once, and a joiner waiting for its session to fill
gives its seat back.

Most waits are this class around a callable; one that exists by the
thousand (a blocked ``state``: one per waiting client) or is made for every
move (a reply held for its save) is a slotted subclass that overrides
``resume()`` (and ``cancel()``) instead (``session._StateWait``,
``session._SavedReply``, ``session._Changed``: a change in a worker process), so
that it is one object rather than five.
"""

from __future__ import annotations

from collections.abc import Callable


class Wait:
    """A request waiting for something; see the module docstring.

    Args:
        resume: what ``resume()`` calls (None only in a subclass that overrides it).
        on_cancel: what the rules do when the carrier gives up (optional).
        saving: it waits only for the store's commit (a loop pass, unless the
            disk is slow), and its resume gives bytes: a carrier need not watch
            the client meanwhile, and may serve the client's next requests
            while it holds this reply back (``_held.py``).
        size: for a saving wait, the size of the reply it holds: what a
            carrier that holds it back counts towards its output bound.
    """

    __slots__ = ("_resume", "on_cancel", "saving", "size", "_callback", "woken", "cancelled")

    def __init__(self, resume: Callable[[], Outcome] | None,
                 on_cancel: Callable[[Wait], None] | None = None, saving: bool = False,
                 size: int = 0) -> None:
        self._resume = resume
        self.on_cancel = on_cancel
        self.saving = saving
        self.size = size
        self._callback: Callable[[bool], None] | None = None
        self.woken = False
        self.cancelled = False

    def resume(self) -> Outcome:
        """For the carrier, once woken: ask again; reply bytes or another ``Wait``."""
        resume = self._resume
        assert resume is not None, "a Wait made without resume must override resume()"
        return resume()

    def wake(self, now: bool = False) -> None:
        """For the rules: asking again may give an answer now (called at most once).

        ``now``: no change is under way, the carrier may resume at once.
        """
        if self.woken or self.cancelled:
            return
        self.woken = True
        callback = self._callback
        if callback is not None:
            callback(now)

    def on_wake(self, callback: Callable[[bool], None]) -> None:
        """For the carrier: call ``callback(now)`` when woken (at once if that happened
        already, with ``now`` False)."""
        self._callback = callback
        if self.woken and not self.cancelled:
            callback(False)

    def cancel(self) -> None:
        """For the carrier: nobody waits any more (the client went away)."""
        if self.cancelled:
            return
        self.cancelled = True
        self._callback = None
        if self.on_cancel is not None:
            self.on_cancel(self)


Outcome = bytes | Wait
"""What serving a request gives: the reply's bytes, or a ``Wait``."""

Feed = Callable[[], Outcome]
"""A subscription to one view: each call gives the view's next state, or a ``Wait`` for it."""
