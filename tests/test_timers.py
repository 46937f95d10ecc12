"""Turn timers without sockets: the lobby and its sessions on a fake clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gameserver import _timeouts, results
from gameserver.checked import game_types
from gameserver.games import RockPaperScissors, TicTacToe
from gameserver.games.echo import Echo
from gameserver.guard import GameGuard
from gameserver.lobby import Lobby, LobbyLimits
from gameserver.protocol import Join, Move, State, decode_request
from gameserver.session import Session
from gameserver.timers import (
    RESTORE_GRACE,
    TimerRules,
    TimerSchedule,
    TimerSpec,
    TurnTimer,
    rules_from,
)
from gameserver.waits import Wait
from gameserver.web.source import session_summary
from tests.data.timer_games.talk import BadHook, Silent, Talk, WrongHook


class Clock:
    """Time that passes only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


GAMES = {"TicTacToe": TicTacToe, "RockPaperScissors": RockPaperScissors, "Echo": Echo,
         "Talk": Talk, "Silent": Silent, "BadHook": BadHook, "WrongHook": WrongHook}


@pytest.fixture
def guard() -> Iterator[GameGuard]:
    guard = GameGuard(time_limit=2)
    yield guard
    guard.close()


def make_lobby(guard: GameGuard, clock: Clock, spec: TimerSpec | None = None,
               **limits: Any) -> Lobby:
    limits.setdefault("new_sessions_per_minute", 10**6)
    if spec is not None:
        limits["timers"] = TimerRules(spec)
    return Lobby(game_types(GAMES, guard), LobbyLimits(**limits), clock=clock)


class Seat:
    """One player of a session started through the lobby."""

    def __init__(self, lobby: Lobby, game: str, token: str, data: dict[str, Any]) -> None:
        self.lobby, self.game, self.token = lobby, game, token
        self.id, self.key = data["player_id"], data["key"]

    def move(self, **move: Any) -> dict[str, Any]:
        return reply(self.lobby.handle(Move(self.game, self.token, self.id, self.key, move)))

    def state(self, timer: bool = False) -> Any:
        return self.lobby.handle(State(self.game, self.token, self.id, self.key, False,
                                       timer=timer))


def reply(outcome: Any) -> dict[str, Any]:
    assert isinstance(outcome, bytes), outcome
    return json.loads(outcome)


def seat_two(lobby: Lobby, game: str, token: str = "t", **extension: Any) -> list[Seat]:
    first = lobby.handle(Join(game, token, 2, "ann", **extension), "10.0.0.1")
    second = reply(lobby.handle(Join(game, token, None, "bob"), "10.0.0.2"))
    assert isinstance(first, Wait) and first.woken
    return [Seat(lobby, game, token, reply(first.resume())["data"]),
            Seat(lobby, game, token, second["data"])]


def session_of(lobby: Lobby, game: str, token: str = "t") -> Session:
    return lobby.sessions[(game, token)]


# ---------------------------------------------------------------- the three actions


def test_a_turn_timeout_makes_the_move_the_game_hook_names(guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=10))
    ann, bob = seat_two(lobby, "Talk")
    ann.state(), bob.state()
    waiting = bob.state()  # bob waits for ann's move
    assert isinstance(waiting, Wait) and not waiting.woken
    clock.now += 9.9
    lobby.tick()
    assert not waiting.woken
    clock.now += 0.1
    lobby.tick()
    assert waiting.woken  # woken as for any change
    state = reply(waiting.resume())["data"]
    assert state["log"] == [[0, "pass"]] and state["current"] == [1]
    session = session_of(lobby, "Talk")
    assert session.accepted_moves == 1 and session.timer is not None
    assert session.timer.next_deadline() == clock.now + 10  # bob's turn began now


def test_a_turn_timeout_makes_a_random_legal_move_the_same_in_every_replay(
        guard: GameGuard) -> None:
    chosen = []
    for _ in range(2):
        clock = Clock()
        lobby = make_lobby(guard, clock, TimerSpec(turn=5))
        seat_two(lobby, "TicTacToe")
        session = session_of(lobby, "TicTacToe")
        session.game.instance.turn = 1  # who starts is random: not in this test
        # The same game, saved and restored, has the same keys: a seat's key seeds its
        # move (no forecast by the opponent; see test_server_timers).
        session.players[1].key = "0123456789abcdef" * 2
        _timeouts.follow(session, new_game=True)
        clock.now += 5
        lobby.tick()
        board = session.game.state(1)["board"]
        assert board.count(-1) == 8 and session.game.current() == [0]
        chosen.append(board)
    assert chosen[0] == chosen[1]


