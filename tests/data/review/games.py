"""Small games for the review regression tests."""

from gameserver import AbstractGame


class StaleCurrent(AbstractGame):
    """Like many classic games: current_player() keeps naming a player after the end."""

    def __init__(self, players):
        self.over = False

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return [0]

    def move(self, move, player_id):
        self.over = True

    def game_over(self):
        return self.over

    def state(self, player_id):
        return {"over": self.over}

    def legal_moves(self, player_id):
        return [{"end": True}]


class NaNState(StaleCurrent):
    def state(self, player_id):
        return {"score": float("nan")}


class BrokenRange(StaleCurrent):
    @staticmethod
    def min_players():
        raise RuntimeError("min_players is broken")
