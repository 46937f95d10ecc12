import secrets

from abstract_game import AbstractGame


class Dice(AbstractGame):
    """Rejects moves at random from ``secrets``: it does not play the same twice."""

    def __init__(self, players):
        self.rolls = []

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
        return {"rolls": self.rolls}

    def move(self, move, player_id):
        if secrets.randbelow(2):
            return "unlucky"
        self.rolls.append(1)
