"""A game without randomness whose answers a test can set, for tests/test_checked.py."""

from __future__ import annotations

from typing import Any

from gameserver.game import AbstractGame


class Plain(AbstractGame):
    def __init__(self, players: int) -> None:
        self.turns = 0

    @staticmethod
    def min_players() -> int:
        return 1

    @staticmethod
    def max_players() -> int:
        return 1

    def current_player(self) -> Any:
        return self.answer

    answer: Any = 0

    def move(self, move: dict[str, Any], player_id: int) -> Any:
        self.turns += 1
        return move.get("reject")

    def game_over(self) -> Any:
        return self.turns >= 3

    def state(self, player_id: int) -> Any:
        return {"turns": self.turns}


class Greedy(Plain):
    """Takes what it is given: empties the move dict it receives."""

    def move(self, move: dict[str, Any], player_id: int) -> Any:
        move.clear()
        return super().move(move, player_id)
