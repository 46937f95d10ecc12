"""The tournament hall without sockets: the lobby on a fake clock, requests as objects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gameserver import tournament_store
from gameserver._tournament_games import ABSENT_GAMES
from gameserver.checked import game_types
from gameserver.games import Nim, TicTacToe
from gameserver.guard import GameGuard
from gameserver.lobby import Lobby, LobbyLimits
from gameserver.protocol import Join, Move, Observe, Restart, State
from gameserver.tournament import GameResult, TournamentError, TournamentSettings
from gameserver.tournament_hall import WRONG_PASSWORDS_PER_MINUTE, TournamentHall
from gameserver.waits import Wait
from tests.data.timer_games.talk import Talk
from tests.test_timers import Clock

TOKEN = "tournament-cup"


@pytest.fixture
def guard() -> Iterator[GameGuard]:
    guard = GameGuard(time_limit=2)
    yield guard
    guard.close()


def make_hall(guard: GameGuard, clock: Clock, **settings: Any) -> TournamentHall:
    lobby = Lobby(game_types({"Talk": Talk, "TicTacToe": TicTacToe, "Nim": Nim}, guard),
                  LobbyLimits(new_sessions_per_minute=10**6), clock=clock)
    hall = TournamentHall(lobby, wall=clock)
    settings.setdefault("turn_timeout", 10)
    hall.create(TournamentSettings("cup", "Talk", **settings))
    return hall


def join(hall: TournamentHall, name: str, address: str = "10.0.0.1") -> Any:
    return hall.host.handle(Join("Talk", TOKEN, None, name), address)  # type: ignore[attr-defined]


def resumed(outcome: Any) -> Any:
    """What the server's connection would send: a woken ``Wait`` is asked again."""
    if isinstance(outcome, Wait) and outcome.woken:
        return Lobby.call(None, outcome.resume)  # type: ignore[arg-type]  # errors as replies
    return outcome


def data(outcome: Any) -> Any:
    outcome = resumed(outcome)
    assert isinstance(outcome, bytes), "still waiting"
    reply = json.loads(outcome)
    assert reply["status"] == "ok", reply
    return reply["data"]


def error(outcome: Any) -> str:
    reply = json.loads(resumed(outcome))
    assert reply["status"] == "error", reply
    return str(reply["message"])


class Client:
    """A classic client in the tournament: its seat in the current game."""

    def __init__(self, hall: TournamentHall, name: str, seat: dict[str, Any]) -> None:
        self.hall, self.name = hall, name
        self.id, self.key = seat["player_id"], seat["key"]
        assert seat["session"] == TOKEN

    def request(self, request: Any) -> Any:
        return self.hall.host.handle(request, "10.0.0.1")  # type: ignore[attr-defined]

    def move(self, **move: Any) -> Any:
        return self.request(Move("Talk", TOKEN, self.id, self.key, move))

    def state(self) -> Any:
        return self.request(State("Talk", TOKEN, self.id, self.key, False))


def seated(hall: TournamentHall) -> tuple[Client, Client]:
    """ann and bob registered and in their first game (start_with=2), in seat order."""
    ann_wait = join(hall, "ann")
    bob = Client(hall, "bob", data(join(hall, "bob")))
    ann = Client(hall, "ann", data(ann_wait))
    return (ann, bob) if ann.id == 0 else (bob, ann)  # Talk: player 0 begins


def talk_to_the_end(first: Client, second: Client) -> None:
    """Three turns each: a game of Talk is over."""
    for _ in range(3):
        assert data(first.move(say="hi")) is None
        assert data(second.move(say="ho")) is None
    assert data(first.state())["gameover"] is True


def test_two_participants_play_every_game_through_the_tournament_token(
        guard: GameGuard) -> None:
    clock = Clock()
    hall = make_hall(guard, clock, best_of=2, start_with=2)
    ann_wait = join(hall, "ann")
    assert isinstance(ann_wait, Wait) and not ann_wait.woken  # registered, waiting
    ann_again = join(hall, "ann")  # a second join replaces the first
    assert "another program joined tournament cup as ann" in error(ann_wait)
    bob = Client(hall, "bob", data(join(hall, "bob")))  # the second registration starts it
    ann = Client(hall, "ann", data(ann_again))
    for game in range(2):
        first, second = (ann, bob) if ann.id == 0 else (bob, ann)  # Talk: player 0 begins
        for _ in range(3):
            assert data(first.move(say="hi")) is None
            assert data(second.move(say="ho")) is None
        assert data(ann.state())["gameover"] is True
        if game == 0:
            ann = Client(hall, "ann", data(join(hall, "ann")))
            bob = Client(hall, "bob", data(join(hall, "bob")))
    tournament = hall.tournament("cup")
    assert tournament is not None and tournament.state == "finished"
    assert [g.seats for g in tournament.rounds[0][0].games] == [("ann", "bob"), ("bob", "ann")]
    assert error(join(hall, "ann")).startswith("framework: tournament cup is over: ann placed ")


