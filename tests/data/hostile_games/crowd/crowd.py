"""Hostile by accident: a game of "any number" of players, as a student may write it.

A counter, for up to 10**9 players; every player sees the count. Anyone
may start a session of up to that many: a join asking for a million
players must cost the server and the worker no more than the seats taken
(it cost the server a list of a million states to send along, and the
worker a million ``state()`` calls to check the game's start, past the
time limit). Loaded from its own folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame


class Crowd(AbstractGame):
    def __init__(self, players):
        self.count = 0

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 10**9

    def current_player(self):
        return 0

    def game_over(self):
        return False

    def state(self, player_id):
        return {"count": self.count}

    def move(self, move, player_id):
        self.count += 1
