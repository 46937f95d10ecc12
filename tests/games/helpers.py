"""Helpers shared by the game tests."""

from __future__ import annotations

import random
from typing import Any


class FirstPlayer(random.Random):
    """A random source whose randrange always picks ``first``."""

    def __init__(self, first: int) -> None:
        super().__init__(0)
        self.first = first
        self.asked: list[int] = []

    def randrange(self, stop: int) -> int:  # type: ignore[override]
        self.asked.append(stop)
        return self.first


def contains(haystack: Any, needle: Any) -> bool:
    """Whether ``needle`` equals ``haystack`` or any value nested in it (as ``check`` looks)."""
    if haystack == needle and type(haystack) is type(needle):
        return True
    if isinstance(haystack, dict):
        return any(contains(value, needle) for value in haystack.values())
    if isinstance(haystack, list):
        return any(contains(value, needle) for value in haystack)
    return False


def random_games(game_class: type, players: int, games: int, seed: int, max_moves: int,
                 check_listed: Any = None, one_mover: bool = True) -> list[dict[str, Any]]:
    """Play ``games`` games by picking listed moves at random; the final states (player 0).

    Every move comes from ``legal_moves`` and must be accepted (``move`` raises
    otherwise); a game must end within ``max_moves``; with ``one_mover``
    exactly one player may move at a time. ``check_listed(session, player,
    legal)``, when given, checks each list of moves before one is played.
    """
    from gameserver.testing import LocalSession

    rng = random.Random(seed)
    session = LocalSession(game_class, players)
    finals = []
    try:
        for _ in range(games):
            moves = 0
            while not session.gameover:
                current = session.current
                assert not one_mover or len(current) == 1, f"current is {current}"
                player = rng.choice(current)
                legal = session.legal_moves(player)
                assert legal, f"no legal move for current player {player}"
                if check_listed is not None:
                    check_listed(session, player, legal)
                session.move(player, rng.choice(legal))
                moves += 1
                assert moves <= max_moves, f"a game ran past {max_moves} moves"
            finals.append(session.state(0))
            session.restart()
    finally:
        session.close()
    return finals
