from gameserver import AbstractGame


class NotStatic(AbstractGame):
    def __init__(self, players):
        pass

    def min_players(self):  # forgot @staticmethod
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
        return {}
