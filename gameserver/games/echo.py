"""Echo: a one-player "game" that stores whatever it is sent.

Not really a game. It exists so that client authors can check their connection
and their move/state round trip, and see what a rejected move looks like,
before they write a real game.
"""

from __future__ import annotations

from typing import Any

from gameserver.game import AbstractGame


class Echo(AbstractGame):
    """Stores the last message a single player sent.

    Players: exactly 1 (player 0). Player 0 may move until the game is over.

    Move:
        ``{"msg": <any JSON value>}`` (client: ``move(msg="hello")``). The value
        replaces the stored message. Keys other than ``"msg"`` are ignored.
        ``msg == "quit"`` ends the game. ``msg == "error"`` is stored, and then
        the move is rejected on purpose, so clients can test their error
        handling.

    State:
        ``{"echo": <the last message>}``; ``""`` before the first move.

    Errors:
        * ``"msg"`` missing.
        * ``msg == "error"`` (deliberate).
    """

    def __init__(self, players: int) -> None:
        """Start with an empty message.

        Args:
            players: always 1; the framework checked it.
        """
        self.message: Any = ""
        self.over = False

    @staticmethod
    def min_players() -> int:
        """Return 1: Echo is played alone."""
        return 1

    @staticmethod
    def max_players() -> int:
        """Return 1: Echo is played alone."""
        return 1

    def current_player(self) -> list[int]:
        """Return ``[0]`` while the game runs, ``[]`` once "quit" was sent."""
        return [] if self.over else [0]

    def move(self, move: dict[str, Any], player_id: int) -> str | None:
        """Store ``move["msg"]``; see the class docstring for the special values.

        Returns:
            ``None`` if accepted, else an error message for the player.
        """
        if "msg" not in move:
            return "msg missing: send move(msg=...) with any value, e.g. move(msg='hello')"
        self.message = move["msg"]
        if self.message == "quit":
            self.over = True
        elif self.message == "error":
            # Stored first, rejected second: the state shows "error", which is
            # how clients can see that a rejected move may still change a game.
            return (
                "you sent msg='error', so Echo rejected this move on purpose "
                "(the message was stored anyway); send any other msg to continue"
            )
        return None

    def game_over(self) -> bool:
        """Return ``True`` once "quit" was sent."""
        return self.over

    def state(self, player_id: int) -> dict[str, Any]:
        """Return ``{"echo": <last message>}``."""
        return {"echo": self.message}
