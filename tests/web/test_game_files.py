"""The dashboard's game code: each game file loaded or why not, each game's errors.

A real server with a games folder of a class's files (one that works, and
each way a file fails to load), real HTTP requests to ``/api/game-files``,
and the real client module causing errors in the game that loads. A file's
name and its error are a student's: the page shows them as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from game_server_api import GameServerAPI, GameServerError, IllegalMove
from tests.serverproc import ServerThread
from tests.web import play
from tests.web.test_endpoints import fetch

FLAKY = '''from gameserver.game import AbstractGame


class Flaky(AbstractGame):
    def __init__(self, players):
        self.moves = 0

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return 0

    def move(self, move, player_id):
        if move.get("crash"):
            raise ValueError("crashed")
        if move.get("loop"):
            while True:
                pass
        self.moves += 1
        return True if move.get("done") else None

    def game_over(self):
        return False

    def state(self, player_id):
        return {"moves": self.moves}
'''
HALF = '''from gameserver.game import AbstractGame


class Half(AbstractGame):
    def __init__(self, players):
        pass
'''
# A file's name may hold any character but "/" and NUL: markup, quotes, a newline.
HOSTILE_NAME = '<img src=x onerror="alert(1)">\n&amp;.py'
HOSTILE_ERROR = "<script>alert(2)</script>"
FILES = {
    "flaky.py": FLAKY,
    "syntax_bad.py": "def broken(:\n    pass\n",
    "no_game.py": "HELPERS = 1\n",
    "import_bad.py": "import no_such_module_of_the_student\n",
    "half.py": HALF,
    HOSTILE_NAME: f"raise ValueError({HOSTILE_ERROR!r} + '\\nsecond line')\n",
}


@pytest.fixture(scope="module", params=["folder", "off"])
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """With the games in worker processes (the default), and in the server's process."""
    folder = tmp_path_factory.mktemp("class_games")
    for name, text in FILES.items():
        (folder / name).write_text(text)
    running = play.web_server(games_dirs=[str(folder)], isolate_games=request.param,
                              game_call_timeout=0.5)
    yield running
    running.stop()


def game_files(server: ServerThread) -> dict[str, Any]:
    status, headers, body = fetch(server, "/api/game-files")
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff"  # never read as HTML
    return json.loads(body)  # type: ignore[no-any-return]


