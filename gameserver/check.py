"""``python -m gameserver check FILE_OR_MODULE``: find the bugs in a game before class does.

The checker loads the game, then plays many randomized games through the
server's own session code (the same turn checks, state assembly and
restart), and reports in plain words what is wrong, each problem with the
file and line to look at and what to change there:

* required methods missing or misspelled, ``min_players``/``max_players``
  that are not static or not whole numbers;
* exceptions (with the traceback, and the move that caused them), calls that
  never return, a bad move rejected with ``raise`` instead of ``return``;
* ``current_player`` ids that do not exist, ``game_over`` that is not
  ``True``/``False``, ``state`` that is not a dict or cannot be sent as JSON
  (naming the place inside it), a forgotten ``return``;
* a move listed by ``legal_moves`` that ``move`` rejects, and a move that
  ``move`` accepts although ``legal_moves`` did not list it;
* games that never end, or where nobody may move although the game is not over;
* secrets: a player's state that contains another player's ``private_data``,
  ``private_data`` that lists public values, and players who see different
  states in a game that declares no secrets.

A problem found again in later games is reported once, with a count. Games
without ``legal_moves`` are played with guessed moves built from the words in
the game's source code, which checks robustness but not the end. The exit
code is 0 only when no problem was found.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import random
import re
import sys
import textwrap
import time
from dataclasses import dataclass, field
from typing import Any

from . import _check_moves as moves
from . import _check_words as words
from . import registry
from .game import AbstractGame, has_hidden_information
from .guard import GameCodeError, GameGuard
from .protocol import ProtocolError
from .session import Session

MAX_MOVES = 2000  # a game still running after this many moves "never ends"
GAMES = 100  # games to play in all, spread over the player counts
TIME_BUDGET = 8.0  # seconds of play per game class, at most
WIDTH = 100  # columns of the printed report
_INDENT = " " * 11  # under the text of "  PROBLEM  "


@dataclass
class Problem:
    """One thing to fix: what, where (``file:line``), the traceback, how often."""

    text: str
    where: str = ""
    details: str = ""
    games: int = 1  # in how many games it happened

    def __str__(self) -> str:
        return self.render(width=0)

    def render(self, width: int) -> str:
        """The problem as printed after "  PROBLEM  ", its lines ``width`` wide at most
        (0: no wrapping); the traceback as it is."""
        text = f"{self.where}: {self.text}" if self.where else self.text
        if self.games > 1:
            text += f" (This happened in {self.games} games.)"
        lines = []
        for paragraph in text.split("\n"):
            lines += _wrap(paragraph, width - len(_INDENT)) if width else [paragraph]
        text = ("\n" + _INDENT).join(lines)
        return text + ("\n" + _indent(self.details.rstrip()) if self.details else "")


@dataclass
class Report:
    """What the checker found for one game class."""

    name: str
    found: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was checked, and passed
    remarks: list[str] = field(default_factory=list)  # what could not be checked
    game: int = 0  # the number of the game being played, to count repeats
    _kinds: dict[str, tuple[Problem, int]] = field(default_factory=dict)

    def problem(self, text: str, details: str = "", kind: str = "", where: str = "") -> None:
        """Record a problem once; ``kind`` groups repeats of one bug (other moves, values)."""
        kind = kind or text
        if kind in self._kinds:  # the same bug again: count the games it happened in
            problem, last_game = self._kinds[kind]
            if last_game != self.game:
                problem.games += 1
                self._kinds[kind] = problem, self.game
            return
        problem = Problem(text, where, details)
        self._kinds[kind] = problem, self.game
        self.found.append(problem)

    @property
    def problems(self) -> list[str]:
        """Every problem as the student reads it."""
        return [str(problem) for problem in self.found]

    @property
    def ok(self) -> bool:
        return not self.found


class _Stop(Exception):
    """This game cannot be played further; the problem is already reported."""


def load_games(target: str) -> list[type[AbstractGame]]:
    """The game classes of a game file or module; raises ``registry.GameLoadError``."""
    return registry.load_target(target)


# ---------------------------------------------------------------- structure


def check_structure(game_class: type[AbstractGame], report: Report,
                    guard: GameGuard) -> tuple[int, int] | None:
    """Check the methods exist and the player range is sane; None if play is impossible."""
    missing = registry.missing_methods(game_class)
    own = [n for n, v in vars(game_class).items() if callable(v) or isinstance(v, staticmethod)]
    for name in missing:
        guess = difflib.get_close_matches(name, own, n=1, cutoff=0.6)
        hint = f" You wrote a method called '{guess[0]}': rename it to '{name}'." if guess else ""
        report.problem(f"Your class has no method '{name}', which every game needs.{hint}",
                       where=words.class_line(game_class))
    if missing:
        return None
    counts = []
    for method in ("min_players", "max_players"):
        where = words.method_line(game_class, method)
        try:
            value = guard.call(game_class.__name__, method, getattr(game_class, method))
        except GameCodeError as err:
            hint = (" Put @staticmethod on the line above 'def " + method + "' (and no 'self')."
                    if "positional argument" in str(err) else "")
            report.problem(f"{method}() cannot be called on the class.{hint}", err.details,
                           where=where)
            return None
        if type(value) is not int or value < 1:
            report.problem(f"{method}() must return a whole number of at least 1, "
                           f"not {value!r}.{words.forgot_return(value)}", where=where)
            return None
        counts.append(value)
    low, high = counts
    if low > high:
        report.problem(f"min_players() returns {low} but max_players() returns {high}: "
                       "the minimum must not be larger than the maximum.",
                       where=words.method_line(game_class, "min_players"))
        return None
    return low, high


# ---------------------------------------------------------------- playing


class _Table:
    """One game played on the server's own session code, all players seated.

    The checker's only contact with ``Session``: how the server runs a game
    may change here without touching what the checker checks.
    """

    def __init__(self, game_class: type[AbstractGame], players: int, guard: GameGuard) -> None:
        self.session = Session(game_class.__name__, game_class, "check", players, guard)
        for _ in range(players):
            self.session.add_player("")

    @property
    def game(self) -> AbstractGame:
        return self.session.game

    def current(self) -> list[int]:
        return self.session._current(self.session.game)

    def legal_moves(self, player: int) -> list[Any] | None:
        return self.session.legal_moves(self.session.game, player)

    def state(self, player: int) -> dict[str, Any]:
        """The data of ``player``'s state reply, as a client receives it."""
        return json.loads(self.session.state_reply(self.session.game, player, False))["data"]

    def move(self, player: int, move: dict[str, Any]) -> dict[str, Any]:
        """The decoded reply to ``move`` by ``player``."""
        return json.loads(self.session.move(player, self.session.players[player].key, move))

    def restart(self) -> None:
        self.session.restart(0, self.session.players[0].key)


