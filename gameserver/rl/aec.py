"""A PettingZoo AEC environment for any game with the RL hooks.

One agent per seat (``player_0``, ``player_1``, ...; the number is the
player id). Observations are dicts ``{"observation": float32 array of the
game's ``rl_observation_shape``, "action_mask": int8 array}``; the action
is the index of a move in the game's ``rl_moves``. An agent may move when
the game lists it in ``current``; with several (simultaneous moves, e.g.
rock-paper-scissors) they move one after the other, each seeing only its own
state, so nobody sees a choice before it is revealed.

Rewards come only at the end, from the final state (``winner`` or
``ranking``): +1 win, -1 loss, 0 draw. ``terminations`` turn True for every
agent when the game is over; there is no truncation.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv

from ..game import AbstractGame
from ..rlhooks import RLSpec, final_rewards
from ._common import (
    Address,
    action_index,
    encode,
    make_table,
    mask_box,
    next_seat,
    not_a_seat,
    observation_box,
    player_count,
    resolve_game,
)
from ._table import GameError, Table, View, failed


def aec_env(game: type[AbstractGame] | str, players: int | None = None,
            server: Address | None = None, **options: Any) -> GameAECEnv:
    """A PettingZoo ``AECEnv`` that plays ``game`` with every seat an agent.

    Args:
        game: the game class (or the name of a bundled game); it needs the RL
            hooks (``rl_moves``, ``rl_observation_shape``, ``rl_observation``).
        players: the number of players (default: the game's minimum).
        server: ``None`` plays in this process, through the server's own
            session code (same rules, same guarded calls, no network);
            ``("host", port)`` plays on that server over one keep-alive
            connection: the games show on its dashboard and in its history.
        **options: ``names`` (one per seat, for the dashboard and the
            leaderboard), ``session`` (its name on the server), ``tls``
            (True, or an ``ssl.SSLContext``), ``timeout`` (seconds to wait
            for a reply), ``time_limit`` (seconds per game call: in-process, and of
            ``rl_observation`` over the network),
            ``render_mode`` (``"ansi"``), ``wait_for_save`` (on a server:
            default False, a step does not wait for the server's disk; see
            docs/rl.md).

    Raises:
        ValueError: the game has no RL hooks, or an option is wrong.
    """
    render_mode = options.pop("render_mode", None)
    spec = resolve_game(game, "aec_env")
    count = player_count(spec, players)
    return GameAECEnv(spec, make_table(spec, count, server, **options), render_mode)


class GameAECEnv(AECEnv):
    """The environment ``aec_env`` returns; ``table`` is its session."""

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "is_parallelizable": False}

    def __init__(self, spec: RLSpec, table: Table, render_mode: str | None = None) -> None:
        super().__init__()
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', not {render_mode!r}")
        self.hooks = spec
        self.table = table
        self.render_mode = render_mode
        self.metadata = {**type(self).metadata, "name": f"gameserver_{spec.name}"}
        players = table.players
        self.possible_agents = [f"player_{seat}" for seat in range(players)]
        self.agents: list[str] = []
        self._seat = {agent: seat for seat, agent in enumerate(self.possible_agents)}
        self.observation_spaces = {
            agent: spaces.Dict({"observation": observation_box(spec),
                                "action_mask": mask_box(spec)})
            for agent in self.possible_agents}
        self.action_spaces = {agent: spaces.Discrete(spec.size)
                              for agent in self.possible_agents}
        self.rewards: dict[str, float] = {}
        self._cumulative_rewards: dict[str, float] = {}
        self.terminations: dict[str, bool] = {}
        self.truncations: dict[str, bool] = {}
        self.infos: dict[str, dict[str, Any]] = {}
        self.agent_selection = self.possible_agents[0]
        # What a step reads: the action's bound, the moves, the seat after each seat.
        self._size = spec.size
        self._moves = spec.moves
        self._hints = [(seat + 1) % players for seat in range(players)]
        # PettingZoo's _clear_rewards as one update: a live step has every agent.
        self._no_rewards = dict.fromkeys(self.possible_agents, 0)
        self._rng: random.Random | None = None  # set by reset(seed): seeds each game
        self._failed: str | None = None  # why a step may not go on (``_table.failed``)

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Start a new game.

        With ``seed`` (in-process), this game and every later one play out
        the same way for the same actions. Over the network the server
        decides chance (who starts); the seed then only seeds the spaces.
        """
        if seed is not None:
            self._rng = random.Random(seed)
            for number, agent in enumerate(self.possible_agents):
                self.action_spaces[agent].seed(seed + number)
                self.observation_spaces[agent].seed(seed + number)
        game_seed = self._rng.getrandbits(63) if self._rng is not None else None
        try:
            self.table.start(game_seed, 0)
            self.agents = self.possible_agents[:]
            self.rewards = dict.fromkeys(self.agents, 0.0)
            self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
            self.terminations = dict.fromkeys(self.agents, False)
            self.truncations = dict.fromkeys(self.agents, False)
            self.infos = {agent: {} for agent in self.agents}
            self._after(self.table.view(0), self.table.players - 1)
        except BaseException as err:  # (Ctrl-C too: the game's state is not known)
            self._failed = failed("reset()", err)
            raise
        self._failed = None

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        if self._failed is not None:  # (the views kept may not be the server's)
            raise GameError(self._failed)
        seat = self._seat[agent]
        try:
            view = self.table.view(seat)
            if view.observation is None:  # (encoded once per view)
                encode(self.hooks, view, seat)
        except BaseException as err:  # (a server killed has lost its last moves)
            self._failed = failed(f"observation of {agent}", err)
            raise
        # Copies: the caller may keep or change them; the view stays as it was.
        return {"observation": view.observation.copy(), "action_mask": view.mask.copy()}

    def step(self, action: Any) -> None:
        if self._failed is not None:
            raise GameError(self._failed)
        agent = self.agent_selection
        if agent not in self.terminations:  # (a KeyError until 2026-11-30)
            raise GameError("call reset() first: no game is under way (none has started, "
                            "or every agent has taken its last step of the game that ended)")
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        seat = self._seat[agent]
        view = self.table.view(seat)
        if view.observation is None:  # (encoded once per view)
            encode(self.hooks, view, seat)
        if type(action) is not int:  # (a plain int: no more checks of its type)
            action = action_index(action, agent)
        if not 0 <= action < self._size or not view.mask[action]:
            raise ValueError(
                f"{agent}: action {action} is not legal now (legal: "
                f"{np.flatnonzero(view.mask).tolist()}); choose among the actions whose "
                "action_mask entry is 1")
        self._cumulative_rewards[agent] = 0.0
        hint = self._hints[seat]
        move = self._moves[action]
        try:
            rejection = self.table.move(seat, move, hint)
            if rejection is not None:
                raise GameError(f"{self.hooks.name} rejected {move!r} of player {seat}, "
                                f"which its legal_moves listed: {rejection!r}")
            self.rewards.update(self._no_rewards)  # (PettingZoo's _clear_rewards)
            view = self.table.view(hint)
            self._after(view, seat)
        except BaseException as err:  # (Ctrl-C too: the move was made or not)
            self._failed = failed("step", err)
            raise
        if view.gameover:  # (before, the rewards are all 0: nothing to add)
            self._accumulate_rewards()

    def _after(self, view: View, mover: int) -> None:
        """Select the next agent (or end the game) from a fresh view."""
        if view.gameover:
            rewards = final_rewards(view.state, self.table.names)
            for agent in self.agents:
                self.rewards[agent] = rewards[self._seat[agent]]
                self.terminations[agent] = True
            self.agent_selection = self.possible_agents[(mover + 1) % self.table.players]
            return
        current = view.current
        seat = current[0] if len(current) == 1 else next_seat(self.hooks.name, current,
                                                              mover, self.table.players)
        if seat is None:
            raise GameError(f"{self.hooks.name} is not over, but nobody may move "
                            "(current_player() returned no player)")
        if not 0 <= seat < self.table.players:
            raise not_a_seat(self.hooks.name, current, self.table.players)
        self.agent_selection = self.possible_agents[seat]

    def render(self) -> str:
        """The selected agent's state as text (its own view: nothing hidden leaks)."""
        seat = self._seat[self.agent_selection]
        state = self.table.view(seat).state
        turn = ", ".join(f"player_{s}" for s in state["current"]) or "nobody"
        lines = [f"{self.hooks.name}, as player_{seat} sees it; to move: {turn}"
                 + ("; game over" if state["gameover"] else "")]
        lines += [f"  {key}: {value}" for key, value in state.items()
                  if key not in ("current", "gameover")]
        return "\n".join(lines)

    def close(self) -> None:
        """Release the session (in-process: the guard's thread; network: the connection)."""
        self.table.close()

    # A context manager, as Gymnasium's ``Env`` is (``gym_env``): PettingZoo's ``AECEnv``
    # is none, and ``with aec_env(...) as env:`` failed with "'GameAECEnv' object does
    # not support the context manager protocol".
    def __enter__(self) -> GameAECEnv:
        return self

    def __exit__(self, *exc_info: object) -> bool:
        """Close the env (its session is left); an exception raised in the block goes on."""
        self.close()
        return False
