"""Point 1: the secret code is in the guesser's state, and the game declares no secrets."""

from gameserver.game import AbstractGame

CODES = [[a, b] for a in "ABCD" for b in "ABCD"]


class LeakyCode(AbstractGame):
    """Player 0 picks a code of 2 letters, player 1 guesses it."""

    def __init__(self, players):
        self.code = None
        self.tries = []

    @staticmethod
    def min_players():
        return 2

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        if self.game_over():
            return []
        return [0] if self.code is None else [1]

    def move(self, move, player_id):
        letters = move.get("letters")
        if letters not in CODES:
            return "send two letters A to D, for example letters=['B', 'D']"
        if player_id == 0:
            self.code = letters
        else:
            self.tries.append(letters)
        return None

    def game_over(self):
        return self.code in self.tries or len(self.tries) == 5

    def state(self, player_id):
        role = "maker" if player_id == 0 else "guesser"
        # Oops: the code goes to both players.
        return {"you_are": role, "code": self.code, "tries": self.tries}

    def legal_moves(self, player_id):
        return [{"letters": code} for code in CODES]
