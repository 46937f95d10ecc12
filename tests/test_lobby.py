"""The lobby without sockets: what does not need the wire."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gameserver.checked import game_types
from gameserver.games import NumberRace, RockPaperScissors, TicTacToe
from gameserver.games.echo import Echo
from gameserver.guard import GameGuard
from gameserver.lobby import Lobby, LobbyLimits
from gameserver.protocol import Join, Move, Observe, ObserverCode, State, framework_error
from gameserver.waits import Wait
from tests.data.review.games import BrokenRange
from tests.test_session import Recorder


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


# ---------------------------------------------------------------- observer consent


def seated(lobby: Lobby, game: str, names: list[str], client: str = "127.0.0.1",
           session: str = "t") -> list[dict[str, Any]]:
    """Join every name into one named session; the join data in join order."""
    outcomes = [lobby.handle(Join(game, session, len(names) if n == 0 else None, name),
                             client) for n, name in enumerate(names)]
    seats = []
    for outcome in outcomes:
        while isinstance(outcome, Wait):
            outcome = outcome.resume()
        seats.append(json.loads(outcome)["data"])
    return seats


def consent_lobby(guard: GameGuard, **limits: Any) -> Lobby:
    return Lobby(game_types({"RockPaperScissors": RockPaperScissors, "Echo": Echo}, guard),
                 LobbyLimits(**limits))


def test_watching_a_player_of_a_game_with_secrets_needs_their_code(guard: GameGuard) -> None:
    lobby = consent_lobby(guard)
    ann, _ = seated(lobby, "RockPaperScissors", ["ann", "bob"])
    refused = json.loads(lobby.handle(Observe("RockPaperScissors", "t", "ann"), "10.0.0.9"))
    assert refused["status"] == "error"
    assert "hidden information" in refused["message"] and "observer_code()" in \
        refused["message"]
    wrong = lobby.handle(Observe("RockPaperScissors", "t", "ann", code="guess"), "10.0.0.9")
    assert "wrong observer code" in json.loads(wrong)["message"]
    code = json.loads(lobby.handle(ObserverCode("RockPaperScissors", "t", 0, ann["key"]),
                                   ""))["data"]["code"]
    watcher = json.loads(lobby.handle(Observe("RockPaperScissors", "t", "ann", code=code),
                                      ""))["data"]
    assert watcher == {"player_id": 0, "key": code}
    assert json.loads(lobby.handle(State("RockPaperScissors", "t", 0, code, True), ""))[
        "status"] == "ok"


def test_only_the_player_can_ask_for_its_code(guard: GameGuard) -> None:
    lobby = consent_lobby(guard)
    _, bob = seated(lobby, "RockPaperScissors", ["ann", "bob"])
    for player_id, key in ((0, bob["key"]), (0, "x" * 32)):
        reply = lobby.handle(ObserverCode("RockPaperScissors", "t", player_id, key), "")
        assert json.loads(reply)["message"] == "framework: invalid key"


def test_games_without_secrets_and_the_classic_setting_need_no_code(guard: GameGuard) -> None:
    lobby = consent_lobby(guard)
    seated(lobby, "Echo", ["solo"])
    assert json.loads(lobby.handle(Observe("Echo", "t", "solo"), ""))["status"] == "ok"
    classic = consent_lobby(guard, observer_consent=False)
    seated(classic, "RockPaperScissors", ["ann", "bob"])
    assert json.loads(classic.handle(Observe("RockPaperScissors", "t", "ann"), ""))[
        "status"] == "ok"


# ---------------------------------------------------------------- floods


def test_waiting_joins_are_capped_per_address(guard: GameGuard) -> None:
    lobby = make_lobby(guard, Clock(), max_waiting_joins_per_address=2)
    waits = [join(lobby, f"s{n}") for n in range(2)]
    assert all(isinstance(wait, Wait) for wait in waits)
    refused = json.loads(join(lobby, "s2"))
    assert "too many joins from your address are waiting" in refused["message"]
    assert isinstance(lobby.handle(Join("TicTacToe", "s9", 2, ""), "10.0.0.2"), Wait)
    filled = lobby.handle(Join("TicTacToe", "s0", None, ""), "127.0.0.1")
    assert json.loads(filled)["status"] == "ok"  # a join that fills a session never waits
    assert isinstance(join(lobby, "s3"), Wait)  # s0 started: one wait fewer
    waits[1].cancel()
    assert isinstance(join(lobby, "s4"), Wait)  # a joiner that left counts no more


def test_a_join_waiting_only_for_its_save_is_no_waiting_join(guard: GameGuard) -> None:
    """The cap counts joins waiting for players, not joiners of full sessions being saved.

    Counted, such a join (every one-player session's) would refuse the address's next
    real waiting join until the lobby's tick, and hold its reply until then.
    """
    recorder = Recorder()
    lobby = Lobby(game_types({"TicTacToe": TicTacToe, "Echo": Echo}, guard),
                  LobbyLimits(max_waiting_joins_per_address=1, new_sessions_per_minute=10**6),
                  store=recorder)
    saving = [join(lobby, f"e{n}", 1, game="Echo") for n in range(3)]
    assert all(isinstance(wait, Wait) and wait.saving for wait in saving)
    assert lobby.admission._waiting_of == {}
    waiting = join(lobby, "t")
    assert isinstance(waiting, Wait) and not waiting.saving  # the address's one waiting join
    refused = json.loads(join(lobby, "t2"))
    assert "too many joins from your address are waiting" in refused["message"]
    recorder.batch.finish()
    assert json.loads(saving[0].resume())["status"] == "ok"


def test_an_auto_join_counts_until_filled_even_while_its_failing_save_is_pending(
        guard: GameGuard) -> None:
    """An address's auto-join waiting for a partner counts; once another address fills
    the session it counts no more (no tick needed), although the replies still wait
    for the save, and that save failing leaves nothing counted."""
    recorder = Recorder()
    lobby = Lobby(game_types({"TicTacToe": TicTacToe}, guard),
                  LobbyLimits(max_waiting_joins_per_address=1, new_sessions_per_minute=10**6),
                  store=recorder)
    first = join(lobby)
    assert isinstance(first, Wait) and not first.saving
    assert "too many joins" in json.loads(join(lobby, "named"))["message"]
    filler = lobby.handle(Join("TicTacToe", "auto", 2, ""), "10.0.0.2")
    assert isinstance(filler, Wait) and filler.saving and first.woken
    assert "10.0.0.2" not in lobby.admission._waiting_of
    waiting = join(lobby, "named")  # the address's one waiting join again
    assert isinstance(waiting, Wait) and not waiting.saving
    assert "too many joins" in json.loads(join(lobby, "named2"))["message"]
    saved = first.resume()
    assert isinstance(saved, Wait) and saved.saving
    recorder.batch.finish("server: could not save")
    assert json.loads(saved.resume())["message"] == "server: could not save"
    assert json.loads(filler.resume())["message"] == "server: could not save"
    waiting.cancel()
    assert lobby.admission._waiting_of == {}


def test_sessions_are_capped_per_address(guard: GameGuard) -> None:
    lobby = make_lobby(guard, Clock(), max_sessions_per_address=3)
    for n in range(3):
        assert json.loads(join(lobby, f"e{n}", 1, game="Echo"))["status"] == "ok"
    refused = json.loads(join(lobby, "e3", 1, game="Echo"))
    assert "too many sessions started from your address" in refused["message"]
    assert json.loads(lobby.handle(Join("Echo", "e3", 1, ""), "10.0.0.2"))["status"] == "ok"
    lobby.close()


# ---------------------------------------------------------------- overwriting


def echo_session(lobby: Lobby, client: str) -> dict[str, Any]:
    return json.loads(lobby.handle(Join("Echo", "s", 1, ""), client))


@pytest.mark.parametrize(("rule", "same_address", "allowed"), [
    ("anyone", False, True), ("players", False, False), ("players", True, True),
    ("idle", True, False)])
def test_who_may_replace_a_running_session(guard: GameGuard, rule: str, same_address: bool,
                                           allowed: bool) -> None:
    lobby = make_lobby(guard, Clock(), overwrite=rule)
    assert echo_session(lobby, "10.0.0.1")["status"] == "ok"
    reply = echo_session(lobby, "10.0.0.1" if same_address else "10.0.0.2")
    assert (reply["status"] == "ok") is allowed, reply
    if not allowed:
        assert f"the server's overwrite setting is '{rule}'" in reply["message"]


def test_an_idle_or_finished_session_may_be_replaced_by_anyone(guard: GameGuard) -> None:
    clock = Clock()
    lobby = make_lobby(guard, clock, overwrite="idle", overwrite_idle=60)
    seat = echo_session(lobby, "10.0.0.1")["data"]
    clock.now += 59
    assert echo_session(lobby, "10.0.0.2")["status"] == "error"
    clock.now += 1
    seat = echo_session(lobby, "10.0.0.2")["data"]  # idle for a minute: replaced
    lobby.handle(Move("Echo", "s", 0, seat["key"], {"msg": "quit"}), "10.0.0.2")
    assert echo_session(lobby, "10.0.0.3")["status"] == "ok"  # over: replaced at once


def test_a_closed_session_left_in_the_lobby_counts_as_gone(guard: GameGuard) -> None:
    lobby = make_lobby(guard, Clock())
    waiting = join(lobby, "s", 2)
    assert isinstance(waiting, Wait)
    lobby.sessions[("TicTacToe", "s")].close(framework_error("its start was not saved"))
    reply = json.loads(join(lobby, "s", None))
    assert reply["message"] == \
        "framework: no such game session; provide the number of players to start one"
    assert ("TicTacToe", "s") not in lobby.sessions
