"""Hostile: a game class renamed, with a slash and a newline, after it is defined.

A game's name is its class's ``__name__``, which code may set to anything:
a slash made the dashboard's list of games fail for every visitor (the
renderer's file name is built from it), a newline forged a line of the
server's log. ``Plain`` is a game of the same file that must still be
offered. Loaded from its own folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame


class Plain(AbstractGame):
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
        self.count += 1


class Renamed(Plain):
    pass


Renamed.__name__ = "a/b\nERROR gameserver.server: forged"
