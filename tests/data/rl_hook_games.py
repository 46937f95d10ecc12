"""Games with reinforcement-learning hooks, one correct and each of the others wrong
in one way, for tests/test_rlhooks.py (``gameserver check`` must catch each)."""

from gameserver.game import AbstractGame

LAST_GAME = []  # a global that the peeking encoder below misuses


class Guess(AbstractGame):
    """Player 0 hides a number from 0 to 2, player 1 guesses it; a right guess wins."""

    hidden_information = True
    rl_moves = [{"hide": n} for n in range(3)] + [{"guess": n} for n in range(3)]
    rl_observation_shape = (2,)

    def __init__(self, players):
        self.secret = None
        self.winner = None
        self.guessed = False
        LAST_GAME[:] = [self]

    @staticmethod
    def min_players():
        return 2

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        if self.guessed:
            return []
        return [0] if self.secret is None else [1]

    def move(self, move, player_id):
        key = "hide" if player_id == 0 else "guess"
        value = move.get(key)
        if type(value) is not int or not 0 <= value <= 2:
            return f"send {key}=0, 1 or 2"
        if player_id == 0:
            self.secret = value
        else:
            self.guessed = True
            self.winner = 1 if value == self.secret else 0
        return None

    def game_over(self):
        return self.guessed

    def state(self, player_id):
        hidden = self.secret is not None and player_id == 0 and not self.guessed
        return {"hidden": self.secret if hidden or self.guessed else None,
                "phase": "hide" if self.secret is None else "guess", "winner": self.winner}

    def legal_moves(self, player_id):
        if self.game_over() or player_id not in self.current_player():
            return []
        key = "hide" if player_id == 0 else "guess"
        return [{key: n} for n in range(3)]

    @staticmethod
    def rl_observation(state, player_id):
        return [int(state["phase"] == "guess"), int(state["gameover"])]


class PeeksThroughAGlobal(Guess):
    """Its encoder reads the secret from the game object, through a global variable."""

    @staticmethod
    def rl_observation(state, player_id):
        game = LAST_GAME[0]
        return [int(state["phase"] == "guess"), (game.secret or 0) / 2]


class RandomObservation(Guess):
    @staticmethod
    def rl_observation(state, player_id):
        import random

        return [random.random(), 0]


class WrongShape(Guess):
    @staticmethod
    def rl_observation(state, player_id):
        return [1, 0, 0]


class OutOfRange(Guess):
    rl_observation_range = (0, 1)

    @staticmethod
    def rl_observation(state, player_id):
        return [2, 0]


class NotNumbers(Guess):
    @staticmethod
    def rl_observation(state, player_id):
        return [state["phase"], 0]


class ChangesTheState(Guess):
    @staticmethod
    def rl_observation(state, player_id):
        state["seen"] = True
        return [0, 1]


class MissingMove(Guess):
    rl_moves = [{"hide": n} for n in range(3)] + [{"guess": n} for n in range(2)]


class WithSelf(Guess):
    def rl_observation(self, state, player_id):
        return [0, 1]


class DuplicateMove(Guess):
    rl_moves = [{"hide": 0}, {"hide": 0}]


class BadShape(Guess):
    rl_observation_shape = 2


class NoLegalMoves(AbstractGame):
    rl_moves = [{"go": 1}]
    rl_observation_shape = (1,)

    @staticmethod
    def rl_observation(state, player_id):
        return [1]


class OnlyMoves(Guess):
    rl_observation = AbstractGame.rl_observation