def test_requests_a_tournament_refuses(guard: GameGuard) -> None:
    clock = Clock()
    hall = make_hall(guard, clock, start_with=2)
    join(hall, "ann")
    bob = Client(hall, "bob", data(join(hall, "bob", "10.0.0.2")))
    assert "cannot be restarted" in error(bob.request(Restart("Talk", TOKEN, bob.id, bob.key)))
    assert error(bob.request(Move("Talk", TOKEN, 1 - bob.id, bob.key, {}))) == \
        "framework: invalid key"
    assert "registration for tournament cup is closed" in error(join(hall, "carl"))
    assert "registered in tournament cup from another computer" in error(
        join(hall, "bob", "10.0.0.9"))
    watcher = data(bob.request(Observe("Talk", TOKEN, "bob")))
    state = bob.request(State("Talk", TOKEN, watcher["player_id"], watcher["key"], True))
    assert "log" in data(state)


def leave(outcome: Any) -> None:
    """The program that made this join goes away."""
    if isinstance(outcome, Wait):
        outcome.cancel()


def play_present(hall: TournamentHall, names: list[str]) -> None:
    """The programs of ``names`` join and pass whenever it is their turn, until stuck."""
    moved = True
    while moved:
        moved = False
        for name in names:
            seat = resumed(join(hall, name))
            if isinstance(seat, Wait):  # no game for it right now
                seat.cancel()
                continue
            if json.loads(seat)["status"] == "error":  # the end
                return
            client = Client(hall, name, data(seat))
            while json.loads(client.move(**{"pass": True}))["status"] == "ok":
                moved = True


def test_a_participant_that_never_shows_up_is_withdrawn_and_loses_the_rest_unplayed(
        guard: GameGuard) -> None:
    clock = Clock()
    hall = make_hall(guard, clock, start_with=4)
    for name in ("ann", "bob", "cat", "dan"):
        leave(join(hall, name))  # registered; then cat's program stops for good
    tournament = hall.tournament("cup")
    assert tournament is not None and tournament.state == "running"
    while tournament.state == "running":
        play_present(hall, ["ann", "bob", "dan"])
        clock.now += 10  # only cat's turns are left: they time out
        hall.host.tick()  # type: ignore[attr-defined]
    reasons = [g.reason for r in tournament.rounds for m in r for g in m.games
               if "cat" in g.seats]
    assert reasons == ["timeout"] * ABSENT_GAMES + ["absent"] * (3 - ABSENT_GAMES)
    cat = next(row for row in tournament.standings() if row["name"] == "cat")
    assert cat["withdrawn"] and cat["points"] == 0 and cat["place"] == 4


def test_a_withdrawn_participant_that_joins_again_plays_its_remaining_games(
        guard: GameGuard) -> None:
    clock = Clock()
    hall = make_hall(guard, clock, start_with=4, best_of=3)
    for name in ("ann", "bob", "cat", "dan"):
        leave(join(hall, name))
    tournament = hall.tournament("cup")
    assert tournament is not None
    while not tournament.participants["cat"].withdrawn:
        play_present(hall, ["ann", "bob", "dan"])
        clock.now += 10
        hall.host.tick()  # type: ignore[attr-defined]
    leave(join(hall, "cat"))  # back
    assert not tournament.participants["cat"].withdrawn
    while tournament.state == "running":
        play_present(hall, ["ann", "bob", "cat", "dan"])
        clock.now += 10
        hall.host.tick()  # type: ignore[attr-defined]
    reasons = [g.reason for r in tournament.rounds for m in r for g in m.games
               if "cat" in g.seats]
    assert reasons[-1] == "played"


def test_creating_a_tournament_checks_the_game(guard: GameGuard) -> None:
    hall = make_hall(guard, Clock())
    with pytest.raises(TournamentError, match="there is a tournament cup already"):
        hall.create(TournamentSettings("cup", "Talk"))
    with pytest.raises(TournamentError, match="no such game: 'Chess'"):
        hall.create(TournamentSettings("other", "Chess"))
    with pytest.raises(TournamentError, match="cancel it before deleting it"):
        hall.delete("cup")
    hall.cancel("cup")
    hall.delete("cup")
    assert hall.host.router is None  # type: ignore[attr-defined]


