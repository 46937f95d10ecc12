"""``python -m gameserver check``: each deliberately broken game is caught, good games pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gameserver import check
from gameserver.games import BUNDLED_GAMES
from tests.data import defective_games

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"


def run_check(name: str):
    return check.check_game(getattr(defective_games, name), seed=7, games=30,
                            time_budget=3.0, time_limit=0.3)


def test_the_reference_game_passes() -> None:
    report = run_check("Good")
    assert report.ok, report.problems
    assert "using legal_moves" in report.notes[0]


@pytest.mark.parametrize("name, expected", [
    ("Misnamed", "no method 'game_over', which every game needs. You wrote a method "
                 "called 'gameover': rename it to 'game_over'"),
    ("NotStatic", "Put @staticmethod on the line above 'def min_players'"),
    ("BadCurrentId", "current_player() returned 1, but with 1 players the only ids are 0 to 0"),
    ("NonBoolGameOver", "game_over() must return True or False, not 'no' (str)"),
    ("SetInState", "state() returned something that cannot be sent as JSON"),
    ("ListState", "state() must return a dict, not list"),
    ("RaisesInMove", "move() raised KeyError: 'missing key'"),
    ("EndlessState", "state() took longer than 0.3 s"),
    ("ListsRejectedMove", "listed {'add': 3}, but move() rejected it"),
    ("AcceptsUnlistedMove", "was accepted for player 0, but legal_moves(0) did not list it"),
    ("NeverEnds", "still not over after 2000 moves"),
    ("Stuck", "nobody can move and the game is stuck"),
    ("Leaky", "state shows 'secret of player"),
    ("EmptyLegalMoves", "returned an empty list although player 0 may move now"),
])
def test_each_defect_is_reported_in_plain_words(name: str, expected: str) -> None:
    report = run_check(name)
    assert not report.ok
    assert any(expected in problem for problem in report.problems), report.problems


def test_an_exception_comes_with_the_traceback_of_the_game_code() -> None:
    problem = run_check("RaisesInMove").problems[0]
    assert "defective_games.py" in problem and "Traceback" in problem
    assert "guard.py" not in problem  # only the author's own code


@pytest.mark.parametrize("game_class", BUNDLED_GAMES, ids=lambda c: c.__name__)
def test_every_bundled_game_passes(game_class) -> None:
    report = check.check_game(game_class, seed=11, games=30, time_budget=3.0)
    assert report.ok, report.problems


def test_command_exit_codes_and_output(capsys) -> None:
    assert check.main([str(ROOT / "gameserver/games/tictactoe.py"), "--seed", "3"]) == 0
    assert "TicTacToe passed every check." in capsys.readouterr().out
    assert check.main(["tests.data.defective_games", "--game", "Leaky", "--games", "5"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM" in out and "--seed" in out
    assert check.main([str(DATA / "mixed_games/syntax_error.py")]) == 1
    assert "syntax_error.py:4: syntax error" in capsys.readouterr().out
    assert check.main([str(DATA / "mixed_games/duplicate.py"), "--game", "Nope"]) == 1
    assert "no game found" in capsys.readouterr().out
    assert check.main(["no/such/file.py"]) == 1
    assert "no such file" in capsys.readouterr().out


def test_runs_as_python_dash_m_gameserver_check() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gameserver", "check", "tests/data/classic_games/coin.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CoinGuess passed every check." in result.stdout
