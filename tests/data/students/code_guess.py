"""A student's code-guessing game, done right: the checker must pass it."""

import itertools

from gameserver.game import AbstractGame

COLOURS = ["red", "green", "blue", "yellow"]


class CodeGuess(AbstractGame):
    """Player 0 picks a code of 3 colours, player 1 has 6 tries to guess it."""

    def __init__(self, players):
        self.code = None
        self.guesses = []
        self.winner = None

    @staticmethod
    def min_players():
        return 2

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        if self.game_over():
            return []
        if self.code is None:
            return [0]
        return [1]

    def move(self, move, player_id):
        key = "code" if player_id == 0 else "guess"
        colours = move.get(key)
        if type(colours) is not list or len(colours) != 3:
            return "send 3 colours, for example " + key + '=["red", "blue", "red"]'
        for colour in colours:
            if colour not in COLOURS:
                return "the colours are red, green, blue and yellow"
        if player_id == 0:
            self.code = colours
            return None
        hits = 0
        for i in range(3):
            if colours[i] == self.code[i]:
                hits = hits + 1
        self.guesses.append({"guess": colours, "hits": hits})
        if hits == 3:
            self.winner = 1
        elif len(self.guesses) == 6:
            self.winner = 0
        return None

    def game_over(self):
        return self.winner is not None

    def state(self, player_id):
        code = None
        if player_id == 0 or self.game_over():
            code = self.code
        return {"colours": COLOURS, "code": code, "guesses": self.guesses,
                "winner": self.winner}

    def legal_moves(self, player_id):
        key = "code" if player_id == 0 else "guess"
        return [{key: list(c)} for c in itertools.product(COLOURS, repeat=3)]

    def private_data(self, player_id):
        if player_id == 0 and self.code is not None and not self.game_over():
            return [self.code]
        return []
