"""Replies left unsent, counted per client address and in all, and who must pause for them.

Why: one connection holds at most about ``reply_buffer_max`` of replies its
client has not taken (``_connection.py``, flow control), but one address may
open ``max_connections_per_address`` connections (2,000 × 4 MiB: 8 GB) and
every address together ``max_connections`` (20,000 × 4 MiB: 80 GB). A client
that reads slowly is alive and is not cut off, so the bound must be on the
sum: ``reply_buffer_max_per_address`` for the connections of one address,
``reply_buffer_max_total`` for all (many addresses are cheap: an IPv6 /64,
a botnet).

The rules (``UnsentReplies.update``):

- Only bytes that stay unsent count (and held ones, below): a transport
  reports a connection's unsent bytes when a write leaves some in its
  buffer, as the client takes them, and 0 when they are sent or dropped
  (however the connection ends). A client that takes each reply as it is
  written is never counted: the fast path does not come here.
- While its address is *full* (its unsent bytes went beyond its bound) or
  all are (the total went beyond its bound), a connection that reports
  unsent bytes is paused: it reads and serves nothing more. It is told at
  its next report, so each connection of the address adds at most one more
  write (a reply, a read's replies, or its replies held for their save)
  after the bound is passed. Connections with nothing unsent go on (until
  the address is *beyond*, below).
- A reply may be large (Echo's ``with_state``: up to 1 MB), so that one write
  each could still be much (2,000 × 1 MB of one address). Past its bound and
  a ``MARGIN``th of it (*beyond*), every connection of the address pauses,
  those with nothing unsent too, and those it opens meanwhile (``opened``):
  the address leaves at most its bound, the margin and one write unsent.
- A paused connection goes on once its own bytes are all sent (not while its
  address is beyond), or once its
  address and the total are no longer full. Full ends when the bytes are
  back under a quarter of the bound (as ``reply_buffer_max`` does per
  connection): a client that reads slowly is woken once per quarter of the
  bound it takes, not once per TCP segment.

Replies held for their save (``_held.py``: a kept-alive reply waits
for the store's commit, behind a slow or failing disk) are bytes a client
makes the server keep as well: a connection counts them with its unsent
ones once they are more than ``HELD_FREE`` (``held_free``), then all of them,
so that a few moves sent together (a vector of learning environments) never
come here.
The allowance is bounded in all, not only per connection: every open
connection could keep it (20,000 × 16 KiB: 312 MiB, more than the 256 MiB of
``reply_buffer_max_total``, uncounted, until 2026-11-29). Now a sixteenth of
``reply_buffer_max_total`` (``HELD_RESERVE``) is set aside for it: the
bytes counted make all pause beyond the other fifteen sixteenths, and
``held_free`` is that reserve shared among the open connections (16 KiB each
up to 1,024 of them, by default; 838 bytes each at 20,000), set as
connections open and close (``opened``, ``closed``), never per move. So the
unsent bytes counted and the held ones not counted stay within
``reply_buffer_max_total`` together (a connection that held its old
allowance as more connections opened counts it at its next reply).
One address's connections could hold ``reply_buffer_max`` each of them
(2,000 × 4 MiB) until 2026-11-29. Now, after its address's bound is passed,
each of its connections adds at most ``HELD_FREE`` and one reply (held, or
one write unsent) before it pauses; it goes on once its held replies are
saved and taken, or its address and all are back under a quarter.

The connections are woken through ``Pausable.unsent_resumed`` (they resume
on the event loop's next pass, not in the middle of another connection's
write).
"""

from __future__ import annotations

import sys
from typing import Protocol

# Bytes of replies held for their save that a connection keeps without counting them
# (at most reply_buffer_max): about 16 moves' replies, sent together, with their costs.
HELD_FREE = 16 * 1024
# The part of reply_buffer_max_total kept for those: held_free shrinks as connections
# open, so that all of them together never keep more uncounted (see the top).
HELD_RESERVE = 16  # 1/16 of it: 16 MiB of 256, 16 KiB each for up to 1,024 connections
# Past reply_buffer_max_per_address and a MARGINth of it, every connection of the address
# pauses, not only those that leave bytes unsent (see the top).
MARGIN = 4


if sys.platform.startswith("linux"):
    import fcntl
    import termios

    def kernel_unsent(fd: int) -> int | None:
        """Bytes of replies in the kernel's send queue of socket ``fd``, not yet taken by
        the client; None where it cannot be told. (Not counted in the account: the
        kernel bounds them; a connection's deadline asks whether they change.)"""
        try:
            return int.from_bytes(fcntl.ioctl(fd, termios.TIOCOUTQ, bytes(4)), sys.byteorder,
                                  signed=True)
        except OSError:
            return None
else:
    def kernel_unsent(fd: int) -> int | None:
        return None


class Pausable(Protocol):
    """A connection as the account sees it."""

    def unsent_resumed(self) -> None:
        """Its address and the total are no longer full: read and serve again (soon)."""

    def unsent_paused(self) -> None:
        """Its address is beyond its bound and the margin: read and serve nothing more,
        though it leaves nothing unsent (until ``unsent_resumed``)."""


class _Address:
    """The unsent bytes of one address's connections, and those of them paused."""

    __slots__ = ("unsent", "full", "paused", "beyond")

    def __init__(self) -> None:
        self.unsent = 0
        self.full = False
        self.beyond = False  # beyond the bound and its margin: every connection pauses
        self.paused: set[Pausable] = set()


