"""Rules of the tutorial game NumberRace, tested on the class directly."""

import random

import pytest

from gameserver.games.template import NumberRace
from gameserver.testing import LocalSession


def play(game: NumberRace, *amounts: int) -> None:
    """Add ``amounts`` in turn order, failing if any move is rejected."""
    for amount in amounts:
        assert game.move({"add": amount}, game.current_player()[0]) is None


def test_player_limits() -> None:
    assert (NumberRace.min_players(), NumberRace.max_players()) == (2, 4)


def test_initial_state() -> None:
    game = NumberRace(3)
    assert game.state(0) == {"counter": 0, "winner": None, "last_moves": []}
    assert game.current_player() == [0]
    assert not game.game_over()


@pytest.mark.parametrize("players", [2, 3, 4])
def test_turns_rotate_and_wrap_around(players: int) -> None:
    game = NumberRace(players)
    seen = []
    for _ in range(players + 1):
        seen.append(game.current_player()[0])
        play(game, 1)
    assert seen == [*range(players), 0]


def test_counter_adds_up_and_last_moves_keeps_five() -> None:
    game = NumberRace(2)
    play(game, 1, 2, 3, 1, 2, 3)
    state = game.state(1)
    assert state["counter"] == 12
    assert state["last_moves"] == [[1, 2], [0, 3], [1, 1], [0, 2], [1, 3]]


def test_reaching_21_wins_and_ends_the_game() -> None:
    game = NumberRace(3)
    play(game, *[3] * 6)  # counter 18, player 0 to move
    assert not game.game_over()
    play(game, 2)  # 20, by player 0
    assert game.current_player() == [1]
    play(game, 1)  # 21, by player 1
    assert game.game_over()
    assert game.current_player() == []
    assert game.state(2)["counter"] == 21
    assert game.state(2)["winner"] == 1


@pytest.mark.parametrize("move, expected", [
    ({}, "add missing"),
    ({"amount": 1}, "add missing"),
    ({"add": True}, "whole number"),
    ({"add": "1"}, "whole number"),
    ({"add": 1.0}, "whole number"),
    ({"add": [1]}, "whole number"),
    ({"add": 0}, "only add 1, 2 or 3"),
    ({"add": 4}, "only add 1, 2 or 3"),
    ({"add": -1}, "only add 1, 2 or 3"),
    ({"add": 10**5000}, "only add 1, 2 or 3"),
])
def test_bad_moves_are_rejected_and_change_nothing(move: dict, expected: str) -> None:
    game = NumberRace(2)
    error = game.move(move, 0)
    assert isinstance(error, str) and expected in error
    assert game.state(0) == {"counter": 0, "winner": None, "last_moves": []}
    assert game.current_player() == [0]


def test_going_past_21_is_rejected() -> None:
    game = NumberRace(2)
    play(game, *[3] * 6, 1)  # counter 19
    error = game.move({"add": 3}, game.current_player()[0])
    assert isinstance(error, str) and "add at most 2" in error
    assert game.state(0)["counter"] == 19
    assert not game.game_over()


def test_legal_moves_are_the_amounts_that_stay_within_21() -> None:
    game = NumberRace(2)
    assert game.legal_moves(0) == [{"add": 1}, {"add": 2}, {"add": 3}]
    play(game, *[3] * 6, 1)  # counter 19
    assert game.legal_moves(1) == [{"add": 1}, {"add": 2}]
    play(game, 1)  # 20
    assert game.legal_moves(0) == [{"add": 1}]
    play(game, 1)  # 21
    assert game.legal_moves(0) == game.legal_moves(1) == []


def test_legal_moves_through_the_harness() -> None:
    session = LocalSession(NumberRace, 3)
    assert session.legal_moves(0) == [{"add": 1}, {"add": 2}, {"add": 3}]
    assert session.legal_moves(1) == session.legal_moves(2) == []  # not their turn


@pytest.mark.parametrize("players", [2, 3, 4])
def test_200_random_games_via_legal_moves(players: int) -> None:
    rng = random.Random(players)
    session = LocalSession(NumberRace, players)
    for _ in range(200):
        moves = 0
        while not session.gameover:
            [player] = session.current
            legal = session.legal_moves(player)
            counter = session.state(player)["counter"]
            # Exactness: every amount that fits is listed, and only those.
            assert legal == [{"add": a} for a in (1, 2, 3) if counter + a <= 21]
            session.move(player, rng.choice(legal))  # raises if a listed move is rejected
            moves += 1
            assert moves <= 21
        assert session.state(0)["counter"] == 21
        session.restart()
    session.close()
