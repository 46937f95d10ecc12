"""A session as plain data and back: what the store saves and a restart brings back.

``snapshot`` writes everything a session needs to come back after a server
restart except what each view has seen: after a restart every client's next
``state`` returns at once, so no client can miss a change. ``restore`` reads
it back, the first format (the game and the hand-over's old game pickled
whole) included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

from . import _timeouts, protocol, timers
from ._json import decode_json
from .checked import Call, CheckedGame, GameType
from .guard import GameCodeError
from .players import Player

FORMAT = 2
View = tuple[int, bool]  # (player id, observer?)


class SavedSession(Protocol):
    """What is saved of a session (``gameserver.session.Session`` has it all)."""

    game_name: str
    token: str
    size: int
    auto: bool
    moves: int
    accepted_moves: int
    games_played: int
    game_moves: int
    players: list[Player]
    own_timer: bool  # its starter chose its timer: its games are not rated
    created: float  # monotonic seconds, as the session's clock counts
    last_activity: float
    game: Any  # its CheckedGame (or a forfeited one)
    timer: timers.TurnTimer | None
    handover: tuple[list[bytes | str], AbstractSet[View]]  # final views as replies

    def now(self) -> float:
        """The session's clock (monotonic seconds)."""


def snapshot(session: SavedSession) -> dict[str, Any]:
    """``session`` as plain data.

    Raises:
        GameCodeError: the game cannot be saved (see ``CheckedGame.snapshot``).
    """
    wall, now = time.time(), session.now()
    final, owed = session.handover
    extra: dict[str, Any] = {}
    if session.timer is not None:
        extra["timer"] = session.timer.snapshot(now, wall)
    if isinstance(session.game, _timeouts.ForfeitedGame):
        extra["forfeit"] = dict(session.game.forfeit)
    return {
        **extra,
        "format": FORMAT, "game_name": session.game_name, "token": session.token,
        "moves": session.moves, "accepted_moves": session.accepted_moves,
        "games_played": session.games_played,
        "game_moves": session.game_moves,
        **lasting(session, wall, now),
        "game": session.game.snapshot(),
        "final": [final_data(view) for view in final], "owed": sorted(owed),
    }


def lasting(session: SavedSession, wall: float | None = None,
            now: float | None = None) -> dict[str, Any]:
    """What of ``session`` lasts from game to game: its size, players and keys, and times.

    The part of ``snapshot`` the store keeps in the session's row
    (``store._rows.session_row``). Nothing in it asks the game, so it cannot
    fail. Times are wall-clock (``wall``, ``now``: the moment, as
    ``time.time()`` and the session's clock; default: now).
    """
    if wall is None or now is None:
        wall, now = time.time(), session.now()
    data = {"size": session.size, "auto": session.auto,
            "players": [(p.name, p.key, p.observer_key, p.address) for p in session.players],
            "created": wall - (now - session.created),
            "last_activity": wall - (now - session.last_activity)}
    if session.own_timer:
        data["own_timer"] = True
    return data


def restore(cls: Callable[..., SavedSession], data: dict[str, Any], game_type: GameType,
            recorder: Any, clock: Callable[[], float]) -> SavedSession:
    """A session made by ``cls`` (the ``Session`` class) from ``snapshot()``'s data.

    ``recorder`` is handed to ``cls`` (a ``gameserver.session.Recorder``).

    ``data["game"]`` may also be the ``CheckedGame`` itself (the store brings
    games back by replaying their moves).

    Raises:
        GameCodeError: the saved game cannot be loaded.
    """
    if isinstance(data["game"], (CheckedGame, _timeouts.ForfeitedGame)):
        game = data["game"]
    elif data.get("format", 1) == 1:  # written before the game was saved as bytes
        game = CheckedGame(game_type, data["game"], None)
    else:
        game = game_type.restore(data["game"], data["size"])
    session = cls(game_type, data["token"], data["size"], auto=data["auto"],
                  recorder=recorder, game=game, clock=clock)
    session.players = [Player(*player) for player in data["players"]]
    session.own_timer = data.get("own_timer") is True
    session.moves = data["moves"]
    session.accepted_moves = data.get("accepted_moves", data["moves"])
    session.games_played = data["games_played"]
    session.game_moves = data["game_moves"]
    if data.get("format", 1) == 1:  # the hand-over held the old game itself
        handover: dict[View, Any] = data.get("handover", {})
        old = next(iter(handover.values()), None)
        if old is not None:
            old_game = CheckedGame(game_type, old, None)
            session.handover = ([final_reply(old_game, p) for p in range(session.size)],
                                set(handover))
    else:
        session.handover = (list(data["final"]),
                            {(p, observer) for p, observer in data["owed"]})
    wall, now = time.time(), clock()
    session.created = now - max(0.0, wall - data["created"])  # a clock set back: not later
    session.last_activity = now - max(0.0, wall - data["last_activity"])
    if data.get("forfeit") is not None and not isinstance(session.game,
                                                          _timeouts.ForfeitedGame):
        forfeit = data["forfeit"]
        session.game = _timeouts.ForfeitedGame(session.game, forfeit["players"],
                                               forfeit["reason"])
    if data.get("timer") is not None:
        try:
            current = session.game.current()
        except GameCodeError:
            current = []
        session.timer = timers.TurnTimer.restore(data["timer"], now, wall, current)
    return session


def final_reply(game: CheckedGame, player_id: int) -> bytes | str:
    """``player_id``'s view of a finished game as its state reply, or the error message if
    it cannot be had."""
    try:
        reply = game.view_reply(player_id)
        if isinstance(reply, Call):  # in a worker, not at hand: its view() says why
            reply = game.reply_of(game.view(player_id))
    except GameCodeError as err:
        return str(err)
    return reply


def final_encoded(view: bytes | dict[str, Any] | str) -> bytes | str:
    """A final view as its reply: one saved as data (the store's, JSON) encoded; a reply
    or an error message as it is."""
    if type(view) is dict:
        try:
            return protocol.ok(view)
        except (TypeError, ValueError, RecursionError) as err:  # (not from JSON text)
            return f"framework: the saved end of the last game cannot be shown ({err})"
    return view  # type: ignore[return-value]


def final_data(view: bytes | str) -> dict[str, Any] | str:
    """A final view as data (a dict; a str: the error it gave), from its reply."""
    return view if type(view) is str else decode_json(protocol.ok_data(view))


# What a hand-over with legal moves and/or the timer adds to the end of the view's reply.
_ADDED = {(True, False): b', "legal_moves": []}}', (False, True): b', "timer": null}}',
          (True, True): b', "legal_moves": [], "timer": null}}'}


def over_for_good(reply: bytes, legal_moves: bool, timer: bool) -> bytes:
    """The final state ``reply`` (an ok-reply) with ``"legal_moves": []`` and/or ``"timer":
    null`` in its data (none may move in an ended game, no time runs in it), as encoding
    ``{**view, "legal_moves": [], "timer": None}`` gives: appended, without decoding the
    state, when no key of that name is anywhere in it (the usual case), else in place."""
    # ``find``, not ``in``: Python 3.11 tries the bytes operand of ``in`` as an int first,
    # making and dropping a TypeError (~1,000 machine instructions a test); same answer.
    if (reply.endswith(b"}}") and (not legal_moves or reply.find(b'"legal_moves"') < 0)
            and (not timer or reply.find(b'"timer"') < 0)):
        return b"".join((reply[:-2], _ADDED[legal_moves, timer]))
    data = final_data(reply)
    assert isinstance(data, dict)
    if legal_moves:
        data["legal_moves"] = []
    if timer:
        data["timer"] = None
    return protocol.ok(data)