def test_a_game_without_legal_moves_or_hook_is_lost_by_whoever_ran_out_of_time(
        guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=3))
    ann, bob = seat_two(lobby, "Silent")
    ann.move(say="hi")  # bob's turn; bob never moves
    clock.now += 3
    lobby.tick()
    state = reply(ann.state())["data"]
    assert state["gameover"] is True and state["current"] == []
    assert state["forfeit"] == {"players": [1], "reason": "turn timeout"}
    assert bob.move(say="late")["message"] == "framework: game has ended"
    record = {"players": ["ann", "bob"], "final_states": [state]}
    assert results.outcome(record) == {
        "kind": "win", "winners": ["ann"], "text": "ann wins: bob ran out of time"}


def test_the_forfeit_action_loses_the_game_even_when_moves_are_listed(guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=3, action="forfeit"))
    seat_two(lobby, "Talk")
    clock.now += 3
    lobby.tick()
    game = session_of(lobby, "Talk").game
    assert game.game_over() and game.view(1)["forfeit"]["players"] == [0]


@pytest.mark.parametrize("game", ["BadHook", "WrongHook"])
def test_a_hook_that_fails_or_is_refused_falls_back_to_a_random_legal_move(
        guard: GameGuard, game: str) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=3))
    seat_two(lobby, game)
    clock.now += 3
    lobby.tick()
    session = session_of(lobby, game)
    assert session.accepted_moves == 1 and not session.game.game_over()
    assert session.game.current() == [1]


# ---------------------------------------------------------------- who times out, and when


def test_in_a_simultaneous_game_only_the_players_who_have_not_moved_time_out(
        guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=10))
    ann, bob = seat_two(lobby, "RockPaperScissors")
    clock.now += 4
    assert ann.move(choice="rock")["status"] == "ok"
    session = session_of(lobby, "RockPaperScissors")
    assert session.game.current() == [1]
    clock.now += 6  # bob's 10 s are over; ann is not current and is not timed out
    lobby.tick()
    history = session.game.state(0)["history"]
    assert len(history) == 1 and history[0][0] == "rock"  # bob's choice was made for him
    assert session.moves == 2
    assert session.game.current() == [0, 1]  # the next round: both have 10 s again
    assert session.timer is not None and session.timer.due(clock.now + 9.9) == []


def test_both_players_of_a_simultaneous_game_who_never_move_lose_together(
        guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=10, action="forfeit"))
    ann, _ = seat_two(lobby, "RockPaperScissors")
    clock.now += 10
    lobby.tick()
    state = reply(ann.state())["data"]
    assert state["forfeit"] == {"players": [0, 1], "reason": "turn timeout"}
    outcome = results.outcome({"players": ["ann", "bob"], "final_states": [state]})
    assert outcome["kind"] == "none" and outcome["text"] == "both ran out of time"


def test_rejected_moves_do_not_buy_time_and_accepted_ones_start_the_next_turn(
        guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=10))
    ann, bob = seat_two(lobby, "Talk")
    for _ in range(5):
        clock.now += 1.9
        assert ann.move(shout="!")["status"] == "illegalmove"
    timer = session_of(lobby, "Talk").timer
    assert timer is not None and timer.next_deadline() == 1010.0  # unchanged
    assert ann.move(say="hi")["status"] == "ok"
    assert timer.next_deadline() == clock.now + 10  # bob's turn, from now


def test_a_late_move_arriving_before_the_tick_finds_the_turn_already_ended(
        guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=10))
    ann, _ = seat_two(lobby, "Talk")
    clock.now += 10.5  # the server's wake-up has not come yet
    assert ann.move(say="late")["message"] == "framework: not your turn"
    assert session_of(lobby, "Talk").game.state(0)["log"] == [[0, "pass"]]


