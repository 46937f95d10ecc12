"""Hostile: a move that sleeps 12 seconds (blocked in C code); SleepCatcher's sleeps on
in a loop that catches every exception, BaseException too (the server's interruption).

One-player counter games: every move adds one to ``count``, except the
attack, ``{"attack": true}``. Loaded from its own folder by
tests/test_isolation_hostile.py (issue 13's suite of hostile games).
"""

import time

from abstract_game import AbstractGame


class Sleeper(AbstractGame):
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
            time.sleep(12)
        self.count += 1


class SleepCatcher(Sleeper):
    def move(self, move, player_id):
        while move.get("attack"):
            try:
                time.sleep(12)
            except BaseException:  # swallows the server's interruption
                pass
        self.count += 1
