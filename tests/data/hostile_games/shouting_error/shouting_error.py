"""Hostile: its worker sends errors of 5 MB, which the server passes on and saves.

A one-player counter game. Its module lifts the worker's bound on an
error's text (the guard's one line of 200 characters); the attack,
``{"attack": true}``, then raises an exception whose text is 5 MB, and
whose first 200 characters would be the whole of it in the server's
process. The server must cut it as it cuts its own: the error goes to the
player and into the store's move log with every such move. Loaded from its
own folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame

from gameserver import guard

guard._one_line = str  # the worker's bound, lifted


class ShoutingError(AbstractGame):
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
            raise ValueError("E" * 5_000_000)
        self.count += 1
