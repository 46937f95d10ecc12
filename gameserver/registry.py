"""Finding the games a server offers: the bundled ones and those in game folders.

Every ``.py`` file in a games folder is imported (by default in a worker
process of its own, see ``gameserver.isolated``; ``discover`` imports into
this process, within a time limit: ``_import_limit``) and each
``AbstractGame`` subclass defined in it is registered under its class name.
Test files (``test_*.py``, ``*_test.py``, ``conftest.py``) are skipped:
students keep their tests next to their games, and a test file is never a
game. A file that fails to import, a class that misses a required method, or
a second game with a name already taken is reported in one log line (file,
line, what to fix) and skipped; the server starts with the other games.

This module is also the one place that finds the game classes in a file or
module, for the server and for ``python -m gameserver check`` alike.

Game files written for the classic server start with
``from abstract_game import AbstractGame``; that import is pointed at
``gameserver.game`` so those files load unchanged.

(About 480 lines on purpose: every way a file or module fails to load, in the
server, a worker or ``check``, is said here, in words that share ``_fixable``;
the running of an import within its limit is ``_import_limit``'s.)
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import logging
import re
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any, TypeVar

from . import game as game_module
from ._import_limit import ImportStuck, TrialFailed, file_of, run_import, trial_imports
from .checked import range_problem
from .game import AbstractGame
from .guard import GameCallTimeout

log = logging.getLogger("gameserver.registry")

T = TypeVar("T")

REQUIRED_METHODS = ("__init__", "min_players", "max_players", "current_player",
                    "move", "game_over", "state")

# Classic game files import the base class from a top-level module of this name.
sys.modules.setdefault("abstract_game", game_module)


class GameLoadError(Exception):
    """A game file or class cannot be used; the message says where and why.

    ``checked``, when set, is the message as ``python -m gameserver check`` says it:
    the same without the server's advice ("then restart the server").
    """

    checked: str | None = None


def missing_methods(game_class: type) -> list[str]:
    """Names of required methods that ``game_class`` does not implement itself."""
    return [name for name in REQUIRED_METHODS
            if getattr(game_class, name, None) is getattr(AbstractGame, name)]


def misspelt_hint(game_class: type[AbstractGame], name: str) -> str:
    """`` You wrote a method called 'moves': rename it to 'move'.`` for a missing method
    ``name`` when the class has one of a name close to it, else "".

    Only methods the base class does not have are guessed: a game without ``game_over``
    was told to rename its ``move`` (close enough by spelling) to ``game_over``.
    """
    own = [n for n, v in vars(game_class).items()
           if (callable(v) or isinstance(v, (staticmethod, classmethod)))
           and not hasattr(AbstractGame, n)]
    guess = difflib.get_close_matches(name, own, n=1, cutoff=0.6)
    return f" You wrote a method called '{guess[0]}': rename it to '{name}'." if guess else ""


class _FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles a game file from its text at every load: no cached bytecode is read or
    written for it. Python's cache (``__pycache__``) trusts a file whose modification
    time, in whole seconds, and size are unchanged: a file edited within the second it
    was loaded, at the same length (a 3 made a 4), ran its old code at the next start,
    and a server's saved sessions were checked against the old class."""

    def get_code(self, fullname: str) -> CodeType:
        return self.source_to_code(self.get_data(self.path), self.path)  # type: ignore[arg-type]


