"""Hostile: a game of "any number" of players, 10**5000 of them.

Python cannot write a number of 5,000 digits as text (``ValueError``), so
every reply that lists the game's range (discovery, a join's error) failed
with an internal error, for every game. The server must refuse it at load.
Loaded from its own folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame


class Boundless(AbstractGame):
    def __init__(self, players):
        self.count = 0

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 10**5000

    def current_player(self):
        return 0

    def game_over(self):
        return False

    def state(self, player_id):
        return {"count": self.count}

    def move(self, move, player_id):
        self.count += 1
