"""Roll a die with the random module until the total reaches 20."""

import random

from gameserver import AbstractGame


class DiceRace(AbstractGame):
    def __init__(self, players):
        self.rolls = [random.randint(1, 6)]

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return 0

    def move(self, move, player_id):
        if move.get("roll") is not True:
            return "send move(roll=True)"
        self.rolls.append(random.randint(1, 6))

    def game_over(self):
        return sum(self.rolls) >= 20

    def state(self, player_id):
        return {"rolls": self.rolls}
