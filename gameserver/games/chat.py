"""Chat: players pick names and exchange messages; it never ends."""

from __future__ import annotations

import json
from typing import Any

from gameserver.game import AbstractGame

KEPT_MESSAGES = 1000  # messages a chat keeps, at most: the oldest go first
KEPT_CHARACTERS = 250_000  # ... and characters of them and their names, as sent (below)
NAME_MAX = 100  # characters of a name


def _sent(text: str) -> int:
    """The characters ``text`` takes in a state as the server sends it (JSON, whose escapes
    make "é" 6 characters and "😀" 12): what bounds the state, not ``len(text)``."""
    return len(json.dumps(text)) - 2


class Chat(AbstractGame):
    """A chat room for 1 to 100 players; everybody may send at any time.

    Moves (a move may contain both keys; the name is set first, and if any
    part is rejected nothing changes):
        ``{"name": str}`` sets or changes the sender's name (client:
        ``move(name="Ada")``). Surrounding spaces are removed. The name must
        not be empty, longer than ``NAME_MAX`` (100) characters, or used by
        another player. Messages already
        sent keep the name they were sent under.

        ``{"message": str}`` posts a message under the sender's name (client:
        ``move(message="hi")``). Surrounding spaces are removed; a message
        that is empty or only spaces is accepted but not posted.

    State:
        ``{"messages": [[name, message], ...]}``, oldest first, the same for
        every player: the newest messages, at most ``KEPT_MESSAGES`` of them
        and ``KEPT_CHARACTERS`` characters in all, names included, counted as
        sent (older ones are dropped, so a chat that goes on for days stays
        small, and a browser can always show it).

    Errors: neither key present; a value that is not a str; an empty,
    too long or taken name; a message before the sender has a name; a
    message longer than ``KEPT_CHARACTERS`` as sent.
    """

    def __init__(self, players: int) -> None:
        """Start with no names and no messages.

        Args:
            players: how many players share the room.
        """
        self.players = players
        self.names: dict[int, str] = {}
        self.messages: list[list[str]] = []
        self.characters = 0  # in the messages kept and their names, as sent

    @staticmethod
    def min_players() -> int:
        """Return 1: one person may chat alone (useful for testing)."""
        return 1

    @staticmethod
    def max_players() -> int:
        """Return 100."""
        return 100

    def current_player(self) -> list[int]:
        """Return every player id: anyone may send at any time."""
        return list(range(self.players))

    def move(self, move: dict[str, Any], player_id: int) -> str | None:
        """Set the sender's name and/or post a message.

        Returns:
            ``None`` if accepted, else an error message for the player.
        """
        if "name" not in move and "message" not in move:
            return "send move(name='...') to choose your name or move(message='...') to chat"
        # Validate everything before changing anything, so a rejected move
        # leaves the chat as it was.
        name = self.names.get(player_id)
        if "name" in move:
            if not isinstance(move["name"], str):
                return "name must be text (a str), e.g. move(name='Ada')"
            name = move["name"].strip()
            if not name:
                return "name must not be empty or only spaces: send e.g. move(name='Ada')"
            if len(name) > NAME_MAX:
                return f"name too long: at most {NAME_MAX} characters"
            if any(other == name for pid, other in self.names.items() if pid != player_id):
                return "that name is already taken by another player: choose a different name"
        text = None
        if "message" in move:
            if not isinstance(move["message"], str):
                return "message must be text (a str), e.g. move(message='hello')"
            if name is None:
                return "set your name first with move(name='...'), then send messages"
            text = move["message"].strip()
            if _sent(text) > KEPT_CHARACTERS:
                return (f"message too long: at most {KEPT_CHARACTERS} characters (one outside "
                        "ASCII counts as 6, an emoji as 12)")
        if name is not None:
            self.names[player_id] = name
        if text:
            self.messages.append([name, text])
            self.characters += _sent(name) + _sent(text)
            while len(self.messages) > 1 and (len(self.messages) > KEPT_MESSAGES
                                              or self.characters > KEPT_CHARACTERS):
                gone, said = self.messages.pop(0)
                self.characters -= _sent(gone) + _sent(said)
        return None

    def game_over(self) -> bool:
        """Return ``False``: a chat never ends."""
        return False

    def state(self, player_id: int) -> dict[str, Any]:
        """Return all messages as ``[name, message]`` pairs."""
        return {"messages": [list(pair) for pair in self.messages]}
