"""The registry of sessions: join, auto-join, observe, restart, overwrite, timeouts.

The lobby turns a decoded request into reply bytes, or into a ``Pending``
when the request must wait (a join until the session is full, a state until
it changes). It knows sessions, not sockets: the server adapter writes the
bytes and cancels a ``Pending`` whose client went away.

Sessions are keyed by (game name, token), so the same token may be used by
different games. Auto-join sessions get tokens ``auto-<n>`` and are never
replaced; every other token starting with ``auto`` is reserved.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import protocol
from .game import AbstractGame
from .guard import GameCodeError, GameGuard
from .protocol import (
    Discover,
    Join,
    Move,
    Observe,
    ProtocolError,
    Request,
    Restart,
    State,
    StateWithMoves,
    framework_error,
    server_error,
)
from .session import Outcome, Session
from .store import Store

log = logging.getLogger("gameserver.lobby")

AUTO = "auto"


@dataclass(frozen=True, slots=True)
class LobbyLimits:
    """The lobby's time and size settings (seconds and bytes)."""

    game_timeout: float = 1000.0
    join_timeout: float = 1000.0
    request_size_max: int = 1_000_000
    max_sessions: int = 20_000
    new_sessions_per_minute: int = 1_200  # per client address
    max_name_length: int = 100


