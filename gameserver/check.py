"""``python -m gameserver check FILE_OR_MODULE``: find the bugs in a game before class does.

The checker loads the game, then plays many randomized games through the
server's own session code (the same turn checks, state assembly and
restart), and reports in plain words what is wrong:

* required methods missing or misspelled, ``min_players``/``max_players``
  that are not static or not whole numbers;
* exceptions (with the traceback), calls that never return;
* ``current_player`` ids that do not exist, ``game_over`` that is not
  ``True``/``False``, ``state`` that is not a dict or cannot be sent as JSON;
* a move listed by ``legal_moves`` that ``move`` rejects, and a move that
  ``move`` accepts although ``legal_moves`` did not list it;
* games that never end, or where nobody may move although the game is not over;
* a player's state that contains another player's ``private_data``.

Games without ``legal_moves`` are played with guessed moves built from the
words in the game's source code, which checks robustness but not the end.
The exit code is 0 only when no problem was found.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import inspect
import json
import logging
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import registry
from .checked import GameType
from .game import AbstractGame
from .guard import GameCodeError, GameGuard
from .protocol import ProtocolError
from .session import Session

MAX_MOVES = 2000  # a game still running after this many moves "never ends"
GAMES = 100  # games per player count
TIME_BUDGET = 8.0  # seconds of play per game class, at most


@dataclass
class Report:
    """What the checker found for one game class."""

    name: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def problem(self, text: str, details: str = "", kind: str = "") -> None:
        """Record a problem once; ``kind`` groups repeats of one bug (other ids, values)."""
        kind = kind or text
        if kind in self._seen:  # the same bug found again in another game
            return
        self._seen.add(kind)
        self.problems.append(text + ("\n" + _indent(details.rstrip()) if details else ""))

    @property
    def ok(self) -> bool:
        return not self.problems


class _Stop(Exception):
    """This game cannot be played further; the problem is already reported."""


# ---------------------------------------------------------------- loading


def load_games(target: str) -> list[type[AbstractGame]]:
    """Import a game file (``path/to/game.py``) or module (``package.module``).

    Raises:
        registry.GameLoadError: the file or module cannot be imported.
    """
    path = Path(target)
    if target.endswith(".py") or path.exists():
        if not path.is_file():
            raise registry.GameLoadError(f"{target}: no such file")
        return registry.load_module(path.resolve())
    try:
        module = importlib.import_module(target)
    except BaseException as err:  # noqa: BLE001 - any failure of student code
        raise registry.GameLoadError(
            f"cannot import module {target}: {type(err).__name__}: {err}") from None
    return [obj for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, AbstractGame)
            and obj is not AbstractGame and obj.__module__ == module.__name__]


# ---------------------------------------------------------------- structure


def check_structure(game_class: type[AbstractGame], report: Report,
                    guard: GameGuard) -> tuple[int, int] | None:
    """Check the methods exist and the player range is sane; None if play is impossible."""
    missing = registry.missing_methods(game_class)
    own = [n for n, v in vars(game_class).items() if callable(v) or isinstance(v, staticmethod)]
    for name in missing:
        guess = difflib.get_close_matches(name, own, n=1, cutoff=0.6)
        hint = f" You wrote a method called '{guess[0]}': rename it to '{name}'." if guess else ""
        report.problem(f"Your class has no method '{name}', which every game needs.{hint}")
    if missing:
        return None
    counts = []
    for method in ("min_players", "max_players"):
        try:
            value = guard.call(game_class.__name__, method, getattr(game_class, method))
        except GameCodeError as err:
            hint = (" Put @staticmethod on the line above 'def " + method + "' (and no 'self')."
                    if "positional argument" in str(err) else "")
            report.problem(f"{method}() cannot be called on the class.{hint}", err.details)
            return None
        if type(value) is not int or value < 1:
            report.problem(f"{method}() must return a whole number of at least 1, "
                           f"not {value!r}.")
            return None
        counts.append(value)
    low, high = counts
    if low > high:
        report.problem(f"min_players() returns {low} but max_players() returns {high}: "
                       "the minimum must not be larger than the maximum.")
        return None
    return low, high


# ---------------------------------------------------------------- playing


class _Player:
    """Plays one game class for the checker, sharing one RNG for reproducibility."""

    def __init__(self, game_class: type[AbstractGame], report: Report, guard: GameGuard,
                 rng: random.Random) -> None:
        self.game_class = game_class
        self.name = game_class.__name__
        self.game_type = GameType(self.name, game_class, guard)
        self.report = report
        self.guard = guard
        self.rng = rng
        self.keys, self.words = _source_words(game_class)
        self.listed = 0  # games that had legal moves to follow
        self.guessed_accepted = 0
        self.lengths: list[int] = []

    def play(self, players: int) -> None:
        """Play one whole game with ``players`` players, then restart once."""
        session = self._call(Session, self.game_type, "check", players)
        for _ in range(players):
            session.add_player("")
        moves = 0
        used_legal_moves = False
        while True:
            over = self._inspect(session, players)
            if over:
                break
            current = self._call(session.game.current)
            if not current:
                self.report.problem(
                    "The game is not over, but current_player() returned no player, so "
                    "nobody can move and the game is stuck. Return the id of the player "
                    "whose turn it is.")
                raise _Stop
            player = self.rng.choice(current)
            legal = self._call(session.game.legal_moves, player)
            if legal is not None:
                used_legal_moves = True
                self._play_listed(session, player, legal)
            else:
                self._play_guessed(session, player)
            moves += 1
            if moves >= MAX_MOVES:
                if used_legal_moves:
                    self.report.problem(
                        f"A game with {players} players was still not over after "
                        f"{MAX_MOVES} moves. Does game_over() ever return True?",
                        kind="never ends")
                raise _Stop
        self.lengths.append(moves)
        self.listed += used_legal_moves
        self._call(session.restart, 0, session.players[0].key)
        if self._call(session.game.view, 0)["gameover"]:
            self.report.problem("Right after a restart the new game is already over: does "
                                "__init__ set up a fresh game every time?")

    def _inspect(self, session: Session, players: int) -> bool:
        """Check every player's state and the return types; True once the game is over."""
        game = session.game.instance  # asked directly: the checker judges the raw answers
        over = self._call(self.guard.call, self.name, "game_over", game.game_over)
        if type(over) is not bool:
            self.report.problem(f"game_over() must return True or False, not {over!r} "
                                f"({type(over).__name__}).", kind="game_over type")
        raw_current = self._call(self.guard.call, self.name, "current_player",
                                 game.current_player)
        ids = raw_current if isinstance(raw_current, (list, tuple)) else [raw_current]
        bad = [i for i in ids if type(i) is not int or not 0 <= i < players]
        if bad:
            self.report.problem(
                f"current_player() returned {raw_current!r}, but with {players} players "
                f"the only ids are 0 to {players - 1}.", kind="current ids")
            raise _Stop
        states = [self._call(session.game.view_reply, p) for p in range(players)]
        for owner in range(players):
            secrets = self._call(self.guard.call, self.name, "private_data",
                                 game.private_data, owner)
            if not isinstance(secrets, list):
                self.report.problem("private_data() must return a list of values.")
                raise _Stop
            for value in secrets:
                for other in range(players):
                    if other != owner and _contains(json.loads(states[other])["data"], value):
                        self.report.problem(
                            f"Player {other}'s state shows {value!r}, which private_data() "
                            f"says only player {owner} may see. Leave it out of state() "
                            f"for other players.", kind="leak")
        return bool(over)

    def _play_listed(self, session: Session, player: int, legal: list[Any]) -> None:
        if not legal:
            self.report.problem(
                f"legal_moves({player}) returned an empty list although player {player} "
                "may move now. List at least one move, or return None.", kind="empty legal")
            raise _Stop
        if self.rng.random() < 0.3:  # now and then, try a move that was not listed
            listed = {_canonical(m) for m in legal}
            known_keys = {k for m in legal for k in m}
            guess = self._guess(legal)
            # Games may ignore keys they do not know, and list one example of a free-text
            # move (a name): only judge moves in their own terms.
            if (_canonical(guess) not in listed and set(guess) <= known_keys
                    and not _free_text_variant(guess, legal)):
                if self._submit(session, player, guess) is None:
                    self.report.problem(
                        f"move({guess!r}) was accepted for player {player}, but "
                        f"legal_moves({player}) did not list it. Either reject that move "
                        "or add it to legal_moves.", kind="unlisted accepted")
                    return
        move = self.rng.choice(legal)
        rejection = self._submit(session, player, move)
        if rejection is not None:
            self.report.problem(
                f"legal_moves({player}) listed {move!r}, but move() rejected it with "
                f"{rejection!r}. Every listed move must be accepted.", kind="listed rejected")
            raise _Stop

    def _play_guessed(self, session: Session, player: int) -> None:
        for _ in range(200):
            if self._submit(session, player, self._guess([])) is None:
                self.guessed_accepted += 1
                return
        raise _Stop  # no guess worked: the game cannot be driven without legal_moves

    def _submit(self, session: Session, player: int, move: dict[str, Any]) -> Any:
        """Submit a move; None if accepted, else the game's rejection value."""
        reply = json.loads(self._call(session.move, player, session.players[player].key,
                                      move))
        if reply["status"] == "ok":
            return None
        if reply["status"] == "illegalmove":
            return reply["message"]
        self.report.problem(f"The server refused move {move!r}: {reply['message']}")
        raise _Stop

    def _guess(self, examples: list[Any]) -> dict[str, Any]:
        """A random move: a listed move with one value changed, or built from source words."""
        rng = self.rng
        if examples and rng.random() < 0.7:
            move = dict(rng.choice(examples))
            if move:
                key = rng.choice(list(move))
                move[key] = _mutate(move[key], rng, self.words)
                return move
        count = rng.choice([1, 1, 1, 2, 0])
        keys = rng.sample(self.keys, k=min(len(self.keys), count))
        return {k: _random_value(rng, self.words) for k in keys}

    def _call(self, func: Any, *args: Any) -> Any:
        try:
            return func(*args)
        except GameCodeError as err:
            text = str(err).removeprefix("framework: ")
            if "took longer than" in text:
                text += ". Look for a loop that never stops."
            elif "cannot be sent as JSON" in text:
                text += (". Only dicts, lists, strings, numbers, True/False and None can be "
                         "sent: turn sets and tuples into lists, objects into dicts.")
            self.report.problem(text[0].upper() + text[1:], err.details)
            raise _Stop from None
        except ProtocolError as err:
            self.report.problem(str(err))
            raise _Stop from None


