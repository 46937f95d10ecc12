"""Who sits in a session: its players, their secret keys, and the check of a key.

A player's key (128 random bits) is what every later request of that player
carries; the observer key, made on the first observe or observer code, only
lets its holder read that player's view. Keys are compared in constant
time, so the time a refusal takes tells nothing about the key.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

from .protocol import framework_error

_compare_digest = hmac.compare_digest

__all__ = ["Player", "check_key", "keys_match", "new_key"]


def new_key() -> str:
    """A fresh secret key: 128 random bits as 32 hex characters."""
    return secrets.token_hex(16)


def keys_match(given: str, expected: str) -> bool:
    """Compare keys in constant time, so timing reveals nothing of the key."""
    try:
        return hmac.compare_digest(given, expected)  # ASCII strings (our keys): no encoding
    except TypeError:  # a string not ASCII (the client's: any JSON string) is compared as
        # bytes; surrogatepass: a client may send any JSON string, even a lone surrogate
        return hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                                   expected.encode("utf-8", "surrogatepass"))


@dataclass(slots=True, eq=False)
class Player:
    name: str
    key: str = field(default_factory=new_key)
    observer_key: str | None = None  # made on the first observe (or observer code) of it
    address: str = ""  # where the player joined from (for the overwrite rule)
    left: bool = False  # it left the session (a leave request): its key was replaced


def check_key(players: list[Player], player_id: int, key: str, observer: bool) -> None:
    """Refuse a request whose key is not ``player_id``'s (its observer key if ``observer``).

    Raises:
        ProtocolError: ``framework: invalid key`` (saying so when an observer
            key is used for more than reading).
    """
    if not 0 <= player_id < len(players):
        raise framework_error("invalid key")
    player = players[player_id]
    if observer:
        if player.observer_key is None or not keys_match(key, player.observer_key):
            raise framework_error("invalid key")
        return
    try:  # keys_match, its usual case inline: every move and state asks
        if _compare_digest(key, player.key):
            return
    except TypeError:  # not an ASCII string
        if keys_match(key, player.key):
            return
    if player.observer_key is not None and keys_match(key, player.observer_key):
        raise framework_error(
            "invalid key: an observer key only works for state requests with observer=true")
    if player.left:
        raise framework_error("invalid key: this player left the game session")
    raise framework_error("invalid key")
