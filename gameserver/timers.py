"""Turn timers: how long a player may take, and what happens when the time is up.

Theory of operation
-------------------
A session with a timer has a ``TurnTimer`` (``session.timer``; None for
every session when no timer is configured, and then nothing here runs).
The timer knows, for each player who may move now, when that player's turn
began; the session tells it after every change who moved and whether the
move was accepted (``follow``). A player's turn begins when they become a
current player, and again after each of their *accepted* moves; a rejected
move changes nothing, so a client cannot keep its turn alive by sending
moves the game refuses. A player who is no longer current (a simultaneous
move made, the turn passed) has no deadline, so a timeout only ever hits
the players who have not moved yet.

Two limits, each optional (``TimerSpec``):

* ``turn``: seconds per move. When it runs out the framework ends the turn
  (``gameserver._timeouts``): with the action ``"move"`` (the default) it
  makes a move for the player, chosen by the game's ``timeout_move`` hook,
  else a random move of the game's ``legal_moves``; when the game offers
  neither, or with the action ``"forfeit"`` (tournaments), the player
  loses the game.
* ``clock``: a chess clock, seconds per player for all of their turns of a
  game together. A player whose clock runs out loses the game, whatever the
  action (as in chess).

Time passes only through the ``now`` the caller passes in (the lobby's
clock), so the rules are tested with a fake clock. Which session's timer
runs out next is the ``TimerSchedule``'s business: a heap with about one
entry per timed session, so a move costs a comparison, not a heap push.
Deadlines are saved with the session as wall-clock times; a turn whose time
ran out while the server was down gets ``RESTORE_GRACE`` seconds after the
restart, so that its player can reconnect.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .protocol import framework_error


class TimedSession(Protocol):
    """What turn timers need of a session (``gameserver.session.Session`` has it)."""

    timer: TurnTimer | None
    closed: Any  # the reason it ended (a ProtocolError), or None while it runs
    game: Any  # its CheckedGame
    game_name: str
    token: str
    games_played: int
    game_moves: int
    players: list[Any]  # its seats (``Player``): a timed-out seat's key seeds its random move

    def now(self) -> float:
        """The session's clock (monotonic seconds)."""

    def time_up(self) -> None:
        """End the turns whose time is up."""

    def timed_move(self, player_id: int, move: dict[str, Any]) -> bool | None:
        """Make ``move`` for a player out of time; whether the game accepted it."""

    def forfeit(self, players: list[int], reason: str) -> None:
        """End the current game: ``players`` lose it."""

ACTIONS = ("move", "forfeit")
MIN_SECONDS = 0.1  # the shortest turn or clock a session may have
# The shortest turn or clock a starter may choose for a session that others join, unless
# the host sets another (``session_timer_min``): the joiners get no say, and a classic
# client is never told, so with 0.1 s its every move was made for it at random.
STARTER_MIN = 5.0
RESTORE_GRACE = 5.0  # seconds after a restart for a turn that ran out while the server was down
COMPACT_MIN = 16  # TimerSchedule: stale entries (of ended sessions too) kept at most


@dataclass(frozen=True, slots=True)
class TimerSpec:
    """The limits of one session; both 0 means no timer.

    Args:
        turn: seconds for each move (0: no limit).
        clock: seconds per player for a whole game (0: no chess clock).
        action: what a turn timeout does: ``"move"`` (the game's
            ``timeout_move``, else a random legal move, else the player
            loses) or ``"forfeit"`` (the player loses the game at once).
    """

    turn: float = 0.0
    clock: float = 0.0
    action: str = "move"

    def __bool__(self) -> bool:
        return self.turn > 0 or self.clock > 0

    def describe(self) -> dict[str, Any]:
        """The spec as clients see it (join reply and state extension)."""
        return {"turn_timeout": self.turn or None, "game_clock": self.clock or None,
                "action": self.action}