def _source_words(game_class: type[AbstractGame]) -> tuple[list[str], list[str]]:
    """Likely move keys (``move["x"]``, ``move.get("x")``, ``"x" in move``) and
    other short string constants in the game's source (likely values)."""
    try:
        tree = ast.parse(inspect.getsource(inspect.getmodule(game_class) or game_class))
    except (OSError, TypeError, SyntaxError):
        return ["move"], ["move"]
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            keys.add(_string(node.slice))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "get" and node.args):
            keys.add(_string(node.args[0]))
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            keys.add(_string(node.left))
    keys.discard("")
    words = {node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and 0 < len(node.value) < 30 and "\n" not in node.value}
    return sorted(keys) or sorted(words) or ["move"], sorted(words) or ["move"]


def _string(node: ast.AST) -> str:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""


def _random_value(rng: random.Random, words: list[str]) -> Any:
    kind = rng.randrange(7)
    if kind <= 2:
        return rng.randint(0, 9) if rng.random() < 0.8 else rng.randint(-2, 100)
    if kind == 3:
        return rng.choice(words)
    if kind == 4:
        return [rng.randint(-1, 10) for _ in range(rng.randint(0, 3))]
    if kind == 5:
        return rng.choice([None, True, False, "", 1.5, {}])
    return rng.randint(-10**6, 10**6)


