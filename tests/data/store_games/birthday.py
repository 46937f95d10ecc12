"""A game that is made differently each time: its __init__ draws from secrets."""

import secrets

from gameserver import AbstractGame


class Birthday(AbstractGame):
    def __init__(self, players):
        self.wish = secrets.token_hex(8)

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return 0

    def move(self, move, player_id):
        return None

    def game_over(self):
        return False

    def state(self, player_id):
        return {"wish": self.wish}
