"""The in-process table: the game runs here, through the server's own session code.

This module is the only place in ``gameserver.rl`` that touches the server's
internals (``Session``, ``GameGuard``, ``check_player_count``). Every call
into the game goes through the session, so it meets the same rules (game
over, whose turn, key checks), the same guard (exceptions and endless loops
become errors that name the method) and the same checks of what the game
returns as on a real server; only the sockets and the JSON are left out.
"""

from __future__ import annotations

import json
import random
from typing import Any

from ..guard import GameCodeError, GameGuard
from ..lobby import check_player_count
from ..protocol import ProtocolError, ok
from ..session import Session
from ._table import GameError, Step, View, run_ops

OK_REPLY = ok(None)


class LocalTable:
    """One session of ``game_class`` in this process, every seat driven by the env.

    Args:
        game_class: the game.
        players: the number of players.
        names: one name per seat (used for rewards from a ``ranking``).
        time_limit: seconds one call into the game may run, as on the server.

    Raises:
        GameError: the number of players is outside the game's range.
    """

    def __init__(self, game_class: type, players: int, names: list[str],
                 time_limit: float = 5.0) -> None:
        self.game_class = game_class
        self.players = players
        self.names = names
        self.controlled = list(range(players))
        self._guard = GameGuard(time_limit)
        try:
            check_player_count(game_class.__name__, game_class, players, self._guard)
        except (ProtocolError, GameCodeError) as err:
            self._guard.close()
            raise GameError(str(err)) from None
        self._session: Session | None = None
        self._keys: list[str] = []
        self._views: list[tuple[int, View] | None] = [None] * players

    def start(self, seed: int | None, hint: int = 0) -> None:
        """A new game; with ``seed``, one that plays out the same way every time."""
        if seed is not None:
            # Games such as TicTacToe draw from the random module (who starts). Until
            # sessions seed it themselves (the lead's session refactor), we do, here.
            random.seed(seed)
        try:
            if self._session is None:
                session = Session(self.game_class.__name__, self.game_class, "rl",
                                  self.players, self._guard)
                for name in self.names:
                    session.add_player(name)
                self._session = session
                self._keys = [player.key for player in session.players]
            else:
                self._session.restart(0, self._keys[0])
        except (ProtocolError, GameCodeError) as err:
            raise GameError(str(err)) from None

    def view(self, seat: int) -> View:
        session = self._session
        if session is None:
            raise GameError("call reset() before anything else")
        cached = self._views[seat]
        if cached is not None and cached[0] == session.version:
            return cached[1]
        game = session.game
        try:
            state = session.state_data(game, seat)
            # As the server answers: legal moves only for a player who may move now.
            legal = session.legal_moves(game, seat) if seat in state["current"] else []
        except GameCodeError as err:
            raise GameError(str(err)) from None
        view = View(state, legal)
        self._views[seat] = (session.version, view)
        return view

    def move(self, seat: int, move: dict[str, Any], hint: int | None = None) -> Any:
        session = self._session
        if session is None:
            raise GameError("call reset() before anything else")
        try:
            # A copy: a game that changes the dict it is given must not change rl_moves.
            reply = session.move(seat, self._keys[seat], dict(move))
        except (ProtocolError, GameCodeError) as err:
            raise GameError(str(err)) from None
        if reply == OK_REPLY:
            return None
        return json.loads(reply)["message"]

    def wait(self, seat: int) -> View:
        raise GameError("in-process tables have no other clients to wait for")

    def run(self, step: Step) -> Any:
        return run_ops(self, step)

    def close(self) -> None:
        """Stop the guard's watchdog thread."""
        self._guard.close()

    def __del__(self) -> None:
        guard = getattr(self, "_guard", None)  # None if __init__ failed early
        if guard is not None:
            guard.close()
