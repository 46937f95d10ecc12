"""A game that cannot be saved: it holds a lock, which pickle refuses."""

import threading

from gameserver import AbstractGame


class Locked(AbstractGame):
    def __init__(self, players):
        self.lock = threading.Lock()
        self.count = 0

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return 0

    def move(self, move, player_id):
        self.count += 1

    def game_over(self):
        return False

    def state(self, player_id):
        return {"count": self.count}
