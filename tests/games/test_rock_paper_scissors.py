"""Rules of RockPaperScissors, played through the in-process harness ``LocalSession``."""

import random

import pytest

from gameserver.games.rock_paper_scissors import RockPaperScissors
from gameserver.testing import GameServerError, IllegalMove, LocalSession
from tests.games.helpers import contains

CHOICES = ["rock", "paper", "scissors"]


def game_part(state: dict) -> dict:
    """The game's own keys of a state, without the framework's."""
    return {k: v for k, v in state.items() if k not in ("current", "gameover")}


def round_(session: LocalSession, first: str, second: str) -> None:
    """Player 0 chooses ``first``, then player 1 chooses ``second``."""
    session.move(0, choice=first)
    session.move(1, choice=second)


def test_player_limits() -> None:
    assert (RockPaperScissors.min_players(), RockPaperScissors.max_players()) == (2, 2)


def test_initial_state_both_players_are_current() -> None:
    session = LocalSession(RockPaperScissors, 2)
    assert session.state(1) == {
        "round": 1, "score": [0, 0], "you_chose": None, "opponent_has_chosen": False,
        "history": [], "winner": None, "current": [0, 1], "gameover": False,
    }


@pytest.mark.parametrize("chooser", [0, 1])
def test_a_player_who_has_chosen_waits_for_the_other(chooser: int) -> None:
    session = LocalSession(RockPaperScissors, 2)
    session.move(chooser, choice="paper")
    assert session.current == [1 - chooser]
    with pytest.raises(GameServerError, match="not your turn"):
        session.move(chooser, choice="rock")
    assert session.state(chooser)["you_chose"] == "paper"


def test_the_pending_choice_is_hidden_from_the_opponent() -> None:
    session = LocalSession(RockPaperScissors, 2)
    session.move(0, choice="scissors")
    mine, theirs = session.state(0), session.state(1)
    assert mine["you_chose"] == "scissors" and mine["opponent_has_chosen"] is False
    assert theirs["you_chose"] is None and theirs["opponent_has_chosen"] is True
    assert not contains(theirs, "scissors")
    assert session.game.private_data(0) == ["scissors"]
    assert session.game.private_data(1) == []


def test_both_choices_are_revealed_in_the_history_once_both_have_chosen() -> None:
    session = LocalSession(RockPaperScissors, 2)
    round_(session, "rock", "scissors")
    for player in (0, 1):
        state = session.state(player)
        assert state["history"] == [["rock", "scissors", 0]]
        assert state["you_chose"] is None and state["opponent_has_chosen"] is False
        assert state["score"] == [1, 0] and state["round"] == 2
    assert session.current == [0, 1]
    assert session.game.private_data(0) == session.game.private_data(1) == []


@pytest.mark.parametrize("first, second, winner", [
    ("rock", "scissors", 0), ("scissors", "paper", 0), ("paper", "rock", 0),
    ("scissors", "rock", 1), ("paper", "scissors", 1), ("rock", "paper", 1),
    ("rock", "rock", None), ("paper", "paper", None), ("scissors", "scissors", None),
])
def test_who_wins_a_round(first: str, second: str, winner: int | None) -> None:
    session = LocalSession(RockPaperScissors, 2)
    round_(session, first, second)
    state = session.state(0)
    assert state["history"] == [[first, second, winner]]
    expected_score = [0, 0] if winner is None else [1 - winner, winner]
    assert state["score"] == expected_score


def test_the_second_player_may_choose_first() -> None:
    session = LocalSession(RockPaperScissors, 2)
    session.move(1, choice="rock")
    session.move(0, choice="paper")
    assert session.state(1)["history"] == [["paper", "rock", 0]]


def test_a_drawn_round_is_replayed_with_the_same_number() -> None:
    session = LocalSession(RockPaperScissors, 2)
    round_(session, "rock", "rock")
    state = session.state(0)
    assert state["round"] == 1 and state["score"] == [0, 0]
    assert state["history"] == [["rock", "rock", None]]
    round_(session, "paper", "paper")
    assert session.state(0)["round"] == 1


def test_two_round_wins_end_the_game() -> None:
    session = LocalSession(RockPaperScissors, 2)
    round_(session, "rock", "scissors")
    assert not session.gameover
    round_(session, "paper", "paper")
    round_(session, "paper", "rock")
    state = session.state(1)
    assert game_part(state) == {
        "round": 2, "score": [2, 0], "you_chose": None, "opponent_has_chosen": False,
        "history": [["rock", "scissors", 0], ["paper", "paper", None],
                    ["paper", "rock", 0]],
        "winner": 0,
    }
    assert state["current"] == [] and state["gameover"]
    with pytest.raises(GameServerError, match="game has ended"):
        session.move(0, choice="rock")


