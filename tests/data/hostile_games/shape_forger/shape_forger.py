"""Hostile: its worker sends state replies framed right but of another shape than a state's.

A one-player counter game. Its module patches the worker (as a game can:
it runs in that process) so that, once a move names a ``"forge"``, every
state reply is one of ``FORGED``: each starts with ``{"status": "ok",
"data": {`` and ends with ``}}``, as the server checks, but its data is no
dict (a second "data" key wins), lacks "current" and "gameover", or lists
legal moves that are no move dicts. The server passes such bytes on to the
game's own players as they are; where it reads a view itself (a state with
the turn timer, a forfeit, the turn timer's random move, the dashboard) it
must answer with a ``framework:`` error, not fail with an internal one.
Loaded from its own folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame

from gameserver import worker

FORGED = {
    "string_data": b'{"status": "ok", "data": {}, "data": "xy", "x": {}}',
    "number_data": b'{"status": "ok", "data": {}, "data": 5, "x": {}}',
    "no_current": b'{"status": "ok", "data": {"count": 7}}',
    "bad_moves": (b'{"status": "ok", "data": {"count": 0, "current": [0], "gameover": false, '
                  b'"legal_moves": [1, "x"]}}'),
}
_view_of = worker.Host._view_of


def _forged_view(self, game, player_id, legal_moves):
    forged = FORGED.get(getattr(game.instance, "forge", None))
    if forged is not None:
        return forged, len(forged)
    return _view_of(self, game, player_id, legal_moves)


worker.Host._view_of = _forged_view


class ShapeForger(AbstractGame):
    def __init__(self, players):
        self.count = 0
        self.forge = None

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
        self.forge = move.get("forge", self.forge)
        self.count += 1
