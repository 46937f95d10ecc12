"""The seam between connections and the server: what a connection may use, and nothing more.

``ConnectionHost`` is everything a connection (``_connection.py``) needs
from the server that runs it: the settings, the lobby's entry points
(a request, a woken wait's next step, a subscription),
the registry of open connections, the account of replies left unsent
(``_unsent.py``), the metrics, the event loop's
``call_soon``, and a way to hold the store's commits for a burst of
connections. ``server.py`` builds one; tests
may build their own to drive a connection without a server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from ._lograte import LogRate, since
from ._unsent import UnsentReplies
from .addresses import canonical_ip
from .config import Settings
from .metrics import Metrics
from .protocol import Request, Subscribe, server_error
from .waits import Feed, Outcome

log = logging.getLogger("gameserver.server")


class Connection(Protocol):
    """A connection as the server sees it when it stops."""

    def shut_down(self, reply: bytes) -> None:
        """Answer with ``reply`` and close, if no request is being served."""

    def abort(self) -> None:
        """Close now, whatever is unsent."""


OTHER_PROTOCOL_KINDS = 16  # rates of other-protocol warnings (one per kind: other_protocol)
REFUSED_MAX = 128  # refused connections still open (their refusal sent, then drained)


class ConnectionRegistry:
    """The open connections, counted per client address, and the limits on them.

    A connection refused for the limits stops counting at once (``set_aside``):
    while its refusal is sent and what its client still sends is drained (a few
    seconds: ``_connection.REFUSED_DRAIN_MAX``), it must not take an accepted
    connection's place,
    or one address could fill ``max_total`` with mute connections beyond its own
    limit. For the same reason only the first ``max_per_address`` connections of
    an address count towards ``max_total`` while the others wait for their
    verdict (``_rawconn``: a few loop rounds). At most ``REFUSED_MAX`` refused
    connections stay open; beyond, one is closed (the kernel resets it, and with it
    a refusal not sent or not read yet): the oldest of the address that holds the
    most of them (the new one's own address, if it ties). It had the longest time to
    read its refusal, and one address's mute refused connections, or a flood of
    them, must not keep every other address's refusal from being said: until
    2026-12-01 the oldest of all was closed, so anyone who could be refused quickly
    (headerless connections from a proxy's address: anyone on the proxy's host)
    cut off another address's refusal with every ``REFUSED_MAX`` of theirs.

    A connection from a proxy of ``proxies`` counts as the proxy until its PROXY
    header names the client (``rekey``); its limits are checked then (beyond them,
    after the same loop rounds). One whose header is refused is set aside too: it
    must not hold the proxy's place, which all the proxy's clients share.

    Args:
        max_total: most connections open at once.
        max_per_address: most connections open at once from one address.
        proxies: the addresses of ``proxy_protocol_from`` (each an IP address).
    """

    __slots__ = ("_open", "_aside", "_aside_by", "_per_address", "_counted", "_max_total",
                 "_max_per_address", "opened_total", "_other_protocol", "proxies")

    def __init__(self, max_total: int, max_per_address: int,
                 proxies: Iterable[str] = ()) -> None:
        self._open: set[Connection] = set()
        # Refused for the limits, not closed yet, oldest first (a dict: in insertion
        # order), with the address key each was set aside under; and the same per key.
        self._aside: dict[Connection, str] = {}
        self._aside_by: dict[str, dict[Connection, None]] = {}
        # A plain dict: Counter's deletion is Python code.
        self._per_address: dict[str, int] = {}
        self._counted = 0  # open ones within their address's limit: what max_total bounds
        self._max_total = max_total
        self._max_per_address = max_per_address
        self.opened_total = 0  # connections accepted since the start
        # Whose connections begin with a PROXY header (canonical_ip spellings); empty: off
        self.proxies = frozenset(filter(None, map(canonical_ip, proxies)))
        # Clients of another protocol (TLS on a plain port, HTTP, a PROXY header...): one
        # rate per kind, so that a flood of one does not hide the others (other_protocol)
        self._other_protocol: dict[str, LogRate] = {}

    def __len__(self) -> int:
        """The connections that count towards the limits (not the refused ones)."""
        return len(self._open)

    def __iter__(self) -> Iterator[Connection]:
        """Every open connection, the refused ones too (a server that stops ends them)."""
        return iter([*self._open, *self._aside])

    def add(self, connection: Connection, address: str) -> None:
        self._open.add(connection)
        per_address = self._per_address
        count = per_address[address] = per_address.get(address, 0) + 1
        if count <= self._max_per_address:
            self._counted += 1
        self.opened_total += 1

    def remove(self, connection: Connection, address: str) -> None:
        if connection not in self._open:  # refused (set aside), or removed already
            self._drop_aside(connection)
            return
        self._open.discard(connection)
        per_address = self._per_address
        left = per_address.get(address, 0) - 1
        if left < self._max_per_address:
            self._counted -= 1
        if left > 0:
            per_address[address] = left
        else:
            per_address.pop(address, None)

    def rekey(self, connection: Connection, old: str, new: str) -> None:
        """``connection``, counted under the address key ``old`` (a proxy's), is its
        client's at ``new`` (its PROXY header named it): it counts there from now on."""
        self.remove(connection, old)
        self.add(connection, new)
        self.opened_total -= 1  # (one connection, counted once)

    def set_aside(self, connection: Connection, address: str) -> None:
        """``connection``, refused for the limits (or for its PROXY header), no longer
        counts towards them. If ``REFUSED_MAX`` refused ones are open, one is closed: the
        oldest of the address (key) that holds the most, counting this one (see the
        class)."""
        self.remove(connection, address)
        by = self._aside_by
        if len(self._aside) >= REFUSED_MAX:
            most = max(by.values(), key=len)  # (the first of the largest, on a tie)
            own = by.get(address)
            if own is not None and len(own) + 1 >= len(most):
                most = own
            oldest = next(iter(most))
            self._drop_aside(oldest)
            oldest.abort()
        self._aside[connection] = address
        by.setdefault(address, {})[connection] = None

    def _drop_aside(self, connection: Connection) -> None:
        address = self._aside.pop(connection, None)
        if address is None:
            return
        same = self._aside_by[address]
        del same[connection]
        if not same:
            del self._aside_by[address]

    @property
    def refused_open(self) -> int:
        """Refused connections still open (their refusal sent, what comes drained)."""
        return len(self._aside)

    def other_protocol(self, address: str, what: str) -> None:
        """Warn that a client from ``address`` spoke another protocol than the port's (TLS
        to a plain port, plain TCP to a TLS one, HTTP, a PROXY header...; ``what``: which,
        and what to do), at most once per ``_lograte.LOG_INTERVAL`` for each ``what``: a
        flood of them must not flood the log, nor hide another kind (until 2026-12-01
        one rate covered them all). ``what`` is one of the callers' constant texts, so
        the rates are as few as those (at most ``OTHER_PROTOCOL_KINDS``: beyond, one more
        text shares the last rate)."""
        rates = self._other_protocol
        rate = rates.get(what)
        if rate is None:
            if len(rates) >= OTHER_PROTOCOL_KINDS:  # (a bug: no caller makes texts)
                rate = rates[next(reversed(rates))]
            else:
                rate = rates[what] = LogRate()
        held = rate.due()
        if held is not None:
            log.warning("%s (from %s)%s", what, address, since(held, "such connections"))

    def refusal(self, address: str) -> bytes | None:
        """The reply that refuses a connection from ``address`` beyond the limits, else None."""
        if self._counted > self._max_total:
            return server_error(
                f"too many connections ({self._max_total}); try again later").reply()
        if self._per_address.get(address, 0) > self._max_per_address:
            return server_error(
                "too many connections from your address (at most "
                f"{self._max_per_address}); close some and try again").reply()
        return None


class ConnectionHost(Protocol):
    """What a connection needs from the server that runs it, and nothing more."""

    @property
    def settings(self) -> Settings: ...

    @property
    def registry(self) -> ConnectionRegistry: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def unsent(self) -> UnsentReplies:
        """The replies left unsent, per client address and in all, and their bounds."""

    @property
    def log_requests(self) -> bool:
        """Whether requests and replies are logged (DEBUG)."""

    def handle(self, request: Request, client: str) -> Outcome:
        """Serve ``request`` from address ``client``: the reply, or a ``Wait``. Never raises."""

    def subscribe(self, request: Subscribe, client: str) -> Feed | bytes:
        """The feed of the view ``request`` subscribes (checked once), or the error reply.

        Never raises. See ``Session.feed``.
        """

    def resume(self, step: Callable[[], Outcome]) -> Outcome:
        """Run a ``Wait``'s ``resume`` step, turning errors into replies. Never raises."""

    def call_soon(self, callback: Callable[[], object]) -> object:
        """Run ``callback`` on the event loop soon (not now: a woken wait resumes later)."""