class _Player:
    """Plays one game class for the checker, sharing one RNG for reproducibility."""

    def __init__(self, game_class: type[AbstractGame], report: Report, guard: GameGuard,
                 rng: random.Random) -> None:
        self.game_class = game_class
        self.name = game_class.__name__
        self.report = report
        self.guard = guard
        self.rng = rng
        self.keys, self.words = moves.source_words(game_class)
        self.listed = 0  # games that had legal moves to follow
        self.guessed_accepted = 0
        self.lengths: list[int] = []
        self.table: _Table | None = None  # the game being played
        self.states_differed = False
        # Players who see different states is fine when the game says so.
        self.says_public = game_class.hidden_information is False and any(
            "hidden_information" in vars(c) for c in game_class.__mro__ if c is not AbstractGame)

    def play(self, players: int) -> None:
        """Play one whole game with ``players`` players, then restart once."""
        table = self.table = self._call(_Table, self.game_class, players, self.guard)
        moves_made = 0
        used_legal_moves = False
        while True:
            over = self._inspect(table, players)
            if over:
                break
            current = self._call(table.current)
            if not current:
                self.report.problem(
                    "The game is not over, but current_player() returned no player, so "
                    "nobody can move and the game is stuck. Return the id of the player "
                    "whose turn it is.", where=self._line("current_player"))
                raise _Stop
            player = self.rng.choice(current)
            legal = self._call(table.legal_moves, player)
            if legal is not None:
                used_legal_moves = True
                self._play_listed(table, player, legal)
            else:
                self._play_guessed(table, player)
            moves_made += 1
            if moves_made >= MAX_MOVES:
                if used_legal_moves:
                    self.report.problem(
                        f"A game with {_players(players)} was still not over after "
                        f"{MAX_MOVES} moves. Does game_over() ever return True?",
                        kind="never ends", where=self._line("game_over"))
                raise _Stop
        self.lengths.append(moves_made)
        self.listed += used_legal_moves
        self._call(table.restart)
        if self._state(table, 0)["gameover"]:
            self.report.problem("Right after a restart the new game is already over: does "
                                "__init__ set up a fresh game every time?",
                                where=self._line("__init__"))

    def _inspect(self, table: _Table, players: int) -> bool:
        """Check every player's state and the return types; True once the game is over."""
        game = table.game
        over = self._call(self.guard.call, self.name, "game_over", game.game_over)
        if type(over) is not bool:
            self.report.problem(f"game_over() must return True or False, not {over!r} "
                                f"({type(over).__name__}).{words.forgot_return(over)}",
                                kind="game_over type", where=self._line("game_over"))
        raw_current = self._call(self.guard.call, self.name, "current_player",
                                 game.current_player)
        ids = raw_current if isinstance(raw_current, (list, tuple)) else [raw_current]
        bad = [i for i in ids if type(i) is not int or not 0 <= i < players]
        if bad:
            ids_text = ("the only id is 0" if players == 1
                        else f"the ids are 0 to {players - 1}")
            self.report.problem(
                f"current_player() returned {raw_current!r}, but with {_players(players)} "
                f"{ids_text}.{words.forgot_return(raw_current)}",
                kind="current ids", where=self._line("current_player"))
            raise _Stop
        states = [self._state(table, p) for p in range(players)]
        self._check_secrets(game, states)
        return bool(over)

    def _check_secrets(self, game: AbstractGame, states: list[dict[str, Any]]) -> None:
        """No player sees another's ``private_data``; different views need declared secrets."""
        if not has_hidden_information(self.game_class) and not self.says_public:
            for other in range(1, len(states)):
                difference = words.first_difference(states[0], states[other])
                if difference:
                    self.states_differed = True
                    self.report.problem(words.undeclared_secrets(difference, other),
                                        kind="undeclared secrets", where=self._line("state"))
                    break
        everyone = [self._secrets(game, owner) for owner in range(len(states))]
        for owner, secrets in enumerate(everyone):
            for value in secrets:
                for other, state in enumerate(states):
                    # Another player may hold an equal secret of their own (the same card).
                    if other == owner or value in everyone[other]:
                        continue
                    where = words.path_to(state, value)
                    if where is not None:
                        text, blame = words.leaked(self.game_class, value, owner, other, where,
                                                   secrets, states[owner], self.words)
                        self.report.problem(text, kind=f"leak {blame}", where=self._line(blame))

    def _secrets(self, game: AbstractGame, owner: int) -> list[Any]:
        secrets = self._call(self.guard.call, self.name, "private_data", game.private_data,
                             owner)
        if not isinstance(secrets, list):
            self.report.problem(
                "private_data() must return a list of values, not "
                f"{type(secrets).__name__}.{words.forgot_return(secrets)}",
                where=self._line("private_data"))
            raise _Stop
        return secrets

    def _play_listed(self, table: _Table, player: int, legal: list[Any]) -> None:
        if not legal:
            self.report.problem(
                f"legal_moves({player}) returned an empty list although player {player} "
                "may move now. List at least one move, or return None.", kind="empty legal",
                where=self._line("legal_moves"))
            raise _Stop
        if self.rng.random() < 0.3:  # now and then, try a move that was not listed
            listed = {moves.canonical(m) for m in legal}
            known_keys = {k for m in legal for k in m}
            guess = self._guess(legal)
            # Games may ignore keys they do not know, and list one example of a free-text
            # move (a name): only judge moves in their own terms.
            if (moves.canonical(guess) not in listed and set(guess) <= known_keys
                    and not moves.free_text_variant(guess, legal)):
                if self._submit(table, player, guess) is None:
                    self.report.problem(
                        f"move({guess!r}) was accepted for player {player}, but "
                        f"legal_moves({player}) did not list it. Either reject that move in "
                        f"move() or add it to legal_moves ({self._line_no('legal_moves')}).",
                        kind="unlisted accepted", where=self._line("move"))
                    return
        move = self.rng.choice(legal)
        rejection = self._submit(table, player, move)
        if rejection is not None:
            self.report.problem(
                f"legal_moves({player}) listed {move!r}, but move() rejected it with "
                f"{rejection!r}. Every listed move must be accepted: list only moves that "
                f"move() ({self._line_no('move')}) accepts.",
                kind="listed rejected", where=self._line("legal_moves"))
            raise _Stop

    def _play_guessed(self, table: _Table, player: int) -> None:
        for _ in range(200):
            if self._submit(table, player, self._guess([])) is None:
                self.guessed_accepted += 1
                return
        raise _Stop  # no guess worked: the game cannot be driven without legal_moves

    def _submit(self, table: _Table, player: int, move: dict[str, Any]) -> Any:
        """Submit a move; None if accepted, else the game's rejection value."""
        reply = self._call(table.move, player, move, move=move)
        if reply["status"] == "ok":
            return None
        if reply["status"] == "illegalmove":
            return reply["message"]
        self.report.problem(f"The server refused move {move!r}: {reply['message']}",
                            where=self._line("move"))
        raise _Stop

    def _guess(self, examples: list[Any]) -> dict[str, Any]:
        """A random move: a listed move with one value changed, or built from source words."""
        rng = self.rng
        if examples and rng.random() < 0.7:
            move = dict(rng.choice(examples))
            if move:
                key = rng.choice(list(move))
                move[key] = moves.mutate(move[key], rng, self.words)
                return move
        count = rng.choice([1, 1, 1, 2, 0])
        keys = rng.sample(self.keys, k=min(len(self.keys), count))
        return {k: moves.random_value(rng, self.words) for k in keys}

    def _state(self, table: _Table, player: int) -> dict[str, Any]:
        return self._call(table.state, player, player=player)

    def _call(self, func: Any, *args: Any, move: dict[str, Any] | None = None,
              player: int | None = None) -> Any:
        """``func(*args)``; a failure of the game is reported, then stops this game.

        ``move`` is the move being played and ``player`` the player whose state
        is being assembled, to say exactly what failed.
        """
        try:
            return func(*args)
        except GameCodeError as err:
            self._report_failure(err, move, player)
            raise _Stop from None
        except ProtocolError as err:
            self.report.problem(str(err), where=words.class_line(self.game_class))
            raise _Stop from None

    def _report_failure(self, err: GameCodeError, move: dict[str, Any] | None,
                        player: int | None) -> None:
        # The report is about this game already: drop "framework: game NAME: ".
        text = re.sub(r"^game \S+: ", "", str(err).removeprefix("framework: "))
        method = re.match(r"(\w+)\(\)", text)
        where = self._line(method[1] if method else "__init__")
        place = words.failure_line(self.game_class, err.details) if err.details else None
        kind = text
        if place:
            where = f"{words.shown_path(place[0])}:{place[1]}"
            kind = f"{text.split(':')[0]} at {where}"  # "move() raised ValueError" at a line
        if "took longer than" in text:
            text += ". Look for a loop that never stops."
        elif "cannot be sent as JSON" in text and player is not None:
            text = self._unsendable(player) or text
        elif "cannot be sent as JSON" in text:
            text += (". Only dicts, lists, strings, numbers, True/False and None can be "
                     "sent: turn sets and tuples into lists, objects into dicts.")
        elif text.endswith(", not NoneType"):
            text = text.removesuffix("NoneType") + "None." + words.forgot_return(None)
        elif move is not None and method and method[1] == "move" and " raised " in text:
            text = words.move_failed(move, text.partition(" raised ")[2], place)
        self.report.problem(text, err.details, kind=kind, where=where)

    def _unsendable(self, player: int) -> str | None:
        """Which part of ``player``'s state cannot be sent (the state is built once more)."""
        if self.table is None:
            return None
        try:
            state = self.guard.call(self.name, "state", self.table.game.state, player)
        except GameCodeError:
            return None
        found = words.unsendable(state)
        return found and f"Player {player}'s {found}"

    def _line(self, method: str) -> str:
        return words.method_line(self.game_class, method)

    def _line_no(self, method: str) -> str:
        return words.line_of(self.game_class, method)