def test_a_chess_clock_runs_only_on_the_players_turns_and_running_out_loses(
        guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(clock=10))
    ann, bob = seat_two(lobby, "Talk")
    clock.now += 4
    ann.move(say="a")  # ann: 6 s left
    clock.now += 9
    bob.move(say="b")  # bob: 1 s left
    info = reply(ann.state(timer=True))["data"]["timer"]
    assert info["clock_left"] == [6.0, 1.0] and info["seconds_left"] == [6.0, None]
    clock.now += 5.9
    ann.move(say="c")  # ann: 0.1 s left
    clock.now += 1
    lobby.tick()
    game = session_of(lobby, "Talk").game
    assert game.view(0)["forfeit"] == {"players": [1], "reason": "game clock"}


def test_the_timer_starts_again_with_a_restart_and_stops_at_the_end(guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=10))
    ann, bob = seat_two(lobby, "Talk")
    for n in range(3):
        ann.move(say=str(n))
        bob.move(say=str(n))
    session = session_of(lobby, "Talk")
    assert session.game.game_over() and session.timer is not None
    assert session.timer.next_deadline() is None
    clock.now += 50
    lobby.handle(decode_request(json.dumps({
        "type": "restart", "game": "Talk", "session": "t", "player_id": 0,
        "key": ann.key}).encode()).request)
    assert session.timer.next_deadline() == clock.now + 10


# ---------------------------------------------------------------- who sees it


def test_the_timer_extension_shows_seconds_left_and_the_classic_state_does_not(
        guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=10))
    ann, bob = seat_two(lobby, "Talk")
    clock.now += 2.5
    data = reply(ann.state(timer=True))["data"]
    assert data["timer"] == {"turn_timeout": 10.0, "game_clock": None, "action": "move",
                             "seconds_left": [7.5, None]}
    assert "timer" not in reply(bob.state())["data"]
    summary = session_summary(session_of(lobby, "Talk"))
    deadline = summary["timer"]["deadlines"][0]
    assert summary["timer"]["deadlines"][1] is None
    assert deadline == pytest.approx(summary["last_activity"] + 7.5, abs=0.01)


def test_without_a_timer_nothing_changes(guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock)
    ann, bob = seat_two(lobby, "Talk")
    session = session_of(lobby, "Talk")
    assert session.timer is None and len(lobby.timers) == 0
    assert "timer" not in session_summary(session) and "timer" not in session.snapshot()
    assert reply(ann.state(timer=True))["data"]["timer"] is None  # asked for: says "none"
    plain = reply(bob.state())
    assert set(plain["data"]) == {"log", "current", "gameover"}
    clock.now += 10**6 / 2
    lobby.tick()
    assert session.game.current() == [0]


def test_a_starter_sets_the_timer_of_its_session_with_the_join_extension(
        guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, game_timeout=100)
    first = lobby.handle(Join("Talk", "t", 2, "ann", turn_timeout=6), "10.0.0.1")
    second = reply(lobby.handle(Join("Talk", "t", None, "bob"), "10.0.0.2"))
    assert "timer" not in second["data"]  # a classic join reply stays classic
    assert isinstance(first, Wait)
    data = reply(first.resume())["data"]
    assert data["timer"] == {"turn_timeout": 6.0, "game_clock": None, "action": "move"}
    for bad in (0.01, 4, 101):  # others join it: 5 s at least (STARTER_MIN)
        refused = reply(lobby.handle(Join("Talk", "u", 2, "x", turn_timeout=bad), "10.0.0.3"))
        assert "turn_timeout must be 0 (no limit) or from 5 to 100 seconds" in \
            refused["message"]


def test_the_shortest_timer_a_starter_may_choose_is_the_hosts_and_at_most_game_timeout(
        guard: GameGuard) -> None:
    """``TimerRules.starter_min`` (``session_timer_min``) bounds a session of more than
    one player; one above ``game_timeout`` is ``game_timeout``; a session of one player
    may have from 0.1 s (only its starter plays)."""
    lobby = make_lobby(guard, Clock(), game_timeout=100,
                       timers=TimerRules(starter_min=30))
    refused = reply(lobby.handle(Join("Talk", "t", 2, "ann", game_clock=29), "10.0.0.1"))
    assert refused["message"].startswith(
        "framework: game_clock must be 0 (no limit) or from 30 to 100 seconds, not 29: the "
        "players who join a session get no say in its timer, so this server lets the one "
        "who starts it choose no shorter one (its setting session_timer_min); a session "
        "of 1 player may have from 0.1")
    assert isinstance(lobby.handle(Join("Talk", "t", 2, "ann", game_clock=30), "10.0.0.1"),
                      Wait)
    assert isinstance(lobby.handle(Join("Talk", "z", 2, "ann", turn_timeout=0), "10.0.0.1"),
                      Wait)  # no timer: always allowed
    solo = reply(lobby.handle(Join("Echo", "solo", 1, "ann", turn_timeout=0.1), "10.0.0.1"))
    assert solo["data"]["timer"]["turn_timeout"] == 0.1
    short = make_lobby(guard, Clock(), game_timeout=10, timers=TimerRules(starter_min=30))
    refused = reply(short.handle(Join("Talk", "t", 2, "ann", turn_timeout=9), "10.0.0.1"))
    assert "turn_timeout must be 0 (no limit) or from 10 to 10 seconds, not 9" in \
        refused["message"]


