"""Point 2: private_data lists the single colours, which the public list shows anyway."""

import random

from gameserver.game import AbstractGame

COLOURS = ["red", "green", "blue"]


class ColourCode(AbstractGame):
    """Each player gets a secret code of 2 colours; guess the other one's."""

    def __init__(self, players):
        self.codes = [[random.choice(COLOURS), random.choice(COLOURS)] for _ in range(2)]
        self.turn = 0
        self.found = None

    @staticmethod
    def min_players():
        return 2

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        return [] if self.game_over() else [self.turn]

    def move(self, move, player_id):
        guess = move.get("guess")
        if guess not in [[a, b] for a in COLOURS for b in COLOURS]:
            return "guess two colours"
        if guess == self.codes[1 - player_id]:
            self.found = player_id
        self.turn = 1 - self.turn
        return None

    def game_over(self):
        return self.found is not None

    def state(self, player_id):
        return {"colours": COLOURS, "my_code": self.codes[player_id], "found": self.found}

    def legal_moves(self, player_id):
        return [{"guess": [a, b]} for a in COLOURS for b in COLOURS]

    def private_data(self, player_id):
        return self.codes[player_id]  # the colours of my code
