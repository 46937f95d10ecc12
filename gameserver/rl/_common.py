"""What every environment needs: the game's hooks, a table, spaces and encoded views."""

from __future__ import annotations

import functools
import math
import ssl
from typing import Any

import numpy as np
from gymnasium import spaces

from ..game import AbstractGame
from ..guard import GameCodeError, GameGuard
from ..registry import not_a_class
from ..rlhooks import HookError, RLSpec
from ._local import LocalTable, env_guard
from ._remote import KNOWN_ARRAYS_MAX, Link, RemoteTable
from ._table import GameError, Table, View

Address = tuple[str, int]


def resolve_game(game: type[AbstractGame] | str, taker: str) -> RLSpec:
    """The RL hooks of ``game``: a game class, or the name of a bundled game.

    Over the network, too, the env needs the class: its hooks turn the states
    the server sends into numbers (the server plays the game itself).

    Args:
        game: what the user passed.
        taker: the function it was passed to, for the error (``aec_env``).

    Raises:
        ValueError: no bundled game has that name, or the game has no (valid) hooks.
        TypeError: ``game`` is neither a class nor a name (a game made from a class).
    """
    problem = None if isinstance(game, str) else not_a_class(game, taker)
    if problem:
        raise TypeError(problem)
    if isinstance(game, str):
        from ..games import BUNDLED_GAMES

        found = [g for g in BUNDLED_GAMES if g.__name__ == game]
        if not found:
            names = ", ".join(g.__name__ for g in BUNDLED_GAMES)
            raise ValueError(f"no bundled game called {game!r} (there are: {names}); "
                             "for a game of your own pass its class")
        game = found[0]
    try:
        return RLSpec(game)
    except HookError as err:
        raise ValueError(str(err)) from None


def make_table(spec: RLSpec, players: int, server: Address | None, *,
               names: list[str] | None = None, session: str | None = None,
               controlled: list[int] | None = None, link: Link | None = None,
               tls: bool | ssl.SSLContext = False, timeout: float = 120.0,
               time_limit: float = 5.0, wait_for_save: bool = False,
               guard: GameGuard | None = None) -> Table:
    """A table for ``players`` players: in-process (``server=None``) or on a server.

    Args:
        names: one name per seat (default ``player_0``, ...): the dashboard,
            the history and the leaderboard show them.
        session: the session's name on the server (default: a fresh one).
        controlled: seats this env moves (server only; others join from elsewhere).
        link: an existing connection to share (vector envs).
        tls, timeout: see ``Link``.
        time_limit: seconds one call into the game may run (over the network: the
            calls of ``rl_observation``, made here; the server limits its own).
        guard: the guard of another table to share (``LocalTable``): a vector env's.
        wait_for_save: server only: whether a step's reply waits until the server
            has saved the move. Default False: the next observation comes sooner,
            the move is saved within about 10 ms (and shows in the history); a
            crash of the server in that moment may lose it (docs/rl.md).
    """
    names = list(names) if names is not None else [f"player_{i}" for i in range(players)]
    if len(names) != players:
        raise ValueError(f"names: {len(names)} names for {players} players")
    if server is None:
        if session is not None or controlled is not None:
            raise ValueError("session and seats played elsewhere need a server")
        table: LocalTable | RemoteTable = LocalTable(
            spec.game_class, players, names, time_limit=time_limit, guard=guard)
    else:
        if link is None:
            link = Link(address(server), tls=tls, timeout=timeout)
        arrays = 4 * math.prod(spec.shape) + spec.size  # an observation's and a mask's bytes
        table = RemoteTable(link, spec.name, players, names, session=session,
                            controlled=controlled, wait_for_save=wait_for_save,
                            known=arrays <= KNOWN_ARRAYS_MAX)
        table.guard = guard or env_guard(spec.game_class, time_limit)
        table.own_guard = guard is None  # (stopped when the table is collected, if not closed)
    guard_encoder(spec, table.guard)
    return table


def guard_encoder(spec: RLSpec, guard: GameGuard) -> None:
    """Have ``spec.encode`` (the game's ``rl_observation``) run under ``guard``: an endless
    loop there hung the env for ever, in-process and over the network alike (the server
    never runs it); now it is stopped at the time limit, a ``GameError`` (``encode``)."""
    encoder = spec.encode
    spec.encode = functools.partial(guard.call, spec.name, "rl_observation", encoder)


def action_number(action: Any) -> int | None:
    """``action`` as a Python int, or None if it is not a whole number.

    A whole number is an ``int`` (not a ``bool``), a numpy integer, or a numpy array
    of one integer and no dimensions: what ``model.predict(observation)`` of
    Stable-Baselines3 returns for one observation, and what Gymnasium's
    ``Discrete.contains`` accepts. (Until 2026-11-30 the gym env took such an array
    for an illegal action: every step of such a loop was a lost episode.)
    """
    if type(action) is int:
        return action
    if isinstance(action, np.ndarray) and action.shape == ():
        action = action[()]  # (the numpy scalar it holds)
    if isinstance(action, (int, np.integer)) and not isinstance(action, bool):
        return int(action)
    return None


