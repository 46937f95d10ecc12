"""Sans-I/O core of the wire protocol: bytes in, request objects and reply bytes out.

Theory of operation
-------------------
A client sends one UTF-8 JSON object followed by the terminator ``EOT\\0``.
``gameserver.framing.RequestReader`` collects bytes until it sees the
terminator (or the size limit is passed) and ``decode_request`` turns the
JSON into one of the small request classes below, checking every key and
its exact type. Replies are built with ``ok``, ``error`` and
``illegal_move`` and are encoded to bytes exactly once.

Every problem is a ``ProtocolError`` whose message already carries the prefix
saying whose fault it was: ``server:`` (transport: size, time, bytes, JSON),
``framework:`` (request validation, sessions, keys, turns). A game's own
rejection is an ``illegal_move`` reply, prefixed ``game:`` when it is a string.

Nothing here imports asyncio or sockets, so it is tested with bytes alone.

(About 460 lines on purpose: every request type and its checks, and every
reply's bytes, in one place, so that the wire format is read in one file.)
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import operator
import re
import reprlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ._json import FAST_PATH_FALLBACKS as FAST_PATH_FALLBACKS  # for the server's log
from ._json import decode_json
from ._json import encode_json as encode_json  # replies' JSON, for the rest of the server

# A game's move dict and state dict are arbitrary JSON objects.
JSONObject = dict[str, Any]

class ProtocolError(Exception):
    """A request that cannot be served; ``str(err)`` is the full prefixed message."""

    def reply(self) -> bytes:
        """Return the encoded error reply for this problem."""
        return error(str(self))


def server_error(message: str) -> ProtocolError:
    """An error in the transport: size, time, undecodable bytes or JSON."""
    return ProtocolError("server: " + message)


def framework_error(message: str) -> ProtocolError:
    """An error in what the request asks for: keys, types, sessions, turns."""
    return ProtocolError("framework: " + message)


# ---------------------------------------------------------------- replies


def ok(data: Any) -> bytes:
    """Encode a success reply. Raises TypeError/ValueError if ``data`` is not JSON.

    The bytes of ``{"status": "ok", "data": data}`` encoded, made of ``data``
    encoded between the fixed text around it (``OK_HEAD`` and ``}``): a sixth
    less work for a small state than encoding the whole reply.
    """
    if data is None:  # every accepted move: encoded once, here
        return OK_NULL
    return b"".join((OK_HEAD, encode_json(data).encode(), b"}"))


# What ``ok`` puts before the data: b'{"status": "ok", "data": ', as the encoder writes it.
OK_HEAD = encode_json({"status": "ok", "data": 0}).encode()[:-len(b"0}")]
OK_HEAD_SIZE = len(OK_HEAD)  # (its length: the data of a reply begins there)


def ok_data(reply: bytes) -> str:
    """The JSON text of the data in ``reply``, a reply made by ``ok`` (not decoded)."""
    return reply[OK_HEAD_SIZE:-1].decode()


OK_NULL = encode_json({"status": "ok", "data": None}).encode()  # accepted moves, restarts


def with_state(reply: bytes, state_reply: bytes, key: bytes = b"state") -> bytes:
    """A move's or restart's ``reply`` with a player's state (the ok-reply ``state_reply``)
    under ``key`` ("state", or a move's "final_state").

    Spliced, not encoded again: ``{"status": "ok", "data": null, "state": {...}}``.
    """
    return b"".join((reply[:-1], b', "', key, b'": ', state_reply[OK_HEAD_SIZE:]))


def error(message: str) -> bytes:
    """Encode an error reply; ``message`` must already carry its prefix."""
    return encode_json({"status": "error", "message": message}).encode()


def illegal_move(value: Any) -> bytes:
    """Encode a game's rejection of a move.

    A string gets the ``game:`` prefix; any other JSON value (for example
    ``["no such card", 3]``) is passed through unchanged, because the classic
    client raises ``IllegalMove(*value)`` for a list.
    """
    message = "game: " + value if isinstance(value, str) else value
    return encode_json({"status": "illegalmove", "message": message}).encode()


# ---------------------------------------------------------------- requests


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
    with_state: bool = False  # extension: the reply carries the mover's new state ...
    legal_moves: bool = False  # ... and in it the mover's legal moves
    # ... or, with_state naming another player of the session (id, key), that player's
    state_of: tuple[int, str] | None = None
    # Extension: false sends the reply before the move is saved (a learning loop's choice).
    wait_for_save: bool = True
    # Extension: a move that ends the game brings the mover's own final state too.
    final_state: bool = False


@dataclass(slots=True)
class State:
    kind: ClassVar[str] = "state"

    game: str
    session: str
    player_id: int
    key: str
    observer: bool
    timer: bool = False  # extension: add the turn timer to the reply
    wait_for_save: bool = True  # extension: as a move's


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
    them, those after ``after`` (the ``next`` of the previous reply); with
    ``timer``, each with its turn timer (before joining it).
    """

    kind: ClassVar[str] = "discover"

    limit: int = DISCOVER_SESSIONS_MAX
    after: tuple[str, str] | None = None
    timer: bool = False


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
class Leave:
    """A player gives up its seat for good (extension): its key works no more, and once
    every seat of the session has left, the session ends (it counts against its
    starter's address no more)."""

    kind: ClassVar[str] = "leave"

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
    with_state: bool = False  # extension: the reply carries the restarter's new state ...
    legal_moves: bool = False  # ... and in it the restarter's legal moves
    wait_for_save: bool = True  # extension: as a move's
    # Extension: other players (id, key) whose new states the reply carries too, their
    # hand-over of the finished game dropped (a learning loop that holds their seats).
    states_of: tuple[tuple[int, str], ...] = ()


STATES_OF_MAX = 64  # players a restart's "with_states_of" may name


Request = (Join | Move | State | Observe | Restart | Discover | ObserverCode | Subscribe
           | Unsubscribe | Leave)


@dataclass(slots=True)
class Envelope:
    """A decoded request plus the opt-in extension flags that came with it."""

    request: Request
    keep_alive: bool = False


# What each request type needs: key -> (accepted Python types, human description).
_STR = ((str,), "a string")
_INT = ((int,), "an integer")
_BOOL = ((bool,), "true or false")
_OBJECT = ((dict,), "a JSON object")
_INT_OR_NULL = ((int, type(None)), "an integer or null")

# (Each type's builder, below, makes its request from these values and its extension keys.)
_SCHEMAS: dict[str, dict[str, tuple[tuple[type, ...], str]]] = {
    "join": {"game": _STR, "session": _STR, "players": _INT_OR_NULL, "name": _STR},
    "move": {"game": _STR, "session": _STR, "player_id": _INT, "key": _STR, "move": _OBJECT},
    "state": {"game": _STR, "session": _STR, "player_id": _INT, "key": _STR,
              "observer": _BOOL},
    "observe": {"game": _STR, "session": _STR, "name": _STR},
    "restart": {"game": _STR, "session": _STR, "player_id": _INT, "key": _STR},
    "discover": {},
    "observer_code": {"game": _STR, "session": _STR, "player_id": _INT, "key": _STR},
    "subscribe": {"game": _STR, "session": _STR, "player_id": _INT, "key": _STR,
                  "observer": _BOOL},
    "unsubscribe": {"subscription": _INT},
    "leave": {"game": _STR, "session": _STR, "player_id": _INT, "key": _STR},
}
_CLASSIC_TYPES = ("join", "move", "state", "observe", "restart")


def _values_of(keys: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function giving the values of ``keys`` in a dict as a tuple (KeyError if one is
    missing): ``operator.itemgetter``, which does it in C, where it gives a tuple."""
    if len(keys) >= 2:
        return operator.itemgetter(*keys)
    return lambda data: tuple(data[key] for key in keys)


_JSON_TYPE_NAMES = {
    dict: "an object", list: "a list", str: "a string", bool: "a boolean",
    int: "an integer", float: "a number with a fraction", type(None): "null",
}


def _json_type_name(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


# The deepest nesting of lists and objects a request may have by default (the server's
# setting ``max_json_depth``, whose default this is).
MAX_JSON_DEPTH = 32


def check_depth(raw: bytes, data: Any, max_depth: int) -> None:
    """Refuse JSON nested deeper than ``max_depth`` lists/objects.

    Counting brackets is done in C; the walk runs only for requests with
    more brackets than the limit, so ordinary requests pay almost nothing.
    """
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return
    level = [(data, 1)]
    while level:
        value, depth = level.pop()
        children = (value.values() if isinstance(value, dict)
                    else value if isinstance(value, list) else ())
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > max_depth:
                    raise server_error(
                        f"request is nested too deeply (more than {max_depth} levels of "
                        "lists and objects)")
                level.append((child, depth + 1))


def decode_request(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Envelope:
    """Decode and validate the JSON bytes of one request (terminator removed).

    Types are checked exactly: a bool is not an int and an int is not a str.
    Keys that the request type does not use are ignored, so clients may send
    extension keys.

    Raises:
        ProtocolError: with a ``server:`` message for bytes that are not UTF-8
            or not JSON, and a ``framework:`` message naming the key for
            anything else that is wrong.
    """
    return Envelope(*decode(raw, max_depth))


def decode(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> tuple[Request, bool]:
    """``decode_request``'s request and keep-alive flag as a pair (no ``Envelope``: the
    connection decodes every request this way).

    A request sent again, the same bytes, is not decoded again: see ``_KNOWN``.
    """
    known = _KNOWN.get(raw)
    if known is None or known[3] > max_depth:
        known = _decoded(raw, max_depth)
    request, fields, keep_alive, _ = known
    if fields is not None:  # a move kept: with a move dict of its own (a game may change it)
        request = Move(*fields)
        request.move = request.move.copy()
    return request, keep_alive


# Requests decoded, by their exact bytes: players, bots and learning loops send the same
# few requests again and again (a tic-tac-toe player has nine moves), and decoding one
# costs about seven times as much as finding it here (34,000 machine instructions against
# 5,000 for a move). Kept: moves, states and restarts of at most KNOWN_SIZE_MAX bytes
# (terminator excluded), a move only where it has at most KNOWN_MOVE_KEYS_MAX keys whose
# values are strings, numbers, booleans or null, which nothing can change in place (the
# move dict itself is copied for each request); at most KNOWN_MAX of them. When it is
# full the table starts again empty: dropping the oldest one by one costs a dict ten
# times as much per request (its iteration skips the deleted entries: 2.1 against 0.2
# µs), and every request misses where players send more distinct requests in turn than
# the table holds. KNOWN_MAX covers about 50 players' moves (a tic-tac-toe player sends
# about ten distinct requests), or one learning loop's. Memory: about 1 KiB per usual
# move; at most about 1.9 KiB per entry of the largest kinds, under 1 MiB when full
# (tests/test_protocol.py measures them). More would cost issue 15's memory target: at
# 2,048 entries 400 players (K = 200) took 2 MiB more, for no hit.
KNOWN_MAX = 512
KNOWN_SIZE_MAX = 512
KNOWN_MOVE_KEYS_MAX = 8
_KNOWN: dict[bytes, tuple[Request, tuple[Any, ...] | None, bool, int]] = {}
_KEPT_TYPES = frozenset((Move, State, StateWithMoves, Restart))
_FLAT_TYPES = frozenset((str, int, float, bool, type(None)))
_MOVE_FIELDS = operator.attrgetter(*Move.__slots__)  # (in the order Move takes them)


def _decoded(raw: bytes, max_depth: int) -> tuple[Request, tuple[Any, ...] | None, bool, int]:
    """``raw`` decoded, as an entry of ``_KNOWN`` (request, a move's fields or None,
    keep-alive flag, lists and objects counted), remembered there if it is one to keep."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise server_error(
            f"request is not valid UTF-8 (bad byte at position {err.start})") from None
    try:
        data = decode_json(text)
    except (ValueError, RecursionError) as err:
        raise server_error(f"request is not valid JSON ({not_json_words(err)})") from None
    brackets = raw.count(b"[") + raw.count(b"{")
    if brackets > max_depth:  # (check_depth's first line)
        check_depth(raw, data, max_depth)
    request, keep_alive = _quick_envelope(data) or _checked_envelope(data)
    kind = type(request)
    if kind not in _KEPT_TYPES or len(raw) > KNOWN_SIZE_MAX:
        return request, None, keep_alive, brackets
    fields = None
    if kind is Move:
        move = request.move  # type: ignore[union-attr]
        if len(move) > KNOWN_MOVE_KEYS_MAX or not _FLAT_TYPES.issuperset(map(type, move.values())):
            return request, None, keep_alive, brackets  # (a list or object: a game may change it)
        fields = _MOVE_FIELDS(request)
    known = _KNOWN
    if len(known) >= KNOWN_MAX:
        known.clear()  # (starts again: see _KNOWN)
    entry = known[raw] = (request, fields, keep_alive, brackets)
    return entry


