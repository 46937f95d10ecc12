"""``python -m gameserver`` exactly as a user runs it: startup, logs, shutdown."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gameserver import cli
from tests.serverproc import ROOT, ServerProcess
from tests.wire import Player, request

DATA = Path(__file__).parent / "data"


def test_server_starts_with_defaults_logs_and_serves() -> None:
    with ServerProcess() as server:
        player = Player(server.port, "Echo", "cli", 1)
        assert player.join()["status"] == "ok"
        assert player.move(msg="hello")["status"] == "ok"
        assert player.state()["data"]["echo"] == "hello"
    log = server.log
    startup = next(line for line in log.splitlines() if "listening on" in line)
    assert "(TLS off), games: " in startup
    assert all(game in startup for game in ("Chat", "Echo", "TicTacToe", "Yahtzee"))
    assert "session Echo/cli started for 1 players" in log
    assert player.key not in log  # keys are secrets


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_answers_blocked_clients_and_exits_zero(signum: int) -> None:
    # DEBUG logs every request, so the test can see both reached the server.
    server = ServerProcess("--log-level", "DEBUG").start()
    replies: dict[str, dict] = {}
    waiting_joiner = Player(server.port, "TicTacToe", "half", 2)  # needs a 2nd player
    echo = Player(server.port, "Echo", "solo", 1)
    assert echo.join()["status"] == "ok"
    assert echo.state()["status"] == "ok"  # the next state blocks until a change

    threads = [
        threading.Thread(target=lambda: replies.update(join=waiting_joiner.join())),
        threading.Thread(target=lambda: replies.update(state=echo.state())),
    ]
    for thread in threads:
        thread.start()
    assert server.wait_for_log("started for 2 players")
    assert server.wait_for_log("request State(", count=2)

    assert server.proc is not None
    server.proc.send_signal(signum)
    assert server.stop() == 0
    for thread in threads:
        thread.join(30)
    shutdown = {"status": "error", "message": "server: server is shutting down"}
    assert replies == {"join": shutdown, "state": shutdown}
    assert "gameserver stopped" in server.log
    assert echo.key not in server.log  # not even at DEBUG level


def test_classic_game_file_loads_unchanged_from_a_games_dir() -> None:
    with ServerProcess("--games-dir", str(DATA / "classic_games")) as server:
        player = Player(server.port, "CoinGuess", "c", 1)
        assert player.join()["status"] == "ok"
        assert player.move(guess="edge") == {
            "status": "illegalmove", "message": "game: guess must be heads or tails"}
        assert player.move(guess="heads")["status"] == "ok"
        assert player.state()["data"] == {"guesses": [[0, "heads"]], "current": [0],
                                          "gameover": False}
    assert "game CoinGuess loaded from" in server.log


def test_only_selected_games_are_offered() -> None:
    with ServerProcess("--game", "TicTacToe") as server:
        reply = request(server.port, {"type": "join", "game": "Echo", "session": "x",
                                      "players": 1, "name": ""})
    assert reply["message"] == "framework: no such game: 'Echo' (available: TicTacToe)"


def run_failing(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameserver", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_bad_settings_exit_with_a_clear_message() -> None:
    result = run_failing("--port", "99999")
    assert result.returncode == 2
    assert "port must be between 0 and 65535" in result.stderr


def test_missing_tls_files_exit_with_a_clear_message() -> None:
    result = run_failing("--port", "0", "--tls-cert", "/nope.pem", "--tls-key", "/nope.key")
    assert result.returncode == 2
    assert "cannot load the TLS certificate/key (/nope.pem, /nope.key)" in result.stderr


def test_port_in_use_exits_with_a_clear_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_failing("--port", str(port))
    assert result.returncode == 1
    assert f"is another server already using port {port}?" in result.stderr


def test_the_accelerator_runs_where_installed_and_can_be_turned_off() -> None:
    factory, line = cli.accelerate(False)
    assert factory is None and "--no-accelerate" in line
    factory, line = cli.accelerate(True)
    try:
        import uvloop
    except ImportError:
        assert factory is None and "pip install 'gameserver[fast]'" in line
    else:
        assert factory is uvloop.new_event_loop and "uvloop" in line
