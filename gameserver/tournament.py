"""One tournament's rules: registration, schedule, matches, results and standings.

Theory of operation
-------------------
A tournament moves through the states of ``TRANSITIONS``: it is created
``registering``, the operator (or the ``start_with``-th registration)
starts it, it ``finish``-es after its last round, and the operator may
``cancel`` it before that. Nothing here knows sessions or sockets:
``TournamentHall`` (``gameserver.tournament_hall``) plays the games this
class asks for and reports how they ended.

Play is in rounds. Each round pairs participants into *matches*; a match
is ``best_of`` games between the same two participants, who swap seats
from game to game (the first name of the pair sits first in game 1). A
match ends as soon as one side has more than half of the games' points
(win 1, draw ½), or after ``best_of`` games. The next round begins when
every match of the round has ended: a round robin's rounds are fixed at the
start (``_pairing.round_robin``); a Swiss round is paired from the
standings of the moment (``_pairing.swiss_round``).

Every result goes through ``record`` (a game played, lost on time, or not
played because a participant was gone), so a tournament is rebuilt exactly
by replaying its registrations, its start and its recorded results in
order (``gameserver.tournament_store``).

How points, byes and tiebreaks count is ``gameserver._standings``.

Every game ends: after ``max_moves`` accepted moves (1000 unless set) a
game the game itself has not ended is a draw (reason ``"limit"``), so a
game whose programs can go on forever (a cycle of legal moves) does not hold
up the tournament. ``max_moves = 0`` (no limit) is accepted only with a
``game_clock``, which ends every game in time.

A participant who misses a game (its program never joined it before its
time ran out) is *withdrawn*: its later games are lost without being
played, and a Swiss round no longer pairs it. Joining again reinstates it
for the games still to come.

Registration refuses a name that looks like a registered one (a full-width
"alice" or "alice\u200b" beside "alice": ``players.looks``) or that shows nothing; a
registration read back from the store is taken as it was saved. (That rule
is why this module is a few lines over our ~450.)
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from . import _standings
from ._pairing import Pair, round_robin, swiss_round
from .players import looks

FORMATS = ("round-robin", "swiss")
TRANSITIONS = {
    ("registering", "start"): "running",
    ("registering", "cancel"): "cancelled",
    ("running", "finish"): "finished",
    ("running", "cancel"): "cancelled",
}
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,40}")
BEST_OF_MAX = 15
ROUNDS_MAX = 50
PARTICIPANTS_MAX = 1000
MAX_MOVES_DEFAULT = 1000  # accepted moves after which a game is a draw, unless set
MAX_MOVES_MAX = 1_000_000
REASONS = ("played", "timeout", "absent", "void", "limit")


class TournamentError(Exception):
    """A request a tournament cannot grant; ``str(err)`` says why, for the client."""


@dataclass(frozen=True, slots=True)
class TournamentSettings:
    """How a tournament is played (fixed once created).

    Args:
        name: letters, digits, ``-`` and ``_`` (clients join ``tournament-<name>``).
        game: the game's class name.
        format: ``"round-robin"`` or ``"swiss"``.
        best_of: games per match (the seats alternate).
        rounds: Swiss only: rounds to play; 0 picks enough to find a winner.
        turn_timeout: seconds per move; running out loses the game.
        game_clock: seconds per player for a whole game (0: no chess clock).
        start_with: start by itself once this many have registered (0: the
            operator starts it).
        max_participants: registrations accepted at most.
        max_moves: accepted moves after which a game not over is a draw (0:
            no limit; only with a ``game_clock``, so that every game ends).
    """

    name: str
    game: str
    format: str = "round-robin"
    best_of: int = 1
    rounds: int = 0
    turn_timeout: float = 10.0
    game_clock: float = 0.0
    start_with: int = 0
    max_participants: int = 256
    max_moves: int = MAX_MOVES_DEFAULT

    def check(self, longest: float = 1000.0) -> None:
        """Refuse settings that cannot work; ``longest`` is the server's game timeout.

        Raises:
            TournamentError: saying which setting and why.
        """
        from .timers import MIN_SECONDS
        if not NAME_PATTERN.fullmatch(self.name):
            raise TournamentError(
                f"a tournament name has 1 to 40 letters, digits, '-' or '_', not {self.name!r}")
        if self.format not in FORMATS:
            raise TournamentError(f"format must be one of {', '.join(FORMATS)}, "
                                  f"not {self.format!r}")
        checks = [(1 <= self.best_of <= BEST_OF_MAX, f"best_of must be 1 to {BEST_OF_MAX}"),
                  (0 <= self.rounds <= ROUNDS_MAX, f"rounds must be 0 to {ROUNDS_MAX}"),
                  (MIN_SECONDS <= self.turn_timeout <= longest,
                   f"turn_timeout must be from {MIN_SECONDS:g} to {longest:g} seconds "
                   "(a tournament needs one: it is how absent players lose)"),
                  (self.game_clock == 0 or MIN_SECONDS <= self.game_clock <= longest,
                   f"game_clock must be 0 or from {MIN_SECONDS:g} to {longest:g} seconds"),
                  (2 <= self.max_participants <= PARTICIPANTS_MAX,
                   f"max_participants must be 2 to {PARTICIPANTS_MAX}"),
                  (self.start_with == 0 or 2 <= self.start_with <= self.max_participants,
                   "start_with must be 0 (the operator starts it) or 2 to max_participants"),
                  (0 <= self.max_moves <= MAX_MOVES_MAX,
                   f"max_moves must be 0 to {MAX_MOVES_MAX:,}"),
                  (self.max_moves > 0 or self.game_clock > 0,
                   "max_moves 0 (no limit of moves) needs a game_clock: without either, a "
                   "game its programs never end would hold up the tournament forever")]
        for ok, message in checks:
            if not ok:
                raise TournamentError(message)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Participant:
    """One registered name. ``secret`` (a hash) or ``address`` says who owns it."""

    name: str
    number: int  # registration order, from 0
    secret: str = ""
    address: str = ""
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class GameResult:
    """How one game of a match ended.

    ``reason``: ``"played"`` (the game's own result), ``"timeout"`` (a
    player ran out of time), ``"absent"`` (not played: a participant was
    gone), ``"void"`` (the game's code failed; counted as a draw) or
    ``"limit"`` (it reached ``max_moves`` without ending: a draw).
    """

    seats: tuple[str, str]  # who sat as player 0 and player 1
    points: tuple[float, float]  # game points of seats[0] and seats[1]
    reason: str = "played"
    history_id: int = 0  # the store's id of the game, 0 if it was not played or saved


@dataclass(slots=True)
class Match:
    """Two participants (or one with a bye) in one round."""

    round: int
    table: int
    names: tuple[str, str | None]  # names[1] None: a bye for names[0]
    games: list[GameResult] = field(default_factory=list)
    running: str = ""  # the key of the game being played now, "" if none

    @property
    def bye(self) -> bool:
        return self.names[1] is None

    def game_points(self, name: str) -> float:
        return sum(r.points[r.seats.index(name)] for r in self.games if name in r.seats)

    def done(self, best_of: int) -> bool:
        if self.bye:
            return True
        a, b = self.names
        assert b is not None
        return (len(self.games) >= best_of
                or max(self.game_points(a), self.game_points(b)) > best_of / 2)

    def next_seats(self) -> tuple[str, str]:
        a, b = self.names
        assert b is not None
        return (a, b) if len(self.games) % 2 == 0 else (b, a)

    def key(self, number: int) -> str:
        """The name of game ``number`` (from 1) of this match: ``r2t1g3``."""
        return f"r{self.round}t{self.table}g{number}"

    def match_points(self) -> dict[str, float]:
        """Each side's match points (1, ½ or 0); nobody scores when both lost every game."""
        a, b = self.names
        assert b is not None
        pa, pb = self.game_points(a), self.game_points(b)
        if pa == pb == 0 and self.games and all(sum(r.points) == 0 for r in self.games):
            return {a: 0.0, b: 0.0}
        if pa == pb:
            return {a: 0.5, b: 0.5}
        return {a: 1.0, b: 0.0} if pa > pb else {a: 0.0, b: 1.0}


@dataclass(frozen=True, slots=True)
class GameSlot:
    """A game to play now: which match, which game of it, who sits where."""

    match: Match
    number: int  # from 1
    seats: tuple[str, str]

    @property
    def key(self) -> str:
        return self.match.key(self.number)


class Tournament:
    """One tournament; see the module docstring.

    Args:
        settings: how it is played.
        created: when it was created (Unix seconds).
    """

    def __init__(self, settings: TournamentSettings, created: float) -> None:
        self.settings = settings
        self.name = settings.name
        self.state = "registering"
        self.created = created
        self.started: float | None = None
        self.ended: float | None = None
        # Why the server stopped it (its game cannot be started, ``_tournament_games``);
        # "" when cancelled by the operator, or not cancelled.
        self.stopped_because = ""
        self.participants: dict[str, Participant] = {}
        self._looks: dict[str, str] = {}  # players.looks(name) -> name, for ``register``
        self.order: list[str] = []  # participants in the order the schedule uses
        self.rounds: list[list[Match]] = []
        self._schedule: list[list[Pair]] = []  # round robin: every round, fixed at start
        self._matches: dict[str, Match] = {}  # game key prefix "r2t1" -> match
        self._recorded = 0  # games recorded (``record``), for ``describe``
        self._described: tuple[tuple[Any, ...], dict[str, Any]] | None = None

    # ------------------------------------------------------------ life cycle

    def _go(self, event: str) -> None:
        new = TRANSITIONS.get((self.state, event))
        if new is None:
            raise TournamentError(f"tournament {self.name} is {self.state}: it cannot "
                                  f"{event} now")
        self.state = new

    def register(self, name: str, secret: str = "", address: str = "",
                 restored: bool = False) -> Participant:
        """Add a participant while registration is open.

        ``restored``: a registration read back from the store, taken even if it
        looks like another (one saved before 2026-12-01 may).

        Raises:
            TournamentError: registration is closed, the tournament is full,
                or the name is taken, looks like one taken (``players.looks``) or
                shows nothing.
        """
        if self.state != "registering":
            raise TournamentError(f"registration for tournament {self.name} is closed "
                                  f"(it is {self.state}); only registered names take part")
        if name in self.participants:
            raise TournamentError(f"the name {name} is registered already")
        shown = looks(name)
        if not shown and not restored:
            raise TournamentError(f"the name {name!a} shows nothing (only invisible "
                                  "characters or spaces); pick another name")
        if shown in self._looks and not restored:
            raise TournamentError(
                f"the name {name!a} looks like {self._looks[shown]!a}, registered already (it "
                "differs only in width, spaces or invisible characters); pick another "
                "name")
        if len(self.participants) >= self.settings.max_participants:
            raise TournamentError(f"tournament {self.name} is full "
                                  f"({self.settings.max_participants} participants)")
        participant = Participant(name, len(self.participants), secret, address)
        self.participants[name] = participant
        self._looks.setdefault(shown, name)
        return participant

    @property
    def ready_to_start(self) -> bool:
        """Whether ``start_with`` participants have registered (for an automatic start)."""
        wanted = self.settings.start_with
        return self.state == "registering" and 0 < wanted <= len(self.participants)

    def start(self, now: float) -> None:
        """Close registration and pair the first round.

        Raises:
            TournamentError: not registering, or fewer than 2 participants.
        """
        if self.state == "registering" and len(self.participants) < 2:
            raise TournamentError(f"tournament {self.name} needs at least 2 participants "
                                  f"to start ({len(self.participants)} registered)")
        self._go("start")
        self.started = now
        self.order = sorted(self.participants, key=lambda n: self.participants[n].number)
        if self.settings.format == "round-robin":
            self._schedule = round_robin(self.order)
        self._advance()

    def cancel(self, now: float, because: str = "") -> None:
        """Stop it: the games running now play on, but are no longer its games (``record``
        refuses them), so they count for nothing. ``because``: why the server stopped it
        (told to its participants); "" for the operator's cancel."""
        self._go("cancel")
        self.ended = now
        self.stopped_because = because
        for match in self.rounds[-1] if self.rounds else []:
            match.running = ""

    @property
    def over(self) -> bool:
        return self.state in ("finished", "cancelled")

    @property
    def planned_rounds(self) -> int:
        if self.settings.format == "round-robin":
            return len(self._schedule)
        players = len(self.participants)
        return min(self.settings.rounds or math.ceil(math.log2(max(2, players))),
                   max(1, players - 1))

    # ------------------------------------------------------------ rounds and games

    def _open_round(self) -> None:
        number = len(self.rounds) + 1
        if self.settings.format == "round-robin":
            pairs = self._schedule[number - 1]
        else:
            ranked = [row["name"] for row in self.standings()
                      if not self.participants[row["name"]].withdrawn]
            met = {frozenset(m.names) for r in self.rounds for m in r if not m.bye}
            had_bye = {m.names[0] for r in self.rounds for m in r if m.bye}
            swiss_pairs, bye = swiss_round(ranked, met, had_bye)
            pairs = [self._seated(a, b) for a, b in swiss_pairs]
            if bye is not None:
                pairs.append((bye, None))
        matches = []
        for table, (a, b) in enumerate(pairs, 1):
            if a is None:  # a round robin's bye: keep the present one first
                a, b = b, None
            assert a is not None
            match = Match(number, table, (a, b))
            self._matches[match.key(0)[:-2]] = match
            matches.append(match)
        self.rounds.append(matches)

    def _seated(self, a: str, b: str) -> tuple[str, str]:
        """Swiss: whoever sat first less often so far sits first now."""
        def firsts(name: str) -> int:
            return sum(1 for r in self.rounds for m in r for g in m.games if g.seats[0] == name)
        return (b, a) if firsts(a) > firsts(b) else (a, b)

    def due_games(self) -> tuple[list[GameSlot], list[tuple[str, GameResult]]]:
        """The games to start now, and the games just lost because a participant is gone.

        Call it after every change (start, a recorded result, a
        reinstatement); it records the lost games itself, and returns them
        so that they can be saved.
        """
        slots: list[GameSlot] = []
        forfeited: list[tuple[str, GameResult]] = []
        while self.state == "running":
            progressed = False
            for match in list(self.rounds[-1]):
                if match.running or match.done(self.settings.best_of):
                    continue
                seats = match.next_seats()
                gone = [self.participants[name].withdrawn for name in seats]
                key = match.key(len(match.games) + 1)
                if any(gone):
                    result = GameResult(seats, (0.0 if gone[0] else 1.0,
                                                0.0 if gone[1] else 1.0), "absent")
                    self.record(key, result)
                    forfeited.append((key, result))
                    progressed = True
                    break  # the round may have ended: look again
                match.running = key
                slots.append(GameSlot(match, len(match.games) + 1, seats))
            if not progressed:
                break
        return slots, forfeited

    def record(self, key: str, result: GameResult) -> None:
        """How game ``key`` ended; opens the next round, or finishes, when due.

        Raises:
            TournamentError: no such game is due (a replayed record that does not fit),
                or the tournament is no longer running (a game that ended after it was
                cancelled counts for nothing).
        """
        if self.state != "running":
            raise TournamentError(f"tournament {self.name} is {self.state}: game {key} "
                                  "counts for nothing")
        match = self._matches.get(key[:key.rindex("g")]) if "g" in key else None
        if match is None or match.key(len(match.games) + 1) != key or match.done(
                self.settings.best_of):
            raise TournamentError(f"tournament {self.name} has no game {key} to record")
        match.games.append(result)
        match.running = ""
        self._recorded += 1
        self._advance()

    def _advance(self) -> None:
        """Open the next round once the last one is complete; finish after the last."""
        best_of = self.settings.best_of
        while self.state == "running" and (
                not self.rounds or all(m.done(best_of) for m in self.rounds[-1])):
            active = sum(1 for p in self.participants.values() if not p.withdrawn)
            if self.rounds and (len(self.rounds) >= self.planned_rounds or (
                    self.settings.format == "swiss" and active < 2)):
                self._go("finish")
                return
            self._open_round()

    def running_keys(self) -> list[str]:
        return [m.running for m in (self.rounds[-1] if self.rounds else []) if m.running]

    def withdraw(self, name: str) -> None:
        self.participants[name].withdrawn = True

    def reinstate(self, name: str) -> None:
        self.participants[name].withdrawn = False

    # ------------------------------------------------------------ results

    def standings(self) -> list[dict[str, Any]]:
        """Every participant, best first (see ``_standings.standings``)."""
        return _standings.standings(self)

    def crosstable(self) -> dict[str, Any]:
        """Who did what against whom (see ``_standings.crosstable``)."""
        return _standings.crosstable(self)

    def final_words(self, name: str) -> str:
        """What a participant is told when it joins after the end."""
        return _standings.final_words(self, name)

    def describe(self) -> dict[str, Any]:
        """Everything the dashboard shows of it, as JSON-ready data (no secrets).

        Made again only when something it shows has changed: a round robin of 128
        took 0.24 s to describe (3 MB), and every page that shows it asks every 2 s.
        Shared by the callers: do not change it.
        """
        seen = (self.state, self.started, self.ended, len(self.participants),
                tuple(name for name, p in self.participants.items() if p.withdrawn),
                len(self.rounds), self._recorded, tuple(self.running_keys()))
        if self._described is None or self._described[0] != seen:
            self._described = (seen, _standings.describe(self))
        return self._described[1]
