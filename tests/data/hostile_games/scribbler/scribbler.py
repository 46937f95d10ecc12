"""Hostile: writes lines of the server's log from its worker.

Its worker forwards what the game logs (up to 8,000 characters a record) to
the server, which logs it under ``gameserver.game``. On a move this game
logs a record whose text holds a newline followed by a line dressed as a
record of the server's own, an ANSI escape that clears the screen and a
carriage return; and prints one with an escape. Loaded from its own folder
by tests/test_isolation_hostile.py.
"""

import logging

from abstract_game import AbstractGame

FORGED = "2026-11-29 09:00:00,000 ERROR   gameserver.server: the store is corrupt, delete it"


class Scribbler(AbstractGame):
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
        self.count += 1
        if move.get("attack"):
            logging.getLogger("gameserver.worker").error("a move\n%s\x1b[2J\rgone", FORGED)
            print("printed\x1b[2J\rgone", flush=True)

    def game_over(self):
        return False

    def state(self, player_id):
        return {"count": self.count}
