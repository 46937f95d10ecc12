"""Replies held for their save, in order, on a kept-alive connection.

A reply that waits only for the store's commit (``Wait.saving``:
``Session._saved``) does not stop a kept-alive connection: it is *held*
(``_held``, in request order) and the connection goes back to READING
(REPLIED), so the requests a client sent together (a vector of
learning environments moves in 16 sessions with one write) are served in
the same loop pass and saved by one commit, not one commit each. Nothing
leaves out of order: while a reply is held, every later reply queues
behind it, and a close or half-close waits until the queue is empty. As
the commit lands the held replies go out together, in one write. While a
held reply waits for its commit, no deadline ends the connection (a slow
disk is not the client's fault; one that does not read is; nor when
they pause it for its address). Held replies count towards
``reply_buffer_max`` (``HELD_FULL`` pauses reading and serving, as unsent
replies do) and, once more than ``held_free``, all of them towards its
address's and all bounds as unsent ones do; a client that closes its side (a
FIN, or TLS's close_notify: ``_tlsconn.py``) still gets them, then the
close; a closed socket drops them. Pushes queue behind held
replies too, and a push whose state waits for its save is held in its place
like a reply: a view's states reach the client in the order they were
taken (a push of an older state never follows a reply showing a newer one).

``HeldReplies`` is a base class of ``BaseConnection`` (``_connection.py``),
not an object the connection holds: its methods run for every kept-alive
move, and a method of a base class costs what one of the class's own
does, where an object of its own would cost an attribute more on each
call. Its slots are set by ``BaseConnection.__init__`` (one ``__init__`` call
per connection, as before).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._connstate import HELD_FULL, OUTPUT_FULL, REPLIED, Event
from .framing import TERMINATOR
from .waits import Wait

if TYPE_CHECKING:
    from ._connhost import ConnectionHost

# What a held reply counts towards reply_buffer_max besides its bytes: the wait, its
# closure and the entry (about 400 bytes), so that many tiny replies are bounded too.
HELD_COST = 512


# A reply held until its save (``Wait.saving``), with what metrics need of its request:
# (wait, request kind, started, cost, push). ``push`` (a subscription's push, None for a
# reply) makes its bytes from the reply; ``cost`` is what it counts towards
# reply_buffer_max (its wait's size and HELD_COST). A tuple, not an object of a class:
# one is made for every move whose reply waits for its save, and a tuple is built
# without a Python call.
_Held = tuple[Wait, str, float, int, Callable[[bytes], bytes] | None]


class HeldReplies:
    """The replies a connection holds until their save (see the top)."""

    __slots__ = ("_held", "_held_bytes", "_held_unsaved", "_flush_due", "_after_held")

    if TYPE_CHECKING:  # what the connection provides (``BaseConnection``)
        _host: ConnectionHost
        _paused: int
        _kind: str
        _started: float
        _counted: int
        # Replies held in order until their save: a _Held, or bytes that queue behind
        # one. None while nothing is held (most of the time).
        _held: deque[_Held | bytes] | None
        _held_bytes: int  # what they count towards reply_buffer_max
        _held_unsaved: int  # how many of them still wait for their commit
        _flush_due: bool  # a flush of the held replies is scheduled
        _after_held: bool | None  # close (True) or half-close (False) once sent

        def _write(self, data: bytes) -> None: ...
        def _go(self, event: Event) -> None: ...
        def _go_on(self) -> None: ...
        def _pause(self, reason: int) -> None: ...
        def _unpause(self, reason: int) -> None: ...
        def _recount(self) -> None: ...
        def _finish(self, close: bool) -> None: ...
        def _replied(self, kind: str, reply: bytes, started: float) -> None: ...

    def _emit(self, data: bytes) -> None:
        """Write ``data`` (a reply, a push), behind the replies held for their save if any."""
        held = self._held
        if held is None:
            self._write(data)
            return
        held.append(data)
        self._count_held(len(data))

    def _hold(self, wait: Wait) -> None:
        """Hold the reply of the request being served until its save; serve the next one."""
        self._queue_held(wait, self._kind, self._started, None)
        self._go(REPLIED)

    def _hold_push(self, wait: Wait, push: Callable[[bytes], bytes]) -> None:
        """Hold a subscription's push until its save, behind the replies served before it
        (the state it shows is newer than theirs) and before those served after it."""
        self._queue_held(wait, "push", 0.0, push)

    def _queue_held(self, wait: Wait, kind: str, started: float,
                    push: Callable[[bytes], bytes] | None) -> None:
        held = self._held
        if held is None:
            held = self._held = deque()
        cost = wait.size + HELD_COST
        held.append((wait, kind, started, cost, push))
        self._held_unsaved += 1
        wait.on_wake(self._held_woken)
        self._count_held(cost)

    def _count_held(self, size: int) -> None:
        """``size`` more is held: once it holds more than ``held_free`` (``_unsent.py``), all
        it holds counts towards the bounds of the address and of all; beyond
        ``reply_buffer_max``, serving and reading pause."""
        self._held_bytes += size
        if self._held_bytes > self._host.unsent.held_free:  # (at most reply_buffer_max)
            if self._held_bytes > self._host.settings.reply_buffer_max:
                self._pause(HELD_FULL)
            self._recount()

    def _held_woken(self, now: bool) -> None:
        self._held_unsaved -= 1
        if now and not self._held_unsaved:  # the commit landed, and the last of them was in it
            self._flush_held()
        elif not self._flush_due:  # in a moment (the others may be in the same commit)
            self._flush_due = True
            self._host.call_soon(self._flush_held)

    def _flush_held(self) -> None:
        """Write the held replies whose save landed, in order, in one piece; go on."""
        self._flush_due = False
        held = self._held
        if held is None:
            return
        host = self._host
        parts = []
        while held and not self._paused & OUTPUT_FULL:
            entry = held[0]
            if type(entry) is bytes:
                parts.append(entry)
                self._held_bytes -= len(entry)
            else:
                wait, kind, started, cost, push = entry  # type: ignore[misc]
                if not wait.woken:
                    break
                reply = host.resume(wait.resume)
                if isinstance(reply, Wait):  # (not from the store, whose saves give bytes)
                    held[0] = (reply, kind, started, cost, push)
                    self._held_unsaved += 1
                    reply.on_wake(self._held_woken)
                    break
                if push is None:
                    self._replied(kind, reply, started)
                    parts.append(reply + TERMINATOR)
                else:
                    parts.append(push(reply))
                self._held_bytes -= cost
            held.popleft()
        if parts:
            self._write(parts[0] if len(parts) == 1 else b"".join(parts))
        emptied = not held
        if emptied:
            self._held = None
            self._held_bytes = 0
        if self._counted:  # (its held bytes may count in the account: not as many now)
            self._recount()
        if self._paused & HELD_FULL and self._held_bytes <= host.settings.reply_buffer_max // 4:
            self._unpause(HELD_FULL)
            self._go_on()
        if emptied and self._after_held is not None:
            after, self._after_held = self._after_held, None
            self._finish(after)

    def _drop_held(self) -> None:
        """The socket is closed: the held replies go nowhere (and leave the account)."""
        held = self._held
        if held is None:  # (then nothing is held, nor counted, nor due after them)
            return
        self._held = None
        self._held_bytes = self._held_unsaved = 0
        self._after_held = None
        if self._counted:
            self._recount()
        for entry in held:
            if type(entry) is not bytes:
                entry[0].cancel()  # type: ignore[union-attr]