class ActionTypeError(TypeError, ValueError):
    """An action that is not a whole number (``3.0``, ``np.float32(3)``, ``True``,
    ``np.array([3])``): a mistake in the caller's code, not a move of the game.

    A ``TypeError``, and a ``ValueError`` too: ``aec_env`` raised that for it
    before (``except ValueError`` goes on catching it).
    """


def action_index(action: Any, who: str) -> int:
    """``action`` as a Python int (``action_number``).

    A float is refused even when it is whole (``3.0``), as Gymnasium's
    ``Discrete.contains`` refuses it and Stable-Baselines3 never passes one
    for a ``Discrete`` space: a float action is a sign of a policy meant for
    another space (a ``Box``) or of arithmetic on the action, which rounding
    here would hide. (Until 2026-11-30 the gym env took it for an illegal
    action: each such step silently lost its episode.)

    Raises:
        ActionTypeError: not a whole number; the message says what to pass.
    """
    number = action_number(action)
    if number is not None:
        return number
    kind = type(action).__name__
    if isinstance(action, np.ndarray):
        kind = f"a numpy array of shape {action.shape} and dtype {action.dtype}"
    raise ActionTypeError(
        f"{who}: the action must be a whole number, an index into rl_moves (an int, a "
        "numpy integer, or a numpy array of one integer and no dimensions, as "
        f"model.predict(observation) returns), not {action!r} ({kind})"[:400]
        + ("; a float is refused even when it is whole, as Gymnasium's Discrete space "
           "refuses it: pass int(action) if your policy gives floats"
           if isinstance(action, (float, np.floating)) else ""))


def address(server: Any) -> Address:
    if (not isinstance(server, (tuple, list)) or len(server) != 2
            or not isinstance(server[0], str) or type(server[1]) is not int):
        raise ValueError(f"server must be (host, port), e.g. ('127.0.0.1', 4711), "
                         f"not {server!r}")
    return server[0], server[1]


def player_count(spec: RLSpec, players: int | None) -> int:
    """``players``, or the game's minimum when None.

    Raises:
        ValueError: outside the game's range of players.
    """
    low, high = spec.game_class.min_players(), spec.game_class.max_players()
    if players is None:
        return low
    if type(players) is not int or not low <= players <= high:
        wanted = f"exactly {low}" if low == high else f"{low} to {high}"
        raise ValueError(f"invalid number of players: {spec.name} is played by {wanted} "
                         f"players, not {players!r}")
    return players


def observation_box(spec: RLSpec) -> spaces.Box:
    return spaces.Box(spec.low, spec.high, spec.shape, np.float32)


def mask_box(spec: RLSpec) -> spaces.Box:
    return spaces.Box(0, 1, (spec.size,), np.int8)


def encode(spec: RLSpec, view: View, seat: int) -> View:
    """Fill ``view.observation`` and ``view.mask`` (once per view); the view.

    Both arrays are this view's own and read-only: a network table keeps a view to use
    again when the same state comes again; the environments hand out copies.
    """
    if view.observation is None:
        try:
            observation = np.array(spec.encode(view.state, seat), np.float32)  # (a copy)
        except GameCodeError as err:  # (it failed, or ran out of time: guard_encoder)
            raise GameError(str(err)) from None
        if observation.shape != spec.shape:
            raise GameError(f"{spec.name}.rl_observation returned shape {observation.shape}, "
                            f"but rl_observation_shape is {spec.shape}")
        try:
            numbers = spec.numbers(view.legal)
        except HookError as err:
            raise GameError(str(err)) from None
        mask = np.zeros(len(spec.moves), np.int8)
        mask.put(numbers, 1)  # (as mask[numbers] = 1 does, in 3/4 of its time)
        mask.flags.writeable = observation.flags.writeable = False
        view.mask = mask
        view.observation = observation
    return view


def next_seat(name: str, current: list[int], after: int, players: int) -> int | None:
    """The first of ``current`` after seat ``after`` in turn order (wrapping), or None.

    Raises:
        GameError: ``current`` names a seat the game does not have (``not_a_seat``).
    """
    best = None
    for seat in current:
        if not 0 <= seat < players:
            raise not_a_seat(name, current, players)
        distance = (seat - after - 1) % players
        if best is None or distance < best[0]:
            best = (distance, seat)
    return None if best is None else best[1]


def not_a_seat(name: str, current: list[int], players: int) -> GameError:
    """The error of a game whose ``current_player()`` named a seat it does not have (an
    off-by-one: player 2 of 2); it was an IndexError from inside the env."""
    return GameError(f"{name}.current_player() returned {current!r}, but the players of "
                     f"this {players}-player game are 0 to {players - 1} (player ids start "
                     "at 0)")
