"""What the server's log said about each game file while the games were loaded.

A game file can fail to load in many places: its import (a syntax error, an
exception), a class that misses a method or has a bad player range, a file
with no game class, a name already taken, a worker process that died
importing it. Each of those places says why in one log line that names the
file (``registry``, ``isolated``, and the worker's own lines, which
``_channel.log_forwarded`` logs again in the server). ``LoadNotes`` is a
logging handler that keeps those lines, by file, while the server loads its
games: the instructor's dashboard shows the very words of the log, and no
second report of the same can drift from it.

The handler listens only while games load (``listening``). A line belongs
to the game file whose path it names first; a line a worker logged
(``_channel.log_forwarded``) belongs to its worker's file only, if it names
it: a game's own text may name any file, and the notes of another student's
file are not its to write. A record below
WARNING is no problem; a line is kept as its first line, with control
characters written as escapes (a file's name may hold any character but
``/``), and cut. What the dashboard shows is text to insert as text: the
page never inserts it as HTML.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ._channel import forwarded
from .results import printable

NOTES_MAX = 5  # lines kept per file (the log has every one)
NOTE_MAX = 500  # characters kept of a line
LINES_MAX = 2000  # warnings and errors kept while the games load (a file may log many)
LINE_READ_MAX = 4096  # characters kept of each, to find the file it names


def shown(text: str) -> str:
    """``text`` safe to show as text anywhere: control characters and the undecodable
    bytes of a file's name (lone surrogates) written as escapes."""
    return printable(text).encode("utf-8", "backslashreplace").decode("utf-8")


class LoadNotes(logging.Handler):
    """The warnings and errors logged while the games load, then sorted by the file they
    name.

    The server listens (``listening``) while it loads games: in the server process, and
    while the workers import theirs. Which game files there are is known only then, so
    ``finish`` sorts the lines by file after; ``report`` then says, per file, which games
    it offers and what the log said.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[tuple[str, str | None]] = []  # (line, its worker's file or None)
        self.notes: dict[str, list[str]] = {}  # file -> its lines, once finished
        self.finished = False

    @contextlib.contextmanager
    def listening(self) -> Iterator[None]:
        """Keep what the ``gameserver`` loggers log meanwhile (never after: no leak)."""
        logger = logging.getLogger("gameserver")
        logger.addHandler(self)
        try:
            yield
        finally:
            logger.removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) >= LINES_MAX:
            return
        try:
            self.lines.append((record.getMessage()[:LINE_READ_MAX],
                               getattr(record, "game_source", None)))
        except Exception:  # noqa: BLE001 - a broken log call is not ours to report
            pass

    def finish(self, files: Iterable[Path]) -> None:
        """Give each of ``files`` the lines that name it first (once)."""
        if self.finished:
            return
        self.finished = True
        paths = [str(path) for path in files]
        self.notes = {path: [] for path in paths}
        # A path as the server's lines name it, and as a worker's lines do (its control
        # characters escaped, but its newlines: ``_channel.forwarded``).
        forms = [(form, path) for path in paths for form in {path, forwarded(path)}]
        for line, source in self.lines:
            named = [(at, -len(form), form, path) for form, path in forms
                     if (source is None or path == source) and (at := line.find(form)) >= 0]
            if not named:
                continue
            _, _, form, path = min(named)
            notes = self.notes[path]
            # The file's name shown escaped before the line is cut at its first newline.
            note = shown(line.replace(form, shown(path)).split("\n", 1)[0])
            if len(note) > NOTE_MAX:
                note = note[:NOTE_MAX] + " ..."
            if len(notes) < NOTES_MAX and note not in notes:
                notes.append(note)
        self.lines = []

    def report(self, game_sources: Mapping[str, str], errors: Counter[str],
               ) -> dict[str, Any]:
        """Per game file: its games offered and what the log said; and every game's errors.

        Args:
            game_sources: every game offered -> where it came from (a file, a
                module); ``file`` is None for a game not from a game file.
            errors: game-code errors by game name (``GameGuard.by_game``).

        Returns:
            ``{"files": [{"file", "games", "problems"}], "games": [{"name",
            "file", "errors"}]}``: a file that offers no game was not loaded,
            and its ``problems`` say why.
        """
        by_file: dict[str, list[str]] = {path: [] for path in self.notes}
        for name, source in sorted(game_sources.items()):
            if source in by_file:
                by_file[source].append(name)
        files = []
        for path, games in by_file.items():
            problems = list(self.notes[path])
            if not games and not problems:
                problems = ["no game of it is offered (the server's log says why)"]
            files.append({"file": shown(path), "games": games, "problems": problems})
        games_list = [{"name": name, "file": shown(source) if source in by_file else None,
                       "errors": errors[name]} for name, source in sorted(game_sources.items())]
        return {"files": files, "games": games_list}


def game_source(game_type: Any) -> str:
    """Where a game offered comes from: its file (or module, run in a worker), or ""."""
    source = getattr(game_type, "source", None)  # a game in a worker: its source's label
    if isinstance(source, str):
        return source
    try:
        return inspect.getsourcefile(game_type.game_class) or ""
    except TypeError:
        return ""