def test_a_tournament_made_again_under_a_deleted_ones_name_plays_games_of_its_own(
        guard: GameGuard) -> None:
    """The deleted tournament's games stayed in the lobby until idle, and a tournament
    made again under its name took them for its own games: it was over at once, with
    the old results. Now they leave the lobby with the delete, and what waits on them
    is told why."""
    clock = Clock()
    hall = make_hall(guard, clock, start_with=2)
    first, second = seated(hall)
    talk_to_the_end(first, second)
    waiting = first.state()  # for a change that will not come
    assert isinstance(waiting, Wait)
    assert hall.tournament("cup").state == "finished"  # type: ignore[union-attr]
    hall.delete("cup")
    assert error(waiting) == "framework: tournament cup was deleted"
    assert not [key for key in hall.host.sessions if key[1].startswith(f"{TOKEN}/")]
    hall.create(TournamentSettings("cup", "Talk", turn_timeout=10, start_with=2))
    first, _ = seated(hall)
    assert data(first.state())["gameover"] is False
    assert hall.tournament("cup").state == "running"  # type: ignore[union-attr]


def test_guessing_a_password_is_slowed_down(guard: GameGuard) -> None:
    hall = make_hall(guard, Clock())
    leave(join(hall, "ann#right-one", "10.0.0.1"))
    for n in range(WRONG_PASSWORDS_PER_MINUTE):
        assert "with a password" in error(join(hall, f"ann#guess-{n}", "10.0.0.66"))
    assert "too many wrong passwords" in error(join(hall, "ann#right-one", "10.0.0.66"))
    assert isinstance(join(hall, "ann#right-one", "10.0.0.1"), Wait)  # the owner's address


def test_a_participant_name_that_turns_the_text_after_it_around_is_refused(
        guard: GameGuard) -> None:
    hall = make_hall(guard, Clock())
    assert "holds the control character U+202E" in error(join(hall, "\u202eecila#pw"))
    assert not hall.tournament("cup").participants  # type: ignore[union-attr]


def test_wrong_passwords_of_one_ipv6_host_count_together(guard: GameGuard) -> None:
    """A host with an IPv6 address has its whole /64 (``address_key``): each of its
    addresses had its own 20 guesses a minute, so guessing was not slowed down at all."""
    hall = make_hall(guard, Clock())
    leave(join(hall, "ann#right-one", "10.0.0.1"))
    for n in range(WRONG_PASSWORDS_PER_MINUTE):
        assert "with a password" in error(join(hall, f"ann#guess-{n}", f"2001:db8::{n + 1:x}"))
    assert "too many wrong passwords" in error(join(hall, "ann#guess", "2001:db8::ffff"))
    assert "with a password" in error(join(hall, "ann#guess", "2001:db8:0:1::1"))  # another /64


def test_a_game_that_ends_after_the_tournament_was_cancelled_counts_for_nothing(
        guard: GameGuard) -> None:
    """Cancelling promises that the running games play on but count for nothing. They were
    recorded all the same when they ended: the standings of the cancelled tournament
    changed after the fact, and the game entered the ratings (``rated_games``)."""
    clock = Clock()
    hall = make_hall(guard, clock, start_with=2)
    first, second = seated(hall)
    assert data(first.move(say="hi")) is None
    hall.cancel("cup")
    tournament = hall.tournament("cup")
    assert tournament is not None and tournament.state == "cancelled"
    before = tournament.standings()
    assert data(second.move(say="ho")) is None  # the game plays on, to its end
    for _ in range(2):
        assert data(first.move(say="hi")) is None
        assert data(second.move(say="ho")) is None
    assert data(first.state())["gameover"] is True
    assert [g for r in tournament.rounds for m in r for g in m.games] == []
    assert tournament.standings() == before
    assert hall.rated_games() == set()
    with pytest.raises(TournamentError, match="cancelled"):  # nor when the log is replayed
        tournament.record("r1t1g1", GameResult(("ann", "bob"), (1.0, 0.0)))


def test_the_keys_of_a_game_go_once_the_lobby_has_ended_its_session(guard: GameGuard) -> None:
    """The hall kept every game's keys, and with them every game's session (its game,
    players and views: 2.7 KB a Talk game), for as long as the tournament was kept: a
    round robin of 300 plays 44,850 games. Now they go when the lobby ends the session."""
    clock = Clock()
    hall = make_hall(guard, clock, start_with=2)
    first, second = seated(hall)
    talk_to_the_end(first, second)  # (its key still shows the final state)
    entry = hall.entries["cup"]
    assert entry.tournament.state == "finished" and len(entry.keys) == 2
    clock.now += hall.host.limits.game_timeout + 1  # type: ignore[attr-defined]
    hall.host.tick()  # type: ignore[attr-defined]  # the idle session ends
    assert entry.keys == {} and entry.issued == {}
    assert error(first.state()) == "framework: invalid key"


