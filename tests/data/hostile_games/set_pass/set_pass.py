"""Careless: a timeout hook whose move holds a set, which JSON cannot carry; or 2 MB.

Two players take turns; a move is logged. A player out of time gets the
move ``timeout_move`` names, here ``{"pass": true, "why": {1, 2}}``. In the
server's process that move is played; a worker must send it as JSON, and
cannot: the player must get the timer's fallback with the game's error
logged, and the worker must not be replaced for it.

``Sprawler`` names ``{"pass": "x" * 2_000_000}`` instead: its worker sends it
as JSON text, which the server decoded on its loop and played, whatever its
size (a reply may hold 24 MB: ``{"m": [{}, {}, ...]}`` of 21 MB made the
server build half a gigabyte for seconds). The server must refuse it as the
hook's error, unread, with the same fallback. Loaded from its own folder by
tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame


class SetPass(AbstractGame):
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
        return {"pass": True, "why": {1, 2}}


class Sprawler(SetPass):
    def timeout_move(self, player_id):
        return {"pass": "x" * 2_000_000}
