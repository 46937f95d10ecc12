"""Agents: the random policy of the bundled bot, and what counts as an agent."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from gameserver.rl import RandomAgent
from gameserver.rl._agents import resolve_agent


def test_random_agent_picks_uniformly_among_legal_actions() -> None:
    agent = RandomAgent(1)
    mask = np.array([0, 1, 0, 1, 1], dtype=np.int8)
    picks = Counter(agent(np.zeros(3), mask) for _ in range(3000))
    assert set(picks) == {1, 3, 4}
    assert all(900 <= n <= 1100 for n in picks.values())  # ~1000 each; seeded: exact


def test_random_agent_repeats_itself_with_the_same_seed() -> None:
    mask = np.ones(9, dtype=np.int8)
    first, second = RandomAgent(4), RandomAgent(4)
    assert [first(None, mask) for _ in range(20)] == [second(None, mask) for _ in range(20)]


def test_random_agent_refuses_an_empty_mask() -> None:
    with pytest.raises(ValueError, match="all zeros"):
        RandomAgent(1)(None, np.zeros(3, dtype=np.int8))


def test_what_counts_as_an_agent() -> None:
    assert isinstance(resolve_agent("random"), RandomAgent)
    assert resolve_agent(len) is len
    with pytest.raises(ValueError, match="'random' or a function"):
        resolve_agent("greedy")