def by_file(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {Path(entry["file"]).name: entry for entry in data["files"]}


def test_each_game_file_says_whether_it_loaded_and_why_not(server: ServerThread) -> None:
    files = by_file(game_files(server))
    assert files["flaky.py"]["games"] == ["Flaky"]
    assert files["flaky.py"]["problems"] == []
    expected = {"syntax_bad.py": "syntax_bad.py:1: syntax error",
                "no_game.py": "no game in it: a game is a class that inherits from AbstractGame",
                "import_bad.py": "ModuleNotFoundError: No module named "
                                 "'no_such_module_of_the_student'",
                "half.py": "class Half does not define min_players, max_players"}
    for name, words in expected.items():
        assert files[name]["games"] == [], files[name]
        assert any(words in problem for problem in files[name]["problems"]), files[name]
    assert len(files) == len(FILES)


def test_a_file_name_and_error_are_shown_escaped(server: ServerThread) -> None:
    files = game_files(server)["files"]
    (hostile,) = [entry for entry in files if "onerror" in entry["file"]]
    # The newline of the name is written as an escape, and the error is its first line.
    assert hostile["file"].endswith('<img src=x onerror="alert(1)">\\n&amp;.py')
    assert hostile["games"] == []
    (problem,) = hostile["problems"]
    assert f"importing the file raised ValueError: {HOSTILE_ERROR}" in problem
    assert "second line" not in problem
    assert hostile["file"] in problem  # the name as shown, escaped alike
    assert all(ch.isprintable() for entry in files for text in (entry["file"], *entry["problems"])
               for ch in text)


def test_each_games_errors_are_counted(server: ServerThread) -> None:
    def errors() -> dict[str, int]:
        return {game["name"]: game["errors"] for game in game_files(server)["games"]}

    before = errors()["Flaky"]
    assert errors()["TicTacToe"] == 0  # the bundled games are listed too
    api = GameServerAPI("127.0.0.1", server.port, "Flaky", session="errors", players=1)
    api.join()
    for move in ({"crash": True}, {"loop": True}):  # raises, too long
        with pytest.raises(GameServerError):
            api.move(**move)
    with pytest.raises(IllegalMove):  # True: a rejection (PROTOCOL.md), no error of the code
        api.move(done=True)
    api.move(fine=True)  # a good move counts nothing
    assert errors()["Flaky"] == before + 2
    assert game_files(server)["games"][0]["file"] is None  # bundled: from no game file


def test_the_game_files_are_the_operators(tmp_path: Path) -> None:
    """Paths and errors of the server's files: with a token, players do not get them."""
    (tmp_path / "syntax_bad.py").write_text(FILES["syntax_bad.py"])
    server = play.web_server(games_dirs=[str(tmp_path)], web_token="t" * 32, web_play="open")
    try:
        status, _, _ = fetch(server, "/api/game-files")
        assert status == 401
        status, _, body = fetch(server, "/api/game-files",
                                headers={"Authorization": "Bearer " + "t" * 32})
        assert status == 200
        assert "syntax error" in body.decode()
    finally:
        server.stop()


FORGER = '''import logging
from pathlib import Path

from gameserver.game import AbstractGame

HERE = Path(__file__).resolve().parent
log = logging.getLogger("gameserver.registry")  # as the worker's own lines are logged
log.error("game file skipped: %s:1: syntax error (forged)", HERE / "flaky.py")
log.error("%s: a line of its own", Path(__file__).resolve())


class Forger(AbstractGame):
    def __init__(self, players):
        pass
'''


def test_a_game_cannot_write_the_notes_of_another_file(tmp_path: Path) -> None:
    """A line belongs to the file it names first, and a game in a worker logs what it
    likes while it loads: a line naming another student's file was shown on that file's
    row, as its problem. A worker's lines are its own file's now (if they name it)."""
    (tmp_path / "flaky.py").write_text(FLAKY)
    (tmp_path / "forger.py").write_text(FORGER)
    server = play.web_server(games_dirs=[str(tmp_path)], game_call_timeout=5)
    try:
        files = by_file(game_files(server))
    finally:
        server.stop()
    assert files["flaky.py"] == {"file": str(tmp_path / "flaky.py"), "games": ["Flaky"],
                                 "problems": []}
    assert any("a line of its own" in problem for problem in files["forger.py"]["problems"])


def test_the_lobby_shows_them_as_text(server: ServerThread, browser: Any) -> None:
    """Chromium: the lobby draws the files' names and errors, and no markup of theirs."""
    expect = pytest.importorskip("playwright.sync_api").expect
    (hostile,) = [entry for entry in game_files(server)["files"] if "onerror" in entry["file"]]
    context = browser.new_context()
    page = context.new_page()
    alarms: list[str] = []
    page.on("dialog", lambda dialog: (alarms.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda err: alarms.append(str(err)))
    try:
        page.goto(f"http://127.0.0.1:{play.dashboard_port(server)}/")
        row = page.locator("#game-files tr", has_text="onerror")
        expect(row.locator("td.file")).to_have_text(hostile["file"])
        expect(row).to_contain_text("not loaded")
        expect(row.locator("p.problem")).to_have_text(hostile["problems"][0])
        expect(page.locator("#game-files tr", has_text="flaky.py")).to_contain_text("Flaky (")
        expect(page.locator("#game-errors")).to_contain_text("Game-code errors")
        assert page.locator("#game-code img, #game-code script").count() == 0
    finally:
        context.close()
    assert alarms == []
