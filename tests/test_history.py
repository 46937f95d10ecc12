"""``python -m gameserver history``: finished games listed and shown, read-only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gameserver import cli
from tests.serverproc import ROOT, ServerProcess
from tests.test_store import finish_tictactoe, seat_two
from tests.wire import Player


def history(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameserver", "history", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_games_are_listed_and_shown_while_the_server_runs(tmp_path: Path) -> None:
    db = str(tmp_path / "store.sqlite3")
    with ServerProcess("--store-path", db) as server:
        seats = seat_two(server.port, "TicTacToe", "h")
        played = finish_tictactoe(seats)
        solo = Player(server.port, "Echo", "e", 1)
        solo.join()
        assert solo.move(msg="error")["status"] == "illegalmove"
        assert solo.move(msg="quit")["status"] == "ok"
        # The server keeps running (and holds the store's lock) while we read.
        listed = history("--store-path", db)
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert "TicTacToe" in lines[2] and "ann" in lines[2] and "Echo" in lines[1]
        shown = history("1", "--store-path", db)
        echo = history("2", "--store-path", db)
        assert solo.state()["status"] == "ok"  # the server did not notice
    assert shown.returncode == 0, shown.stderr
    first, second, *moves = shown.stdout.splitlines()
    assert first.startswith("game 1: TicTacToe in session h, ")
    assert f", {len(played)} moves, " in second and "{" not in second and "[" not in second
    assert moves[0].endswith(f'1. player {moves[0].split("player ")[1][0]}: '
                             f'{{"position": {played[0]}}}')
    assert moves[-1].startswith("final state (player 0): ")
    second = echo.stdout.splitlines()[1]
    assert ", 2 moves (1 rejected), " in second, second
    assert "rejected: " in echo.stdout


def test_without_a_store_file_it_says_what_to_do(tmp_path: Path) -> None:
    result = history("--store-path", str(tmp_path / "none.sqlite3"))
    assert result.returncode == 1
    assert "start the server first" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_store_is_one_line(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("hello\n" * 100)
    result = history("--store-path", str(other))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"cannot read the store file {other}" in result.stderr


def test_names_players_chose_reach_the_terminal_escaped(tmp_path: Path) -> None:
    """A session or player name holding an ANSI escape was printed as it was: the
    teacher's `history` cleared the terminal (or retitled it, or worse) for the student."""
    db = str(tmp_path / "store.sqlite3")
    with ServerProcess("--store-path", db) as server:
        solo = Player(server.port, "Echo", "s\x1b[2J", 1, name="ann\x1b]0;owned\x07\n")
        assert solo.join()["status"] == "ok"
        assert solo.move(msg="quit")["status"] == "ok"
    listed, shown = history("--store-path", db), history("1", "--store-path", db)
    for result in (listed, shown):
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout, result.stdout
    assert "s\\x1b[2J" in listed.stdout and "ann\\x1b]0;owned\\x07\\n" in listed.stdout
    assert shown.stdout.startswith("game 1: Echo in session s\\x1b[2J, ann\\x1b]0;owned")
    assert len(listed.stdout.splitlines()) == 2  # the header and the game: one line each


def test_a_reader_that_leaves_early_ends_it_without_a_traceback(tmp_path: Path) -> None:
    """``history | head``: the pipe closes before the command has written; it ended with
    a BrokenPipeError traceback (or 'Exception ignored' at exit)."""
    db = str(tmp_path / "store.sqlite3")
    with ServerProcess("--store-path", db) as server:
        finish_tictactoe(seat_two(server.port, "TicTacToe", "h"))
    for args in ([], ["1"]):
        reader_gone = subprocess.Popen(
            [sys.executable, "-m", "gameserver", "history", *args, "--store-path", db],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert reader_gone.stdout is not None and reader_gone.stderr is not None
        reader_gone.stdout.close()  # before it writes: it takes a while to start
        errors = reader_gone.stderr.read()
        reader_gone.stderr.close()
        assert reader_gone.wait(60) == 1 and errors == "", errors


def test_a_game_that_is_not_there_names_the_command_that_lists_them(tmp_path: Path) -> None:
    db = str(tmp_path / "store.sqlite3")
    with ServerProcess("--store-path", db):
        pass
    result = history("7", "--store-path", db)
    assert result.returncode == 1
    assert result.stderr == (f"no finished game with id 7 (list them with: "
                             f"{Path(sys.executable).name} -m gameserver history)\n")


def test_a_broken_pipe_that_is_not_standard_output_is_still_an_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The quiet end is for a reader of our output that left, and only for it: a command
    whose own connection broke (a dashboard's socket) must not end silently."""
    def broken(argv: list[str], prog: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")
    monkeypatch.setitem(cli.COMMANDS, "history", broken)
    with pytest.raises(BrokenPipeError):
        cli.main(["history"])