def load_module(path: Path, time_limit: float | None = None) -> list[type[AbstractGame]]:
    """Import one game file and return the game classes defined in it.

    Args:
        path: the file.
        time_limit: seconds the import may take (``_import_limit``: an import that
            does not end in time is given up, and still runs); None: no limit, on
            this thread (a worker, whose import the server interrupts).

    Raises:
        GameLoadError: the file cannot be imported; the message names the
            file, the line and the error.
    """
    # A unique, importable name that stays the same from one start to the next:
    # the store pickles game objects, and pickle finds their classes by module name.
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module_name = f"_gameserver_games_{digest}_{path.stem}"
    spec = importlib.util.spec_from_file_location(
        module_name, path, loader=_FreshSourceLoader(module_name, str(path)))
    if spec is None or spec.loader is None:
        raise GameLoadError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        if time_limit is None:
            spec.loader.exec_module(module)
        else:
            run_import(path, functools.partial(spec.loader.exec_module, module), time_limit)
    except ImportStuck as err:  # (left in sys.modules: its import goes on, and may use it)
        raise _fixable(
            f"{path}:{err.line}: importing the file never ended: it went on after it was "
            f"stopped at the time limit of {time_limit:g} s (a loop that catches every "
            "exception, or a call that waits: time.sleep, input()). It still runs, in this "
            "process; make the file's top level and class bodies end, then ") from None
    except GameCallTimeout as err:
        del sys.modules[module_name]
        raise _fixable(
            f"{path}:{_line_in(path, err)}: importing the file took longer than "
            f"{time_limit:g} s and was stopped (an endless loop at the file's top level or "
            "in a class body?): fix that line, then ") from None
    except SyntaxError as err:
        del sys.modules[module_name]
        raise _fixable(f"{path}:{err.lineno}: syntax error: {err.msg} (fix that line, then ",
                       ")") from None
    except BaseException as err:  # noqa: BLE001 - any failure of student code
        del sys.modules[module_name]
        line = _line_in(path, err)
        raise GameLoadError(f"{path}:{line}: importing the file raised "
                            f"{type(err).__name__}: {err}{_import_hint(err)}") from None
    return game_classes(module)


def _fixable(fix: str, end: str = "") -> GameLoadError:
    """The error ``fix`` + "restart the server" + ``end``; for the checker, "run the check
    again" in place of the restart."""
    error = GameLoadError(fix + "restart the server" + end)
    error.checked = fix + "run the check again" + end
    return error


def _import_hint(err: BaseException) -> str:
    """How to import the base class, when ``err`` is the import of a guess at its module
    (``from game import AbstractGame``, as a file next to it in another project had it)."""
    name = getattr(err, "name", None) if isinstance(err, ModuleNotFoundError) else None
    if (name or "").split(".")[0].lower() in ("game", "abstractgame"):
        return " (import the base class with: from gameserver.game import AbstractGame)"
    return ""


def load_target(target: str, time_limit: float | None = None) -> list[type[AbstractGame]]:
    """The game classes of a game file (``path/to/game.py``) or module (``games.mine``).

    ``time_limit``: seconds a game file's import may take (``load_module``).

    Raises:
        GameLoadError: the file does not exist or cannot be imported.
    """
    path = Path(target)
    try:  # (Path.exists and is_dir raise for a folder not to be entered, a name too long)
        a_file = target.endswith(".py") or path.exists()
        if a_file and path.is_dir():
            raise GameLoadError(f"{target} is a folder, not a game file")
        if a_file and not path.is_file():
            raise GameLoadError(f"{target}: no such file")
    except OSError as err:
        raise GameLoadError(f"{target}: {err.strerror or err}") from None
    if a_file:
        return load_module(path.resolve(), time_limit)
    return game_classes(_import_module(target, time_limit))


