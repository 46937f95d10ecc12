"""The server's memory: what its process holds now, and the most it may (``max_memory``).

A backstop behind the bounds per request, connection, address and session:
those stop one client, but sessions started from many addresses still add
up (an IPv6 network of a hosting provider holds 65,536 of the /64 blocks the
server counts as addresses; 20,000 sessions of a few MB each are tens of
GB). Past ``max_memory`` the lobby starts no new session; those that exist
play on and end as usual, giving their memory back.

Giving it back: glibc's malloc keeps much of what the process freed (pages
amid its heap, between blocks still in use) instead of returning it to the
system, so the process may hold past the limit long after its sessions
ended. Measured in a server limited to 100 MB: 40 sessions whose states grew
to 300 MB, then ended, left it holding 103 MB with no session, refusing every
new one. So, past the limit, the server first asks glibc to return what it
keeps (``malloc_trim(0)``; at most once every ``TRIM_INTERVAL`` s, as it
walks the whole heap) and judges what it holds after that. Python's own
allocator keeps freed blocks of small objects inside its arenas still in use,
which no trim returns (docs/reliability.md has the figures). Elsewhere (not
glibc, not Linux) nothing is trimmed.

So that what the process keeps cannot lock every session out for good, what it
holds with no session at all is not charged to sessions (``Backstop``): a
session that would start when none exists always starts, and what the process
holds then (after a trim, where one is due) becomes its floor; while sessions
exist a new one starts if the process holds no more than the limit or than that
floor. The floor counts at most ``FLOOR_MAX`` times the limit, so sessions
started beside others never take the process past that.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

MB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
TRIM_INTERVAL = 1.0  # seconds between two malloc_trim calls, at least
FLOOR_MAX = 2  # the floor a process without sessions sets counts up to this times the limit


def resident_bytes() -> int | None:
    """The memory this process holds now (Linux: ``/proc/self/statm``); None where unknown."""
    try:
        with open("/proc/self/statm", "rb") as file:
            return int(file.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def memory_limit(max_memory_mb: int) -> int:
    """Bytes the server may hold: ``max_memory_mb`` MB, or (0) half the machine's memory;
    0 (no limit) where the machine's memory is unknown."""
    if max_memory_mb:
        return max_memory_mb * MB
    try:
        return os.sysconf("SC_PHYS_PAGES") * _PAGE // 2
    except (AttributeError, ValueError, OSError):
        return 0


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None (another C library, another system)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim  # (the C library this process runs on)
    except (ImportError, OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_trim = _malloc_trim()
_trimmed_at = -TRIM_INTERVAL  # time.monotonic() of the last trim


def _trimmed(held: int) -> int:
    """What the process holds after returning the memory malloc keeps freed to the
    system (``held``: what it holds now; kept if not trimmed, see the top)."""
    global _trimmed_at
    now = time.monotonic()
    if _trim is None or now - _trimmed_at < TRIM_INTERVAL:
        return held
    _trimmed_at = now
    _trim(0)
    return resident_bytes() or held


class Backstop:
    """``max_memory`` for one lobby: whether a new session may start (see the top)."""

    __slots__ = ("floor",)

    def __init__(self) -> None:
        # What the process held, past the limit, when a session started with no other
        # (after a trim, where one was due); 0: it held no more than the limit then.
        self.floor = 0

    def short(self, limit: int, alone: bool) -> str | None:
        """Why no new session may start now, or None. ``limit``: bytes (0: none);
        ``alone``: no session exists (it starts whatever the process holds, and what
        that is sets the floor)."""
        held = resident_bytes() if limit else None
        if held is None or held <= limit:
            if alone:
                self.floor = 0
            return None
        held = _trimmed(held)
        if alone:  # (nothing to protect: what the process holds now is its own)
            self.floor = min(held, FLOOR_MAX * limit) if held > limit else 0
            return None
        if held <= limit or held <= self.floor:
            return None
        return (f"the server is short of memory ({held // MB} MB in use, at most "
                f"{max(limit, self.floor) // MB} MB: the max_memory setting); no new "
                "sessions until some end; try again later")
