"""Hostile: its worker sends states holding a number beyond the float range (``1e999``).

A one-player counter game. Its module patches the worker (as a game can: it
runs in that process) so that, once attacked (``{"attack": true}``), every
state reply holds ``1e999``: valid JSON, which the server's quick check of a
worker's state read as infinity and passed, so players got it while the store
logged the encoder's error for the same state. The game ends with the
attack, so that the store logs its final states. Loaded from its own folder
by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame

from gameserver import worker

_view_of = worker.Host._view_of


def _infinite_view(self, game, player_id, legal_moves):
    if getattr(game.instance, "attacked", False):
        view = b'{"status": "ok", "data": {"count": 1e999, "current": [], "gameover": true}}'
        return view, len(view)
    return _view_of(self, game, player_id, legal_moves)


worker.Host._view_of = _infinite_view


class InfForger(AbstractGame):
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
        return [] if self.attacked else 0

    def game_over(self):
        return self.attacked

    def state(self, player_id):
        return {"count": self.count}

    def move(self, move, player_id):
        if move.get("attack"):
            self.attacked = True
        self.count += 1