def _mutate(value: Any, rng: random.Random, words: list[str]) -> Any:
    if type(value) is int and rng.random() < 0.6:
        return value + rng.choice([-1, 1, 2, 10])
    if isinstance(value, list) and value and rng.random() < 0.6:
        changed = list(value)
        changed[rng.randrange(len(changed))] = _mutate(changed[0], rng, words)
        return changed
    return _random_value(rng, words)


def _free_text_variant(move: dict[str, Any], legal: list[Any]) -> bool:
    """Whether ``move`` is a listed move with only free-form parts changed.

    Free-form parts are those a game lists in one canonical or example form:
    text (a name), a list of plain values in another order or repeated
    (``[2, 0]`` for ``[0, 2]``), and lists of lists (one example of a
    structured value, such as where the ships go).
    """
    return any(set(listed) == set(move) and all(_same_kind(listed[k], move[k]) for k in move)
               for listed in legal)


def _same_kind(listed: Any, given: Any) -> bool:
    if listed == given or (type(listed) is str and type(given) is str):
        return True
    if _plain_list(listed) and _plain_list(given):
        return {_canonical(x) for x in listed} == {_canonical(x) for x in given}
    return isinstance(listed, list) and any(isinstance(x, list) for x in listed)


def _plain_list(value: Any) -> bool:
    return isinstance(value, list) and not any(isinstance(x, (list, dict)) for x in value)