def check_seconds(what: str, seconds: float, longest: float, shortest: float = MIN_SECONDS,
                  why: str = "") -> None:
    """Refuse a limit that is not 0 (off) or within [shortest, longest].

    Raises:
        ProtocolError: a framework error naming ``what`` (and ``why`` the range is so).
    """
    if seconds == 0 or shortest <= seconds <= longest:
        return
    raise framework_error(f"{what} must be 0 (no limit) or from {shortest:g} to "
                          f"{longest:g} seconds, not {seconds:g}{why}")


@dataclass(frozen=True, slots=True)
class TimerRules:
    """The server's timers: one spec for every game, and specs per game name.

    ``starter_min``: the shortest turn or clock a starter may choose for a
    session of more than one player (``session_timer_min``).
    """

    default: TimerSpec = TimerSpec()
    per_game: Mapping[str, TimerSpec] = field(default_factory=dict)
    starter_min: float = STARTER_MIN

    def spec_for(self, game: str, turn: float | None = None,
                 clock: float | None = None) -> TimerSpec:
        """The spec of a new session of ``game``; ``turn``/``clock`` are the starter's wish.

        A starter's value replaces the configured one for that session only
        (0 switches it off); the action is always the configured one.
        """
        spec = self.per_game.get(game, self.default)
        if turn is None and clock is None:
            return spec
        return TimerSpec(spec.turn if turn is None else float(turn),
                         spec.clock if clock is None else float(clock), spec.action)


def rules_from(turn: float, clock: float, action: str, turns: Mapping[str, float],
               clocks: Mapping[str, float], starter_min: float = STARTER_MIN) -> TimerRules:
    """``TimerRules`` from the settings: server-wide values, then per-game ones."""
    default = TimerSpec(turn, clock, action)
    per_game = {game: TimerSpec(turns.get(game, turn), clocks.get(game, clock), action)
                for game in {*turns, *clocks}}
    return TimerRules(default, per_game, starter_min)


