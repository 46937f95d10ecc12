"""``python -m gameserver check FILE_OR_MODULE``: find the bugs in a game before class does.

The checker loads the game, then plays many randomized games through the
server's own session code (the same turn checks, state assembly and
restart), and reports in plain words what is wrong, each problem with the
file and line to look at and what to change there:

* a class named like a game that comes with the server (the template copied
  and not renamed: the server would skip the file);
* required methods missing or misspelled, methods that cannot take what the
  server passes (``def state(self):``) or that an attribute hides
  (``self.move = ...``), ``input()`` in a game, ``min_players``/``max_players``
  that are not static or not whole numbers, a class renamed to something
  that is not an identifier;
* exceptions (with the traceback, and the move that caused them), calls that
  never return (one that catches the checker's stop, a bare ``except:`` in a
  loop, is reported with the line it runs, and the check ends there: nothing
  else can end that call), a bad move rejected with ``raise`` instead of
  ``return``;
* ``current_player`` ids that do not exist, ``game_over`` that is not
  ``True``/``False``, ``state`` that is not a dict or cannot be sent as JSON
  (naming the place inside it) or is larger than the server sends
  (``_channel.STATE_MAX``: the check runs the game in its own process, where
  nothing bounds it), a forgotten ``return``;
* a move listed by ``legal_moves`` that ``move`` rejects, and a move that
  ``move`` accepts although ``legal_moves`` did not list it, ``move``
  returning ``True`` for a good move;
* lists, dicts and sets that every game shares and games changed: class
  attributes, and default values (``def __init__(self, players, log=[])``);
* games that never end, or where nobody may move although the game is not over,
  or where a player never has a turn (the turn not passed on);
* a state with a key None, True or False (JSON sends it as "null", "true", "false");
  a number as a key is a warning (it arrives as text: "0", not 0);
* a game that does not play the same twice from its seed with the same moves
  (random numbers of its own: ``random.Random()``, ``random.seed()``; the
  clock): the server could not bring it back after a restart;
* secrets: a player's state that contains another player's ``private_data``,
  ``private_data`` that lists public values, and players who see different
  states in a game that declares no secrets.

A problem found again in later games is reported once, with a count; a run
that its time cut short says so (a game that prints a lot, or sends states of
megabytes, is slow). What a
game prints (to stdout or stderr, text or bytes, as on the server) is shown up
to ``PRINTS_SHOWN`` lines, then cut, with a line that says how much was cut and
to take the prints out (``_check_prints.CappedPrints``). Games
without ``legal_moves`` are played with guessed moves built from the words in
the game's source code, which checks robustness but not the end. The exit
code is 0 only when no problem was found.

This module is the command and the plan (which player counts, how many
games); ``_check_play`` plays the games and decides what is a problem, and
``_check_words`` says it to the student; ``_check_defs`` finds what the class
itself gets wrong (a ``def`` the server cannot call, values every game shares);
``_check_prints`` caps what the game prints.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import _check_defs as defs
from . import _check_target, registry, rlhooks
from . import _check_words as words
from ._check_play import Player, Stop
from ._check_prints import CappedPrints
from ._check_words import Report
from ._import_limit import IMPORT_TIMEOUT, import_limit
from .checked import range_problem
from .config import SECONDS_MAX, SECONDS_MIN
from .game import AbstractGame, has_hidden_information
from .games import BUNDLED_GAMES
from .guard import GameCodeError, GameGuard

GAMES = 100  # games to play in all, spread over the player counts
TIME_BUDGET = 8.0  # seconds of play per game class, at most
TIME_LIMIT = 2.0  # seconds one call into the game may take
LARGE_STATE = 2**20  # bytes of a state sent: from here on, the likely cause of a slow check


# ---------------------------------------------------------------- structure


def check_structure(game_class: type[AbstractGame], report: Report,
                    guard: GameGuard) -> tuple[int, int] | None:
    """Check the methods exist and the player range is sane; None if play is impossible."""
    problem = registry.name_problem(game_class.__name__)
    if problem:  # the server would not offer it
        report.problem(f"{problem[0].upper()}{problem[1:]}.", where=words.class_line(game_class))
        return None
    bundled = _bundled_namesake(game_class)
    if bundled:
        report.problem(
            f"Your class is called {game_class.__name__}, like a game that comes with the "
            f"server ({bundled}), so the server skips your file and offers its own game "
            f"under that name. Rename your class, for example `class My{game_class.__name__}"
            "(AbstractGame):` (docs/first-game.md, step 1).",
            where=words.class_line(game_class))
    missing = registry.missing_methods(game_class)
    for name in missing:
        hint = registry.misspelt_hint(game_class, name)
        if not hint and name in defs.CALLS:
            hint = f" Add it to your class, beginning with `{defs.CALLS[name][2]}`."
        report.problem(f"Your class has no method '{name}', which every game needs.{hint}",
                       where=words.class_line(game_class))
    if missing:
        return None
    unfit = [name for name in defs.CALLS if defs.signature_problem(game_class, name)]
    for name in unfit:
        report.problem(defs.signature_problem(game_class, name),
                       where=words.method_line(game_class, name))
    if unfit:
        return None
    found = defs.code_problems(game_class)
    for text, where in found:
        report.problem(text, where=where, kind=f"{where} {text}")  # each line: one to fix
    if found:  # every move failed, or waited for a keyboard: play would only repeat it
        return None
    counts = []
    for method in ("min_players", "max_players"):
        try:
            counts.append(guard.call(game_class.__name__, method, getattr(game_class, method)))
        except GameCodeError as err:
            hint = (" Put @staticmethod on the line above 'def " + method + "' (and no 'self')."
                    if "positional argument" in str(err) else "")
            report.problem(f"{method}() cannot be called on the class.{hint}", err.details,
                           where=words.method_line(game_class, method))
            return None
    low, high = counts
    problem = range_problem(low, high)
    if problem:
        method = problem.split("(")[0]  # the method the rule names first
        value = low if method == "min_players" else high
        report.problem(f"{problem}.{words.forgot_return(value)}",
                       where=words.method_line(game_class, method))
        return None
    return low, high


def _bundled_namesake(game_class: type[AbstractGame]) -> str:
    """The file of the bundled game that has ``game_class``'s name (the server offers that
    one, not this), or "" (none has, or this is that very file)."""
    for bundled in BUNDLED_GAMES:
        if bundled.__name__ == game_class.__name__:
            file = Path(inspect.getsourcefile(bundled) or "")
            try:
                mine = inspect.getsourcefile(game_class)
            except TypeError:
                mine = None
            if mine is None or Path(mine).resolve() != file.resolve():
                return f"gameserver/games/{file.name}"
    return ""


# ---------------------------------------------------------------- driver


def check_game(game_class: type[AbstractGame], seed: int, games: int = GAMES,
               time_budget: float = TIME_BUDGET, time_limit: float = TIME_LIMIT,
               stuck: Callable[[Report], None] | None = None) -> Report:
    """Run every check on one game class and return the report.

    Args:
        game_class: the game to check.
        seed: seed of the random choices, so that a run can be repeated.
        games: games to play in all.
        time_budget: seconds of play at most (the first game is played whatever its time).
        time_limit: seconds one call into the game may take.
        stuck: called (from another thread) with the report, its last problem
            saying so, when a call into the game goes on after it was stopped:
            nothing ends that call, so the command line prints and exits.
    """
    report = Report(game_class.__name__)

    def call_stuck(method: str, thread_id: int) -> None:
        assert stuck is not None
        place = words.running_line(game_class, sys._current_frames().get(thread_id))
        report.problem(words.stuck(method, time_limit, place, guard.blocked),
                       where=(f"{words.shown_path(place[0])}:{place[1]}" if place
                              else words.method_line(game_class, method)))
        stuck(report)

    guard = GameGuard(time_limit=time_limit, stuck=call_stuck if stuck else None)
    guard.where = lambda tb: words.stopped_at(game_class, tb)  # the student's line, as
    # LocalSession names it
    try:
        player_range = check_structure(game_class, report, guard)
        if player_range is None:
            return report
        low, high = player_range
        shared = defs.shared_values(game_class)
        random.seed(seed)  # games that use the random module directly
        player = Player(game_class, report, guard, random.Random(seed))
        counts = sorted({low, high, min(high, low + 1)})
        began = time.monotonic()
        played, tried = 0, set()
        for n in range(games):
            if len(report.found) >= 5:
                break
            if n and time.monotonic() > began + time_budget:  # (one game at least)
                report.remarks.append(_out_of_time(
                    played, games, time_budget, (time.monotonic() - began) / n,
                    player.largest_state,
                    any("took longer than" in p.text for p in report.found)))
                break
            report.game = n
            tried.add(counts[n % len(counts)])
            try:
                player.play(counts[n % len(counts)])
                played += 1
            except Stop:
                if player.listed == 0 and not report.found:
                    break  # guessing got stuck; nothing more to learn by repeating
                if player.state_too_large:
                    break  # each game would repeat it, slowly (tens of MB a state)
        _summarize(report, player, played, sorted(tried))
        turns = player.turn_problem()
        if turns:
            report.problem(turns, where=words.method_line(game_class, "current_player"))
        for problem, method in defs.shared_changes(shared):
            report.problem(problem, where=words.method_line(game_class, method) if method
                           else words.class_line(game_class))
        for problem in rlhooks.check_hooks(game_class, guard, seed, counts):
            report.problem(problem, where=_hook_line(game_class, problem))
    finally:
        guard.close()
    return report


def _hook_line(game_class: type[AbstractGame], problem: str) -> str:
    """Where to look for a ``problem`` of the learning hooks: the method it names first
    (``rl_observation``, ``legal_moves``), else the class (``rl_moves`` and the other
    hooks are class attributes)."""
    named = re.search(r"\b(rl_observation|legal_moves)\b", problem)
    return (words.method_line(game_class, named[1]) if named
            else words.class_line(game_class))


def _out_of_time(played: int, games: int, budget: float, per_game: float,
                 largest_state: int = 0, calls_stopped: bool = False) -> str:
    """Why only ``played`` of ``games`` games were played: the time was up. Calls
    stopped at the time limit (``calls_stopped``, a problem reported), or else a state of
    ``largest_state`` bytes from ``LARGE_STATE`` on, are named as the likely cause."""
    text = (f"Only {words.plural(played, 'game')} of {games} could be played in the "
            f"{budget:g} s the check takes: a game took about {per_game:.2g} s. ")
    if calls_stopped:
        return text + "Calls into your game ran out of time: see the problem above."
    if largest_state >= LARGE_STATE:
        return text + (
            f"Your states are large (up to {largest_state / 2**20:.1f} MB once sent), and "
            "the server sends every player a state after every move: return from state() "
            "only what a player needs to see now, and keep the rest in self.")
    return text + (
        "Is your game that slow on purpose? A print() in a loop, or many of them in move() "
        "or state(), makes every move slow, on the server too: take them out once you have "
        "found what you were looking for.")


def _summarize(report: Report, player: Player, played: int, counts: list[int]) -> None:
    if not played and report.found:
        return
    counts_text = " and ".join(str(c) for c in counts)
    if player.listed:
        longest = max(player.lengths)
        report.notes.append(
            f"played {words.plural(played, 'game')} with {counts_text} players using legal_moves "
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


def main(argv: list[str] | None = None, prog: str = "gameserver check") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Play many random games of a game to find bugs before players do.")
    parser.add_argument("target", help="a game file (mygame.py) or module (games.mygame)")
    parser.add_argument("--game", help="check only this class (default: every game found)")
    parser.add_argument("--games", type=int, default=GAMES,
                        help=f"games to play in all (default {GAMES})")
    parser.add_argument("--seed", type=int, help="random seed, to repeat a run exactly")
    parser.add_argument("--import-timeout", type=_seconds, default=IMPORT_TIMEOUT,
                        metavar="SECONDS",
                        help="seconds the file's import may take, as the server's "
                        f"game_import_timeout (default {IMPORT_TIMEOUT:g})")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    try:
        with CappedPrints.around():  # (prints at import time, a game printing its rules)
            classes = registry.load_target(args.target,
                                           import_limit(TIME_LIMIT, args.import_timeout))
    except registry.GameLoadError as err:
        print(f"PROBLEM  {err.checked or err}{_check_target.hint(args.target)}")
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


def _seconds(text: str) -> float:
    """A number of seconds from 0.1 to 1e9 (the server's settings' bounds: nan, inf, a
    negative time are no limit to keep)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not SECONDS_MIN <= value <= SECONDS_MAX:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds from {SECONDS_MIN:g} to {SECONDS_MAX:g}, not {text}")
    return value