def _quick_envelope(data: Any) -> tuple[Request, bool] | None:
    """The request in ``data`` and its keep-alive flag if it is valid, found the quick
    way; else None.

    None means "take ``_checked_envelope``", which finds the first problem
    and names it. A problem in an extension key (which only the request
    type's builder reads) is raised here as it is there, by the same builder.
    """
    try:  # (TypeError: data is not an object, which JSON makes a dict; or "type" is a list)
        values_of, allowed, build = _SIGNATURES[data["type"]]
        values = values_of(data)
    except (KeyError, TypeError):
        return None
    if tuple(map(type, values)) not in allowed:
        return None
    return build(values, data)


def _checked_envelope(data: Any) -> tuple[Request, bool]:
    """The request in ``data`` and its keep-alive flag, checked step by step; raises
    ProtocolError naming the problem."""
    if not isinstance(data, dict):
        raise framework_error(
            f"a request must be a JSON object, not {_json_type_name(data)}")
    if "type" not in data:
        raise framework_error(
            "request has no 'type' (one of: " + ", ".join(_CLASSIC_TYPES) + ")")
    kind = data["type"]
    fields = _SCHEMAS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise framework_error(
            f"unknown request type {_shorten(kind)} (expected one of: "
            + ", ".join(_CLASSIC_TYPES) + ")")
    values = []
    for key, (types, description) in fields.items():
        if key not in data:
            raise framework_error(f"{kind} request is missing the key '{key}'")
        value = data[key]
        # type() rather than isinstance(): bool is a subclass of int.
        if type(value) not in types:
            raise framework_error(
                f"key '{key}' of {'an' if kind[0] in 'aeiou' else 'a'} {kind} request must be "
                f"{description}, "
                f"not {_json_type_name(value)}")
        values.append(value)
    return _SIGNATURES[kind][2](values, data)


# ---------------------------------------------------------------- each type's extensions
#
# A builder makes the request of one type from the values of its keys (checked) and the
# whole dict (its extension keys, checked here), and gives it with its keep-alive flag.
# Extension flags are true (false) or left out: any other value counts as left out.


def _move(values: Sequence[Any], data: dict[str, Any]) -> tuple[Request, bool]:
    get = data.get
    with_state = get("with_state")
    state_of = None
    if with_state is True:
        legal_moves = get("legal_moves") is True
    elif type(with_state) is dict:  # or the player whose state the reply carries
        state_of = _state_of(with_state)
        with_state = True
        legal_moves = get("legal_moves") is True
    else:
        with_state = legal_moves = False
    return (Move(*values, with_state, legal_moves, state_of, get("wait_for_save") is not False,
                 get("final_state") is True), get("keep_alive") is True)


_ID_AND_KEY = operator.itemgetter("player_id", "key")


def _state_of(named: dict[str, Any]) -> tuple[int, str]:
    """The player a move's ``"with_state": {"player_id": P, "key": K}`` names."""
    try:
        player_id, key = _ID_AND_KEY(named)
    except KeyError:
        pass
    else:
        if type(player_id) is int and type(key) is str and len(named) == 2:
            return player_id, key
    raise framework_error('key \'with_state\' of a move request must be true, or name '
                          'the player whose state the reply carries: {"player_id": '
                          'an integer, "key": a string}')