def test_a_game_lost_on_time_after_the_cancel_withdraws_no_one(guard: GameGuard) -> None:
    """A game running at the cancel counts for nothing, also when a player absent for it
    loses on time: that loss was counted as a game missed, and a second one in a row
    withdrew the player from the cancelled tournament (its standings' "withdrawn")."""
    clock = Clock()
    hall = make_hall(guard, clock, start_with=2, best_of=3)
    for name in ("ann", "bob"):
        leave(join(hall, name))  # registered; then neither program plays
    tournament = hall.tournament("cup")
    assert tournament is not None
    for _ in range(2):  # ann, then bob, lose a game on time; game 3 waits for ann
        clock.now += 10
        hall.host.tick()  # type: ignore[attr-defined]
    assert hall.entries["cup"].strikes == {"ann": 1, "bob": 1}
    hall.cancel("cup")
    before = tournament.standings()
    clock.now += 10
    hall.host.tick()  # type: ignore[attr-defined]  # game 3 ends: ann lost on time
    assert not hall.entries["cup"].games
    assert tournament.standings() == before
    assert not any(p.withdrawn for p in tournament.participants.values())


class Flaky(Talk):
    """Every other game cannot be made: never ``BROKEN_STARTS`` in a row."""

    made = 0

    def __init__(self, players: int) -> None:
        Flaky.made += 1
        if Flaky.made % 2:
            raise RuntimeError("not this time")
        super().__init__(players)


def test_a_game_that_fails_to_start_now_and_then_voids_those_games_and_plays_on(
        guard: GameGuard) -> None:
    """Only games in a row that cannot be made stop a tournament (tests/
    test_server_tournament.py): one that fails now and then is not broken."""
    clock = Clock()
    lobby = Lobby(game_types({"Talk": Flaky}, guard), LobbyLimits(new_sessions_per_minute=10**6),
                  clock=clock)
    hall = TournamentHall(lobby, wall=clock)
    hall.create(TournamentSettings("cup", "Talk", turn_timeout=10, start_with=6))
    names = [f"p{n}" for n in range(6)]
    for name in names:
        leave(join(hall, name))
    tournament = hall.tournament("cup")
    assert tournament is not None
    play_present(hall, names)
    assert tournament.state == "finished" and tournament.stopped_because == ""
    reasons = [g.reason for r in tournament.rounds for m in r for g in m.games]
    assert len(reasons) == 15 and "void" in reasons and "played" in reasons


def test_past_the_tournaments_kept_the_oldest_finished_one_makes_room(
        guard: GameGuard, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The tables of tournaments are bounded as the history is: ``KEPT_MAX`` are kept,
    and one more deletes the oldest finished one (by the time it ended), with a line in
    the log; none finished, it is refused, and nothing is deleted. (An instructor
    making tournaments for every lab filled the store, finished ones kept for good, until
    a hard refusal told them to tidy up by hand.)"""
    monkeypatch.setattr(tournament_store, "KEPT_MAX", 3)
    clock = Clock()
    hall = make_hall(guard, clock)
    for name in ("second", "third"):
        hall.create(TournamentSettings(name, "Talk", turn_timeout=10))
    with pytest.raises(TournamentError, match="keeps at most 3 tournaments, none of them "
                                              "finished: cancel one and delete it first"):
        hall.create(TournamentSettings("fourth", "Talk", turn_timeout=10))
    assert sorted(hall.entries) == ["cup", "second", "third"]
    hall.cancel("third")
    clock.now += 60
    hall.cancel("cup")  # (made first, but ended last: kept)
    with pytest.raises(TournamentError, match="no such game"):  # (deletes nothing)
        hall.create(TournamentSettings("fourth", "Nothing", turn_timeout=10))
    assert sorted(hall.entries) == ["cup", "second", "third"]
    hall.create(TournamentSettings("fourth", "Talk", turn_timeout=10))
    assert sorted(hall.entries) == ["cup", "fourth", "second"]
    assert ("tournament third is deleted: the server keeps at most 3 tournaments, and it is "
            "the oldest finished one" in caplog.text)
    hall.create(TournamentSettings("fifth", "Talk", turn_timeout=10))
    assert sorted(hall.entries) == ["fifth", "fourth", "second"]
