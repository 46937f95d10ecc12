"""A tournament's rules without sessions: schedule, matches, forfeits, standings."""

from __future__ import annotations

import pytest

from gameserver.tournament import (
    GameResult,
    GameSlot,
    Tournament,
    TournamentError,
    TournamentSettings,
)

WIN, LOSS, DRAW = (1.0, 0.0), (0.0, 1.0), (0.5, 0.5)


def make(names: list[str], **settings: object) -> Tournament:
    tournament = Tournament(TournamentSettings("cup", "TicTacToe", **settings), 0.0)  # type: ignore[arg-type]
    for name in names:
        tournament.register(name)
    return tournament


def play(tournament: Tournament, winner: dict[frozenset[str], str] | None = None,
         log: list[tuple[str, GameResult]] | None = None) -> None:
    """Play every due game until the end: ``winner`` names who wins which pairing
    (the first seat wins when not listed)."""
    while True:
        slots, forfeited = tournament.due_games()
        if log is not None:
            log.extend(forfeited)
        if not slots:
            return
        for slot in slots:
            result = result_of(slot, (winner or {}).get(frozenset(slot.seats)))
            tournament.record(slot.key, result)
            if log is not None:
                log.append((slot.key, result))


def result_of(slot: GameSlot, winner: str | None) -> GameResult:
    if winner is None or winner == slot.seats[0]:
        return GameResult(slot.seats, WIN)
    return GameResult(slot.seats, LOSS)


def test_a_round_robin_plays_every_pairing_and_ranks_by_points() -> None:
    tournament = make(["ann", "bob", "cat", "dan"])
    tournament.start(1.0)
    slots, _ = tournament.due_games()
    assert len(slots) == 2 and tournament.state == "running"
    assert tournament.due_games() == ([], [])  # those two are running
    tournament.record(slots[0].key, GameResult(slots[0].seats, WIN))
    tournament.record(slots[1].key, GameResult(slots[1].seats, DRAW))
    beats = {frozenset(p): w for p, w in [(("ann", "bob"), "ann"), (("ann", "cat"), "ann"),
                                           (("ann", "dan"), "ann"), (("bob", "cat"), "bob"),
                                           (("bob", "dan"), "bob"), (("cat", "dan"), "cat")]}
    play(tournament, beats)
    assert tournament.state == "finished" and len(tournament.rounds) == 3
    table = tournament.standings()
    assert [row["name"] for row in table][0] == "ann"
    assert sum(row["points"] for row in table) == 6  # one point per match
    assert all(row["matches"] == 3 for row in table)


def test_best_of_three_alternates_seats_and_ends_when_decided() -> None:
    tournament = make(["ann", "bob"], best_of=3)
    tournament.start(1.0)
    seats = []
    while tournament.state == "running":
        (slot,), _ = tournament.due_games()
        seats.append(slot.seats)
        tournament.record(slot.key, result_of(slot, "bob"))
    assert seats == [("ann", "bob"), ("bob", "ann")]  # bob won twice: no third game
    (first, second) = [row["name"] for row in tournament.standings()]
    assert (first, second) == ("bob", "ann")
    assert tournament.standings()[0]["game_points"] == 2


def test_a_drawn_match_gives_half_a_point_each() -> None:
    tournament = make(["ann", "bob"], best_of=2)
    tournament.start(1.0)
    play(tournament)  # the first seat wins: one game each
    assert [row["points"] for row in tournament.standings()] == [0.5, 0.5]
    cell = tournament.crosstable()["rows"][0]["cells"][1]
    assert cell == {"points": 0.5, "forfeit": False, "finished": True, "score": "1-1"}


def test_a_withdrawn_participant_loses_its_games_without_playing_them() -> None:
    tournament = make(["ann", "bob", "cat", "dan"], best_of=2)
    tournament.start(1.0)
    tournament.withdraw("dan")
    log: list[tuple[str, GameResult]] = []
    play(tournament, log=log)
    absent = [result for _, result in log if result.reason == "absent"]
    assert len(absent) == 6 and all("dan" in r.seats for r in absent)
    dan = next(row for row in tournament.standings() if row["name"] == "dan")
    assert dan["points"] == 0 and dan["lost_absent"] == 6 and dan["games"] == 0
    assert dan["place"] == 4 and dan["withdrawn"]
    assert tournament.crosstable()["rows"][0]["cells"][3]["forfeit"] in (True, False)


def test_an_odd_swiss_gives_each_round_one_bye_worth_a_point() -> None:
    tournament = make(["a", "b", "c", "d", "e"], format="swiss")
    tournament.start(1.0)
    assert tournament.planned_rounds == 3
    play(tournament)
    assert tournament.state == "finished" and len(tournament.rounds) == 3
    byes = [m.names[0] for r in tournament.rounds for m in r if m.bye]
    assert len(byes) == 3 and len(set(byes)) == 3
    met = [frozenset(m.names) for r in tournament.rounds for m in r if not m.bye]
    assert len(met) == len(set(met))  # no rematch
    assert sum(row["points"] for row in tournament.standings()) == 6 + 3


def test_registration_rules() -> None:
    tournament = make(["ann"], max_participants=2, start_with=2)
    with pytest.raises(TournamentError, match="needs at least 2 participants"):
        tournament.start(1.0)
    with pytest.raises(TournamentError, match="registered already"):
        tournament.register("ann")
    assert not tournament.ready_to_start
    tournament.register("bob")
    assert tournament.ready_to_start
    with pytest.raises(TournamentError, match="is full"):
        tournament.register("cat")
    tournament.start(1.0)
    with pytest.raises(TournamentError, match="registration for tournament cup is closed"):
        tournament.register("dan")
    with pytest.raises(TournamentError, match="cannot start now"):
        tournament.start(2.0)


