"""docs/first-game.md, followed step by step as a student would.

The test file the guide shows is taken from the guide itself, so the page
cannot drift from what works.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serverproc import ROOT, ServerProcess
from tests.test_examples import Example

GUIDE = ROOT / "docs" / "first-game.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.DOTALL)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def games() -> Iterator[Path]:
    """The guide's ``mygames`` folder, inside the repository as the guide says."""
    folder = ROOT / f"mygames-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    yield folder
    shutil.rmtree(folder)


def test_the_first_game_guide_works_as_written(games: Path) -> None:
    # Step 1: copy the template and rename the class.
    game_file = games / "my_race.py"
    shutil.copy(ROOT / "gameserver/games/template.py", game_file)
    source = game_file.read_text().replace("class NumberRace(AbstractGame):",
                                           "class MyRace(AbstractGame):")
    # Step 2: the rule change the guide shows, and the texts that mention the old rule.
    rule = next(block for block in code_blocks("python") if "TARGET = 31" in block)
    for line in rule.strip().splitlines():
        name = line.split("=")[0].strip()
        source = re.sub(rf"^{name} = .*$", line, source, count=1, flags=re.MULTILINE)
    source = source.replace("1, 2 or 3", "1, 2, 3 or 4")
    game_file.write_text(source)

    # Step 3: the checker passes.
    check = run("-m", "gameserver", "check", str(game_file))
    assert check.returncode == 0, check.stdout
    assert "MyRace passed every check." in check.stdout

    # Step 4: the server offers the game; the any-game client plays it against the bot.
    with ServerProcess("--games-dir", str(games)) as server:
        assert "MyRace" in server.log
        session = "guide"
        client = Example("any_game_client.py", "--game", "MyRace", "--players", "2",
                         "--session", session, "--port", str(server.port),
                         stdin="add=4\nadd=1\n" * 40)  # add=1 is always legal
        try:
            bot = run("-m", "gameserver.bot", "MyRace", "--session", session, "--port",
                      str(server.port))
            assert bot.returncode == 0, bot.stderr
            output = client.finish()
        finally:
            client.stop()
    assert "Your turn (you are player" in output
    assert "The game is over." in output
    assert "counter: 31" in output

    # Step 5: the guide's test file passes with pytest.
    test_file = next(block for block in code_blocks("python") if "LocalSession" in block)
    (games / "test_my_race.py").write_text(test_file)
    # A student may have plain pytest, without the plugins our own tests use.
    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:timeout", str(games))
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout
