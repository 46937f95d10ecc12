"""Sessions come back by replaying their moves: the same game, or a clear refusal.

The store saves a new game as its seed and each move with its verdict; a
restart (and the dashboard's replay of a finished game) makes the game again
and plays the moves through it. Games that draw from ``random`` get the same
numbers again (the checked game's own generator); games that do not play the
same twice are found and refused, never restored wrong.
"""

from __future__ import annotations

import contextlib
import pickle
import sqlite3
import time
from pathlib import Path

import pytest

from gameserver import registry
from gameserver.checked import game_types
from gameserver.games.echo import Echo
from gameserver.guard import GameGuard
from gameserver.store import GameReplayer, HistoryReader
from tests.serverproc import ServerProcess
from tests.test_store import killed, seat_two
from tests.wire import Player

DATA = Path(__file__).parent / "data"
# In the server process: replaying is for games the server holds (see test_store.py).
GAMES = ("--games-dir", str(DATA / "checked_games"), "--games-dir", str(DATA / "store_games"),
         "--isolate-games", "off")


def test_games_that_roll_dice_come_back_with_the_same_rolls(tmp_path: Path) -> None:
    args = ("--store-path", str(tmp_path / "store.sqlite3"), *GAMES)
    server = ServerProcess(*args).start()
    players = {name: Player(server.port, name, "d", 1)
               for name in ("Dice", "DiceFromImport", "DiceOwnGenerator")}
    seen = {}
    for name, player in players.items():
        assert player.join()["status"] == "ok"
        for _ in range(30):
            assert player.move()["status"] == "ok"
        seen[name] = player.state()["data"]["rolls"]
        assert len(set(seen[name])) > 1  # really random
    killed(server)
    with ServerProcess(*args) as again:
        for name, player in players.items():
            player.port = again.port
            assert player.state()["data"]["rolls"] == seen[name], name
            assert player.move()["status"] == "ok"  # and it goes on from there
    assert "restored 3 saved session(s)" in again.log


def test_a_finished_game_is_replayed_with_what_each_move_showed(tmp_path: Path) -> None:
    db = str(tmp_path / "store.sqlite3")
    with ServerProcess("--store-path", db, *GAMES) as server:
        player = Player(server.port, "DiceRace", "r", 1)
        assert player.join()["status"] == "ok"
        shown = [player.state()["data"]]
        assert player.move(roll=False)["status"] == "illegalmove"
        shown.append(player.state()["data"])
        while not shown[-1]["gameover"]:
            assert player.move(roll=True)["status"] == "ok"
            shown.append(player.state()["data"])
    games = game_types(registry.discover([str(DATA / "store_games")], bundled=False),
                       GameGuard())
    reader = HistoryReader(db, GameReplayer(games))
    [record] = reader.finished_games()
    game = reader.finished_game(record["id"])
    assert game is not None and "states_note" not in game
    assert game["initial_states"] == [shown[0]]
    assert [step["states"] for step in game["steps"]] == [[state] for state in shown[1:]]


def test_a_game_that_starts_differently_each_time_is_not_restored(tmp_path: Path) -> None:
    args = ("--store-path", str(tmp_path / "store.sqlite3"), *GAMES)
    server = ServerProcess(*args).start()
    player = Player(server.port, "Birthday", "b", 1)
    assert player.join()["status"] == "ok"
    killed(server)
    with ServerProcess(*args) as again:
        player.port = again.port
        assert player.state()["message"] == "framework: no such game session"
    assert ("session Birthday/b cannot be restored (its game starts differently when made "
            "again from its seed (was its file changed since, or does its __init__ read the "
            "clock or use secrets?))"
            in again.log)


def test_a_store_file_of_the_first_format_is_converted(tmp_path: Path) -> None:
    """Sessions saved whole (one pickle each) and their history are still there."""
    db = tmp_path / "store.sqlite3"
    echo = Echo(1)
    echo.move({"msg": "before the upgrade"}, 0)
    now = time.time()
    session = {"format": 1, "game_name": "Echo", "token": "old", "size": 1, "auto": False,
               "moves": 1, "games_played": 1, "history_id": 7, "game_moves": 1,
               "players": [("ann", "k" * 32, None)], "created": now - 60,
               "last_activity": now - 5, "game": echo, "handover": {}}
    with contextlib.closing(sqlite3.connect(db)) as raw, raw:
        raw.executescript("""
            CREATE TABLE sessions (game TEXT NOT NULL, token TEXT NOT NULL,
                snapshot BLOB NOT NULL, PRIMARY KEY (game, token));
            CREATE TABLE games (id INTEGER PRIMARY KEY, game TEXT NOT NULL,
                session TEXT NOT NULL, players TEXT NOT NULL, started REAL NOT NULL,
                ended REAL, moves INTEGER NOT NULL DEFAULT 0, initial_states TEXT NOT NULL,
                final_states TEXT);
            CREATE TABLE moves (game_id INTEGER NOT NULL, seq INTEGER NOT NULL,
                player_id INTEGER NOT NULL, move TEXT NOT NULL, rejection TEXT,
                time REAL NOT NULL, states TEXT NOT NULL, PRIMARY KEY (game_id, seq));""")
        raw.execute("INSERT INTO sessions VALUES ('Echo', 'old', ?)",
                    (pickle.dumps(session, pickle.HIGHEST_PROTOCOL),))
        raw.execute("INSERT INTO games VALUES (3, 'Echo', 'done', ?, 10, 20, 1, ?, ?)",
                    ('["bo"]', '[{"echo": ""}]', '[{"echo": "quit"}]'))
        raw.execute("INSERT INTO moves VALUES (3, 1, 0, ?, NULL, 15, ?)",
                    ('{"msg": "quit"}', '[{"echo": "quit", "gameover": true}]'))
    db.chmod(0o600)
    player = Player(0, "Echo", "old", name="ann")
    player.player_id, player.key = 0, "k" * 32
    with ServerProcess("--store-path", str(db)) as server:
        player.port = server.port
        assert player.state()["data"]["echo"] == "before the upgrade"
        assert player.move(msg="after")["status"] == "ok"
    assert "converted 1 saved session(s) from the first store format" in server.log
    with ServerProcess("--store-path", str(db)) as again:
        player.port = again.port
        assert player.state()["data"]["echo"] == "after"
    [old] = HistoryReader(str(db)).finished_games()
    game = HistoryReader(str(db)).finished_game(old["id"])
    assert game is not None and game["steps"][0]["states"] == [
        {"echo": "quit", "gameover": True}]


