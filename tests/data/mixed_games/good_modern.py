from gameserver import AbstractGame


class Counter(AbstractGame):
    def __init__(self, players):
        self.count = 0

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return 0

    def move(self, move, player_id):
        self.count += 1

    def game_over(self):
        return self.count >= 3

    def state(self, player_id):
        return {"count": self.count}
