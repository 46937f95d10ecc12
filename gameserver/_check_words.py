"""What ``python -m gameserver check`` tells a student: where to look, and what to change.

The checker's readers are first-term students. Every problem it reports
names a file and line (``mygames/my_game.py:42``) and says what to change
there, in the student's own terms: the move that broke the game, the exact
place in ``state()`` that cannot be sent, the ``return`` they forgot. This
module holds the ``Report`` (each problem once, with the number of games it
happened in), finds those places and writes those sentences; ``_check_play``
decides what is a problem.

(About 460 lines on purpose: the checker's sentences, and the helpers that
write them, stay in one place, where one problem's wording is read beside
the others'.)
"""

from __future__ import annotations

import ast
import difflib
import inspect
import json
import linecache
import re
import textwrap
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import TracebackType
from typing import Any

from . import registry
from .checked import json_problem
from .config import Settings
from .game import AbstractGame

# What declaring secrets means for people watching a game (issue 12). One place,
# so the wording follows the server's rules when they change.
WATCHERS_IF_SECRET = ("Declaring secrets also protects them from people watching: nobody "
                      "can watch a player of such a game without that player's agreement.")
WATCHERS_IF_PUBLIC = "anyone may watch any player"

_FRAMEWORK = Path(__file__).resolve().parent  # gameserver/, but not its games/ folder
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<name>\S+)$',
                    re.MULTILINE)
WIDTH = 100  # columns of the printed report
FIX_THAT_LINE = "Fix that line; the traceback below shows how your code got there."
# The server's time limit of a call into a game, by default (its game_call_timeout).
_SERVER_CALL_LIMIT = next(f.default for f in fields(Settings) if f.name == "game_call_timeout")
INDENT = " " * 11  # under the text of "  PROBLEM  "
_MAX_DEPTH = 40  # how deep unsendable() looks into nested values
# Exceptions that a move with a missing key or a value of the wrong kind causes.
_BAD_INPUT = ("KeyError", "TypeError", "IndexError", "ValueError", "AttributeError")


# ---------------------------------------------------------------- the report


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
            lines += wrap(paragraph, width - len(INDENT)) if width else [paragraph]
        text = ("\n" + INDENT).join(lines)
        return text + ("\n" + indent(self.details.rstrip()) if self.details else "")


@dataclass
class Report:
    """What the checker found for one game class."""

    name: str
    found: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was checked, and passed
    remarks: list[str] = field(default_factory=list)  # what could not be checked
    warnings: list[str] = field(default_factory=list)  # what works, but not as one expects
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


def plural(count: int, noun: str) -> str:
    """``1 game``, ``2 games``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def wrap(text: str, width: int, **indents: str) -> list[str]:
    """Lines of ``text`` at most ``width`` wide, never breaking a word, path or code."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False,
                         **indents)


def indent(text: str) -> str:
    """A traceback, indented under its problem."""
    return "\n".join("      " + line for line in text.splitlines())


# ---------------------------------------------------------------- where to look


def shown_path(filename: str) -> str:
    """``filename`` relative to the current folder when it lies inside it (as typed)."""
    path = Path(filename)
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return filename


def class_line(game_class: type) -> str:
    """``file:line`` of the ``class`` statement (just the file when the line is unknown)."""
    try:
        filename = inspect.getsourcefile(game_class) or ""
    except TypeError:
        filename = ""
    line = registry.source_line(game_class)
    return shown_path(filename) + (f":{line}" if line != "?" else "") if filename else ""


def method_line(game_class: type, method: str) -> str:
    """``file:line`` of the game's own ``def method``, or of its class when it has none."""
    code = _code(game_class, method)
    if code is None:
        return class_line(game_class)
    return f"{shown_path(code.co_filename)}:{code.co_firstlineno}"


def line_of(game_class: type, method: str) -> str:
    """``line N`` of the game's own ``def method`` (for a second place in a message)."""
    code = _code(game_class, method)
    return f"line {code.co_firstlineno}" if code is not None else "your class"


