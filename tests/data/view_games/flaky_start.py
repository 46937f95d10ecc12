"""A game whose state() fails on its first call only (a table it builds lazily).

For the store's tests: the views it logs when the game starts must come from
one call per player, as the check at restore makes them (made again from its
seed, the game is asked once per player).
"""

from gameserver.game import AbstractGame


class FlakyStart(AbstractGame):
    def __init__(self, players):
        self.calls = 0
        self.over = False

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return [] if self.over else [0]

    def game_over(self):
        return self.over

    def move(self, move, player_id):
        self.over = bool(move.get("end"))

    def state(self, player_id):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("not ready yet")
        return {"over": self.over}