class RateLimit:
    """A token bucket per client address: ``per_minute`` events, refilled steadily."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, time)

    def allow(self, address: str) -> bool:
        now = time.monotonic()
        tokens, then = self._buckets.get(address, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - then) * self.per_minute / 60)
        if tokens < 1:
            self._buckets[address] = (tokens, now)
            return False
        self._buckets[address] = (tokens - 1, now)
        return True

    def forget_idle(self) -> None:
        """Drop the buckets that are full again (they hold no information)."""
        now = time.monotonic()
        self._buckets = {a: (t, then) for a, (t, then) in self._buckets.items()
                         if t + (now - then) * self.per_minute / 60 < self.per_minute}


def player_range(game_name: str, game_class: type[AbstractGame],
                 guard: GameGuard) -> tuple[int, int]:
    """``(min_players(), max_players())`` of a game, called under guard.

    Raises:
        GameCodeError: a method failed or did not return a whole number.
    """
    low = guard.call(game_name, "min_players", game_class.min_players)
    high = guard.call(game_name, "max_players", game_class.max_players)
    if type(low) is not int or type(high) is not int:
        raise GameCodeError(
            f"framework: game {game_name}: min_players() and max_players() must "
            "return whole numbers")
    return low, high


def check_player_count(game_name: str, game_class: type[AbstractGame], players: int,
                       guard: GameGuard) -> None:
    """Refuse a session size outside the game's range, as every join does.

    Raises:
        ProtocolError: ``framework: invalid number of players: ...``.
        GameCodeError: the game's player range cannot be read.
    """
    low, high = player_range(game_name, game_class, guard)
    if not low <= players <= high:
        wanted = f"exactly {low}" if low == high else f"{low} to {high}"
        raise framework_error(
            f"invalid number of players: {game_name} is played by {wanted} "
            f"players, not {players}")


class Lobby:
    """All sessions of one server.

    Args:
        games: game name -> game class, the games clients may start.
        guard: the guard every call into game code goes through.
        limits: timeouts and the request size limit announced to joiners.
    """

    def __init__(self, games: Mapping[str, type[AbstractGame]], guard: GameGuard,
                 limits: LobbyLimits = LobbyLimits(), store: Store | None = None) -> None:
        self.games = dict(games)
        self.guard = guard
        self.limits = limits
        self.store = store
        self.sessions: dict[tuple[str, str], Session] = {}
        self._open_auto: dict[str, Session] = {}  # game name -> auto session filling up
        self._auto_numbers = itertools.count(1)
        self._sweeper: asyncio.TimerHandle | None = None
        self._new_sessions = RateLimit(limits.new_sessions_per_minute)
        self._client = ""  # address of the client whose request is being handled
        self._handlers = {Join: self._join, Move: self._move, State: self._state,
                          StateWithMoves: self._state, Observe: self._observe,
                          Restart: self._restart, Discover: self._discover}

    # ------------------------------------------------------------ dispatch

    def handle(self, request: Request, client: str = "") -> Outcome:
        """Serve one request: reply bytes, or a ``Pending`` to wait on.

        ``client`` is the client's address, for the per-address limits.
        Never raises: a bad request or a failing game becomes an error reply.
        """
        self._client = client
        return self.call(self._handlers[type(request)], request)

    def call(self, step: Callable[..., Outcome], *args: Any) -> Outcome:
        """Run ``step(*args)`` (a handler or a ``Pending.resume``), turning errors into replies."""
        try:
            return step(*args)
        except (ProtocolError, GameCodeError) as err:
            return protocol.error(str(err))
        except Exception:  # a bug of ours: answer, log, and keep serving
            log.exception("internal error while serving %s", step)
            return protocol.error("server: internal error (see the server log)")

    def _join(self, request: Join) -> Outcome:
        longest = self.limits.max_name_length
        for what, value in (("game name", request.game), ("session name", request.session),
                            ("player name", request.name)):
            if len(value) > longest:
                raise framework_error(f"{what} too long ({len(value)} characters; at most "
                                      f"{longest})")
        game_class = self._game_class(request.game)
        token = request.session
        if token == AUTO:
            return self._auto_join(request, game_class)
        if token.startswith(AUTO):
            raise framework_error(
                f"token must not start with reserved prefix '{AUTO}' "
                f"(use exactly '{AUTO}' to auto-join, or pick another session name)")
        session = self.sessions.get((request.game, token))
        if session is not None and not session.full:
            player_id = session.add_player(request.name)
            return session.join_reply(player_id, self.limits.request_size_max)
        if request.players is None:
            if session is None:
                raise framework_error(
                    "no such game session; provide the number of players to start one")
            raise framework_error("game session already full")
        # Start a new session; it replaces a full one under the same token.
        return self._start(request.game, game_class, token, request.players,
                           request.name, auto=False)

    def _auto_join(self, request: Join, game_class: type[AbstractGame]) -> Outcome:
        session = self._open_auto.get(request.game)
        if session is not None and not session.full and session.closed is None:
            player_id = session.add_player("")
            if session.full:
                del self._open_auto[request.game]
            return session.join_reply(player_id, self.limits.request_size_max)
        if request.players is None:
            raise framework_error(
                "no open auto-join session; provide the number of players to start one")
        token = f"{AUTO}-{next(self._auto_numbers)}"
        return self._start(request.game, game_class, token, request.players, "", auto=True)

    def _start(self, game_name: str, game_class: type[AbstractGame], token: str,
               players: int, name: str, *, auto: bool) -> Outcome:
        if len(self.sessions) >= self.limits.max_sessions:
            raise framework_error(
                f"the server has too many sessions ({self.limits.max_sessions}); "
                "try again later")
        check_player_count(game_name, game_class, players, self.guard)
        if not self._new_sessions.allow(self._client):
            raise framework_error(
                f"too many new sessions from your address (at most "
                f"{self.limits.new_sessions_per_minute} a minute); wait a little, or join an "
                "existing session")
        session = Session(game_name, game_class, token, players, self.guard, auto=auto,
                          recorder=self.store)
        old = self.sessions.get((game_name, token))
        if old is not None:
            log.info("session %s/%s replaced by a new one", game_name, token)
            self._end(old, framework_error("game session was overwritten"))
        self.sessions[(game_name, token)] = session
        if auto:
            self._open_auto[game_name] = session
        player_id = session.add_player(name)
        if not session.full:
            session.join_timer = asyncio.get_running_loop().call_later(
                self.limits.join_timeout, self._join_expired, session)
        log.info("session %s/%s started for %d players", game_name, token, players)
        return session.join_reply(player_id, self.limits.request_size_max)

    def _move(self, request: Move) -> Outcome:
        session = self._session(request.game, request.session)
        return session.move(request.player_id, request.key, request.move)

    def _state(self, request: State) -> Outcome:
        session = self._session(request.game, request.session)
        return session.state(request.player_id, request.key, request.observer,
                             legal_moves=type(request) is StateWithMoves)

    def _observe(self, request: Observe) -> Outcome:
        if request.session == AUTO:
            raise framework_error("observer mode not available for auto-join sessions")
        session = self._session(request.game, request.session)
        return session.observe(request.name)

    def _restart(self, request: Restart) -> Outcome:
        session = self._session(request.game, request.session)
        return session.restart(request.player_id, request.key)

    def _discover(self, request: Discover) -> Outcome:
        sessions, after = self.open_sessions(request.after, request.limit)
        return protocol.ok({"games": self.game_list(), "sessions": sessions, "next": after})

    def game_list(self) -> list[dict[str, Any]]:
        """Every game offered: name, player range, description and documentation."""
        games = []
        for name, game_class in sorted(self.games.items()):
            try:
                low, high = player_range(name, game_class, self.guard)
                games.append({
                    "name": name, "min_players": low, "max_players": high,
                    "description": self.guard.call(name, "description",
                                                   game_class.description),
                    "documentation": self.guard.call(name, "documentation",
                                                     game_class.documentation)})
            except GameCodeError as err:  # one broken game must not hide the others
                games.append({"name": name, "error": str(err)})
        return games

    def open_sessions(self, after: tuple[str, str] | None = None, limit: int | None = None,
                      ) -> tuple[list[dict[str, Any]], list[str] | None]:
        """Sessions still waiting for players, by (game, token); and where the next page starts.

        At most ``limit`` sessions, those after ``after``; the second value is
        the (game, token) to pass as ``after`` for the rest, or None when
        there is no rest. Auto sessions are joined with token 'auto'.
        """
        keys = [key for key, s in self.sessions.items() if not s.full and s.closed is None
                and (after is None or key > after)]
        if limit is not None and len(keys) > limit:
            keys = heapq.nsmallest(limit, keys)
            rest: list[str] | None = list(keys[-1])
        else:
            keys.sort()
            rest = None
        sessions = [self.sessions[key] for key in keys]
        return [{"game": s.game_name, "session": AUTO if s.auto else s.token,
                 "players": s.size, "joined": len(s.players),
                 "names": [p.name for p in s.players if p.name]} for s in sessions], rest

    # ------------------------------------------------------------ lookups

    def _game_class(self, game_name: str) -> type[AbstractGame]:
        game_class = self.games.get(game_name)
        if game_class is None:
            raise framework_error(
                f"no such game: '{game_name[:100]}' (available: "
                + ", ".join(sorted(self.games)) + ")")
        return game_class

    def _session(self, game_name: str, token: str) -> Session:
        self._game_class(game_name)
        session = self.sessions.get((game_name, token))
        if session is None:
            raise framework_error("no such game session")
        return session


    # ------------------------------------------------------------ ending sessions

    def _end(self, session: Session, reason: ProtocolError, *, forget: bool = True) -> None:
        key = (session.game_name, session.token)
        if self.sessions.get(key) is session:
            del self.sessions[key]
        if self._open_auto.get(session.game_name) is session:
            del self._open_auto[session.game_name]
        if forget and self.store is not None and session.full:
            self.store.forget(session)
        session.close(reason)

    def restore(self, snapshots: list[dict[str, Any]]) -> None:
        """Bring back the sessions saved before the server last stopped."""
        for data in snapshots:
            name, token = data["game_name"], data["token"]
            game_class = self.games.get(name)
            if game_class is None:
                log.error("session %s/%s not restored: the game %s is not loaded",
                          name, token, name)
                continue
            session = Session.restore(data, game_class, self.guard, recorder=self.store)
            self.sessions[(name, token)] = session
            if token.startswith(f"{AUTO}-") and token[len(AUTO) + 1:].isdigit():
                number = int(token[len(AUTO) + 1:])
                self._auto_numbers = itertools.count(
                    max(number + 1, next(self._auto_numbers)))
        if snapshots:
            log.info("restored %d saved session(s)", len(self.sessions))

    def _join_expired(self, session: Session) -> None:
        if not session.full and session.closed is None:
            log.info("session %s/%s removed: only %d of %d players joined in time",
                     session.game_name, session.token, len(session.players), session.size)
            self._end(session, framework_error("timeout while waiting for others to join"))

    def start_sweeper(self) -> None:
        """Begin removing sessions idle for longer than ``game_timeout``.

        Must be called from the running event loop. Checks a few times per
        timeout period, at most once a second.
        """
        interval = max(0.05, min(1.0, self.limits.game_timeout / 10))
        loop = asyncio.get_running_loop()

        def sweep() -> None:
            self._new_sessions.forget_idle()
            deadline = time.monotonic() - self.limits.game_timeout
            for session in [s for s in self.sessions.values() if s.last_activity < deadline]:
                log.info("session %s/%s timed out after %g s without requests",
                         session.game_name, session.token, self.limits.game_timeout)
                self._end(session, framework_error("game session has timed out"))
            self._sweeper = loop.call_later(interval, sweep)

        self._sweeper = loop.call_later(interval, sweep)

    def close(self) -> None:
        """End every session with 'server is shutting down' (for a clean stop)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        reason = server_error("server is shutting down")
        for session in list(self.sessions.values()):
            self._end(session, reason, forget=False)  # saved sessions come back on start
