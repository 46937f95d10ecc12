"""Hostile: a move that forks three child processes, each alive for 20 s.

A one-player counter game: every move adds one to ``count``, except the
attack, ``{"attack": true}``. Loaded from its own folder by
tests/test_isolation_hostile.py (issue 13's suite of hostile games).
"""

import os
import time

from abstract_game import AbstractGame


class Spawner(AbstractGame):
    def __init__(self, players):
        self.count = 0

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return 0

    def game_over(self):
        return False

    def state(self, player_id):
        return {"count": self.count}

    def move(self, move, player_id):
        if move.get("attack"):
            for _ in range(3):
                if os.fork() == 0:
                    time.sleep(20)
                    os._exit(0)
        self.count += 1
