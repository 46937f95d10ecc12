"""Who sits in a session: its players, their secret keys, and the check of a key.

A player's key (128 random bits) is what every later request of that player
carries; the observer key, made on the first observe or observer code, only
lets its holder read that player's view. Keys are compared in constant
time, so the time a refusal takes tells nothing about the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass, field

from .protocol import framework_error

_compare_digest = hmac.compare_digest

__all__ = ["Player", "check_key", "keys_match", "looks", "new_key", "secret_digest"]

# Characters shown as nothing (besides format characters, category Cf: zero-width space
# and joiners, U+2060, U+FEFF, soft hyphen, tags): the combining grapheme joiner,
# variation selectors, Hangul fillers, the blank Braille pattern and Khmer's invisible
# vowels.
_INVISIBLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164"
                        "\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]")


def looks(name: str) -> str:
    """What ``name`` looks like: two names with the same ``looks`` are one to a reader.

    Left out: width and compatibility forms (NFKC: a full-width "alice", a circled
    digit), invisible and control characters (U+200B, U+00AD, U+0007) and spaces at
    the ends or doubled. Where names are told apart (the players of one session, a
    tournament's participants), a name that looks like one there already is refused,
    so that nobody stands in the lobby, on the dashboard or in a tournament's
    standings looking like another (until 2026-12-01 "alice\u200b" and a full-width
    "alice" stood beside "alice"). Case is kept: "Alice" and "alice" look different,
    and PROTOCOL.md refuses only a name already used (a classic client may seat
    both). Letters of other scripts that look like Latin ones (a Cyrillic "a") are
    not caught: that takes Unicode's confusables table, which the standard library
    lacks. An empty result for a non-empty name: it shows nothing.
    """
    if name.isascii() and name.isprintable():  # (most names: no table to look in)
        return " ".join(name.split())
    shown = "".join(c for c in name if unicodedata.category(c) not in ("Cf", "Cc"))
    return " ".join(_INVISIBLE.sub("", unicodedata.normalize("NFKC", shown)).split())


def new_key() -> str:
    """A fresh secret key: 128 random bits as 32 hex characters."""
    return secrets.token_hex(16)


def keys_match(given: str, expected: str) -> bool:
    """Whether ``given`` is the secret ``expected``, in a time that tells nothing of it.

    Compares the SHA-256 of each (32 bytes), not the strings: ``compare_digest`` takes
    a time that follows the length of its second argument and answers at once when the
    lengths differ, so comparing the strings told the length of a secret whose length is
    not public (the dashboard's token, chosen by its operator; until 2026-11-30). Every
    secret compared anywhere in the server goes through here, except a player's own key
    on the hot path of ``check_key`` (its length is public; see there).
    """
    return hmac.compare_digest(secret_digest(given), secret_digest(expected))


def secret_digest(secret: str) -> bytes:
    """The SHA-256 of ``secret`` (32 bytes): what is compared, or kept, instead of it."""
    # surrogatepass: a client may send any JSON string, even a lone surrogate
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


# The error of a key whose seat was given up (the ``leave`` extension), for requests and for
# the feeds and waits opened with it before. Only the key the seat left with gets it: any
# other wrong key gets plain ``invalid key``, so that trying keys tells no one a seat left.
INVALID_KEY = "invalid key"  # (how each of these errors begins: the RL env looks for it)
LEFT = f"{INVALID_KEY}: this player left the game session"
_NEVER = bytes(32)  # no key's SHA-256, in place of the key of a seat that did not leave


@dataclass(slots=True, eq=False)
class Player:
    name: str
    key: str = field(default_factory=new_key)
    observer_key: str | None = None  # made on the first observe (or observer code) of it
    address: str = ""  # where the player joined from (for the overwrite rule)
    # The SHA-256 of the key it left the session with (a leave request, which replaced
    # its key), the one key told ``LEFT``; None while it plays.
    former_key: bytes | None = None
    # ``looks(name)``, made once: a join compares it with every seat's (a game may hold
    # thousands of players; a fold per seat per join took Unicode tables each time).
    shown: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.shown = looks(self.name)

    @property
    def left(self) -> bool:
        """It left the session (``former_key``)."""
        return self.former_key is not None


def check_key(players: list[Player], player_id: int, key: str, observer: bool) -> None:
    """Refuse a request whose key is not ``player_id``'s (its observer key if ``observer``).

    Raises:
        ProtocolError: ``framework: invalid key`` (saying so when an observer
            key is used for more than reading, and ``LEFT`` for the key the seat
            left with: any other key of a seat that left is just invalid).
    """
    if not 0 <= player_id < len(players):
        raise framework_error(INVALID_KEY)
    player = players[player_id]
    if observer:
        if player.observer_key is None or not keys_match(key, player.observer_key):
            raise framework_error(INVALID_KEY)
        return
    # A player's key is compared as it is, not as keys_match does: every move and state
    # asks (hashing both costs 0.3 to 0.6 us more), and its length tells nothing, as every
    # key is new_key's 32 hex characters (each player sees its own). compare_digest then
    # runs over those 32 whatever is given; a string not ASCII raises TypeError.
    try:
        if _compare_digest(key, player.key):
            return
    except TypeError:  # not an ASCII string
        if keys_match(key, player.key):
            return
    if player.observer_key is not None and keys_match(key, player.observer_key):
        raise framework_error(
            f"{INVALID_KEY}: an observer key only works for state requests with observer=true")
    # Hashed for every wrong key, whether the seat left or not: the time a refusal takes
    # tells a guesser nothing either.
    former = player.former_key
    if _compare_digest(secret_digest(key), former or _NEVER) and former is not None:
        raise framework_error(LEFT)
    raise framework_error(INVALID_KEY)
