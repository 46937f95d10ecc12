"""gameserver.rlhooks: reading, using and checking the RL hooks (pure Python, no numpy)."""

from __future__ import annotations

import pytest

from gameserver import check, rlhooks
from gameserver.games import BUNDLED_GAMES, RockPaperScissors
from gameserver.guard import GameGuard
from gameserver.rlhooks import HookError, RLSpec, final_rewards, move_key
from tests.data import rl_hook_games as games


@pytest.fixture
def guard():
    running = GameGuard(time_limit=2.0)
    yield running
    running.close()


def problems(game_class, guard) -> list[str]:
    return rlhooks.check_hooks(game_class, guard, seed=3, player_counts=[2], games=30)


@pytest.mark.parametrize("game_class", [g for g in BUNDLED_GAMES if rlhooks.has_hooks(g)],
                         ids=lambda c: c.__name__)
def test_bundled_games_with_hooks_pass(game_class, guard) -> None:
    low, high = game_class.min_players(), game_class.max_players()
    assert rlhooks.check_hooks(game_class, guard, 1, sorted({low, high})) == []


def test_the_five_games_have_hooks_and_the_others_none() -> None:
    with_hooks = {g.__name__ for g in BUNDLED_GAMES if rlhooks.has_hooks(g)}
    assert with_hooks == {"TicTacToe", "ConnectFour", "Nim", "RockPaperScissors",
                          "NumberRace"}


def test_the_reference_game_passes(guard) -> None:
    assert problems(games.Guess, guard) == []


@pytest.mark.parametrize("name, expected", [
    ("PeeksThroughAGlobal", "rl_observation gave different numbers for the same state of "
                            "player 1"),
    ("RandomObservation", "gave different numbers for the same state"),
    ("WrongShape", "a list has 3 entries where 2 belong"),
    ("OutOfRange", "2 lies outside rl_observation_range"),
    ("NotNumbers", "found 'hide' where a number belongs"),
    ("ChangesTheState", "rl_observation changed the state it was given"),
    ("MissingMove", "listed {'guess': 2}, which is not in rl_moves: add it there"),
    ("WithSelf", "must be a @staticmethod without self"),
    ("DuplicateMove", "lists {'hide': 0} twice (entries 0 and 1)"),
    ("BadShape", "rl_observation_shape must be a tuple of whole numbers"),
    ("NoLegalMoves", "has rl_moves but no legal_moves method"),
    ("OnlyMoves", "has no reinforcement-learning hooks: it needs rl_moves"),
])
def test_each_defect_is_reported_in_plain_words(name: str, expected: str, guard) -> None:
    found = problems(getattr(games, name), guard)
    assert len(found) == 1 and expected in found[0], found


def test_gameserver_check_reports_a_hook_problem() -> None:
    report = check.check_game(games.WrongShape, seed=7, games=10, time_budget=3.0)
    assert any("a list has 3 entries where 2 belong" in p for p in report.problems)
    assert check.check_game(games.Guess, seed=7, games=10, time_budget=3.0).ok


def test_mask_marks_the_listed_moves_and_refuses_unknown_ones() -> None:
    spec = RLSpec(RockPaperScissors)
    assert spec.mask([{"choice": "scissors"}, {"choice": "rock"}]) == [1, 0, 1]
    assert spec.mask([]) == [0, 0, 0] and spec.mask(None) == [0, 0, 0]
    with pytest.raises(HookError, match="listed {'choice': 'lizard'}, which is not in"):
        spec.mask([{"choice": "lizard"}])


def test_mask_finds_moves_in_any_key_order_and_with_list_values() -> None:
    class Cards(games.Guess):
        rl_moves = [{"cards": [1, 2], "to": 0}, {"cards": [3], "to": 1}]

    spec = RLSpec(Cards)
    assert spec.mask([{"to": 1, "cards": [3]}]) == [0, 1]
    with pytest.raises(HookError):
        spec.mask([{"cards": [3], "to": 0}])


def test_move_keys_tell_types_apart() -> None:
    assert move_key({"a": 1}) != move_key({"a": True}) != move_key({"a": 1.0})
    assert move_key({"a": 1, "b": 2}) == move_key({"b": 2, "a": 1})


@pytest.mark.parametrize("state, names, expected", [
    ({"winner": 1, "gameover": True}, ["", ""], [-1.0, 1.0]),
    ({"winner": None, "gameover": True}, ["", ""], [0.0, 0.0]),
    ({"winner": 2, "gameover": True}, ["a", "b", "c"], [-1.0, -1.0, 1.0]),
    ({"ranking": {"ann": 12, "bob": 30}}, ["ann", "bob"], [-1.0, 1.0]),
    ({"ranking": {"ann": 30, "bob": 30, "cy": 2}}, ["ann", "bob", "cy"], [0.0, 0.0, -1.0]),
    ({"ranking": {"player 0": 5, "player 1": 3}}, ["", ""], [1.0, -1.0]),
    ({"echo": "hi", "gameover": True}, ["", ""], [0.0, 0.0]),
])
def test_final_rewards_read_the_result_as_the_history_does(state, names, expected) -> None:
    assert final_rewards(state, names) == expected