def _import_module(name: str, time_limit: float | None) -> ModuleType:
    """Import module ``name`` (``games.my_game``) within ``time_limit`` seconds, as
    ``load_module`` a file (until 2026-12-01 a module's import had no limit: ``check
    games.my_game`` with a loop at its top never ended).

    Raises:
        GameLoadError: it cannot be imported, or not in time.
    """
    imported: list[ModuleType] = []
    try:
        if time_limit is None:
            imported.append(importlib.import_module(name))
        else:  # (the file that overran is known once it is being imported: ``__file__``)
            run_import(name, lambda: imported.append(importlib.import_module(name)),
                       time_limit)
    except ImportStuck as err:
        raise _fixable(
            f"{_where(name, err.line)}: importing module {name} never ended: it went on "
            f"after it was stopped at the time limit of {time_limit:g} s (a loop that "
            "catches every exception, or a call that waits: time.sleep, input()); make "
            "its top level and class bodies end, then ") from None
    except GameCallTimeout as err:  # (its module is gone from sys.modules: the innermost
        last = traceback.extract_tb(err.__traceback__)[-1:]  # line, in its file or below)
        raise _fixable(
            f"{f'{last[0].filename}:{last[0].lineno}' if last else name}: importing module {name} "
            f"took longer than {time_limit:g} s and was stopped (an endless loop at its top "
            "level or in a class body?): fix that line, then ") from None
    except BaseException as err:  # noqa: BLE001 - any failure of student code
        raise GameLoadError(
            f"cannot import module {name}: {type(err).__name__}: {err}") from None
    return imported[0]


def _where(name: str, line: int | str) -> str:
    """``path/to/module.py:12`` for module ``name`` at ``line``; the module's name where
    its file is unknown."""
    file = file_of(name)
    return f"{file}:{line}" if file else name


def game_classes(module: ModuleType) -> list[type[AbstractGame]]:
    """The game classes defined in ``module`` itself, not those it imports."""
    return [obj for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, AbstractGame)
            and obj is not AbstractGame and obj.__module__ == module.__name__]


def not_a_class(value: object, taker: str) -> str | None:
    """What to say when ``taker`` (``LocalSession``, ``aec_env``) was handed ``value``
    where it takes a game's class, or None for a class. A student passes the game made
    (``MyRace(2)``) or its name, and met ``'MyRace' object has no attribute '__name__'``."""
    if isinstance(value, type):
        return None
    if callable(getattr(type(value), "move", None)):
        what = (f"a game made from it ({type(value).__name__}(...)): pass the class "
                f"itself, {type(value).__name__}, without parentheses; {taker} makes the "
                "game")
    elif isinstance(value, str):
        what = (f"the text {value[:100]!r}: import the class from its file (from my_race "
                "import MyRace) and pass that")
    else:
        what = f"{type(value).__name__} {repr(value)[:100]}"
    return f"{taker} takes your game's class (such as MyRace), not {what}"


def is_test_file(path: Path) -> bool:
    """Whether ``path`` is named like a pytest file (never loaded as a game)."""
    name = path.name
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


# A class defined at the top of a file, and its bases (``class_lines``).
# (Its bases read up to 400 characters: unbounded, a file of ``class A(`` lines without a
# ")" took the regex quadratic time, 0.25 s for 45 KB, minutes for a megabyte.)
_CLASS_LINE = re.compile(r"^class[ \t]+([^\W\d]\w*)[ \t]*(\([^)]{0,400}\))?", re.MULTILINE)
_SOURCE_READ_MAX = 1 << 20  # characters of a file read for its class lines


def class_lines(path: Path) -> list[tuple[str, str]]:
    """The classes ``path`` defines at its top, as ``(name, bases)`` (bases: the text in
    parentheses with them, or ""), in the file's order; [] if it cannot be read.

    Read as text, not imported: a file with a syntax error, or one that would fail or
    hang when imported, has its class names too. For the hints that name a game whose
    file did not load (``_no_such_game``) and the file a check meant (``_check_target``).
    Only the first MiB is read (a file may be anything a student saved as ``.py``).
    """
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            text = file.read(_SOURCE_READ_MAX)
    except OSError:
        return []
    return _CLASS_LINE.findall(text)


def _line_in(path: Path, err: BaseException) -> int | str:
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if Path(frame.filename) == path:
            return frame.lineno or "?"
    return "?"


def games_folder_problem(folder: str) -> str | None:
    """What is wrong with ``folder`` as a games folder, or None: said the same way at
    every place that meets it (the settings' check, ``game_files``)."""
    if Path(folder).is_dir():
        return None
    return (f"games folder {folder} (games_dirs) does not exist or is not a folder: give "
            "the folder that holds the game files")


def game_files(games_dirs: Iterable[str]) -> list[Path]:
    """The game files in ``games_dirs`` in loading order.

    Raises:
        GameLoadError: a folder does not exist (or is a file). The settings' check
            refuses it at start already; this is for a server built from settings
            that were not checked, or a folder gone since (it was logged and
            skipped: the server started without its games, and their joins failed).
    """
    files = []
    for folder in games_dirs:
        directory = Path(folder)
        problem = games_folder_problem(folder)
        if problem is not None:
            raise GameLoadError(problem)
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            if not path.is_file():  # a pipe's import would wait for ever (a folder: fails)
                log.error("%s skipped: not a regular file (a folder, a pipe, a device?)", path)
                continue
            if is_test_file(path):
                log.debug("%s skipped: a test file, not a game (files named test_*.py, "
                          "*_test.py and conftest.py are never loaded)", path)
                continue
            files.append(path.resolve())
    return files


def discover(games_dirs: Iterable[str], bundled: bool = True,
             ) -> dict[str, type[AbstractGame]]:
    """Import the games to offer into this process, logging and skipping every broken one.

    The server imports only trusted games this way; games from folders run in
    worker processes (``gameserver.workers``), which call ``load_file``.
    """
    return discover_files(game_files(games_dirs), bundled)


def discover_files(files: Iterable[Path], bundled: bool = True,
                   time_limit: float | None = None) -> dict[str, type[AbstractGame]]:
    """``discover`` for the game files ``game_files`` found already; ``time_limit``:
    seconds each file's import may take (``load_module``), and then all of them are
    imported first in one throw-away process (``_import_limit.trial_imports``): a file
    whose import overran there, or ended that process, is not imported here."""
    games: dict[str, type[AbstractGame]] = {}
    if bundled:
        from .games import BUNDLED_GAMES
        for game_class in BUNDLED_GAMES:
            games[game_class.__name__] = game_class
    files = list(files)
    tried = trial_imports(files, time_limit) if time_limit is not None and files else {}
    for path in files:
        try:
            if path in tried:
                raise _trial_failed(path, tried[path], time_limit or 0.0)
            classes = load_file(path, time_limit)
        except GameLoadError as err:
            log.error("game file skipped: %s", err)
            continue
        for game_class in classes:
            add(games, game_class.__name__, game_class, path)
    return games


def _trial_failed(path: Path, err: TrialFailed, time_limit: float) -> GameLoadError:
    """Why ``path`` is not imported here: its import in the throw-away process
    (``_import_limit.trial_imports``) overran, or ended that process."""
    if err.overran:
        return _fixable(
            f"{path}:{err.line}: importing the file took longer than {time_limit:g} s "
            "and was stopped (an endless loop at the file's top level or in a class "
            "body, or a call that waits: time.sleep, input()?). It was imported in a "
            "process of its own first, which was ended: nothing of it runs in the "
            "server. Fix that line, then ")
    return _fixable(
        f"{path}: importing the file ended the process that imported it ({err.how}: "
        "os._exit, a signal, or a crash), which in the server would "
        "have ended the server: fix the file's top level, then ")


def load_file(path: Path, time_limit: float | None = None) -> list[type[AbstractGame]]:
    """Import one game file: its usable game classes; each unusable one is logged and skipped.
    ``time_limit``: as ``load_module``'s.

    Raises:
        GameLoadError: the file cannot be imported.
    """
    classes = load_module(path, time_limit)
    if not classes:  # a student's class that forgot its base class was offered silently
        log.warning("game file %s: no game in it: a game is a class that inherits from "
                    "AbstractGame (class MyGame(AbstractGame): ...). A file of helpers for "
                    "other games may ignore this", path)
    return [game_class for game_class in classes if usable(game_class, path)]


