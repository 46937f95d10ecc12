"""Hostile games, each from its own games folder: the server and other sessions are unharmed.

Issue 13's suite. Each test starts a real server with one hostile game
(``tests/data/hostile_games/<name>/``), which runs in a worker process,
with a time limit of one second per game call where the limit is what the
test is about (ten elsewhere, so that a busy machine cannot make a slow
worker look like a hostile one). For each: the attack's
client gets a clear ``framework:`` error; another session on the same
server (bundled TicTacToe, in the server process) plays a whole game; the
server stays up; and the other sessions of the hostile game come back as
they were when its worker had to be replaced.

"Normal latency" is proven by order, not by timers: for the attacks that
hold their call (loops, sleeps), the whole TicTacToe game is played while
the attack's request is in flight, and its reply has not come when the
game is over.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from gameserver import _sandbox, isolated, workers
from gameserver._channel import ERROR_MAX, MIRROR_MAX, START_VIEWS_MAX, VIEWS_MAX
from gameserver._json import may_be_infinite
from gameserver.isolated import SAVE_EVERY, TEXT_MAX
from tests.serverproc import ServerProcess, ServerThread
from tests.wire import TERMINATOR, Player, request, send_raw, until

HOSTILE = Path(__file__).parent / "data" / "hostile_games"
LIMIT = 1.0  # game_call_timeout where the test is about the limit, in seconds
# ... and elsewhere: on a busy machine a worker's work may take a while. The recursion
# bomb needs 1.6 s of one idle vCPU to overflow the C stack here; with seven test runs
# sharing that vCPU it took over 10 s, and was stopped as too slow instead of crashing.
# (Below the clients' 30 s, tests.wire.TIMEOUT: a call that hangs fails as such.)
ROOMY = 20.0
LANDLOCK = _sandbox.landlock_abi()
_tokens = itertools.count()


def hostile_server(make_server: Any, name: str, **overrides: Any) -> ServerThread:
    overrides.setdefault("game_call_timeout", ROOMY)
    return make_server(games_dirs=[str(HOSTILE / name)], **overrides)


def worker_of(server: ServerThread) -> Any:
    assert server.server is not None
    (worker,) = server.server.isolation.workers
    return worker


def worker_pid(server: ServerThread) -> int | None:
    return server.call(lambda: worker_of(server).pid)


def play_tictactoe(port: int) -> None:
    """Two players play a whole game of TicTacToe; every reply must be ok."""
    token = f"ttt-{next(_tokens)}"
    x, o = Player(port, "TicTacToe", token, 2), Player(port, "TicTacToe", token, 2)
    joiner = threading.Thread(target=x.join)
    joiner.start()
    assert o.join()["status"] == "ok"
    joiner.join(30)
    seats = {x.player_id: x, o.player_id: o}
    for position in range(9):
        state = x.state()
        assert state["status"] == "ok", state
        if state["data"]["gameover"]:
            return
        reply = seats[state["data"]["current"][0]].move(position=position)
        assert reply == {"status": "ok", "data": None}, reply
    assert x.state()["data"]["gameover"] is True


class Attack:
    """The attacking move, sent from a thread; ``done`` is set when its reply comes."""

    def __init__(self, player: Player, **move: Any) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, args=(player, move))
        self._thread.start()

    def _run(self, player: Player, move: dict[str, Any]) -> None:
        self.reply = player.move(attack=True, **move)
        self.done.set()

    def result(self) -> dict[str, Any]:
        self._thread.join(60)
        assert self.done.is_set()
        return self.reply


def in_flight(server: ServerThread) -> None:
    """Wait until the worker is running a request (the attack has reached it)."""
    deadline = time.monotonic() + 20
    while not server.call(lambda: worker_of(server).busy):
        assert time.monotonic() < deadline, "the attack never reached the worker"
        time.sleep(0.005)


def joined(port: int, game: str, token: str) -> Player:
    player = Player(port, game, token, 1)
    assert player.join()["status"] == "ok"
    return player


def count(player: Player) -> Any:
    reply = player.state()
    assert reply["status"] == "ok", reply
    return reply["data"]["count"]


def attack_held(server: ServerThread, attacker: Player, **move: Any) -> dict[str, Any]:
    """An attack that holds its call: TicTacToe is played to the end meanwhile."""
    attack = Attack(attacker, **move)
    in_flight(server)
    play_tictactoe(server.port)
    assert not attack.done.is_set(), "the other game could not finish during the attack"
    return attack.result()


def attack_alongside(server: ServerThread, attacker: Player, **move: Any) -> dict[str, Any]:
    """A quick attack, with a TicTacToe game played at the same time and after."""
    attack = Attack(attacker, **move)
    play_tictactoe(server.port)
    reply = attack.result()
    play_tictactoe(server.port)
    return reply


def calm_session(server: ServerThread, game: str) -> Player:
    """Another session of the hostile game, one move in, before the attack."""
    calm = joined(server.port, game, "calm")
    assert calm.move()["status"] == "ok"
    return calm


def assert_restored(calm: Player) -> None:
    """The other session of the hostile game is as it was, and plays on."""
    assert count(calm) == 1
    assert calm.move()["status"] == "ok"
    assert count(calm) == 2


# ---------------------------------------------------------------- the attacks in the issue

HELD = True  # the attack holds its call: TicTacToe is played to the end meanwhile
LIMIT_MESSAGE = "took longer than 1 s and was stopped (endless loop?)"
CASES = [  # folder, game, held?, the attacker's error after "framework: game X: ", replaced?
    ("catch_all", "CatchAll", HELD, f"move() {LIMIT_MESSAGE}", True),
    # The interrupt sufficed; the server saw the call blocked, not running: it says so.
    ("sleeper", "Sleeper", HELD, "move() took longer than 1 s and was stopped: it was waiting, "
     "not running (time.sleep()?). A game must answer at once: take the sleep out", False),
    # ... and one that catches it, sleeping on: killed after the grace, saying the same.
    ("sleeper", "SleepCatcher", HELD, "move() took longer than 1 s and was stopped: it "
     "was waiting, not running (time.sleep()?). A game must answer at once: take the sleep "
     "out", True),
    ("state_loop", "StateLoop", HELD, f"state() {LIMIT_MESSAGE}", True),  # a bare except
    ("hog", "Hog", not HELD, "move() raised MemoryError: ", False),  # 4 GB at once
    ("threads", "Threads", not HELD,
     "move() started a thread, which games must not do (it would keep running)", True),
    ("recursion_bomb", "RecursionBomb", not HELD,
     "the game's worker process died during move(): it was killed by signal SIGSEGV (a "
     "crash: a recursion too deep for the C stack?)", True),
]


@pytest.mark.parametrize(("folder", "game", "held", "message", "replaced"), CASES,
                         ids=[case[1] for case in CASES])
def test_a_hostile_call_fails_alone(make_server, folder: str, game: str, held: bool,
                                    message: str, replaced: bool) -> None:
    server = hostile_server(make_server, folder, game_call_timeout=LIMIT if held else ROOMY)
    calm = calm_session(server, game)
    attacker = joined(server.port, game, "attack")
    pid = worker_pid(server)
    reply = (attack_held if held else attack_alongside)(server, attacker)
    assert reply == {"status": "error", "message": f"framework: game {game}: {message}"}
    assert (worker_pid(server) != pid) is replaced
    assert_restored(calm)
    assert count(attacker) == 0  # the attack changed nothing (undone with a new worker)


def test_os_exit_in_move_is_detected_at_once(make_server) -> None:
    # With a time limit of two minutes, only noticing the death at once answers
    # within the client's 30 s.
    server = hostile_server(make_server, "exit_in_move", game_call_timeout=120)
    calm = calm_session(server, "ExitInMove")
    # Its game cannot be pickled now, but its copy from before the move is kept, and
    # the move is played again on it.
    replayed = joined(server.port, "ExitInMove", "replayed")
    assert replayed.move(lock=True)["status"] == "ok"
    # Its game cannot be pickled when a copy is due: it has none from then on.
    unsaved = joined(server.port, "ExitInMove", "unsaved")
    for _ in range(SAVE_EVERY):
        assert unsaved.move(lock=True)["status"] == "ok"
    reply = attack_alongside(server, joined(server.port, "ExitInMove", "attack"))
    assert reply == {"status": "error", "message": (
        "framework: game ExitInMove: the game's worker process died during move(): it exited "
        "with status 3 (os._exit() or sys.exit() in the game?)")}
    assert_restored(calm)
    assert replayed.state()["data"]["count"] == 1
    # Nothing to restore that session from: it ends, saying why.
    reply = unsaved.state()
    assert reply["status"] == "error"
    assert reply["message"].startswith("framework: game ExitInMove: the game was lost when "
                                       "its worker process failed")


@pytest.mark.parametrize("before", [0, 1, SAVE_EVERY + 1])
def test_a_move_that_killed_its_worker_is_not_played_again_after_a_restart(
        tmp_path: Path, before: int) -> None:
    """The failed move is logged with its error, and the game is as before it: the store
    must save the game with that move, or the next start plays it again (and the game's
    worker dies again, and the session is dropped). Found with moves since the last copy
    the worker sent, which the store cannot save before the next move brings a copy; and
    with none (0): a new game is saved as its seed, so the worker must send a copy when it
    makes the game again after the failure."""
    options = {"store": True, "store_path": str(tmp_path / "store.sqlite3"),
               "games_dirs": [str(HOSTILE / "exit_in_move")], "game_call_timeout": ROOMY}
    with ServerThread(**options) as server:
        player = joined(server.port, "ExitInMove", "restarted")
        for _ in range(before):
            assert player.move()["status"] == "ok"
        assert player.move(attack=True)["message"].startswith(
            "framework: game ExitInMove: the game's worker process died during move()")
        assert count(player) == before
    with ServerThread(**options) as again:
        player.port = again.port
        assert count(player) == before
        assert player.move()["status"] == "ok"


def test_a_game_made_again_at_a_restart_that_cannot_be_pickled_keeps_its_moves(
        tmp_path: Path) -> None:
    """A game saved as its seed and replayed at a restart sends no copy after the replay
    when it cannot be pickled: the moves replayed are then what it comes back from when
    its worker dies. It used to come back as made, with no move (count 0; its players
    waited for a change they were never told of)."""
    options = {"store": True, "store_path": str(tmp_path / "store.sqlite3"),
               "games_dirs": [str(HOSTILE / "exit_in_move")], "game_call_timeout": ROOMY}
    with ServerThread(**options) as server:
        locked = joined(server.port, "ExitInMove", "locked")
        for _ in range(3):
            assert locked.move(lock=True)["status"] == "ok"
    with ServerThread(**options) as again:
        locked.port = again.port
        game = again.call(lambda: again.server.lobby.sessions[("ExitInMove", "locked")].game)
        deadline = time.monotonic() + 60  # a bound that turns a hang into a failure
        while again.call(lambda: game.pending) is not None:  # replayed in its worker
            assert time.monotonic() < deadline, "the replay never ended"
            time.sleep(0.01)
        start = again.call(game.saved_start)
        assert start is not None and len(start[2]) == 3  # the seed and the moves since
        attacker = joined(again.port, "ExitInMove", "attack")
        assert attacker.move(attack=True)["message"].startswith(
            "framework: game ExitInMove: the game's worker process died during move()")
        assert count(locked) == 3
        assert locked.move()["status"] == "ok"
        assert count(locked) == 4


def test_gc_finds_no_key_and_no_server_descriptor(make_server, tmp_path) -> None:
    server = hostile_server(make_server, "snoop", store=True,
                            store_path=str(tmp_path / "store.sqlite3"))
    play_tictactoe(server.port)
    snoop = joined(server.port, "Snoop", "attack")
    assert server.server is not None
    keys = server.call(lambda: [p.key for s in server.server.lobby.sessions.values()
                                for p in s.players])
    assert len(keys) == 3
    assert snoop.move(attack=True, port=server.port)["status"] == "ok"
    loot = snoop.state()["data"]
    assert loot["objects"] > 1000  # the walk through gc did run
    assert not set(keys) & set(loot["keys"])
    # Only its standard streams and its two pipes to the server: no listening socket,
    # no store, no client connection.
    assert loot["fds"].keys() == {"0", "1", "2", "3", "4"}, loot["fds"]
    assert (loot["fds"]["0"], loot["fds"]["3"], loot["fds"]["4"]) == ("device", "pipe", "pipe")


@pytest.mark.skipif(LANDLOCK < 4, reason="needs Landlock ABI 4 (Linux 6.7); docs/reliability.md "
                    "says what a game can read without it")
def test_landlock_denies_files_outside_the_games_folder_and_tcp(make_server, tmp_path) -> None:
    store = tmp_path / "store.sqlite3"
    outside = tmp_path / "outside.txt"
    outside.write_text("not for games")
    server = hostile_server(make_server, "snoop", store=True, store_path=str(store))
    play_tictactoe(server.port)
    snoop = joined(server.port, "Snoop", "attack")
    own = HOSTILE / "snoop" / "snoop.py"
    reply = snoop.move(attack=True, paths=[str(store), str(outside), str(own), "/etc/passwd"],
                       port=server.port)
    assert reply["status"] == "ok"
    loot = snoop.state()["data"]
    assert loot["read"].pop(str(own)) == "read"
    assert set(loot["read"].values()) == {"PermissionError"}, loot["read"]
    assert loot["connect"] == "PermissionError"


@pytest.mark.skipif(LANDLOCK < 6, reason="needs Landlock ABI 6 (Linux 6.12) to stop signals "
                    "to the server; docs/reliability.md says so")
def test_os_kill_of_the_server_is_refused() -> None:
    with ServerProcess("--games-dir", str(HOSTILE / "parricide"), "--game-call-timeout", "10",
                       "--no-web") as server:
        attacker = joined(server.port, "Parricide", "attack")
        reply = attack_alongside(server, attacker)  # type: ignore[arg-type]
        assert reply == {"status": "error", "message": (
            "framework: game Parricide: move() raised PermissionError: [Errno 1] Operation "
            "not permitted")}
        assert server.proc is not None and server.proc.poll() is None
        assert count(attacker) == 0


def test_child_processes_are_killed_with_their_worker(make_server) -> None:
    server = hostile_server(make_server, "spawner")
    calm = calm_session(server, "Spawner")
    pid = worker_pid(server)
    assert pid is not None
    reply = attack_alongside(server, joined(server.port, "Spawner", "attack"))
    assert reply == {"status": "error", "message": (
        "framework: game Spawner: move() started a child process, which games must not do")}
    assert worker_pid(server) != pid
    assert_restored(calm)
    deadline = time.monotonic() + 20
    while alive_in_group(pid):  # SIGKILL is sent to the group; the kernel ends them
        assert time.monotonic() < deadline, f"processes of group {pid} still alive"
        time.sleep(0.01)


_CHILDREN_SEEN = """
import os, subprocess, sys, threading, time
from gameserver.worker import _leftovers
seen = [_leftovers()]
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
seen.append(_leftovers())
time.sleep(0.6)  # ended, not reaped: a zombie
seen.append(_leftovers())
child.wait()
spawned = os.posix_spawn(sys.executable, [sys.executable, "-c", "pass"], os.environ)
seen.append(_leftovers())
os.waitpid(spawned, 0)
children_of_thread = []
thread = threading.Thread(target=lambda: children_of_thread.append(subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(0.3)"])))
thread.start()
thread.join()  # it has ended: only its child is left
seen.append(_leftovers())
children_of_thread[0].wait()
seen.append(_leftovers())
print(seen)
"""


def test_a_child_is_seen_however_it_was_started_and_until_it_is_reaped() -> None:
    """A cheaper check (one thread's ``/proc/.../children``) missed the child of a thread
    that had just ended; ``waitpid`` sees every thread's."""
    root = str(Path(__file__).parent.parent)  # this checkout's gameserver, not an installed one
    done = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {root!r})"
                           + _CHILDREN_SEEN], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    child = "started a child process, which games must not do"
    assert done.stdout.strip() == repr([None, child, child, child, child, None])


def alive_in_group(group: int) -> list[int]:
    """Processes of process group ``group`` that are not zombies."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            alive.append(int(entry))
    return alive


def test_a_100_mb_state_is_refused_with_a_clear_error(make_server) -> None:
    server = hostile_server(make_server, "huge_state")
    attacker = joined(server.port, "HugeState", "attack")
    assert attack_alongside(server, attacker) == {"status": "ok", "data": None}
    reply = attacker.state()
    assert reply["status"] == "error"
    assert reply["message"] == (
        "framework: game HugeState: state() returned 95 MB, more than the 16 MB a game may "
        "send from a worker process")


def test_a_forged_reply_is_never_unpickled(make_server, tmp_path) -> None:
    server = hostile_server(make_server, "forger")
    calm = calm_session(server, "Forger")
    marker = tmp_path / "pwned"
    reply = attack_alongside(server, joined(server.port, "Forger", "attack"),
                             marker=str(marker))
    assert reply == {"status": "error", "message": (
        "framework: game Forger: the game's worker process sent something malformed during "
        "move() (undecodable message (UnpicklingError: refused to load posix.system: not "
        "plain data))")}
    assert not marker.exists()
    assert_restored(calm)


@pytest.mark.parametrize(("kind", "why"), [
    ("catalog", "a message that is neither a reply nor a note"),
    ("pickled", "a message that is neither a reply nor a note"),
    ("notes", "a malformed note")])
def test_a_message_of_another_kind_than_a_reply_is_refused(make_server, kind: str,
                                                           why: str) -> None:
    """A reply has a layout of its own (``_reply``, since stop 41); a pickle may be the
    hello's report or catalog, or one note per call, nothing else: Framer writes a
    catalog, a reply pickled as replies were, or a second note, before its reply."""
    server = hostile_server(make_server, "framer")
    calm = calm_session(server, "Framer")
    pid = worker_pid(server)
    attacker = joined(server.port, "Framer", "attack")
    assert attack_alongside(server, attacker, kind=kind) == {"status": "error", "message": (
        f"framework: game Framer: the game's worker process sent something malformed during "
        f"move() ({why})")}
    assert worker_pid(server) != pid
    assert_restored(calm)
    assert count(attacker) == 0


def test_a_reply_nobody_asked_for_replaces_the_worker(make_server, caplog) -> None:
    """Framer writes a reply of its own (the move's error): it answers the move, and its
    worker's own reply then answers nothing. The log said "sent something
    malformed{during}": without a request to blame, the placeholder stayed. (The move
    failed, so its game has no copy: read in one go with the reply nobody asked for, its
    error may reach the client after the game was lost with the worker.)"""
    caplog.set_level(logging.INFO, logger="gameserver")
    server = hostile_server(make_server, "framer")
    calm = calm_session(server, "Framer")
    pid = worker_pid(server)
    attacker = joined(server.port, "Framer", "attack")
    reply = attacker.move(attack=True, kind="extra")
    assert reply["status"] == "error" and (reply["message"] == "forged" or reply["message"]
                                           .startswith("framework: game Framer: the game was "
                                                       "lost when its worker process failed"))
    deadline = time.monotonic() + 30  # a bound that turns a hang into a failure
    while worker_pid(server) in (pid, None):
        assert time.monotonic() < deadline, "the worker was never replaced"
        time.sleep(0.01)
    assert f"game file {HOSTILE / 'framer' / 'framer.py'}: the game's worker process sent " \
        "something malformed (a reply nobody asked for); its worker process is replaced" in [
            r.getMessage() for r in caplog.records]
    assert_restored(calm)


def test_a_reply_before_the_catalog_is_refused(make_server, tmp_path: Path, caplog) -> None:
    """Framer, told to by a file next to it, writes a reply while its worker imports it:
    the game is not offered."""
    caplog.set_level(logging.INFO, logger="gameserver")
    (tmp_path / "framer.py").write_bytes((HOSTILE / "framer" / "framer.py").read_bytes())
    (tmp_path / "at_import").touch()
    server = make_server(games_dirs=[str(tmp_path)])
    assert server.server is not None and "Framer" not in server.server.lobby.game_types
    assert f"game file skipped: {tmp_path / 'framer.py'}: the game's worker process sent " \
        "something malformed during import() (a reply before the catalog)" in [
            r.getMessage() for r in caplog.records]


def test_a_worker_that_fails_outside_a_game_call_is_replaced_and_the_game_undone(
        make_server) -> None:
    """Breaker's worker raises after the game's own move returned. It used to reply
    with nobody's turn (the session was stuck) and no copy; now it asks to be
    replaced, and the attacked game comes back as before the attack."""
    server = hostile_server(make_server, "breaker")
    calm = calm_session(server, "Breaker")
    pid = worker_pid(server)
    attacker = joined(server.port, "Breaker", "attack")
    assert attacker.move()["status"] == "ok"
    reply = attack_alongside(server, attacker)
    assert reply == {"status": "error", "message": (
        "framework: game Breaker: move() failed in its worker process, outside the game's "
        "code (RuntimeError)")}
    assert worker_pid(server) != pid
    assert_restored(calm)
    assert count(attacker) == 1  # the attack was undone: its game plays on
    assert attacker.move()["status"] == "ok"
    assert count(attacker) == 2


@pytest.mark.parametrize(("folder", "game", "why"), [
    ("bloater", "Bloater", "a malformed reply: a saved game of 41"),
    ("flooder", "Flooder", "a malformed reply: 5000000 states, more than 2048)")])
def test_a_worker_whose_own_bounds_were_lifted_is_refused_by_the_server(
        make_server, caplog, folder: str, game: str, why: str) -> None:
    """The bounds are checked again by the server: a game can patch its worker's checks.

    Bloater lifts the limit on saved copies and grows to 4 MB (the server
    would keep 4 MB per session); Flooder sends five million states (a server
    walking them would stall for seconds). Either reply is refused as
    malformed by the count in its header, before it is walked or kept, and
    the worker replaced. The log shows the reply's size and first bytes (its
    header), to tell a forged header from a stream cut in the wrong place.
    """
    caplog.set_level(logging.WARNING, logger="gameserver")
    server = hostile_server(make_server, folder)
    calm = calm_session(server, game)
    pid = worker_pid(server)
    reply = attack_alongside(server, joined(server.port, game, "attack"))
    assert reply["status"] == "error" and reply["message"].startswith(
        f"framework: game {game}: the game's worker process sent something malformed during "
        f"move() ({why}"), reply
    assert worker_pid(server) != pid
    assert_restored(calm)
    shown = [r.getMessage() for r in caplog.records if "the malformed message" in r.getMessage()]
    assert len(shown) == 1 and shown[0].split("the first 64: ")[1].startswith(b"R".hex())


def test_states_a_worker_sends_beyond_those_asked_for_are_never_taken(make_server) -> None:
    """A change's states come in the order the server asked for them, without player ids
    (the server's own keys name them). Padder's worker sends each state as not sent along
    (None), then ten forged ones: the server takes none of them, fetches the real state
    when the player asks for it, and its worker plays on."""
    server = hostile_server(make_server, "padder")
    pid = worker_pid(server)
    attacker = joined(server.port, "Padder", "attack")
    assert count(attacker) == 0  # asked once: sent along with every change from now on
    assert attacker.move()["status"] == "ok"
    assert count(attacker) == 1
    assert attack_alongside(server, attacker) == {"status": "ok", "data": None}
    assert count(attacker) == 2  # fetched: not the forged 666
    assert attacker.move()["status"] == "ok"
    assert count(attacker) == 3
    assert worker_pid(server) == pid


def test_a_worker_that_lies_about_player_ranges_has_those_games_refused(make_server,
                                                                         caplog) -> None:
    """The server checks a worker's catalog with the rule it applies to its own games
    (``checked.range_problem``): each game with a range no game may have is refused with
    the error a student would get in-process, naming its file; the honest one is offered.
    A minimum of 0 or below, or above the maximum, used to be offered (a session of 0
    players); a value that is no int refused the whole file as "a malformed catalog". A
    name with a slash broke the dashboard's list of games (an internal error for every
    visitor) and one with a newline forged a line of the server's log."""
    caplog.set_level(logging.INFO, logger="gameserver")
    server = hostile_server(make_server, "liar")
    assert server.server is not None
    liars = ["NoPlayers", "Negative", "Inverted", "Fractional", "Deep", "Enormous", "Wordy"]
    assert set(server.server.lobby.game_types) & {"Honest", *liars} == {"Honest"}
    path = HOSTILE / "liar" / "liar.py"
    errors = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert errors == sorted([f"game {name} skipped: {path}: {problem}" for name, problem in [
        ("NoPlayers", "min_players() must return a whole number of at least 1, not 0"),
        ("Negative", "min_players() must return a whole number of at least 1, not -3"),
        ("Inverted", "min_players() returns 3 but max_players() returns 2: the minimum must "
                     "not be larger than the maximum"),
        ("Fractional", "max_players() must return a whole number of at least 1, not 2.5"),
        ("Deep", "max_players() must return a whole number of at least 1, not a list"),
        ("Enormous", f"min_players() returns a number larger than sys.maxsize ({sys.maxsize}): "
                     "return the number of players your game can really hold"),
        ("Wordy", "max_players() must return a whole number of at least 1, not "
                  "'xxxxxxxxxxxx...xxxxxxxxxxxxx'")]] + [
        f"game skipped: {path}: its name 'a/b\\nERROR gameserver.server: forged' is not a "
        "Python identifier of at most 100 characters (it is the class's name: do not set "
        "__name__)"])
    honest = joined(server.port, "Honest", "honest")
    assert honest.move()["status"] == "ok"
    assert count(honest) == 1


