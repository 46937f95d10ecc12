"""Hostile: its worker sends JSON text nested 5,000 levels deep, which the server decodes.

A one-player counter game. Its module patches the worker (as a game can:
it runs in that process) so that, once attacked (``{"attack": true}``),
the move's rejection and every state reply are well-framed JSON nested
5,000 deep (10,000 characters, within what a worker may send as a
rejection): Python's decoder raises RecursionError on them, not
ValueError. With ``"nan": true`` too, the rejection is ``[NaN, Infinity]``
instead, which Python's decoder reads (as floats) but is no JSON. With
``"inf": true`` instead, every state holds ``1e999`` (valid JSON, beyond the
float range, which the server's quick check of a state read as infinity),
and the game ends, for the store to log its final states. The
server must answer with a ``framework:`` error, not leave the move
unanswered or fail with an internal error. Loaded from its own
folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame

from gameserver import worker

DEEP = "[" * 5_000 + "]" * 5_000
_encode_json, _view_of = worker.encode_json, worker.Host._view_of


def _deep_json(value):  # how the worker encodes a move's rejection
    if value == {"forged": "nan"}:  # no JSON, but json.loads reads it (as floats)
        return "[NaN, Infinity]"
    return DEEP if value == {"forged": True} else _encode_json(value)


def _deep_view(self, game, player_id, legal_moves):
    if getattr(game.instance, "attacked", False) == "inf":
        view = b'{"status": "ok", "data": {"count": 1e999, "current": [], "gameover": true}}'
        return view, len(view)
    if getattr(game.instance, "attacked", False):
        view = b'{"status": "ok", "data": {"deep": ' + DEEP.encode() + b"}}"
        return view, len(view)
    return _view_of(self, game, player_id, legal_moves)


worker.encode_json = _deep_json
worker.Host._view_of = _deep_view


class DeepForger(AbstractGame):
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
        return [] if self.attacked == "inf" else 0

    def game_over(self):
        return self.attacked == "inf"

    def state(self, player_id):
        return {"count": self.count}

    def move(self, move, player_id):
        if move.get("nan"):
            return {"forged": "nan"}
        if move.get("inf"):
            self.attacked = "inf"
            return None
        if move.get("attack"):
            self.attacked = True
            return {"forged": True}
        self.count += 1