def _canonical(move: Any) -> str:
    return json.dumps(move, sort_keys=True)


def _contains(haystack: Any, needle: Any) -> bool:
    """Whether ``needle`` equals ``haystack`` or any value nested inside it."""
    if haystack == needle and type(haystack) is type(needle):
        return True
    if isinstance(haystack, dict):
        return any(_contains(v, needle) for v in haystack.values())
    if isinstance(haystack, list):
        return any(_contains(v, needle) for v in haystack)
    return False


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())


# ---------------------------------------------------------------- driver


def check_game(game_class: type[AbstractGame], seed: int, games: int = GAMES,
               time_budget: float = TIME_BUDGET, time_limit: float = 2.0) -> Report:
    """Run every check on one game class and return the report.

    Args:
        game_class: the game to check.
        seed: seed of the random choices, so that a run can be repeated.
        games: games to play per player count.
        time_budget: seconds of play at most.
        time_limit: seconds one call into the game may take.
    """
    report = Report(game_class.__name__)
    guard = GameGuard(time_limit=time_limit)
    try:
        player_range = check_structure(game_class, report, guard)
        if player_range is None:
            return report
        low, high = player_range
        random.seed(seed)  # games that use the random module directly
        player = _Player(game_class, report, guard, random.Random(seed))
        counts = sorted({low, high, min(high, low + 1)})
        deadline = time.monotonic() + time_budget
        played = 0
        for n in range(games):
            if time.monotonic() > deadline or len(report.problems) >= 5:
                break
            try:
                player.play(counts[n % len(counts)])
                played += 1
            except _Stop:
                if player.listed == 0 and not report.problems:
                    break  # guessing got stuck; nothing more to learn by repeating
        _summarize(report, player, played, counts)
    finally:
        guard.close()
    return report


def _summarize(report: Report, player: _Player, played: int, counts: list[int]) -> None:
    if not played and report.problems:
        return
    counts_text = " and ".join(str(c) for c in counts)
    if player.listed:
        longest = max(player.lengths)
        report.notes.append(
            f"played {played} games with {counts_text} players using legal_moves "
            f"(longest: {longest} moves), each followed by a restart")
    else:
        report.notes.append(
            f"the game has no legal_moves, so it was played with guessed moves "
            f"({player.guessed_accepted} guesses were accepted, {played} games finished). "
            "Add legal_moves(player_id) so that check (and bots) can play it properly.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gameserver check",
        description="Play many random games of a game to find bugs before players do.")
    parser.add_argument("target", help="a game file (mygame.py) or module (games.mygame)")
    parser.add_argument("--game", help="check only this class (default: every game found)")
    parser.add_argument("--games", type=int, default=GAMES,
                        help=f"games to play per player count (default {GAMES})")
    parser.add_argument("--seed", type=int, help="random seed, to repeat a run exactly")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    try:
        classes = load_games(args.target)
    except registry.GameLoadError as err:
        print(f"PROBLEM  {err}")
        return 1
    if args.game:
        classes = [c for c in classes if c.__name__ == args.game]
    if not classes:
        print(f"PROBLEM  no game found in {args.target}: a game is a class that inherits "
              "from AbstractGame (class MyGame(AbstractGame): ...)" +
              (f" and is called {args.game}" if args.game else ""))
        return 1
    # The checker reports problems itself; the server's error log would repeat them.
    server_log = logging.getLogger("gameserver")
    level = server_log.level
    server_log.setLevel(logging.CRITICAL)
    try:
        return _report_all(classes, seed, args.games)
    finally:
        server_log.setLevel(level)


def _report_all(classes: list[type[AbstractGame]], seed: int, games: int) -> int:
    failed = 0
    for game_class in classes:
        print(f"Checking {game_class.__name__} (seed {seed}) ...")
        report = check_game(game_class, seed, games=games)
        for note in report.notes:
            print(f"  ok       {note}")
        for problem in report.problems:
            print(f"  PROBLEM  {problem}")
        if report.ok:
            print(f"  {game_class.__name__} passed every check.")
        else:
            failed += 1
            print(f"  {game_class.__name__}: {len(report.problems)} problem(s). Fix them, "
                  f"then run the same command again (add --seed {seed} to repeat this run).")
    sys.stdout.flush()
    return 1 if failed else 0
