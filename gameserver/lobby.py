"""The registry of sessions: join, auto-join, observe, restart, overwrite, timeouts.

The lobby turns a decoded request into reply bytes, or into a ``Wait``
when the request must wait (a join until the session is full, a state until
it changes; see ``gameserver.waits``). It knows sessions, not sockets: the
server adapter writes the bytes and cancels a ``Wait`` whose client went
away. A subscription (``subscribe``) is handed out as a ``Feed``: the
carrier asks it for each next state of the view. Floods and overwriting are
``Admission``'s (``gameserver.admission``).

Why a few lines over our ~450: every request type has its entry point here
(the push extension's ``subscribe`` was the last to come); what is not the
registry's own lives apart already (``admission``, ``discovery``, ``timers``).

Sessions are keyed by (game name, token), so the same token may be used by
different games. Auto-join sessions get tokens ``auto-<n>`` and are never
replaced; every other token starting with ``auto`` is reserved.

Turn timers (``gameserver.timers``): a session started with a timer spec
gets a ``TurnTimer``, and ``timers`` (a ``TimerSchedule``) knows which
session runs out next; whoever runs the lobby calls ``tick_timers`` at
``timers.next()`` (``timers.on_earlier`` tells it when that moves forward).
A starter's own timer (the join extension) is bounded by ``starter_min``
for a session others join, and marks the session ``own_timer``: its games
are not rated (``gameserver.ratings``).
A ``router`` (the tournaments) may serve the requests for tokens it owns.
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import _no_such_game, discovery, protocol
from .admission import Admission
from .checked import Call, GameType
from .game import AbstractGame
from .guard import GameCodeError
from .memory import Backstop
from .players import looks
from .protocol import (
    Discover,
    Join,
    Leave,
    Move,
    Observe,
    ObserverCode,
    ProtocolError,
    Request,
    Restart,
    State,
    StateWithMoves,
    Subscribe,
    check_text,
    framework_error,
    server_error,
)
from .session import NOT_LOADED, Feed, Outcome, Recorder, Session
from .timers import (
    MIN_SECONDS,
    TimerRules,
    TimerSchedule,
    TimerSpec,
    TurnTimer,
    check_seconds,
)
from .waits import Wait

log = logging.getLogger("gameserver.lobby")

# The lobby's words (the classic protocol's) for a game it does not offer, a session it
# does not have, and one it removed after its game_timeout: the RL env knows them by these
# (imported by ``rl/_remote.py``, so that they cannot drift apart).
NO_SUCH_GAME = "no such game"
NO_SUCH_SESSION = "no such game session"
TIMED_OUT = "game session has timed out"

AUTO = discovery.AUTO
NO_TIMER = TimerSpec()
STARTER_WHY = (": the players who join a session get no say in its timer, so this server "
               "lets the one who starts it choose no shorter one (its setting "
               f"session_timer_min); a session of 1 player may have from {MIN_SECONDS:g}")


@dataclass(frozen=True, slots=True)
class LobbyLimits:
    """The lobby's time and size settings (seconds and bytes)."""

    game_timeout: float = 1000.0
    join_timeout: float = 1000.0
    request_size_max: int = 1_000_000
    max_sessions: int = 20_000
    memory_max: int = 0  # bytes the process may hold before no session starts (0: no limit)
    new_sessions_per_minute: int = 1_200  # per client address
    max_sessions_per_address: int = 200  # sessions started from one address, at once
    max_waiting_joins_per_address: int = 10  # joins waiting for their session to fill
    observer_consent: bool = True  # hidden information: watching needs an observer code
    overwrite: str = "players"  # who may replace a running session: anyone, players, idle
    overwrite_idle: float = 60.0  # seconds without requests after which anyone may
    max_name_length: int = 100
    timers: TimerRules = TimerRules()  # turn timers: none unless configured


class TimerSaver(typing.Protocol):
    """Saves the turn timers of sessions (``gameserver._sidetables.TimerBook``)."""

    def changed(self, session: Session) -> None: ...

    def save_all(self, sessions: Iterable[Session]) -> None: ...

    def gone(self, session: Session) -> None: ...