def _code(game_class: type, method: str) -> Any:
    found = inspect.getattr_static(game_class, method, None)
    if found is None or found is vars(AbstractGame).get(method):
        return None
    return getattr(getattr(found, "__func__", found), "__code__", None)


def failure_line(game_class: type, details: str) -> tuple[str, int] | None:
    """The file and line of the game's own code where a traceback ends.

    The deepest line in the game's file wins: a student's ``super().move(...)``
    or ``json.loads(...)`` is where they must look, not the code it called.
    Failing that, the deepest line outside the framework (``gameserver/``,
    but not ``gameserver/games/``).
    """
    frames = [(m["file"], int(m["line"])) for m in _FRAME.finditer(details)]
    own = inspect.getmodule(game_class)
    own_file = getattr(own, "__file__", None)
    for file, line in reversed(frames):
        if own_file and Path(file) == Path(own_file):
            return file, line
    for file, line in reversed(frames):
        if Path(file).resolve().parent != _FRAMEWORK:
            return file, line
    return None


def running_line(game_class: type, frame: Any) -> tuple[str, int] | None:
    """The file and line of the game's own code that ``frame`` (a thread's innermost
    frame) or one of its callers runs now: the deepest in the game's file."""
    own_file = getattr(inspect.getmodule(game_class), "__file__", None)
    while own_file and frame is not None:
        if Path(frame.f_code.co_filename) == Path(own_file):
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return None


def stopped_at(game_class: type, tb: TracebackType | None) -> str:
    """Where in the game's own file a call that ran out of time was stopped, for the end
    of the guard's message (``GameGuard.where``): `` in file F, line N: `code` ``, or ""
    when no entry of the interrupted call's traceback ``tb`` is in that file.

    The deepest such entry: not a framework line, and not a line of a module the game
    calls into (``random``), where the stop may land too; the game's call of it is shown.
    """
    own_file = getattr(inspect.getmodule(game_class), "__file__", None)
    place = None
    while own_file and tb is not None:
        if Path(tb.tb_frame.f_code.co_filename) == Path(own_file):
            place = tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    if place is None:
        return ""
    code = linecache.getline(*place).strip()
    return f" in file {shown_path(place[0])}, line {place[1]}" + (f": `{code}`" if code else "")


# ---------------------------------------------------------------- what to change


# What to do about a time.sleep() in a game call, wherever it was found.
SLEEP_ADVICE = ("time.sleep() makes your game wait, and every player with it: a game answers "
                "at once. Take the sleep out (a client may wait between moves, if it wants to).")


def _running(place: tuple[str, int] | None, shown: bool = False) -> tuple[str, str]:
    """`` It was running line N: `code`.`` (``shown``: with the file) for ``place``, and the
    code alone ("" where unknown)."""
    line = linecache.getline(place[0], place[1]).strip() if place else ""
    if not (place and line):
        return "", ""
    where = f"{shown_path(place[0])}:{place[1]}" if shown else f"line {place[1]}"
    return f" It was running {where}: `{line}`.", line


def _waiting(line: str) -> str:
    """What to change about a call that waits (blocked, not running) at ``line``."""
    if re.search(r"\bsleep\(", line):
        return " " + SLEEP_ADVICE
    return (" A game must not wait for anything (time.sleep(), input(), a file or the "
            "network): a call into it answers at once.")


def stuck(method: str, time_limit: float, place: tuple[str, int] | None,
          blocked: bool = False) -> str:
    """What to do about a call that went on after the checker stopped it; ``blocked``: it
    waited all along (``time.sleep``), which no stop can end before it returns."""
    running, line = _running(place)
    if blocked or re.search(r"\bsleep\(", line):
        return (f"{method}() never returned: it has waited longer than twice the checker's "
                f"limit of {time_limit:g} s, and a call that waits cannot be stopped before "
                f"it ends.{running}{_waiting(line)} The checker stopped here: nothing else "
                "can end that call.")
    return (f"{method}() never returned: the checker stopped it after {time_limit:g} s, "
            "but it went on running, so your code caught the stop. A bare `except:` (or "
            f"`except BaseException:`) in a loop that does not end does that.{running} "
            "Catch only the errors you expect there (for "
            "example `except ValueError:`) and make sure the loop ends. The checker stopped "
            "here: nothing else can end that call.")