def test_a_worker_that_claims_20_mb_of_documentation_has_it_cut(make_server) -> None:
    """The texts of a worker's catalog go out with every discovery reply (and the
    dashboard's list of games): 20 MB of documentation made each reply 20 MB, for a
    request of a hundred bytes. They are cut at TEXT_MAX characters now."""
    server = hostile_server(make_server, "liar")
    data = send_raw(server.port, json.dumps({"type": "discover"}).encode() + TERMINATOR)
    assert len(data) < 200_000  # (20 MB before)
    (verbose,) = [g for g in json.loads(data)["data"]["games"] if g["name"] == "Verbose"]
    assert verbose["documentation"] == "y" * TEXT_MAX + (
        f" ... (cut: 20000000 characters, more than {TEXT_MAX})")


@pytest.mark.parametrize("isolate", ["folder", "off"])
def test_a_game_of_more_players_than_a_reply_can_write_is_refused(make_server, caplog,
                                                                  isolate: str) -> None:
    """``max_players()`` returned 10**5000: Python cannot write it as text, so discovery
    (every game's, for every client) and a join of a wrong size failed with an internal
    error. The range is refused above ``sys.maxsize`` with the other range rules."""
    caplog.set_level(logging.INFO, logger="gameserver")
    server = hostile_server(make_server, "boundless", isolate_games=isolate)
    assert server.server is not None
    assert "Boundless" not in server.server.lobby.game_types
    path = HOSTILE / "boundless" / "boundless.py"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith(f"game Boundless skipped: {path}:")
    assert errors[0].endswith(f": max_players() returns a number larger than sys.maxsize "
                              f"({sys.maxsize}): return the number of players your game can "
                              "really hold")
    reply = request(server.port, {"type": "discover"})
    assert reply["status"] == "ok" and "TicTacToe" in {g["name"] for g in reply["data"]["games"]}


