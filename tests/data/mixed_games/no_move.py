from gameserver import AbstractGame


class NoMove(AbstractGame):
    def __init__(self, players):
        pass

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return 0

    def game_over(self):
        return False

    def state(self, player_id):
        return {}
