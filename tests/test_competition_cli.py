"""``python -m gameserver tournament`` and ``ratings`` exactly as an instructor runs them.

A server subprocess with a dashboard token; the bundled bot takes part from
the command line (``python -m gameserver.bot --tournament``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.serverproc import ROOT, ServerProcess

TIMEOUT = 120.0
TOKEN = "competition-day-token-1234"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=TIMEOUT, env=env)


def test_competition_day_from_the_command_line(tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite3")
    token_file = tmp_path / "token.txt"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    server = ServerProcess("--store-path", store, "--web-token-file", str(token_file)).start()
    try:
        assert server.wait_for_log("dashboard on")
        url = re.search(r"dashboard on (\S+)", server.log).group(1)  # type: ignore[union-attr]
        tournament = ["gameserver", "tournament", "--url", url]
        refused = run(*tournament, "create", "cup", "--game", "TicTacToe")
        assert refused.returncode == 1 and "access token" in refused.stderr
        with_token = [*tournament, "--token-file", str(token_file)]
        made = run(*with_token, "create", "cup", "--game", "TicTacToe", "--best-of", "2",
                   "--turn-timeout", "10", "--start-with", "2")
        assert made.returncode == 0, made.stderr
        assert "players join the session tournament-cup of TicTacToe" in made.stdout
        assert "cup" in run(*with_token, "list").stdout
        # Where people add it once asked for a token: after the command (refused before).
        after = run(*tournament, "list", "--token-file", str(token_file))
        assert after.returncode == 0 and "cup" in after.stdout, after.stderr
        asked = run("gameserver", "tournament", "start", "cup", "--url", url)
        assert asked.returncode == 1 and "access token" in asked.stderr, asked.stderr
        bots = [subprocess.Popen(
            [sys.executable, "-m", "gameserver.bot", "TicTacToe", "--port", str(server.port),
             "--tournament", "cup", "--name", name, "--seed", "1"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in ("ann#secret-1", "bob\x1b[2J#secret-2")]  # a name that clears
        for bot in bots:
            out, err = bot.communicate(timeout=TIMEOUT)
            assert bot.returncode == 0, err
            assert "tournament cup is over: " in out and "played 2 game(s)" in out
        shown = run(*with_token, "show", "cup")
        assert "finished" in shown.stdout and re.search(r"\n  1  (ann |bob\\x1b)", shown.stdout)
        csv_text = run(*with_token, "export", "cup").stdout
        assert csv_text.startswith("place,name,points") and len(csv_text.splitlines()) == 3
        assert "secret" not in csv_text + shown.stdout  # passwords never show
        # What players chose reaches the instructor's terminal escaped, as in 'history'.
        assert "bob\\x1b[2J" in shown.stdout and "\x1b" not in shown.stdout
        rated = run("gameserver", "ratings", "--store-path", store)
        assert rated.returncode == 0 and "TicTacToe:" in rated.stdout
        rating = r"(ann|bob\\x1b\[2J) +1[45]\d\d +2 "  # a win and a loss each, or draws
        assert re.search(rating, rated.stdout) or "1500" in rated.stdout
        assert "bob\\x1b[2J" in rated.stdout and "\x1b" not in rated.stdout
    finally:
        server.stop()
    offline = run("gameserver", "tournament", "export", "cup", "--games", "--store-path", store)
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout.splitlines()[0].startswith("round,table,game,player_0")
    assert len(offline.stdout.splitlines()) == 3  # both games of the match
