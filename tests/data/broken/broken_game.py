"""A deliberately broken game, to show the server survives bad game code.

Move ``{"break": "raise"}`` raises in move(); ``{"break": "loop"}`` makes
state() loop forever; ``{"break": "set"}`` makes state() return a set inside
the dict; ``{"break": "state"}`` makes state() raise; ``{"break": "true"}`` is
carried out and returns True (a rejection, as a student writes "accepted");
``{"break": "none"}`` puts everything back to normal.
"""

from abstract_game import AbstractGame


class BrokenGame(AbstractGame):
    def __init__(self, players):
        self.mode = "none"

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return 0

    def move(self, move, player_id):
        mode = move.get("break")
        if mode == "raise":
            raise ZeroDivisionError("student bug in move")
        self.mode = mode
        return True if mode == "true" else None

    def game_over(self):
        return False

    def state(self, player_id):
        if self.mode == "loop":
            while True:
                pass
        if self.mode == "state":
            raise KeyError("student bug in state")
        if self.mode == "set":
            return {"cards": {1, 2, 3}}
        return {"mode": self.mode}