def stuck_in_process(game: str, method: str, time_limit: float, setting: str,
                     place: tuple[str, int] | None, interrupted: bool,
                     blocked: bool = False) -> str:
    """Why a program that runs game ``game`` in itself ends: ``method()`` never returned;
    ``blocked``: it waited all along (``time.sleep``), which no stop can end."""
    running, line = _running(place, shown=True)
    if blocked or re.search(r"\bsleep\(", line):
        return (f"gameserver: game {game}: {method}() never returned: it has waited longer "
                f"than twice the time limit of {time_limit:g} s ({setting}), and a call that "
                f"waits cannot be stopped before it ends.{running}{_waiting(line)} Nothing "
                "else can end that call, so this program ends here.")
    if not interrupted:
        return (f"gameserver: game {game}: {method}() never returned: it ran longer than "
                f"the time limit of {time_limit:g} s ({setting}), and this Python cannot "
                f"stop a call.{running} Make sure the loop ends. Nothing else can end that "
                f"call, so this program ends here.")
    return (f"gameserver: game {game}: {method}() never returned: it ran longer than the "
            f"time limit of {time_limit:g} s ({setting}) and was stopped, but it went on "
            "running, so your code caught the stop. A bare `except:` (or `except "
            f"BaseException:`) in a loop that does not end does that.{running} Catch only "
            "the errors you expect there (for example `except ValueError:`) and make sure "
            "the loop ends. (A call blocked in `time.sleep` or `input()` is not stopped "
            "either.) Nothing else can end that call, so this program ends here.")


def too_slow(message: str) -> str:
    """What to do about a call that took longer than its limit (the guard's ``message``,
    ending with the line it was stopped at): a ``sleep`` there waits on purpose."""
    if re.search(r"`[^`]*\bsleep\(", message):
        return ". " + SLEEP_ADVICE
    return (". Look for a loop that never stops, or work that takes too long (trying every "
            "possible move many times over): a call into your game may take at most "
            f"{_SERVER_CALL_LIMIT:g} s on the server (its game_call_timeout), less in the "
            "check.")


def not_replayable(differed: tuple[int, Any, Any, Any] | None) -> str:
    """A game played again from its seed with the same moves came out differently: at its
    start (``differed`` None), or at move number N, ``(N, move, reply, reply again)``."""
    if differed is None:
        where = ("A new game made twice from the same seed started differently (player 0's "
                 "first state differed)")
    else:
        number, move, reply, again = differed
        where = (f"A game played again from its seed with the same moves came out "
                 f"differently: move {number}, {short(move, 80)}, got "
                 f"{short(_verdict(reply), 80)} the first time and "
                 f"{short(_verdict(again), 80)} the second")
    return (f"{where}. The server saves a game as its seed and its moves, and plays them "
            "again to bring the game back after it restarts; `check --seed` repeats a run "
            "the same way. Does your game make random numbers of its own (random.Random(), "
            "random.seed(...), numpy.random) or read the clock? Call the random module's "
            "functions directly (random.randint(1, 6), random.shuffle(cards)) and do not "
            "seed them: the server seeds them for each game.")


def _verdict(reply: dict[str, Any]) -> Any:
    """A move's reply in short: "ok", or what rejected it."""
    return "ok" if reply.get("status") == "ok" else reply.get("message")


def never_on_turn(never: list[int], seen: list[int], players: int, games: int) -> str:
    """Players ``never`` had a turn in ``games`` games of ``players`` players; only ``seen``
    did: the turn is not passed on (or current_player() does not say so)."""
    def ids(found: list[int]) -> str:
        return ("player" + "s" * (len(found) > 1) + " " + " and ".join(map(str, found))
                if found else "nobody")

    return (f"In {plural(games, 'game')} with {players} players, {ids(never)} never had a "
            f"turn: current_player() only ever named {ids(seen)}. Does "
            "move() pass the turn on? After a good move, make it the next player's turn, for "
            "example `self.turn = (self.turn + 1) % self.players` (self.players: the number "
            "of players __init__ was given), and return [self.turn] from current_player().")


