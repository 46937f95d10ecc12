"""docs/first-game.md, followed step by step as a student would.

The commands and the test file the guide shows are taken from the guide
itself, so the page cannot drift from what works. The guide's ``mygames``
folder is a temporary folder here (no test writes into the checkout).
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from game_server_api import GameServerAPI, GameServerError
from gameserver import _check_words as words
from gameserver import check
from tests.serverproc import ROOT, ServerProcess
from tests.test_examples import Example

GUIDE = ROOT / "docs" / "first-game.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.DOTALL)


def command(start: str) -> list[str]:
    """The guide's shell command that begins with ``start``, as arguments after ``python3``."""
    line = next(line for block in code_blocks("sh") for line in block.splitlines()
                if line.startswith(start))
    return shlex.split(line)[1:]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def step_2_rule() -> dict[str, Any]:
    """Step 2's rule change, as the guide shows it: ``{"TARGET": 31, ...}``."""
    rule = next(block for block in code_blocks("python") if "TARGET = 31" in block)
    return {line.split("=")[0].strip(): ast.literal_eval(line.split("=", 1)[1].strip())
            for line in rule.strip().splitlines()}


def my_race_source() -> str:
    """The template as steps 1 and 2 leave it: class MyRace, the new rule, its texts."""
    source = (ROOT / "gameserver/games/template.py").read_text().replace(
        "class NumberRace(AbstractGame):", "class MyRace(AbstractGame):")
    for name, value in step_2_rule().items():
        source = re.sub(rf"^{name} = .*$", f"{name} = {value!r}", source, count=1,
                        flags=re.MULTILINE)
    return source.replace("1, 2 or 3", "1, 2, 3 or 4")


def test_the_first_game_guide_works_as_written(tmp_path: Path) -> None:
    games = tmp_path / "mygames"
    games.mkdir()
    # Step 1: copy the template and rename the class; step 2: change the rule.
    game_file = games / "my_race.py"
    assert command("cp gameserver/games/template.py") == ["gameserver/games/template.py",
                                                           "mygames/my_race.py"]
    game_file.write_text(my_race_source())

    # Step 3: the checker passes.
    checked = run(*command("python3 -m gameserver check mygames/my_race.py")[:-1],
                  str(game_file))
    assert checked.returncode == 0, checked.stdout
    assert "MyRace passed every check." in checked.stdout

    # Step 4: the server offers the game; the any-game client plays it against the bot,
    # both with the guide's commands and the server's --port.
    with ServerProcess("--games-dir", str(games)) as server:
        assert "MyRace" in server.log
        port = ["--session", f"guide-{uuid.uuid4().hex[:8]}", "--port", str(server.port)]
        client_command = command("python3 examples/any_game_client.py --game MyRace")
        client = Example(Path(client_command[0]).name, *client_command[1:], *port,
                         stdin="add=4\nadd=1\n" * 40)  # add=1 is always legal
        try:
            bot = run(*command("python3 -m gameserver.bot MyRace"), *port)
            assert bot.returncode == 0, bot.stderr
            output = client.finish()
        finally:
            client.stop()
    assert "Your turn (you are player" in output
    assert "for example: add=1" in output  # the hint comes from this game's legal moves
    assert "The game is over." in output
    assert "counter: 31" in output

    # Step 5: the guide's test file passes with pytest, saved next to the game.
    test_file = next(block for block in code_blocks("python") if "LocalSession" in block)
    (games / "test_my_race.py").write_text(test_file)
    # A student may have plain pytest, without the plugins our own tests use.
    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:timeout", str(games))
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout
    with ServerProcess("--games-dir", str(games)) as server:  # the test file is no game
        assert "MyRace" in server.log and "test_my_race" not in server.log


def test_step_6_secrets_as_written(tmp_path: Path) -> None:
    game_file = tmp_path / "my_code.py"
    assert command("cp gameserver/games/secret_code.py") == [
        "gameserver/games/secret_code.py", "mygames/my_code.py"]
    source = (ROOT / "gameserver/games/secret_code.py").read_text().replace(
        "class SecretCode(AbstractGame):", "class MyCode(AbstractGame):")
    for secret in ("Secret 1", "Secret 2", "Secret 3"):
        assert secret in source
    game_file.write_text(source)
    check_command = command("python3 -m gameserver check mygames/my_code.py")[:-1]
    checked = run(*check_command, str(game_file))
    assert checked.returncode == 0, checked.stdout
    assert "MyCode passed every check." in checked.stdout

    # "Delete the whole private_data method and run the checker again."
    without = re.sub(r"    def private_data\(.*?\n(?=    def )", "", source, flags=re.DOTALL)
    assert "def private_data" not in without and "def legal_moves" in without
    game_file.write_text(without)
    checked = run(*check_command, str(game_file))
    out = " ".join(checked.stdout.split())
    assert checked.returncode == 1
    assert "Players see different states" in out and "declares none" in out
    assert "add private_data(self, player_id) to your class" in out


def test_what_the_guide_says_is_true() -> None:
    """Issue 17, point 8: numbers, ports, seats and prefixes as they really are."""
    text = " ".join(GUIDE.read_text().split())
    assert f"The checker plays {check.GAMES} random games" in text
    assert "give the same `--port 5000` to the client and to the bot" in text
    assert "whoever joins first is player 0" in text
    assert "`game:` is your own game's `move`, `framework:` is the server itself" in text
    assert "never loads files named `test_*.py`, `*_test.py` or `conftest.py`" in text
    # Step 6 walks through the bundled example with a secret, in the numbered steps.
    assert "## 6. Secrets" in text and "gameserver/games/secret_code.py" in text
    assert words.WATCHERS_IF_SECRET in text  # the same words as the checker's


def test_the_examples_after_step_2_show_the_race_of_step_2() -> None:
    """The guide's renderer drew "of 21" and +1..+3 for a MyRace that step 2 had made a
    race to 31 in steps of 1 to 4, and its rejections quoted the old rule."""
    rule = step_2_rule()
    guide = GUIDE.read_text()
    renderer = re.findall(r"```js\n(.*?)```", guide, re.DOTALL)[0]
    assert f'" of {rule["TARGET"]}"' in renderer
    steps = re.search(r"\.\.\.(\[[\d, ]+\])\.map", renderer)
    assert steps is not None and tuple(ast.literal_eval(steps.group(1))) == rule["ALLOWED"]
    *first, last = rule["ALLOWED"]
    allowed = ", ".join(map(str, first)) + f" or {last}"
    assert "you may only add 1, 2 or 3" not in guide
    assert f"Not allowed: game: you may only add {allowed}" in guide


def test_a_game_added_to_the_folder_is_offered_after_a_restart(tmp_path: Path) -> None:
    """What the README tells an instructor: the folder is read when the server starts."""
    (tmp_path / "my_race.py").write_text(my_race_source())
    with ServerProcess("--games-dir", str(tmp_path)) as server:
        (tmp_path / "late_race.py").write_text(
            my_race_source().replace("class MyRace(", "class LateRace("))
        api = GameServerAPI("127.0.0.1", server.port, "LateRace", players=2)
        with pytest.raises(GameServerError, match="no such game: 'LateRace'"):
            api.join()
    with ServerProcess("--games-dir", str(tmp_path)) as server:  # the same command again
        names = [game["name"] for game in
                 GameServerAPI("127.0.0.1", server.port, "LateRace").discover()["games"]]
        assert "LateRace" in names and "MyRace" in names
