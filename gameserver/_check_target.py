"""What ``python -m gameserver check`` adds when it cannot find the game it was given.

A student runs the check from the repository's folder, and the server's "no such game"
hint names the file alone (``python3 -m gameserver check 'my_race.py'``: the reply may
not say where the server's folders are), so the file given is often one folder down
(``mygames/my_race.py``); others give the folder, or the class's name (``check MyRace``).
``hint`` names the file they meant, found by a short look below the folder they gave.
"""

from __future__ import annotations

import difflib
import importlib.util
import shlex
from collections.abc import Callable
from pathlib import Path, PurePath

from .registry import class_lines, is_test_file

COMMAND = "python3 -m gameserver check"
_LEVELS = 3  # the folder given and two below it: mygames/, course/week3/
_LOOKS_MAX = 2000  # folder entries looked at in all, so a home folder costs nothing
_SHOWN = 5  # files named at most


def hint(target: str) -> str:
    """What to add to "no such file", "is a folder" or "cannot import module" for
    ``target`` (as the student typed it): the command for the file meant; else "" (also
    where a folder on the way may not be looked into: ``Path.is_dir`` and ``exists``
    raise PermissionError there, and the problem's own line must still be printed)."""
    try:
        return _hint(target)
    except OSError:
        return ""


def _hint(target: str) -> str:
    path = Path(target)
    if path.is_dir():
        files = _below(path, lambda file: not is_test_file(file), levels=1)
        if not files:
            return f": the check takes one game file (a .py file); {target} has none"
        return (f": the check takes one game file at a time: {COMMAND} {_shown(files[0])}"
                + _others(files))
    if target.endswith(".py"):
        if path.exists() or not path.parent.is_dir():
            return ""
        files = _below(path.parent, lambda file: file.name == path.name)
        if files:
            return (f" here; a file of that name is in {_shown(files[0].parent)}: "
                    f"{COMMAND} {_shown(files[0])}" + _others(files))
        near = difflib.get_close_matches(path.name, [
            file.name for file in _below(path.parent, lambda file: True, levels=1)], n=1)
        return f"; did you mean {_shown(path.parent / near[0])}?" if near else ""
    if not target.isidentifier() or _module_exists(target):
        return ""  # a module that exists and failed: its own error says why
    files = _below(Path("."), lambda file: any(name == target for name, _ in class_lines(file)))
    if files:
        return (f"; the check takes the game's file, and class {target} is in "
                f"{_shown(files[0])}: {COMMAND} {_shown(files[0])}" + _others(files))
    return (f"; the check takes a game's file ({COMMAND} mygames/my_game.py) or "
            "module (games.my_game)")


def _below(folder: Path, wanted: Callable[[Path], bool], levels: int = _LEVELS) -> list[Path]:
    """The ``.py`` files in ``folder`` and up to ``levels - 1`` folders below for which
    ``wanted`` holds, nearest first; hidden folders and ``__pycache__`` are skipped, and
    what is no regular file (a pipe, whose reading would wait for ever)."""
    found: list[Path] = []
    looked = 0
    level = [folder]
    for _ in range(levels):
        below: list[Path] = []
        for directory in level:
            try:
                entries = sorted(directory.iterdir())
            except OSError:
                continue
            for entry in entries:
                looked += 1
                if looked > _LOOKS_MAX:
                    return found
                if entry.name.startswith((".", "__")):
                    continue
                if entry.is_dir():
                    below.append(entry)
                elif entry.suffix == ".py" and entry.is_file() and wanted(entry):
                    found.append(entry)  # (is_file: a pipe named x.py would never end)
        level = below
    return found


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _shown(file: PurePath) -> str:
    """The path as the student types it: relative to where they are, with ``/``, quoted
    for the shell if it must be (a space in a folder's name)."""
    return shlex.quote(file.as_posix())


def _others(files: list[Path]) -> str:
    if len(files) < 2:
        return ""
    more = len(files) - 1 - (_SHOWN - 1)
    names = ", ".join(_shown(file) for file in files[1:_SHOWN])
    return f" (also: {names}" + (f" and {more} more)" if more > 0 else ")")
