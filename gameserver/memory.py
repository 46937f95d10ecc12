"""The server's memory: what its process holds now, and the most it may (``max_memory``).

A backstop behind the bounds per request, connection, address and session:
those stop one client, but sessions started from many addresses still add
up (an IPv6 network of a hosting provider holds 65,536 of the /64 blocks the
server counts as addresses; 20,000 sessions of a few MB each are tens of
GB). Past ``max_memory`` the lobby starts no new session; those that exist
play on and end as usual, giving their memory back.
"""

from __future__ import annotations

import os

MB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


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


def short_of_memory(limit: int) -> str | None:
    """Why no new session may start now (the process holds more than ``limit`` bytes),
    or None. ``limit`` 0: never."""
    held = resident_bytes() if limit else None
    if held is None or held <= limit:
        return None
    return (f"the server is short of memory ({held // MB} MB in use, at most "
            f"{limit // MB} MB: the max_memory setting); no new sessions until some "
            "end; try again later")
