"""Hostile: its worker reports player ranges that no game may have.

The module patches the worker's ``GameType.player_range`` so that the
catalog lists, for each class with a ``claims`` attribute, those values as
its minimum and maximum, after the class's own honest ones passed the
worker's check: a minimum of 0, a negative one, one above the maximum, a
float, a list nested 100 deep, a number of 5,000 digits, a string of a
million characters; and, for a class with a ``claimed_name``, that name
(one that would break the dashboard's list of games and forge a log line),
and for one with a ``claimed_documentation`` that text (20 MB, sent with
every discovery reply). ``Honest`` reports its true range. The server must
refuse each liar with the rule it applies to games in its own process, and
offer Honest. Loaded from its own folder by tests/test_isolation_hostile.py.
"""

from abstract_game import AbstractGame

from gameserver import checked

_honest_range = checked.GameType.player_range


def _claimed(self):
    claims = getattr(self.game_class, "claims", None)
    return _honest_range(self) if claims is None else claims


checked.GameType.player_range = _claimed
_honest_init = checked.GameType.__init__


def _named(self, name, game_class, guard):
    _honest_init(self, getattr(game_class, "claimed_name", name), game_class, guard)


checked.GameType.__init__ = _named
_honest_documentation = checked.GameType.documentation


def _documented(self):
    claimed = getattr(self.game_class, "claimed_documentation", None)
    return _honest_documentation(self) if claimed is None else claimed


checked.GameType.documentation = _documented


def _deep(levels):
    nested = []
    for _ in range(levels):
        nested = [nested]
    return nested


class Honest(AbstractGame):
    def __init__(self, players):
        self.count = 0

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        return 0

    def game_over(self):
        return False

    def state(self, player_id):
        return {"count": self.count}

    def move(self, move, player_id):
        self.count += 1


class NoPlayers(Honest):
    claims = (0, 2)


class Negative(Honest):
    claims = (-3, 2)


class Inverted(Honest):
    claims = (3, 2)


class Fractional(Honest):
    claims = (1, 2.5)


class Deep(Honest):
    claims = (1, _deep(100))


class Enormous(Honest):
    claims = (10**5000, 1)


class Wordy(Honest):
    claims = (1, "x" * 1_000_000)


class Misnamed(Honest):
    claimed_name = "a/b\nERROR gameserver.server: forged"


class Verbose(Honest):
    claimed_documentation = "y" * 20_000_000