def _state(values: Sequence[Any], data: dict[str, Any]) -> tuple[Request, bool]:
    get = data.get
    cls = StateWithMoves if get("legal_moves") is True else State
    return (cls(*values, get("timer") is True, get("wait_for_save") is not False),
            get("keep_alive") is True)


def _restart(values: Sequence[Any], data: dict[str, Any]) -> tuple[Request, bool]:
    get = data.get
    wait_for_save = get("wait_for_save") is not False
    if get("with_state") is True:
        # "with_states_of": an extension, with the one above
        states_of = _states_of(data["with_states_of"]) if "with_states_of" in data else ()
        request = Restart(*values, True, get("legal_moves") is True, wait_for_save, states_of)
    else:
        request = Restart(*values, False, False, wait_for_save)
    return request, get("keep_alive") is True


def _states_of(named: Any) -> tuple[tuple[int, str], ...]:
    """The players a restart's ``"with_states_of": [{"player_id": P, "key": K}, ...]`` names."""
    if (type(named) is not list or not 0 < len(named) <= STATES_OF_MAX
            or not all(type(one) is dict and type(one.get("player_id")) is int
                       and type(one.get("key")) is str and len(one) == 2 for one in named)):
        raise framework_error(
            "key 'with_states_of' of a restart request must list the players whose new "
            f'states the reply carries (1 to {STATES_OF_MAX}): [{{"player_id": an integer, '
            '"key": a string}, ...]')
    return tuple((one["player_id"], one["key"]) for one in named)


