"""The in-process table: the game runs here, through the server's own session code.

This module is the only place in ``gameserver.rl`` that touches the server's
internals (``GameType``, ``Session``, ``GameGuard``). Every move goes through
a ``Session``, so it meets the same rules (game over, whose turn, key checks)
as on a real server, and every call into the game through the session's
``CheckedGame``: the same guard (exceptions and endless loops become errors
that name the method) and the same checks of what the game returns. Only the
sockets and the JSON are left out.

Each game gets a session of its own, made with ``GameType.new_game(players,
seed)``: the seed gives the game its own random generator (see
``gameserver.checked``), so a seeded game plays out the same way every time.
"""

from __future__ import annotations

import json
from typing import Any

from .._stuck import exit_stuck
from ..checked import GameType
from ..guard import GameCodeError, GameGuard
from ..protocol import ProtocolError, ok
from ..session import Session
from ._table import GameError, Step, View, run_ops

OK_REPLY = ok(None)


def env_guard(game_class: type, time_limit: float) -> GameGuard:
    """A guard (with its watchdog thread) for the calls an env makes into ``game_class``:
    in-process all of them; over the network ``rl_observation`` (``guard_encoder``)."""
    guard = GameGuard(time_limit)
    # A call that catches its interruption would hang the training: say so, and end it.
    guard.stuck = exit_stuck(game_class, guard, f"the env's time_limit={time_limit:g}")
    return guard


class LocalTable:
    """Games of ``game_class`` in this process, every seat driven by the env.

    Args:
        game_class: the game.
        players: the number of players.
        names: one name per seat (used for rewards from a ``ranking``).
        time_limit: seconds one call into the game may run, as on the server;
            a call that goes on after it was stopped ends the process (see
            ``gameserver._stuck``).
        guard: the guard of another table of the same game and time limit, to share
            (a vector env's tables, which run one after the other in one thread): one
            watchdog thread for all (1,024 sessions each with its own were 1,024
            threads and 43 MB, against 24 MB shared). Closing any table stops it; a
            table that is only collected stops its guard only if it made it (the
            others of its env go on with theirs).

    Raises:
        GameError: the number of players is outside the game's range.
    """

    def __init__(self, game_class: type, players: int, names: list[str],
                 time_limit: float = 5.0, guard: GameGuard | None = None) -> None:
        self.players = players
        self.names = names
        self.controlled = list(range(players))
        self._own_guard = guard is None
        self.guard = guard or env_guard(game_class, time_limit)
        self._type = GameType(game_class.__name__, game_class, self.guard)
        try:
            self._type.check_player_count(players)
        except (ProtocolError, GameCodeError) as err:
            if self._own_guard:
                self.guard.close()
            raise GameError(str(err)) from None
        self._session: Session | None = None
        self._closed = False
        self._keys: list[str] = []
        self._views: list[tuple[int, View] | None] = [None] * players

    def start(self, seed: int | None, hint: int = 0) -> None:
        """A new game; with ``seed``, one that plays out the same way every time."""
        if self._closed:
            raise _closed_error()
        try:
            game = self._type.new_game(self.players, seed)
            session = Session(self._type, "rl", self.players, game=game)
            self._keys = [session.add_player(name).key for name in self.names]
        except (ProtocolError, GameCodeError) as err:
            raise GameError(str(err)) from None
        self._session = session
        self._views = [None] * self.players

    def view(self, seat: int) -> View:
        session = self._session
        if session is None:
            raise _closed_error() if self._closed else GameError(
                "call reset() before anything else")
        cached = self._views[seat]
        if cached is not None and cached[0] == session.version:
            return cached[1]
        try:
            # As the server answers: legal moves only for a player who may move now.
            state = session.game.view(seat, legal_moves=True)
        except GameCodeError as err:
            raise GameError(str(err)) from None
        view = View(state, state.pop("legal_moves"))
        self._views[seat] = (session.version, view)
        return view

    def move(self, seat: int, move: dict[str, Any], hint: int | None = None) -> Any:
        session = self._session
        if session is None:
            raise _closed_error() if self._closed else GameError(
                "call reset() before anything else")
        try:
            # A copy: a game that changes the dict it is given must not change rl_moves.
            reply = session.move(seat, self._keys[seat], dict(move))
        except (ProtocolError, GameCodeError) as err:
            raise GameError(str(err)) from None
        if reply == OK_REPLY:
            return None
        if not isinstance(reply, bytes):  # only a session that saves its changes waits
            raise GameError("the in-process session unexpectedly waited")
        return json.loads(reply)["message"]

    def wait(self, seat: int) -> View:
        raise GameError("in-process tables have no other clients to wait for")

    def run(self, step: Step) -> Any:
        return run_ops(self, step)

    def close(self) -> None:
        """Stop the guard's watchdog thread; the table can be used no more (without the
        watchdog, a game call in an endless loop would never be stopped)."""
        self._closed = True
        self._session = None
        self.guard.close()

    def __del__(self) -> None:
        guard = getattr(self, "guard", None)  # None if __init__ failed early
        if guard is not None and getattr(self, "_own_guard", False):
            guard.close()


def _closed_error() -> GameError:
    return GameError("this environment was closed: make a new one (a closed in-process "
                     "environment no longer stops a game call at its time limit)")