def forgot_return(value: Any) -> str:
    """A hint when a method gave ``None``: usually a missing ``return``."""
    if value is not None:
        return ""
    return (" Did you forget `return`? A method without `return` gives None: end it with "
            "`return ...` and the value.")


def failure_text(message: str) -> str:
    """A game call's failure in the server's words (``GameCodeError``), without its
    "framework: game NAME: " (the student knows which game): ``move() raised KeyError: 'x'``."""
    return re.sub(r"^game \S+: ", "", message.removeprefix("framework: "))


def move_raised(game_class: type, message: str, details: str, move: dict[str, Any],
                game: object = None) -> str:
    """What to change when ``move(move)`` failed with the server's ``message`` (a
    ``GameCodeError``'s, its traceback ``details``): ``move_failed``'s advice, after the
    file and line to look at; "" when the failure is not an exception ``move`` raised.
    ``LocalSession`` adds it to its error as a note: a test says what the checker says."""
    text = failure_text(message)
    if not text.startswith("move() raised "):
        return ""
    place = failure_line(game_class, details) if details else None
    advice = move_failed(move, text.removeprefix("move() raised "), place, game)
    return f"{shown_path(place[0])}:{place[1]}: {advice}" if place else advice


# What a student's move() returns for a good move when they think a text says "done".
_ACCEPTED_WORDS = frozenset({
    "ok", "okay", "done", "success", "successful", "valid", "valid move", "accepted",
    "move accepted", "good", "fine", "moved", "yes", "true", "legal", "legal move", "ok move",
    "move ok", "move done", "move made", "success!"})


def sounds_accepted(rejection: Any) -> bool:
    """Whether ``move``'s rejection (the text it returned) says the move was fine ("ok",
    "done"): the server refuses a move for any text, so the game could not be played."""
    return (type(rejection) is str
            and rejection.strip().rstrip(".!").lower().removeprefix("game: ") in _ACCEPTED_WORDS)


def returned_accepted(rejection: str) -> str:
    """What to change when ``move`` returned ``rejection``, a text that says "done" (as the
    player gets it, after "game: ", or as the game returned it)."""
    rejection = rejection.removeprefix("game: ")
    return (f"returned {rejection!r}, as if the move were fine, but the server takes any "
            "text move() returns as the reason the move is refused: the player gets the error "
            f"'game: {rejection}', and the move is refused. Return nothing (None, or no `return` "
            "at all) when the move is fine and done, and a text only when it is wrong, "
            "saying what is wrong, for example `return \"that cell is taken\"`.")


def move_failed(move: dict[str, Any], exception: str, place: tuple[str, int] | None,
                game: object = None) -> str:
    """What to do when ``move(move)`` raised ``exception`` (``"ValueError: ..."``).

    A ``raise`` the student wrote means they reject a move the wrong way: the
    fix is to return the message. An exception that bad input causes means
    the move was used before it was checked; but an attribute the game object
    (``game``, if known) lacks is a misspelt name, whatever the move.
    """
    failed = f"move({short(move, 100)})"
    line = linecache.getline(place[0], place[1]).strip() if place else ""
    if line.startswith("raise"):
        return (f"{failed} raised {exception}. A bad move must not raise an exception: "
                f"return the message instead of raising it: `{_as_return(line)}`. The player "
                "then gets that message and may try again.")
    missing = no_such_attribute(exception, game) if game is not None else ""
    if missing:
        return f"{failed} made your code fail with {exception}: {missing}"
    known = beginner_slip(exception, game, line)
    if known:
        return f"{failed} made your code fail with {exception}. {known}"
    if exception.split(":")[0] in _BAD_INPUT:
        return (f"{failed} made your code fail with {exception}. A move comes from a "
                "player and may be anything (a missing key, text instead of a number): check "
                "it before you use it, and return a message that says what to send instead, "
                'for example `if "x" not in move: return "send x=..."`.')
    return f"{failed} made your code fail with {exception}. {FIX_THAT_LINE}"


