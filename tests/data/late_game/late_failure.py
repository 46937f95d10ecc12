"""A game whose move fails late, and whose exception's message takes the time the
worker's interrupt comes in (tests/test_isolation.py)."""

import os
import signal
import time

from gameserver.game import AbstractGame


class Late(Exception):
    def __str__(self) -> str:
        os.kill(os.getpid(), signal.SIGINT)  # as the server's, at the time limit
        time.sleep(0.05)  # (the handler runs here)
        return "late"


class LateFailure(AbstractGame):
    @staticmethod
    def min_players() -> int:
        return 1

    @staticmethod
    def max_players() -> int:
        return 1

    def __init__(self, players: int) -> None:
        self.players = players

    def state(self, player_id: int) -> dict:
        return {}

    def current_player(self) -> int:
        return 0

    def game_over(self) -> bool:
        return False

    def move(self, move: dict, player_id: int) -> None:
        time.sleep(1.1)  # past half the time limit (2 s): an interrupt would be for this call
        raise Late
