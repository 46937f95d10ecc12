"""NotASeat: a buggy game whose ``current_player`` names seats it does not have.

Players: 2 (ids 0 and 1). ``current_player`` returns ``[2, -1, 10**18]``: a
seat past the last (the usual off-by-one), a negative one, and one too large
for a JavaScript number to hold exactly. Nobody seated may move, so the game
never changes. For the dashboard's tests: a student's bug must not break the
instructor's pages.
"""

from __future__ import annotations

from typing import Any

from gameserver.game import AbstractGame


class NotASeat(AbstractGame):
    def __init__(self, players: int) -> None:
        pass

    @staticmethod
    def min_players() -> int:
        return 2

    @staticmethod
    def max_players() -> int:
        return 2

    def current_player(self) -> int | list[int]:
        return [2, -1, 10**18]

    def move(self, move: dict[str, Any], player_id: int) -> Any:
        return None

    def game_over(self) -> bool:
        return False

    def state(self, player_id: int) -> dict[str, Any]:
        return {"seats": 2}
