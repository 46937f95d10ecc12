"""The games of a tournament: started as sessions, their results read, the gone withdrawn.

``Arbiter`` does for ``TournamentHall`` what happens between requests: it
starts every game the tournament asks for (a ``Session`` of its own, added
to the lobby, with a turn timer whose action is ``forfeit``), wakes the
participants waiting for it, reads each game's result when it ends (from
the final states through ``gameserver.results``, or who ran out of time),
records it, and saves every event through the ``TournamentBook``. Each
game's session ends the game as a draw after the tournament's ``max_moves``
accepted moves (``Session.max_moves``), so every game ends.

A participant whose program sent no request at all during ``ABSENT_GAMES``
games in a row that it lost on time is gone (disconnected, crashed): it is
*withdrawn*, its later games are lost without being played, and the
tournament goes on. A program that is only slow (it moves, too late, in an
earlier game) is never taken for gone. The hall reinstates a withdrawn
participant that joins again.

A game that cannot even be made ``BROKEN_STARTS`` times in a row stops the
tournament with that reason (``Arbiter.cancel``): each of its games would
fail so, and were all voided at once on the event loop. The count is of
games in a row, across rounds, and starts again at every game made: not
per round, since a round robin of four has two games a round, and a count
per round would never reach three (every game voided, the tournament
"finished"). A game whose file now says it is not for two stops the
tournament at its next game (``_unplayable``), without voiding a game for
it; the games running then play on, and count for nothing, as after an
operator's cancel. A game no longer offered at all (its file removed, or
with an error, at a restart of the server) holds the tournament instead:
no game starts until a later start of the server offers it again (a typo
must not end a tournament for good). So does a game whose worker process is
lost for good while the server runs (``GameType.unavailable``): the games
running then count void, together (``tick``), and no more are started. A
stop of the server voids nothing (``close``).
"""

from __future__ import annotations

import logging
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import discovery, results
from ._timeouts import ForfeitedGame
from .checked import Call, GameType
from .guard import GameCodeError
from .protocol import ProtocolError
from .session import Recorder, Session
from .timers import TimerSpec, TurnTimer
from .tournament import GameResult, GameSlot, Tournament
from .tournament_store import TournamentBook
from .waits import Wait

log = logging.getLogger("gameserver.tournament")

PREFIX = discovery.TOURNAMENT
ABSENT_GAMES = 2  # games lost on time in a row, without a single request, that withdraw
# Games in a row (none started in between) that could not even be made (the game's
# __init__ raises, or its worker cannot start) after which the tournament is stopped.
BROKEN_STARTS = 3


class SessionHost(typing.Protocol):
    """What the tournaments need of the lobby: its games, its sessions, a way to add one."""

    game_types: dict[str, GameType]
    sessions: dict[tuple[str, str], Session]
    store: Recorder | None
    clock: Callable[[], float]
    router: Any

    @property
    def limits(self) -> Any: ...

    def add_session(self, session: Session) -> None: ...

    def remove_session(self, session: Session, reason: ProtocolError) -> None: ...


@dataclass(slots=True, eq=False)
class Seat:
    """A participant's place in one game."""

    session: Session
    player_id: int


@dataclass(slots=True, eq=False)
class Entry:
    """One tournament at the hall: its rules and the live parts that go with them."""

    tournament: Tournament
    salt: str
    waits: dict[str, Wait] = field(default_factory=dict)  # name -> its waiting join
    seats: dict[str, Seat] = field(default_factory=dict)  # name -> its current game's seat
    games: dict[str, Session] = field(default_factory=dict)  # game key -> running session
    keys: dict[str, tuple[Session, int, bool]] = field(default_factory=dict)  # key -> seat
    # The keys in ``keys`` of each game's session, until the lobby ends it (idle): then they
    # go (``Arbiter.tick``). Kept for good, they held every game's session for the
    # tournament's life: its game, players and views, 2.7 KB a Talk game (a round robin
    # of 300 plays 44,850).
    issued: dict[Session, list[str]] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)  # name -> its last request (clock)
    strikes: dict[str, int] = field(default_factory=dict)  # name -> games missed in a row
    failed_starts: int = 0  # games in a row that could not be made (``BROKEN_STARTS``)
    held: str = ""  # why no game could start, as last logged (``Arbiter.held``)

    def issue(self, key: str, session: Session, player_id: int, observer: bool) -> None:
        """Let requests with ``key`` reach ``player_id``'s seat in ``session`` (as long as
        the lobby keeps the session)."""
        if key not in self.keys:
            self.issued.setdefault(session, []).append(key)
        self.keys[key] = (session, player_id, observer)

    def forget_ended(self) -> None:
        """Drop the keys of the sessions the lobby has ended (idle for its game_timeout)."""
        for session in [s for s in self.issued if s.closed is not None]:
            for key in self.issued.pop(session):
                self.keys.pop(key, None)