@pytest.mark.parametrize("value, message", [
    *((value, "must be a number of seconds") for value in ('"10"', "true", "-1", "[1]")),
    ("1e999", "the number 1e999 is beyond"),  # infinite: not even read (protocol-wide)
])
def test_a_join_with_a_timer_that_is_not_a_number_of_seconds_is_refused(
        value: str, message: str) -> None:
    raw = ('{"type": "join", "game": "Talk", "session": "t", "players": 2, "name": "",'
           f' "turn_timeout": {value}}}').encode()
    with pytest.raises(Exception, match=message):
        decode_request(raw)


def test_per_game_settings_override_the_server_wide_ones() -> None:
    rules = rules_from(10.0, 0.0, "move", {"Chat": 0.0, "Yahtzee": 30.0}, {"Yahtzee": 300.0})
    assert not rules.spec_for("Chat")
    assert rules.spec_for("Yahtzee") == TimerSpec(30.0, 300.0, "move")
    assert rules.spec_for("TicTacToe") == TimerSpec(10.0, 0.0, "move")
    assert rules.spec_for("TicTacToe", turn=0) == TimerSpec(0.0, 0.0, "move")


# ---------------------------------------------------------------- saving


def talk_12_s_into_a_turn(guard: GameGuard, monkeypatch: pytest.MonkeyPatch,
                          wall: list[float]) -> Session:
    """A session of Talk with a 30 s turn timer, 12 s into a turn; ``wall[0]`` is the
    wall clock from now on."""
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=30))
    seat_two(lobby, "Talk")
    session = session_of(lobby, "Talk")
    monkeypatch.setattr("gameserver.session.time.time", lambda: wall[0])
    clock.now += 12
    return session


def test_a_saved_session_keeps_its_deadline_and_a_passed_one_gets_a_grace(
        guard: GameGuard, monkeypatch: pytest.MonkeyPatch) -> None:
    wall = [5000.0]
    session = talk_12_s_into_a_turn(guard, monkeypatch, wall)
    wall[0] += 12
    saved = session.snapshot()
    wall[0] += 3  # the server is down for 3 s
    later = Clock()
    later.now = 50.0
    restored = Session.restore(saved, session.game_type, clock=later)
    assert restored.timer is not None
    assert restored.timer.next_deadline() == pytest.approx(50.0 + 30 - 15)
    wall[0] += 60  # down for another minute: the deadline passed meanwhile
    restored = Session.restore(saved, session.game_type, clock=later)
    assert restored.timer is not None
    assert restored.timer.next_deadline() == pytest.approx(50.0 + RESTORE_GRACE)


@pytest.mark.parametrize("back", [3 * 3600.0, 56 * 365 * 86400.0])
def test_a_wall_clock_that_went_back_gives_no_turn_more_than_its_length(
        guard: GameGuard, monkeypatch: pytest.MonkeyPatch, back: float) -> None:
    """Saved times are wall-clock; the clock set back between save and restore (by
    hand, or a Raspberry Pi without a clock battery that starts in 1970 until NTP
    answers) put the turn's start that far in the future: the turn of 30 s ran for
    hours, or 56 years, and nobody was timed out. Now a turn restored starts no later
    than the restore, and the session's times are no later than now."""
    wall = [2_000_000_000.0]
    session = talk_12_s_into_a_turn(guard, monkeypatch, wall)
    saved = session.snapshot()
    wall[0] -= back
    later = Clock()
    later.now = 50.0
    restored = Session.restore(saved, session.game_type, clock=later)
    assert restored.timer is not None
    assert restored.timer.next_deadline() == pytest.approx(50.0 + 30)
    assert restored.last_activity == restored.created == 50.0


