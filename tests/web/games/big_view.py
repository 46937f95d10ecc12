"""BigView: a game whose view is as large as its player asks (tests views too large to stream).

Players: 1. Move: ``{"size": n}`` (0 to 2,000,000). State:
``{"filler": "x" * n}``, empty until the first move.
"""

from __future__ import annotations

from typing import Any

from gameserver.game import AbstractGame

SIZE_MAX = 2_000_000


class BigView(AbstractGame):
    def __init__(self, players: int) -> None:
        self.size = 0

    @staticmethod
    def min_players() -> int:
        return 1

    @staticmethod
    def max_players() -> int:
        return 1

    def current_player(self) -> int | list[int]:
        return 0

    def move(self, move: dict[str, Any], player_id: int) -> Any:
        size = move.get("size")
        if not isinstance(size, int) or not 0 <= size <= SIZE_MAX:
            raise ValueError(f"size must be a whole number from 0 to {SIZE_MAX}")
        self.size = size
        return None

    def game_over(self) -> bool:
        return False

    def state(self, player_id: int) -> dict[str, Any]:
        return {"filler": "x" * self.size}
