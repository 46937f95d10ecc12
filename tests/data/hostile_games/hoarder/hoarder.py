"""Hostile: each of its games makes the server keep a saved copy of 200 KB.

A one-player counter game holding 200,000 bytes. Its worker sends the
server a copy of the game every 16 moves, which the server keeps (up to
256 KB a game, and 256 KB of moves since) to bring the game back if the
worker fails: 20,000 sessions made it keep 10 GB. Loaded from its own folder
by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame


class Hoarder(AbstractGame):
    def __init__(self, players):
        self.count = 0
        self.hoard = b"h" * 200_000

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return [0]

    def move(self, move, player_id):
        self.count += 1

    def game_over(self):
        return False

    def state(self, player_id):
        return {"count": self.count}
