"""Hostile: refuses moves with rejections of megabytes, to grow what the server keeps.

A one-player counter game. ``{"reject": "text"}`` is refused with a string
of 5,000,000 characters, ``{"reject": "list"}`` with a list whose JSON takes
as many; both are stored with the move (the session's history, the store's
verdict, a worker's moves since its last copy). ``{"lift": true}`` first
lifts its worker's bound on the texts it sends (``_channel.ERROR_MAX``), as
a game that controls its worker can. Loaded from its own folder by
tests/test_isolation_hostile.py (in a worker, and in the server's process).
"""

from abstract_game import AbstractGame

SIZE = 5_000_000


class Grumbler(AbstractGame):
    def __init__(self, players):
        self.count = 0

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return [0]

    def move(self, move, player_id):
        if move.get("lift"):
            from gameserver import _channel

            _channel.ERROR_MAX = 10**9
        if move.get("reject") == "text":
            return "no" * (SIZE // 2)
        if move.get("reject") == "list":
            return ["no", "x" * SIZE]
        self.count += 1
        return None

    def game_over(self):
        return False

    def state(self, player_id):
        return {"count": self.count}
