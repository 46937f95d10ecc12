"""Recorder: a test game that records every move that reaches it, even rejected ones.

Players: 1 to 4; they take turns in id order, player 0 first, so tests know
who is on turn without looking. ``current_player`` returns a bare int while
the game runs (as many classic games do) and ``[]`` once it is over.

Move:
    ``{"reject": value}``: recorded, then rejected with ``value`` as it is (a
    string, or any JSON value such as ``["no such card", 3]``; True is the game's
    error: ``checked.MOVE_RETURNED_TRUE``).
    ``{"end": true}``: recorded; ends the game.
    anything else: recorded; the turn passes to the next player.

State:
    ``{"you": player_id, "log": [[player_id, move], ...]}``: every player sees
    the whole log, plus its own id, so each player's view differs.
"""

from __future__ import annotations

from typing import Any

from gameserver.game import AbstractGame


class Recorder(AbstractGame):
    def __init__(self, players: int) -> None:
        self.players = players
        self.turn = 0
        self.log: list[list[Any]] = []
        self.over = False

    @staticmethod
    def min_players() -> int:
        return 1

    @staticmethod
    def max_players() -> int:
        return 4

    def current_player(self) -> int | list[int]:
        return [] if self.over else self.turn

    def move(self, move: dict[str, Any], player_id: int) -> Any:
        self.log.append([player_id, move])
        if "reject" in move:
            return move["reject"]
        if move.get("end") is True:
            self.over = True
            return None
        self.turn = (self.turn + 1) % self.players
        return None

    def game_over(self) -> bool:
        return self.over

    def state(self, player_id: int) -> dict[str, Any]:
        return {"you": player_id, "log": self.log}