def test_a_forfeited_game_stays_lost_after_a_restore(guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=3))
    seat_two(lobby, "Silent")
    clock.now += 3
    lobby.tick()
    session = session_of(lobby, "Silent")
    restored = Session.restore(session.snapshot(), session.game_type, clock=clock)
    assert restored.game.game_over() and restored.game.current() == []
    assert restored.game.view(1)["forfeit"]["players"] == [0]


# ---------------------------------------------------------------- the schedule


def test_the_schedule_keeps_about_one_entry_per_session_and_reports_earlier_deadlines(
        guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=10))
    earlier: list[float] = []
    lobby.timers.on_earlier = earlier.append
    ann, bob = seat_two(lobby, "Talk")
    assert earlier == [1010.0] and len(lobby.timers) == 1
    for n in range(3):  # moves push the deadline later: no new entries
        clock.now += 1
        (ann if n % 2 == 0 else bob).move(say="x")
    assert len(lobby.timers) == 1 and earlier == [1010.0]
    clock.now = 1010.0  # the entry comes due; the real deadline is later: put back
    lobby.tick_timers()
    assert len(lobby.timers) == 1 and lobby.timers.next() == 1013.0


def test_a_schedule_drops_the_entries_of_closed_sessions(guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=10), game_timeout=5)
    seat_two(lobby, "Talk")
    clock.now += 6
    lobby.tick()  # idle for longer than the game timeout: removed
    assert lobby.sessions == {}
    assert TimerSchedule.due(lobby.timers, clock.now + 100) == []


def test_a_timer_follows_only_the_players_current_now() -> None:
    timer = TurnTimer(TimerSpec(turn=5), 3)
    timer.begin(0.0, [0, 1, 2])
    timer.follow(1.0, [1, 2], mover=0, accepted=True)
    assert timer.due(5.0) == [(1, "turn"), (2, "turn")]
    timer.follow(2.0, [0, 1, 2])
    assert timer.deadline_of(0) == (7.0, "turn")


def test_the_starter_of_an_auto_session_cannot_set_a_timer_for_strangers(
        guard: GameGuard) -> None:
    lobby = make_lobby(guard, Clock())
    first = lobby.handle(Join("TicTacToe", "auto", 2, "", turn_timeout=0.1), "10.0.0.1")
    second = reply(lobby.handle(Join("TicTacToe", "auto", None, ""), "10.0.0.2"))
    assert isinstance(first, Wait) and second["status"] == "ok"
    assert session_of(lobby, "TicTacToe", second["data"]["session"]).timer is None


def test_moves_made_on_timeout_do_not_keep_an_abandoned_session_alive(
        guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, TimerSpec(turn=10), game_timeout=100)
    seat_two(lobby, "Talk")  # then nobody ever sends a request again
    for _ in range(9):
        clock.now += 10
        lobby.tick()  # a move is made for whoever is on turn
    assert ("Talk", "t") in lobby.sessions
    clock.now += 15
    lobby.tick()
    assert ("Talk", "t") not in lobby.sessions  # idle for 100 s: removed, as any session


class _Seat(int):
    """A seat id that counts how often it is compared."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        _Seat.compared += 1
        return int(self) == other

    __hash__ = int.__hash__


def test_a_seat_listed_on_turn_many_times_is_not_looked_for_once_per_listing() -> None:
    """A game in a worker may list 40,000 ids on turn, a seat many times over: each seat
    whose turn ended was looked for in that whole list (seats x ids steps: 1,000 seats and
    40,000 ids, 40,000,000, about a second of the server's loop at each change)."""
    seats = 50
    timer = TurnTimer(TimerSpec(turn=10), seats)
    timer.begin(0.0, list(range(seats)))
    _Seat.compared = 0
    timer.follow(1.0, [_Seat(seats - 1)] * 4000)
    assert list(timer.started) == [seats - 1]
    assert _Seat.compared < 1000  # (a list: 49 x 4,000 = 196,000)
    timer.follow(2.0, [2, 0, 2, 1])
    assert list(timer.started) == [2, 0, 1]