def no_such_attribute(exception: str, game: object) -> str:
    """What to change when ``exception`` (``"AttributeError: ..."``) says that ``game`` (the
    game, or its class while ``__init__`` runs) has no attribute it used: a misspelt name,
    or one not set yet; "" for any other exception."""
    missing = re.match(r"AttributeError: '(\w+)' object has no attribute '(\w+)'", exception)
    game_class = game if isinstance(game, type) else type(game)
    if not missing or missing[1] != game_class.__name__:
        return ""
    name = missing[2]
    known = [n for n in [*getattr(game, "__dict__", ()), *dir(game_class)]
             if not n.startswith("__")]  # (a game with __slots__ has no __dict__)
    guess = difflib.get_close_matches(name, known, n=1)
    hint = (f"Is it misspelt? Your game has self.{guess[0]}." if guess else
            f"Set it in __init__ (self.{name} = ...) before any method uses it.")
    return f"your game has no self.{name}. {hint} Fix that line."


def beginner_slip(exception: str, game: object, line: str = "") -> str:
    """What to change for an exception (``"NameError: ..."``) that a first-term slip
    causes, whatever the move: ``move.add`` for ``move["add"]``; a name without the
    ``self.`` of the game's attribute (``game``: the game, or its class); ``players[0]``
    or ``for p in players`` in ``__init__`` (``line``: the code that failed), where
    ``players`` is a number. "" for any other exception."""
    found = re.match(r"AttributeError: 'dict' object has no attribute '(\w+)'", exception)
    if found:
        key = found[1]
        return (f"A dict's values are read with [...], not with a dot: the move is a dict, so "
                f"write `move[\"{key}\"]` (or `move.get(\"{key}\")` where it may be missing), "
                f"not `move.{key}`. Fix that line.")
    found = re.match(r"(?:NameError: name|UnboundLocalError: cannot access local variable) "
                     r"'(\w+)'", exception)
    game_class = game if isinstance(game, type) else type(game)
    if found and game is not None and (found[1] in getattr(game, "__dict__", ())
                                       or hasattr(game_class, found[1])):
        name = found[1]
        return (f"Your game keeps {name} as self.{name}: write `self.{name}` there (a name "
                "without `self.` is a variable of that one method, which starts out "
                "empty every time the method runs).")
    if (re.match(r"TypeError: 'int' object is not (subscriptable|iterable)", exception)
            and re.search(r"\bplayers\b", line)):
        return ("`players` is the number of players (an int, for example 2), not a list of "
                "them: the players' ids are 0 to players - 1, `range(players)`.")
    return ""


# What to change when state() returned a tuple: a comma after its dict, most often.
TUPLE_STATE = (". A comma after the closing brace makes one: `return {...},` gives a tuple "
               "holding your dict. Take the comma out.")
# ... and anything else but a dict (the board alone, a list of values).
NOT_A_DICT_STATE = (". Put what a player sees in a dict, a name for each part, for example "
                    "`return {\"board\": self.board, \"winner\": self.winner}`: the server "
                    "adds \"current\" and \"gameover\" to it, and a client reads "
                    "state[\"board\"].")


def state_not_a_dict(text: str) -> str:
    """What to change when ``text`` (the server's words, without "framework: game X: ")
    says state() returned no dict; "" when it says something else (None: a forgotten
    ``return``, ``forgot_return``)."""
    if not text.startswith("state() must return a dict, not ") or text.endswith("NoneType"):
        return ""
    return TUPLE_STATE if text.endswith(", not tuple") else NOT_A_DICT_STATE


