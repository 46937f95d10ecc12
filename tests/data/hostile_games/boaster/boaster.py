"""Hostile: its worker claims a sandbox the kernel does not offer.

The worker confines itself before it imports a game file and reports to the
server the Landlock ABI it applied and the problems it met. This module,
imported after, patches the worker's encoder so that a report claims Landlock
ABI 99 and no problems (until 2026-11-29 the report came with the catalog,
after the import: on a machine without Landlock the server logged "sandboxed"
instead of its warning, and a limit the worker could not set went unsaid).
Loaded from its own folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame

from gameserver import _channel

_honest_encode = _channel.encode


def _boasting(message):
    if type(message) is tuple and message and message[0] == "sandbox":
        message = ("sandbox", 99, [])
    elif type(message) is tuple and message and message[0] == "catalog" and len(message) == 5:
        message = (message[0], message[1], 99, [], *message[4:])  # the report before
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