def test_a_result_for_a_game_that_is_not_due_is_refused() -> None:
    tournament = make(["ann", "bob"])
    tournament.start(1.0)
    for key in ("r1t1g2", "r2t1g1", "r1t9g1", "nonsense"):
        with pytest.raises(TournamentError, match="has no game"):
            tournament.record(key, GameResult(("ann", "bob"), WIN))


def test_replaying_the_recorded_results_rebuilds_the_same_tournament() -> None:
    names = [f"p{i}" for i in range(7)]
    original = make(names, format="swiss", best_of=3, rounds=4)
    original.start(1.0)
    original.withdraw("p6")
    log: list[tuple[str, GameResult]] = []
    winners = {frozenset((a, b)): min(a, b) for a in names for b in names}
    play(original, winners, log)
    copy = make(names, format="swiss", best_of=3, rounds=4)
    copy.start(1.0)
    copy.withdraw("p6")  # events replay in their order
    for key, result in log:
        copy.record(key, result)
    assert copy.standings() == original.standings() and copy.state == "finished"


@pytest.mark.parametrize("bad, message", [
    ({"name": "no spaces"}, "a tournament name"), ({"format": "knockout"}, "format must"),
    ({"best_of": 0}, "best_of must"), ({"turn_timeout": 0}, "turn_timeout must"),
    ({"start_with": 1}, "start_with must"), ({"max_moves": -1}, "max_moves must"),
    ({"max_moves": 0}, "max_moves 0 .* needs a game_clock")])
def test_settings_that_cannot_work_are_refused(bad: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"name": "cup", "game": "TicTacToe", **bad}
    with pytest.raises(TournamentError, match=message):
        TournamentSettings(**values).check()  # type: ignore[arg-type]


def test_every_game_ends_by_a_move_limit_unless_a_game_clock_ends_it() -> None:
    assert TournamentSettings("cup", "Nim").max_moves == 1000
    TournamentSettings("cup", "Nim", max_moves=0, game_clock=60).check()


def test_the_final_words_name_the_place() -> None:
    tournament = make(["ann", "bob", "cat"])
    tournament.start(1.0)
    play(tournament, {frozenset(("ann", "bob")): "bob", frozenset(("bob", "cat")): "bob",
                      frozenset(("ann", "cat")): "ann"})
    assert tournament.final_words("bob") == (
        "tournament cup is over: bob placed 1st of 3 with 2 points (the standings are on "
        "the dashboard)")
    assert "ann placed 2nd of 3 with 1 point (the standings" in tournament.final_words("ann")


@pytest.mark.parametrize("fmt", ["round-robin", "swiss"])
def test_what_describe_keeps_between_changes_is_what_it_would_make_afresh(fmt: str) -> None:
    """``describe`` is kept until something it shows changes (a round robin of 128 took
    0.24 s, asked for every 2 s by each page showing it): after every kind of change
    (registration, start, a game started, a result, a forfeit, a withdrawal and a
    reinstatement, the end) it must equal what ``_standings.describe`` makes afresh."""
    import random

    from gameserver import _standings

    def same() -> None:
        kept = tournament.describe()
        assert kept == _standings.describe(tournament)
        assert tournament.describe() is kept  # nothing changed: not made again

    rng = random.Random(3)
    tournament = make(["ann", "bob"], format=fmt, best_of=3)
    same()
    for name in ("cat", "dan", "eve"):
        tournament.register(name)
        same()
    tournament.start(1.0)
    same()
    while True:
        slots, _ = tournament.due_games()
        same()
        if not slots:
            break
        for slot in slots:
            tournament.record(slot.key, GameResult(slot.seats, rng.choice([WIN, LOSS, DRAW])))
            same()
            if rng.random() < 0.15:
                name = rng.choice(sorted(tournament.participants))
                if tournament.participants[name].withdrawn:
                    tournament.reinstate(name)
                else:
                    tournament.withdraw(name)
                same()
    assert tournament.state == "finished"
    tournament.ended = 5.0  # as the hall sets it
    same()


@pytest.mark.parametrize("size", [8, 64, 65, 200])
def test_a_large_round_robin_is_described_in_part_and_the_standings_whole(size: int) -> None:
    """A round robin of 256 took 0.7 s of the event loop to describe (12 MB), after each
    change, for each page showing it: its crosstable and its rounds grow with the square
    of its participants. Beyond ``CROSSTABLE_MAX`` participants there is no crosstable;
    the rounds shown are the latest, up to ``MATCHES_SHOWN`` matches (the latest round
    whole), numbered from ``rounds_from``; the standings are always whole."""
    from gameserver import _standings

    tournament = make([f"p{i}" for i in range(size)])
    tournament.start(0.0)
    play(tournament)
    data = tournament.describe()
    assert len(data["standings"]) == size
    assert (data["crosstable"] is None) == (size > _standings.CROSSTABLE_MAX)
    played = len(tournament.rounds)
    assert data["rounds_played"] == played
    shown = data["rounds"]
    assert data["rounds_from"] == played - len(shown) + 1 >= 1
    assert [r[0]["round"] for r in shown] == list(range(data["rounds_from"], played + 1))
    matches = sum(len(r) for r in shown)
    assert matches <= _standings.MATCHES_SHOWN
    if len(shown) < played:  # the next older round would not have fitted
        assert matches + len(tournament.rounds[-len(shown) - 1]) > _standings.MATCHES_SHOWN
