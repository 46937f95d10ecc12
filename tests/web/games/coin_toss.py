"""CoinToss: a tiny game with a renderer of its own (CoinToss.js next to this file).

Players: 1 or 2, in turn. Move ``{"call": "heads" | "tails"}``; the coin is
tossed and the caller scores a point when the call was right. Three tosses
each end the game.

State: ``{"coin": "heads" | "tails" | null, "points": [int per player],
"tosses": int, "winner": id or null}``.
"""

from __future__ import annotations

import random
from typing import Any

from gameserver.game import AbstractGame

TOSSES = 3


class CoinToss(AbstractGame):
    def __init__(self, players: int) -> None:
        self.players = players
        self.coin: str | None = None
        self.points = [0] * players
        self.tosses = 0
        self.winner: int | None = None

    @staticmethod
    def min_players() -> int:
        return 1

    @staticmethod
    def max_players() -> int:
        return 2

    def current_player(self) -> int | list[int]:
        return [] if self.game_over() else self.tosses % self.players

    def move(self, move: dict[str, Any], player_id: int) -> Any:
        call = move.get("call")
        if call not in ("heads", "tails"):
            return "call 'heads' or 'tails'"
        self.coin = move.get("force") or random.choice(("heads", "tails"))
        if call == self.coin:
            self.points[player_id] += 1
        self.tosses += 1
        if self.game_over():
            best = max(self.points)
            leaders = [i for i, p in enumerate(self.points) if p == best]
            self.winner = leaders[0] if len(leaders) == 1 else None
        return None

    def game_over(self) -> bool:
        return self.tosses >= TOSSES * self.players

    def state(self, player_id: int) -> dict[str, Any]:
        return {"coin": self.coin, "points": list(self.points), "tosses": self.tosses,
                "winner": self.winner}
