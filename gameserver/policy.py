"""The random bot's policy, in one place for every player the framework runs itself.

The bot client (``python -m gameserver.bot``), the dashboard's "play against
the bot" (``gameserver/web/_bots.py``) and a turn that timed out
(``gameserver/_timeouts.py``) all choose a move the same way: one of the
game's legal moves, at random. This module imports nothing of the client
module, so the server never needs ``game_server_api.py``.
"""

from __future__ import annotations

import random
from typing import Any


def choose_move(moves: list[dict[str, Any]], rng: random.Random) -> dict[str, Any]:
    """One of the legal ``moves``, drawn from ``rng``."""
    return rng.choice(moves)
