"""Replaying a recorded game, to show what each player saw after each move.

The history keeps each game's first snapshot and its moves; the states are
rebuilt by playing the moves again. Game code runs on the server's event
loop (the guard watches one call at a time, and a game may share module
state with the live sessions), so a replay asked for from another thread
(the dashboard's) runs there in slices of ``SLICE`` moves through ``run``,
and never holds the loop for long.

Each replayed move's verdict is compared with the logged one; at the first
difference the replay stops and says so (the states after it would be
guesses).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from .. import replaying
from ..checked import CheckedGame, GameType
from ..guard import GameCodeError
from ._restore import Diverged, saved_game
from .reader import CUT_NOTE_END, HISTORY_SHOWN_BYTES

log = logging.getLogger("gameserver.store")

SLICE = 32  # moves replayed per turn on the event loop


class GameReplayer:
    """Rebuilds per-move states of recorded games (``reader.Replayer``).

    Args:
        game_types: the games served; others cannot be replayed.
        run: runs ``func(*args)`` on the event loop and returns its result
            (``GameServer.run_on_loop``); None runs it in the calling thread.
    """

    def __init__(self, game_types: Mapping[str, GameType],
                 run: Callable[..., Any] | None = None) -> None:
        self.game_types = dict(game_types)
        self.run = run or (lambda func, *args: func(*args))

    def states(self, game_name: str, size: int, start: tuple[Any, ...],
               moves: list[tuple[int, int, Any, str | None]],
               budget: int = HISTORY_SHOWN_BYTES) -> tuple[list[Any], str | None]:
        """Each player's state after each of ``moves`` (seq, player id, move, verdict as
        logged) from the snapshot row ``start`` (blob, seed, views), and a note if the
        replay stopped early (also once the states' text passes ``budget`` characters)."""
        game_type = self.game_types.get(game_name)
        if game_type is None:
            return [], f"the game {game_name} is not loaded on this server"
        if game_type.remote:  # never run a student's game in the server to replay it
            return [], (f"the game {game_name} runs in a worker process: its moves are "
                        "shown, the states after each move are not")
        try:
            game = self.run(saved_game, game_type, size, *start)
        except (GameCodeError, Diverged) as err:
            return [], f"the game could not be made again: {err}"
        states: list[Any] = []
        left = [budget]
        for start in range(0, len(moves), SLICE):
            more, note = self.run(_play, game, size, moves[start:start + SLICE], left)
            states += more
            if note:
                return states, note
        return states, None


def _play(game: CheckedGame, size: int, moves: list[tuple[int, int, Any, str | None]],
          left: list[int]) -> tuple[list[Any], str | None]:
    """Play ``moves`` again; ``left[0]``: characters of states still to give, taken here."""
    states = []
    for seq, player_id, move, verdict in moves:
        again = replaying.verdict(game, move, player_id)
        if again != verdict:
            log.warning("replay of a %s game stopped at move %d: it gave %s, not %s as "
                        "logged", game.type.name, seq, again or "ok", verdict or "ok")
            return states, (f"the game played differently from move {seq} on (it gave "
                            f"{again or 'ok'}, not {verdict or 'ok'}): the states after it "
                            "are unknown")
        views = []
        for player in range(size):
            try:  # as sent: a copy, since the game changes its own lists in later moves
                text = game.reply_of(game.view(player))
            except GameCodeError as err:
                views.append({"error": str(err)})
                continue
            left[0] -= len(text)
            if left[0] < 0:
                return states, f"the states from move {seq} on{CUT_NOTE_END}"
            views.append(json.loads(text)["data"])
        states.append(views)
    return states, None
