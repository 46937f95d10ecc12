"""Hostile: lifts the worker's own limit on saved games, then grows one of 4 MB.

A one-player counter game. Its module raises ``SNAPSHOT_MAX`` in the
worker's channel (a game can change anything in its own process) and has
the worker send a saved copy with every move, asked for or not, so the
worker sends a 4 MB saved copy with every change; the attack,
``{"attack": true}``, makes the game that large. The server must check the
bound itself. Loaded from its own folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame

from gameserver import _channel, worker

_channel.SNAPSHOT_MAX = 10**9
_mirror = worker.Host._mirror


def _always_saving(self, gid, game, wanted, save=True):
    return _mirror(self, gid, game, wanted, True)


worker.Host._mirror = _always_saving


class Bloater(AbstractGame):
    def __init__(self, players):
        self.count = 0
        self.ballast = b""

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return 0

    def move(self, move, player_id):
        if move.get("attack"):
            self.ballast = b"x" * (4 * 1024 * 1024)
            return None
        self.count += 1
        return None

    def game_over(self):
        return False

    def state(self, player_id):
        return {"count": self.count}
