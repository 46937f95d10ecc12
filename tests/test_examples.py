"""Every example client, run as a subprocess against the real server.

The interactive examples get scripted stdin; each test checks what they print.
Waiting is always for a line of output (or the process's end), with a
generous timeout that only guards against hanging.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests import isolation
from tests.test_game_server_api import python38, wait_until_a_request_waits

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TIMEOUT = 60.0  # generous: only to avoid hanging forever


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Example:
    """One example program running in a subprocess; its output is collected as it comes."""

    def __init__(self, name: str, *args: str, stdin: str | None = None,
                 python: str = sys.executable, env: dict[str, str] | None = None,
                 prefix: list[str] | None = None) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [*(prefix or []), python, "-u", str(EXAMPLES / name), *args], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.text = ""
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if stdin is not None:
            self.write(stdin)
            self.close_stdin()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.text += line
                self._changed.notify_all()
        with self._changed:  # the end of the output: wake up wait_for
            self._changed.notify_all()

    def write(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def wait_for(self, pattern: str) -> re.Match[str]:
        """Wait until the output matches ``pattern`` (a regex, multiline)."""
        with self._changed:
            self._changed.wait_for(
                lambda: re.search(pattern, self.text, re.MULTILINE)
                or not self._reader.is_alive(),  # the program has ended
                TIMEOUT)
            match = re.search(pattern, self.text, re.MULTILINE)
        assert match, f"{self.name} never printed {pattern!r}; it printed:\n{self.text}"
        return match

    def finish(self) -> str:
        """Wait for the program to end successfully; return everything it printed."""
        try:
            code = self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.name} did not finish; it printed:\n{self.text}") \
                from None
        self._reader.join(TIMEOUT)
        assert code == 0, f"{self.name} exited with {code}; it printed:\n{self.text}"
        return self.text

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                try:
                    pipe.close()
                except BrokenPipeError:
                    pass


@pytest.fixture
def run(server) -> Iterator[Callable[..., Example]]:
    """Factory: ``run("tictactoe_client.py", "--session", "s", stdin="...")``.

    Adds ``--port`` of the test server; every program is stopped at teardown.
    """
    started: list[Example] = []

    def start(name: str, *args: str, stdin: str | None = None,
              python: str = sys.executable, port: int | None = None) -> Example:
        started.append(Example(name, "--port", str(port or server.port), *args, stdin=stdin,
                               python=python))
        return started[-1]

    yield start
    for example in started:
        example.stop()


# Each client tries the cells in order; a taken cell is rejected and it tries the
# next one. So the first mover gets 0, 2, 4, 6 and wins on the diagonal 2-4-6.
# "x" and "9" come first to exercise the input checks.
TICTACTOE_INPUT = "x\n9\n" + "".join(f"{cell}\n" for cell in range(9))
FINAL_BOARD = (r"^ ([XO]) \| ([XO]) \| \1\n---\+---\+---\n"
               r" \2 \| \1 \| \2\n---\+---\+---\n"
               r" \1 \| 7 \| 8$")


def check_tictactoe_outputs(outputs: list[str]) -> None:
    results = sorted(out.strip().splitlines()[-1] for out in outputs)
    assert results == ["You lose!", "You win!"], outputs
    for out in outputs:
        assert "Please type a number from 0 to 8." in out
        assert "Not allowed: game: position must be between 0" in out
        assert re.search(FINAL_BOARD, out, re.MULTILINE), out
    loser = next(out for out in outputs if out.rstrip().endswith("You lose!"))
    assert "Not allowed: game: position 0 is already taken" in loser


def test_tictactoe_clients_play_a_game_to_a_win(run) -> None:
    session = unique("ttt")
    players = [run("tictactoe_client.py", "--session", session, stdin=TICTACTOE_INPUT)
               for _ in range(2)]
    check_tictactoe_outputs([player.finish() for player in players])


def test_tictactoe_observer_prints_the_final_board(run) -> None:
    session = unique("watch")
    observer = run("tictactoe_observer.py", "--session", session, "--name", "alice")
    observer.wait_for(r"^Waiting for the game to begin \(framework: no such game session; ")
    alice = run("tictactoe_client.py", "--session", session, "--name", "alice",
                stdin=TICTACTOE_INPUT)
    bob = run("tictactoe_client.py", "--session", session, "--name", "bob",
              stdin=TICTACTOE_INPUT)
    check_tictactoe_outputs([alice.finish(), bob.finish()])
    out = observer.finish()
    assert re.search(r"^Watching alice, who plays [XO]\.$", out, re.MULTILINE), out
    assert re.search(FINAL_BOARD, out, re.MULTILINE), out
    alice_won = alice.text.rstrip().endswith("You win!")
    assert re.search(rf"^Game over: alice \([XO]\) {'wins' if alice_won else 'loses'}\.$",
                     out, re.MULTILINE), out


def yahtzee_solo_input(name: str) -> str:
    """A whole game for one player: some rolls and mistakes, Chance, then cross out the rest."""
    first_turn = ["roll", "roll 1 2", "roll", "fly away", "roll 7", "score 99", "score chance"]
    return "\n".join([name, *first_turn, *(f"cross {row}" for row in range(1, 13))]) + "\n"


def test_yahtzee_client_plays_a_solo_game_to_the_ranking(run) -> None:
    player = run("yahtzee_client.py", "--session", unique("yahtzee"),
                 stdin=yahtzee_solo_input("Ada"))
    out = player.finish()
    assert "Not allowed: game: you have already rolled 3 times" in out
    assert "Unknown command." in out
    assert "Dice are numbered 1 to 5" in out
    assert "Which row?" in out
    assert "Dice:  [" in out
    ranking = out[out.index("Ranking:"):]
    points = int(re.search(r"^1\. Ada +(\d+)$", ranking, re.MULTILINE).group(1))
    assert 5 <= points <= 30  # Chance: the sum of five dice; everything else crossed out
    assert re.search(rf"^ +13  Chance +{points}$", out, re.MULTILINE)


def test_yahtzee_clients_play_a_two_player_game_to_the_ranking(run) -> None:
    session = unique("yahtzee2")
    script = "".join(f"cross {row}\n" for row in range(1, 14))
    ada = run("yahtzee_client.py", "--session", session, "--players", "2",
              stdin="Ada\n" + script)
    bob = run("yahtzee_client.py", "--session", session, "--players", "2",
              stdin="Bob\n" + script)
    for out in (ada.finish(), bob.finish()):
        ranking = out[out.index("Ranking:"):].splitlines()[1:]
        assert sorted(re.sub(r"^\d\. ", "", line).split() for line in ranking) == [
            ["Ada", "0"], ["Bob", "0"]]
        assert re.search(r"(Ada|Bob)'s turn \.\.\.$", out, re.MULTILINE)


def test_chat_message_crosses_from_an_input_client_to_an_output_client(run) -> None:
    session = unique("chat")
    output = run("chat_output.py", "--session", session, "--name", "alice")
    output.wait_for(r"^Waiting for alice to join chat")
    alice = run("chat_input.py", "--session", session, "--players", "2", "--name", "alice")
    bob = run("chat_input.py", "--session", session, "--players", "2", "--name", "bob")
    alice.wait_for(r"^Joined\. ")
    bob.wait_for(r"^Joined\. ")
    output.wait_for(rf"^Showing chat '{session}' as alice sees it")
    bob.write("hi alice, this is bob\n")
    output.wait_for(r"^bob: hi alice, this is bob$")
    alice.write("hello bob\n")
    output.wait_for(r"^alice: hello bob$")
    alice.close_stdin()
    bob.close_stdin()
    alice.finish()
    bob.finish()
    assert output.proc.poll() is None  # the output client runs until stopped


def test_chat_input_alone_with_one_player_and_its_name_asked(run) -> None:
    session = unique("solo")
    output = run("chat_output.py", "--session", session, "--name", "ann")
    me = run("chat_input.py", "--session", session, "--players", "1")
    me.write("ann\n")  # the name is asked for
    me.wait_for(r"^Joined\. ")
    me.write("note to self\n")
    output.wait_for(r"^ann: note to self$")
    me.close_stdin()
    me.finish()


def test_echo_client_sends_each_line_and_shows_what_the_server_has(run) -> None:
    out = run("echo_client.py", stdin="hello\nerror\nquit\n").finish()
    assert re.findall(r"The server has: (.*)$", out, re.MULTILINE) == [
        "hello", "error", "quit"]
    assert "> Rejected: game: you sent msg='error', so Echo rejected" in out
    assert out.rstrip().endswith("Game over.")


def load_example(name: str) -> Any:
    """Import an example file as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), EXAMPLES / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tictactoe_api_programs_play_each_other_to_the_end(run) -> None:
    session = unique("wrapped")
    outs = [player.finish() for player in
            [run("tictactoe_api.py", "--session", session) for _ in range(2)]]
    # Both play the same rules, so the game always goes the same way: whoever
    # starts (the game picks at random) wins on the diagonal 0-4-8.
    results = {out.rstrip().splitlines()[-1]: out for out in outs}
    assert set(results) == {"I win!", "I lose!"}, outs
    cells = {result: re.findall(r"^I take cell (\d)$", out, re.MULTILINE)
             for result, out in results.items()}
    assert cells == {"I win!": ["0", "2", "4", "8"], "I lose!": ["1", "3", "6"]}
    winner = re.search(r"^I play ([XO])$", results["I win!"], re.MULTILINE).group(1)
    assert re.search(rf"^ {winner} \| [XO] \| {winner}$", results["I lose!"], re.MULTILINE)


