"""Hostile: after the attack, state() loops forever inside a bare except.

A one-player counter game: every move adds one to ``count``, except the
attack, ``{"attack": true}``. Loaded from its own folder by
tests/test_isolation_hostile.py (issue 13's suite of hostile games).
"""

from abstract_game import AbstractGame


class StateLoop(AbstractGame):
    def __init__(self, players):
        self.count = 0
        self.stuck = False

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
        while self.stuck:
            try:
                while True:
                    pass
            except:  # noqa: E722 - the bare except that swallows every interruption
                pass
        return {"count": self.count}

    def move(self, move, player_id):
        if move.get("attack"):
            self.stuck = True
        self.count += 1
