"""Games with exactly one defect each, for the tests of ``python -m gameserver check``.

``Good`` is a correct little game with legal moves and hidden information:
players take turns adding 1 or 2 to a counter until it reaches 6; each player
holds a secret number. Every other class breaks one thing.
"""

from gameserver import AbstractGame


class Good(AbstractGame):
    def __init__(self, players):
        self.players = players
        self.counter = 0
        self.turn = 0
        self.secrets = [f"secret of player {p}" for p in range(players)]

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 3

    def current_player(self):
        return [] if self.game_over() else self.turn

    def move(self, move, player_id):
        if move.get("add") not in (1, 2) or type(move.get("add")) is not int:
            return "add must be 1 or 2"
        self.counter += move["add"]
        self.turn = (self.turn + 1) % self.players
        return None

    def game_over(self):
        return self.counter >= 6

    def state(self, player_id):
        return {"counter": self.counter, "my_secret": self.secrets[player_id]}

    def legal_moves(self, player_id):
        return [{"add": 1}, {"add": 2}]

    def private_data(self, player_id):
        return [self.secrets[player_id]]


# Build the class without the inherited game_over, as a student who misspelled it would.
Misnamed = type("Misnamed", (AbstractGame,), {
    k: v for k, v in vars(Good).items() if k not in ("game_over", "__dict__", "__weakref__")
} | {"gameover": lambda self: self.counter >= 6,
     "current_player": lambda self: [] if self.counter >= 6 else self.turn})


class NotStatic(Good):
    def min_players(self):  # forgot @staticmethod
        return 1


class BadCurrentId(Good):
    def current_player(self):
        return self.players  # one past the last id


class NonBoolGameOver(Good):
    def game_over(self):
        return "no" if self.counter < 6 else "yes"


class SetInState(Good):
    def state(self, player_id):
        return {"counter": {self.counter}}


class ListState(Good):
    def state(self, player_id):
        return [self.counter]


class RaisesInMove(Good):
    def move(self, move, player_id):
        return move["missing key"]  # KeyError


class MisspeltAttribute(Good):
    def move(self, move, player_id):
        self.turn = self.turnn  # a typo: AttributeError whatever the move
        return super().move(move, player_id)


class NeverSetAttribute(Good):
    def move(self, move, player_id):
        self.moves_made += 1  # never set in __init__
        return super().move(move, player_id)


class TupleState(Good):
    def state(self, player_id):
        return {"counter": self.counter},  # a trailing comma


class EndlessState(Good):
    def state(self, player_id):
        while True:
            pass


class ListsRejectedMove(Good):
    def legal_moves(self, player_id):
        return [{"add": 1}, {"add": 2}, {"add": 3}]


class AcceptsUnlistedMove(Good):
    def move(self, move, player_id):
        if type(move.get("add")) is not int or not 1 <= move["add"] <= 9:
            return "add must be between 1 and 9"
        self.counter += min(move["add"], 2)
        self.turn = (self.turn + 1) % self.players
        return None


class NeverEnds(Good):
    def game_over(self):
        return False

    def current_player(self):
        return self.turn


class Stuck(Good):
    def current_player(self):
        return [] if self.counter >= 3 else self.turn


class Leaky(Good):
    def state(self, player_id):
        return {"counter": self.counter, "secrets": self.secrets}


class EmptyLegalMoves(Good):
    def legal_moves(self, player_id):
        return []


class Renamed(Good):
    pass


Renamed.__name__ = "a/b"  # a name no URL or file name can hold


# game_over left out, nothing spelt like it: 'move' is close by spelling, but a method the
# game needs as it is (the checker said "rename it to 'game_over'").
NoGameOver = type("NoGameOver", (AbstractGame,), {
    k: v for k, v in vars(Good).items() if k not in ("game_over", "__dict__", "__weakref__")
} | {"current_player": lambda self: [] if self.counter >= 6 else self.turn})


class StateWithoutPlayer(Good):
    def state(self):  # the server passes the player's id
        return {"counter": self.counter}


class MoveReturnsTrue(Good):
    def move(self, move, player_id):  # True for a good move, as students write it
        if move.get("add") not in (1, 2):
            return False
        self.counter += move["add"]
        self.turn = (self.turn + 1) % self.players
        return True


class ShadowedMove(Good):
    def __init__(self, players):
        super().__init__(players)
        self.move = None  # the last move, kept under the method's name


class ReadsInput(Good):
    def move(self, args, player_id):  # asks the keyboard instead of reading the move
        args = {"add": int(input("add? "))}
        return super().move(args, player_id)


class SharedLog(Good):
    log = []  # one list for every game: belongs in __init__

    def move(self, move, player_id):
        self.log.append(move)
        return super().move(move, player_id)


class DefaultHistory(Good):
    def __init__(self, players, history=[]):  # noqa: B006 - the defect it shows
        super().__init__(players)
        self.history = history

    def move(self, move, player_id):
        self.history.append(move)
        return super().move(move, player_id)