def _players(count: int) -> str:
    return "1 player" if count == 1 else f"{count} players"


def _wrap(text: str, width: int, **indents: str) -> list[str]:
    """Lines of ``text`` at most ``width`` wide, never breaking a word, path or code."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False,
                         **indents)


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())


# ---------------------------------------------------------------- driver


def check_game(game_class: type[AbstractGame], seed: int, games: int = GAMES,
               time_budget: float = TIME_BUDGET, time_limit: float = 2.0) -> Report:
    """Run every check on one game class and return the report.

    Args:
        game_class: the game to check.
        seed: seed of the random choices, so that a run can be repeated.
        games: games to play in all.
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
            if time.monotonic() > deadline or len(report.found) >= 5:
                break
            report.game = n
            try:
                player.play(counts[n % len(counts)])
                played += 1
            except _Stop:
                if player.listed == 0 and not report.found:
                    break  # guessing got stuck; nothing more to learn by repeating
        _summarize(report, player, played, counts)
    finally:
        guard.close()
    return report


def _summarize(report: Report, player: _Player, played: int, counts: list[int]) -> None:
    if not played and report.found:
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
    game_class = player.game_class
    if max(counts) < 2:
        return
    if player.says_public:
        return  # "hidden_information = False": the author knows what everybody sees
    if not has_hidden_information(game_class) and not player.states_differed:
        report.remarks.append(
            "Your game declares no secrets, and every player saw the same state, so "
            f"everybody may see all of it ({words.WATCHERS_IF_PUBLIC}). If a player must not "
            "see something, read step 6, 'Secrets', in docs/first-game.md.")
    elif has_hidden_information(game_class) and (
            game_class.private_data is AbstractGame.private_data):
        report.remarks.append(
            "Your game says it has secrets (hidden_information = True) but has no "
            "private_data, so the checker could not check value by value that they stay "
            "secret. Add private_data(self, player_id), returning that player's secrets, to "
            "have that checked.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gameserver check",
        description="Play many random games of a game to find bugs before players do.")
    parser.add_argument("target", help="a game file (mygame.py) or module (games.mygame)")
    parser.add_argument("--game", help="check only this class (default: every game found)")
    parser.add_argument("--games", type=int, default=GAMES,
                        help=f"games to play in all (default {GAMES})")
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
            print("\n".join(_wrap(note, WIDTH, initial_indent="  ok       ",
                                  subsequent_indent=_INDENT)))
        for problem in report.found:
            print(f"  PROBLEM  {problem.render(WIDTH)}")
        for remark in report.remarks:
            print("\n".join(_wrap(remark, WIDTH, initial_indent="  note     ",
                                  subsequent_indent=_INDENT)))
        if report.ok:
            print(f"  {game_class.__name__} passed every check.")
        else:
            failed += 1
            print(f"  {game_class.__name__}: {len(report.found)} problem(s). Fix them, "
                  f"then run the same command again (add --seed {seed} to repeat this run).")
    sys.stdout.flush()
    return 1 if failed else 0
