"""A stand-in class for a game that runs in a worker process.

Parts of the server look at game classes, not games: the dashboard finds a
renderer next to the class's file and asks whether the game has hidden
information or lists its moves. For a game in a worker process the server
never imports the game's code, so it gets a class named like the game that
says just that much and has no game methods.
"""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path
from typing import Any

from .game import AbstractGame
from .workers import Source


def stand_in(source: Source, name: str, hidden: bool, documentation: str | None,
             moves: bool = False) -> type[AbstractGame]:
    """A class named like the game, for code that looks at classes (``RemoteGameType``).

    A bundled game (isolate_games = "all") is trusted: its real class is
    used. For a game file, the class lives in a module of its own whose
    ``__file__`` is the game's file, so ``inspect.getsourcefile`` finds the
    file (and the renderer next to it); the game's own code is never
    imported into the server.
    """
    kind, where = source
    if kind == "module":
        from .games import BUNDLED_GAMES
        return next(c for c in BUNDLED_GAMES if c.__name__ == name)
    path = Path(where)
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module_name = f"_gameserver_isolated_{digest}_{path.stem}"
    module = sys.modules.get(module_name)
    if module is None:
        module = sys.modules[module_name] = types.ModuleType(module_name)
        module.__file__ = str(path)
    attributes: dict[str, Any] = {
        "__module__": module_name, "__doc__": documentation, "hidden_information": hidden}
    if moves:  # lists_legal_moves() tells by the method; the worker has the real one
        attributes["legal_moves"] = _in_the_worker
    stand_in = type(name, (AbstractGame,), attributes)
    setattr(module, name, stand_in)
    return stand_in


def _in_the_worker(self: Any, player_id: int) -> list[dict[str, Any]] | None:
    raise NotImplementedError("the game's legal_moves runs in its worker process")
