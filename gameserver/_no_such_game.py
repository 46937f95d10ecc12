"""What "no such game" tells a client about a game whose file did not load.

A student who named a game ``MyRace`` and asks for it while its file fails
to load should learn that the game is there and where its author finds why
(docs/first-game.md, step 4); a stranger on a server open to the internet
should learn nothing else: neither why, nor which file (a student's name may
be in it). The server lists the classes its game files define but do not
offer (``unloaded_games``, once at start-up: the files read as text, so a
file with a syntax error has them too), and the lobby adds
``no_such_game_hint`` to its "no such game" reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from .registry import NAME_MAX, class_lines

# The words of the two kinds of hint, each in every hint of its kind: a name that misses a
# game's by case or "_", and a class that is not offered (where its author finds why). A
# client may look for them: the RL env passes a "no such game" with either on as it is
# (``rl/_remote.py`` imports them, so a changed hint cannot silently stop matching).
EXACT_NAME = "a game's name is its class's name, letter for letter"
FINDS_WHY = ("the file's author finds why in the server's log, in the section 'Game code' "
             "of the dashboard's lobby page, or by running python3 -m gameserver check on "
             "that file")
HINT_WORDS = (EXACT_NAME, FINDS_WHY)


def _loose(name: str) -> str:
    """A game's name as ``no_such_game_hint`` compares it for a near miss: case and "_"
    ignored."""
    return name.replace("_", "").casefold()


def unloaded_games(files: Iterable[Path], offered: Mapping[str, str],
                   ) -> dict[str, bool]:
    """The classes of ``files`` that are not offered, for "no such game" to tell a client
    that the game is there, but could not be loaded (``no_such_game_hint``;
    docs/first-game.md, step 4, says this rule too).

    A file that offers no game (it failed to import, it has no game class, every
    class in it was skipped) stands for every class it defines; a file that offers
    games, for the classes in it that name ``AbstractGame`` as a base and are not
    offered (skipped: a method missing, say). Classes are the lines that start with
    ``class NAME`` (read as text: a file with a syntax error has them too).

    Args:
        files: the game files of the games folders.
        offered: every game offered -> the file (or module) it comes from.

    Returns:
        class name -> whether it was skipped in a file whose other games loaded
        (else its file offers no game). Never the file: a client is not told which
        file it is (a student's name may be in it); the dashboard and the log say.
    """
    found: dict[str, bool] = {}
    sources = set(offered.values())
    for path in files:
        loads = str(path) in sources
        for name, bases in class_lines(path):
            if (name not in offered and len(name) <= NAME_MAX  # (never a game's name)
                    and (not loads or "AbstractGame" in bases)):
                found.setdefault(name, loads)
    return found


def no_such_game_hint(name: str, offered: Iterable[str],
                      unloaded: Mapping[str, bool]) -> str:
    """What "no such game" adds for game ``name``, else "".

    A class of that very name that is not offered (``unloaded_games``): that its
    file could not be loaded, or that the class was skipped, and where its author
    finds why; never why, nor which file: any client may read it (a stranger, on a
    server on the internet), and a student's name may be in the file's name. Else
    a name that differs from a game's only in case or "_" (``tictactoe``): "did you
    mean 'TicTacToe'?", a game offered before a class not loaded (a broken
    ``tic_tac_toe.py`` must not hide the bundled game the client misspelt).
    """
    if name in unloaded:
        return "; " + _unloaded_text(name, unloaded[name])
    loose = _loose(name)
    exact = f"; {EXACT_NAME}"
    for other in sorted(offered):
        if _loose(other) == loose:
            return f"{exact}: did you mean '{other}'?"
    for other in sorted(unloaded):
        if _loose(other) == loose:
            return f"{exact}, and {_unloaded_text(other, unloaded[other])}"
    return ""


def _unloaded_text(name: str, skipped: bool) -> str:
    """That class ``name`` of a game file is not offered, and where its author finds why."""
    if skipped:
        what = (f"a game file of the server's games folder defines a game class '{name}', "
                "but the server skipped that class (it loaded the file's other games)")
    else:
        what = (f"a game file of the server's games folder defines a class '{name}', but "
                "the server could not load any game from that file")
    return f"{what}: {FINDS_WHY}"