def raised(exception: str, game: object, line: str = "") -> str:
    """What to change where a game method other than ``move`` raised ``exception``
    (``"KeyError: 'x'"``) in ``game`` (its class for ``__init__``) at the code ``line``:
    a missing attribute's likely cause, a beginner's slip, or to fix that line."""
    missing = no_such_attribute(exception, game)
    if missing:
        return missing[0].upper() + missing[1:]
    return beginner_slip(exception, game, line) or FIX_THAT_LINE


def call_failed(game_class: type, message: str, details: str, game: object = None) -> str:
    """What to change when a game call other than ``move`` failed with the server's
    ``message`` (a ``GameCodeError``'s, its traceback ``details``): the file and line and
    the checker's advice for an exception it raised; the comma that made ``state()`` a
    tuple; "" otherwise. For ``LocalSession``'s note, with the game's own traceback
    (its error, raised in the test, shows the test's)."""
    text = failure_text(message)
    if state_not_a_dict(text):
        return state_not_a_dict(text).removeprefix(". ")
    if not re.match(r"\w+\(\) raised ", text):
        return ""
    place = failure_line(game_class, details) if details else None
    line = linecache.getline(place[0], place[1]) if place else ""
    advice = raised(text.partition(" raised ")[2], game if game is not None else game_class,
                    line)
    where = f"{shown_path(place[0])}:{place[1]}: " if place else ""
    return f"{where}{advice}" + (f"\n{details.rstrip()}" if details else "")


def _as_return(line: str) -> str:
    """``raise ValueError(f"...")`` → ``return f"..."``: the same message, returned."""
    try:
        raised = ast.parse(line).body[0]
    except (SyntaxError, IndexError):
        raised = None
    if (isinstance(raised, ast.Raise) and isinstance(raised.exc, ast.Call)
            and len(raised.exc.args) == 1 and not raised.exc.keywords):
        return "return " + (ast.get_source_segment(line, raised.exc.args[0]) or '"..."')
    return 'return "what was wrong, and what to send instead"'


def unsendable(value: Any, path: str = "state()", depth: int = 0,
               inside: frozenset[int] = frozenset()) -> str | None:
    """Where in ``value`` the first thing is that JSON cannot send, and what to do.

    Returns ``None`` when all of ``value`` can be sent. The judge is the
    server's own rule (``checked.json_problem``); this only finds the part
    it refused, e.g. ``state()["guesses"][0]["pegs"] is a set``.
    """
    if _sendable(value):
        return None
    if id(value) in inside:
        return f"{path} contains itself, which cannot be sent: put a copy in the state."
    if depth < _MAX_DEPTH and isinstance(value, dict):
        for key, item in value.items():
            if not _sendable({key: None}):
                return (f"{path} has the key {key!r}, a {type(key).__name__}: keys must be "
                        "text (str), for example str(key).")
            found = unsendable(item, f"{path}[{json.dumps(key)}]", depth + 1,
                               inside | {id(value)})
            if found:
                return found
    elif depth < _MAX_DEPTH and isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = unsendable(item, f"{path}[{index}]", depth + 1, inside | {id(value)})
            if found:
                return found
    return f"{path} is {_what_it_is(value)}"


def converted_key(value: Any, path: str = "state()") -> str | None:
    """Where ``value`` (a state as the game returned it) has a key None, True or False,
    which JSON sends as the text "null", "true" or "false", and what to do; None if
    nowhere."""
    found = _odd_key(value, lambda key: key is None or type(key) is bool, path)
    if found is None:
        return None
    where, key = found
    return (f"{where} has the key {key!r}, which JSON sends as the text "
            f"\"{json.dumps(key)}\": the client gets the key \"{json.dumps(key)}\", "
            f"and no key {key!r}. A key {key!r} usually comes from a variable that is "
            f"still {key!r} (`{{self.winner: ...}}` before anyone has won): use text "
            "keys that say what they are, and leave the entry out until it has one.")


# A key of digits in a state reply (``"0":``): maybe a number the game used as a key
# (``number_key`` tells, from the state as the game returned it).
NUMBER_KEY = re.compile(rb'"-?[0-9][0-9.eE+-]*":')


