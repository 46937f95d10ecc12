"""Issue 16 point 7: a student calls super().__init__(players), as Python courses teach."""

from gameserver.game import AbstractGame


class CoinToss(AbstractGame):
    """Two players call heads or tails; the coin always shows heads."""

    def __init__(self, players):
        super().__init__(players)
        self.calls = {}

    @staticmethod
    def min_players():
        return 2

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        return [] if self.game_over() else [len(self.calls)]

    def move(self, move, player_id):
        if move.get("call") not in ("heads", "tails"):
            return "call heads or tails"
        self.calls[str(player_id)] = move["call"]
        return None

    def game_over(self):
        return len(self.calls) == 2

    def state(self, player_id):
        return {"calls": self.calls}

    def legal_moves(self, player_id):
        return [{"call": "heads"}, {"call": "tails"}]
