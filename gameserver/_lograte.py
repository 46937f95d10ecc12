"""Warnings a stranger can cause, said at most once per interval, with how many were not.

A flood (of TLS handshakes beyond the caps, of TLS hellos on a plain port)
must not flood the log too: the first line of a kind is said, the next ones
within ``LOG_INTERVAL`` are only counted, and the next line said names how
many were held back (``since``).
"""

from __future__ import annotations

import time

LOG_INTERVAL = 10.0  # seconds between two warnings of one kind


class LogRate:
    """One kind of warning, said at most once per ``interval`` seconds."""

    __slots__ = ("_next", "_interval", "held")

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        self._next = 0.0
        self._interval = interval
        self.held = 0

    def due(self) -> int | None:
        """How many were held back since the last one said, if this one is to be said
        (else None: it is counted, not said)."""
        now = time.monotonic()
        if now < self._next:
            self.held += 1
            return None
        held, self.held = self.held, 0
        self._next = now + self._interval
        return held


def since(held: int, what: str) -> str:
    """The end of a line said after ``held`` were held back ("" if none were)."""
    return f" ({held} more {what} since the last such line)" if held else ""
