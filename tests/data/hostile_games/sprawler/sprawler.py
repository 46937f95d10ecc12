"""Hostile: a timeout hook whose move is 2 MB of JSON, which the server decoded whole.

Two players take turns; a move is logged. A player out of time gets the
move ``timeout_move`` names, here ``{"pass": "x" * 2_000_000}``: its worker
sends it as JSON text, which the server decoded on its loop and played,
whatever its size (a reply may hold 24 MB: ``{"m": [{}, {}, ...]}`` of
21 MB made the server build half a gigabyte for seconds). The server must
refuse it as the hook's error, unread, and apply the timer's fallback.
Loaded from its own folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame


class Sprawler(AbstractGame):
    def __init__(self, players):
        self.log = []
        self.turn = 0

    @staticmethod
    def min_players():
        return 2

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        return self.turn

    def game_over(self):
        return len(self.log) >= 6

    def state(self, player_id):
        return {"log": self.log}

    def move(self, move, player_id):
        self.log.append(player_id)
        self.turn = 1 - self.turn

    def timeout_move(self, player_id):
        return {"pass": "x" * 2_000_000}
