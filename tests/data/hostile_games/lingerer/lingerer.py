"""Hostile: its worker says why it must be replaced in 5 MB, which the server passed on.

A one-player counter game. Its module replaces the worker's ``_leftovers``
(what the game left running after a call: a thread, a child process; the
worker then asks to be replaced, and says why) so that, once attacked
(``{"attack": true}``), the reason is 5 MB of text. The server fails the
move with it and logs it, and the store keeps it as the move's verdict:
it must cut it as it cuts a game's error. Loaded from its own folder by
tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame

from gameserver import worker

_attacked = []


def _lingering():
    if _attacked:
        _attacked.clear()
        return "left " + "L" * 5_000_000
    return None


worker._leftovers = _lingering


class Lingerer(AbstractGame):
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
        if move.get("attack"):
            _attacked.append(True)
        self.count += 1
