"""Rules of SecretCode, the short example of a game with a secret."""

import pytest

from gameserver import check
from gameserver.game import has_hidden_information
from gameserver.games.secret_code import SecretCode
from gameserver.testing import GameServerError, IllegalMove, LocalSession
from tests.games.helpers import random_games

CODE = ["red", "blue", "red"]


def made(code: list[str] = CODE) -> LocalSession:
    """A session in which player 0 has made ``code``."""
    session = LocalSession(SecretCode, 2)
    session.move(0, code=code)
    return session


def test_player_limits_and_documentation() -> None:
    assert (SecretCode.min_players(), SecretCode.max_players()) == (2, 2)
    assert SecretCode.description().startswith("One player picks a secret code")
    assert 'move(guess=["red", "green", "blue"])' in SecretCode.documentation()


def test_player_0_makes_the_code_first() -> None:
    session = LocalSession(SecretCode, 2)
    assert session.current == [0]
    assert session.state(1)["code"] is None
    with pytest.raises(GameServerError, match="not your turn"):
        session.move(1, guess=CODE)
    session.move(0, code=CODE)
    assert session.current == [1]


def test_only_the_maker_sees_the_code_until_the_game_is_over() -> None:
    session = made()
    assert session.state(0)["code"] == CODE
    assert session.state(1)["code"] is None
    assert session.game.private_data(0) == [CODE]
    assert session.game.private_data(1) == []
    session.move(1, guess=CODE)
    assert session.gameover
    assert session.state(1)["code"] == CODE  # no secret any more
    assert session.game.private_data(0) == []


def test_guesses_count_the_colours_in_the_right_place() -> None:
    session = made()
    session.move(1, guess=["red", "red", "blue"])
    session.move(1, guess=["yellow", "green", "yellow"])
    state = session.state(1)
    assert state["guesses"] == [{"guess": ["red", "red", "blue"], "right": 1},
                                {"guess": ["yellow", "green", "yellow"], "right": 0}]
    assert state["tries_left"] == 4
    assert state["winner"] is None


def test_the_guesser_wins_with_the_right_code() -> None:
    session = made()
    session.move(1, guess=["red", "red", "red"])
    session.move(1, guess=CODE)
    assert session.state(0)["winner"] == 1
    assert session.current == []


def test_the_maker_wins_after_six_wrong_guesses() -> None:
    session = made()
    for _ in range(6):
        assert not session.gameover
        session.move(1, guess=["green", "green", "green"])
    assert session.gameover
    assert session.state(1) == {**session.state(0), "code": CODE}
    assert session.state(1)["winner"] == 0


@pytest.mark.parametrize("move, expected", [
    ({}, "send 3 colours"),
    ({"guess": CODE}, "send 3 colours, for example move(code="),  # player 0 sends code=
    ({"code": "red blue red"}, "send 3 colours"),
    ({"code": ["red", "blue"]}, "send 3 colours"),
    ({"code": ["red", "blue", "red", "red"]}, "send 3 colours"),
    ({"code": ["red", "blue", "pink"]}, "the colours are red, green, blue and yellow"),
    ({"code": ["red", "blue", ["red"]]}, "the colours are"),
    ({"code": ["red", "blue", 10**5000]}, "the colours are"),
    ({"code": [True, "blue", "red"]}, "the colours are"),
])
def test_bad_moves_are_rejected_and_change_nothing(move: dict, expected: str) -> None:
    game = SecretCode(2)
    error = game.move(move, 0)
    assert isinstance(error, str) and expected in error
    assert game.code is None and game.current_player() == [0]


def test_the_code_is_a_copy_of_what_the_player_sent() -> None:
    game = SecretCode(2)
    sent = list(CODE)
    game.move({"code": sent}, 0)
    sent[0] = "yellow"
    assert game.state(0)["code"] == CODE


def test_legal_moves_list_every_code_for_the_player_to_move() -> None:
    session = LocalSession(SecretCode, 2)
    moves = session.legal_moves(0)
    assert len(moves) == 64 and {"code": CODE} in moves
    session.move(0, code=CODE)
    assert {"guess": ["yellow", "yellow", "yellow"]} in session.legal_moves(1)
    with pytest.raises(IllegalMove, match="send 3 colours"):
        session.move(1, code=CODE)  # the guesser sends guess=


def test_it_declares_its_secret_and_the_checker_finds_no_leak() -> None:
    assert has_hidden_information(SecretCode)
    report = check.check_game(SecretCode, seed=5, games=30, time_budget=3.0)
    assert report.ok, report.problems
    assert not report.remarks  # private_data lets the checker check everything


def test_200_random_games_via_legal_moves() -> None:
    # One code, then at most 6 guesses.
    finals = random_games(SecretCode, 2, games=200, seed=2026, max_moves=7)
    assert {state["winner"] for state in finals} == {0, 1}
    assert all(state["code"] is not None for state in finals)
