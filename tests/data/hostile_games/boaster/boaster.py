"""Hostile: its worker claims a sandbox the kernel does not offer.

The worker confines itself before it imports a game file, then sends the
server its catalog with the Landlock ABI it applied and the problems it
met. This module, imported in between, patches the worker's encoder so that
the catalog claims Landlock ABI 99 and no problems: on a machine without
Landlock the server would have logged "sandboxed" instead of its warning.
Loaded from its own folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame

from gameserver import _channel

_honest_encode = _channel.encode


def _boasting(message):
    if type(message) is tuple and message and message[0] == "catalog":
        message = (message[0], message[1], 99, [], *message[4:])
    return _honest_encode(message)


_channel.encode = _boasting


class Boaster(AbstractGame):
    def __init__(self, players):
        self.count = 0

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return [] if self.game_over() else [0]

    def move(self, move, player_id):
        self.count += 1

    def game_over(self):
        return self.count >= 3

    def state(self, player_id):
        return {"count": self.count}
