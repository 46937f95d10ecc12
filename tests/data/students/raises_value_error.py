"""Point 3: move() raises an exception for a bad move instead of returning a message."""

from gameserver.game import AbstractGame


class DiceRace(AbstractGame):
    """Players take turns moving 1 to 6 steps; the first to reach 20 wins."""

    def __init__(self, players):
        self.players = players
        self.positions = [0] * players
        self.turn = 0

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 4

    def current_player(self):
        return [] if self.game_over() else self.turn

    def move(self, move, player_id):
        steps = move.get("steps")
        if steps not in [1, 2, 3, 4, 5, 6]:
            raise ValueError(f"steps must be 1 to 6, not {steps}")
        self.positions[player_id] += steps
        self.turn = (self.turn + 1) % self.players
        return None

    def game_over(self):
        return max(self.positions) >= 20

    def state(self, player_id):
        return {"positions": self.positions}

    def legal_moves(self, player_id):
        return [{"steps": n} for n in range(1, 7)]
