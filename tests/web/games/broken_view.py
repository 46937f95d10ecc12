"""BrokenView: a game whose ``state`` fails after the first move (tests the error box).

Players: 1. Move: anything. State: ``{"moves": n}`` until the first move,
then ``state`` raises.
"""

from __future__ import annotations

from typing import Any

from gameserver.game import AbstractGame


class BrokenView(AbstractGame):
    def __init__(self, players: int) -> None:
        self.moves = 0

    @staticmethod
    def min_players() -> int:
        return 1

    @staticmethod
    def max_players() -> int:
        return 1

    def current_player(self) -> int | list[int]:
        return 0

    def move(self, move: dict[str, Any], player_id: int) -> Any:
        self.moves += 1
        return None

    def game_over(self) -> bool:
        return False

    def state(self, player_id: int) -> dict[str, Any]:
        if self.moves:
            raise ValueError("the view is broken on purpose")
        return {"moves": self.moves}