class Router(typing.Protocol):
    """Serves the requests whose session token it owns, instead of the lobby (tournaments)."""

    prefix: str  # every token it owns starts with this

    def owns(self, token: str) -> bool:
        """Whether requests for ``token`` are its to serve."""

    def handle(self, request: Request, client: str) -> Outcome:
        """Serve the request (errors may be raised as ProtocolError)."""

    def subscribe(self, request: Subscribe, client: str) -> Feed:
        """A subscription to a view of a token it owns (errors raised as ProtocolError)."""

    def tick(self, now: float) -> None:
        """Time passes (called from ``Lobby.tick``)."""


class Lobby:
    """All sessions of one server.

    Args:
        games: game name -> the game behind checked calls; the games clients may start.
        limits: timeouts and the request size limit announced to joiners.
        store: where sessions report their changes (None: nowhere).
        clock: seconds, monotonic; tests may pass their own.

    Time passes through ``tick``: whoever runs the lobby calls it at
    ``next_tick()`` (the server with a timer, a test by hand). It removes
    sessions idle for ``game_timeout`` and sessions not full by their join
    deadline.
    """

    def __init__(self, games: Mapping[str, GameType], limits: LobbyLimits = LobbyLimits(),
                 store: Recorder | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.game_types = dict(games)
        self.limits = limits
        self.store = store
        self.clock = clock
        self.sessions: dict[tuple[str, str], Session] = {}
        self._open_auto: dict[str, Session] = {}  # game name -> auto session filling up
        self._auto_numbers = itertools.count(1)
        self.admission = Admission(limits, clock)
        self._memory = Backstop()  # (limits.memory_max: whether a session may start)
        self.timers = TimerSchedule()
        self.timer_book: TimerSaver | None = None  # where timers are saved (the store's file)
        self.router: Router | None = None
        # The classes of the games folders not offered, for "no such game" to say so
        # (the server sets them: ``_no_such_game.unloaded_games``).
        self.unloaded: Mapping[str, bool] = {}
        self._handlers: dict[type, Callable[[Any, str], Outcome]] = {
            Join: self._join, Move: self._move, State: self._state,
            StateWithMoves: self._state, Observe: self._observe, Restart: self._restart,
            Discover: self._discover, ObserverCode: self._observer_code, Leave: self._leave}
        # Every session is handed this one bound method: 64 bytes a session otherwise.
        self._when_abandoned = self._abandoned

    @property
    def games(self) -> dict[str, type[AbstractGame]]:
        """Game name -> game class, of every game offered."""
        return {name: game_type.game_class for name, game_type in self.game_types.items()}

    # ------------------------------------------------------------ dispatch

    def handle(self, request: Request, client: str = "") -> Outcome:
        """Serve one request: reply bytes, or a ``Wait`` (see ``gameserver.waits``).

        ``client`` is the client's address, for the per-address limits.
        Never raises: a bad request or a failing game becomes an error reply.
        """
        router = self.router
        if router is not None:
            token = getattr(request, "session", "")
            if token.startswith(router.prefix) and router.owns(token):
                return self.call(router.handle, request, client)
        handler = self._handlers[type(request)]
        try:  # (``call``'s work, inline: a call less for every request)
            return handler(request, client)
        except Exception as err:  # noqa: BLE001 - turned into a reply
            return _error_reply(err, handler)

    def call(self, step: Callable[..., Outcome], *args: Any) -> Outcome:
        """Run ``step(*args)`` (a handler or a ``Wait.resume``), turning errors into replies."""
        try:
            return step(*args)
        except Exception as err:  # noqa: BLE001 - turned into a reply
            return _error_reply(err, step)

    def _join(self, request: Join, client: str) -> Outcome:
        longest = self.limits.max_name_length
        name = request.name if request.session != AUTO else ""  # ignored there: not checked
        if max(len(request.game), len(request.session), len(name)) > longest:
            for what, value in (("game name", request.game), ("session name", request.session),
                                ("player name", name)):
                if len(value) > longest:
                    raise framework_error(f"{what} too long ({len(value)} characters; at most "
                                          f"{longest})")
        game_type = self._game_type(request.game)
        token = request.session
        if token == AUTO:
            return self._auto_join(request, game_type, client)
        if token.startswith(AUTO):
            raise framework_error(
                f"token must not start with reserved prefix '{AUTO}' "
                f"(use exactly '{AUTO}' to auto-join, or pick another session name)")
        if token.startswith(discovery.TOURNAMENT) and "/" in token:
            # Only the tournaments make these (their games): a session made under such a
            # name beforehand would be taken for one of them, with its maker's keys.
            raise framework_error(
                f"session names '{discovery.TOURNAMENT}NAME/...' are reserved for the games "
                "of tournaments; pick another session name")
        if token.startswith(discovery.TOURNAMENT) and discovery.PASSWORD_MARK in request.name:
            # No such tournament (yet): its name would show here to everyone, password and all.
            raise framework_error(
                f"there is no tournament {token[len(discovery.TOURNAMENT):][:100]} on this "
                f"server (yet), so '{token[:100]}' would be an ordinary session, whose "
                "players' names everyone can see; your name holds a password after "
                f"'{discovery.PASSWORD_MARK}'. Check the tournament's name, or join again "
                "once the operator has created it")
        session = self.sessions.get((request.game, token))
        if session is None and not token.isascii():
            check_text("session name", token)  # it is saved as it is: UTF-8 text only
        if not request.name.isascii():
            check_text("player name", request.name)  # a CSV, a terminal take UTF-8 only
            if not looks(request.name):  # ("\u3164", a Hangul filler: the lobby shows "")
                raise framework_error(
                    f"player name {request.name!a} shows nothing (only invisible "
                    "characters or spaces): it would look like a player without a name; "
                    "pick another name, or send \"\" for none")
        timed = request.turn_timeout is not None or request.game_clock is not None
        if session is not None and session.closed is not None:
            self._end(session, session.closed)  # e.g. its start could not be saved
            session = None
        if session is not None and not session.full:
            return self._seat(session, request.name, client, timed)
        if request.players is None:
            if session is None:
                raise framework_error(
                    f"{NO_SUCH_SESSION}; provide the number of players to start one")
            raise framework_error("game session already full")
        if session is not None:
            self.admission.check_replaceable(session, client)
        # Start a new session; it replaces a full one under the same token.
        timer, own_timer = self._timer_for(request, timed)
        return self._start(game_type, token, request.players, request.name, client,
                           auto=False, timer=timer, timed=timed, own_timer=own_timer)

    def _timer_for(self, request: Join, timed: bool) -> tuple[TimerSpec, bool]:
        """The timer of a session ``request`` starts: configured, or the starter's
        (extension, when ``timed``); and whether it is the starter's own (not rated).

        A starter may choose no turn or clock shorter than ``starter_min`` (at
        most ``game_timeout``) for a session others join: they have no say in
        it, and a classic client is never told; with 0.1 s, every move of a
        client that did not answer at once was made for it at random.
        """
        rules = self.limits.timers
        configured = rules.spec_for(request.game)
        if not timed:
            return configured, False
        longest = self.limits.game_timeout
        shortest = min(rules.starter_min, longest) if (request.players or 0) > 1 else MIN_SECONDS
        for what, seconds in (("turn_timeout", request.turn_timeout),
                              ("game_clock", request.game_clock)):
            if seconds is not None:
                check_seconds(what, seconds, longest, shortest,
                              STARTER_WHY if 0 < seconds < shortest else "")
        spec = rules.spec_for(request.game, request.turn_timeout, request.game_clock)
        return spec, spec != configured

    def _seat(self, session: Session, name: str, client: str, timed: bool = False) -> Outcome:
        """Seat a joiner from ``client``; its reply (a ``Wait`` until the session is full).

        ``timed``: the joiner asked about timers (extension): its reply says the session's.
        """
        waits = len(session.players) + 1 < session.size  # for players: counted per address
        if waits:
            self.admission.check_waiting(client)
        player = session.add_player(name, client)
        outcome = session.join_reply(player, self.limits.request_size_max, timed)
        # Only a join that waits for players counts: the joiner who fills the session
        # waits for its save at most (one loop pass; for a game in a worker process,
        # also for the game's build, within the time limit), and counting that Wait
        # would keep it, its reply and its session's batch until the next tick
        # (bench/waiters.py: thousands at once, freed memory that stayed fragmented).
        if waits and isinstance(outcome, Wait):
            self.admission.count_waiting(client, outcome)
        return outcome

    def _auto_join(self, request: Join, game_type: GameType, client: str) -> Outcome:
        session = self._open_auto.get(request.game)
        timed = request.turn_timeout is not None or request.game_clock is not None
        if session is not None and not session.full and session.closed is None:
            outcome = self._seat(session, "", client, timed)
            if session.full:
                del self._open_auto[request.game]
            return outcome
        if request.players is None:
            raise framework_error(
                "no open auto-join session; provide the number of players to start one")
        # Strangers are paired into auto sessions: only the configured timer applies there,
        # not one the starter chose (the others never asked for it).
        timer = self.limits.timers.spec_for(request.game, None, None)
        token = f"{AUTO}-{next(self._auto_numbers)}"
        return self._start(game_type, token, request.players, "", client, auto=True,
                           timer=timer, timed=timed)

    def _start(self, game_type: GameType, token: str, players: int, name: str,
               client: str, *, auto: bool, timer: TimerSpec = NO_TIMER,
               timed: bool = False, own_timer: bool = False) -> Outcome:
        """Start a session (``own_timer``: its starter chose ``timer``, not the configured
        one: its games are not rated) and seat its starter."""
        game_name = game_type.name
        if len(self.sessions) >= self.limits.max_sessions:
            raise framework_error(
                f"the server has too many sessions ({self.limits.max_sessions}); "
                "try again later")
        short = self._memory.short(self.limits.memory_max, not self.sessions)
        if short is not None:
            raise framework_error(short)
        game_type.check_player_count(players)
        self.admission.check_start(client, players)
        session = Session(game_type, token, players, auto=auto, recorder=self.store,
                          clock=self.clock)
        if timer:
            session.timer = TurnTimer(timer, players)
        if own_timer:
            session.own_timer = True
        old = self.sessions.get((game_name, token))
        if old is not None:
            log.info("session %s/%s replaced by a new one", game_name, token)
            self._end(old, framework_error("game session was overwritten"))
        self.sessions[(game_name, token)] = session
        if auto:
            self._open_auto[game_name] = session
        session.when_abandoned = self._when_abandoned
        session.owner = client
        self.admission.started(session)
        if players > 1:
            session.join_deadline = self.clock() + self.limits.join_timeout
        self._watch(session)
        log.info("session %s/%s started for %d players", game_name, token, players)
        return self._seat(session, name, client, timed)

    def _watch(self, session: Session) -> None:
        """Follow the session's turn timer, if it has one."""
        if session.timer is not None:
            session.when_timer = self._timer_changed
            self.timers.update(session)

    def _timer_changed(self, session: Session) -> None:
        self.timers.update(session)
        if self.timer_book is not None and session.full:
            self.timer_book.changed(session)

    def add_session(self, session: Session) -> None:
        """Serve a session made elsewhere (a tournament's game) under its token.

        Raises:
            ValueError: a session of that game already has that token.
        """
        key = (session.game_name, session.token)
        if key in self.sessions:
            raise ValueError(f"session {key} exists already")
        self.sessions[key] = session
        session.when_abandoned = self._when_abandoned
        self.admission.started(session)
        self._watch(session)

    def remove_session(self, session: Session, reason: ProtocolError) -> None:
        """End a session made elsewhere (a deleted tournament's game): what waits on it,
        subscriptions included, gets ``reason``; as after a timeout, its finished game
        stays in the history."""
        self._end(session, reason)

    def _abandoned(self, session: Session) -> None:
        """Every joiner of a session that was not full yet has gone: remove it."""
        log.info("session %s/%s removed: every joiner left before it was full",
                 session.game_name, session.token)
        self._end(session, framework_error("every player left before the game started"))

    def _move(self, request: Move, client: str) -> Outcome:
        session = self.sessions.get((request.game, request.session))  # (_session, inline)
        if session is None:
            session = self._session(request.game, request.session)  # raises
        return session.move(request.player_id, request.key, request.move, request.with_state,
                            request.legal_moves, request.state_of, request.wait_for_save,
                            request.final_state)

    def _state(self, request: State, client: str) -> Outcome:
        session = self.sessions.get((request.game, request.session))  # (_session, inline)
        if session is None:
            session = self._session(request.game, request.session)  # raises
        return session.state(request.player_id, request.key, request.observer,
                             type(request) is StateWithMoves, request.timer,
                             request.wait_for_save)

    def subscribe(self, request: Subscribe, client: str = "") -> Feed | bytes:
        """``Session.feed`` of the view ``request`` names, or the error reply; never raises."""
        router = self.router
        if router is not None and request.session.startswith(router.prefix) and router.owns(
                request.session):
            return self.call(router.subscribe, request, client)  # type: ignore[return-value]
        return self.call(lambda: self._session(request.game, request.session).feed(
            request.player_id, request.key, request.observer, request.legal_moves,
            request.timer))  # type: ignore[return-value]

    def _observe(self, request: Observe, client: str) -> Outcome:
        if request.session == AUTO:
            raise framework_error("observer mode not available for auto-join sessions")
        session = self._session(request.game, request.session)
        consent_needed = (self.limits.observer_consent
                          and session.game_type.hidden_information)
        return session.observe(request.name, request.code, consent_needed)

    def _observer_code(self, request: ObserverCode, client: str) -> Outcome:
        session = self._session(request.game, request.session)
        return session.observer_code(request.player_id, request.key)

    def _leave(self, request: Leave, client: str) -> Outcome:
        """A player leaves its session for good (extension); once every seat has left,
        the session ends at once, as after its idle timeout (``Session.leave``).

        Only a seat's own key can make it leave, and only the last seat's leave
        ends the session: a player cannot end the game of the others. A
        tournament's games are the tournament's (the hall refuses the request
        for tokens it owns; these are refused here if it does not own them).
        """
        if request.session.startswith(discovery.TOURNAMENT) and "/" in request.session:
            raise framework_error("the games of a tournament cannot be left")
        session = self._session(request.game, request.session)
        if session.closed is not None:
            return session.closed.reply()
        if session.leave(request.player_id, request.key):
            log.info("session %s/%s removed: every player left it", session.game_name,
                     session.token)
            self._end(session, framework_error("every player left the game session"))
        return protocol.ok(None)

    def _restart(self, request: Restart, client: str) -> Outcome:
        session = self._session(request.game, request.session)
        return session.restart(request.player_id, request.key, request.with_state,
                               request.legal_moves, request.wait_for_save, request.states_of)

    def _discover(self, request: Discover, client: str) -> Outcome:
        sessions, after = self.open_sessions_page(request.after, request.limit, request.timer)
        return protocol.ok({"games": self.game_list(), "sessions": sessions, "next": after})

    def game_list(self) -> list[dict[str, Any]]:
        """Every game offered (``discovery.game_list``)."""
        return discovery.game_list(self.game_types)

    def open_sessions(self) -> list[dict[str, Any]]:
        """Sessions still waiting for players. Auto sessions are joined with token 'auto'."""
        return self.open_sessions_page()[0]

    def open_sessions_page(self, after: tuple[str, str] | None = None,
                           limit: int | None = None, timer: bool = False,
                           ) -> tuple[list[dict[str, Any]], list[str] | None]:
        """A page of the sessions waiting for players (``discovery.open_sessions_page``)."""
        return discovery.open_sessions_page(self.sessions, after, limit, timer)

    # ------------------------------------------------------------ lookups

    def _game_type(self, game_name: str) -> GameType:
        game_type = self.game_types.get(game_name)
        if game_type is None:
            raise framework_error(
                f"{NO_SUCH_GAME}: '{game_name[:100]}' (available: "
                + ", ".join(sorted(self.game_types)) + ")"
                + _no_such_game.no_such_game_hint(game_name, self.game_types, self.unloaded))
        return game_type

    def _session(self, game_name: str, token: str) -> Session:
        session = self.sessions.get((game_name, token))
        if session is None:  # (a session's game is always offered: checked only now)
            self._game_type(game_name)  # an unknown game is named as such
            raise framework_error(NO_SUCH_SESSION)
        return session

    # ------------------------------------------------------------ ending sessions

    def _end(self, session: Session, reason: ProtocolError, *, forget: bool = True) -> None:
        key = (session.game_name, session.token)
        if self.sessions.get(key) is session:
            del self.sessions[key]
            self.admission.ended(session)
        if self._open_auto.get(session.game_name) is session:
            del self._open_auto[session.game_name]
        if forget and self.store is not None and session.full:
            self.store.forget(session)
            if self.timer_book is not None:
                self.timer_book.gone(session)
        session.close(reason)

    def restore(self, snapshots: list[dict[str, Any]]) -> None:
        """Bring back the sessions saved before the server last stopped."""
        for data in snapshots:
            name, token = data["game_name"], data["token"]
            game_type = self.game_types.get(name)
            if game_type is None:
                log.error(NOT_LOADED, name, token, name, name)
                continue
            try:
                session = Session.restore(data, game_type, recorder=self.store,
                                          clock=self.clock)
            except GameCodeError as err:
                log.error("session %s/%s not restored: %s", name, token, err)
                continue
            self.sessions[(name, token)] = session
            build = session.game.pending
            if build is not None:  # a game replayed in its worker process (store._restore)
                build.then(functools.partial(self._replayed, session, build))
            session.when_abandoned = self._when_abandoned
            session.owner = session.players[0].address if session.players else ""
            self.admission.started(session)
            self._watch(session)
            if token.startswith(f"{AUTO}-") and token[len(AUTO) + 1:].isdigit():
                number = int(token[len(AUTO) + 1:])
                self._auto_numbers = itertools.count(
                    max(number + 1, next(self._auto_numbers)))
        if snapshots:
            log.info("restored %d saved session(s)", len(self.sessions))

    def _replayed(self, session: Session, build: Call) -> None:
        """A restored game's replay in its worker ended: if it failed, drop the session.

        As for a game replayed in the server, whose session is never restored.
        But if the game cannot be played now at all (the server is stopping,
        or its file no longer loads), the session stays saved for a later
        start, as one whose game is not loaded does.
        """
        if build.error is None:
            return
        why = session.game_type.unavailable
        if why is not None:
            log.warning("session %s/%s: its restore did not finish (%s); it stays saved "
                        "for the next start", session.game_name, session.token, why)
            self._end(session, ProtocolError(build.error), forget=False)
            return
        log.error("session %s/%s cannot be restored (%s); it is dropped",
                  session.game_name, session.token, build.error)
        self._end(session, ProtocolError(build.error))

    # ------------------------------------------------------------ time

    def tick_interval(self) -> float:
        """How often ``tick`` should run: a tenth of the shortest timeout, 0.05 to 1 s.

        Timeouts thus fire up to a tenth late (at most a second), never early.
        """
        shortest = min(self.limits.game_timeout, self.limits.join_timeout)
        return max(0.05, min(1.0, shortest / 10))

    def tick_timers(self) -> None:
        """End the turns whose time is up (the server calls this at ``timers.next()``)."""
        for session in self.timers.due(self.clock()):
            try:
                session.time_up()
            except Exception:  # a bug of ours: log it, and keep the other timers going
                log.exception("session %s/%s: ending a turn on time failed",
                              session.game_name, session.token)
            self.timers.update(session)

    def tick(self) -> None:
        """Remove the sessions whose time is up: idle too long, or not full in time.

        Turn timers that are due run out here too (if the server's wake-up
        for them came late), and the router's time passes.
        """
        self.tick_timers()
        self.admission.forget_idle()
        now = self.clock()
        idle_since = now - self.limits.game_timeout
        for session in list(self.sessions.values()):
            if session.join_deadline is not None and session.join_deadline <= now:
                log.info("session %s/%s removed: only %d of %d players joined in time",
                         session.game_name, session.token, len(session.players),
                         session.size)
                self._end(session, framework_error("timeout while waiting for others to join"))
            elif session.last_activity < idle_since:
                log.info("session %s/%s timed out after %g s without requests",
                         session.game_name, session.token, self.limits.game_timeout)
                self._end(session, framework_error(TIMED_OUT))
        if self.router is not None:
            self.router.tick(now)

    def close(self) -> None:
        """End every session with 'server is shutting down' (for a clean stop)."""
        reason = server_error("server is shutting down")
        if self.timer_book is not None:  # deadlines come back exactly after a clean stop
            self.timer_book.save_all(self.sessions.values())
        for session in list(self.sessions.values()):
            self._end(session, reason, forget=False)  # saved sessions come back on start


def _error_reply(err: Exception, step: Callable[..., Outcome]) -> bytes:
    """The reply to a request whose ``step`` raised ``err`` (called while handling it)."""
    if isinstance(err, (ProtocolError, GameCodeError)):
        return protocol.error(str(err))
    log.exception("internal error while serving %s", step)  # a bug of ours: keep serving
    return protocol.error("server: internal error (see the server log)")
