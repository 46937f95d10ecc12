"""gameserver: a server and framework for turn-based multiplayer games.

Public API for game authors: ``AbstractGame``. Everything else is reached
through ``python -m gameserver`` and the client module ``game_server_api.py``.
"""

import sys

# Checked before anything else is imported, in code that even Python 2 can
# read: on an older Python the rest fails with a confusing traceback.
if sys.version_info < (3, 11):  # noqa: UP036 - the point: older Pythons run this
    _THIS = ".".join(str(part) for part in sys.version_info[:2])
    _NEEDED = ("gameserver needs Python 3.11 or newer; this is Python " + _THIS + " ("
               + sys.executable + "). Install a newer Python and start the server with it, "
               "e.g. python3.11 -m gameserver")
    if sys.argv[:1] in (["-m"], ["-c"]):  # python -m gameserver (Python 2: "-c"): one line
        sys.stderr.write("gameserver: " + _NEEDED[len("gameserver "):] + "\n")
        sys.exit(2)
    raise ImportError(_NEEDED)

from .game import AbstractGame  # noqa: E402

__version__ = "0.2.0"
__all__ = ["AbstractGame", "__version__"]