def number_key(value: Any, path: str = "state()") -> str | None:
    """Where ``value`` (a state as the game returned it) has a number as a key (a player's
    id: ``{0: 12, 1: 7}``), which JSON sends as text: the client (and ``LocalSession``,
    which gives what a client gets) finds the key "0" and no key 0, a ``KeyError`` a
    student could not explain. What to do; None if nowhere."""
    found = _odd_key(value, lambda key: type(key) in (int, float), path)
    if found is None:
        return None
    where, key = found
    text = json.dumps({key: None})[1:-7]  # (the key as JSON sends it: "0", "1.5")
    client = "state" + where.removeprefix("state()")  # (what a client's code reads)
    return (f"{where} has the key {key!r}, a number, but JSON sends every key as text: the "
            f"client gets the key {text} and no key {key!r}, so `{client}[{text}]` works and "
            f"`{client}[{key!r}]` is a KeyError. Use text keys (str(player_id)) and read them "
            "as text, or send a list instead: [12, 7] in place of {0: 12, 1: 7}, read as "
            "scores[player_id].")


def _odd_key(value: Any, odd: Any, path: str, depth: int = 0) -> tuple[str, Any] | None:
    """The first key inside ``value`` for which ``odd(key)`` is true, and the place of the
    dict that has it (``state()["scores"]``); None if none."""
    if depth >= _MAX_DEPTH:
        return None
    items = (value.items() if isinstance(value, dict) else
             enumerate(value) if isinstance(value, (list, tuple)) else ())
    for key, item in items:
        if isinstance(value, dict) and odd(key):
            return path, key
        found = _odd_key(item, odd, f"{path}[{json.dumps(key)}]", depth + 1)
        if found:
            return found
    return None


def _sendable(value: Any) -> bool:
    try:
        return not json_problem(value)
    except RecursionError:  # nested too deep for the encoder: not sendable either
        return False


def _what_it_is(value: Any) -> str:
    if isinstance(value, (set, frozenset)):
        return ("a set, and JSON has no sets: make it a list, for example sorted(...) or "
                "list(...).")
    if isinstance(value, float):
        return f"{value}, a number JSON cannot send: use None, or a real number."
    if isinstance(value, (bytes, bytearray)):
        return "bytes: make it text, for example with .decode()."
    return (f"a {type(value).__name__} object, which cannot be sent: send its data instead, "
            "as a dict, a list, text or numbers.")


# ---------------------------------------------------------------- secrets


def path_to(haystack: Any, needle: Any, path: str = "state()") -> str | None:
    """The first place (``state()["hand"][2]``) where ``needle`` is ``haystack`` or inside it."""
    if haystack == needle and type(haystack) is type(needle):
        return path
    items: Any = ()
    if isinstance(haystack, dict):
        items = ((json.dumps(k), v) for k, v in haystack.items())
    elif isinstance(haystack, list):
        items = enumerate(haystack)
    for key, value in items:
        found = path_to(value, needle, f"{path}[{key}]")
        if found:
            return found
    return None