def test_tictactoe_api_hides_the_dictionaries(server) -> None:
    TicTacToeAPI = load_example("tictactoe_api.py").TicTacToeAPI
    session = unique("wrapper")
    games = [TicTacToeAPI(server.host, server.port, session) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        symbols = sorted(pool.map(lambda game: game.join(), games))
    assert symbols == ["O", "X"]
    mover = next(game for game in games if game.my_turn())
    waiter = next(game for game in games if not game.my_turn())
    assert mover.board() == [" "] * 9 and mover.free_cells() == list(range(9))
    with pytest.raises(ValueError, match="^it is not your turn$"):
        waiter.place(0)
    mover.place(4)
    assert mover.board()[4] == mover.symbol() and not mover.my_turn()
    waiter.wait()
    assert waiter.my_turn() and 4 not in waiter.free_cells()
    with pytest.raises(ValueError, match="^position 4 is already taken"):
        waiter.place(4)
    with pytest.raises(ValueError, match="^position must be between 0"):
        waiter.place(9)
    assert waiter.result() is None and waiter.winner() is None

    def move_once_mover_waits() -> None:
        wait_until_a_request_waits(server, "TicTacToe", session)
        waiter.place(0)

    threading.Thread(target=move_once_mover_waits, daemon=True).start()
    mover.wait()  # not fooled by the two rejected moves: returns once the board changed
    assert mover.board()[0] == waiter.symbol() and mover.my_turn()


@pytest.mark.parametrize("connection", ["--keep-alive", "--no-keep-alive"])
def test_rl_agent_finishes_its_batches(run, connection) -> None:
    agent = run("rl_tictactoe.py", "--batches", "3", "--batch-size", "20", "--seed", "7",
                connection)
    out = agent.finish()
    batches = re.findall(r"^ +(\d+) +(\d+)% +(\d+)% +(\d+)%  #*$", out, re.MULTILINE)
    assert [int(games) for games, *_ in batches] == [20, 40, 60], out
    for _, *rates in batches:
        assert 98 <= sum(map(int, rates)) <= 102  # rounded percentages
    assert re.search(r"^MENACE filled \d+ matchboxes\.$", out, re.MULTILINE)


def test_rl_agent_runs_under_python_3_8(run) -> None:
    interpreter = python38()
    if interpreter is None:
        pytest.skip("no working Python 3.8 found ($PYTHON38, pyenv 3.8.18, python3.8 on PATH)")
    agent = run("rl_tictactoe.py", "--batches", "2", "--batch-size", "5", python=interpreter)
    assert "MENACE filled" in agent.finish()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("name", ["tictactoe_client.py", "yahtzee_client.py", "chat_input.py",
                                  "chat_output.py", "tictactoe_observer.py",
                                  "rl_tictactoe.py", "echo_client.py", "tictactoe_api.py"])
def test_example_without_a_server_says_how_to_start_one(run, name) -> None:
    example = run(name, "--name", "ann", port=free_port()) if name.startswith("chat") else \
        run(name, port=free_port())
    example.close_stdin()
    assert example.proc.wait(TIMEOUT) == 1
    example.stop()
    assert re.search(r"^Error: api: unable to connect to 127\.0\.0\.1:\d+: connection refused; "
                     r"is the server running\? Start it first: python3 -m gameserver",
                     example.text, re.MULTILINE), example.text


@pytest.mark.parametrize("name", ["tictactoe_gui.py", "chat_gui.py"])
def test_window_example_without_a_screen_says_so_before_joining(run, name) -> None:
    pytest.importorskip("tkinter", reason="the window examples need tkinter (python3-tk)")
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    example = Example(name, "--port", str(free_port()), "--name", "ann", env=env)
    try:
        assert example.proc.wait(TIMEOUT) == 1
    finally:
        example.stop()
    assert example.text.strip() == ("Cannot open a window: no display name and no $DISPLAY "
                                    "environment variable"), example.text


class DefaultServer:
    """``python -m gameserver`` with its defaults (port 4711), as a newcomer starts it.

    It runs in a network namespace of its own, where port 4711 (and the
    dashboard's 8080) are free whatever else runs on this machine; programs
    that talk to it get ``prefix`` to run in that namespace too. Where no
    namespace can be made, it listens on a free port instead, and ``args``
    (``--port N``) must be given to its clients: the test then checks the
    same things, only not the default port.

    ``command`` replaces ``python -m gameserver`` (a README's command, say);
    the start is over when a line contains ``until``.
    """

    def __init__(self, cwd: Path, command: list[str] | None = None,
                 until: str = "listening on", env: dict[str, str] | None = None) -> None:
        network, self.reason = isolation.private_network()
        self.args: list[str] = [] if network else ["--port", str(free_port())]
        command = command or [sys.executable, "-m", "gameserver"]
        env = env or {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [*network, *command, *self.args, *([] if network else ["--web-port", "0"])],
            cwd=cwd, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.prefix = isolation.join_network(self.proc.pid) if network else []
        self.log = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # until it has started (or has ended)
            self.log += line
            if until in line:
                break
        assert until in self.log, self.log

    def stop(self) -> str:
        """Stop it as Ctrl-C does; return everything it printed."""
        self.proc.send_signal(signal.SIGINT)
        rest, _ = self.proc.communicate(timeout=TIMEOUT)
        self.log += rest
        assert self.proc.returncode == 0, self.log
        return self.log


def test_tictactoe_clients_without_arguments_on_the_default_port(tmp_path: Path) -> None:
    """Exactly as the README says: start the server, run the client twice."""
    default = DefaultServer(tmp_path)
    players: list[Example] = []
    try:
        players = [Example("tictactoe_client.py", *default.args, stdin=TICTACTOE_INPUT,
                           prefix=default.prefix) for _ in range(2)]
        check_tictactoe_outputs([player.finish() for player in players])
    finally:
        for player in players:
            player.stop()
        log = default.stop()
    if not default.args:
        assert "listening on 127.0.0.1:4711 (TLS off)" in log
        assert "dashboard on http://127.0.0.1:8080/" in log
    assert "session TicTacToe/auto-1 started for 2 players" in log
