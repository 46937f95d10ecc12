"""Hostile: every state is 1 MB, made for nothing at each call.

A one-player counter game whose state carries a megabyte of padding: too
large to be sent along with changes, so the server fetches it from the
worker when a client asks, and keeps it until the game changes. The worker
holds none of it; many sessions of it made the server hold a megabyte each
(16 MB each with states of the largest size a worker may send). Loaded
from its own folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame


class BigViews(AbstractGame):
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
        return {"count": self.count, "padding": "x" * 1_000_000}

    def move(self, move, player_id):
        self.count += 1


class DenseViews(BigViews):
    """A small state that decodes large: 10,000 empty dicts, 30 KB of JSON, small
    enough to come along with each change (``MIRROR_MAX``), about 800 KB decoded. The
    dashboard (or a turn timer) decodes it, and each session's game kept that copy,
    uncounted, until its next change."""

    def state(self, player_id):
        return {"count": self.count, "dense": [{} for _ in range(10_000)]}
