"""Dice games that draw randomness three ways, for tests/test_checked.py."""

from __future__ import annotations

import random
from random import randint
from typing import Any

from gameserver.game import AbstractGame


class Dice(AbstractGame):
    """One player rolls a die with ``random.randint``, forever."""

    def __init__(self, players: int) -> None:
        self.rolls = [random.randint(1, 6)]

    @staticmethod
    def min_players() -> int:
        return 1

    @staticmethod
    def max_players() -> int:
        return 1

    def current_player(self) -> int:
        return 0

    def move(self, move: dict[str, Any], player_id: int) -> None:
        self.rolls.append(self.roll())

    def roll(self) -> int:
        return random.randint(1, 6)

    def game_over(self) -> bool:
        return False

    def state(self, player_id: int) -> dict[str, Any]:
        return {"rolls": self.rolls}


class DiceFromImport(Dice):
    """The same, with ``from random import randint``."""

    def roll(self) -> int:
        return randint(1, 1000)


class DiceOwnGenerator(Dice):
    """The same, with a ``random.Random()`` of its own made in ``__init__``."""

    def __init__(self, players: int) -> None:
        self.rng = random.Random()
        super().__init__(players)

    def roll(self) -> int:
        return self.rng.randint(1, 1000)


class DiceKeepsRandom(Dice):
    """The same, keeping the ``random`` module as an attribute (it cannot be pickled)."""

    def __init__(self, players: int) -> None:
        self.rnd = random
        super().__init__(players)

    def roll(self) -> int:
        return self.rnd.randint(1, 6)


class DiceLater(Dice):
    """The same, drawing nothing until its third move (its generator is seeded then)."""

    def __init__(self, players: int) -> None:
        self.rolls = [0]

    def move(self, move: dict[str, Any], player_id: int) -> None:
        self.rolls.append(self.roll() if len(self.rolls) > 2 else 0)


class DiceLaterFromImport(DiceLater):
    """``DiceLater`` with ``from random import randint``."""

    def roll(self) -> int:
        return randint(1, 1000)


class DiceLaterOwnGenerator(DiceLater):
    """``DiceLater`` making a ``random.Random()`` of its own at its first draw."""

    rng: random.Random | None = None

    def roll(self) -> int:
        if self.rng is None:
            self.rng = random.Random()
        return self.rng.randint(1, 1000)


class LoadedDie(random.Random):
    """A generator of the game's own kind: a crafted save may name it (it is a class of the
    game's module), but a game's saved generator is a ``random.Random``."""

    def getstate(self) -> Any:
        raise AssertionError("the framework ran a generator's code of the game's own")


class LoadedNumber(int):
    """A number of the game's own kind: seeding a generator from it calls its ``__abs__``."""

    def __abs__(self) -> int:
        raise AssertionError("the framework ran a seed's code of the game's own")

    def __index__(self) -> int:
        raise AssertionError("the framework ran a seed's code of the game's own")
