"""A game that does not play the same twice: its verdicts depend on the process."""

import time

from gameserver import AbstractGame

STARTED = time.time_ns()  # differs in every server process


class Clock(AbstractGame):
    def __init__(self, players):
        self.moves = 0

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return 0

    def move(self, move, player_id):
        self.moves += 1
        return f"rejected at {STARTED}"

    def game_over(self):
        return False

    def state(self, player_id):
        return {"moves": self.moves}
