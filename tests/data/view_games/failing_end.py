"""A two-player game whose state() fails once it is over, counting its calls.

For the store's tests: the final views it logs show how often the game was
asked for them (once per player is what the server should need).
"""

from gameserver.game import AbstractGame


class FailingEnd(AbstractGame):
    def __init__(self, players):
        self.over = False
        self.calls_after_end = 0

    @staticmethod
    def min_players():
        return 2

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        return [] if self.over else [0]

    def game_over(self):
        return self.over

    def move(self, move, player_id):
        self.over = True

    def state(self, player_id):
        if self.over:
            self.calls_after_end += 1
            raise RuntimeError(f"state call {self.calls_after_end} after the end")
        return {"over": False}