def test_a_join_for_a_million_players_costs_what_the_seats_taken_need(make_server) -> None:
    """A game of "any number" of players, in a worker: a join asking for a million
    players built a list of a million states to send along (150 MB in the server, a
    20 s stall of its loop and an internal error for ten million), and the worker asked
    each of the million players' state to check the game's start, past the time limit:
    the worker was replaced and the join failed. Now the states sent along are those of
    the first ``START_VIEWS_MAX`` players, and a larger game comes with a saved copy
    instead of the checksum of its start."""
    server = hostile_server(make_server, "crowd")
    calm = calm_session(server, "Crowd")
    pid = worker_pid(server)
    crowd = Player(server.port, "Crowd", "crowd", 10**6)
    threading.Thread(target=crowd.join, daemon=True).start()  # it waits for the others

    def built() -> Any:
        session = server.server.lobby.sessions.get(("Crowd", "crowd"))
        return session is not None and session.game.pending is None and session.game

    deadline = time.monotonic() + 60  # a bound that turns a hang into a failure
    while not (game := server.call(built)):
        assert time.monotonic() < deadline, "the game was never built"
        time.sleep(0.01)
    assert server.call(lambda: len(game._wanted)) == START_VIEWS_MAX
    assert server.call(game.snapshot)  # a copy to come back from
    assert worker_pid(server) == pid
    assert_restored(calm)


