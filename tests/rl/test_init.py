"""gameserver.rl needs its optional packages; the server, checker and client do not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
# Makes "import numpy" (and the others) fail as if they were not installed.
HIDE = ("import sys\n"
        "for name in ('numpy', 'gymnasium', 'pettingzoo', 'matplotlib'):\n"
        "    sys.modules[name] = None\n")


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", HIDE + code], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_importing_without_the_packages_says_what_to_install() -> None:
    done = run("import gameserver.rl")
    assert done.returncode != 0
    assert ("ImportError: gameserver.rl needs the packages pettingzoo, gymnasium and numpy"
            in done.stderr)
    assert "pip install pettingzoo gymnasium numpy" in done.stderr
    assert "pip install -e '.[rl]'" in done.stderr


def test_server_checker_and_client_run_without_them() -> None:
    done = run("import gameserver.server, gameserver.cli, gameserver.bot, game_server_api\n"
               "from gameserver import check\n"
               "from gameserver.games import TicTacToe\n"
               "report = check.check_game(TicTacToe, seed=1, games=5)\n"
               "assert report.ok, report.problems\n"
               "print('fine')")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fine"


def test_a_gymnasium_older_than_the_extra_asks_for_is_named_with_the_fix() -> None:
    """Gymnasium 0.29 (still common) has no gymnasium.vector.AutoresetMode: the import
    failed with "cannot import name 'AutoresetMode'", naming neither the package's
    version nor what to install."""
    done = subprocess.run(
        [sys.executable, "-c", "import gymnasium, gymnasium.vector\n"
         "gymnasium.__version__ = '0.29.1'\n"
         "del gymnasium.vector.AutoresetMode\n"
         "import gameserver.rl"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert ("ImportError: gameserver.rl needs gymnasium>=1.1 (installed: 0.29.1). Upgrade "
            "with:  pip install -U 'pettingzoo>=1.24' 'gymnasium>=1.1' 'numpy>=1.26'"
            in done.stderr), done.stderr
