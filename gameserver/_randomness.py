"""Replayable randomness: a game's own generator in place of the shared ``random``.

Used by ``gameserver.checked`` (see its docstring): during a game's
``__init__`` and ``move``, the names through which the game's module
reaches the shared generator (``random``, or functions imported from it,
found by ``random_slots``) stand for a generator of the game's own
(``StandIn``), a ``GameRandom``: ``random.Random(seed)`` of the game's
seed, made when the game first draws (seeding a Mersenne Twister costs
~25,000 machine instructions; a game may draw only later, or never).
Each of its functions notes that the generator changed, so that a saved
game reads the generator's 625 words only after a draw: reading and
pickling them costs 20-40 µs, and a game is saved often (by the store, and
every few moves by a worker process for the server). A generator saved
before it was made pickles as its seed (``Unseeded``), one saved after as
bytes (``SavedRandom``); each loads as what ``restored`` takes back.
"""

from __future__ import annotations

import _random
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
SEED_BITS_MAX = 1024  # a longer int seed is saved as its generator's state, not as itself


class GameRandom:
    """A game's own generator: ``random.Random(seed)``, made when first needed.

    ``rng`` is the generator once made (or as restored); ``saved`` is what a
    snapshot pickles for it, None once the game drew since (its saved state
    is stale: ``save`` reads it again).
    """

    __slots__ = ("seed", "rng", "saved")

    def __init__(self, seed: Any = None, rng: random.Random | None = None,
                 saved: Unseeded | None = None) -> None:
        self.seed = seed  # None: from fresh entropy, as random.Random()
        self.rng = rng
        self.saved: Unseeded | SavedRandom | None = saved

    def generator(self) -> random.Random:
        """The generator, seeded now if the game has not needed it before."""
        rng = self.rng
        if rng is None:
            rng = self.rng = _random_of(self.seed)
        return rng

    def save(self) -> Unseeded | SavedRandom:
        """What a snapshot pickles: the seed of a generator not made yet (if it is one
        ``_unseeded`` takes back), else the generator's state, read again only after
        draws."""
        saved = self.saved
        if saved is None:
            seed = self.seed
            if self.rng is None and _is_seed(seed):
                saved = self.saved = Unseeded(seed)
            else:
                saved = self.saved = SavedRandom.of(self.generator())
        return saved


def _random_of(seed: Any) -> random.Random:
    """``random.Random(seed)``: for an int, the same generator without its two Python-level
    calls (``__init__`` and ``seed``, ~1,500 machine instructions of a new game's)."""
    if type(seed) is not int:
        return random.Random(seed)
    rng = random.Random.__new__(random.Random)
    _random.Random.seed(rng, seed)  # (what random.Random.seed does with an int)
    rng.gauss_next = None  # type: ignore[attr-defined]
    return rng


def _is_seed(seed: Any) -> bool:
    """Whether an ``Unseeded`` may hold ``seed``: an int (not of a kind of the game's own,
    whose code seeding would run), of at most ``SEED_BITS_MAX`` bits."""
    return type(seed) is int and seed.bit_length() <= SEED_BITS_MAX


def restored(saved: Any) -> GameRandom | None:
    """The generator of a restored game, from what its blob holds in the generator's place
    (None: no generator).

    Raises:
        ValueError: it holds something else than the framework saves there (a crafted
            blob): a generator of the game's own kind would run the game's code when
            saved, outside the guard.
    """
    if saved is None:
        return None
    if type(saved) is random.Random:  # (a SavedRandom, loaded)
        return GameRandom(rng=saved)
    if type(saved) is Unseeded:
        if _is_seed(saved.seed):  # (again: pickle's BUILD may have set it since)
            return GameRandom(saved.seed, saved=Unseeded(saved.seed))
        raise ValueError(_not_a_seed(saved.seed))
    raise ValueError(f"it holds an object of type {type(saved).__name__} where its random "
                     "generator belongs")


class StandIn:
    """A stand-in for the ``random`` module whose functions draw from ``source``.

    Each function notes that the generator changed (``source.saved = None``:
    its saved state is stale). ``random.Random()`` without a seed, inside
    it, is seeded from ``source`` too, so a game that makes its own generator
    in ``__init__`` stays replayable.

    Its functions are made when the game first uses them: a module holding
    all 46 of them up front took 13 KB per game, most of a tic-tac-toe
    session's memory; a game uses one or two.
    """

    def __init__(self, source: GameRandom) -> None:
        self._generator = source

    def __getattr__(self, name: str) -> Any:
        if name in _RANDOM_FUNCTIONS:
            value = _noting(name, self._generator)
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
            source = self._generator
            source.saved = None
            seed = source.generator().getrandbits(64)
        return _random_of(seed)


def _noting(name: str, source: GameRandom) -> Callable[..., Any]:
    """``source``'s function ``name``, noting each call; the generator is made (seeded)
    at the first call, not before."""
    function: Callable[..., Any] | None = None

    def draw(*args: Any, **kwargs: Any) -> Any:
        nonlocal function
        source.saved = None
        if function is None:
            function = getattr(source.rng or source.generator(), name)
        return function(*args, **kwargs)

    draw.__name__ = draw.__qualname__ = name
    draw.__doc__ = _RANDOM_NAMES[name].__doc__
    return draw


_WORD = "I" if array.array("I").itemsize >= 4 else "L"  # a Mersenne Twister word: 32 bits


class Unseeded:
    """A generator saved before it was made: its seed, which pickles as ``_unseeded(seed)``
    (a few bytes, where a generator's state takes 2.5 KB)."""

    __slots__ = ("seed",)

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __reduce__(self) -> tuple[Any, ...]:
        return _unseeded, (self.seed,)


def _unseeded(seed: int) -> Unseeded:
    """The ``Unseeded`` of ``seed`` (called by ``pickle``; on the unpickler's allow-list,
    so it takes nothing but what ``GameRandom.save`` gives it)."""
    if not _is_seed(seed):
        raise ValueError(_not_a_seed(seed))
    return Unseeded(seed)


def _not_a_seed(seed: Any) -> str:
    what = (f"{seed.bit_length()} bits long" if type(seed) is int
            else f"of type {type(seed).__name__}")
    return (f"its random generator's seed must be an int of at most {SEED_BITS_MAX} bits, "
            f"not one {what}")


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
    """The ``random.Random`` a ``SavedRandom`` stands for (called by ``pickle``).

    Made without seeding (``random.Random()`` seeds from 2.5 KB of fresh entropy):
    ``setstate`` sets all of its state."""
    rng = random.Random.__new__(random.Random)
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
