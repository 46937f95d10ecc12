"""Hostile: makes its worker send the server millions of states with one change.

A one-player counter game. Its module replaces the worker's ``_mirror``
(what a change sends back: whose turn, the states, the saved game) so that,
once attacked (``{"attack": true}``), a reply lists five million states,
each not sent along (None): 20 MB of lengths, under the message limit, but
a loop of seconds for a server that walked them. The server must refuse it
by the count in its header, before walking it.
Loaded from its own folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame

from gameserver import worker

_original = worker.Host._mirror


def _flooding(self, gid, game, wanted, save=True):
    current, over, views, snapshot = _original(self, gid, game, wanted, save)
    if getattr(game.instance, "attacked", False) and views:
        views = [None] * 5_000_000
    return current, over, views, snapshot


worker.Host._mirror = _flooding


class Flooder(AbstractGame):
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
            return None
        self.count += 1
        return None

    def game_over(self):
        return False

    def state(self, player_id):
        return {"count": self.count}
