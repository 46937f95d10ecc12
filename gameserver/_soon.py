"""``call_soon`` that runs a loop pass sooner right after a worker's replies.

A request to a game in a worker process waits for the worker's reply. That
reply ends the game call (``checked.Call``): the session records the change
(the store opens a batch and schedules its commit) and wakes the request,
whose connection schedules its resume (``_connection``: never inside the
wake, which runs in the middle of the change). Scheduled on the event loop,
the commit and the resume would run in the next pass: one more
``epoll_wait`` and ``_run_once`` for every change of a worker game.

``Soon`` is that ``call_soon`` (the store's, the connections' host's), with
one difference: while a worker's replies are being handled (between
``hold()`` and ``release()``, in ``workers.Worker._readable``), what is
scheduled is kept and run right after them, in the same callback of the
loop. That moment is like the start of a pass: every reply of the read is
handled, no change is under way, nothing but the loop is on the stack
below. The order is kept, so a commit scheduled by a change runs before the
resumes that wait for it (a reply still never shows an unsaved change). What
the kept callbacks schedule in turn goes to the loop (the next pass), so one
read of a worker cannot start an endless chain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("gameserver")


class Soon:
    """``loop.call_soon``, or kept until ``release()`` while held (see the module docstring).

    ``call(callback)`` is the bound method that does it (the loop's own, or the
    list's append while held: no Python call in between); calling the ``Soon``
    does the same.
    """

    __slots__ = ("_loop", "_held", "call")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._held: list[Callable[[], object]] | None = None
        self.call: Callable[[Callable[[], object]], object] = loop.call_soon

    def __call__(self, callback: Callable[[], object]) -> None:
        self.call(callback)

    def hold(self) -> bool:
        """Keep what is scheduled from now until ``release()``; False if held already
        (then the outer holder releases)."""
        if self._held is not None:
            return False
        held = self._held = []
        self.call = held.append
        return True

    def release(self) -> None:
        """Run what was kept, in order; what they schedule goes to the loop."""
        held, self._held = self._held, None
        self.call = self._loop.call_soon
        if not held:
            return
        for i, callback in enumerate(held):
            try:
                callback()
            except Exception:  # as the loop would: log it, run the others
                log.exception("a callback after a worker's replies failed")
            except BaseException:  # (KeyboardInterrupt) the others still run, later
                for rest in held[i + 1:]:
                    self._loop.call_soon(rest)
                raise
