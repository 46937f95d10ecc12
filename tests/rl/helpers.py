"""Shared by the RL tests: PettingZoo's api_test with its warnings checked, the games."""

from __future__ import annotations

import warnings
from typing import Any

with warnings.catch_warnings():
    # Importing pettingzoo.test imports PettingZoo's classic envs the deprecated way.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pettingzoo.test import api_test

GAMES_WITH_HOOKS = ["TicTacToe", "ConnectFour", "Nim", "RockPaperScissors", "NumberRace"]

# PettingZoo's api_test accepts dict observations ({"observation", "action_mask"}) without
# a warning only for the environment names on its own list (its classic games): these
# two are about the dict itself, and appear for every env outside that list.
DICT_OBSERVATION_WARNINGS = {
    "Observation is not a NumPy array",
    "Observation space for each agent probably should be gymnasium.spaces.box or "
    "gymnasium.spaces.discrete",
}


def run_api_test(env: Any, num_cycles: int = 1000) -> None:
    """PettingZoo's api_test; fails on any warning but the two about dict observations."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api_test(env, num_cycles=num_cycles)
    unexpected = {str(w.message) for w in caught} - DICT_OBSERVATION_WARNINGS
    assert not unexpected, unexpected


def play_randomly(env: Any, policy: Any) -> dict[str, float]:
    """One game of an AEC env; each agent's final reward (from its last ``last()``)."""
    finals: dict[str, float] = {}
    for agent in env.agent_iter():
        observation, reward, terminated, truncated, _ = env.last()
        assert env.observation_space(agent).contains(observation)
        if terminated or truncated:
            finals[agent] = reward
            env.step(None)
        else:
            env.step(policy(observation["observation"], observation["action_mask"]))
    return finals
