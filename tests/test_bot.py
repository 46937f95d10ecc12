"""The random bot plays whole games of every bundled game that lists its moves,
against itself, through the real server (as ``python -m gameserver.bot``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gameserver.game import AbstractGame
from gameserver.games import BUNDLED_GAMES
from tests.serverproc import ROOT

LISTING = [g for g in BUNDLED_GAMES if g.legal_moves is not AbstractGame.legal_moves]


def run_bot(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameserver.bot", *args, "--port", str(port)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_most_bundled_games_list_their_moves() -> None:
    assert {"TicTacToe", "ConnectFour", "Nim", "Battleship", "CrazyEights",
            "RockPaperScissors", "NumberRace", "Yahtzee"} <= {g.__name__ for g in LISTING}


@pytest.mark.parametrize("game", LISTING, ids=lambda g: g.__name__)
def test_bot_plays_full_games_against_itself(server, game: type[AbstractGame]) -> None:
    seats = max(2, game.min_players())
    result = run_bot(server.port, game.__name__, "--seats", str(seats), "--players", str(seats),
                     "--games", "2", "--seed", "1", "--session", f"bot-{game.__name__}")
    assert result.returncode == 0, result.stderr
    assert "game 1 over" in result.stdout and "game 2 over" in result.stdout
    assert f"played 2 game(s) of {game.__name__}" in result.stdout


def test_bot_explains_games_it_cannot_play(server) -> None:
    result = run_bot(server.port, "Chat", "--session", "bot-chat", "--players", "1")
    assert result.returncode == 1
    assert "Chat does not list its legal moves" in result.stderr


def test_bot_names_the_games_of_the_server_when_the_game_is_unknown(server) -> None:
    result = run_bot(server.port, "Nope")
    assert result.returncode == 1
    assert "no game called 'Nope'" in result.stderr and "TicTacToe" in result.stderr


def test_bot_says_when_the_server_is_not_running() -> None:
    result = run_bot(1, "TicTacToe", "--players", "2")
    assert result.returncode == 1
    assert "unable to connect" in result.stderr
