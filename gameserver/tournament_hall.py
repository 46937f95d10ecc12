"""Where tournaments are played: classic clients in, game sessions out.

Theory of operation
-------------------
A participant needs nothing but the classic client: it joins the session
``tournament-<name>`` of the tournament's game, with its player name. The
lobby hands every request for a token the hall owns to the hall (the
hall is the lobby's ``router`` while it has tournaments):

* ``join`` registers the name (while registration is open) and waits
  until the participant's next game starts; the reply is the classic one,
  with the seat's id and key and ``"session": "tournament-<name>"``, so the
  client goes on using the tournament's token. After each game the client
  simply joins again. Once the tournament is over, the join fails with a
  ``framework:`` error saying so and naming the participant's place.
* ``state``, ``move``, ``observer_code`` with the tournament's token are
  routed by the key to the participant's game session. ``observe`` by
  name watches that participant's current game. ``restart`` is refused.

Each game is a ``Session`` of its own (token ``tournament-<name>/r<round>
t<table>g<game>``), served by the lobby like any other (history, dashboard,
replays), with a turn timer whose action is ``forfeit``: a player out of
time loses the game. Starting games and reading their results is the
``Arbiter``'s (``gameserver._tournament_games``), which also withdraws a
participant that is gone; the hall keeps track of who sent a request when
(``Entry.seen``), and joining again reinstates a withdrawn participant.

A name belongs to its registrant. A classic client can only send its name,
so the name carries the proof: ``alice#tulip-42`` registers ``alice`` with
the password ``tulip-42`` (only a hash is kept; the name shown is
``alice``), and every later join as ``alice`` must bring it. A name
registered without a password is bound to the address it registered from.
docs/tournaments.md says what remains possible.

The rules of a tournament are ``gameserver.tournament``; saving is
``gameserver.tournament_store``. Nothing here touches sockets or asyncio.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from . import protocol
from ._tournament_games import PREFIX, Arbiter, Entry, SessionHost, is_over
from .addresses import address_key
from .admission import RateLimit, WrongGuesses
from .discovery import PASSWORD_MARK
from .guard import GameCodeError
from .players import keys_match
from .protocol import (
    Join,
    Move,
    Observe,
    ObserverCode,
    Request,
    Restart,
    State,
    StateWithMoves,
    Subscribe,
    framework_error,
)
from .session import Session
from .tournament import Tournament, TournamentError, TournamentSettings
from .tournament_store import TournamentBook, make_room, rated_games, rebuild, to_prune
from .waits import Feed, Outcome, Wait

log = logging.getLogger("gameserver.tournament")

WRONG_PASSWORDS_PER_MINUTE = 20  # per client address (address_key): guessing takes long
WRONG_PASSWORDS_REMEMBERED = 16  # per address, counted once: a lab's stale scripts (NAT)


class TournamentHall:
    """Every tournament of one server; see the module docstring.

    Args:
        host: the lobby.
        book: where tournaments are saved (None: in memory only).
        wall: Unix seconds (tests may pass their own).
    """

    prefix = PREFIX

    def __init__(self, host: SessionHost, book: TournamentBook | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.host = host
        self.book = book
        self.wall = wall
        self.entries: dict[str, Entry] = {}
        self.arbiter = Arbiter(host, book, wall)
        self._guesses = RateLimit(WRONG_PASSWORDS_PER_MINUTE)
        self._wrong = WrongGuesses(WRONG_PASSWORDS_REMEMBERED)  # counted once (_check_owner)
        self.rate_named_games = False  # ratings count every game of named players too
        # History ids the deleted tournaments rated, while the history keeps their games: the
        # server has the store take out those it prunes (``Store.forget_rated``).
        self.deleted_rated: set[int] = set()

    # ------------------------------------------------------------ the operator

    def create(self, settings: TournamentSettings) -> Tournament:
        """A new tournament, open for registration.

        Raises:
            TournamentError: bad settings, an unknown or unsuitable game, a name in use,
                or too many tournaments.
        """
        settings.check(self.host.limits.game_timeout)
        if settings.name in self.entries:
            raise TournamentError(f"there is a tournament {settings.name} already")
        if self.book is not None and settings.name in self.book.unreadable:
            raise TournamentError(
                f"tournament {settings.name} is saved in the store file, but this server "
                "cannot read it (see the log of its start); pick another name")
        game_type = self.host.game_types.get(settings.game)
        if game_type is None:
            raise TournamentError(f"no such game: {settings.game!r} (available: "
                                  + ", ".join(sorted(self.host.game_types)) + ")")
        try:
            low, high = game_type.player_range()
        except GameCodeError as err:
            raise TournamentError(str(err)) from None
        if not low <= 2 <= high:
            raise TournamentError(f"tournaments are for two-player games; {settings.game} is "
                                  f"played by {low} to {high}")
        for name in make_room([e.tournament for e in self.entries.values()]):
            self.delete(name)  # (after every other check: a refused one deletes none)
        tournament = Tournament(settings, self.wall())
        entry = Entry(tournament, secrets.token_hex(16))
        self.entries[settings.name] = entry
        if self.book is not None:
            self.book.created(tournament, entry.salt)
        self.host.router = self
        log.info("tournament %s created: %s, %s, best of %d, %g s per move", settings.name,
                 settings.game, settings.format, settings.best_of, settings.turn_timeout)
        return tournament

    def start(self, name: str) -> None:
        """Close registration and play (raises TournamentError if it cannot start)."""
        entry = self._entry(name)
        entry.tournament.start(self.wall())
        self.arbiter.event(entry, "start")
        log.info("tournament %s started with %d participants", name,
                 len(entry.tournament.participants))
        self.arbiter.schedule(entry)

    def cancel(self, name: str) -> None:
        """Stop it; running games play on, but count for nothing."""
        self.arbiter.cancel(self._entry(name))

    def delete(self, name: str) -> None:
        """Forget a finished or cancelled tournament (also on disk).

        Its games stay in the history and keep counting in the ratings
        (``deleted_rated``): deleting it changes nobody's rating. Their
        sessions leave the lobby now (a cancelled tournament's games still
        running end), not once idle: a tournament made again under the name
        would take them for its own games, and be over at once with their
        results.
        """
        entry = self._entry(name)
        if not entry.tournament.over:
            raise TournamentError(f"tournament {name} is {entry.tournament.state}: cancel it "
                                  "before deleting it")
        rated = rated_games(entry.tournament)
        game, prefix = entry.tournament.settings.game, f"{PREFIX}{name}/"
        gone = framework_error(f"tournament {name} was deleted")
        for (game_name, token), session in list(self.host.sessions.items()):
            if game_name == game and token.startswith(prefix):
                self.host.remove_session(session, gone)
        del self.entries[name]
        self.deleted_rated |= rated
        if self.book is not None:
            self.book.deleted(name, rated)
        if not self.entries and self.host.router is self:
            self.host.router = None

    def tournament(self, name: str) -> Tournament | None:
        entry = self.entries.get(name)
        return entry.tournament if entry is not None else None

    def _entry(self, name: str) -> Entry:
        entry = self.entries.get(name)
        if entry is None:
            raise TournamentError(f"there is no tournament {name!r}")
        return entry

    # ------------------------------------------------------------ restoring

    def restore(self) -> None:
        """Bring back the saved tournaments, and link the running games the lobby restored."""
        if self.book is None:
            return
        self.deleted_rated = self.book.load_rated()
        for saved in self.book.load():
            tournament = rebuild(saved)
            entry = Entry(tournament, saved.salt)
            self.entries[tournament.name] = entry
            if tournament.state == "running":
                self.arbiter.schedule(entry)
        for name in to_prune([e.tournament for e in self.entries.values()]):
            self.delete(name)  # (a file of a server that kept more)
        if self.entries:
            self.host.router = self
            log.info("restored %d tournament(s)", len(self.entries))

    # ------------------------------------------------------------ requests

    def owns(self, token: str) -> bool:
        return token[len(PREFIX):].partition("/")[0] in self.entries

    def handle(self, request: Request, client: str) -> Outcome:
        """Serve a request for ``tournament-<name>`` or one of its games' tokens."""
        token = getattr(request, "session", "")
        name, _, game_key = token[len(PREFIX):].partition("/")
        entry = self.entries[name]
        settings = entry.tournament.settings
        if getattr(request, "game", settings.game) != settings.game:
            raise framework_error(f"tournament {name} plays {settings.game}, not "
                                  f"{request.game[:100]}")  # type: ignore[union-attr]
        held = "" if entry.tournament.over else self.arbiter.held(settings.game)
        if held:  # (``Arbiter._start_game``): a join would wait for a game that cannot start
            raise framework_error(f"tournament {name} is held: {held}")
        if isinstance(request, Join):
            if game_key:
                raise framework_error(f"session names starting with {PREFIX}{name}/ belong to "
                                      f"the games of tournament {name}: join {PREFIX}{name}")
            return self._join(entry, request, client)
        if isinstance(request, Restart):
            raise framework_error(f"the games of tournament {name} cannot be restarted: call "
                                  "join() again for your next game")
        if isinstance(request, Observe):
            return self._observe(entry, request, game_key)
        if isinstance(request, (Move, State, ObserverCode)):
            session, player_id = self._seat_of(entry, request.key, request.player_id,
                                               isinstance(request, State) and request.observer)
            if isinstance(request, Move):
                return session.move(player_id, request.key, request.move, request.with_state,
                                    request.legal_moves, request.state_of,
                                    final_state=request.final_state)
            if isinstance(request, ObserverCode):
                outcome = session.observer_code(player_id, request.key)
                self._know_observer_key(entry, session, player_id)
                return outcome
            return session.state(player_id, request.key, request.observer,
                                 legal_moves=type(request) is StateWithMoves,
                                 timer=request.timer)
        raise framework_error("this request is not served for tournaments")

    def subscribe(self, request: Subscribe, client: str) -> Feed:
        """A participant's subscription to its current game's view (push, an extension).

        The key names the game, as for ``state``; a later game needs a new
        subscription (the client joins again for it anyway).

        Raises:
            ProtocolError: an invalid key, or the tournament plays another game.
        """
        name = request.session[len(PREFIX):].partition("/")[0]
        entry = self.entries[name]
        if request.game != entry.tournament.settings.game:
            raise framework_error(f"tournament {name} plays {entry.tournament.settings.game}, "
                                  f"not {request.game[:100]}")
        session, player_id = self._seat_of(entry, request.key, request.player_id,
                                           request.observer)
        return session.feed(player_id, request.key, request.observer, request.legal_moves,
                            request.timer)

    def _seat_of(self, entry: Entry, key: str, player_id: int,
                 observer: bool) -> tuple[Session, int]:
        """The session and id a key belongs to; a player's own request shows it is there."""
        seat = entry.keys.get(key)
        if seat is None or seat[1] != player_id:
            raise framework_error("invalid key")
        session, _, observer_key = seat
        if not observer and not observer_key:
            self._saw(entry, session.players[player_id].name)
        return session, player_id

    def _saw(self, entry: Entry, name: str) -> None:
        entry.seen[name] = self.host.clock()
        entry.strikes.pop(name, None)

    def _join(self, entry: Entry, request: Join, client: str) -> Outcome:
        tournament = entry.tournament
        name, mark, password = request.name.partition(PASSWORD_MARK)
        if not name:
            raise framework_error(
                f"to take part in tournament {tournament.name}, join with your name "
                "(name='...'; add '#' and a password to keep others from using it)")
        if len(request.name) > self.host.limits.max_name_length:
            raise framework_error(f"player name too long (at most "
                                  f"{self.host.limits.max_name_length} characters)")
        if mark and not password:
            raise framework_error("a password after '#' must not be empty")
        if not name.isascii():
            protocol.check_text("player name", name)  # shown in CSV files and terminals
        participant = tournament.participants.get(name)
        if participant is None:
            try:
                participant = tournament.register(
                    name, self._hash(entry, password) if password else "",
                    "" if password else client)
            except TournamentError as err:
                raise framework_error(str(err)) from None
            self.arbiter.event(entry, "register", name=name, secret=participant.secret,
                        address=participant.address)
            self._saw(entry, name)
            log.info("tournament %s: %s registered (%d)", tournament.name, name,
                     len(tournament.participants))
            if tournament.ready_to_start:
                self.start(tournament.name)
        else:
            self._check_owner(entry, name, password, client)
            self._saw(entry, name)
            if participant.withdrawn and not tournament.over:
                tournament.reinstate(name)
                self.arbiter.event(entry, "reinstate", name=name)
                log.info("tournament %s: %s is back", tournament.name, name)
                self.arbiter.schedule(entry)
        return self._seat_reply(entry, name)

    def _check_owner(self, entry: Entry, name: str, password: str, client: str) -> None:
        participant = entry.tournament.participants[name]
        tournament = entry.tournament.name
        if participant.secret:
            guesser = address_key(client)  # an IPv6 host guesses from its whole /64
            given = self._hash(entry, password) if password else ""
            guess = f"{tournament}\n{name}\n{given}"  # tried lately: no new guess, not counted
            tried = self._wrong.tried(guesser, (guess,))
            if not tried and not self._guesses.allow(guesser, peek=True):
                raise framework_error("too many wrong passwords from your address; wait a "
                                      "minute")
            if keys_match(given, participant.secret):
                return
            if not tried:
                self._guesses.allow(guesser)
                self._wrong.add(guesser, (guess,))
            raise framework_error(
                f"the name {name} is registered in tournament {tournament} with a "
                f"password: join as '{name}#<password>' with the password chosen at "
                "registration")
        elif participant.address and participant.address != client:
            raise framework_error(
                f"the name {name} was registered in tournament {tournament} from another "
                f"computer, and only its registrant may play under it (a name registered as "
                f"'{name}#<password>' can be used from anywhere with its password)")

    @staticmethod
    def _hash(entry: Entry, password: str) -> str:
        return hmac.new(entry.salt.encode(), password.encode("utf-8", "surrogatepass"),
                        hashlib.sha256).hexdigest()

    def _seat_reply(self, entry: Entry, name: str) -> Outcome:
        """The participant's current game, or a ``Wait`` for its next one, or the end."""
        seat = entry.seats.get(name)
        if seat is not None and seat.session.closed is None and not is_over(seat.session):
            session = seat.session
            return session.saved(protocol.ok({  # a key to a session that is on disk
                "player_id": seat.player_id, "key": session.players[seat.player_id].key,
                "session": PREFIX + entry.tournament.name,
                "request_size_max": self.host.limits.request_size_max}))
        if entry.tournament.over:
            raise framework_error(entry.tournament.final_words(name))
        old = entry.waits.get(name)
        wait = Wait(lambda: self._resume(entry, name, wait),
                    lambda w: entry.waits.pop(name) if entry.waits.get(name) is w else None)
        entry.waits[name] = wait
        if old is not None:
            old.wake()  # its resume finds itself replaced
        return wait

    def _resume(self, entry: Entry, name: str, wait: Wait) -> Outcome:
        if entry.waits.get(name) is not wait:
            raise framework_error(f"another program joined tournament "
                                  f"{entry.tournament.name} as {name}; this join was replaced")
        del entry.waits[name]
        return self._seat_reply(entry, name)

    def _observe(self, entry: Entry, request: Observe, game_key: str) -> Outcome:
        tournament = entry.tournament
        if game_key:
            session = entry.games.get(game_key) or self.host.sessions.get(
                (tournament.settings.game, f"{PREFIX}{tournament.name}/{game_key}"))
            if session is None:
                raise framework_error("no such game session")
        else:
            seat = entry.seats.get(request.name)
            if seat is None:
                raise framework_error(f"{request.name[:100]} has no game in tournament "
                                      f"{tournament.name} yet")
            session = seat.session
        consent = (self.host.limits.observer_consent
                   and session.game_type.hidden_information)
        outcome = session.observe(request.name, request.code, consent)
        for player_id, player in enumerate(session.players):
            if player.name == request.name:
                self._know_observer_key(entry, session, player_id)
        return outcome

    @staticmethod
    def _know_observer_key(entry: Entry, session: Session, player_id: int) -> None:
        key = session.players[player_id].observer_key
        if key is not None:
            entry.issue(key, session, player_id, True)

    # ------------------------------------------------------------ reading

    def summaries(self) -> list[dict[str, Any]]:
        """Every tournament in a line: name, game, format, state, participants, leader."""
        rows = []
        for entry in self.entries.values():
            tournament = entry.tournament
            standings = (tournament.describe()["standings"]  # (kept between changes)
                         if tournament.state != "registering" else [])
            rows.append({
                "name": tournament.name, "game": tournament.settings.game,
                "format": tournament.settings.format, "state": tournament.state,
                "participants": len(tournament.participants),
                "round": len(tournament.rounds),
                "rounds": tournament.planned_rounds if tournament.state != "registering"
                else None,
                "leader": standings[0]["name"] if standings else None,
                "created": tournament.created})
        return rows

    def rated_games(self) -> set[int]:
        """The store ids of every game played in a tournament (they change the ratings),
        deleted tournaments included."""
        rated = set(self.deleted_rated)
        for entry in self.entries.values():
            rated |= rated_games(entry.tournament)
        return rated

    # ------------------------------------------------------------ time

    def close(self) -> None:
        """The server is stopping: nothing is recorded from now on (``Arbiter.close``)."""
        self.arbiter.close()

    def tick(self, now: float) -> None:
        """Time passes (from ``Lobby.tick``): games that ended without a result count void."""
        self._guesses.forget_idle()
        for entry in list(self.entries.values()):
            self.arbiter.tick(entry)