class TurnTimer:
    """The timer of one session's current game; see the module docstring.

    Args:
        spec: the limits (true, i.e. at least one of them set).
        size: the number of players.
    """

    __slots__ = ("spec", "size", "started", "clock_left", "scheduled", "waiting", "next_at")

    def __init__(self, spec: TimerSpec, size: int) -> None:
        self.spec = spec
        self.size = size
        self.started: dict[int, float] = {}  # current player -> when their turn began
        self.clock_left: list[float] | None = None  # chess clock, as of each turn's start
        self.scheduled: float | None = None  # this timer's live entry in the TimerSchedule
        self.waiting = False  # for a game worker (a move on timeout, the legal moves)
        self.next_at = math.inf  # the earliest deadline (kept up to date: asked every move)

    def begin(self, now: float, current: list[int]) -> None:
        """A new game begins (the session became full, or restarted)."""
        self.clock_left = [self.spec.clock] * self.size if self.spec.clock else None
        self.started = dict.fromkeys(self._seats(current), now)
        self._recompute()

    def follow(self, now: float, current: list[int], mover: int | None = None,
               accepted: bool = False) -> None:
        """After a change: ``current`` may move now; ``mover``'s move was ``accepted`` or not."""
        started = self.started
        if mover is not None and accepted and mover in started:
            self._charge(mover, now)
            started[mover] = now  # an accepted move begins the player's next turn
        if len(started) != len(current) or any(p not in started for p in current):
            # A dict: a game may list a seat many times (a game in a worker up to 40,000
            # ids), and a list's ``in`` for each seat timed took seats x ids steps.
            seated = dict.fromkeys(self._seats(current))  # (in order)
            for player in [p for p in started if p not in seated]:
                self._charge(player, now)
                del started[player]
            for player in seated:
                started.setdefault(player, now)
        self._recompute()

    def _seats(self, current: list[int]) -> list[int]:
        """The players of ``current`` who sit in the session. A game may name others (an
        off-by-one in its ``current_player``: player 2 of 2): their turns are timed for
        nobody (they had no place in ``clock_left`` or the timer a client is shown, and
        ran out as a forfeit of nobody)."""
        size = self.size
        return [player for player in current if 0 <= player < size]

    def stop(self) -> None:
        """Nobody's time runs any more (the game is over, or cannot be asked)."""
        self.started.clear()
        self.next_at = math.inf

    def _recompute(self) -> None:
        turn = self.spec.turn or math.inf
        clock = self.clock_left
        if clock is None:  # the usual case: each deadline is its turn's start plus the turn
            self.next_at = min(self.started.values(), default=math.inf) + turn
        else:
            self.next_at = min((began + min(turn, clock[player])
                                for player, began in self.started.items()), default=math.inf)

    def _charge(self, player: int, now: float) -> None:
        if self.clock_left is not None:
            self.clock_left[player] -= now - self.started[player]

    def deadline_of(self, player: int) -> tuple[float, str] | None:
        """When ``player``'s time runs out, and why ("turn" or "clock"); None if it does not run."""
        began = self.started.get(player)
        if began is None:
            return None
        turn = self.spec.turn or math.inf
        clock = self.clock_left[player] if self.clock_left is not None else math.inf
        if clock <= turn:
            return began + clock, "clock"
        return began + turn, "turn"

    def next_deadline(self) -> float | None:
        """The earliest deadline of any player, or None."""
        return None if self.next_at == math.inf else self.next_at

    def due(self, now: float) -> list[tuple[int, str]]:
        """The players whose time is up at ``now``, in id order, with the reason."""
        if now < self.next_at:
            return []
        due = []
        for player in sorted(self.started):
            deadline = self.deadline_of(player)
            if deadline is not None and deadline[0] <= now:
                due.append((player, deadline[1]))
        return due

    # ------------------------------------------------------------ what others see

    def client_info(self, now: float) -> dict[str, Any]:
        """The timer for a client's state (the ``timer`` extension): seconds left now."""
        left: list[float | None] = [None] * self.size
        for player in self.started:
            deadline = self.deadline_of(player)
            if deadline is not None:
                left[player] = round(max(0.0, deadline[0] - now), 3)
        info = {**self.spec.describe(), "seconds_left": left}
        if self.clock_left is not None:
            info["clock_left"] = [round(max(0.0, self._clock_now(p, now)), 3)
                                  for p in range(self.size)]
        return info

    def summary(self, now: float, wall: float) -> dict[str, Any]:
        """The timer for the dashboard: each current player's deadline in Unix seconds."""
        deadlines: list[float | None] = [None] * self.size
        for player in self.started:
            deadline = self.deadline_of(player)
            if deadline is not None:
                deadlines[player] = wall + (deadline[0] - now)
        return {**self.spec.describe(), "deadlines": deadlines}

    def _clock_now(self, player: int, now: float) -> float:
        assert self.clock_left is not None
        left = self.clock_left[player]
        began = self.started.get(player)
        return left - (now - began) if began is not None else left

    # ------------------------------------------------------------ saving

    def snapshot(self, now: float, wall: float) -> dict[str, Any]:
        """Plain data for ``TimedSession.snapshot``: turn starts as Unix seconds."""
        return {"turn": self.spec.turn, "clock": self.spec.clock, "action": self.spec.action,
                "size": self.size,
                "started": {player: wall - (now - began) for player, began in self.started.items()},
                "clock_left": None if self.clock_left is None else list(self.clock_left)}

    @classmethod
    def restore(cls, data: dict[str, Any], now: float, wall: float,
                current: list[int] | None = None) -> TurnTimer:
        """The timer saved by ``snapshot``; a deadline passed meanwhile gets ``RESTORE_GRACE``.

        With ``"resume_at"`` (Unix seconds; the saved timer is older than the
        game's last moves, see ``_sidetables.TimerBook``) the turns of the
        ``current`` players are taken to run from then, and with
        ``"new_game"`` their chess clocks are full again.
        """
        timer = cls(TimerSpec(data["turn"], data["clock"], data["action"]), data["size"])
        timer.clock_left = None if data["clock_left"] is None else list(data["clock_left"])
        # max: a wall clock set back since the save (a machine without a clock battery
        # starts in 1970) put a turn's start in the future, and the turn lasted that long
        timer.started = {int(p): now - max(0.0, wall - began)
                         for p, began in data["started"].items()}
        if "resume_at" in data:
            timer.started = dict.fromkeys(timer._seats(current or []),
                                          now - max(0.0, wall - data["resume_at"]))
            if data.get("new_game") and timer.spec.clock:
                timer.clock_left = [timer.spec.clock] * timer.size
        grace = min(RESTORE_GRACE, timer.spec.turn) if timer.spec.turn else RESTORE_GRACE
        for player in list(timer.started):
            deadline = timer.deadline_of(player)
            if deadline is None or deadline[0] >= now + grace:
                continue
            if deadline[1] == "turn":
                timer.started[player] = now + grace - timer.spec.turn
            else:
                assert timer.clock_left is not None
                timer.clock_left[player] += now + grace - deadline[0]
        timer._recompute()
        return timer


