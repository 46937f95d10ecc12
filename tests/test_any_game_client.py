"""examples/any_game_client.py: typing moves of any game, against the real server and bot."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from game_server_api import GameServerAPI
from gameserver.games import BUNDLED_GAMES, SecretCode
from tests.serverproc import ROOT, ServerThread
from tests.test_examples import TIMEOUT, Example

_spec = importlib.util.spec_from_file_location("any_game_client",
                                               ROOT / "examples" / "any_game_client.py")
assert _spec is not None and _spec.loader is not None
client = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(client)


@pytest.mark.parametrize("typed, move", [
    ("add=3", {"add": 3}),
    ("play=8H suit=S", {"play": "8H", "suit": "S"}),
    ("roll_dice=[0, 2, 4]", {"roll_dice": [0, 2, 4]}),
    ('code=["red", "blue", "red"]', {"code": ["red", "blue", "red"]}),
    ('name="Ada Lovelace"', {"name": "Ada Lovelace"}),
    ("code=['red', 'blue'] x=1", {"code": ["red", "blue"], "x": 1}),  # as in Python
    ("a=true b=null c=True d=None", {"a": True, "b": None, "c": True, "d": None}),
    ("name=", {"name": ""}),
    ("x={1,2}", {"x": "{1,2}"}),  # a set cannot be sent: plain text
    ("n=-3.5", {"n": -3.5}),
])
def test_moves_are_typed_as_json_or_python_values(typed: str, move: dict) -> None:
    assert client.parse_move(typed) == move


@pytest.mark.parametrize("typed", ["red blue", "name=Ada Lovelace", "x=[1, 2", "=3", ""])
def test_what_is_not_key_value_gets_the_hint(typed: str) -> None:
    assert not client.parse_move(typed)


def test_the_example_comes_from_the_current_game() -> None:
    state = {"legal_moves": [{"code": ["red", "red", "red"]}, {"code": ["red", "red", "blue"]}]}
    assert client.example_move(state, "") == 'code=["red", "red", "red"]'
    # A game that does not list its moves: the first move(...) of its rules.
    docs = {game.__name__: game.documentation() for game in BUNDLED_GAMES}
    assert client.example_move({"legal_moves": None}, docs["Nim"]) == "heap=0 take=2"
    assert client.example_move({}, docs["Battleship"]).startswith("ships=[[0, 0, 5, \"h\"], ")
    assert client.example_move({}, "no calls in here") == "key=value"
    for text in docs.values():  # every example it shows can be typed back in
        assert client.parse_move(client.example_move({}, text)), text


def run_bot(server: ServerThread, game: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gameserver.bot", game, "--port",
                             str(server.port), *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_connect_four_without_players_takes_the_games_minimum(server: ServerThread) -> None:
    """Issue 11, point 10: the README's command works as written."""
    session = f"c4-{uuid.uuid4().hex[:8]}"
    typed = "".join(f"column={c}\n" for c in range(7)) * 7
    player = Example("any_game_client.py", "--game", "ConnectFour", "--session", session,
                     "--port", str(server.port), stdin=typed)
    bot = run_bot(server, "ConnectFour", "--session", session)
    try:
        output = player.finish()
        assert bot.wait(TIMEOUT) == 0
    finally:
        player.stop()
        bot.kill()
        bot.communicate()
    assert "Error" not in output
    assert "Type your move as key=value pairs, for example: column=0" in output
    assert "The game is over." in output


def test_a_secret_code_typed_as_a_list(server: ServerThread) -> None:
    session = f"code-{uuid.uuid4().hex[:8]}"
    player = Example("any_game_client.py", "--game", "SecretCode", "--session", session,
                     "--port", str(server.port),
                     stdin='red blue red\nmoves\n\ncode=["red", "blue", "red"]\n')
    bot = None
    try:
        wait_until_waiting(server, session)  # the client joined first: it is player 0
        bot = run_bot(server, "SecretCode", "--session", session)
        output = player.finish()
        assert bot.wait(TIMEOUT) == 0
    finally:
        player.stop()
        if bot is not None:
            bot.kill()
            bot.communicate()
    assert "Your turn (you are player 0)." in output
    assert 'Type your move as key=value pairs, for example: code=["red", "red", "red"]' in output
    assert 'spaces goes in quotes: name="Ada Lovelace"' in output  # after "red blue red"
    assert '\n  code=["yellow", "yellow", "yellow"]\n' in output  # 'moves'
    assert 'code: ["red", "blue", "red"]' in output
    assert "The game is over." in output


def broken_race_folder(folder: Path) -> Path:
    """A games folder whose one file, the template renamed ``MyRace`` (docs/first-game.md,
    step 1), fails to load: a syntax error."""
    folder.mkdir()
    template = (ROOT / "gameserver" / "games" / "template.py").read_text()
    (folder / "my_race.py").write_text(
        template.replace("class NumberRace(", "class MyRace(").replace("TARGET = 21",
                                                                       "TARGET = 21 +"))
    return folder


FAILED_TO_LOAD = ("defines a class 'MyRace', but the server could not load any game from that "
                  "file: the file's author finds why in the server's log")


def test_a_game_whose_file_failed_to_load_gets_the_servers_hint(make_server,
                                                                 tmp_path: Path) -> None:
    """The first-game guide (step 4) promises a student whose game file failed to load a
    "no such game" that says so and where to look, and sends them to this client: it said
    only its own "the server has no game called 'MyRace'", from the discovery's list, and
    the hint was lost. Now the join's reply, the server's own words, is shown."""
    server = make_server(games_dirs=[str(broken_race_folder(tmp_path / "mygames"))],
                         isolate_games="off")

    def refused(game: str) -> str:
        player = Example("any_game_client.py", "--game", game, "--port", str(server.port),
                         stdin="")
        try:
            assert player.proc.wait(TIMEOUT) == 1
            player.wait_for("Error: ")
        finally:
            player.stop()
        return player.text

    said = refused("MyRace")
    assert "Error: framework: no such game: 'MyRace' (available: " in said
    assert FAILED_TO_LOAD in said
    said = refused("Nope")  # a name of no game file still gets the list of the games
    assert "no such game: 'Nope' (available: Battleship, " in said
    assert "could not load" not in said


def wait_until_waiting(server: ServerThread, session: str) -> None:
    """Until discovery lists ``session`` with one player in it."""
    api = GameServerAPI("127.0.0.1", server.port, SecretCode.__name__)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        waiting = api.discover()["sessions"]
        if any(s["session"] == session and s["joined"] == 1 for s in waiting):
            return
        time.sleep(0.02)  # a condition on the server, polled: no event to await
    raise AssertionError(f"session {session} never had its first player")
