"""The requests of the wire protocol, as small typed objects (``protocol`` makes them).

``protocol.decode_request`` turns a request's JSON into one of these after
checking every key and its exact type; they carry nothing but the request's
values. Classic requests (join, move, state, observe, restart) and the
extensions of ``docs/protocol.md`` (their flags default to "not asked for").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

# A game's move dict and state dict are arbitrary JSON objects.
JSONObject = dict[str, Any]


@dataclass(slots=True)
class Join:
    kind: ClassVar[str] = "join"

    game: str
    session: str
    players: int | None
    name: str
    # Extension: the turn timer of a session this join starts (seconds; 0: none).
    turn_timeout: float | None = None
    game_clock: float | None = None


@dataclass(slots=True)
class Move:
    kind: ClassVar[str] = "move"

    game: str
    session: str
    player_id: int
    key: str
    move: JSONObject
    with_state: bool = False  # extension: the reply carries the mover's new state
    legal_moves: bool = False  # ... and in it the mover's legal moves


@dataclass(slots=True)
class State:
    kind: ClassVar[str] = "state"

    game: str
    session: str
    player_id: int
    key: str
    observer: bool
    timer: bool = False  # extension: add the turn timer to the reply


@dataclass(slots=True)
class StateWithMoves(State):
    """A state request that also asks for the player's legal moves (extension)."""


@dataclass(slots=True)
class Subscribe:
    """Have each new state of a view pushed, on a kept-alive connection (extension)."""

    kind: ClassVar[str] = "subscribe"

    game: str
    session: str
    player_id: int
    key: str
    observer: bool
    legal_moves: bool = False
    timer: bool = False  # add the turn timer to every state


@dataclass(slots=True)
class Unsubscribe:
    """End a subscription of this connection (extension)."""

    kind: ClassVar[str] = "unsubscribe"

    subscription: int


# Most waiting sessions one discover reply lists (about 200 bytes each).
DISCOVER_SESSIONS_MAX = 1_000


@dataclass(slots=True)
class Discover:
    """List the games and the sessions waiting for players (extension).

    The sessions come sorted by (game, session token), at most ``limit`` of
    them, those after ``after`` (the ``next`` of the previous reply).
    """

    kind: ClassVar[str] = "discover"

    limit: int = DISCOVER_SESSIONS_MAX
    after: tuple[str, str] | None = None


@dataclass(slots=True)
class Observe:
    kind: ClassVar[str] = "observe"

    game: str
    session: str
    name: str
    code: str | None = None  # extension: the player's observer code (their consent)


@dataclass(slots=True)
class ObserverCode:
    """A player asks for the code that lets its own second program watch it (extension)."""

    kind: ClassVar[str] = "observer_code"

    game: str
    session: str
    player_id: int
    key: str


@dataclass(slots=True)
class Restart:
    kind: ClassVar[str] = "restart"

    game: str
    session: str
    player_id: int
    key: str


Request = (Join | Move | State | Observe | Restart | Discover | ObserverCode | Subscribe
           | Unsubscribe)


@dataclass(slots=True)
class Envelope:
    """A decoded request plus the opt-in extension flags that came with it."""

    request: Request
    keep_alive: bool = False
