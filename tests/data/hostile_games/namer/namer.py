"""Hostile: logs under new logger names the server would create and keep for ever.

A one-player counter game. Its worker forwards the game's log records to
the server, under the record's logger name when it starts with
``gameserver.``: Python keeps every logger it makes until the process
ends. The attack, ``{"attack": true}``, logs one record under
``gameserver.server`` (a line that would pass for the server's own), then
19, each under a new name 100,000 characters long (2 MB of names a move).
Loaded from its own folder by tests/test_isolation_hostile.py.
"""

import logging

from abstract_game import AbstractGame


class Namer(AbstractGame):
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
            logging.getLogger("gameserver.server").warning("gameserver stopped")
            for i in range(19):
                name = f"gameserver.{'n' * 100_000}{self.count}-{i}"
                logging.getLogger(name).warning("a name to keep")
        self.count += 1