def test_a_session_whose_players_ask_more_views_than_a_reply_carries_plays_on(
        make_server) -> None:
    """A worker sends one state (or None: not sent along) per view the server asks for,
    and a reply with more than ``VIEWS_MAX`` is refused as malformed. The views asked for
    grew with every one fetched: a session of 1,025 players, each asking once for its
    state with legal moves, had 2,049 (the first 1,024 players' states, and every
    player's with legal moves), so the next move's honest reply was refused, the worker
    replaced, the game's restore refused too and the session lost. Now at most
    ``VIEWS_MAX`` views are asked for; the others are fetched when asked."""
    players = START_VIEWS_MAX + 1
    server = hostile_server(make_server, "crowd", max_waiting_joins_per_address=players)
    calm = calm_session(server, "Crowd")
    pid = worker_pid(server)
    joins = []
    for number in range(players):  # sent at once: each waits for the session to fill
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(json.dumps({"type": "join", "game": "Crowd", "session": "crowd",
                                 "players": players, "name": f"p{number}"}).encode()
                     + TERMINATOR)
        joins.append(sock)
    keys = {}
    for sock in joins:
        with sock:  # a join's reply ends as the server closes the connection
            reply = json.loads(b"".join(iter(lambda sock=sock: sock.recv(65536), b"")))
        assert reply["status"] == "ok", reply
        keys[reply["data"]["player_id"]] = reply["data"]["key"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        buffer = bytearray()

        def ask(kind: str, player_id: int, **rest: Any) -> dict[str, Any]:
            conn.sendall(json.dumps({
                "type": kind, "game": "Crowd", "session": "crowd", "player_id": player_id,
                "key": keys[player_id], "keep_alive": True, **rest}).encode() + TERMINATOR)
            while TERMINATOR not in buffer:
                chunk = conn.recv(65536)
                assert chunk, "the server closed the connection"
                buffer.extend(chunk)
            end = buffer.index(TERMINATOR)
            reply = json.loads(buffer[:end])
            del buffer[:end + len(TERMINATOR)]
            return reply  # type: ignore[no-any-return]

        for player_id in keys:
            assert ask("state", player_id, observer=False, legal_moves=True)["data"][
                "count"] == 0
        assert ask("move", 0, move={}) == {"status": "ok", "data": None}
        for player_id in (0, players - 1):  # a view sent along, one fetched
            assert ask("state", player_id, observer=False, legal_moves=True)["data"][
                "count"] == 1
    assert worker_pid(server) == pid
    game = server.call(lambda: server.server.lobby.sessions[("Crowd", "crowd")].game)
    assert server.call(lambda: len(game._wanted)) == VIEWS_MAX
    assert_restored(calm)


@pytest.mark.parametrize("isolate", ["folder", "off"])
def test_a_state_or_rejection_nested_too_deeply_for_json_gets_a_clear_error(
        make_server, isolate: str) -> None:
    """Past about a thousand levels, Python's JSON encoder raises RecursionError, which
    was taken for TypeError or ValueError nowhere: in the server a player got "server:
    internal error"; in a worker a rejection got "move() failed in its worker process,
    outside the game's code (RecursionError)" and the worker was replaced (its other
    sessions restored), once per move."""
    server = hostile_server(make_server, "nested", isolate_games=isolate)
    calm = calm_session(server, "Nested")
    pid = worker_pid(server) if isolate == "folder" else None
    player = joined(server.port, "Nested", "deep")
    assert player.move(reject=5000) == {"status": "error", "message": (
        "framework: game Nested: move() rejected the move with a value that is not JSON (it "
        "is nested too deeply)")}
    assert player.move(depth=5000) == {"status": "ok", "data": None}
    assert player.state() == {"status": "error", "message": (
        "framework: game Nested: state() returned something that cannot be sent as JSON (it "
        "is nested too deeply)")}
    assert player.move(depth=0) == {"status": "ok", "data": None}
    assert count(player) == 2
    if isolate == "folder":
        assert worker_pid(server) == pid
    assert_restored(calm)


@pytest.mark.parametrize("isolate", ["folder", "off"])
def test_a_circular_state_or_rejection_is_named_so_and_one_nested_deeper_still_too_deep(
        make_server, isolate: str) -> None:
    """Replies are encoded without the JSON encoder's circular-reference markers
    (``gameserver._json``): a value holding itself nests for ever, is stopped by the
    recursion limit, and is encoded again with the markers to say what is wrong. The
    player gets the error it got with markers throughout, and a state nested 100,000
    deep is still "nested too deeply", in the server and in a worker; a worker whose
    game lifted the recursion limit (where a value holding itself would overflow the C
    stack before the limit) encodes with the markers at once: the same error, no crash."""
    server = hostile_server(make_server, "nested", isolate_games=isolate)
    calm = calm_session(server, "Nested")
    pid = worker_pid(server) if isolate == "folder" else None
    player = joined(server.port, "Nested", "loop")
    circular_state = {"status": "error", "message": (
        "framework: game Nested: state() returned something that cannot be sent as JSON "
        "(Circular reference detected)")}
    assert player.move(reject=-1) == {"status": "error", "message": (
        "framework: game Nested: move() rejected the move with a value that is not JSON "
        "(Circular reference detected)")}
    assert player.move(depth=-1) == {"status": "ok", "data": None}
    assert player.state() == circular_state
    assert player.move(depth=100_000) == {"status": "ok", "data": None}
    assert player.state() == {"status": "error", "message": (
        "framework: game Nested: state() returned something that cannot be sent as JSON (it "
        "is nested too deeply)")}
    if isolate == "folder":  # (in the server, the limit would be this test process's)
        assert player.move(depth=-1, limit=1_000_000) == {"status": "ok", "data": None}
        assert player.state() == circular_state
        assert player.move(depth=0, limit=1000) == {"status": "ok", "data": None}
        assert worker_pid(server) == pid
    else:
        assert player.move(depth=0) == {"status": "ok", "data": None}
    assert count(player) == (4 if isolate == "folder" else 3)
    assert_restored(calm)


@pytest.mark.parametrize("isolate", ["folder", "off"])
def test_a_game_that_changes_its_move_changes_no_later_request_of_the_same_bytes(
        make_server, isolate: str) -> None:
    """The server keeps the requests it decoded, by their bytes (``protocol._KNOWN``),
    and does not decode the same bytes again. A game that takes its move apart (keys
    popped, a key added, nested lists and dicts changed in place) must see the next
    identical request as it was sent, in the server's process and in a worker."""
    server = hostile_server(make_server, "mutator", isolate_games=isolate)
    player = joined(server.port, "Mutator", "changes")
    for move in ({"position": 3}, {"position": 4, "kind": "x", "sure": True},
                 {"cells": [[1], 2], "at": {"x": 1}}):
        for _ in range(3):  # the same bytes each time (tests.wire encodes them alike)
            assert player.move(**move) == {"status": "ok", "data": None}
        assert player.state()["data"]["seen"][-3:] == [move] * 3
    keep_alive = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    with keep_alive:
        line = json.dumps({"type": "move", "game": "Mutator", "session": player.session,
                           "player_id": player.player_id, "key": player.key,
                           "move": {"position": 5}, "keep_alive": True}).encode() + TERMINATOR
        keep_alive.sendall(line * 3)  # in one packet: decoded one after the other
        replies = b""
        while replies.count(TERMINATOR) < 3:
            chunk = keep_alive.recv(65536)
            assert chunk, "the server closed the connection"
            replies += chunk
    assert replies == (b'{"status": "ok", "data": null}' + TERMINATOR) * 3
    assert player.state()["data"]["seen"][-3:] == [{"position": 5}] * 3


def test_json_from_a_worker_nested_too_deeply_to_decode_gets_an_error_not_a_hang(
        make_server) -> None:
    """The server decodes a worker's rejections and, for a state with the turn timer
    added, its state replies. Nested 5,000 deep, json.loads raises RecursionError,
    which only ValueError was expected for: the exception left the pipe's reader, the
    move was never answered (its client waited for ever), and a state with the timer got
    "server: internal error"."""
    server = hostile_server(make_server, "deep_forger")
    calm = calm_session(server, "DeepForger")
    attacker = joined(server.port, "DeepForger", "attack")
    assert attack_alongside(server, attacker) == {"status": "error", "message": (
        "framework: game DeepForger: move() sent a rejection that is not JSON")}
    timed = request(server.port, {"type": "state", "game": "DeepForger", "session": "attack",
                                  "player_id": attacker.player_id, "key": attacker.key,
                                  "observer": False, "timer": True})
    assert timed == {"status": "error", "message": (
        "framework: game DeepForger: state() came back malformed from the worker")}
    assert_restored(calm)


def test_a_rejection_from_a_worker_with_nan_or_infinity_gets_an_error_not_an_internal_one(
        make_server) -> None:
    """A worker's rejection is JSON text the server decodes and sends on in its reply.
    ``[NaN, Infinity]`` is no JSON, but json.loads reads it (as floats), and the server's
    encoder (JSON only) then refused the reply: the move's client got "server: internal
    error" and the server logged a bug of its own. Now the rejection is decoded as
    requests are (NaN, Infinity and 1e999 refused): the game's error."""
    server = hostile_server(make_server, "deep_forger")
    calm = calm_session(server, "DeepForger")
    attacker = joined(server.port, "DeepForger", "attack")
    assert attack_alongside(server, attacker, nan=True) == {
        "status": "error",
        "message": "framework: game DeepForger: move() sent a rejection that is not JSON"}
    assert count(attacker) == 0 and attacker.move()["status"] == "ok"
    assert_restored(calm)


def test_a_timeout_move_that_is_not_json_is_the_games_error_not_its_workers(
        make_server, caplog) -> None:
    """A worker sends a timeout hook's move as JSON. One that is not JSON (a set in it)
    failed "in its worker process, outside the game's code (TypeError)": the worker was
    replaced (its other sessions restored) each time the timer asked. Now it is the
    hook's error, named as such, and the timer's fallback applies (a forfeit here). It
    is logged once: it was logged twice per timeout, the timer asking the hook again
    once the legal moves it fetched from the worker came."""
    assert timer_warnings(make_server, caplog, "set_pass", "SetPass") == [
        "session SetPass/timed: framework: game SetPass: timeout_move() returned a move that "
        "cannot be sent as JSON (Object of type set is not JSON serializable)"]


def test_a_timeout_move_larger_than_a_request_is_refused_unread(make_server, caplog) -> None:
    """A worker sends a timeout hook's move as JSON text, which the server decoded on its
    loop and played, whatever its size: a reply may hold 24 MB, and 21 MB of
    ``{"m": [{}, {}, ...]}`` made the server build half a gigabyte for seconds (a session's
    turn timer is a client's choice). A move of more than a request's default bound
    (``request_size_max``) is now the hook's error, not decoded; the timer's fallback
    applies (a forfeit here), and the worker is not blamed."""
    assert timer_warnings(make_server, caplog, "set_pass", "Sprawler") == [
        "session Sprawler/timed: framework: game Sprawler: timeout_move() sent a move of "
        "2000012 characters from its worker, more than the 1000000 a move may have"]


def timer_warnings(make_server: Any, caplog: Any, folder: str, game: str) -> list[str]:
    """Two players of ``game`` let their time run out (0.3 s a turn) until the turn timer
    ends the game with a forfeit of player 0 (its ``timeout_move`` gave no move) in the
    same worker; what the timer logged (warnings)."""
    caplog.set_level(logging.INFO, logger="gameserver")
    server = hostile_server(make_server, folder, turn_timeout=0.3,
                            max_waiting_joins_per_address=100)
    pid = worker_pid(server)
    token = "timed"
    ann, bob = Player(server.port, game, token, 2), Player(server.port, game, token, 2)
    joiner = threading.Thread(target=ann.join)
    joiner.start()
    assert bob.join()["status"] == "ok"
    joiner.join(30)
    deadline = time.monotonic() + 30  # a bound that turns a hang into a failure
    while not (state := bob.state())["data"]["gameover"]:  # each waits for the next change
        assert time.monotonic() < deadline, "the timer never ended the game"
    assert state["data"]["forfeit"] == {"players": [0], "reason": "turn timeout"}
    assert worker_pid(server) == pid
    return [r.getMessage() for r in caplog.records if r.name == "gameserver.timers"
            and r.levelno == logging.WARNING]


def test_a_child_that_leaves_the_workers_process_group_is_killed_with_it(make_server) -> None:
    """A worker's child process is killed with the worker's process group; one that made
    a session of its own (``os.setsid()``) left the group and outlived its worker (for
    60 s here; as long as it liked). Workers may not leave their group now (seccomp)."""
    server = hostile_server(make_server, "escaper")
    calm = calm_session(server, "Escaper")
    pid = worker_pid(server)
    reply = attack_alongside(server, joined(server.port, "Escaper", "attack"))
    assert reply == {"status": "error", "message": (
        "framework: game Escaper: move() started a child process, which games must not do")}
    assert worker_pid(server) != pid
    assert_restored(calm)
    folder = HOSTILE / "escaper"
    deadline = time.monotonic() + 20
    while left := [p for p in processes_in(folder) if p != worker_pid(server)]:
        assert time.monotonic() < deadline, f"processes {left} outlived their worker"
        time.sleep(0.01)


def processes_in(folder: Path) -> list[int]:
    """Processes (not zombies) working in ``folder``: its worker and what that started."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if (Path(f"/proc/{entry}/cwd").resolve() == folder.resolve()
                    and Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
                    != "Z"):
                found.append(int(entry))
        except OSError:
            continue
    return found


def test_a_game_that_prints_16_mb_adds_little_to_the_servers_log() -> None:
    """A worker's stderr was the server's: a game printed into the server's log (and disk)
    without bound, and where the log's reader lagged, the full pipe blocked the server's
    own log lines, and with them its loop. Now the server reads what a worker prints and
    logs at most 100 lines a second (1,000 at once), then says how many it dropped."""
    with ServerProcess("--games-dir", str(HOSTILE / "shouter"), "--game-call-timeout",
                       str(ROOMY), "--no-web") as server:
        attacker = joined(server.port, "Shouter", "attack")
        reply = attack_alongside(server, attacker)  # type: ignore[arg-type]
        assert reply == {"status": "ok", "data": None}
        assert count(attacker) == 1
        assert server.wait_for_log("more lines it printed were not logged")
        assert server.log.count("x" * 80) <= 2_000  # of 200,000
        assert len(server.log) < 1_000_000  # (16 MB before)


def test_log_records_of_a_game_cannot_make_the_server_keep_new_loggers(make_server,
                                                                        caplog) -> None:
    """A worker's log records were logged under their own logger name when it began
    with ``gameserver.``: a game logging under new names made the server create loggers,
    which Python keeps until the process ends (2 MB of names per move here, without
    bound), and could pass its lines off as the server's own. Only the names of the
    modules a worker runs are kept now; the rest log as ``gameserver.game``."""
    caplog.set_level(logging.INFO, logger="gameserver")
    server = hostile_server(make_server, "namer")
    attacker = joined(server.port, "Namer", "attack")
    before = set(logging.Logger.manager.loggerDict)
    for _ in range(3):
        assert attacker.move(attack=True) == {"status": "ok", "data": None}
    assert count(attacker) == 3
    assert set(logging.Logger.manager.loggerDict) - before == set()
    records = [(r.name, r.getMessage()) for r in caplog.records if "Namer" not in r.name]
    assert records.count(("gameserver.game", "a name to keep")) == 3 * 19
    assert records.count(("gameserver.game", "gameserver stopped")) == 3
    assert ("gameserver.server", "gameserver stopped") not in records


@pytest.mark.parametrize("isolate", ["folder", "off"])
def test_a_game_whose_class_name_is_no_identifier_is_refused(make_server, caplog,
                                                             isolate: str) -> None:
    caplog.set_level(logging.INFO, logger="gameserver")
    server = hostile_server(make_server, "misnamed", isolate_games=isolate, web=True,
                            web_port=0)
    assert server.server is not None
    path = HOSTILE / "misnamed" / "misnamed.py"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"game skipped: {path}:38: its name 'a/b\\nERROR gameserver.server: forged' is not "
        "a Python identifier of at most 100 characters (it is the class's name: do not set "
        "__name__)"]
    url = f"http://127.0.0.1:{server.server.dashboard.port}/api/games"
    with urllib.request.urlopen(url, timeout=30) as reply:
        names = [game["name"] for game in json.loads(reply.read())]
    assert "Plain" in names and "TicTacToe" in names and len(names) == len(set(names))


def test_an_error_of_5_mb_from_a_worker_is_cut_as_in_the_server(make_server,
                                                                tmp_path: Path) -> None:
    """A game's error is one line of at most 200 characters in the server's process;
    a worker whose bound was lifted sent 5 MB, which the server passed on to the player
    and logged in the store with the move, 5 MB a move. Errors (and the other texts a
    reply may hold instead of a value) are cut at ERROR_MAX characters now."""
    db = tmp_path / "store.sqlite3"
    server = hostile_server(make_server, "shouting_error", store=True, store_path=str(db))
    attacker = joined(server.port, "ShoutingError", "attack")
    reply = attacker.move(attack=True)
    assert reply["status"] == "error"
    assert reply["message"].startswith(
        "framework: game ShoutingError: move() raised ValueError: EEEE")
    assert reply["message"].endswith(" ... (cut: 5000057 characters)")
    assert len(reply["message"]) < ERROR_MAX + 100
    assert attacker.move()["status"] == "ok"  # (the store logs both moves)
    with contextlib.closing(sqlite3.connect(db)) as saved:
        (longest,) = saved.execute("SELECT MAX(LENGTH(verdict)) FROM game_moves").fetchone()
    assert longest < ERROR_MAX + 100


def test_why_a_worker_asks_to_be_replaced_is_cut_too(make_server, tmp_path: Path) -> None:
    """A reply's ``leftovers`` (why its worker must be replaced: a thread the game left
    running) became the failed move's error whole, unlike the reply's other texts:
    5 MB from Lingerer's worker went to the player, to the server's log and into the
    store's verdict for the move, with every such move."""
    db = tmp_path / "store.sqlite3"
    server = hostile_server(make_server, "lingerer", store=True, store_path=str(db))
    calm = calm_session(server, "Lingerer")
    pid = worker_pid(server)
    attacker = joined(server.port, "Lingerer", "attack")
    reply = attack_alongside(server, attacker)
    assert reply["status"] == "error"
    assert reply["message"].startswith("framework: game Lingerer: move() left LLLL")
    assert reply["message"].endswith(" ... (cut: 5000005 characters)")
    assert len(reply["message"]) < ERROR_MAX + 100
    assert worker_pid(server) != pid
    assert_restored(calm)
    assert count(attacker) == 0 and attacker.move()["status"] == "ok"
    with contextlib.closing(sqlite3.connect(db)) as saved:
        (longest,) = saved.execute("SELECT MAX(LENGTH(verdict)) FROM game_moves").fetchone()
    assert longest < ERROR_MAX + 100


