"""The random bot plays whole games of every bundled game that lists its moves,
against itself, through the real server (as ``python -m gameserver.bot``)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gameserver.game import AbstractGame
from gameserver.games import BUNDLED_GAMES
from tests.serverproc import ROOT
from tests.test_any_game_client import FAILED_TO_LOAD, broken_race_folder
from tests.test_game_server_api import free_port

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
    # (It said "1 players, 1 of them played by this bot".)
    assert result.stdout.startswith("bot: Chat in session 'bot-chat', 1 player, played by this "
                                    "bot\n")


def test_bot_names_the_games_of_the_server_when_the_game_is_unknown(server) -> None:
    result = run_bot(server.port, "Nope")
    assert result.returncode == 1
    assert "no such game: 'Nope'" in result.stderr and "TicTacToe" in result.stderr
    assert "could not load" not in result.stderr


def test_bot_passes_on_the_servers_hint_for_a_game_whose_file_failed(make_server,
                                                                     tmp_path: Path) -> None:
    """docs/first-game.md, step 4: the bot, the student's opponent, said only "no game
    called 'MyRace'" for a game whose file failed to load; the server's reply says so, and
    where to look. With --players the bot's join already showed it; without, it asked the
    discovery only."""
    server = make_server(games_dirs=[str(broken_race_folder(tmp_path / "mygames"))],
                         isolate_games="off")
    for args in ([], ["--players", "2"]):
        result = run_bot(server.port, "MyRace", *args)
        assert result.returncode == 1
        assert "bot: framework: no such game: 'MyRace' (available: " in result.stderr
        assert FAILED_TO_LOAD in result.stderr


FLAKY_RANGE = """
from pathlib import Path
from abstract_game import AbstractGame

class Flaky(AbstractGame):
    \"\"\"A game whose player range fails once the file BROKEN beside it exists.\"\"\"
    def __init__(self, players): self.players = players
    @staticmethod
    def min_players():
        if (Path(__file__).parent / "BROKEN").exists():
            raise RuntimeError("min_players is broken")
        return 1
    @staticmethod
    def max_players(): return 2
    def current_player(self): return [0]
    def move(self, move, player_id): return None
    def state(self, player_id): return {}
    def game_over(self): return False
    def winner(self): return []
"""


def test_bot_says_a_games_failing_player_range_not_a_traceback(make_server,
                                                               tmp_path: Path) -> None:
    """Discovery lists a game whose player range fails with its error, without
    "min_players": the bot, asking it for the fewest players, met a KeyError."""
    folder = tmp_path / "games"
    folder.mkdir()
    (folder / "flaky.py").write_text(FLAKY_RANGE)
    server = make_server(games_dirs=[str(folder)], isolate_games="off")
    (folder / "BROKEN").touch()
    result = run_bot(server.port, "Flaky")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert "bot: game Flaky: framework: game Flaky: min_players() raised RuntimeError" in \
        result.stderr, result.stderr


def test_bot_says_when_the_server_is_not_running() -> None:
    result = run_bot(free_port(), "TicTacToe", "--players", "2")
    assert result.returncode == 1
    assert "unable to connect" in result.stderr


def test_bot_says_what_it_does_in_a_few_lines(server) -> None:
    result = run_bot(server.port, "TicTacToe", "--seats", "2", "--games", "2", "--seed", "3",
                     "--session", "bot-calm")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ("bot: TicTacToe in session 'bot-calm', 2 players, 2 of them played "
                        "by this bot")
    assert sorted(lines[1:3]) == ["bot: joined TicTacToe session bot-calm as player 0",
                                  "bot: joined TicTacToe session bot-calm as player 1"]
    for number, line in enumerate(lines[3:5], 1):
        assert re.fullmatch(rf"bot: game {number} over: (a draw|player [01] won)", line), line
    assert re.fullmatch(r"bot: played 2 game\(s\) of TicTacToe, \d+ moves by 2 seat\(s\)",
                        lines[5])
    assert len(lines) == 6 and result.stderr == ""


def test_bot_with_tls_and_two_seats_needs_no_player_count(make_server, tls_pair) -> None:
    secure = make_server(tls_cert=tls_pair[0], tls_key=tls_pair[1])
    result = run_bot(secure.port, "TicTacToe", "--tls", "--seats", "2")
    assert result.returncode == 0, result.stderr
    assert "2 players, 2 of them played by this bot" in result.stdout
    assert "bot: game 1 over: " in result.stdout


# ``python -m gameserver.bot`` with Ctrl-C delivered as in a terminal, however the tests were
# started: a test run started in the background (``pytest &`` in a script) ignores SIGINT,
# its children inherit that, and Python then never raises KeyboardInterrupt.
BOT_WITH_CTRL_C = ("import runpy, signal; "
                   "signal.signal(signal.SIGINT, signal.default_int_handler); "
                   "runpy.run_module('gameserver.bot', run_name='__main__', alter_sys=True)")


def test_ctrl_c_while_waiting_says_bye_without_a_traceback(server) -> None:
    bot = subprocess.Popen([sys.executable, "-c", BOT_WITH_CTRL_C, "TicTacToe", "--port",
                            str(server.port), "--session", "bot-alone"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert bot.stdout is not None
    first = bot.stdout.readline()  # said before it waits for the other player
    assert first == ("bot: TicTacToe in session 'bot-alone', 2 players, 1 of them played by "
                     "this bot; waiting for 1 more to join ...\n")
    bot.send_signal(signal.SIGINT)
    try:
        out, err = bot.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        bot.kill()
        out, err = bot.communicate()
        pytest.fail(f"the bot did not stop on Ctrl-C; it printed {out!r} and {err!r}")
    assert bot.returncode == 130
    assert out == "bot: stopped (Ctrl-C). Bye!\n" and err == ""