class UnsentReplies:
    """The account of replies left unsent, per client address and in all.

    Args:
        per_address: most bytes the connections of one address may leave unsent
            (``reply_buffer_max_per_address``) before they pause.
        total: most bytes all connections may leave unsent (``reply_buffer_max_total``).
        per_connection: most bytes one connection may leave unsent, or hold for their
            save (``reply_buffer_max``): ``held_free`` is at most that.
    """

    __slots__ = ("_per_address", "_margin", "_total", "_calm", "_addresses", "unsent",
                 "_full", "paused", "held_free", "_free_max", "_reserve", "connections",
                 "_open")

    def __init__(self, per_address: int, total: int, per_connection: int) -> None:
        self._per_address = per_address
        self._margin = per_address + per_address // MARGIN  # beyond: all of it pause
        self._reserve = total // HELD_RESERVE  # for held bytes not counted (see the top)
        self._total = total - self._reserve  # counted bytes beyond it: all pause
        self._calm = total // 4  # ... until they are back under this
        # Held bytes a connection keeps uncounted (see the top); a connection holding
        # more checks its own bound too (``_held.HeldReplies._count_held``).
        self._free_max = self.held_free = min(HELD_FREE, per_connection)
        self.connections = 0  # open now (``opened``, ``closed``)
        self._open: dict[str, set[Pausable]] = {}  # ... by address
        self._addresses: dict[str, _Address] = {}  # only those with bytes unsent, or paused
        self.unsent = 0  # bytes left unsent now, by every connection
        self._full = False  # the total went beyond its bound, and is not back to a quarter
        self.paused = 0  # connections paused now for their address or the total

    def opened(self, connection: Pausable, address: str) -> None:
        """A connection opened: the reserve for held bytes is shared among one more."""
        self.connections += 1
        if self.connections * self.held_free > self._reserve:
            self.held_free = self._reserve // self.connections
        conns = self._open.get(address)
        if conns is None:
            conns = self._open[address] = set()
        conns.add(connection)
        entry = self._addresses.get(address)
        if entry is not None and entry.beyond:  # (it is woken with the others)
            self._pause(entry, connection)
            connection.unsent_paused()

    def closed(self, connection: Pausable, address: str) -> None:
        """A connection closed: the others may keep more held bytes uncounted."""
        self.connections -= 1
        conns = self._open.get(address)
        if conns is not None:
            conns.discard(connection)
            if not conns:
                del self._open[address]
        entry = self._addresses.get(address)
        if entry is not None and connection in entry.paused:
            entry.paused.discard(connection)
            self.paused -= 1
            if not entry.unsent and not entry.paused:
                del self._addresses[address]
        if self.held_free < self._free_max:
            self.held_free = min(self._free_max, self._reserve // max(1, self.connections))

    def of(self, address: str) -> int:
        """The bytes the connections of ``address`` leave unsent now."""
        entry = self._addresses.get(address)
        return 0 if entry is None else entry.unsent

    def update(self, connection: Pausable, address: str, before: int, after: int) -> bool:
        """``connection`` of ``address`` leaves ``after`` bytes unsent, not ``before``.

        Returns whether it must pause (its address or all are full, and it
        leaves bytes unsent); it is then counted as paused until it reports
        0, or is woken (``unsent_resumed``) as its address and the total
        come back under a quarter of their bounds.
        """
        entry = self._addresses.get(address)
        if entry is None:
            entry = self._addresses[address] = _Address()
        change = after - before
        entry.unsent += change
        self.unsent += change
        if change > 0:
            if entry.unsent > self._per_address:
                entry.full = True
                if entry.unsent > self._margin and not entry.beyond:
                    self._beyond(entry, address)
            if self.unsent > self._total:
                self._full = True
        elif change < 0:
            self._calm_down(entry)
        if after and (entry.full or self._full) or entry.beyond:
            self._pause(entry, connection)
            return True
        if connection in entry.paused:
            entry.paused.discard(connection)
            self.paused -= 1
        if not entry.unsent and not entry.paused:
            del self._addresses[address]
        return False

    def _pause(self, entry: _Address, connection: Pausable) -> None:
        if connection not in entry.paused:
            entry.paused.add(connection)
            self.paused += 1

    def _beyond(self, entry: _Address, address: str) -> None:
        """The address passed its bound and the margin: each of its connections pauses,
        those with nothing unsent too (see the top)."""
        entry.beyond = True
        for connection in list(self._open.get(address, ())):
            if connection not in entry.paused:
                self._pause(entry, connection)
                connection.unsent_paused()

    def _calm_down(self, entry: _Address) -> None:
        """Less is unsent: end what is no longer full, and wake who may go on."""
        if entry.full and entry.unsent <= self._per_address // 4:
            entry.full = entry.beyond = False
            if not self._full:
                self._wake(entry)
        if self._full and self.unsent <= self._calm:
            self._full = False
            for other in list(self._addresses.values()):
                if not other.full:
                    self._wake(other)

    def _wake(self, entry: _Address) -> None:
        paused, entry.paused = entry.paused, set()
        self.paused -= len(paused)
        for connection in paused:
            connection.unsent_resumed()