def _subscribe(values: Sequence[Any], data: dict[str, Any]) -> tuple[Request, bool]:
    get = data.get
    return (Subscribe(*values, get("legal_moves") is True, get("timer") is True),
            get("keep_alive") is True)


def _observe(values: Sequence[Any], data: dict[str, Any]) -> tuple[Request, bool]:
    request = Observe(*values)
    if "code" in data:
        code = data["code"]
        if type(code) is not str:
            raise framework_error(f"key 'code' of an observe request must be a string, "
                                  f"not {_json_type_name(code)}")
        request.code = code
    return request, data.get("keep_alive") is True


def _join(values: Sequence[Any], data: dict[str, Any]) -> tuple[Request, bool]:
    request = Join(*values)
    for key in _TIMER_KEYS:
        if key in data:
            setattr(request, key, _seconds(data[key], key))
    return request, data.get("keep_alive") is True


def _plain(cls: type) -> Callable[[Sequence[Any], dict[str, Any]], tuple[Request, bool]]:
    """The builder of a request type without extension keys."""
    return lambda values, data: (cls(*values), data.get("keep_alive") is True)


_TIMER_KEYS = ("turn_timeout", "game_clock")


def _seconds(value: Any, key: str) -> float:
    """A join's timer value: a number of seconds, 0 or more (the lobby checks the range)."""
    if type(value) not in (int, float) or not 0 <= value < float("inf"):
        raise framework_error(f"key '{key}' of a join request must be a number of seconds "
                              f"(0 for no limit), not {_shorten(value)}")
    return float(value)


def _discover(data: dict[str, Any]) -> Discover:
    """A discover request with its paging keys (extension; absent or null: the defaults)."""
    limit = data.get("limit")
    if limit is None:
        limit = DISCOVER_SESSIONS_MAX
    elif type(limit) is not int or limit < 1:
        raise framework_error(
            f"key 'limit' of a discover request must be a positive integer, not "
            f"{_shorten(limit)}")
    after = data.get("after")
    if after is not None:
        if type(after) is not list or len(after) != 2 or not all(
                type(part) is str for part in after):
            raise framework_error(
                "key 'after' of a discover request must be the 'next' of an earlier "
                f"discover reply (a list of two strings), not {_shorten(after)}")
        after = (after[0], after[1])
    return Discover(min(limit, DISCOVER_SESSIONS_MAX), after, data.get("timer") is True)


