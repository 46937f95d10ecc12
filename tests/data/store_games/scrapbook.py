"""A one-player game that keeps every message it is sent, for ever: a state that only grows.

The bundled Chat keeps only its newest messages; the store's tests need a
game whose state grows with every move (tests/test_store_size.py).
Moves: ``{"message": str}``. State: ``{"messages": [message, ...]}``.
"""

from __future__ import annotations

from typing import Any

from gameserver.game import AbstractGame


class Scrapbook(AbstractGame):
    def __init__(self, players: int) -> None:
        self.messages: list[str] = []

    @staticmethod
    def min_players() -> int:
        return 1

    @staticmethod
    def max_players() -> int:
        return 1

    def current_player(self) -> int:
        return 0

    def move(self, move: dict[str, Any], player_id: int) -> str | None:
        if not isinstance(move.get("message"), str):
            return "send move(message='...')"
        self.messages.append(move["message"])
        return None

    def game_over(self) -> bool:
        return False

    def state(self, player_id: int) -> dict[str, Any]:
        return {"messages": self.messages}
