"""A game that holds a function: it pickles, but the store does not unpickle functions."""

from gameserver import AbstractGame


def double(value):
    return 2 * value


class Strategist(AbstractGame):
    def __init__(self, players):
        self.score = 1
        self.rule = double

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return 0

    def move(self, move, player_id):
        self.score = self.rule(self.score)

    def game_over(self):
        return False

    def state(self, player_id):
        return {"score": self.score}
