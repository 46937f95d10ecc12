"""Reinforcement learning with our games: PettingZoo and Gymnasium environments.

    from gameserver.rl import aec_env, gym_env, vector_env, evaluate

    env = aec_env("TicTacToe")                          # in-process, every seat an agent
    env = aec_env("TicTacToe", server=("127.0.0.1", 4711))   # on a real server
    env = gym_env("ConnectFour", seat=0, opponent="random")  # one agent vs a policy
    print(evaluate(my_agent, "random", "TicTacToe", n_games=1000))

Any game with the RL hooks (``rl_moves``, ``rl_observation_shape``,
``rl_observation``; see ``AbstractGame``) works, in-process through the
server's own rules or over the network. How to use it: ``docs/rl.md``.

Needs the optional packages pettingzoo, gymnasium and numpy
(``pip install pettingzoo gymnasium numpy``, or ``pip install -e '.[rl]'`` in the
repository's folder: the ``gameserver`` on PyPI is another project); the server and
the client module do not.
"""

try:
    import gymnasium  # noqa: F401
    import numpy  # noqa: F401
    import pettingzoo  # noqa: F401
except ImportError as _missing:
    raise ImportError(
        "gameserver.rl needs the packages pettingzoo, gymnasium and numpy, which are not "
        "installed (the server itself does not need them). Install them with:  "
        "pip install pettingzoo gymnasium numpy  (or, in the repository's folder: "
        "pip install -e '.[rl]')"
    ) from _missing

from . import _versions  # noqa: F401 (raises ImportError: names the packages too old)
from ._agents import Agent, RandomAgent
from ._remote import SessionGone
from ._table import GameError
from .aec import GameAECEnv, aec_env
from .evaluate import Evaluation, SeatResult, evaluate
from .gym import GameGymEnv, GameVectorEnv, gym_env, vector_env

__all__ = ["Agent", "Evaluation", "GameAECEnv", "GameError", "GameGymEnv", "GameVectorEnv",
           "RandomAgent", "SeatResult", "SessionGone", "aec_env", "evaluate", "gym_env",
           "vector_env"]
