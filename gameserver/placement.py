"""Where each game runs: in the server process, or in a worker process of its own.

``plan`` reads the settings (``isolate_games``: "folder" runs the games of
``games_dirs`` in workers, "all" the bundled ones too, "off" none) and
returns the game classes the server imports itself and the sources that run
in workers. Where workers cannot run (``isolation_problem``), everything
runs in the server, with a warning that says what that means.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from . import registry
from ._import_limit import import_limit
from .config import Settings
from .game import AbstractGame
from .workers import Source

log = logging.getLogger("gameserver.isolated")


def isolation_problem() -> str:
    """Why worker processes cannot run here, or "" if they can."""
    if sys.platform == "win32":
        return ("Windows' event loop cannot watch a worker's pipes (no add_reader on "
                "pipes)")
    return ""


def plan(settings: Settings,
         ) -> tuple[dict[str, type[AbstractGame]], list[Source], list[Path]]:
    """The games the server imports itself, the sources that run in worker processes,
    and the game files of ``games_dirs`` (in-process or not: the dashboard lists them).

    ``isolate_games``: "folder" runs the games from ``games_dirs`` in
    workers, "all" the bundled ones too, "off" none. Where workers cannot
    run, everything runs in the server, with a warning saying so.
    """
    mode = settings.isolate_games
    problem = isolation_problem()
    if mode != "off" and problem:
        log.warning("isolate_games=%s is not possible here: %s. Every game runs inside the "
                    "server process, where a broken or hostile game can stall or crash the "
                    "server and read its memory (players' keys)", mode, problem)
        mode = "off"
    paths = registry.game_files(settings.games_dirs)  # once: it logs the files it skips
    if mode == "off":
        limit = import_limit(settings.game_call_timeout, settings.game_import_timeout)
        return registry.discover_files(paths, settings.bundled_games, limit), [], paths
    files: list[Source] = [("file", str(path)) for path in paths]
    if mode == "folder":
        return registry.discover([], settings.bundled_games), files, paths
    modules: list[Source] = []
    if settings.bundled_games:
        from .games import BUNDLED_GAMES
        for game_class in BUNDLED_GAMES:
            if ("module", game_class.__module__) not in modules:
                modules.append(("module", game_class.__module__))
    return {}, modules + files, paths
