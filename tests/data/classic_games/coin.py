"""A game file exactly as written for the classic server (not a package module)."""

from abstract_game import AbstractGame


class CoinGuess(AbstractGame):
    def __init__(self, players):
        self._players = players
        self._current = 0
        self._guesses = []
        self._over = False

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        return [] if self._over else self._current

    def move(self, move, player_id):
        if move.get('guess') not in ('heads', 'tails'):
            return 'guess must be heads or tails'
        self._guesses.append([player_id, move['guess']])
        self._current = (self._current + 1) % self._players
        self._over = len(self._guesses) >= 2
        return None

    def game_over(self):
        return self._over

    def state(self, player_id):
        return {'guesses': self._guesses}
