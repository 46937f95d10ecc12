"""The lobby without sockets: what does not need the wire."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gameserver.checked import game_types
from gameserver.games import NumberRace, TicTacToe
from gameserver.games.echo import Echo
from gameserver.guard import GameGuard
from gameserver.lobby import Lobby, LobbyLimits
from gameserver.protocol import Join, State
from gameserver.waits import Wait
from tests.data.review.games import BrokenRange


def test_one_broken_game_does_not_hide_the_others_from_discovery() -> None:
    guard = GameGuard()
    try:
        games = Lobby(game_types({"Echo": Echo, "BrokenRange": BrokenRange},
                                 guard)).game_list()
    finally:
        guard.close()
    by_name = {g["name"]: g for g in games}
    assert by_name["Echo"]["max_players"] == 1
    assert "min_players() raised RuntimeError: min_players is broken" in \
        by_name["BrokenRange"]["error"]


class Clock:
    """Time that passes only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_lobby(guard: GameGuard, clock: Clock, **limits: Any) -> Lobby:
    limits.setdefault("new_sessions_per_minute", 10**6)
    return Lobby(game_types({"TicTacToe": TicTacToe, "Echo": Echo, "NumberRace": NumberRace},
                            guard),
                 LobbyLimits(**limits), clock=clock)


def join(lobby: Lobby, session: str = "auto", players: int | None = 2,
         game: str = "TicTacToe", name: str = "") -> Any:
    return lobby.handle(Join(game, session, players, name), "127.0.0.1")


@pytest.fixture
def guard() -> Iterator[GameGuard]:
    guard = GameGuard(time_limit=2)
    yield guard
    guard.close()


def test_a_ghost_seat_is_freed_and_the_next_two_play_each_other(guard: GameGuard) -> None:
    lobby = make_lobby(guard, Clock())
    ghost = join(lobby)
    assert isinstance(ghost, Wait)
    ghost.cancel()  # Ctrl-C while "waiting for an opponent"
    assert lobby.sessions == {} and lobby.open_sessions() == []
    ann = join(lobby)
    bob = json.loads(join(lobby))
    assert isinstance(ann, Wait) and ann.woken
    ann_data = json.loads(ann.resume())["data"]
    assert ann_data["session"] == bob["data"]["session"]
    assert {ann_data["player_id"], bob["data"]["player_id"]} == {0, 1}


def test_a_named_session_whose_joiners_all_left_is_removed(guard: GameGuard) -> None:
    lobby = make_lobby(guard, Clock())
    first = join(lobby, "table7", 3, game="NumberRace", name="ann")
    second = join(lobby, "table7", None, game="NumberRace", name="bob")
    assert isinstance(first, Wait) and isinstance(second, Wait)
    first.cancel()
    assert [p.name for p in lobby.sessions[("NumberRace", "table7")].players] == ["bob"]
    second.cancel()
    assert ("NumberRace", "table7") not in lobby.sessions


def test_tick_ends_joins_not_full_in_time(guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, join_timeout=10)
    waiting = join(lobby)
    assert isinstance(waiting, Wait)
    clock.now += 9.9
    lobby.tick()
    assert not waiting.woken
    clock.now += 0.2
    lobby.tick()
    assert waiting.woken
    assert json.loads(waiting.resume())["message"] == \
        "framework: timeout while waiting for others to join"
    assert lobby.sessions == {}


def test_tick_ends_idle_sessions(guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, game_timeout=100)
    reply = json.loads(join(lobby, "s", 1, game="Echo"))
    seat = reply["data"]
    clock.now += 60
    state = lobby.handle(State("Echo", "s", seat["player_id"], seat["key"], False), "")
    assert json.loads(state)["status"] == "ok"  # a request keeps the session alive
    clock.now += 60
    lobby.tick()
    assert ("Echo", "s") in lobby.sessions
    clock.now += 41
    lobby.tick()
    assert lobby.sessions == {}


def test_the_tick_interval_is_a_tenth_of_the_shortest_timeout(guard: GameGuard) -> None:
    assert make_lobby(guard, Clock(), game_timeout=3, join_timeout=1000).tick_interval() \
        == pytest.approx(0.3)
    assert make_lobby(guard, Clock()).tick_interval() == 1.0
    assert make_lobby(guard, Clock(), join_timeout=0.01).tick_interval() == 0.05


def test_a_full_session_is_replaced_only_by_a_join_with_players(guard: GameGuard) -> None:
    lobby = make_lobby(guard, Clock())
    seat = json.loads(join(lobby, "s", 1, game="Echo"))["data"]
    assert json.loads(join(lobby, "s", None, game="Echo"))["message"] == \
        "framework: game session already full"
    waiting = lobby.handle(State("Echo", "s", 0, seat["key"], False), "")
    assert json.loads(waiting)["status"] == "ok"
    waiting = lobby.handle(State("Echo", "s", 0, seat["key"], False), "")
    assert isinstance(waiting, Wait)
    json.loads(join(lobby, "s", 1, game="Echo"))  # the classic overwrite
    assert waiting.woken
    assert json.loads(waiting.resume())["message"] == "framework: game session was overwritten"
