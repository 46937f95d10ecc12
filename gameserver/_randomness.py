"""Replayable randomness: a game's own generator in place of the shared ``random``.

Used by ``gameserver.checked`` (see its docstring): during a game's
``__init__`` and ``move``, the names through which the game's module
reaches the shared generator (``random``, or functions imported from it,
found by ``random_slots``) stand for a ``random.Random`` of the game's own
(``module_for``). Each of its functions notes that the generator changed,
so that a saved game (``SavedRandom``) reads the generator's 625 words only
after a draw: reading and pickling them costs 20-40 µs, and a game is saved
often (by the store, and every few moves by a worker process for the server).
A ``SavedRandom`` pickles as bytes and loads as a plain ``random.Random``.
"""

from __future__ import annotations

import array
import os
import random
import sys
from collections.abc import Callable
from typing import Any

from .game import AbstractGame


def new_seed() -> int:
    """A fresh secret 128-bit seed for a new game (``secrets.randbits(128)``, without
    its Python-level call: every game start draws one)."""
    return int.from_bytes(os.urandom(16))


_SHARED = random._inst  # type: ignore[attr-defined]  # what random.random() etc. are bound to


def module_for(rng: random.Random, draws: list[Any]) -> Any:
    """A stand-in for the ``random`` module whose functions draw from ``rng``.

    Each function notes that the generator changed (``draws[0] = None``:
    its saved state is stale). ``random.Random()`` without a seed, inside
    it, is seeded from ``rng`` too, so a game that makes its own generator
    in ``__init__`` stays replayable.
    """
    return _StandIn(rng, draws)


class _StandIn:
    """The ``random`` of one game: its functions are made when the game first uses them.

    A module holding all 46 of them up front took 13 KB per game, most of
    a tic-tac-toe session's memory; a game uses one or two.
    """

    def __init__(self, rng: random.Random, draws: list[Any]) -> None:
        self._rng = rng
        self._draws = draws

    def __getattr__(self, name: str) -> Any:
        if name in _RANDOM_FUNCTIONS:
            value = _noting(getattr(self._rng, name), self._draws)
        elif name == "Random":
            value = self._seeded_random
        elif name in _RANDOM_NAMES:
            value = _RANDOM_NAMES[name]
        else:
            raise AttributeError(f"module 'random' has no attribute {name!r}")
        setattr(self, name, value)  # made once
        return value

    def __reduce__(self) -> Any:
        # Like the module it stands for: a game that keeps it (``self.rnd = random``)
        # cannot be pickled, before a draw as after, so the store never keeps a copy
        # that the next start would refuse.
        raise TypeError("cannot pickle 'module' object (the game keeps the random module)")

    def _seeded_random(self, seed: Any = None) -> random.Random:
        if seed is None:
            self._draws[0] = None
            seed = self._rng.getrandbits(64)
        return random.Random(seed)


def _noting(function: Callable[..., Any], draws: list[Any]) -> Callable[..., Any]:
    def draw(*args: Any, **kwargs: Any) -> Any:
        draws[0] = None
        return function(*args, **kwargs)

    draw.__name__ = draw.__qualname__ = function.__name__
    draw.__doc__ = function.__doc__
    return draw


_WORD = "I" if array.array("I").itemsize >= 4 else "L"  # a Mersenne Twister word: 32 bits


class SavedRandom:
    """A generator's state that pickles fast (bytes, not 625 ints) and loads as a Random."""

    __slots__ = ("version", "words", "gauss")

    def __init__(self, version: int, words: bytes, gauss: float | None) -> None:
        self.version, self.words, self.gauss = version, words, gauss

    @classmethod
    def of(cls, rng: random.Random) -> SavedRandom:
        version, words, gauss = rng.getstate()
        return cls(version, array.array(_WORD, words).tobytes(), gauss)

    def __reduce__(self) -> tuple[Any, ...]:
        return _loaded_random, (self.version, _WORD, self.words, self.gauss)


def _loaded_random(version: int, typecode: str, words: bytes, gauss: float | None,
                   ) -> random.Random:
    """The ``random.Random`` a ``SavedRandom`` stands for (called by ``pickle``)."""
    rng = random.Random()
    rng.setstate((version, tuple(array.array(typecode, words)), gauss))
    return rng


_RANDOM_NAMES = {name: value for name, value in vars(random).items()
                 if not name.startswith("__")}
_RANDOM_FUNCTIONS = tuple(name for name, value in _RANDOM_NAMES.items()
                          if getattr(value, "__self__", None) is _SHARED)


def random_slots(game_class: type) -> tuple[tuple[dict[str, Any], str, str | None, Any], ...]:
    """Where the game's module refers to the shared ``random`` generator.

    Each entry is (module globals, name, attribute, value): ``random`` itself
    (attribute None, for ``import random``) or one of its functions (for
    ``from random import choice``), in the module of the class and of each
    of its game base classes; ``value`` is what to put back after a call.
    """
    slots = []
    seen: set[int] = set()
    for cls in game_class.__mro__:
        module = sys.modules.get(cls.__module__)
        if module is None or cls is AbstractGame or id(module) in seen:
            continue
        seen.add(id(module))
        namespace = vars(module)
        for name, value in list(namespace.items()):
            if value is random:
                slots.append((namespace, name, None, value))
            elif getattr(value, "__self__", None) is _SHARED:
                slots.append((namespace, name, value.__name__, value))
    return tuple(slots)
