"""Agents: anything that picks an action from an observation and an action mask."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np

Agent = Callable[[np.ndarray, np.ndarray], int]
"""``agent(observation, action_mask) -> action``: the index of a move in ``rl_moves``
whose ``action_mask`` entry is 1."""


class RandomAgent:
    """Picks uniformly among the legal actions: the policy of the bundled bot.

    ``python -m gameserver.bot`` chooses uniformly among the moves
    ``legal_moves`` lists; this does the same with the action mask.

    Args:
        seed: seed of its own random generator (None: unpredictable).
    """

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)

    def seed(self, seed: int | None) -> None:
        self.rng.seed(seed)

    def __call__(self, observation: np.ndarray, action_mask: np.ndarray) -> int:
        legal = action_mask.nonzero()[0]
        if not len(legal):
            raise ValueError("no legal action: the action mask is all zeros")
        return int(legal[self.rng.randrange(len(legal))])


def resolve_agent(agent: Any, seed: int | None = None) -> Agent:
    """``agent`` itself if it is callable; a ``RandomAgent`` for ``"random"``.

    Raises:
        ValueError: anything else.
    """
    if isinstance(agent, str) and agent == "random":
        return RandomAgent(seed)
    if callable(agent):
        return agent
    raise ValueError(f"an agent is 'random' or a function (observation, action_mask) -> "
                     f"action, not {agent!r}")