class Arbiter:
    """Runs the games of every tournament; see the module docstring.

    Args:
        host: the lobby.
        book: where events are saved (None: nowhere).
        wall: Unix seconds.
    """

    def __init__(self, host: SessionHost, book: TournamentBook | None,
                 wall: Callable[[], float]) -> None:
        self.host = host
        self.book = book
        self.wall = wall
        self.closed = False  # the server is stopping (``close``)

    def close(self) -> None:
        """The server is stopping: from now on no result is recorded, no game started.

        A stop fails what is in flight: a game's result being read from its worker
        process (which the stop marks unusable, with the mark of a broken one),
        and recorded void for good a game that was won. The game's saved copy comes
        back at the next start, where its result is read (``_start_game``), or it
        is played on.
        """
        self.closed = True

    def schedule(self, entry: Entry) -> None:
        """Start every game that is due; record the ones lost for absence."""
        if self.closed:
            return
        tournament = entry.tournament
        while True:
            slots, forfeited = tournament.due_games()
            for key, result in forfeited:
                self._recorded(entry, key, result)
            void = False
            for slot in slots:
                if tournament.over:  # stopped: its game cannot be made (``_start_game``)
                    break
                void |= not self._start_game(entry, slot)
            if not void or tournament.over:
                break
        if tournament.over and tournament.ended is None:
            tournament.ended = self.wall()
            self.event(entry, "end")
            log.info("tournament %s is over; winner: %s", tournament.name,
                     tournament.standings()[0]["name"])
            self.wake_all(entry)

    def _start_game(self, entry: Entry, slot: GameSlot) -> bool:
        """Open the session of one game; False if the game could not even be made."""
        tournament = entry.tournament
        settings = tournament.settings
        token = f"{PREFIX}{tournament.name}/{slot.key}"
        session = self.host.sessions.get((settings.game, token))  # restored after a restart
        if session is None or session.closed is not None:
            held = self.held(settings.game)
            if held:  # (``TournamentHall.handle`` says so to every request)
                if entry.held != held:  # (said once: not for every game of every round)
                    log.error("tournament %s is held from game %s on: %s",
                              tournament.name, slot.key, held)
                entry.held = held
                return True  # (not void: nothing was recorded, nothing more is due now)
            unplayable = self._unplayable(settings.game)
            if unplayable:  # every later game would be so: no game is voided for it
                self.cancel(entry, unplayable)
                return False
            try:
                session = self._new_session(entry, token, slot)
            except GameCodeError as err:
                log.error("tournament %s: game %s could not start: %s", tournament.name,
                          slot.key, err)
                void = GameResult(slot.seats, (0.5, 0.5), "void")
                tournament.record(slot.key, void)
                self._recorded(entry, slot.key, void)
                entry.failed_starts += 1
                if entry.failed_starts >= BROKEN_STARTS and not tournament.over:
                    # Broken: each game would fail so, every one of them voided at once on
                    # the event loop (a round robin of 1,000: 499,500 games, ~30 s).
                    self.cancel(entry, f"its game {settings.game} could not be started "
                                f"{BROKEN_STARTS} times in a row ({str(err)[:300]}); the "
                                "operator may fix the game and create the tournament again")
                return False
            entry.failed_starts = 0
        session.max_moves = settings.max_moves  # (also for a game restored after a restart)
        entry.games[slot.key] = session
        for player_id, player in enumerate(session.players):
            entry.seats[player.name] = Seat(session, player_id)
            entry.issue(player.key, session, player_id, False)
            if player.observer_key is not None:
                entry.issue(player.observer_key, session, player_id, True)
            wait = entry.waits.get(player.name)
            if wait is not None:
                wait.wake()
        session.when_over = lambda over: self._game_over(entry, slot.key, over)
        if is_over(session):
            self._game_over(entry, slot.key, session)
        return True

    def held(self, game: str) -> str:
        """Why no game of ``game`` can start now ("" if they can), and what makes the
        tournament go on: it is not offered (its file removed, or with an error, at a
        restart), or its worker process is broken (its file no longer loads), until the
        server starts again; or a replacement worker found its file without the game,
        until a later replacement finds the game again (``tick``), or the server starts
        again. Nothing is voided for it: every game of the tournament would be, one
        after another."""
        game_type = self.host.game_types.get(game)
        if game_type is None:
            return (f"its game {game} is not offered by this server now (its file was "
                    "removed, or does not load); it goes on once the operator brings the "
                    "game back and starts the server again")
        why = game_type.unavailable
        if why is None:
            return ""
        if why == game_type.gone:  # (``isolated._recatalogued``)
            return (f"its game {game} cannot be played now ({why}); it goes on once the "
                    "game is back in its file: as soon as a new worker process of the file "
                    "reads it (one starts whenever the running one ends), or at the next "
                    "start of the server")
        return (f"its game {game} cannot be played now ({why}); it goes on once the "
                "operator fixes the game and starts the server again")

    def _unplayable(self, game: str) -> str:
        """Why ``game`` cannot be played by two any more ("" if it can): its file now says
        another number of players.

        A tournament checks its game when it is created; its file may change while
        the tournament runs (a worker process imports it again,
        ``isolated._recatalogued``; a restart of the server, which then drops the
        saved games of a changed range, ``store._restore``). Until 2026-11-30 the
        tournament went on making two-player games of a game for three.
        """
        try:
            problem = self.host.game_types[game].count_problem(2)
        except GameCodeError:
            return ""  # (its start fails, and says why: a failed start, counted below)
        if not problem:
            return ""
        return (f"its game's file changed while the tournament ran: {problem}; the operator "
                "may create the tournament again with a game for two")

    def _new_session(self, entry: Entry, token: str, slot: GameSlot) -> Session:
        settings = entry.tournament.settings
        game_type = self.host.game_types[settings.game]
        session = Session(game_type, token, 2, recorder=self.host.store, clock=self.host.clock)
        session.timer = TurnTimer(TimerSpec(settings.turn_timeout, settings.game_clock,
                                            "forfeit"), 2)
        for name in slot.seats:
            session.add_player(name, entry.tournament.participants[name].address)
        self.host.add_session(session)
        return session

    def _game_over(self, entry: Entry, key: str, session: Session) -> None:
        """A game of the tournament ended: record it, and go on."""
        if entry.games.get(key) is not session or self.closed:
            return
        if not isinstance(session.game, ForfeitedGame):  # its result is in the final states
            for player_id in range(2):
                try:
                    reply = session.game.view_reply(player_id)
                except GameCodeError:
                    break  # the result says "void"
                if isinstance(reply, Call):  # a game in a worker process: ask for it first
                    reply.then(lambda: self._game_over(entry, key, session))
                    return
        if self._void_after_cancel(entry, key):  # before _result: it counts missed games
            return
        try:
            self._record(entry, key, self._result(entry, session))
        except Exception:  # a bug of ours must not break the move that ended the game
            log.exception("tournament %s: recording game %s failed", entry.tournament.name,
                          key)

    def _game_id(self, session: Session) -> int:
        """The history's id of the session's game (its replay), 0 without a store."""
        store = self.host.store
        return store.game_id(session) if store is not None else 0

    def _result(self, entry: Entry, session: Session) -> GameResult:
        names = (session.players[0].name, session.players[1].name)
        history_id = self._game_id(session)
        game = session.game
        if isinstance(game, ForfeitedGame):
            lost = game.forfeit["players"]
            if not lost:  # ended at max_moves (Session._limit_reached)
                log.info("tournament %s: game %s reached the limit of %d moves: a draw",
                         entry.tournament.name, session.token, session.max_moves)
                return GameResult(names, (0.5, 0.5), "limit", history_id)
            for player_id in lost:
                name = names[player_id]
                if entry.seen.get(name, -math.inf) <= session.created:  # not a sign of it
                    entry.strikes[name] = entry.strikes.get(name, 0) + 1
                    if entry.strikes[name] >= ABSENT_GAMES:
                        self._withdraw(entry, name)
            return GameResult(names, (0.0 if 0 in lost else 1.0, 0.0 if 1 in lost else 1.0),
                              "timeout", history_id)
        try:
            finals = [game.view(player_id) for player_id in range(2)]
        except GameCodeError as err:
            log.error("tournament %s: the result of %s cannot be read: %s",
                      entry.tournament.name, session.token, err)
            return GameResult(names, (0.5, 0.5), "void", history_id)
        outcome = results.outcome({"players": list(names), "final_states": finals})
        if outcome["kind"] == "win" and len(outcome["winners"]) == 1:
            winner = outcome["winners"][0]
            return GameResult(names, (1.0 if winner == names[0] else 0.0,
                                      1.0 if winner == names[1] else 0.0), "played", history_id)
        return GameResult(names, (0.5, 0.5), "played", history_id)

    def _withdraw(self, entry: Entry, name: str) -> None:
        if entry.tournament.participants[name].withdrawn:
            return
        entry.tournament.withdraw(name)
        self.event(entry, "withdraw", name=name)
        log.info("tournament %s: %s missed %d games and is withdrawn (joining again brings "
                 "it back)", entry.tournament.name, name, ABSENT_GAMES)

    def _void_after_cancel(self, entry: Entry, key: str) -> bool:
        """Whether game ``key`` ended after its tournament was cancelled (it is let go):
        it counts for nothing, neither as a result nor as a game a player missed."""
        if not entry.tournament.over:
            return False
        entry.games.pop(key, None)
        log.info("tournament %s: game %s ended after the tournament was cancelled; not "
                 "recorded", entry.tournament.name, key)
        return True

    def _record(self, entry: Entry, key: str, result: GameResult,
                schedule: bool = True) -> None:
        if self._void_after_cancel(entry, key):
            return
        entry.games.pop(key, None)
        entry.tournament.record(key, result)
        self._recorded(entry, key, result)
        if schedule:
            self.schedule(entry)

    def _recorded(self, entry: Entry, key: str, result: GameResult) -> None:
        self.event(entry, "result", key=key, seats=list(result.seats),
                    points=list(result.points), reason=result.reason,
                    history_id=result.history_id)

    def cancel(self, entry: Entry, because: str = "") -> None:
        """Stop the tournament: the operator's cancel, or the server's ``because`` (its
        game cannot be started), told to every participant that joins from now on.

        Raises:
            TournamentError: it is over already.
        """
        tournament = entry.tournament
        tournament.cancel(self.wall(), because)
        if because:
            self.event(entry, "cancel", because=because)
            log.error("tournament %s stopped: %s", tournament.name, because)
        else:
            self.event(entry, "cancel")
            log.info("tournament %s cancelled", tournament.name)
        self.wake_all(entry)

    def wake_all(self, entry: Entry) -> None:
        for wait in list(entry.waits.values()):
            wait.wake()

    def event(self, entry: Entry, kind: str, **data: Any) -> None:
        if self.book is not None:
            self.book.event(entry.tournament.name, kind, self.wall(), data)

    def tick(self, entry: Entry) -> None:
        """A running game whose session ended without a result (idle, failed) counts as void;
        the keys of ended sessions go.

        A broken worker process ends every game of its file at once: they are voided
        together, in one line of the log that says why, and the tournament is then
        held (``held``); it voided them one line each, and then, at each tick, the
        games started next, which failed at once, until all were void and the
        tournament "finished".
        """
        if self.closed:
            return
        if entry.held and not self.held(entry.tournament.settings.game):
            # Held no more: a replacement worker found the game in its file again
            # (``isolated._recatalogued``). Requests are no longer told it is held, so its
            # games start now: nothing else would start them before the server's restart.
            # The games due while it was held were taken (``due_games``), never started.
            entry.held = ""
            for match in entry.tournament.rounds[-1] if entry.tournament.rounds else ():
                if match.running and match.running not in entry.games:
                    match.running = ""  # (due again, under the same key)
            self.schedule(entry)
        ended = [(key, session) for key, session in entry.games.items()
                 if session.closed is not None and not is_over(session)]
        broken = self.held(entry.tournament.settings.game) if ended else ""
        if broken:
            log.error("tournament %s: %d running game(s) count void (%s): %s",
                      entry.tournament.name, len(ended), ", ".join(key for key, _ in ended),
                      broken)
        for key, session in ended:
            if not broken:
                log.warning("tournament %s: game %s ended without a result (%s)",
                            entry.tournament.name, key, session.closed)
            self._record(entry, key, GameResult(
                (session.players[0].name, session.players[1].name), (0.5, 0.5),
                "void", self._game_id(session)), schedule=False)
        if ended:
            self.schedule(entry)
        entry.forget_ended()


def is_over(session: Session) -> bool:
    try:
        return bool(session.game.game_over())
    except GameCodeError:
        return False
