"""Hostile, or only careless: a game that changes the move dict it is handed.

A one-player game. Each move is noted as it came (``state()["seen"]``, the
last five), then taken apart: every key popped, a list in it appended to, a
dict in it cleared. The server remembers requests it has decoded, by their
bytes, so that the same request sent again is not decoded again
(``gameserver.protocol._KNOWN``): what a game does to its move must never
change what a later identical request means. Loaded from its own folder by
tests/test_isolation_hostile.py.
"""

import copy

from abstract_game import AbstractGame


class Mutator(AbstractGame):
    def __init__(self, players):
        self.seen = []

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
        return {"seen": self.seen[-5:]}

    def move(self, move, player_id):
        self.seen.append(copy.deepcopy(move))
        for key in list(move):
            value = move.pop(key)
            if isinstance(value, list):
                value.append("changed")
                if value and isinstance(value[0], list):
                    value[0].append("changed")
            elif isinstance(value, dict):
                value.clear()
        move["position"] = "changed"
        return None