@pytest.mark.parametrize("isolate", ["folder", "off"])
def test_a_rejection_of_5_mb_is_cut_in_a_worker_and_in_the_server(
        make_server, tmp_path: Path, isolate: str) -> None:
    """A game's rejection (its reason for refusing a move) went to the player and was
    kept with the move as the game wrote it, in the session's history, the store's
    verdict and a worker's moves since its last copy: 5 MB per rejected move. It is cut
    at ERROR_MAX characters now, as errors are; a rejection that is not a string (a
    list) and whose JSON is longer becomes that JSON, cut. A worker whose bound the
    game lifted sends it whole: the server refuses it as the game's error."""
    db = tmp_path / "store.sqlite3"
    server = hostile_server(make_server, "grumbler", store=True, store_path=str(db),
                            isolate_games=isolate)
    player = joined(server.port, "Grumbler", "attack")
    text = player.move(reject="text")
    assert text["status"] == "illegalmove"
    assert text["message"].startswith("game: nonono")
    assert text["message"].endswith("no ... (cut: 5000000 characters)")
    assert len(text["message"]) < ERROR_MAX + 100
    listed = player.move(reject="list")
    assert listed["status"] == "illegalmove"
    assert listed["message"].startswith('game: ["no", "xxx')
    assert listed["message"].endswith("x ... (cut: 5000010 characters)")
    assert player.move()["status"] == "ok"
    with contextlib.closing(sqlite3.connect(db)) as saved:
        (longest,) = saved.execute("SELECT MAX(LENGTH(verdict)) FROM game_moves").fetchone()
    assert longest < ERROR_MAX + 100
    if isolate == "folder":
        lifted = player.move(reject="text", lift=True)
        assert lifted["status"] == "error"
        assert lifted["message"] == (
            "framework: game Grumbler: move() sent a rejection of 5000002 characters from "
            "its worker, which cuts one at 1000")
        assert count(player) == 1 and player.move()["status"] == "ok"


