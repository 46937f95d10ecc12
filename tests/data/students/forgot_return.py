"""Point 5: state() builds the dict but forgets to return it."""

from gameserver.game import AbstractGame


class Countdown(AbstractGame):
    """One player counts down from 5 to 0, one or two at a time."""

    def __init__(self, players):
        self.left = 5

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return [] if self.left == 0 else [0]

    def move(self, move, player_id):
        if move.get("take") not in (1, 2) or move["take"] > self.left:
            return "take 1 or 2"
        self.left -= move["take"]
        return None

    def game_over(self):
        return self.left == 0

    def state(self, player_id):
        view = {"left": self.left}
        if self.left == 0:
            view["message"] = "done!"

    def legal_moves(self, player_id):
        return [{"take": n} for n in (1, 2) if n <= self.left]
