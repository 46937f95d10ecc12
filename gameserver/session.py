"""One game session: its players, keys, game instance and who has seen what.

Theory of operation
-------------------
Every change to the session (a move that reached the game, accepted or
rejected; a restart) bumps ``version``. Each *view* — a player ``(id, False)``
or the observers of a player ``(id, True)`` — remembers the version its last
``state`` reply showed. A ``state`` request returns at once when the two
differ and otherwise waits for the next change, so whether to wait is one
comparison and no wake-up can be lost between the check and the wait.

Waiting is a future from ``wait()``; every change (and ``close``) resolves all
pending futures and the caller simply asks again. A closed session (replaced,
timed out, server shutting down) answers every question with the reason it
was closed.

On a restart of a finished game, every other view is owed the old game's final
state once (the *hand-over*), so each client sees how the old game ended
before it sees the new one.

All calls into game code go through ``GameGuard``; their failures become
``GameCodeError`` for the request at hand and never break the session object.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import protocol
from .game import AbstractGame
from .guard import GameCodeError, GameGuard
from .protocol import ProtocolError, framework_error

log = logging.getLogger("gameserver.session")

View = tuple[int, bool]  # (player id, observer?)


def new_key() -> str:
    """A fresh secret key: 128 random bits as 32 hex characters."""
    return secrets.token_hex(16)


def keys_match(given: str, expected: str) -> bool:
    """Compare keys in constant time, so timing reveals nothing of the key."""
    # surrogatepass: a client may send any JSON string, even a lone surrogate.
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


@dataclass(slots=True)
class Player:
    name: str
    key: str = field(default_factory=new_key)
    observer_key: str | None = None  # made on the first observe of this player


@dataclass(slots=True)
class Pending:
    """A request that has to wait: once ``future`` is done, call ``resume()``.

    ``resume`` returns the reply bytes or another ``Pending``. A caller that
    loses interest (client disconnected) cancels ``future``; the session
    forgets a cancelled future at once.
    """

    future: asyncio.Future[None]
    resume: Callable[[], bytes | Pending]


Outcome = bytes | Pending


class SaveBatch(typing.Protocol):
    """A group of changes being written to disk (see ``gameserver.store``)."""

    done: bool
    error: str | None
    waiters: list[asyncio.Future[None]]


class Recorder(typing.Protocol):
    """Where a session reports its acknowledged changes (the durable store)."""

    def changed(self, session: Session, event: str, **detail: Any) -> SaveBatch | None:
        """Record ``event`` ("start", "move", "restart", "observe"); the batch to wait for."""

    def settle(self, batch: SaveBatch) -> None:
        """Save ``batch`` at once if that needs no waiting (else it is saved later)."""


class Session:
    """A running session of one game under one token.

    Args:
        game_name: the registered name of the game class.
        game_class: the class; instantiated through ``guard``.
        token: the session token (``auto-<n>`` for auto-join sessions).
        size: the number of players the session waits for.
        guard: the guard every game call goes through.
        auto: whether this is an auto-join session (no observers, no names).

    Raises:
        GameCodeError: the game's constructor failed.
    """

    def __init__(self, game_name: str, game_class: type[AbstractGame], token: str,
                 size: int, guard: GameGuard, *, auto: bool = False,
                 recorder: Recorder | None = None, game: AbstractGame | None = None) -> None:
        self.game_name = game_name
        self.game_class = game_class
        self.token = token
        self.size = size
        self.auto = auto
        self.recorder = recorder
        self.history_id = 0  # the store's id of the current game, 0 if none
        self._guard = guard
        self._unsaved: SaveBatch | None = None
        self.game: AbstractGame = game if game is not None else self._new_game()
        self.players: list[Player] = []
        self.version = 0
        self.moves = 0  # moves that reached the game, since the session started
        self.accepted_moves = 0  # ... of which the game accepted (a count for dashboards)
        self.game_moves = 0  # ... since the current game started
        self.games_played = 1
        self.closed: ProtocolError | None = None
        self.created = self.last_activity = time.monotonic()
        self.join_timer: asyncio.TimerHandle | None = None
        self._seen: dict[View, int] = {}
        self._handover: dict[View, AbstractGame] = {}
        self._waiters: set[asyncio.Future[None]] = set()

    # ------------------------------------------------------------ joining

    @property
    def full(self) -> bool:
        return len(self.players) >= self.size

    def add_player(self, name: str) -> int:
        """Seat a new player and return its id; wakes the joiners once full.

        Raises:
            ProtocolError: ``name`` is non-empty and already used here.
        """
        self.touch()
        if name and any(p.name == name for p in self.players):
            raise framework_error("name already in use")
        self.players.append(Player(name))
        player_id = len(self.players) - 1
        if self.full:
            if self.join_timer is not None:
                self.join_timer.cancel()
                self.join_timer = None
            self._record("start")  # joins are acknowledged once the session is full
            self._wake()
        return player_id

    def join_reply(self, player_id: int, request_size_max: int) -> Outcome:
        """The join reply for ``player_id``, or a ``Pending`` until the session is full."""
        if self.closed is not None:
            return self.closed.reply()
        if not self.full:
            return Pending(self.wait(), lambda: self.join_reply(player_id, request_size_max))
        return self._saved(protocol.ok({
            "player_id": player_id, "key": self.players[player_id].key,
            "session": self.token, "request_size_max": request_size_max}))

    # ------------------------------------------------------------ requests

    def move(self, player_id: int, key: str, move: dict[str, Any]) -> bytes:
        """Pass one move to the game, after the checks in protocol order."""
        self.touch()
        if self._game_over(self.game):
            raise framework_error("game has ended")
        self._check_key(player_id, key, observer=False)
        if player_id not in self._current(self.game):
            raise framework_error("not your turn")
        # Accepted, rejected or failed, the game may have recorded something.
        try:
            result = self._guard.call(self.game_name, "move", self.game.move, move, player_id)
        except GameCodeError as err:
            self._moved(player_id, move, str(err))
            raise
        self._moved(player_id, move, result or None)
        # The classic framework treats every falsy result as "accepted".
        if not result:
            return self._saved(protocol.ok(None))
        try:
            return self._saved(protocol.illegal_move(result))
        except (TypeError, ValueError) as err:
            raise GameCodeError(
                f"framework: game {self.game_name}: move() rejected the move with a "
                f"value that is not JSON ({err})") from None

    def state(self, player_id: int, key: str, observer: bool,
              legal_moves: bool = False) -> Outcome:
        """The state for one view: at once if it changed, else a ``Pending``.

        With ``legal_moves`` (an extension) the reply also lists the moves
        the player may make now, under ``"legal_moves"``.
        """
        self.touch()
        self._check_key(player_id, key, observer)
        return self._state_for((player_id, observer), legal_moves)

    def _state_for(self, view: View, legal_moves: bool) -> Outcome:
        if self.closed is not None:
            return self.closed.reply()
        old_game = self._handover.get(view)
        if old_game is not None:
            reply = self.state_reply(old_game, view[0], legal_moves)
            del self._handover[view]  # owed until a reply exists: errors can be retried
            # Leave _seen alone: the new game's state is due right after this.
            return self._saved(reply)
        if self._seen.get(view) == self.version:
            return Pending(self.wait(), lambda: self._state_for(view, legal_moves))
        reply = self.state_reply(self.game, view[0], legal_moves)
        return self._saved(reply, view)

    def observe(self, name: str) -> bytes:
        """Hand out the read-only observer key of the player called ``name``."""
        self.touch()
        if self.auto:
            raise framework_error("observer mode not available for auto-join sessions")
        if not self.full:
            raise framework_error("game has not yet started")
        for player_id, player in enumerate(self.players):
            if name and player.name == name:
                if player.observer_key is None:
                    player.observer_key = new_key()
                    self._record("observe")
                return self._saved(protocol.ok({"player_id": player_id,
                                                "key": player.observer_key}))
        raise framework_error("no such player")

    def restart(self, player_id: int, key: str) -> bytes:
        """Replace the game with a fresh one; ids, keys and names stay."""
        self.touch()
        self._check_key(player_id, key, observer=False)
        new_game = self._new_game()
        old_game = self.game
        try:
            old_over = self._game_over(old_game)
        except GameCodeError:
            old_over = False
        # Hand-overs not yet collected stay owed (a second restart must not hide how
        # the finished game ended); a newly finished game replaces them.
        if old_over:
            for other in range(self.size):
                if other != player_id:
                    self._handover[(other, False)] = old_game
            for p_id, player in enumerate(self.players):
                if player.observer_key is not None:
                    self._handover[(p_id, True)] = old_game
        self.game = new_game
        self.games_played += 1
        self.game_moves = 0
        self._changed()
        self._record("restart")
        return self._saved(protocol.ok(None))

    # ------------------------------------------------------------ waiting

    def wait(self) -> asyncio.Future[None]:
        """A future resolved at the next change or when the session closes.

        Cancel it when the client goes away: the session then forgets it at once.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(future)
        future.add_done_callback(self._waiters.discard)
        return future

    # ------------------------------------------------------------ durability

    def _moved(self, player_id: int, move: dict[str, Any], rejection: Any) -> None:
        self.moves += 1
        self.accepted_moves += rejection is None
        self.game_moves += 1
        self._changed()
        self._record("move", player_id=player_id, move=move, rejection=rejection)

    def _record(self, event: str, **detail: Any) -> None:
        if self.recorder is None:
            return
        try:
            batch = self.recorder.changed(self, event, **detail)
        except Exception:  # saving must never break the request that made the change
            log.exception("session %s/%s: recording %s failed", self.game_name, self.token,
                          event)
            return
        if batch is not None:
            self._unsaved = batch

    def _saved(self, reply: bytes, view: View | None = None) -> Outcome:
        """``reply``, held back until every change of this session it may show is saved.

        ``view``, when given, is marked as having seen the current version once
        the reply goes out, and not when it turns into an error (so the next
        ``state`` of that view does not wait for a change it never saw).
        """
        batch = self._unsaved
        if batch is not None and not batch.done and self.recorder is not None:
            self.recorder.settle(batch)
        if batch is None or batch.done:
            self._unsaved = None
            if batch is not None and batch.error:
                return protocol.error(batch.error)
            if view is not None:
                self._seen[view] = self.version
            return reply
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        batch.waiters.append(future)
        version = self.version

        def after_save() -> bytes:
            if batch.error:
                return protocol.error(batch.error)
            if view is not None and self._seen.get(view, -1) < version:
                self._seen[view] = version
            return reply

        return Pending(future, after_save)

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to bring this session back after a server restart.

        What each view has seen is left out on purpose: after a restart every
        client's next ``state`` returns at once, so no client can miss a change.
        """
        wall, now = time.time(), time.monotonic()
        return {
            "format": 1, "game_name": self.game_name, "token": self.token,
            "size": self.size, "auto": self.auto, "moves": self.moves,
            "games_played": self.games_played, "history_id": self.history_id,
            "game_moves": self.game_moves,
            "players": [(p.name, p.key, p.observer_key) for p in self.players],
            "created": wall - (now - self.created),
            "last_activity": wall - (now - self.last_activity),
            "game": self.game, "handover": dict(self._handover),
        }

    @classmethod
    def restore(cls, data: dict[str, Any], game_class: type[AbstractGame],
                guard: GameGuard, recorder: Recorder | None = None) -> Session:
        """Rebuild a session from ``snapshot()`` (the game instance included)."""
        session = cls(data["game_name"], game_class, data["token"], data["size"], guard,
                      auto=data["auto"], recorder=recorder, game=data["game"])
        session.players = [Player(name, key, observer_key)
                           for name, key, observer_key in data["players"]]
        session.moves = data["moves"]
        session.games_played = data["games_played"]
        session.history_id = data["history_id"]
        session.game_moves = data["game_moves"]
        session._handover = data["handover"]
        wall, now = time.time(), time.monotonic()
        session.created = now - (wall - data["created"])
        session.last_activity = now - max(0.0, wall - data["last_activity"])
        return session

    @property
    def waiting(self) -> int:
        """Requests currently blocked on this session."""
        return len(self._waiters)

    def close(self, reason: ProtocolError) -> None:
        """End the session; everyone waiting, and every later request, gets ``reason``."""
        if self.closed is None:
            self.closed = reason
            if self.join_timer is not None:
                self.join_timer.cancel()
                self.join_timer = None
            self._wake()

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    # ------------------------------------------------------------ inspection

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description for dashboards: who plays, whose turn, how busy.

        Never contains keys. Game calls that fail show up as ``"error"``.
        """
        now_wall, now = time.time(), time.monotonic()
        summary: dict[str, Any] = {
            "game": self.game_name, "session": self.token, "auto": self.auto,
            "players": [{"id": i, "name": p.name} for i, p in enumerate(self.players)],
            "size": self.size, "full": self.full, "moves": self.moves,
            "accepted_moves": self.accepted_moves, "games_played": self.games_played,
            "started": now_wall - (now - self.created),
            "last_activity": now_wall - (now - self.last_activity),
            "observed": [i for i, p in enumerate(self.players) if p.observer_key],
            "waiting": len(self._waiters), "current": [], "gameover": False,
        }
        if self.full:
            try:
                over = summary["gameover"] = self._game_over(self.game)
                summary["current"] = [] if over else self._current(self.game)
            except GameCodeError as err:
                summary["error"] = str(err)
        return summary

    def views(self) -> list[dict[str, Any]]:
        """Each player's state as that player would receive it (for spectators)."""
        views = []
        for player_id in range(len(self.players)):
            try:
                views.append(self.state_data(self.game, player_id))
            except GameCodeError as err:
                views.append({"error": str(err)})
        return views

    def _changed(self) -> None:
        self.version += 1
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for future in waiters:
            if not future.done():
                future.set_result(None)

    # ------------------------------------------------------------ game calls

    def _new_game(self) -> AbstractGame:
        return self._guard.call(self.game_name, "__init__", self.game_class, self.size)

    def _game_over(self, game: AbstractGame) -> bool:
        return bool(self._guard.call(self.game_name, "game_over", game.game_over))

    def _current(self, game: AbstractGame) -> list[int]:
        current = self._guard.call(self.game_name, "current_player", game.current_player)
        if type(current) is int:
            return [current]
        if isinstance(current, (list, tuple)) and all(type(c) is int for c in current):
            return list(current)
        raise self._bad_return("current_player", "a player id or a list of player ids",
                               current)

    def state_data(self, game: AbstractGame, player_id: int,
                   legal_moves: bool = False) -> dict[str, Any]:
        """What ``state`` sends for ``player_id`` of ``game``: the game's dict plus our keys."""
        state = self._guard.call(self.game_name, "state", game.state, player_id)
        if not isinstance(state, dict):
            raise self._bad_return("state", "a dict", state)
        data = dict(state)  # never add our keys to the game's own dict
        over = self._game_over(game)
        # PROTOCOL.md: "current" is empty once the game is over, whatever the game says.
        data["current"] = current = [] if over else self._current(game)
        data["gameover"] = over
        if legal_moves:
            data["legal_moves"] = (self.legal_moves(game, player_id)
                                   if player_id in current else [])
        return data

    def legal_moves(self, game: AbstractGame, player_id: int) -> list[Any] | None:
        """The game's list of legal moves for ``player_id``, checked; None if it has none."""
        moves = self._guard.call(self.game_name, "legal_moves", game.legal_moves, player_id)
        if moves is not None and not (isinstance(moves, list)
                                      and all(isinstance(m, dict) for m in moves)):
            raise self._bad_return("legal_moves", "a list of move dicts or None", moves)
        return moves

    def state_reply(self, game: AbstractGame, player_id: int, legal_moves: bool) -> bytes:
        """The encoded ok-reply of ``state_data``; raises GameCodeError if it is not JSON."""
        data = self.state_data(game, player_id, legal_moves)
        try:
            return protocol.ok(data)
        except (TypeError, ValueError) as err:
            log.error("game %s: state() returned data that is not JSON: %s",
                      self.game_name, err)
            raise GameCodeError(
                f"framework: game {self.game_name}: state() returned something that "
                f"cannot be sent as JSON ({err})") from None

    def _bad_return(self, method: str, expected: str, value: Any) -> GameCodeError:
        log.error("game %s: %s() returned %r, expected %s",
                  self.game_name, method, value, expected)
        return GameCodeError(
            f"framework: game {self.game_name}: {method}() must return {expected}, "
            f"not {type(value).__name__}")

    def _check_key(self, player_id: int, key: str, observer: bool) -> None:
        if not 0 <= player_id < len(self.players):
            raise framework_error("invalid key")
        player = self.players[player_id]
        if observer:
            if player.observer_key is None or not keys_match(key, player.observer_key):
                raise framework_error("invalid key")
        elif not keys_match(key, player.key):
            if player.observer_key is not None and keys_match(key, player.observer_key):
                raise framework_error(
                    "invalid key: an observer key only works for state requests "
                    "with observer=true")
            raise framework_error("invalid key")