def test_a_message_that_unpickles_into_millions_of_objects_is_refused_unread(
        make_server) -> None:
    """Refusing classes is not enough: plain data amplifies too. One byte of pickle makes
    an empty set of 216 bytes: 2 MB from a worker made the server build 430 MB for seconds
    before it saw the reply was malformed (24 MB: 5 GB and half a minute, measured). A
    message over 64 KB was then scanned first, and refused past 50,000 opcodes (as the
    hello's are still: ``_channel.decode_plain``). Since stop 41 a reply is no pickle, and
    past the hello a pickle may only be a note of a few dozen bytes: a larger one is
    refused by its size, before it is read."""
    server = hostile_server(make_server, "inflater")
    calm = calm_session(server, "Inflater")
    reply = attack_alongside(server, joined(server.port, "Inflater", "attack"))
    assert reply == {"status": "error", "message": (
        "framework: game Inflater: the game's worker process sent something malformed during "
        "move() (a message of 2000006 bytes that is neither a reply nor a note)")}
    assert_restored(calm)


def test_a_game_cannot_make_the_server_report_a_sandbox_the_kernel_lacks(
        make_server, caplog) -> None:
    """The start-up report of how games are confined came with the first worker's
    catalog, after the worker imported its game file: boaster.py rewrote it to claim
    Landlock ABI 99 and no problems, and on a machine without Landlock the server would
    have said "sandboxed" instead of warning. The worker sends its report before it
    imports the file now: what the server logs is what the worker applied."""
    caplog.set_level(logging.INFO, logger="gameserver")
    server = hostile_server(make_server, "boaster")
    assert server.server is not None and "Boaster" in server.server.lobby.game_types
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("game workers")]
    assert not any("99" in line for line in said)
    real = _sandbox.landlock_abi()
    if real:
        assert any(f"sandboxed with Landlock ABI {real}:" in line for line in said)
    else:
        assert any(line.startswith("game workers are not sandboxed") for line in said)


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="POSIX limits")
def test_a_game_cannot_hide_a_problem_of_its_sandbox() -> None:
    """A problem of the sandbox (a limit that could not be set) came with the first
    worker's catalog too, which boaster.py rewrote to list none: the server logged no
    warning. Here the server's own CPU limit is below --worker-cpu-limit, so no worker
    can set that limit: the warning is logged, whatever the game does."""
    import resource

    def low_cpu_limit() -> None:  # in the server's process, before it starts
        resource.setrlimit(resource.RLIMIT_CPU, (50_000, 50_000))

    with ServerProcess("--games-dir", str(HOSTILE / "boaster"), "--worker-cpu-limit",
                       "100000", "--no-bundled-games", preexec_fn=low_cpu_limit) as server:
        assert "Boaster" in server.log
        assert "game workers: the CPU time limit could not be set" in server.log



