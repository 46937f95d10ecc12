"""Hostile: its worker sends state replies framed right but of another shape than a state's.

A one-player counter game. Its module patches the worker (as a game can:
it runs in that process) so that, once a move names a ``"forge"``, every
state reply is one of ``FORGED``: each starts with ``{"status": "ok",
"data": {`` and ends with ``}}``, as the server once checked, but its data
is no dict (a second "data" key wins), lacks "current" and "gameover",
lists legal moves that are no move dicts, is no JSON, is JSON of another
shape than PROTOCOL.md's, is no UTF-8, or is longer than a state sent along
with a change may be (it tells the worker it has none: ``SENT_ALONG``). The
server must answer with a ``framework:`` error where it reads a view itself
(a state with the turn timer, a forfeit, the turn timer's random move, the
dashboard) and where it sends one on to the game's own players. ``"exact"``
is a state reply written by hand, as valid as the worker's: it is sent on.
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
    "not_json": b'{"status": "ok", "data": {"current": [0], "gameover": false}, "x": }}',
    "second_status": (b'{"status": "ok", "data": {"current": [0], "gameover": false}, '
                      b'"status": "error", "message": {}}'),
    "not_utf8": b'{"status": "ok", "data": {"current": [0], "gameover": false, "x": "\xff"}}',
    "nan": b'{"status": "ok", "data": {"current": [0], "gameover": NaN}}',
    "text_current": b'{"status": "ok", "data": {"current": "0", "gameover": false}}',
    "long_along": (b'{"status": "ok", "data": {"current": [0], "gameover": false, "x": "'
                   + b"x" * 70_000 + b'"}}'),
    "large_not_ascii": (b'{"status": "ok", "data": {"current": [0], "gameover": false, '
                        b'"x": "' + "\u00e9".encode() * 40_000 + b'"}}'),
    "large_not_json": (b'{"status": "ok", "data": {"current": [0], "gameover": false, '
                       b'"x": "' + b"x" * 70_000 + b'"}, "y": }}'),
    "exact": b'{"status": "ok", "data": {"count": 1,"current":[0],  "gameover":false}}',
}
SENT_ALONG = {"long_along"}  # its worker is told it has no size: sent along with changes
_view_of = worker.Host._view_of


def _forged_view(self, game, player_id, legal_moves):
    forge = getattr(game.instance, "forge", None)
    forged = FORGED.get(forge)
    if forged is not None:
        return forged, 0 if forge in SENT_ALONG else len(forged)
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
