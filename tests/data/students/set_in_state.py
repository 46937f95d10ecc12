"""Point 4: the state holds a set, deep inside (JSON has no sets)."""

import itertools

from gameserver.game import AbstractGame

SECRET = ["red", "blue", "green"]


class PegGuess(AbstractGame):
    """Guess the fixed code red, blue, green; you see which places are right."""

    def __init__(self, players):
        self.guesses = []

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return [] if self.game_over() else [0]

    def move(self, move, player_id):
        guess = move.get("guess")
        if type(guess) is not list or len(guess) != 3:
            return "guess three colours"
        for colour in guess:
            if colour not in ["red", "green", "blue"]:
                return "the colours are red, green and blue"
        right = {i for i in range(3) if guess[i] == SECRET[i]}
        self.guesses.append({"guess": guess, "pegs": right})
        return None

    def game_over(self):
        return len(self.guesses) >= 4

    def state(self, player_id):
        return {"guesses": self.guesses}

    def legal_moves(self, player_id):
        return [{"guess": list(g)} for g in itertools.product(["red", "green", "blue"], repeat=3)]