def _report_all(classes: list[type[AbstractGame]], seed: int, games: int) -> int:
    failed = 0
    for game_class in classes:
        print(f"Checking {game_class.__name__} (seed {seed}) ...")

        def stuck(report: Report, name: str = game_class.__name__) -> None:
            """A call that nothing ends: report what was found, and end the process."""
            prints.end()  # (the game's thread goes on printing: no longer shown)
            _print_report(name, report, seed)
            sys.stdout.flush()
            os._exit(1)

        with CappedPrints.around() as prints:
            report = check_game(game_class, seed, games=games, stuck=stuck)
        failed += not _print_report(game_class.__name__, report, seed)
    sys.stdout.flush()
    return 1 if failed else 0


def _print_report(name: str, report: Report, seed: int) -> bool:
    """Print ``report`` of game ``name``; whether it passed."""
    for note in report.notes:
        _print("ok", note)
    for problem in report.found:
        print(f"  PROBLEM  {problem.render(words.WIDTH)}")
    for warning in report.warnings:
        _print("warning", warning)
    for remark in report.remarks:
        _print("note", remark)
    if report.ok:
        print(f"  {name} passed every check.")
    else:
        print(f"  {name}: {len(report.found)} problem(s). Fix them, "
              f"then run the same command again (add --seed {seed} to repeat this run).")
    return report.ok


def _print(label: str, text: str) -> None:
    print("\n".join(words.wrap(text, words.WIDTH, initial_indent=f"  {label:<9}",
                               subsequent_indent=words.INDENT)))