def usable(game_class: type[AbstractGame], path: Path | str) -> bool:
    """Whether ``game_class`` can be offered; if not, one log line says why and where."""
    name = game_class.__name__
    line = source_line(game_class)
    problem = name_problem(name)
    if problem:
        log.error("game skipped: %s:%s: %s", path, line, problem)
        return False
    missing = missing_methods(game_class)
    if missing:
        log.error("game %s skipped: %s:%s: class %s does not define %s (every game must "
                  "define %s).%s", name, path, line, name, ", ".join(missing),
                  ", ".join(REQUIRED_METHODS),
                  "".join(misspelt_hint(game_class, method) for method in missing))
        return False
    problem = player_range_problem(game_class)
    if problem:
        log.error("game %s skipped: %s:%s: %s", name, path, line, problem)
        return False
    return True


NAME_MAX = 100  # characters of a game's name


def name_problem(name: Any) -> str:
    """What is wrong with a game's name (its class's ``__name__``, which code can set to
    anything), or "". A name goes into URLs, file names (its renderer's) and log lines."""
    if type(name) is str and name.isidentifier() and len(name) <= NAME_MAX:
        return ""
    shown = repr(name[:NAME_MAX]) if type(name) is str else f"a {type(name).__name__}"
    return (f"its name {shown} is not a Python identifier of at most {NAME_MAX} characters "
            "(it is the class's name: do not set __name__)")


def add(games: dict[str, T], name: str, game: T, path: Path | str) -> None:
    """Offer ``game`` (a class, or what stands for one) as ``name``, unless that name is taken.

    ``path`` is the file it comes from. A second game of a name already
    offered is logged and skipped.
    """
    if name in games:
        other = getattr(games[name], "source", None) or _source_file(games[name])
        if Path(other).resolve().parent == _BUNDLED_FOLDER:  # a copy of the template
            log.error("game %s skipped: %s: the server already has a game called %s (%s "
                      "comes with it): rename the class in your file (docs/first-game.md, "
                      "step 1)", name, path, name, Path(other).name)
            return
        log.error("game %s skipped: %s: a game called %s is already loaded from %s "
                  "(rename one of the classes)", name, path, name, other)
        return
    games[name] = game
    log.info("game %s loaded from %s", name, path)


_BUNDLED_FOLDER = Path(__file__).resolve().parent / "games"


def _source_file(game: object) -> str:
    """The file of a game class, or of the class a ``GameType`` stands for (a bundled
    game's: it has no ``source``), else "?"."""
    try:
        return inspect.getsourcefile(getattr(game, "game_class", game)) or "?"  # type: ignore[arg-type]
    except TypeError:
        return "?"


def player_range_problem(game_class: type) -> str:
    """What is wrong with ``min_players()``/``max_players()``, or "" when they work.

    Checked when a game is loaded, because lobbies, discovery and bots ask
    for them before any session exists.
    """
    values = []
    for method in ("min_players", "max_players"):
        try:
            values.append(getattr(game_class, method)())
        except Exception as err:  # noqa: BLE001 - any failure of student code
            hint = (" (put @staticmethod on the line above it, and no 'self')"
                    if isinstance(err, TypeError) and "argument" in str(err) else "")
            return f"{method}() cannot be called on the class: {err}{hint}"
    return range_problem(*values)


def source_line(obj: type) -> int | str:
    """The line where class ``obj`` starts in its file, or "?" if unknown."""
    try:
        return inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return "?"


def select(games: dict[str, type[AbstractGame]], names: Iterable[str],
           ) -> dict[str, type[AbstractGame]]:
    """Keep only the games named in ``names`` (all of them when it is empty).

    Raises:
        GameLoadError: a name is not among the games found.
    """
    names = list(names)
    if not names:
        return games
    unknown = [n for n in names if n not in games]
    if unknown:
        raise GameLoadError("unknown game(s) " + ", ".join(unknown) + " (found: "
                            + ", ".join(sorted(games)) + ")")
    return {n: games[n] for n in names}
