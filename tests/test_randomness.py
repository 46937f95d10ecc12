"""A game's own generator (gameserver/_randomness.py): made when first needed, exactly as
``random.Random(seed)`` would be. The games that use it: tests/test_checked.py."""

from __future__ import annotations

import pickle
import random
from typing import Any

import pytest

from gameserver._randomness import GameRandom, SavedRandom, Unseeded, _random_of, restored


@pytest.mark.parametrize("seed", [0, 1, -5, 2**32, 2**128 - 1, -(2**200), 2**5000,
                                  "abc", b"abc", bytearray(b"x"), 2.5])
def test_a_generator_is_made_as_random_random_makes_it(seed: Any) -> None:
    made, expected = _random_of(seed), random.Random(seed)
    assert type(made) is random.Random
    assert made.getstate() == expected.getstate()
    assert vars(made) == vars(expected)
    assert [made.random() for _ in range(5)] == [expected.random() for _ in range(5)]
    assert made.gauss(0, 1) == expected.gauss(0, 1)  # (gauss keeps half a pair)
    assert made.getstate() == expected.getstate()


def test_a_generator_not_made_yet_is_saved_as_its_seed_and_loads_as_it() -> None:
    source = GameRandom(7)
    saved = source.save()
    assert type(saved) is Unseeded and source.rng is None and source.save() is saved
    loaded = restored(pickle.loads(pickle.dumps(saved)))
    assert loaded is not None and loaded.rng is None
    assert loaded.generator().getstate() == random.Random(7).getstate()


@pytest.mark.parametrize("seed", [None, "abc", 2**5000])
def test_a_generator_whose_seed_is_not_saved_as_such_is_saved_as_its_state(seed: Any) -> None:
    """From fresh entropy (a restored game saved with no generator), or from a seed that
    ``_unseeded`` would refuse: its state, the generator made then."""
    source = GameRandom(seed)
    saved = source.save()
    assert type(saved) is SavedRandom and source.rng is not None
    loaded = restored(pickle.loads(pickle.dumps(saved)))
    assert loaded is not None and loaded.rng is not None
    assert loaded.generator().getstate() == source.generator().getstate()
