"""Gymnasium environments: one learning agent, the other seats played by a policy.

``gym_env`` is a single-agent ``gymnasium.Env``: the observation is the
agent's ``rl_observation`` (a float32 ``Box``), the action an index into
``rl_moves``, and ``info["action_mask"]`` (also ``env.action_masks()``, as
sb3-contrib's MaskablePPO expects) marks the legal actions. The other seats
are played by the bundled bot's policy (``"random"``), by any function
``(observation, action_mask) -> action``, or (``"server"``) by other
clients that join the same named session on the server.

An action that is not legal ends the episode as a loss (reward
``illegal_reward``, default -1), as PettingZoo's classic games do; a
masked policy never sees that. An action that is not a whole number at all
(``3.0``, ``np.array([3])``) is a ``TypeError`` (``_common.action_index``),
the episode going on. Rewards otherwise come at the end: +1 win, -1 loss,
0 draw.

``vector_env`` runs N such sessions as one ``gymnasium.vector.VectorEnv``:
in-process, or on a server over ONE connection, each step sending the
requests of all N sessions in one write. Finished sessions start their next
game on the following ``step`` (Gymnasium's next-step autoreset).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..game import AbstractGame
from ..rlhooks import RLSpec, final_rewards
from ._agents import Agent, RandomAgent, resolve_agent
from ._common import (
    ActionTypeError,
    Address,
    action_index,
    action_number,
    address,
    encode,
    make_table,
    next_seat,
    observation_box,
    player_count,
    resolve_game,
)
from ._remote import CLOSED, Link, RemoteTable, SessionGone
from ._table import GameError, Step, Table, View, failed

Result = tuple[np.ndarray, float, bool, bool, dict[str, Any]]


def gym_env(game: type[AbstractGame] | str, seat: int | None = None,
            opponent: Any = "random", server: Address | None = None,
            players: int | None = None, **options: Any) -> GameGymEnv:
    """A Gymnasium env where the agent plays ``seat`` and ``opponent`` the others.

    Args:
        game: the game class (or the name of a bundled game) with the RL hooks.
        seat: the agent's player id (default 0). With ``opponent="server"``
            the server gives ids in join order: leave it out and read
            ``env.seat`` after ``reset``.
        opponent: ``"random"`` (the bundled bot's policy), a function
            ``(observation, action_mask) -> action`` for every other seat (given
            arrays of its own), or
            ``"server"``: the other seats are clients joining the same named
            ``session`` on ``server`` (e.g. ``python -m gameserver.bot``).
            After a finished game, ``reset`` then waits until another client
            starts the next one (the bot does), unless ``restarts=True``: then
            this env starts it (let only one client of a session do that).
        server: None (in-process) or ``("host", port)``.
        players: the number of players (default: the game's minimum).
        **options: ``illegal_reward`` (default -1.0), ``restarts`` (see
            ``opponent``) and the options of
            ``aec_env`` (``names``, ``session``, ``tls``, ``timeout``, ``time_limit``,
            ``render_mode``).
    """
    spec = resolve_game(game, "gym_env")
    count = player_count(spec, players)
    external = isinstance(opponent, str) and opponent == "server"
    env_options = {k: options.pop(k) for k in ("illegal_reward", "render_mode", "restarts")
                   if k in options}
    if external:
        if server is None:
            raise ValueError("opponent='server' needs a server: the other players are "
                             "clients of that server")
        if seat not in (None, 0):
            raise ValueError("with opponent='server' the server gives the seats in join "
                             "order: leave seat out and read env.seat after reset()")
        if not options.get("session"):
            raise ValueError("opponent='server' needs session='NAME', the session the "
                             "other players join")
        table = make_table(spec, count, server, controlled=[0], **options)
        return GameGymEnv(spec, table, 0, None, **env_options)
    seat = 0 if seat is None else seat
    if type(seat) is not int or not 0 <= seat < count:
        raise ValueError(f"seat must be a player id from 0 to {count - 1}, not {seat!r}")
    policy = resolve_agent(opponent)
    table = make_table(spec, count, server, **options)
    return GameGymEnv(spec, table, seat, policy, **env_options)


class GameGymEnv(gymnasium.Env):
    """The environment ``gym_env`` returns.

    Attributes:
        seat: the agent's player id (with ``opponent="server"``: known after ``reset``).
        table: its session.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 1}  # text: fps unused

    def __init__(self, spec: RLSpec, table: Table, seat: int, opponent: Agent | None,
                 illegal_reward: float = -1.0, render_mode: str | None = None,
                 restarts: bool = False) -> None:
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', not {render_mode!r}")
        self.hooks = spec
        self.table = table
        self.seat = seat
        self.opponent = opponent  # None: the other seats are played by other clients
        self.restarts = restarts  # ... and after a finished game, this env starts the next
        self.illegal_reward = float(illegal_reward)
        self.render_mode = render_mode
        self.observation_space = observation_box(spec)
        self.action_space = spaces.Discrete(spec.size)
        self._rng: random.Random | None = None
        self._view: View | None = None
        self._done = True
        self._failed: str | None = None  # why a step may not go on (``_table.failed``)

    # ------------------------------------------------------------ the Gymnasium API

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new game; with ``seed`` (in-process) it plays out the same way every time."""
        return self._run(self._reset_ops(self._seeded(seed)), "reset()")

    def step(self, action: Any) -> Result:
        return self._run(self._step_ops(action), "step")

    def _run(self, step: Step, what: str) -> Any:
        under_way = not self._done
        try:
            return self.table.run(step)
        except ActionTypeError:  # (refused before any op: the episode goes on)
            raise
        except BaseException as err:  # (Ctrl-C too: the move was made or not)
            # The next step says to reset first (``_table.failed``); a reset goes on. (A
            # step refused before it began, with no episode under way, says that.)
            if under_way or what != "step":
                self._done = True
                self._failed = failed(what, err)
            if isinstance(err, SessionGone):
                # The next reset joins the session anew: for the other seats' clients too
                # (``opponent="server"``), not only a table's restart
                # (``RemoteTable.start``). Until 2026-11-30 such an env, with
                # ``restarts=False``, waited there for another client's restart of the game
                # it had seen end: every reset failed. It joins at once, without trying a
                # restart first: by then a client of the other seats may have started the
                # session anew, where our keys are invalid.
                self._view = None
                self._done = True
                if isinstance(self.table, RemoteTable):
                    self.table.forget()
            raise

    def action_masks(self) -> np.ndarray:
        """The legal actions now (1 = legal), for masked policies."""
        if self._view is None:
            raise GameError("call reset() first")
        return self._view.mask.copy()

    def render(self) -> str:
        """The agent's own state as text."""
        state = self.table.view(self.seat).state
        return "\n".join([f"{self.hooks.name}, as player_{self.seat} sees it"]
                         + [f"  {key}: {value}" for key, value in state.items()])

    def close(self) -> None:
        self.table.close()

    # ------------------------------------------------------------ steps as table ops

    def _seeded(self, seed: int | None) -> int | None:
        """Seed the env (Gymnasium's generator, the random opponent); the game's seed."""
        super().reset(seed=seed)
        if seed is not None:
            self._rng = random.Random(seed)
            self.action_space.seed(seed)
        if self._rng is None:
            return None
        if isinstance(self.opponent, RandomAgent):
            self.opponent.seed(self._rng.getrandbits(63))
        return self._rng.getrandbits(63)

    def _reset_ops(self, game_seed: int | None) -> Step:
        if self.opponent is not None:
            probe = (self.seat + 1) % self.table.players
            yield ("start", game_seed, probe)
        else:  # the other seats are other clients of the server
            ended = self._view is not None and self._view.gameover
            if not ended or self.restarts:  # the first game, an abandoned one, or ours to start
                yield ("start", game_seed, self.seat)
            self.seat = probe = self.table.controlled[0]
            view = yield ("view", probe)
            while view.gameover:  # until another client starts the next game (the bot does)
                view = yield ("wait", probe)
        view = yield from self._advance(probe)
        self._done = view.gameover
        self._failed = None
        return view.observation.copy(), {"action_mask": view.mask.copy()}

    def _step_ops(self, action: Any) -> Step:
        seat = self.seat
        if self._done:
            raise GameError(self._failed or "call reset() first: no episode is under way "
                            "(none has started, or the last one ended)")
        action = action_index(action, "step")  # (before any op: the table is as it was)
        view = encode(self.hooks, (yield ("view", seat)), seat)
        if not 0 <= action < self.hooks.size or not view.mask[action]:
            self._done = True  # the game stays unfinished on the server; reset restarts it
            self._view = illegal_end(view)
            return (view.observation.copy(), self.illegal_reward, True, False,
                    {"action_mask": self._view.mask.copy(), "illegal_action": True})
        probe = seat if self.opponent is None else (seat + 1) % self.table.players
        rejection = yield ("move", seat, self.hooks.moves[action], probe)
        if rejection is not None:
            raise GameError(f"{self.hooks.name} rejected {self.hooks.moves[action]!r}, "
                            f"which its legal_moves listed: {rejection!r}")
        view = yield from self._advance(probe)
        self._done = view.gameover
        reward = final_rewards(view.state, self.table.names)[seat] if view.gameover else 0.0
        return (view.observation.copy(), reward, view.gameover, False,
                {"action_mask": view.mask.copy()})

    def _advance(self, probe: int) -> Step:
        """Let the others move until it is the agent's turn or the game is over.

        ``probe`` is a seat whose view is (about to be) fresh; it says whose turn it is.
        Returns the agent's view, encoded.
        """
        seat, players = self.seat, self.table.players
        view = yield ("view", probe)
        while not view.gameover and seat not in view.current:
            if self.opponent is None:
                view = yield ("wait", seat)  # another client's move
                continue
            other = next_seat(self.hooks.name, view.current, seat, players)
            if other is None:
                raise GameError(f"{self.hooks.name} is not over, but nobody may move")
            theirs = encode(self.hooks, (yield ("view", other)), other)
            # Copies: the view's arrays are read-only (and its mask says what is legal).
            chosen = self.opponent(theirs.observation.copy(), theirs.mask.copy())
            action = action_number(chosen)
            if action is None or not 0 <= action < self.hooks.size or not theirs.mask[action]:
                raise GameError(f"the opponent's policy chose action {chosen!r}, which is "
                                + ("not legal now" if action is not None else
                                   "not a whole number (an int: an index into rl_moves)"))
            move = self.hooks.moves[action]
            if (yield ("move", other, move, seat)) is not None:
                raise GameError(f"{self.hooks.name} rejected {move!r}, which its "
                                "legal_moves listed")
            view = yield ("view", seat)
        self._view = encode(self.hooks, (yield ("view", seat)), seat)
        return self._view


def illegal_end(view: View) -> View:
    """``view`` (encoded) as it is once an illegal action ended its episode: the same
    observation, and a mask of zeros, as at the end of a game (no action is legal in an
    episode that is over). Until 2026-12-01 the mask kept the actions legal before the
    illegal one: a vector env's row of a session that had ended so was not all zeros (its
    next step ignores its action: Gymnasium's next-step autoreset), unlike one whose game
    ended, and ``action_masks()`` said the same."""
    over = View(view.state, [])
    over.observation = view.observation  # (read-only: shared)
    mask = np.zeros_like(view.mask)
    mask.flags.writeable = False
    over.mask = mask
    return over


def vector_env(game: type[AbstractGame] | str, num_envs: int = 16, seat: int | None = None,
               opponent: Any = "random", server: Address | None = None,
               players: int | None = None, **options: Any) -> GameVectorEnv:
    """``num_envs`` sessions of ``gym_env`` as one Gymnasium ``VectorEnv``.

    In-process, or on ``server`` over one shared connection (each step sends
    the requests of every session in one write). Arguments as for
    ``gym_env``; ``opponent="server"`` is not possible here (a request that
    waits for another client would hold up every session on the connection).
    Sessions are named ``SESSION-0``, ``SESSION-1``, ... when ``session`` is given.
    """
    if isinstance(opponent, str) and opponent == "server":
        raise ValueError("vector_env cannot wait for other clients: use gym_env for "
                         "opponent='server'")
    if type(num_envs) is not int or num_envs < 1:
        raise ValueError(f"num_envs must be a whole number of at least 1, not {num_envs!r}")
    session = options.pop("session", None)
    link = None
    if server is not None:
        link = Link(address(server), tls=options.pop("tls", False),
                    timeout=options.pop("timeout", 120.0))
    envs = []
    for number in range(num_envs):
        name = f"{session}-{number}" if session else None
        policy = (RandomAgent() if isinstance(opponent, str) and opponent == "random"
                  else opponent)
        envs.append(gym_env(game, seat, policy, server, players, session=name, link=link,
                            **options))
        if number == 0:  # one watchdog thread for all (LocalTable)
            options["guard"] = envs[0].table.guard  # type: ignore[attr-defined]
    return GameVectorEnv(envs, link)


class GameVectorEnv(VectorEnv):
    """The environment ``vector_env`` returns; ``envs`` are its sessions."""

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP,
                                "render_modes": []}

    def __init__(self, envs: list[GameGymEnv], link: Link | None) -> None:
        self.envs = envs
        self.link = link
        self.num_envs = len(envs)
        self.single_observation_space = envs[0].observation_space
        self.single_action_space = envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=np.bool_)
        # Why a step may not go on (``_table.failed``), until a reset succeeds.
        self._failed: str | None = "call reset() first: no episode is under way yet"

    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + n for n in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"{len(seeds)} seeds for {self.num_envs} environments")
        if self.link is not None:  # seat every session at once (joins block until full)
            self.link.join([e.table for e in self.envs
                            if isinstance(e.table, RemoteTable) and not e.table.joined])
        results = self._run([env._reset_ops(env._seeded(number_seed))
                             for env, number_seed in zip(self.envs, seeds, strict=True)],
                            "reset()")
        self._autoreset[:] = False
        self._failed = None
        infos: dict[str, Any] = {}
        for number, (_, info) in enumerate(results):
            infos = self._add_info(infos, info, number)
        return np.stack([observation for observation, _ in results]), infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                          dict[str, Any]]:
        if self._failed is not None:
            raise GameError(self._failed)
        if np.shape(actions)[:1] != (self.num_envs,):  # (IndexError, or some left unused)
            raise ValueError(f"step takes one action per environment ({self.num_envs}), "
                             f"not {actions!r}"[:300])
        # All checked before any session's step (a step left half-planned could not go
        # on), and handed on as ints: _step_ops's own check then takes its fast path.
        numbers = [None if self._autoreset[n]
                   else action_index(actions[n], f"step, environment {n}")
                   for n in range(self.num_envs)]
        steps = [env._reset_ops(env._seeded(None)) if number is None else env._step_ops(number)
                 for number, env in zip(numbers, self.envs, strict=True)]
        results = self._run(steps, "step")
        observations = []
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminations = np.zeros(self.num_envs, dtype=np.bool_)
        infos: dict[str, Any] = {}
        for number, result in enumerate(results):
            if self._autoreset[number]:
                observation, info = result
            else:
                observation, rewards[number], terminations[number], _, info = result
            observations.append(observation)
            infos = self._add_info(infos, info, number)
        truncations = np.zeros(self.num_envs, dtype=np.bool_)
        self._autoreset = terminations.copy()
        return np.stack(observations), rewards, terminations, truncations, infos

    def _run(self, steps: list[Step], what: str) -> list[Any]:
        """The results of ``steps``, one per session. One that fails (Ctrl-C too) fails
        the vector env's step: its next step says to reset first (``_table.failed``),
        whichever session failed, since the steps of the others went on or not. (The
        actions were checked before: ``step``.)"""
        try:
            if self.link is not None:
                tables = [env.table for env in self.envs]
                return self.link.run_many(list(zip(tables, steps, strict=True)))  # type: ignore
            return [env.table.run(step) for env, step in zip(self.envs, steps, strict=True)]
        except BaseException as err:
            if self._failed is None or what != "step":  # (not "no episode is under way")
                self._failed = failed(what, err)
            raise

    # A context manager, as Gymnasium's ``Env`` is (``gym_env``): its ``VectorEnv`` is
    # none, and ``with vector_env(...) as envs:`` failed with "'GameVectorEnv' object
    # does not support the context manager protocol".
    def __enter__(self) -> GameVectorEnv:
        return self

    def __exit__(self, *exc_info: object) -> bool:
        """Close the env (its sessions are left); an exception raised in the block goes on."""
        self.close()
        return False

    def close_extras(self, **kwargs: Any) -> None:
        if isinstance(self.link, Link):  # every session's seats leave in one write
            self.link.leave([request for env in self.envs
                             for request in env.table.departures()])  # type: ignore[attr-defined]
        for env in self.envs:
            env.close()
        if self.link is not None:
            self.link = CLOSED  # (as its tables' links: closed for good)
