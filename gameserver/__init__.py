"""gameserver: a server and framework for turn-based multiplayer games.

Public API for game authors: ``AbstractGame``. Everything else is reached
through ``python -m gameserver`` and the client module ``game_server_api.py``.
"""

from .game import AbstractGame

__version__ = "0.2.0"
__all__ = ["AbstractGame", "__version__"]
