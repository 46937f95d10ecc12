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

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..guard import GameCodeError, GameGuard
from ..session import Session
from ._restore import replay_move
from ._unpickle import Unpickler

log = logging.getLogger("gameserver.store")

SLICE = 32  # moves replayed per turn on the event loop


class GameReplayer:
    """Rebuilds per-move states of recorded games (``reader.Replayer``).

    Args:
        games: the games served; others cannot be replayed.
        guard: runs the game code.
        run: runs ``func(*args)`` on the event loop and returns its result
            (``GameServer.run_on_loop``); None runs it in the calling thread.
    """

    def __init__(self, games: Mapping[str, type], guard: GameGuard,
                 run: Callable[..., Any] | None = None) -> None:
        self.games = dict(games)
        self.guard = guard
        self.unpickler = Unpickler(self.games.values())
        self.run = run or (lambda func, *args: func(*args))

    def states(self, game_name: str, size: int, snapshot: bytes,
               moves: list[tuple[int, Any, str | None]]) -> tuple[list[Any], str | None]:
        """Each player's state after each of ``moves``, and a note if it stopped early."""
        game_class = self.games.get(game_name)
        if game_class is None:
            return [], f"the game {game_name} is not loaded on this server"
        try:
            viewer = self.run(self._start, game_name, game_class, size, snapshot)
        except GameCodeError as err:
            return [], f"the game could not be loaded again: {err}"
        states: list[Any] = []
        for start in range(0, len(moves), SLICE):
            more, note = self.run(self._play, viewer, moves[start:start + SLICE],
                                  len(states) + 1)
            states += more
            if note:
                return states, note
        return states, None

    def _start(self, game_name: str, game_class: type, size: int, snapshot: bytes) -> Session:
        game = self.guard.call(game_name, "unpickle", self.unpickler.load, snapshot)
        # A session of its own, never listed anywhere: only for its checked state calls.
        return Session(game_name, game_class, "replay", size, self.guard, game=game)

    def _play(self, viewer: Session, moves: list[tuple[int, Any, str | None]],
              first_seq: int) -> tuple[list[Any], str | None]:
        states = []
        for seq, (player_id, move, verdict) in enumerate(moves, first_seq):
            again = replay_move(self.guard, viewer.game_name, viewer.game, move, player_id)
            if again != verdict:
                log.warning("replay of a %s game stopped at move %d: it gave %s, not %s as "
                            "logged", viewer.game_name, seq, again or "ok", verdict or "ok")
                return states, (f"the game played differently from move {seq} on (it gave "
                                f"{again or 'ok'}, not {verdict or 'ok'}): the states after "
                                "it are unknown")
            views = []
            for player in range(viewer.size):
                try:
                    views.append(viewer.state_data(viewer.game, player))
                except GameCodeError as err:
                    views.append({"error": str(err)})
            states.append(views)
        return states, None