def test_what_a_game_logs_or_prints_in_its_worker_cannot_write_a_line_of_the_log(
        make_server, caplog) -> None:
    """A worker forwards the records its game logs (up to 8,000 characters each) and the
    lines it prints; they were logged as the game wrote them, a newline and a line dressed
    as the server's own record, an ANSI escape, a carriage return included. Only the
    command line's formatter escaped them: a server run with another handler (embedded,
    as here) logged the forged line as a line of its own. They are escaped where they
    enter the server's log now: control characters as ``\\x1b``, lines after a record's
    first indented."""
    caplog.set_level(logging.INFO, logger="gameserver")
    server = hostile_server(make_server, "scribbler")
    calm = calm_session(server, "Scribbler")
    pid = worker_pid(server)
    reply = attack_alongside(server, joined(server.port, "Scribbler", "attack"))
    assert reply == {"status": "ok", "data": None}
    deadline = time.monotonic() + 30  # the printed line comes through a pipe of its own
    while not any("printed" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the printed line was never logged"
        time.sleep(0.01)  # polling the log; nothing to await
    texts = [r.getMessage() for r in caplog.records if r.name.startswith("gameserver")]
    forged = [text for text in texts if "the store is corrupt" in text]
    assert forged == ["a move\n    2026-11-29 09:00:00,000 ERROR   gameserver.server: the "
                      "store is corrupt, delete it\\x1b[2J\\rgone"]
    printed = [text for text in texts if "printed" in text]
    assert [text.rpartition(": ")[2] for text in printed] == ["printed\\x1b[2J\\rgone"]
    assert worker_pid(server) == pid
    assert_restored(calm)


def test_a_reply_the_server_fails_to_handle_ends_its_request_and_replaces_the_worker(
        make_server, monkeypatch) -> None:
    """An exception in the server's handling of a worker's reply (a bug of ours: no reply
    that passes the channel's checks is known to raise, so this test makes
    ``RemoteGame._moved`` raise for one move) escaped the worker's reader: the request
    had been taken off the queue, so its client waited for ever, and the replies read
    after it in the same read were dropped. Now the request fails with a framework
    error, its game comes back as before it, and the worker is replaced."""
    original = isolated.RemoteGame._moved

    def buggy(self: Any, call: Any, player_id: int, move: Any, *args: Any) -> None:
        if move.get("bug"):
            raise RuntimeError("a bug in the server")
        original(self, call, player_id, move, *args)

    monkeypatch.setattr(isolated.RemoteGame, "_moved", buggy)
    server = hostile_server(make_server, "scribbler")
    calm = calm_session(server, "Scribbler")
    pid = worker_pid(server)
    attacker = joined(server.port, "Scribbler", "attack")
    assert attacker.move()["status"] == "ok"
    reply = attack_alongside(server, attacker, bug=True)
    assert reply == {"status": "error", "message": (
        "framework: game Scribbler: the server could not handle what the game's worker "
        "process sent during move() (RuntimeError: a bug in the server); this is a bug of "
        "the server (see its log)")}
    assert worker_pid(server) != pid
    assert count(attacker) == 1  # as before the move that failed
    assert attacker.move()["status"] == "ok" and count(attacker) == 2
    assert_restored(calm)


def kept_too_much(game: str, per_file_mb: int, total_mb: int) -> str:
    return (f"framework: game {game}: this session ended: the server keeps at most "
            f"{per_file_mb} MB of saved games (each game's copy and the moves since) for all "
            f"sessions of this game's file, and {total_mb} MB for those of all game files, "
            "and this game's 195 KB would have passed that; start a new session (the other "
            "sessions keep playing)")


def test_the_saved_games_of_all_workers_are_bounded_together(make_server, monkeypatch,
                                                              tmp_path: Path) -> None:
    """Each worker's games may keep KEPT_MAX bytes (256 MB): a class's thirty game files
    allowed thirty times that. All workers' games together keep at most KEPT_TOTAL_MAX
    (1 GB; 1 MB here, each file 2 MB): the second file's game that would pass it ends,
    saying so, while its worker has kept less than its own bound; the others play on,
    and once the first file's games are dropped the second's may keep again."""
    monkeypatch.setattr(workers, "KEPT_MAX", 2 * 1024 * 1024)
    monkeypatch.setattr(workers, "KEPT_TOTAL_MAX", 1024 * 1024)
    second = tmp_path / "second"
    second.mkdir()
    (second / "hoarder_two.py").write_text(
        (HOSTILE / "hoarder" / "hoarder.py").read_text().replace(
            "class Hoarder(", "class HoarderTwo("))
    server = make_server(games_dirs=[str(HOSTILE / "hoarder"), str(second)],
                         game_call_timeout=ROOMY)
    first = [joined(server.port, "Hoarder", f"first-{i}") for i in range(3)]
    for player in first:
        for _ in range(SAVE_EVERY):  # the last brings a copy of 200 KB, kept
            assert player.move()["status"] == "ok"
    others = [joined(server.port, "HoarderTwo", f"second-{i}") for i in range(3)]
    for player in others[:2]:
        for _ in range(SAVE_EVERY):
            assert player.move()["status"] == "ok"
    last = others[2]  # 3 + 2 copies of 200 KB kept: a sixth passes 1 MB, not 2 MB
    for _ in range(SAVE_EVERY - 1):
        assert last.move()["status"] == "ok"
    assert last.move() == {"status": "error",
                           "message": kept_too_much("HoarderTwo", 2, 1)}
    for player in first + others[:2]:
        assert player.move()["status"] == "ok"
    for player in first:  # their games are dropped: what they kept is given back
        assert player.restart()["status"] == "ok"
    assert first[0].move()["status"] == "ok"  # (the drops go with the worker's next request)
    again = joined(server.port, "HoarderTwo", "second-again")
    for _ in range(SAVE_EVERY):
        assert again.move()["status"] == "ok"


def test_the_saved_games_a_worker_keeps_are_bounded_in_all(make_server, monkeypatch) -> None:
    """The server keeps each game's last copy (up to 256 KB) and the moves since (up to
    256 KB) to bring it back if its worker fails, with no bound in all: 20,000 sessions
    of hoarder.py, whose copies take 200 KB, would make it keep 4 GB. The games of one
    worker may keep KEPT_MAX bytes in all now (256 MB; 1 MB here): the session whose
    copy would pass it ends, saying so, and the others play on; a copy that replaces
    one counts once."""
    monkeypatch.setattr(workers, "KEPT_MAX", 1024 * 1024)
    server = hostile_server(make_server, "hoarder")
    pid = worker_pid(server)
    players = [joined(server.port, "Hoarder", f"hoard-{i}") for i in range(6)]
    for player in players[:5]:
        for _ in range(SAVE_EVERY):  # the last brings a copy of 200 KB, kept
            assert player.move()["status"] == "ok"
    last = players[5]
    for _ in range(SAVE_EVERY - 1):
        assert last.move()["status"] == "ok"
    assert last.move() == {"status": "error", "message": kept_too_much("Hoarder", 1, 1024)}
    assert last.state()["status"] == "error"
    for _ in range(SAVE_EVERY):  # another copy of the first game replaces its last
        assert players[0].move()["status"] == "ok"
    assert count(players[0]) == 2 * SAVE_EVERY and count(players[4]) == SAVE_EVERY
    assert 5 * 200_000 < server.call(lambda: worker_of(server).kept_bytes) < 1024 * 1024
    assert players[1].restart()["status"] == "ok"  # its game is dropped: its copy given back
    assert players[1].move()["status"] == "ok"  # (the drop goes with the next request)
    assert server.call(lambda: worker_of(server).kept_bytes) < 4 * 200_000 + 50_000
    again = joined(server.port, "Hoarder", "hoard-again")
    for _ in range(SAVE_EVERY):
        assert again.move()["status"] == "ok"
    assert worker_pid(server) == pid


def timed_join(port: int, token: str, **timer: float) -> Player:
    """A player seated alone in a new session of ShapeForger with its own turn timer."""
    player = Player(port, "ShapeForger", token, 1)
    reply = request(port, {"type": "join", "game": "ShapeForger", "session": token,
                           "players": 1, "name": "", **timer})
    assert reply["status"] == "ok", reply
    player.player_id, player.key = reply["data"]["player_id"], reply["data"]["key"]
    return player


MALFORMED = "framework: game ShapeForger: state() came back malformed from the worker"


@pytest.mark.parametrize("forge", ["string_data", "number_data", "no_current"])
def test_a_state_reply_of_another_shape_is_the_games_error_where_the_server_reads_it(
        make_server, forge: str) -> None:
    """A worker's state reply was checked by its first and last bytes only (it went on
    to the game's players as it was; see the next test); where the server read it
    itself, it decoded it and took it for a state's data. ``{"status": "ok", "data":
    {}, "data": 5, "x": {}}`` (the second "data" wins) made a state with the turn timer
    and the dashboard's session page fail with an internal error, and a view without
    "current" did the same to every state of a session its game clock had ended. Each is
    the game's error now."""
    server = hostile_server(make_server, "shape_forger", web=True, web_port=0)
    assert server.server is not None and server.server.dashboard is not None
    calm = calm_session(server, "ShapeForger")
    attacker = joined(server.port, "ShapeForger", "attack")
    assert attacker.move(forge=forge) == {"status": "ok", "data": None}
    timed = request(server.port, {"type": "state", "game": "ShapeForger", "session": "attack",
                                  "player_id": attacker.player_id, "key": attacker.key,
                                  "observer": False, "timer": True})
    assert timed == {"status": "error", "message": MALFORMED}
    url = f"http://127.0.0.1:{server.server.dashboard.port}/api/sessions/ShapeForger/attack"
    with urllib.request.urlopen(url, timeout=30) as reply:
        assert json.loads(reply.read())["views"] == [{"error": MALFORMED}]
    # A game clock (0.1 s: a session of one) ends the game: the forfeit shows the view.
    clocked = timed_join(server.port, "clocked", game_clock=0.1)
    assert clocked.move(forge=forge) == {"status": "ok", "data": None}
    ended = server.call(lambda: server.server.lobby.sessions["ShapeForger", "clocked"].game)
    until(lambda: server.call(lambda: ended is not server.server.lobby.sessions[
        "ShapeForger", "clocked"].game), "the game clock's forfeit")
    assert clocked.state() == {"status": "error", "message": MALFORMED}
    assert clocked.move() == {"status": "error", "message": "framework: game has ended"}
    assert_restored(calm)


@pytest.mark.parametrize("forge", ["not_json", "second_status", "not_utf8", "nan",
                                   "text_current", "string_data", "long_along",
                                   "large_not_ascii", "large_not_json"])
def test_a_state_reply_protocol_md_does_not_allow_never_reaches_the_games_players(
        make_server, forge: str) -> None:
    """A worker's state reply goes to the game's players as it is. It was checked by its
    first and last bytes only: a hostile game's worker sent its own players what no
    classic client can read (no JSON, no UTF-8, NaN), a reply whose second "status"
    made it an error, "current" as text, and a state longer than a change may send
    along (kept by the server until the next change). Each is the game's error now; a
    state of more than 64 KB (fetched when asked, not decoded: that would cost the
    server's loop seconds) must still be ASCII, as all a worker's encoder writes, with
    the right first and last bytes (``large_not_json`` passes, see docs/isolation.md)."""
    server = hostile_server(make_server, "shape_forger")
    calm = calm_session(server, "ShapeForger")
    attacker = joined(server.port, "ShapeForger", "attack")
    assert attacker.move(forge=forge) == {"status": "ok", "data": None}
    raw = send_raw(server.port, json.dumps({
        "type": "state", "game": "ShapeForger", "session": "attack",
        "player_id": attacker.player_id, "key": attacker.key, "observer": False}).encode()
        + TERMINATOR)
    if forge == "large_not_json":  # (known: only its first and last bytes are checked)
        assert raw.startswith(b'{"status": "ok", "data": {"current": [0]')
    else:
        assert json.loads(raw) == {"status": "error", "message": MALFORMED}
    assert_restored(calm)


def test_a_state_reply_written_by_hand_as_valid_as_the_workers_is_sent_on(
        make_server) -> None:
    """The check of a worker's state reply refuses nothing valid: other spacing, keys in
    another order."""
    server = hostile_server(make_server, "shape_forger")
    attacker = joined(server.port, "ShapeForger", "attack")
    assert attacker.move(forge="exact") == {"status": "ok", "data": None}
    assert attacker.state() == {"status": "ok", "data": {"count": 1, "current": [0],
                                                         "gameover": False}}


def test_legal_moves_that_are_no_moves_from_a_worker_end_a_timed_out_turn_as_none_do(
        make_server) -> None:
    """The turn timer draws a random move from the legal moves the worker's state reply
    lists: ``[1, "x"]`` were taken as moves, the move made for the player failed outside
    the game (an internal error logged at the deadline), and every later move of the
    session got "server: internal error". A list that is no list of moves is the game's
    error now: the timer has no move to make, and the player loses the game."""
    server = hostile_server(make_server, "shape_forger")
    calm = calm_session(server, "ShapeForger")
    attacker = timed_join(server.port, "timed", turn_timeout=0.1)
    assert attacker.move(forge="bad_moves") == {"status": "ok", "data": None}
    assert attacker.state()["status"] == "ok"  # (seen: the next waits for the timeout)
    forfeited = attacker.state()
    assert forfeited["status"] == "ok" and forfeited["data"]["forfeit"] == {
        "players": [0], "reason": "turn timeout"}, forfeited
    assert attacker.move() == {"status": "error", "message": "framework: game has ended"}
    assert_restored(calm)


def held_states(server: ServerThread) -> int:
    """Bytes of the state replies of worker games the server holds: each game's mirror and
    fetched states, and its session's encoded replies (each object once)."""
    def count() -> int:
        assert server.server is not None
        held: dict[int, int] = {}
        for session in server.server.lobby.sessions.values():
            for reply in (*session.game._views.values(), *session.game._unread.values(),
                          *session._replies):
                if type(reply) is bytes:
                    held[id(reply)] = len(reply)
        return sum(held.values())
    return int(server.call(count))


def held_decoded(server: ServerThread) -> int:
    """Bytes of the large states (fetched) whose decoded copies the server keeps, as the
    replies' lengths."""
    def count() -> int:
        assert server.server is not None
        held = 0
        for session in server.server.lobby.sessions.values():
            game = session.game
            for key in game._decoded:
                reply = game._views.get(key)
                if type(reply) is bytes and len(reply) > MIRROR_MAX:
                    held += len(reply)
        return held
    return int(server.call(count))


def test_the_decoded_copies_of_large_states_are_kept_within_the_same_bound(
        make_server, monkeypatch) -> None:
    """The dashboard (and the turn timer) decode a fetched state, and its game kept the
    copy until its next change: not counted, the copies of states kept within
    FETCHED_MAX took about as much again (a hostile worker's 16 MB of ``[{}, {}, ...``:
    415 MB each). They are counted with their states now (``isolated.decoded_size``), so
    both together stay within FETCHED_MAX (4 MB here), the oldest dropped first."""
    monkeypatch.setattr(isolated, "FETCHED_MAX", 4 * 1024 * 1024)
    server = hostile_server(make_server, "big_views", web=True, web_port=0)
    assert server.server is not None and server.server.dashboard is not None
    players = [joined(server.port, "BigViews", f"big-{i}") for i in range(4)]
    for player in players:
        assert len(player.state()["data"]["padding"]) == 1_000_000
    for player in players:
        url = (f"http://127.0.0.1:{server.server.dashboard.port}/api/sessions/BigViews/"
               f"{player.session}")
        with urllib.request.urlopen(url, timeout=30) as reply:
            assert len(json.loads(reply.read())["views"]) == 1
        assert held_states(server) + held_decoded(server) <= 4 * 1024 * 1024
    assert held_decoded(server) >= 1_000_000  # (the last one's copy is kept)
    assert server.call(lambda: server.server.isolation.fetched.total) <= 4 * 1024 * 1024


def test_the_decoded_copies_of_small_states_are_kept_within_the_same_bound(
        make_server, monkeypatch) -> None:
    """A state small enough to come along with every change (``MIRROR_MAX``) was decoded
    for the dashboard (or a turn timer) and the copy kept until the game's next change,
    uncounted: 30 KB of ``[{}, {}, ...`` take about 800 KB decoded (1.7 MB for a game's
    64 KB), in every session looked at. The copies are counted with the fetched states
    now, within FETCHED_MAX (2 MB here), the oldest dropped first (decoded again if
    asked: the state itself stays)."""
    monkeypatch.setattr(isolated, "FETCHED_MAX", 2 * 1024 * 1024)
    server = hostile_server(make_server, "big_views")
    players = [joined(server.port, "DenseViews", f"dense-{i}") for i in range(8)]
    for player in players:
        assert len(player.state()["data"]["dense"]) == 10_000

    def copies() -> list[int]:
        assert server.server is not None
        return [isolated.decoded_size(session.game._views[key])
                for session in server.server.lobby.sessions.values()
                for key in session.game._decoded]

    assert server.server is not None
    sessions = list(server.server.lobby.sessions.values())
    assert len(sessions) == 8
    for session in sessions:
        assert len(server.call(lambda s=session: s.shown_view(0))["dense"]) == 10_000
        assert sum(server.call(copies)) <= 2 * 1024 * 1024
    assert server.call(lambda: server.server.isolation.fetched.total) == sum(
        server.call(copies)) > 0
    assert len(server.call(lambda: sessions[0].shown_view(0))["dense"]) == 10_000  # again
    assert players[0].move() == {"status": "ok", "data": None}  # a change: its copy goes
    assert count(players[0]) == 1
    assert server.call(lambda: server.server.isolation.fetched.total) == sum(
        server.call(copies))


def test_the_large_states_fetched_from_workers_are_kept_within_a_bound_in_all(
        make_server, monkeypatch) -> None:
    """A state too large to come along with a change is fetched when asked and kept until
    the game changes. A worker makes one for nothing: 200 one-player sessions of 16 MB
    states, each asked once by a client that hung up at once, made the server hold 6.4 GB
    from one address. The fetched states are kept up to FETCHED_MAX bytes in all (4 MB
    here), the oldest dropped first (fetched again if asked), and the session keeps no
    second reference to one."""
    monkeypatch.setattr(isolated, "FETCHED_MAX", 4 * 1024 * 1024)
    server = hostile_server(make_server, "big_views")
    players = [joined(server.port, "BigViews", f"big-{i}") for i in range(8)]
    for player in players:
        state = player.state()
        assert state["status"] == "ok" and len(state["data"]["padding"]) == 1_000_000
    assert held_states(server) <= 4 * 1024 * 1024
    first = players[0]
    assert first.move() == {"status": "ok", "data": None}
    assert count(first) == 1  # (a change: fetched again)
    assert held_states(server) <= 4 * 1024 * 1024


def test_a_number_beyond_the_float_range_in_a_workers_state_gets_one_verdict(
        make_server, tmp_path: Path) -> None:
    """A worker's state holding ``1e999`` (valid JSON, beyond the float range) was read as
    infinity by the server's quick check and passed: the player got it, while the store
    (which decodes it as requests are, refusing it) logged the encoder's error for that
    very state, "Out of range float values are not JSON compliant". Now the state is
    refused: the player and the store get the same error, naming the number."""
    db = tmp_path / "store.sqlite3"
    server = hostile_server(make_server, "deep_forger", store=True, store_path=str(db))
    attacker = joined(server.port, "DeepForger", "attack")
    assert attacker.move(inf=True)["status"] == "ok"
    error = ("framework: game DeepForger: state() came back malformed from the worker: the "
             "number 1e999 is beyond what a JSON number may be here (about ±1.8e308)")
    assert attacker.state() == {"status": "error", "message": error}
    server.stop()
    with contextlib.closing(sqlite3.connect(db)) as saved:
        (final,) = saved.execute("SELECT final_states FROM games").fetchone()
    assert json.loads(final) == [{"error": error}]
    # Read again only where the text may hold such a number (a test of its bytes).
    assert may_be_infinite(b'{"x": 1E+400}') and may_be_infinite(b"1e999")
    assert may_be_infinite(b"1" * 309 + b".5")
    assert not may_be_infinite(b'{"x": 1.5e-300, "y": 12345, "winner": "e100"}')
