"""The lobby without sockets: what does not need the wire."""

from __future__ import annotations

from gameserver.games.echo import Echo
from gameserver.guard import GameGuard
from gameserver.lobby import Lobby
from tests.data.review.games import BrokenRange


def test_one_broken_game_does_not_hide_the_others_from_discovery() -> None:
    guard = GameGuard()
    try:
        games = Lobby({"Echo": Echo, "BrokenRange": BrokenRange}, guard).game_list()
    finally:
        guard.close()
    by_name = {g["name"]: g for g in games}
    assert by_name["Echo"]["max_players"] == 1
    assert "min_players() raised RuntimeError: min_players is broken" in \
        by_name["BrokenRange"]["error"]
