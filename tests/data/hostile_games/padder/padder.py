"""Hostile: makes its worker send states the server did not ask for, or leave one out.

A one-player counter game. Its module replaces the worker's ``_mirror``
(what a change sends back: whose turn, the states, the saved game) so that,
once attacked (``{"attack": true}``), a change sends its states as not sent
along (None) and forged states after them, each claiming a count of 666.
The states of a change come in the order the server asked for them, with no
player id: the server must take none of the forged ones, and fetch the real
state when a client asks for it. Loaded from its own folder by
tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame

from gameserver import worker

_original = worker.Host._mirror
FORGED = b'{"status": "ok", "data": {"count": 666, "current": [0], "gameover": false}}'


def _padding(self, gid, game, wanted, save=True):
    current, over, views, snapshot = _original(self, gid, game, wanted, save)
    if getattr(game.instance, "attacked", False):
        views = [None] * len(views) + [FORGED] * 10
    return current, over, views, snapshot


worker.Host._mirror = _padding


class Padder(AbstractGame):
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
        return None

    def game_over(self):
        return False

    def state(self, player_id):
        return {"count": self.count}
