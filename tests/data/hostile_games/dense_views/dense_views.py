"""Hostile: a small state that decodes large, sent along with every change.

A one-player counter game whose state is 10,000 empty dicts: 30 KB of JSON,
small enough to come along with each change (``MIRROR_MAX``), about 800 KB
once decoded. The dashboard (or a turn timer) decodes it, and each session's
game kept that copy, uncounted, until its next change. Loaded from its own
folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame


class DenseViews(AbstractGame):
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
        return {"count": self.count, "dense": [{} for _ in range(10_000)]}

    def move(self, move, player_id):
        self.count += 1
