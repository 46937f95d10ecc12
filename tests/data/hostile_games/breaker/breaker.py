"""Hostile: breaks its worker outside any game call.

A one-player counter game. Its module replaces the worker's ``_mirror``
(what a change sends back: whose turn, the states, the saved game) with one
that raises once the game is attacked (``{"attack": true}``): a failure of
the worker itself, after the game's own ``move`` returned. The worker must
be replaced and the game come back as it was before the attack (a reply
saying nobody's turn would leave the session stuck). Loaded from its own
folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame

from gameserver import worker

_original = worker.Host._mirror


def _breaking(self, gid, game, wanted, save=True):
    if getattr(game.instance, "attacked", False):
        raise RuntimeError("the worker broke")
    return _original(self, gid, game, wanted, save)


worker.Host._mirror = _breaking


class Breaker(AbstractGame):
    def __init__(self, players):
        self.count = 0
        self.attacked = False

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
            self.attacked = True
        self.count += 1

    def game_over(self):
        return False

    def state(self, player_id):
        return {"count": self.count}