class TimerSchedule:
    """Which timed session runs out next, for the lobby; see the module docstring.

    ``on_earlier(deadline)`` (set by whoever runs the lobby) is called when
    a deadline comes up that is earlier than every one before, so the
    server can move its wake-up forward.

    Stale entries (a deadline moved, a session ended) are dropped when they
    come up, and also whenever the heap has grown to twice its size after
    the last such sweep (and beyond ``COMPACT_MIN``): an entry holds its
    session, so a session ended long before its deadline (a turn may be as
    long as ``game_timeout``) was kept in memory, its game's state included,
    until then, and a client could start and replace sessions faster than
    they were let go.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimedSession]] = []
        self._count = itertools.count()
        self._kept = 0  # entries left by the last sweep
        self.on_earlier: Callable[[float], None] | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def update(self, session: TimedSession) -> None:
        """The session's timer changed: make sure its next deadline is in the heap."""
        timer = session.timer
        if timer is None or session.closed is not None or timer.waiting:
            return  # waiting for a game worker: its answer schedules the timer again
        deadline = timer.next_deadline()
        if deadline is None or (timer.scheduled is not None and timer.scheduled <= deadline):
            return  # an entry at or before it will look again then
        timer.scheduled = deadline
        earliest = self._heap[0][0] if self._heap else math.inf
        heapq.heappush(self._heap, (deadline, next(self._count), session))
        if len(self._heap) > max(COMPACT_MIN, 2 * self._kept):
            self._sweep()
        if deadline < earliest and self.on_earlier is not None:
            self.on_earlier(deadline)

    def _sweep(self) -> None:
        """Drop the stale entries: each timer's live one stays (the one it ``scheduled``)."""
        self._heap = [entry for entry in self._heap if _live(entry)]
        heapq.heapify(self._heap)
        self._kept = len(self._heap)

    def due(self, now: float) -> list[TimedSession]:
        """Take out the sessions whose entry is due at ``now`` (stale entries are dropped)."""
        sessions = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, session = heapq.heappop(heap)
            timer = session.timer
            if timer is not None and timer.scheduled == deadline:
                timer.scheduled = None
                if session.closed is None:
                    sessions.append(session)
        return sessions

    def next(self) -> float | None:
        """The earliest entry's time (it may turn out to be stale), or None."""
        return self._heap[0][0] if self._heap else None


def _live(entry: tuple[float, int, TimedSession]) -> bool:
    deadline, _, session = entry
    timer = session.timer
    return session.closed is None and timer is not None and timer.scheduled == deadline
