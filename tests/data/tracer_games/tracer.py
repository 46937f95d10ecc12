"""Tracer: a game whose move installs a trace or profile function, as a debugger does.

``move({"do": ...})``: "profile" or "trace" installs a no-op function with
``sys.setprofile`` or ``sys.settrace`` (and leaves it installed) and then loops for
ever if "loop" follows ("profile loop"); "threads" installs one with
``threading.setprofile`` for the threads started later; anything else is a plain move.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from gameserver.game import AbstractGame


def _hook(frame: Any, event: str, arg: Any) -> Any:
    return _hook  # (a trace function that traces on: every line of every call)


class Tracer(AbstractGame):
    def __init__(self, players: int) -> None:
        self.moves = 0

    @staticmethod
    def min_players() -> int:
        return 1

    @staticmethod
    def max_players() -> int:
        return 1

    def current_player(self) -> int:
        return 0

    def move(self, move: dict[str, Any], player_id: int) -> str | None:
        what = str(move.get("do", "")).split()
        if "profile" in what:
            sys.setprofile(_hook)
        if "trace" in what:
            sys.settrace(_hook)
        if "threads" in what:
            threading.setprofile(_hook)
        while "loop" in what:
            pass
        self.moves += 1
        return None

    def game_over(self) -> bool:
        return False

    def state(self, player_id: int) -> dict[str, Any]:
        return {"moves": self.moves}