def _discover_built(values: Sequence[Any], data: dict[str, Any]) -> tuple[Request, bool]:
    return _discover(data), data.get("keep_alive") is True


_BUILDERS = {"join": _join, "move": _move, "state": _state, "observe": _observe,
             "restart": _restart, "discover": _discover_built,
             "observer_code": _plain(ObserverCode), "subscribe": _subscribe,
             "unsubscribe": _plain(Unsubscribe), "leave": _plain(Leave)}

# For the quick check of a valid request: the values of its keys in order, every allowed
# tuple of the types of those values, and its builder.
_SIGNATURES = {
    kind: (_values_of(tuple(fields)),
           frozenset(itertools.product(*(t for t, _ in fields.values()))), _BUILDERS[kind])
    for kind, fields in _SCHEMAS.items()}


# Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): their
# effect reaches past the name that holds one, to the end of the line or table cell it is
# shown in, where other players' names and the counts stand.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def check_text(what: str, value: str) -> None:
    """Refuse ``value``, a name that others are shown, if it cannot be written as UTF-8
    (a JSON escape such as ``\\ud800`` gives a lone surrogate, which the store's file, a
    CSV file and a terminal cannot hold), or if it holds a bidirectional control
    (``BIDI_CONTROLS``): a player named "\\u202eecila", shown as "alice", turned the rest
    of the dashboard's cell around ("(2/2) bob ,alice"). Only a value that is not ASCII
    can hold either: callers check ``isascii()`` first.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise framework_error(
            f"{what} is not valid text: it holds a lone surrogate "
            f"({value[err.start]!r} at position {err.start}); pick another {what}") from None
    control = BIDI_CONTROLS.search(value)
    if control is not None:
        raise framework_error(
            f"{what} holds the control character U+{ord(control.group()):04X} (at position "
            f"{control.start()}), which turns the text shown after it around (other "
            f"players' names on the dashboard); pick another {what}")


SECRET_FIELDS = ("key", "code")  # never logged


# Values in a request's log line: shortened (a move may hold a megabyte, logged in full
# at DEBUG for every request until 2026-11-29: the log grew as fast as clients sent).
_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 200
_SHORT_REPR.maxdict = _SHORT_REPR.maxlist = 20
_SHORT_REPR.maxlevel = 4


def describe(request: Request) -> str:
    """A one-line description of ``request`` for logs; keys are secrets and left out, and
    long values are shortened."""
    fields = ", ".join(
        f"{f.name}={_SHORT_REPR.repr(_described(f.name, getattr(request, f.name)))}"
        for f in dataclasses.fields(request) if f.name not in SECRET_FIELDS)
    return f"{type(request).__name__}({fields})"


def _described(name: str, value: Any) -> Any:
    """A field's value for ``describe``: a move's ``state_of`` (id, key) shows the id only,
    and a name what comes before '#' (after it a tournament participant sends its password)."""
    if name == "name" and isinstance(value, str) and "#" in value:
        return value.partition("#")[0] + "#..."
    return value[0] if name == "state_of" and value is not None else value


def _short(err: Exception) -> str:
    return str(err)[:200]


# Python's words for a whole number longer than it reads (int_max_str_digits), which end
# in advice for the server's programmer ("use sys.set_int_max_str_digits()").
_TOO_MANY_DIGITS = re.compile(r"Exceeds the limit \((\d+) digits\) for integer string "
                              r"conversion: value has (\d+) digits")


def not_json_words(err: Exception) -> str:
    """What is wrong with a request that is not JSON (``err``: the decoder's ValueError or
    RecursionError), in words for its sender; the dashboard's play endpoints say it too."""
    too_long = _TOO_MANY_DIGITS.match(str(err))
    if too_long is not None:
        return f"a whole number has {too_long[2]} digits; at most {too_long[1]} are read"
    return _short(err)


def _shorten(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
