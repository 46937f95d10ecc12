"""Subscriptions of a kept-alive connection: each new state of a view, pushed as it comes.

Theory of operation
-------------------
A subscription is a standing ``state`` request kept *beside* the
connection's state (``_connstate.py``), not as one of its states: the
connection goes on reading and answering requests in order while its
subscriptions push. ``subscribe`` checks the view's key once and gets a
``Feed`` from the lobby (``Session.feed``): each call of it is that view's
``state`` without the key check — the state at once if the view has not
seen it, else a ``Wait`` for the next change. So pushes follow the per-view
version rule of ``state`` exactly: no change lost, none sent twice, the
restart hand-over included. A subscription asks, pushes what it gets, asks
again; when it must wait, the wake only schedules the next ask
(``call_soon``), as for a waiting request. A state that waits only for its
save is not waited for here: the connection holds it in its place among
its replies (``hold``) and the subscription asks on at once, so that a
push never follows a reply (a move with state) that shows a newer state.

A push is the state's reply with one key more in front, ``{"push": N,
"status": "ok", "data": ...}``, ended by the terminator; N is the
subscription's number on this connection (from its subscribe reply).
Replies to the client's requests never carry "push", so a client tells the
two apart, and replies stay in order, one per request.

An error (the session overwritten or timed out, the server shutting down, a
game that fails) is pushed like a state and ends the subscription, as it
ends a waiting ``state``.

Flow control: while the connection's output is paused (the client has left
more than ``reply_buffer_max`` unread), a subscription neither asks nor
pushes: it is *due*, and goes on once output resumes. The view has not seen
what changed meanwhile, so that one ask gives the newest state: pushes
coalesce, and a slow subscriber costs the server at most
``reply_buffer_max`` and the one push that crossed it, however many changes
it missed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from ._connhost import ConnectionHost
from .framing import TERMINATOR
from .protocol import Subscribe, Unsubscribe, framework_error, ok
from .waits import Feed, Outcome, Wait

__all__ = ["SUBSCRIPTIONS_MAX", "Subscriptions"]

SUBSCRIPTIONS_MAX = 16  # per connection: a client needs one per view it shows

_STATUS_AT = len(b'{"status": "')  # where a reply's status starts
_OK = ord("o")


class Subscription:
    """One subscribed view of one connection."""

    __slots__ = ("owner", "number", "view", "prefix", "feed", "step", "wait", "due", "ended")

    def __init__(self, owner: Subscriptions, number: int, view: tuple[str, str, int, bool],
                 feed: Feed) -> None:
        self.owner = owner
        self.number = number
        self.view = view  # (game, session, player id, observer?)
        self.prefix = b'{"push": %d, ' % number
        self.feed = feed
        self.step: Callable[[], Outcome] = feed  # what to run next: the feed, or a woken wait
        self.wait: Wait | None = None  # what it waits for
        self.due = False  # to go on once output resumes
        self.ended = False

    def woken(self, now: bool) -> None:
        if now:  # the store's commit landed: nothing else is under way
            self.resume()
        else:  # never go on inside wake(): it runs in the middle of another request's change
            self.owner.host.call_soon(self.resume)

    def resume(self) -> None:
        wait, self.wait = self.wait, None
        if self.ended or wait is None or wait.cancelled:
            return
        self.step = wait.resume
        self.owner.go_on(self)


class Subscriptions:
    """The subscriptions of one connection, and their pushes.

    Args:
        host: the server, as connections see it.
        write: writes bytes to the client, in order with the connection's replies.
        output_full: whether the client has more than ``reply_buffer_max`` unread.
        hold: holds a push that waits for its save in its place among the
            connection's replies (a ``Wait.saving``, and what makes the push of
            its reply): it goes out once saved, after the replies of requests
            served before it and before those served after it.
    """

    __slots__ = ("host", "_write", "_output_full", "_hold", "_by_number", "_numbers")

    def __init__(self, host: ConnectionHost, write: Callable[[bytes], None],
                 output_full: Callable[[], bool],
                 hold: Callable[[Wait, Callable[[bytes], bytes]], None]) -> None:
        self.host = host
        self._write = write
        self._output_full = output_full
        self._hold = hold
        self._by_number: dict[int, Subscription] = {}
        self._numbers = 0  # numbers handed out on this connection

    def __len__(self) -> int:
        return len(self._by_number)

    # ------------------------------------------------------------ requests

    def request(self, request: Subscribe | Unsubscribe, client: str,
                keep_alive: bool) -> tuple[bytes, Subscription | None]:
        """The reply to a subscribe or unsubscribe; and the new subscription, to ``start``.

        ``keep_alive``: the request asked to keep the connection (else it is
        refused: the connection closes after its reply).
        """
        if not keep_alive:
            return framework_error(
                f"{request.kind} needs a kept-alive connection: send it with "
                '"keep_alive": true').reply(), None
        if isinstance(request, Unsubscribe):
            sub = self._by_number.get(request.subscription)
            if sub is None:
                return framework_error(
                    f"no subscription {request.subscription} on this connection").reply(), None
            self._end(sub)
            return ok(None), None
        view = (request.game, request.session, request.player_id, request.observer)
        for sub in self._by_number.values():
            if sub.view == view:
                return framework_error(
                    f"this view is subscribed already on this connection (subscription "
                    f"{sub.number})").reply(), None
        if len(self._by_number) >= SUBSCRIPTIONS_MAX:
            return framework_error(
                f"too many subscriptions on one connection (at most {SUBSCRIPTIONS_MAX}); "
                "unsubscribe some, or use another connection").reply(), None
        feed = self.host.subscribe(request, client)
        if isinstance(feed, bytes):  # the error: no such session, a wrong key, ...
            return feed, None
        self._numbers += 1
        sub = self._by_number[self._numbers] = Subscription(self, self._numbers, view, feed)
        return ok({"subscription": sub.number}), sub

    def start(self, sub: Subscription) -> None:
        """Push the view's state if it has one unseen, then wait for the next (after the reply)."""
        if not sub.ended:
            self.go_on(sub)

    # ------------------------------------------------------------ pushing

    def go_on(self, sub: Subscription) -> None:
        """Run the subscription's next step; push and ask again until it must wait."""
        if self._output_full():
            sub.due = True
            return
        host = self.host
        while True:
            outcome = host.resume(sub.step)
            while isinstance(outcome, Wait) and outcome.woken:
                outcome = host.resume(outcome.resume)
            sub.step = sub.feed
            if not isinstance(outcome, Wait):
                self._write(self._pushed(sub, outcome))
                if sub.ended:  # an error, or the write found the client gone
                    return
            elif outcome.saving:  # the state waits for its save, in its place: ask on
                self._hold(outcome, functools.partial(self._pushed, sub))
            else:  # the view's next change
                sub.wait = outcome
                outcome.on_wake(sub.woken)
                return
            if self._output_full():
                sub.due = True
                return

    def _pushed(self, sub: Subscription, reply: bytes) -> bytes:
        """``reply`` (a state, or an error that ends ``sub``) as a push of ``sub``."""
        self.host.metrics.pushed(reply)
        if reply[_STATUS_AT] != _OK:  # an error ends the subscription
            self._end(sub)
        return b"".join((sub.prefix, memoryview(reply)[1:], TERMINATOR))

    def resume_due(self) -> None:
        """Output resumed: every subscription that paused goes on (with the newest state)."""
        for sub in list(self._by_number.values()):
            if sub.due and not self._output_full():
                sub.due = False
                self.go_on(sub)

    # ------------------------------------------------------------ ending

    def _end(self, sub: Subscription) -> None:
        sub.ended = True
        self._by_number.pop(sub.number, None)
        wait, sub.wait = sub.wait, None
        if wait is not None:
            wait.cancel()

    def drop(self) -> None:
        """The connection closes: every subscription ends (the session forgets its waits)."""
        for sub in list(self._by_number.values()):
            self._end(sub)

    def shut_down(self, reply: bytes) -> None:
        """The server stops: push ``reply`` (its error) on every subscription, and end them."""
        for sub in list(self._by_number.values()):
            self._write(b"".join((sub.prefix, memoryview(reply)[1:], TERMINATOR)))
            self._end(sub)