def test_a_game_in_a_worker_process_is_never_replayed_in_the_server() -> None:
    class InAWorker:
        remote = True  # like gameserver.isolated.RemoteGameType

    replayer = GameReplayer({"Student": InAWorker()})  # type: ignore[dict-item]
    states, note = replayer.states("Student", 2, (b"blob", None, None), [(1, 0, {}, None)])
    assert states == [] and note is not None and "worker process" in note


COUNTER = """
from gameserver.games.echo import Echo


class Counter(Echo):
    {body}
"""


@pytest.mark.parametrize("isolate", ["folder", "off"])
@pytest.mark.parametrize(("edit", "why"), [
    ("def move(self, move, player_id):\n        return 'no longer allowed'",
     'move 1 gave "no longer allowed" when played again, not ok as logged'),
    ("def move(self, move, player_id):\n        raise RuntimeError('broken now')",
     'move 1 gave "framework: game Counter: move() raised RuntimeError: broken now" when '
     'played again, not ok as logged'),
    ("def __init__(self, players):\n        raise RuntimeError('broken now')",
     "framework: game Counter: __init__() raised RuntimeError: broken now"),
], ids=["now refused", "move raises", "init raises"])
def test_a_game_file_edited_between_two_starts_drops_its_sessions_saying_so(
        tmp_path: Path, isolate: str, edit: str, why: str) -> None:
    """A student changed the rules (or broke the game) while the server was down: that
    game's sessions are dropped, the log saying the file may have changed (it blamed
    only the clock and ``secrets``, which the student's game never touched), or what
    the game raised, and the server and other games' sessions go on."""
    games = tmp_path / "games"
    games.mkdir()
    (games / "counter.py").write_text(COUNTER.format(body="pass"))
    args = ("--store-path", str(tmp_path / "store.sqlite3"), "--games-dir", str(games),
            "--isolate-games", isolate, "--no-web")
    with ServerProcess(*args) as server:
        counter, echo = Player(server.port, "Counter", "c", 1), Player(server.port, "Echo", "e", 1)
        assert counter.join()["status"] == echo.join()["status"] == "ok"
        assert counter.move(msg=1)["status"] == echo.move(msg="kept")["status"] == "ok"
    (games / "counter.py").write_text(COUNTER.format(body=edit))
    with ServerProcess(*args) as again:
        counter.port = echo.port = again.port
        assert echo.state()["data"]["echo"] == "kept"
        assert again.wait_for_log("session Counter/c cannot be restored (")
        assert counter.state()["status"] == "error"
    line = next(line for line in again.output if "session Counter/c cannot be restored" in line)
    assert why in line
    # The rules changed: the log says so first (it blamed only the clock and secrets).
    assert "(was its file changed since, or does it read" in line or "__init__()" in why


RANGED = """
from gameserver.games.echo import Echo


class Counter(Echo):
    @staticmethod
    def min_players():
        return {low}

    @staticmethod
    def max_players():
        return {high}

    def current_player(self):
        return 0
"""


@pytest.mark.parametrize("isolate", ["off", "all"])
@pytest.mark.parametrize(("low", "high", "why"), [
    (3, 4, "Counter is played by 3 to 4 players, not 2"),
    (1, 1, "Counter is played by exactly 1 players, not 2"),
], ids=["min raised", "max lowered"])
def test_a_session_whose_player_count_the_edited_game_no_longer_takes_is_dropped(
        tmp_path: Path, isolate: str, low: int, high: int, why: str) -> None:
    """min_players() or max_players() changed while the server was down: a saved
    session of a size the game no longer takes is dropped at the restart, with one
    line naming it, its game and why (it came back and played on); the server and the
    other sessions come back."""
    games = tmp_path / "games"
    games.mkdir()
    (games / "counter.py").write_text(RANGED.format(low=1, high=3))
    args = ("--store-path", str(tmp_path / "store.sqlite3"), "--games-dir", str(games),
            "--isolate-games", isolate, "--no-web")
    with ServerProcess(*args) as server:
        counter = seat_two(server.port, "Counter", "c")
        echo = Player(server.port, "Echo", "e", 1)
        assert echo.join()["status"] == "ok"
        assert counter[0].move(msg=1)["status"] == echo.move(msg="kept")["status"] == "ok"
    (games / "counter.py").write_text(RANGED.format(low=low, high=high))
    with ServerProcess(*args) as again:
        for player in (*counter.values(), echo):
            player.port = again.port
        assert echo.state()["data"]["echo"] == "kept"
        assert again.wait_for_log("session Counter/c cannot be restored (")
        assert "no such game session" in counter[0].state()["message"]
        assert "no such game session" in counter[1].move(msg=2)["message"]
    lines = [line for line in again.output if "Counter/c" in line]
    assert len(lines) == 1
    assert f"its game's player range changed since it was saved: {why}" in lines[0]