def test_three_round_game_won_by_player_1() -> None:
    session = LocalSession(RockPaperScissors, 2)
    round_(session, "rock", "paper")
    round_(session, "rock", "scissors")
    assert session.state(0)["round"] == 3
    round_(session, "scissors", "rock")
    state = session.state(0)
    assert state["winner"] == 1 and state["score"] == [1, 2] and state["round"] == 3


REJECTIONS = {
    "missing": ({}, "choice missing"),
    "other key": ({"move": "rock"}, "choice missing"),
    "int": ({"choice": 0}, "must be text"),
    "null": ({"choice": None}, "must be text"),
    "bool": ({"choice": True}, "must be text"),
    "list": ({"choice": ["rock"]}, "must be text"),
    "dict": ({"choice": {"rock": 1}}, "must be text"),
    "capitalised": ({"choice": "Rock"}, "unknown choice 'Rock'"),
    "spaces": ({"choice": " rock"}, "unknown choice"),
    "other word": ({"choice": "lizard"}, "unknown choice 'lizard'"),
    "empty": ({"choice": ""}, "unknown choice"),
    "long": ({"choice": "x" * 10000}, "unknown choice 'xxxxxxxxxxxxxxxxxxxx'"),
}


@pytest.mark.parametrize("name", REJECTIONS)
def test_bad_moves_are_rejected_and_change_nothing(name: str) -> None:
    move, expected = REJECTIONS[name]
    session = LocalSession(RockPaperScissors, 2)
    before = session.state(0)
    with pytest.raises(IllegalMove, match=expected):
        session.move(0, move)
    assert session.state(0) == before
    assert session.state(1)["opponent_has_chosen"] is False


def test_long_rejected_choices_are_shortened_in_the_message() -> None:
    error = RockPaperScissors(2).move({"choice": "x" * 10000}, 0)
    assert isinstance(error, str) and len(error) < 200


def test_legal_moves_offer_the_three_choices_until_chosen() -> None:
    session = LocalSession(RockPaperScissors, 2)
    expected = [{"choice": "rock"}, {"choice": "paper"}, {"choice": "scissors"}]
    assert session.legal_moves(0) == session.legal_moves(1) == expected
    session.move(0, choice="rock")
    assert session.legal_moves(0) == []
    assert session.game.legal_moves(0) == []
    assert session.legal_moves(1) == expected


def test_no_legal_moves_once_the_game_is_over() -> None:
    session = LocalSession(RockPaperScissors, 2)
    round_(session, "rock", "scissors")
    round_(session, "rock", "scissors")
    assert session.legal_moves(0) == session.legal_moves(1) == []
    assert session.game.legal_moves(1) == []


def test_private_data_leaves_out_words_the_public_history_already_shows() -> None:
    session = LocalSession(RockPaperScissors, 2)
    round_(session, "rock", "rock")
    session.move(0, choice="rock")  # "rock" is public already: not a checkable secret
    assert session.game.private_data(0) == []
    session.move(1, choice="paper")
    session.move(1, choice="scissors")  # a new word: private until player 0 chooses
    assert session.game.private_data(1) == ["scissors"]
    assert not contains(session.state(0), "scissors")


def test_restart_starts_a_fresh_game() -> None:
    session = LocalSession(RockPaperScissors, 2)
    round_(session, "rock", "scissors")
    session.move(1, choice="rock")
    session.restart(0)
    state = session.state(1)
    assert state["history"] == [] and state["you_chose"] is None
    assert state["current"] == [0, 1]


def test_state_is_a_copy() -> None:
    game = RockPaperScissors(2)
    game.move({"choice": "rock"}, 0)
    game.move({"choice": "paper"}, 1)
    state = game.state(0)
    state["score"][1] = 5
    state["history"][0][0] = "paper"
    assert game.state(0)["score"] == [0, 1]
    assert game.state(0)["history"] == [["rock", "paper", 1]]


def test_200_random_games_via_legal_moves() -> None:
    rng = random.Random(7)
    session = LocalSession(RockPaperScissors, 2)
    winners = set()
    for _ in range(200):
        moves = 0
        while not session.gameover:
            player = rng.choice(session.current)
            legal = session.legal_moves(player)
            assert legal
            session.move(player, rng.choice(legal))  # raises if a listed move is rejected
            moves += 1
            assert moves <= 200  # 100 rounds: only endless draws could get here
            for owner in (0, 1):
                pending = session.game.choices[owner]
                if pending is not None:  # the secret the opponent must not see
                    assert session.state(1 - owner)["you_chose"] is None
                for secret in session.game.private_data(owner):
                    assert not contains(session.state(1 - owner), secret)
        state = session.state(0)
        assert max(state["score"]) == 2 and state["winner"] == state["score"].index(2)
        winners.add(state["winner"])
        session.restart()
    assert winners == {0, 1}
    session.close()
