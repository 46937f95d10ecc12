"""Hostile: a move that sleeps in a loop that catches every exception, BaseException too.

A one-player counter game: every move adds one to ``count``, except the
attack, ``{"attack": true}``. Loaded from its own folder by
tests/test_isolation_hostile.py (issue 13's suite of hostile games).
"""

import time

from abstract_game import AbstractGame


class SleepCatcher(AbstractGame):
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
            while True:
                try:
                    time.sleep(12)
                except BaseException:  # swallows the server's interruption
                    pass
        self.count += 1
