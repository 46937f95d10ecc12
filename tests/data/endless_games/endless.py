"""Endless: a two-player game that never ends (tests the tournaments' move limit)."""

from __future__ import annotations

from typing import Any

from gameserver.game import AbstractGame


class Endless(AbstractGame):
    """Two players take turns counting; nobody ever wins. Move: ``{"count": 1}``."""

    def __init__(self, players: int) -> None:
        self.count = 0

    @staticmethod
    def min_players() -> int:
        return 2

    @staticmethod
    def max_players() -> int:
        return 2

    def current_player(self) -> int | list[int]:
        return self.count % 2

    def move(self, move: dict[str, Any], player_id: int) -> str | None:
        if move.get("count") != 1:
            return "send move(count=1)"
        self.count += 1
        return None

    def legal_moves(self, player_id: int) -> list[dict[str, Any]]:
        return [{"count": 1}]

    def game_over(self) -> bool:
        return False

    def state(self, player_id: int) -> dict[str, Any]:
        return {"count": self.count}
