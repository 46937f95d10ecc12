"""What discovery lists: the games offered and the sessions waiting for players.

Pure functions of the lobby's games and sessions, shared by the ``discover``
request (an extension, docs/protocol.md) and the dashboard.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .guard import GameCodeError

if TYPE_CHECKING:
    from .checked import GameType
    from .session import Session

AUTO = "auto"  # the token that auto-joins; "auto-<n>" are its sessions
TOURNAMENT = "tournament-"  # "tournament-NAME" a tournament, "tournament-NAME/<game>" its games
PASSWORD_MARK = "#"  # a tournament participant's name "NAME#PASSWORD" (tournament_hall)


def game_list(game_types: Mapping[str, GameType]) -> list[dict[str, Any]]:
    """Every game offered: name, player range, description and documentation.

    A game whose player range or texts cannot be read is listed with its
    ``error`` instead: one broken game must not hide the others.
    """
    games = []
    for name, game_type in sorted(game_types.items()):
        try:
            low, high = game_type.player_range()
            games.append({
                "name": name, "min_players": low, "max_players": high,
                "description": game_type.description(),
                "documentation": game_type.documentation()})
        except GameCodeError as err:
            games.append({"name": name, "error": str(err)})
    return games


def open_sessions_page(sessions: Mapping[tuple[str, str], Session],
                       after: tuple[str, str] | None = None, limit: int | None = None,
                       timer: bool = False,
                       ) -> tuple[list[dict[str, Any]], list[str] | None]:
    """Sessions still waiting for players, by (game, token); and where the next page starts.

    At most ``limit`` sessions, those after ``after``; the second value is
    the (game, token) to pass as ``after`` for the rest, or None when there
    is no rest. Auto sessions are listed with token 'auto', as they are joined.
    With ``timer`` each says its turn timer (``TimerSpec.describe``, None: none).
    """
    keys = [key for key, s in sessions.items() if not s.full and s.closed is None
            and (after is None or key > after)]
    if limit is not None and len(keys) > limit:
        keys = heapq.nsmallest(limit, keys)
        rest: list[str] | None = list(keys[-1])
    else:
        keys.sort()
        rest = None
    listed = [sessions[key] for key in keys]
    page = [{"game": s.game_name, "session": AUTO if s.auto else s.token,
             "players": s.size, "joined": len(s.players),
             "names": [p.name for p in s.players if p.name]} for s in listed]
    if timer:
        for entry, s in zip(page, listed, strict=True):
            entry["timer"] = s.timer.spec.describe() if s.timer is not None else None
    return page, rest
