"""TLS handshakes off the event loop: a few threads, and caps on what waits for them.

Why: the first step of a server's handshake (its key exchange and the
signature with the certificate's key) costs 1-2 ms of CPU, and a client
that replays a recorded ClientHello makes the server spend it for nothing.
Done on the event loop, 8 threads replaying hellos raised another connected
client's request time from 7 to 60 ms. CPython's ``_ssl`` releases the GIL
inside ``SSL_do_handshake``, so a step on a thread runs beside the loop (on
another core, where there is one) and the loop only hands it over and
takes its result.

A step is one ``do_handshake`` call of a connection (``_tlsconn``) on the
records it has received. It never waits for the network (the records are
in memory buffers): it ends after its CPU time. While a step runs or waits
its turn, the loop does not touch that connection's TLS object or its
buffers; what the client sends meanwhile is kept aside, up to
``_tlsconn.ARRIVED_MAX``, and then reading pauses until the step ends.

A handshake is *in progress* while it has a step running, queued for a
thread or waiting its turn; not while it waits for the client's next records
(that costs no CPU; the connection limits and its deadline bound it):

- ``tls_handshakes_per_address`` in progress per client address
  (``address_key``): a connection whose step would be one more is refused,
  closed at once (nothing can be said to it before TLS) and logged;
- ``tls_handshakes_max`` steps handed to the threads at once: beyond, a
  step waits its turn; turns go round the addresses that wait, so one
  address's flood does not stand in front of everyone else's handshakes.

So what waits is at most ``tls_handshakes_per_address`` connections per
address, each holding at most what one read and ``ARRIVED_MAX`` bring, and
the connections themselves are bounded by ``max_connections``. A client
that leaves while its step waits is seen to leave (reading goes on below
``ARRIVED_MAX``) and gives its place back (``forget``). The
handshake's deadline is the connection's first one (``connection_timeout``),
waiting included. The warnings are said at most once per
``_lograte.LOG_INTERVAL``, with how many were held back: a flood must not
flood the log too.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from ._lograte import LogRate, since

log = logging.getLogger("gameserver.server")

# Threads for handshake steps: one core is left to the event loop.
THREADS = max(1, min(4, (os.cpu_count() or 1) - 1))


class Stepper(Protocol):
    """A connection whose handshake goes on in steps (``_tlsconn.TLSConnection``)."""

    def step(self) -> BaseException | None:
        """One ``do_handshake`` call, on a thread: None (done), or what it raised."""

    def stepped(self, outcome: BaseException | None) -> None:
        """The step's outcome, on the loop."""


class Handshakes:
    """The threads that run handshake steps, and the caps on steps in progress.

    Args:
        loop: the server's event loop (steps' outcomes are handed back to it).
        max_total: most steps handed to the threads at once (``tls_handshakes_max``).
        max_per_address: most handshakes in progress from one address
            (``tls_handshakes_per_address``).
        threads: threads that run the steps.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_total: int, max_per_address: int,
                 threads: int = THREADS) -> None:
        self._loop = loop
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="tls-handshake")
        self._max_total = max_total
        self._max_per_address = max_per_address
        self._running = 0  # steps handed to the threads (queued or running there)
        self._in_progress: dict[Stepper, str] = {}  # -> its address key
        self._per_address: dict[str, int] = {}  # handshakes in progress per address
        # Steps waiting their turn: per address (in turn order: a dict keeps insertion
        # order, and an address served goes to the end), the address's connections in
        # the order they came. Not empty only while _running is max_total.
        self._waiting: dict[str, dict[Stepper, None]] = {}
        self._closed = False
        self.refused = 0  # connections refused for the per-address cap, in all
        self.waited = 0  # steps that waited their turn, in all
        self._refusals = LogRate()
        self._waits = LogRate()

    @property
    def in_progress(self) -> int:
        return len(self._in_progress)

    def step(self, conn: Stepper, address: str) -> bool:
        """Run ``conn``'s next step on a thread, now or in its turn; its outcome goes to
        ``conn.stepped`` on the loop. False: refused (the caller closes ``conn``).

        ``address`` is the connection's ``address_key``.
        """
        if self._closed:
            return False
        count = self._per_address.get(address, 0)
        if count >= self._max_per_address:
            self.refused += 1
            held = self._refusals.due()
            if held is not None:
                log.warning("TLS handshake from %s refused: %d handshakes from that address "
                            "are in progress already (tls_handshakes_per_address); the "
                            "connection is closed%s", address, count,
                            since(held, "refused"))
            return False
        self._per_address[address] = count + 1
        self._in_progress[conn] = address
        if self._running < self._max_total:
            self._hand(conn)
            return True
        self._waiting.setdefault(address, {})[conn] = None
        self.waited += 1
        held = self._waits.due()
        if held is not None:
            log.warning("TLS handshakes wait for a thread: %d are handed to the threads "
                        "(tls_handshakes_max), %d wait their turn%s", self._running,
                        self.in_progress - self._running, since(held, "waited"))
        return True

    def forget(self, conn: Stepper) -> None:
        """``conn`` is closed: if its step waits its turn, it no longer does (a running
        one ends, and the connection drops its outcome)."""
        address = self._in_progress.get(conn)
        if address is None:
            return
        waiting = self._waiting.get(address)
        if waiting is not None and conn in waiting:
            del waiting[conn]
            if not waiting:
                del self._waiting[address]
            self._release(conn)

    def close(self) -> None:
        """The server stops: no more steps (queued ones are dropped; a running one ends)."""
        self._closed = True
        self._waiting.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ on the loop

    def _hand(self, conn: Stepper) -> None:
        self._running += 1
        self._executor.submit(self._run, conn)

    def _done(self, conn: Stepper, outcome: BaseException | None) -> None:
        self._running -= 1
        self._release(conn)
        self._next_turns()
        conn.stepped(outcome)

    def _release(self, conn: Stepper) -> None:
        address = self._in_progress.pop(conn)
        left = self._per_address[address] - 1
        if left:
            self._per_address[address] = left
        else:
            del self._per_address[address]

    def _next_turns(self) -> None:
        """Hand waiting steps to the threads, one per address in turn, while there is room."""
        waiting = self._waiting
        while waiting and self._running < self._max_total and not self._closed:
            address = next(iter(waiting))
            queue = waiting.pop(address)
            conn = next(iter(queue))
            del queue[conn]
            if queue:
                waiting[address] = queue  # its next one after every other address's
            self._hand(conn)

    # ------------------------------------------------------------ on a thread

    def _run(self, conn: Stepper) -> None:
        outcome = conn.step()
        try:
            self._loop.call_soon_threadsafe(self._done, conn, outcome)
        except RuntimeError:  # the loop is closed: the server stopped
            pass
