"""The reinforcement-learning hooks of a game: read them, use them, check them.

Pure Python (no numpy), so that ``python -m gameserver check`` can validate
a student's hooks on a bare interpreter; ``gameserver.rl`` builds its
PettingZoo and Gymnasium environments on top of ``RLSpec``.

The hooks (documented on ``AbstractGame``): ``rl_moves``, a fixed list of
every move (the action space is ``Discrete(len(rl_moves))`` and a mask marks
the moves ``legal_moves`` lists now); ``rl_observation(state, player_id)``,
the player's own state turned into numbers of ``rl_observation_shape``
within ``rl_observation_range``. The encoder sees only what the player
receives from ``state()``, which is why an observation cannot contain
hidden information; ``check_hooks`` makes sure it uses nothing else (a
static method, the same numbers for a copy of the state, the state left
unchanged) and that the shapes, ranges and masks are right in real play.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import random
from collections.abc import Callable
from typing import Any

from .game import AbstractGame
from .guard import GameCodeError, GameGuard
from .results import display_name
from .testing import GameServerError, IllegalMove, LocalSession

GAMES_PER_COUNT = 5  # games played per player count by check_hooks
MAX_MOVES = 500  # moves per game checked, at most
SEEN_MAX = 50_000  # states remembered to compare their observations


class HookError(Exception):
    """The RL hooks of a game are missing or wrong; the message says what to fix."""


def has_hooks(game_class: type) -> bool:
    """Whether ``game_class`` offers the RL hooks (``rl_moves`` and ``rl_observation``)."""
    return (getattr(game_class, "rl_moves", None) is not None
            or _own_observation(game_class))


def _own_observation(game_class: type) -> bool:
    return getattr(game_class, "rl_observation", None) is not AbstractGame.rl_observation


def move_key(move: dict[str, Any]) -> Any:
    """A hashable key for a move dict; moves that differ in any value or type differ.

    A tuple for moves of plain values (fast); their JSON text otherwise.
    """
    key = tuple([(k, v.__class__, v) for k, v in sorted(move.items())])
    try:
        hash(key)
        return key
    except TypeError:  # a list or dict inside: unhashable
        return json.dumps(move, sort_keys=True)


class RLSpec:
    """The RL hooks of one game class, checked once and ready to use.

    Attributes:
        game_class: the game.
        moves: ``rl_moves``; action ``i`` is ``moves[i]``.
        shape, low, high: the observation's shape and range.
        encode: ``rl_observation(state, player_id)``.

    Raises:
        HookError: a hook is missing or malformed (the message says which).
    """

    def __init__(self, game_class: type) -> None:
        name = game_class.__name__
        self.game_class = game_class
        self.name = name
        moves = getattr(game_class, "rl_moves", None)
        if moves is None or not _own_observation(game_class):
            raise HookError(
                f"{name} has no reinforcement-learning hooks: it needs rl_moves, "
                "rl_observation_shape and rl_observation (see AbstractGame in "
                "gameserver/game.py and docs/rl.md)")
        if getattr(game_class, "legal_moves", None) is AbstractGame.legal_moves:
            raise HookError(f"{name} has rl_moves but no legal_moves method: the legal "
                            "moves mark which of rl_moves may be played now")
        if not isinstance(moves, (list, tuple)) or not moves:
            raise HookError(f"{name}.rl_moves must be a non-empty list of move dicts")
        self.moves: list[dict[str, Any]] = list(moves)
        self.index: dict[Any, int] = {}
        for number, move in enumerate(self.moves):
            if not isinstance(move, dict):
                raise HookError(f"{name}.rl_moves[{number}] is {move!r}: every entry must "
                                "be a move dict such as {'position': 4}")
            try:
                json.dumps(move)
            except (TypeError, ValueError):
                raise HookError(f"{name}.rl_moves[{number}] = {move!r} cannot be sent as "
                                "JSON: use only dicts, lists, strings and numbers") from None
            key = move_key(move)
            if key in self.index:
                raise HookError(f"{name}.rl_moves lists {move!r} twice (entries "
                                f"{self.index[key]} and {number}): list each move once")
            self.index[key] = number
        # Keyed by the items as they are (no sorting, no types): the fast path of
        # mask(). Only where that cannot mix two moves up (True == 1, 1.0 == 1).
        self._fast: dict[Any, int] = {}
        try:
            fast = {tuple(move.items()): number for number, move in enumerate(self.moves)}
            if len(fast) == len(self.moves):
                self._fast = fast
        except TypeError:  # unhashable values: every lookup takes the exact path
            pass
        shape = getattr(game_class, "rl_observation_shape", ())
        if (not isinstance(shape, (tuple, list)) or not shape
                or not all(type(n) is int and n > 0 for n in shape)):
            raise HookError(f"{name}.rl_observation_shape must be a tuple of whole numbers "
                            f"above 0 such as (9,) or (3, 3), not {shape!r}")
        self.shape: tuple[int, ...] = tuple(shape)
        bounds = getattr(game_class, "rl_observation_range", (0.0, 1.0))
        if (not isinstance(bounds, (tuple, list)) or len(bounds) != 2
                or not all(_is_number(b) and math.isfinite(b) for b in bounds)
                or not bounds[0] < bounds[1]):
            raise HookError(f"{name}.rl_observation_range must be (smallest, largest) with "
                            f"smallest < largest, not {bounds!r}")
        self.low, self.high = float(bounds[0]), float(bounds[1])
        if not callable(game_class.rl_observation):
            raise HookError(f"{name}.rl_observation must be a method (a @staticmethod)")
        raw = inspect.getattr_static(game_class, "rl_observation")
        if not isinstance(raw, staticmethod):
            params = list(inspect.signature(game_class.rl_observation).parameters)
            if params[:1] == ["self"]:
                raise HookError(f"{name}.rl_observation must be a @staticmethod without "
                                "self: put @staticmethod on the line above 'def "
                                "rl_observation' and remove 'self'. It works on the "
                                "player's state alone")
        self.encode: Callable[[dict[str, Any], int], Any] = game_class.rl_observation

    @property
    def size(self) -> int:
        """The number of actions."""
        return len(self.moves)

    def mask(self, legal: list[dict[str, Any]] | None) -> list[int]:
        """1 for each of ``moves`` that ``legal`` lists, else 0.

        Raises:
            HookError: ``legal`` lists a move that is not in ``rl_moves``.
        """
        mask = [0] * len(self.moves)
        for number in self.numbers(legal):
            mask[number] = 1
        return mask

    def numbers(self, legal: list[dict[str, Any]] | None) -> list[int]:
        """The action number of each move ``legal`` lists, in its order.

        Raises:
            HookError: ``legal`` lists a move that is not in ``rl_moves``.
        """
        if not legal:
            return []
        try:  # usually a move's items come in the order rl_moves has them: no Python step
            return list(map(self._fast.__getitem__, map(tuple, map(dict.items, legal))))
        except (KeyError, TypeError):
            pass
        numbers = []
        fast, index = self._fast, self.index
        for move in legal:
            try:
                number = fast[tuple(move.items())]
            except (KeyError, TypeError, AttributeError):
                number = index.get(move_key(move)) if isinstance(move, dict) else None
            if number is None:
                raise HookError(f"{self.name}.legal_moves listed {move!r}, which is not in "
                                "rl_moves: add it there")
            numbers.append(number)
        return numbers

    def check_observation(self, observation: Any) -> str | None:
        """What is wrong with one observation (shape, type, range), or None."""
        problem = _check_shape(observation, self.shape, self.low, self.high)
        if problem is None:
            return None
        return (f"rl_observation returned {_short(observation)}: {problem} (shape "
                f"{self.shape}, numbers from {self.low:g} to {self.high:g})")


def final_rewards(state: dict[str, Any], names: list[str]) -> list[float]:
    """Each player's reward from a final state: +1 win, -1 loss, 0 draw or unknown.

    As the history and the leaderboard read results (``gameserver.results``):
    a ``"ranking"`` ``{name: points}`` comes first (the single best wins; a
    shared best is a draw for those sharing it and a loss for the others),
    then a ``"winner"`` id (``null`` at the end is a draw for everyone).
    """
    players = len(names)
    ranking = state.get("ranking")
    if isinstance(ranking, dict) and ranking:
        points = [ranking.get(display_name(names[p], p), ranking.get(names[p]))
                  for p in range(players)]
        known = [p for p in points if _is_number(p)]
        if known:
            best = max(known)
            top = sum(1 for p in known if p == best)
            return [(1.0 if top == 1 else 0.0) if p == best else -1.0 for p in points]
    winner = state.get("winner")
    if type(winner) is int and 0 <= winner < players:
        return [1.0 if p == winner else -1.0 for p in range(players)]
    return [0.0] * players


# ---------------------------------------------------------------- checking


def check_hooks(game_class: type[AbstractGame], guard: GameGuard, seed: int,
                player_counts: list[int], games: int = GAMES_PER_COUNT) -> list[str]:
    """Validate the RL hooks of ``game_class`` in real play; the problems found.

    Plays ``games`` random games per player count through
    ``gameserver.testing.LocalSession`` (the server's rules, states exactly
    as a client receives them) and checks, for every player at every
    position: the observation's shape, numbers and range; that the encoder
    leaves the state alone and gives the same numbers for a copy of it (it
    may use nothing but the state, so no hidden information); that every
    legal move is in ``rl_moves``. A game without hooks has no problems;
    failures of the game itself are left to the main check.
    """
    if not has_hooks(game_class):
        return []
    try:
        spec = RLSpec(game_class)
    except HookError as err:
        return [str(err) + "."]
    rng = random.Random(seed)
    seen: dict[tuple[int, str], Any] = {}  # (player, state as JSON) -> observation
    for players in player_counts:
        try:
            session = LocalSession(game_class, players, time_limit=guard.time_limit)
        except GameServerError:
            return []
        if guard.stuck is not None:  # the checker's report, not LocalSession's message
            session._guard.stuck = guard.stuck
        session._number_key_told = True  # (the checker warns of a number key itself)
        try:
            for _ in range(games):
                _play(spec, guard, session, rng, seen)
                session.restart()
        except HookError as err:
            return [str(err) + "."]
        except (GameServerError, IllegalMove, GameCodeError):
            return []
        finally:
            session.close()
    return []


def _play(spec: RLSpec, guard: GameGuard, session: LocalSession, rng: random.Random,
          seen: dict[tuple[int, str], Any]) -> None:
    for _ in range(MAX_MOVES):
        views = [session.state(p) for p in range(session.players)]
        for player, state in enumerate(views):
            _check_view(spec, guard, state, player, seen)
        if views[0]["gameover"] or not views[0]["current"]:
            return  # a stuck game is the main check's to report
        player = rng.choice(views[0]["current"])
        legal = session.legal_moves(player)
        if not legal:
            raise HookError(f"legal_moves({player}) returned {legal!r} although player "
                            f"{player} may move now: the RL hooks need the list of moves")
        for move in legal:  # exactly, types too (mask() may take a faster path)
            if not isinstance(move, dict) or move_key(move) not in spec.index:
                raise HookError(f"legal_moves({player}) listed {move!r}, which is not in "
                                "rl_moves: add it there")
        session.move(player, rng.choice(legal))


def _check_view(spec: RLSpec, guard: GameGuard, state: dict[str, Any], player: int,
                seen: dict[tuple[int, str], Any]) -> None:
    pristine = copy.deepcopy(state)
    observation = guard.call(spec.name, "rl_observation", spec.encode, state, player)
    problem = spec.check_observation(observation)
    if problem is not None:
        raise HookError(f"For player {player}, {problem}")
    if state != pristine:
        raise HookError("rl_observation changed the state it was given: build a new list "
                        "instead of changing the state")
    again = guard.call(spec.name, "rl_observation", spec.encode, copy.deepcopy(state), player)
    # The same state, in another game or position, must give the same numbers: anything
    # else shows the observation depends on more than what the player sees.
    key = (player, json.dumps(state, sort_keys=True))
    before = seen.get(key, observation)
    if len(seen) < SEEN_MAX:
        seen.setdefault(key, observation)
    if again != observation or before != observation:
        raise HookError(
            f"rl_observation gave different numbers for the same state of player {player} "
            f"({_short(observation)}, and {_short(again if again != observation else before)})"
            ": it must use only the state and player_id it is given (never the game, "
            "another global variable or random numbers), so that it shows nothing the "
            "player may not see")


def _check_shape(value: Any, shape: tuple[int, ...], low: float, high: float) -> str | None:
    if not shape:
        if not _is_number(value) and type(value) is not bool:
            return f"found {value!r} where a number belongs"
        if not math.isfinite(value):
            return f"{value!r} is not a finite number"
        if not low <= value <= high:
            return f"{value!r} lies outside rl_observation_range"
        return None
    if not isinstance(value, (list, tuple)):
        return f"found {_short(value)} where a list of {shape[0]} belongs"
    if len(value) != shape[0]:
        return f"a list has {len(value)} entries where {shape[0]} belong"
    for item in value:
        problem = _check_shape(item, shape[1:], low, high)
        if problem is not None:
            return problem
    return None


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