def first_difference(one: Any, other: Any, path: str = "state()") -> tuple[str, Any, Any] | None:
    """The first place where two states differ, with both values; None if they are equal."""
    if one == other and type(one) is type(other):
        return None
    if isinstance(one, dict) and isinstance(other, dict):
        for key in [*one, *(k for k in other if k not in one)]:
            found = first_difference(one.get(key), other.get(key), f"{path}[{json.dumps(key)}]")
            if found:
                return found
    elif isinstance(one, list) and isinstance(other, list) and len(one) == len(other):
        for index, (a, b) in enumerate(zip(one, other, strict=True)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
    return path, one, other


def undeclared_secrets(difference: tuple[str, Any, Any], other: int) -> str:
    """Players see different states, but the game declares no secrets."""
    path, mine, theirs = difference
    return (
        f"Players see different states: {path} is {short(mine)} for player 0 but "
        f"{short(theirs)} for player {other}. That is how a game with secrets looks, but "
        "your game declares none, so the checker could not check that the secrets stay "
        "secret.\n"
        "If something is secret, add private_data(self, player_id) to your class and return "
        "that player's secrets (for example `return [self.code]`): the checker then makes "
        f"sure no other player sees them. {WATCHERS_IF_SECRET}\n"
        "If nothing is secret (each player just sees their own part), add the line "
        "`hidden_information = False` to your class.")


def leaked(game_class: type, value: Any, owner: int, other: int, where: str,
           secrets: list[Any], owner_state: dict[str, Any], public_words: list[str],
           ) -> tuple[str, str]:
    """Player ``other`` sees ``value`` (at ``where``) that ``private_data(owner)`` listed.

    Returns:
        What to tell the student, and the method to fix: ``state`` for a real
        leak, ``private_data`` when what it lists is public anyway.
    """
    whole = path_to(owner_state, secrets) if len(secrets) > 1 else None
    shown = f"Player {other}'s {where} is {short(value)}"
    if whole:
        expression = return_expression(game_class, "private_data")
        fix = f"`return [{expression}]`" if expression else "put it in a list: `return [...]`"
        return (f"{shown}, one of the values private_data({owner}) returned: {short(secrets)}. "
                f"That is player {owner}'s {whole} taken apart, and its parts are public "
                "anyway. List the secret as it is, as one value: " + fix + ".", "private_data")
    if value in public_words or type(value) in (int, float, bool) or value is None:
        return (f"{shown}, which private_data({owner}) lists as a secret of player {owner}. "
                f"But {short(value)} is probably public anyway (it is a fixed value in your "
                "code, or a bare number): private_data should list the secret as it is (the "
                "whole code, the card), or something only that player can know. If "
                f"{short(value)} really is secret there, leave it out of player {other}'s "
                "state.", "private_data")
    return (f"{shown}, which private_data({owner}) says only player {owner} may see. Leave it "
            f"out of state() for other players (show it only if player_id == {owner}). If "
            "everybody may see it by now (for example once the game is over), stop listing "
            "it in private_data.", "state")


def state_too_large(player: int, size: int, limit: int, state: Any) -> str:
    """Why a state of ``size`` bytes (as sent) fails on the server, whose bound is ``limit``
    bytes, and what to keep out of it; ``state`` is the state itself, to name its largest
    part."""
    largest = ""
    if isinstance(state, dict) and state:
        sizes = {key: len(json.dumps(value, ensure_ascii=False)) for key, value in state.items()}
        key = max(sizes, key=sizes.__getitem__)
        if sizes[key] * 2 > size:  # (most of it: worth naming)
            largest = f" Most of it is state()[{json.dumps(key)}] ({_megabytes(sizes[key])})."
    return (f"Player {player}'s state is {_megabytes(size)} once sent, more than the "
            f"{_megabytes(limit)} the server sends of one state: it runs a game from its "
            "games folder in a worker process, which refuses a larger state, so on the "
            f"server every state request of this game fails with an error.{largest} Return "
            "from state() only what a player needs to see now (the board, whose turn it is, "
            "the scores), not everything that happened or a big text; keep the rest in "
            "self, where no player receives it.")


def _megabytes(size: int) -> str:
    """``size`` bytes in MB (MiB, as the server's bounds are set), ``"30 MB"``."""
    megabytes = size / 2**20
    return f"{megabytes:.0f} MB" if megabytes >= 10 else f"{megabytes:.1f} MB"


def return_expression(game_class: type, method: str) -> str | None:
    """The source of ``X`` when the game's ``method`` has exactly one ``return X``."""
    code = _code(game_class, method)
    if code is None:
        return None
    try:
        source = textwrap.dedent(inspect.getsource(getattr(game_class, method)))
        returns = [node for node in ast.walk(ast.parse(source))
                   if isinstance(node, ast.Return) and node.value is not None]
    except (OSError, TypeError, SyntaxError):
        return None
    return ast.get_source_segment(source, returns[0].value) if len(returns) == 1 else None


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: a value inside a sentence."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
