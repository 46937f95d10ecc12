"""Playing logged moves again, to bring a saved game back: one rule, in or out of process.

The store logs each move with its *verdict*: None if the game accepted it,
else the rejection or the error, as JSON text (``_json.json_or_repr``).
Bringing a game back means loading its newest snapshot and playing the
moves logged after it again; each must get the same verdict. If one does
not, the game does not play the same twice (its file was changed since,
or it reads the clock, uses ``secrets`` or some other outside state) and
cannot be brought back faithfully. The server does this for games in its own process
(``store._restore``, ``store.replay``); a worker process does it for its
games (``gameserver.worker``), in slices of moves (``slices``) that are
requests of their own: a slice may take the time limit once per move in
it, as each move could when it was first played (a game that plays the
same twice takes as long again).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ._json import json_or_repr
from .checked import CheckedGame, bounded_rejection
from .guard import GameCodeError

LoggedMove = tuple[int, int, Any, "str | None"]  # number, player id, move, verdict as logged

# Why a game saved as its seed cannot be brought back (store._restore, worker._remake).
# Each names the likelier cause first: a student who edited the game's file between two
# starts of the server was told only of the clock and secrets, which the game never used.
STARTS_DIFFERENTLY = ("its game starts differently when made again from its seed (was its "
                      "file changed since, or does its __init__ read the clock or use "
                      "secrets?)")
PLAYS_DIFFERENTLY = ("the game does not play the same twice (was its file changed since, "
                     "or does it read the clock or use secrets?)")

SLICE_MOVES = 16  # moves replayed per request to a worker ...
SLICE_BYTES = 256 * 1024  # ... and at most about this many bytes of them (one move more)


def verdict(game: CheckedGame, move: Any, player_id: int) -> str | None:
    """Play ``move`` again; its verdict as the store logs it (None: accepted)."""
    try:
        rejection = game.move(move, player_id)
    except GameCodeError as err:
        return json_or_repr(str(err))
    return None if rejection is None else json_or_repr(rejection)


def replay(game: CheckedGame, moves: Iterable[LoggedMove]) -> str | None:
    """Play ``moves`` again; None if each got its logged verdict, else why not.

    The sentence names the first move that differed and both verdicts.
    """
    for seq, player_id, move, logged in moves:
        again = verdict(game, move, player_id)
        if again != logged and not _cut_since(logged, again):
            return (f"move {seq} gave {again or 'ok'} when played again, not {logged or 'ok'} "
                    f"as logged: {PLAYS_DIFFERENTLY}")
    return None


def _cut_since(logged: str | None, again: str | None) -> bool:
    """Whether ``again`` is the rejection ``logged`` before rejections were cut
    (``checked.bounded_rejection``, 2026-11-29), cut: a game saved before still replays."""
    if logged is None or again is None or len(logged) <= len(again):
        return False
    try:
        return json_or_repr(bounded_rejection(json.loads(logged))) == again
    except (ValueError, RecursionError):
        return False


def slices(moves: list[LoggedMove]) -> list[list[LoggedMove]]:
    """``moves`` cut into slices of at most SLICE_MOVES and about SLICE_BYTES each.

    A move larger than SLICE_BYTES is a slice of its own; none is split.
    """
    parts: list[list[LoggedMove]] = []
    size = SLICE_BYTES
    for move in moves:
        weight = len(repr(move[2])) + len(move[3] or "")
        if size + weight > SLICE_BYTES or len(parts[-1]) >= SLICE_MOVES:
            parts.append([])
            size = 0
        parts[-1].append(move)
        size += weight
    return parts
