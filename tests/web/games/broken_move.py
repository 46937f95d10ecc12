"""BrokenMove: a game whose ``move`` raises when asked to (tests the lobby's error).

Players: 1. Move: ``{"fail": true}`` raises, anything else is accepted. State:
``{"moves": n}``, the accepted moves.
"""

from __future__ import annotations

from typing import Any

from gameserver.game import AbstractGame


class BrokenMove(AbstractGame):
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
        if move.get("fail"):
            raise ZeroDivisionError("a student's bug in move")
        self.moves += 1
        return None

    def game_over(self) -> bool:
        return False

    def state(self, player_id: int) -> dict[str, Any]:
        return {"moves": self.moves}
