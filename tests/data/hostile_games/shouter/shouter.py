"""Hostile: prints 16 MB in one move, to fill the server's log.

A one-player counter game. The attack, ``{"attack": true}``, prints
200,000 lines of 80 characters, then counts like any move. Loaded from its
own folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame

LINE = "x" * 80


class Shouter(AbstractGame):
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
            for _ in range(200_000):
                print(LINE)
        self.count += 1
