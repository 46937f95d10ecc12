"""Helpers shared by the game tests."""

from __future__ import annotations

import random
from typing import Any


class FirstPlayer(random.Random):
    """A random source whose randrange always picks ``first``."""

    def __init__(self, first: int) -> None:
        super().__init__(0)
        self.first = first
        self.asked: list[int] = []

    def randrange(self, stop: int) -> int:  # type: ignore[override]
        self.asked.append(stop)
        return self.first


def contains(haystack: Any, needle: Any) -> bool:
    """Whether ``needle`` equals ``haystack`` or any value nested in it (as ``check`` looks)."""
    if haystack == needle and type(haystack) is type(needle):
        return True
    if isinstance(haystack, dict):
        return any(contains(value, needle) for value in haystack.values())
    if isinstance(haystack, list):
        return any(contains(value, needle) for value in haystack)
    return False
