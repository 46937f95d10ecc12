"""A two-player game whose move ends it with a large secret for each player.

For tests/test_server_shown_views.py: player 0's move ``{"size": N}`` ends
the game; then each player's state holds N copies of its own digit (player
0 sees only 0s, player 1 only 1s), which the other player must never see.
"""

from typing import Any

from gameserver.game import AbstractGame


class BigEnd(AbstractGame):
    def __init__(self, players: int) -> None:
        self.size = 0
        self.over = False

    @staticmethod
    def min_players() -> int:
        return 2

    @staticmethod
    def max_players() -> int:
        return 2

    def current_player(self) -> list[int]:
        return [] if self.over else [0]

    def game_over(self) -> bool:
        return self.over

    def move(self, move: dict[str, Any], player_id: int) -> str | None:
        size = move.get("size")
        if type(size) is not int or not 0 <= size <= 4_000_000:
            return "send move(size=N) with N from 0 to 4000000"
        self.size, self.over = size, True
        return None

    def state(self, player_id: int) -> dict[str, Any]:
        return {"secret": str(player_id) * self.size}

    def private_data(self, player_id: int) -> list[Any]:
        return [str(player_id) * self.size] if self.size else []
