"""``python -m gameserver check``: each deliberately broken game is caught, good games pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gameserver import _check_prints, check
from gameserver import _check_words as words
from gameserver.games import BUNDLED_GAMES
from tests.data import defective_games

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"


def run_check(name: str):
    return check.check_game(getattr(defective_games, name), seed=7, games=30,
                            time_budget=3.0, time_limit=0.3)


def test_the_reference_game_passes() -> None:
    report = run_check("Good")
    assert report.ok, report.problems
    assert "using legal_moves" in report.notes[0]


@pytest.mark.parametrize("name, expected", [
    ("Misnamed", "no method 'game_over', which every game needs. You wrote a method "
                 "called 'gameover': rename it to 'game_over'"),
    ("NotStatic", "Put @staticmethod on the line above 'def min_players'"),
    ("BadCurrentId", "current_player() returned 1, but with 1 player the only id is 0. Ids "
                     "count from 0, not 1: start the turn at 0, and go round with `self.turn = "
                     "(self.turn + 1) % self.players`"),
    ("NonBoolGameOver", "game_over() must return True or False, not 'no' (str). A text counts "
                        "as true in Python, even 'no' or 'False', so the game seemed over. Write "
                        "`return False` while the game goes on and `return True` once it has "
                        "ended"),
    ("ShadowedMove", "Setting self.move hides the method move(): the server then finds that "
                     "value instead of the method, and cannot call it. Give the value a name of "
                     "its own, for example `self.last_move = ...`."),
    ("ReadsInput", "input() waits for someone to type, but a game runs on the server, where "
                   "nobody types, so the call waits for ever. A player's move arrives in move() "
                   "as the dict `args`"),
    ("SetInState", 'state()["counter"] is a set'),
    ("ListState", "state() must return a dict, not list."),
    ("TupleState", "state() must return a dict, not tuple. A comma after the closing brace "
                   "makes one: `return {...},` gives a tuple holding your dict."),
    ("RaisesInMove", "made your code fail with KeyError: 'missing key'"),
    ("MisspeltAttribute", "object has no attribute 'turnn': your game has no self.turnn. Is "
                          "it misspelt? Your game has self.turn. Fix that line."),
    ("NeverSetAttribute", "your game has no self.moves_made. Set it in __init__ "
                          "(self.moves_made = ...) before any method uses it. Fix that line."),
    ("EndlessState", "state() took longer than 0.3 s"),
    ("ListsRejectedMove", "listed {'add': 3}, but move() rejected it"),
    ("AcceptsUnlistedMove", "was accepted for player 0, but legal_moves(0) did not list it"),
    ("NeverEnds", "still not over after 2000 moves"),
    ("Stuck", "nobody can move and the game is stuck"),
    ("Leaky", "is 'secret of player"),
    ("EmptyLegalMoves", "returned an empty list although player 0 may move now"),
    ("Renamed", "Its name 'a/b' is not a Python identifier of at most 100 characters (it is "
                "the class's name: do not set __name__)."),
    ("StateWithoutPlayer", "The server calls state() with the player's id, but your state() "
                           "cannot take that: begin it with `def state(self, player_id):`."),
    ("MoveReturnsTrue", "returned True, but the server takes any value other than None (or "
                        "False) as the reason a move is refused, and True gives no reason. "
                        "Return nothing (None) when the move is fine and done"),
    ("SharedLog", "The class attribute log changed while games were played: it belongs to "
                  "the class, so every game on the server shares that one list"),
    ("DefaultHistory", "The default value of history in __init__() changed while games were "
                       "played: Python makes a default value once, so every game shares that "
                       "one list, and one game's changes show in the next. Write "
                       "history=None, and in __init__(): `if history is None: history = []`."),
])
def test_each_defect_is_reported_in_plain_words(name: str, expected: str) -> None:
    report = run_check(name)
    assert not report.ok
    assert any(expected in problem for problem in report.problems), report.problems
    for problem in report.found:  # issue 17, point 10: the file (and line) to look at
        line = r"" if name == "Misnamed" else r":\d+"  # built without a class statement
        assert re.fullmatch(rf"\S*defective_games\.py{line}", problem.where), problem


def test_a_text_from_game_over_is_one_problem_not_two() -> None:
    # 'no' is true: every game was over at once, and "over right after a restart" followed.
    assert len(run_check("NonBoolGameOver").found) == 1


def test_the_line_that_hides_a_method_or_reads_the_keyboard_is_named() -> None:
    for name, code in (("ShadowedMove", "self.move = None"), ("ReadsInput", "input(")):
        problems = run_check(name).found
        assert len(problems) == 1, problems  # not played: every move would fail (or wait)
        path, line = problems[0].where.rsplit(":", 1)
        assert code in (DATA / "defective_games.py").read_text().splitlines()[int(line) - 1]


def test_a_missing_method_is_not_guessed_from_one_the_game_needs_as_it_is() -> None:
    problems = [problem.text for problem in run_check("NoGameOver").found]
    assert problems == ["Your class has no method 'game_over', which every game needs. Add it "
                        "to your class, beginning with `def game_over(self):`."], problems


def test_a_call_stopped_in_time_names_the_line_it_was_running() -> None:
    # As LocalSession does: the student is shown the line of the endless loop.
    problem = next(p for p in run_check("EndlessState").problems if "took longer" in p)
    assert re.search(r"in file \S*defective_games\.py, line \d+: `(while True:|pass)`",
                     problem), problem


def test_an_exception_comes_with_the_traceback_of_the_game_code() -> None:
    problem = run_check("RaisesInMove").problems[0]
    assert "defective_games.py" in problem and "Traceback" in problem
    assert "guard.py" not in problem  # only the author's own code


@pytest.mark.parametrize("game_class", BUNDLED_GAMES, ids=lambda c: c.__name__)
def test_every_bundled_game_passes(game_class) -> None:
    # time_limit: no bundled game's call is slow, but a full suite under heavy load once
    # saw Chat's state() pass the default 2 s.
    report = check.check_game(game_class, seed=11, games=30, time_budget=3.0, time_limit=30.0)
    assert report.ok, report.problems


def test_command_exit_codes_and_output(capsys) -> None:
    assert check.main([str(ROOT / "gameserver/games/tictactoe.py"), "--seed", "3"]) == 0
    assert "TicTacToe passed every check." in capsys.readouterr().out
    assert check.main(["tests.data.defective_games", "--game", "Leaky", "--games", "5"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM" in out and "--seed" in out
    assert check.main([str(DATA / "mixed_games/syntax_error.py")]) == 1
    out = capsys.readouterr().out
    assert "syntax_error.py:4: syntax error" in out
    assert out.endswith("(fix that line, then run the check again)\n")  # no server to restart
    assert check.main([str(DATA / "mixed_games/duplicate.py"), "--game", "Nope"]) == 1
    assert "no game found" in capsys.readouterr().out
    assert check.main(["no/such/file.py"]) == 1
    assert "no such file" in capsys.readouterr().out


def test_a_file_not_where_it_was_given_is_looked_for_below(tmp_path: Path, capsys,
                                                            monkeypatch) -> None:
    """The server's hint for a game whose file failed to load names the file alone
    (``python3 -m gameserver check 'my_race.py'``: a reply may not say where the server's
    folders are), and the student runs it in the repository's folder, one above
    ``mygames/``: the check said "no such file" and nothing more. So for a folder given
    ("no such file", which was not even true) and a class's name. Now each names the
    command for the file meant, and that command works."""
    games = tmp_path / "mygames"
    games.mkdir()
    (games / "my_race.py").write_text((DATA / "classic_games/coin.py").read_text())
    (games / "test_my_race.py").write_text("")  # a test file is no game to name
    monkeypatch.chdir(tmp_path)
    command = "python3 -m gameserver check mygames/my_race.py\n"
    for target, said in [
        ("my_race.py", "my_race.py: no such file here; a file of that name is in mygames: "
                       + command),
        ("mygames", "mygames is a folder, not a game file: the check takes one game file "
                    "at a time: " + command),
        ("CoinGuess", "cannot import module CoinGuess: ModuleNotFoundError: No module named "
                      "'CoinGuess'; the check takes the game's file, and class CoinGuess is "
                      "in mygames/my_race.py: " + command),
        ("mygames/my_rase.py", "mygames/my_rase.py: no such file; did you mean "
                               "mygames/my_race.py?\n"),
        ("Nope", "cannot import module Nope: ModuleNotFoundError: No module named 'Nope'; "
                 "the check takes a game's file (python3 -m gameserver check "
                 "mygames/my_game.py) or module (games.my_game)\n"),
    ]:
        assert check.main([target]) == 1
        assert capsys.readouterr().out == "PROBLEM  " + said
    assert check.main(["mygames/my_race.py", "--games", "5"]) == 0
    assert "CoinGuess passed every check." in capsys.readouterr().out


def test_the_look_below_is_bounded(tmp_path: Path, capsys, monkeypatch) -> None:
    """The look for the file meant goes two folders down and through at most 2,000
    entries, and reads regular files only: a check run in a home folder, in a folder that
    holds a link to itself or a pipe, answers at once, and says no more than it found."""
    (tmp_path / "loop").symlink_to(tmp_path)  # loop/loop/loop/... for ever
    os.mkfifo(tmp_path / "pipe.py")  # read for its class lines, it would never end
    done = subprocess.run([sys.executable, "-m", "gameserver", "check", "Endless"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1 and "or module (games.my_game)" in done.stdout, done
    (tmp_path / "b" / "c" / "d").mkdir(parents=True)
    (tmp_path / "b" / "c" / "d" / "far.py").write_text("")  # three folders down
    monkeypatch.chdir(tmp_path)
    assert check.main(["far.py"]) == 1
    assert capsys.readouterr().out == "PROBLEM  far.py: no such file\n"
    (tmp_path / "b" / "near.py").write_text("")
    assert check.main(["near.py"]) == 1
    assert capsys.readouterr().out == ("PROBLEM  near.py: no such file here; a file of that "
                                       "name is in b: python3 -m gameserver check b/near.py "
                                       "(also: loop/b/near.py)\n")
    # A folder the look may not enter (PermissionError) or a name too long for the system
    # (OSError): Path.exists raises there; the problem is said all the same, no traceback.
    assert check.main(["x" * 5000 + ".py"]) == 1
    assert capsys.readouterr().out == f"PROBLEM  {'x' * 5000}.py: File name too long\n"
    for n in range(2100):
        (tmp_path / f"a{n:04}.txt").write_text("")
    assert check.main(["near.py"]) == 1  # behind the 2,000 entries of this folder
    assert capsys.readouterr().out == "PROBLEM  near.py: no such file\n"


def test_runs_as_python_dash_m_gameserver_check() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gameserver", "check", "tests/data/classic_games/coin.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CoinGuess passed every check." in result.stdout


STUBBORN = """from gameserver.game import AbstractGame


class Stubborn(AbstractGame):
    def __init__(self, players):
        self.turn = 0

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return [0]

    def game_over(self):
        return False

    def state(self, player_id):
        return {"turn": self.turn}

    def legal_moves(self, player_id):
        return [{"n": 1}]

    def move(self, move, player_id):
        while True:
            try:
                while self.turn >= 0:  # waits for a change that never comes
                    pass
            except:
                print("try again")
"""


def check_never_ending(tmp_path: Path, name: str, source: str) -> str:
    """Run the checker's command on ``source`` (a game whose call never ends), saved as
    ``name`` in ``tmp_path``; its output, spaces folded, once it has ended with code 1."""
    (tmp_path / name).write_text(source)
    result = subprocess.run(
        [sys.executable, "-m", "gameserver", "check", name, "--seed", "1"],
        # A hang guard under the 300 s of every test: the checker reports the call once it
        # has run (or waited) 2 s after its stop (``guard._went_on``), which on a loaded
        # vCPU took longer than the 120 s this was (the loop still printing "try again").
        cwd=tmp_path, capture_output=True, text=True, timeout=280)
    assert result.returncode == 1, result.stdout + result.stderr
    return " ".join(result.stdout.split())


def test_a_call_that_catches_its_interruption_is_reported_and_the_check_ends(
        tmp_path: Path) -> None:
    """A bare ``except:`` in a loop catches the checker's stop: the checker said nothing
    and ran for ever (nothing ends that call); now it reports it and exits."""
    out = check_never_ending(tmp_path, "stubborn.py", STUBBORN)
    line = next(n for n, text in enumerate(STUBBORN.splitlines(), 1) if "never comes" in text)
    assert (f"PROBLEM stubborn.py:{line}: move() never returned: the checker stopped it after "
            "2 s, but it went on running, so your code caught the stop. A bare `except:`") in out
    assert f"It was running line {line}: `while self.turn >= 0:" in out
    assert "Stubborn: 1 problem(s)." in out


# Stubborn's class, whose move waits for ever in C code (a time.sleep under another name).
SLEEPY = ("from time import sleep as pause\n\n" + STUBBORN.split("    def move")[0]
          .replace("Stubborn", "Sleepy") + """\
    def move(self, move, player_id):
        pause(1000)  # the other player should think it is thinking
""")


def test_a_call_that_waits_for_ever_is_told_to_stop_waiting_not_to_stop_catching(
        tmp_path: Path) -> None:
    """A call blocked in C code (``time.sleep``) meets no stop until it returns: the checker
    reported it after twice its limit as catching its stop ("A bare `except:`...") that
    the game never had. Now it says the call waits, and what to do. (The line names no
    ``sleep(``: the guard saw the thread blocked, as the kernel counts it.)"""
    out = check_never_ending(tmp_path, "sleepy.py", SLEEPY)
    line = next(n for n, text in enumerate(SLEEPY.splitlines(), 1) if "pause(1000)" in text)
    assert (f"PROBLEM sleepy.py:{line}: move() never returned: it has waited longer than "
            "twice the checker's limit of 2 s, and a call that waits cannot be stopped "
            f"before it ends. It was running line {line}: `pause(1000) # the other player "
            "should think it is thinking`. A game must not wait for anything (time.sleep(), "
            "input(), a file or the network): a call into it answers at once.") in out, out
    assert "catch" not in out


# Stubborn's class, whose move installs a profile function and loops at its second move
# (without catching the stop).
PROFILED = ("import sys\n\n\ndef watch(frame, event, arg):\n    return None\n\n\n"
            + STUBBORN.split("    def move")[0].replace("Stubborn", "Profiled")
            .replace("return False", "return self.turn >= 3") + """\
    def move(self, move, player_id):
        sys.setprofile(watch)  # a student's way to see every call
        self.turn += 1
        while self.turn == 2:  # forgot to end this loop
            pass
""")


def test_a_game_that_installs_a_profile_function_is_stopped_and_the_check_goes_on(
        tmp_path: Path) -> None:
    """A student's ``sys.setprofile`` in ``move``, then a loop that never ends: the check
    stops the loop and reports it, then plays on under that profile function. Before
    stop 46 the first call after the stop hung the checker for ever (the guard's
    cancelled timeout left CPython 3.11's eval breaker set: see ``guard._cancel_pending``)."""
    path = tmp_path / "profiled.py"
    path.write_text(PROFILED)
    result = subprocess.run(
        [sys.executable, "-m", "gameserver", "check", str(path), "--seed", "1", "--games", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(n for n, text in enumerate(PROFILED.splitlines(), 1) if "forgot" in text)
    assert ("took longer than 2 s and was stopped (endless loop?) in file profiled.py, "
            f"line {line}: `while self.turn == 2:") in out, out
    assert "(This happened in 2 games.)" in out, out


def test_what_a_game_prints_is_cut_after_a_few_lines_and_says_so(tmp_path: Path) -> None:
    """A game that prints at every move printed thousands of lines over the checker's
    report (2,307 for five short games of 100). Now the first lines are shown, and one line
    says how many more were cut and to take the prints out. A game that prints one endless
    line, or at import time, is cut as well."""
    chatty = tmp_path / "chatty.py"
    chatty.write_text(STUBBORN.replace("class Stubborn", "class Chatty").replace(
        "        while True:", "        self.turn += 1\n        for i in range(3):\n"
        "            print('move', self.turn, i)\n        return None\n        while True:")
        .replace("return False", "return self.turn >= 5").replace(
        '        return {"turn": self.turn}', '        print("state", end=" ")\n'
        '        return {"turn": self.turn}'))
    endless = tmp_path / "endless.py"
    endless.write_text(chatty.read_text().replace("class Chatty", "class Endless").replace(
        "print('move', self.turn, i)", "print('x' * 100_000, end='')")
        .replace("from gameserver.game", "print('rules ' * 100_000)\nfrom gameserver.game"))
    outputs = []
    for path in (chatty, endless):
        result = subprocess.run(
            [sys.executable, "-m", "gameserver", "check", str(path), "--seed", "1"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert result.returncode == 1, result.stdout + result.stderr  # (moves not listed)
        assert "problem(s). Fix them" in result.stdout
        assert len(result.stdout) < 20_000, result.stdout[:3000]
        outputs.append(result.stdout)
    lines = outputs[0].splitlines()
    assert lines[0] == "Checking Chatty (seed 1) ..."
    assert lines[1:4] == ["state move 1 0", "move 1 1", "move 1 2"]
    assert lines[21].startswith("... ") and not lines[20].startswith("... ")
    shown = " ".join(outputs[0].split())
    assert re.search(r"\.\.\. \d{3,} more lines cut \([\d,]+ characters\): only the first 20 "
                     r"lines \(4,000 characters\) your game prints are shown\. Take the "
                     r"print\(\) calls out of your game", shown), shown
    endless = " ".join(outputs[1].split())
    assert endless.count("... 1 more line cut (") == 2, endless  # at import, then checked
    assert "Checking Endless (seed 1) ... state xxx" in endless


PRINTER = STUBBORN.replace("class Stubborn", "class Printer").replace(
    "from gameserver.game import AbstractGame\n", "import sys\n\nfrom gameserver.game import "
    "AbstractGame\n\nprint('rules: count to 5', file=sys.stderr)\n").replace(
    "return False", "return self.turn >= 5").replace(
    '        return {"turn": self.turn}',
    '        sys.stdout.buffer.write(b"caf\\xc3")  # a character written in two halves\n'
    '        sys.stdout.buffer.write(b"\\xa9 " + str(self.turn).encode() + b"\\n")\n'
    '        return {"turn": self.turn}').replace(
    "        while True:", "        if move != {'n': 1}:\n"
    "            return 'the only move is n=1'\n        self.turn += 1\n"
    "        for i in range(3):\n"
    "            print('debug', self.turn, i, file=sys.stderr)\n        return None\n"
    "        while True:")


def test_prints_to_stderr_and_bytes_to_stdout_are_capped_and_work_as_on_the_server(
        tmp_path: Path) -> None:
    """The checker capped a game's prints to stdout only: a game printing to stderr at
    every move printed thousands of lines over the report. And a game writing bytes
    (``sys.stdout.buffer.write``), which works on the server, failed only under the
    check (an AttributeError reported as the game's bug). Now both streams share the
    one cap, as they share one pipe and one budget on the server, and have a buffer."""
    (tmp_path / "printer.py").write_text(PRINTER)
    result = subprocess.run(
        [sys.executable, "-m", "gameserver", "check", str(tmp_path / "printer.py"),
         "--seed", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Printer passed every check." in result.stdout
    assert "AttributeError" not in result.stdout + result.stderr
    errors = result.stderr.splitlines()
    assert errors[0] == "rules: count to 5"  # (at import: a budget of its own)
    printed = errors[1:] + [line for line in result.stdout.splitlines()
                            if line.startswith("caf")]
    assert len(printed) == 20, result.stdout + result.stderr  # (checked: both streams)
    assert "café 0" in result.stdout and errors[1] == "debug 1 0"
    assert re.search(r"\.\.\. \d{3,} more lines cut \([\d,]+ characters\): only the first 20 "
                     r"lines", " ".join(result.stdout.split())), result.stdout


def test_the_capped_buffer_takes_bytes_only_as_a_real_one_does() -> None:
    """An attacker's (or a confused student's) ``sys.stdout.buffer.write(10**9)``: a real
    buffer refuses an int; ``bytes(10**9)`` would have made a gigabyte of zeros."""
    with _check_prints.CappedPrints.around():
        for wrong in (10**9, "text"):
            with pytest.raises(TypeError):
                sys.stdout.buffer.write(wrong)
        assert sys.stderr.buffer.write(bytearray(b"ok\n")) == 3


# ---------------------------------------------------------------- what students do (issue 17)

STUDENTS = DATA / "students"


def check_file(path: Path, capsys, games: int = 30) -> tuple[int, str]:
    """Run the checker's command on ``path``; its exit code and output, spaces folded."""
    code = check.main([str(path), "--seed", "1", "--games", str(games)])
    return code, " ".join(capsys.readouterr().out.split())


def line_of(path: Path, text: str) -> str:
    """``students/file.py:N``: where ``text`` first stands in ``path``, as the checker says it."""
    number = next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)
    return f"{path.name}:{number}:"


def variant(tmp_path: Path, name: str, *changes: tuple[str, str]) -> Path:
    """A copy of a student game with some lines changed, as the student's next attempt."""
    source = (STUDENTS / name).read_text()
    for old, new in changes:
        assert old in source, old
        source = source.replace(old, new)
    path = tmp_path / name
    path.write_text(source)
    return path


def test_a_correct_student_game_with_a_secret_passes(capsys) -> None:
    code, out = check_file(STUDENTS / "code_guess.py", capsys)
    assert code == 0, out
    assert "CodeGuess passed every check." in out and "note" not in out


def test_1_players_who_see_different_states_need_declared_secrets(capsys) -> None:
    path = STUDENTS / "leaked_code.py"
    code, out = check_file(path, capsys)
    assert code == 1
    assert line_of(path, "def state") in out
    assert "Players see different states: state()[\"you_are\"] is 'maker' for player 0" in out
    assert "declares none, so the checker could not check that the secrets stay secret" in out
    assert "add private_data(self, player_id) to your class" in out
    assert " ".join(words.WATCHERS_IF_SECRET.split()) in out
    assert "`hidden_information = False`" in out


def test_1_then_private_data_finds_the_leak_itself(tmp_path: Path, capsys) -> None:
    path = variant(tmp_path, "leaked_code.py", ("    def legal_moves(", (
        "    def private_data(self, player_id):\n"
        "        return [self.code] if player_id == 0 and self.code else []\n\n"
        "    def legal_moves(")))
    code, out = check_file(path, capsys)
    assert code == 1
    assert "Players see different states" not in out
    assert line_of(path, "def state") in out
    assert "Player 1's state()[\"code\"] is [" in out
    assert "which private_data(0) says only player 0 may see. Leave it out of state()" in out


def test_1_a_game_where_everybody_sees_everything_gets_a_note(tmp_path: Path, capsys) -> None:
    path = variant(tmp_path, "leaked_code.py", ('"you_are": role, ', ""))
    code, out = check_file(path, capsys)
    assert code == 0  # nothing tells a secret from public data here: it passes ...
    # ... but the student reads what was not checked, and where to read on.
    assert "note Your game declares no secrets, and every player saw the same state" in out
    assert "read step 6, 'Secrets', in docs/first-game.md" in out


def test_1_a_game_may_say_that_different_states_are_no_secret(tmp_path: Path, capsys) -> None:
    path = variant(tmp_path, "leaked_code.py", ("    def __init__(", (
        "    hidden_information = False\n\n    def __init__(")))
    code, out = check_file(path, capsys)
    assert code == 0, out
    assert "note" not in out


def test_1_secrets_declared_without_private_data_cannot_be_checked(tmp_path: Path,
                                                                   capsys) -> None:
    path = variant(tmp_path, "leaked_code.py", ("    def __init__(", (
        "    hidden_information = True\n\n    def __init__(")))
    code, out = check_file(path, capsys)
    assert code == 0
    assert "says it has secrets (hidden_information = True) but has no private_data" in out
    assert "could not check value by value" in out


def test_2_private_data_that_takes_the_secret_apart(capsys) -> None:
    path = STUDENTS / "public_colours.py"
    code, out = check_file(path, capsys)
    assert code == 1
    assert line_of(path, "def private_data") in out
    assert "state()[\"colours\"]" in out and "one of the values private_data(" in out
    assert "taken apart, and its parts are public anyway" in out
    assert "List the secret as it is, as one value: `return [self.codes[player_id]]`" in out
    assert out.count("PROBLEM") == 1


def test_2_private_data_that_lists_a_public_word(tmp_path: Path, capsys) -> None:
    path = variant(tmp_path, "public_colours.py", (
        "return self.codes[player_id]", "return [self.codes[player_id][0]]"))
    code, out = check_file(path, capsys)
    assert code == 1
    assert line_of(path, "def private_data") in out
    assert "is probably public anyway (it is a fixed value in your code" in out
    assert "private_data should list the secret as it is" in out


def test_2_listing_the_whole_code_passes(tmp_path: Path, capsys) -> None:
    path = variant(tmp_path, "public_colours.py", (
        "return self.codes[player_id]", "return [self.codes[player_id]]"))
    assert check_file(path, capsys)[0] == 0


def test_3_raising_instead_of_returning_is_one_problem_with_the_move(capsys) -> None:
    path = STUDENTS / "raises_value_error.py"
    code, out = check_file(path, capsys, games=100)
    assert code == 1
    assert out.count("PROBLEM") == 1 and out.count("Traceback") == 1
    assert line_of(path, "raise ValueError") + " move({'steps': " in out
    assert "}) raised ValueError: steps must be 1 to 6, not " in out
    assert ("return the message instead of raising it: "
            "`return f\"steps must be 1 to 6, not {steps}\"`") in out
    happened = re.search(r"\(This happened in (\d+) games\.\)", out)
    assert happened and int(happened[1]) > 1


def test_3_a_crash_on_a_bad_move_says_to_check_the_move_first(tmp_path: Path,
                                                              capsys) -> None:
    path = variant(tmp_path, "raises_value_error.py", (
        '        steps = move.get("steps")\n', '        steps = move["steps"]\n'))
    code, out = check_file(path, capsys)
    assert code == 1
    assert line_of(path, 'move["steps"]') in out
    assert "made your code fail with KeyError: 'steps'" in out
    assert "check it before you use it, and return a message" in out


def test_4_the_place_in_the_state_that_cannot_be_sent(capsys) -> None:
    path = STUDENTS / "set_in_state.py"
    code, out = check_file(path, capsys)
    assert code == 1
    assert line_of(path, "def state") in out
    assert "Player 0's state()[\"guesses\"][0][\"pegs\"] is a set" in out
    assert "make it a list, for example sorted(...) or list(...)" in out


class _Board:
    pass


@pytest.mark.parametrize("value, expected", [
    ({"a": [1, {"b": (1, {2})}]}, 'state()["a"][1]["b"][1] is a set'),
    ({"score": float("nan")}, 'state()["score"] is nan, a number JSON cannot send'),
    ({(1, 2): "x"}, "state() has the key (1, 2), a tuple: keys must be text"),
    ({"board": _Board()}, 'state()["board"] is a _Board object'),
    ({"raw": b"x"}, 'state()["raw"] is bytes'),
    ({"fine": [1, "a", None, True, 2.5, {"k": (1, 2)}], "bad": {3}}, 'state()["bad"] is'),
])
def test_4_unsendable_names_the_first_bad_place(value, expected) -> None:
    assert words.unsendable(value).startswith(expected)


def test_4_a_state_that_contains_itself() -> None:
    state: dict = {"me": []}
    state["me"].append(state)
    assert words.unsendable(state) == ('state()["me"][0] contains itself, which cannot be '
                                       "sent: put a copy in the state.")
    assert words.unsendable({"fine": [1, 2]}) is None


def test_5_state_without_return(capsys) -> None:
    path = STUDENTS / "forgot_return.py"
    code, out = check_file(path, capsys)
    assert code == 1
    assert line_of(path, "def state") in out
    assert "state() must return a dict, not None. Did you forget `return`?" in out


def test_5_game_over_without_return(tmp_path: Path, capsys) -> None:
    path = variant(tmp_path, "forgot_return.py", (
        "        return self.left == 0\n", "        self.left == 0\n"))
    code, out = check_file(path, capsys)
    assert code == 1
    assert line_of(path, "def game_over") in out
    assert "game_over() must return True or False, not None (NoneType). Did you forget" in out


def test_super_init_is_harmless(capsys) -> None:
    code, out = check_file(STUDENTS / "super_init.py", capsys)
    assert code == 0, out


@pytest.mark.parametrize("path", sorted(STUDENTS.glob("*.py")), ids=lambda p: p.name)
def test_10_every_problem_names_the_file_and_line(path: Path, capsys) -> None:
    check.main([str(path), "--seed", "3", "--games", "20"])
    problems = [line for line in capsys.readouterr().out.splitlines()
                if line.startswith("  PROBLEM  ")]
    for problem in problems:
        where = re.match(r"  PROBLEM  (\S+\.py):(\d+): ", problem)
        assert where and where[1].endswith(path.name), problem
        assert int(where[2]) <= len(path.read_text().splitlines())


def test_a_seed_repeats_a_run_of_a_game_that_draws_random_numbers(capsys) -> None:
    """ColourCode deals random codes: the same --seed gives the same report."""
    runs = [check_file(STUDENTS / "public_colours.py", capsys) for _ in range(2)]
    assert runs[0] == runs[1] and "This happened in" in runs[0][1]


def test_a_copy_of_the_template_not_renamed_is_a_problem(tmp_path: Path, capsys) -> None:
    """Step 1 of docs/first-game.md skipped: the game plays fine, and the server would skip
    its file and offer the bundled NumberRace instead: not "passed every check"."""
    copy = tmp_path / "my_race.py"
    copy.write_text((ROOT / "gameserver/games/template.py").read_text())
    line = copy.read_text().splitlines().index("class NumberRace(AbstractGame):") + 1
    assert check.main([str(copy), "--seed", "3", "--games", "5"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert (f"my_race.py:{line}: Your class is called NumberRace, like a game that comes with the "
            "server (gameserver/games/template.py), so the server skips your file") in out
    assert "Rename your class, for example `class MyNumberRace(AbstractGame):`" in out
    # The bundled file itself, checked by its path, is that game: no problem.
    assert check.main([str(ROOT / "gameserver/games/template.py"), "--seed", "3",
                       "--games", "5"]) == 0


def test_a_run_cut_short_by_its_time_says_so_and_names_only_what_it_played() -> None:
    """A game that prints thousands of lines a move played one game in the check's time and
    was told "played 1 games with 2 and 3 and 4 players ... passed every check"."""
    report = check.check_game(defective_games.Good, seed=7, games=30, time_budget=0.0)
    assert report.ok, report.problems
    low = defective_games.Good.min_players()
    assert report.notes[0].startswith(f"played 1 game with {low} players using legal_moves")
    (remark,) = [r for r in report.remarks if "could be played" in r]
    assert remark.startswith("Only 1 game of 30 could be played in the 0 s the check takes")
    assert "A print() in a loop" in remark


class LargeState(defective_games.Good):
    """A game that sends every player a long text in its state (``size`` bytes)."""

    size = 0

    def state(self, player_id):
        return {"counter": self.counter, "my_secret": self.secrets[player_id],
                "log": "x" * self.size}


def test_a_state_larger_than_the_server_sends_is_a_problem_with_its_bound_and_size() -> None:
    """A 30 MB state passed the check (the checker plays in its own process, unbounded) and
    its only note blamed print(); on the server a game from the games folder runs in a worker
    process, which refuses a state over ``_channel.STATE_MAX``: every state request failed."""
    from gameserver import _channel

    big = type("BigState", (LargeState,), {"size": _channel.STATE_MAX + 2**20})
    report = check.check_game(big, seed=7, games=30, time_budget=30.0)
    (problem,) = report.found
    text = " ".join(str(problem).split())
    assert problem.games == 1  # the check ends there: each game would repeat it, slowly
    assert "Player 0's state is 17 MB once sent, more than the 16 MB the server sends of " \
        "one state" in text
    assert f"{_channel.STATE_MAX // 2**20} MB" in text  # the worker's bound, not a copy
    assert 'Most of it is state()["log"] (17 MB)' in text
    assert "Return from state() only what a player needs to see now" in text
    assert problem.where == words.method_line(big, "state")
    assert not any("print()" in r for r in report.remarks)


def test_a_run_slowed_by_large_states_names_them_not_prints() -> None:
    """A state of megabytes makes every move slow: the time note says so, not "a print()"."""
    large = type("LargeState2", (LargeState,), {"size": 2 * 2**20})
    report = check.check_game(large, seed=7, games=30, time_budget=0.0)
    assert report.ok, report.problems
    (remark,) = [r for r in report.remarks if "could be played" in r]
    assert "Your states are large (up to 2.0 MB once sent)" in remark
    assert "print()" not in remark


def template_variant(tmp_path: Path, *changes: tuple[str, str]) -> Path:
    """docs/first-game.md's step 1 done (the template copied, its class renamed MyRace),
    then a beginner's mistake: ``changes`` made to the copy."""
    source = (ROOT / "gameserver/games/template.py").read_text().replace(
        "class NumberRace(AbstractGame):", "class MyRace(AbstractGame):")
    for old, new in changes:
        assert old in source, old
        source = source.replace(old, new)
    path = tmp_path / "my_race.py"
    path.write_text(source)
    return path


def test_a_turn_never_passed_on_is_a_problem_saying_how_to_pass_it(tmp_path: Path,
                                                                   capsys) -> None:
    """A first-term student forgets to pass the turn on: player 0 makes every move, and
    the game ends all the same; "MyRace passed every check"."""
    path = template_variant(tmp_path, ("            self.turn = (self.turn + 1) % self.players\n",
                                       "            pass\n"))
    code, out = check_file(path, capsys)
    assert code == 1
    assert line_of(path, "def current_player") + " In " in out
    assert re.search(r"In \d+ games with 2 players, player 1 never had a turn: "
                     r"current_player\(\) only ever named player 0\. Does move\(\) pass the "
                     r"turn on\?", out)
    assert "`self.turn = (self.turn + 1) % self.players`" in out
    # With 3 players: players 1 and 2 (one problem: the first player count that shows it).
    assert out.count("never had a turn") == 1
    assert words.never_on_turn([1, 2], [0], 3, 5).startswith(
        "In 5 games with 3 players, players 1 and 2 never had a turn: current_player() only "
        "ever named player 0.")


def test_a_key_none_in_the_state_is_a_problem_saying_what_the_client_gets(
        tmp_path: Path, capsys) -> None:
    """``{self.winner: "won"}`` before anyone won: the state has the key None, which JSON
    sends as "null"; it passed every check, and the client found no key None."""
    path = template_variant(tmp_path, ('''            "winner": self.winner,
''', '''            "winner": self.winner,
            "result": {self.winner: "won"},
'''))
    code, out = check_file(path, capsys)
    assert code == 1
    assert (line_of(path, "def state") + " Player 0's state()[\"result\"] has the key None, "
            "which JSON sends as the text \"null\": the client gets the key \"null\", and no "
            "key None.") in out
    assert out.count("PROBLEM") == 1
    # A key "null" the game wrote as text is no problem; True and False are.
    assert words.converted_key({"null": {"true": 1}}) is None
    assert words.converted_key({"a": [{True: 1}]}).startswith(
        'state()["a"][0] has the key True, which JSON sends as the text "true"')


def test_a_number_as_a_state_key_is_a_warning_saying_the_client_gets_text(
        tmp_path: Path, capsys) -> None:
    """``{0: 12, 1: 7}`` (scores by player id) passed every check, and the client found the
    keys "0" and "1": its ``state["scores"][0]`` was a KeyError the student could not
    explain. Now a warning (the game works; the exit code stays 0) says what arrives and
    what to do; a text key of digits the game wrote itself is none."""
    path = template_variant(tmp_path, ('''            "winner": self.winner,
''', '''            "winner": self.winner,
            "moves": {p: 0 for p in range(self.players)},
'''))
    code, out = check_file(path, capsys)
    assert code == 0, out
    assert (f"{line_of(path, 'def state')} Player 0's state()[\"moves\"] has the key "
            "0, a number, but JSON sends every key as text: the client gets the key \"0\" and "
            "no key 0, so `state[\"moves\"][\"0\"]` works and `state[\"moves\"][0]` is a "
            "KeyError. Use text keys (str(player_id))") in out, out
    assert out.count("warning ") == 1 and "MyRace passed every check." in out
    path = template_variant(tmp_path, ('''            "winner": self.winner,
''', '''            "winner": self.winner,
            "moves": {str(p): 0 for p in range(self.players)},
'''))
    code, out = check_file(path, capsys)
    assert code == 0 and "warning" not in out, out


def test_a_sleep_in_move_is_told_to_go_not_called_an_endless_loop() -> None:
    """``time.sleep(3)`` in move() (to make the game feel real) was reported "(endless
    loop?) ... Look for a loop that never stops", and the time note blamed print(). (The
    words only: a sleep is stopped when it ends, and a test does not wait for one.)"""
    stopped = ("move() took longer than 2 s and was stopped (endless loop?) in file "
               "mygames/my_race.py, line 142: `time.sleep(3)`")
    assert words.too_slow(stopped) == (
        ". time.sleep() makes your game wait, and every player with it: a game answers at "
        "once. Take the sleep out (a client may wait between moves, if it wants to).")
    assert check._out_of_time(0, 20, 8, 3.0, calls_stopped=True) == (
        "Only 0 games of 20 could be played in the 8 s the check takes: a game took about "
        "3 s. Calls into your game ran out of time: see the problem above.")
    # A loop: where to look, and the server's own limit.
    assert words.too_slow("... line 12: `while x < 100:`") == (
        ". Look for a loop that never stops, or work that takes too long (trying every "
        "possible move many times over): a call into your game may take at most 5 s on the "
        "server (its game_call_timeout), less in the check.")


@pytest.mark.parametrize("draw", ["random.seed()\n        self.counter = random.randint(0, 5)",
                                  "self.counter = random.Random().randint(0, 5)"])
def test_randomness_of_its_own_is_found_by_playing_a_game_again(tmp_path: Path, capsys,
                                                                draw: str) -> None:
    """A game that seeds the random module itself, or makes a generator of its own, passed
    every check; the server, which brings a saved game back by playing its moves again
    from its seed, could not, and `check --seed` did not repeat a run."""
    path = template_variant(tmp_path, ("        self.counter = 0\n",
                                       f"        import random\n        {draw}\n"))
    code, out = check_file(path, capsys)
    assert code == 1
    assert (line_of(path, "def __init__") + " A new game made twice from the same seed "
            "started differently (player 0's first state differed).") in out
    assert "Call the random module's functions directly (random.randint(1, 6), " in out
    assert "and do not seed them: the server seeds them for each game." in out


def test_a_game_that_plays_differently_the_second_time_names_the_move() -> None:
    assert words.not_replayable((3, {"roll": True}, {"status": "ok", "data": None},
                                 {"status": "illegalmove", "message": "game: no"})).startswith(
        "A game played again from its seed with the same moves came out differently: move 3, "
        "{'roll': True}, got 'ok' the first time and 'game: no' the second. The server saves "
        "a game as its seed and its moves")


class StateRaises(defective_games.Good):
    def state(self, player_id):
        return {"counter": self.counter, "last": [list(m) for m in [self.counter]]}


def test_an_exception_in_another_method_than_move_says_to_fix_that_line() -> None:
    """``state() raised TypeError: 'int' object is not iterable`` was all a student read
    (what went wrong, not what to do), where a move's failure said to fix the line."""
    report = check.check_game(StateRaises, seed=7, games=5, time_budget=3.0)
    (problem,) = report.found
    assert problem.text == ("state() raised TypeError: 'int' object is not iterable. Fix that "
                            "line; the traceback below shows how your code got there.")
    assert problem.where.endswith(":" + str(StateRaises.state.__code__.co_firstlineno + 1))


def test_a_problem_of_the_learning_hooks_names_the_line_to_look_at(tmp_path: Path,
                                                                   capsys) -> None:
    """``rl_observation changed the state it was given`` came without a file and line,
    as the only problem of the report that had none."""
    path = template_variant(tmp_path, (
        '        return [int(state["counter"] == number) for number in range(TARGET + 1)]',
        '        state["counter"] += 1\n'
        '        return [int(state["counter"] == number + 1) for number in range(TARGET + 1)]'))
    code, out = check_file(path, capsys)
    assert code == 1
    named = re.search(r"my_race\.py:(\d+): rl_observation changed the state it was given", out)
    line = int(line_of(path, "def rl_observation").split(":")[1])
    assert named and int(named[1]) in (line - 1, line)  # (its @staticmethod line, or its def)


def test_a_misspelt_name_outside_move_is_named_as_such() -> None:
    """An AttributeError in state() (``self.countr``) got "Fix that line" alone; move()'s
    got the name it meant. Now every method's does, as LocalSession's note says it."""
    from gameserver.games.template import NumberRace

    class Misspelt(NumberRace):
        def state(self, player_id):
            return {"counter": self.countr}

    report = check.check_game(Misspelt, 1, games=2)
    assert any("state() raised AttributeError: 'Misspelt' object has no attribute 'countr'. "
               "Your game has no self.countr. Is it misspelt? Your game has self.counter. Fix "
               "that line." in problem for problem in report.problems), report.problems


# A first-term student's slips in the template (docs/first-game.md, step 2), each with
# what the checker said before (the advice did not fit) and what it says now.
SLIPS = [
    # "return 'ok'" for a good move: every move was refused, and the checker said to list
    # only the moves move() accepts.
    ("returned_ok", ("        return None\n\n    # Step 9", '        return "ok"\n\n    # Step 9'),
     "returned 'ok', as if the move were fine, but the server takes any text move() returns "
     "as the reason the move is refused: the player gets the error 'game: ok', and the move "
     "is refused. Return nothing (None, or no `return` at all) when the move is fine"),
    # move.add for move["add"]: "A move comes from a player and may be anything".
    ("dot", ('        amount = move["add"]', "        amount = move.add"),
     "AttributeError: 'dict' object has no attribute 'add'. A dict's values are read with "
     "[...], not with a dot: the move is a dict, so write `move[\"add\"]` (or "
     "`move.get(\"add\")` where it may be missing), not `move.add`. Fix that line."),
    # A forgotten self.: "Fix that line" alone.
    ("no_self", ("        self.counter = self.counter + amount",
                 "        counter = counter + amount"),
     "UnboundLocalError: cannot access local variable 'counter' where it is not associated "
     "with a value. Your game keeps counter as self.counter: write `self.counter` there"),
    # The parameters the other way round: "A move comes from a player and may be anything".
    ("swapped", ("    def move(self, move: dict, player_id: int) -> str | None:",
                 "    def move(self, player_id, move):"),
     "The server calls move() with the move (a dict) first, then the player's id, but your "
     "move() names them the other way round (player_id, move): your move gets the player's "
     "id. Begin it with `def move(self, move, player_id):`."),
    # players taken for a list: "Fix that line" alone.
    ("players_list", ("        self.players = players\n",
                      "        self.players = players\n        self.first = players[0]\n"),
     "__init__() raised TypeError: 'int' object is not subscriptable. `players` is the number "
     "of players (an int, for example 2), not a list of them: the players' ids are 0 to "
     "players - 1, `range(players)`."),
    # A state that is a list: the server's words alone.
    ("state_list", ("    def state(self, player_id: int) -> dict:\n        return {",
                    "    def state(self, player_id: int) -> dict:\n"
                    "        return [self.counter, self.winner]\n        {"),
     "state() must return a dict, not list. Put what a player sees in a dict, a name for each "
     "part, for example `return {\"board\": self.board, \"winner\": self.winner}`"),
]


@pytest.mark.parametrize(("change", "said"), [slip[1:] for slip in SLIPS],
                         ids=[slip[0] for slip in SLIPS])
def test_a_beginners_slip_is_told_what_to_change(tmp_path: Path, capsys,
                                                 change: tuple[str, str], said: str) -> None:
    """Found following docs/first-game.md as a first-term student: each of these slips got
    advice that did not fit (or none); now the checker says what to change."""
    code, out = check_file(template_variant(tmp_path, change), capsys, games=5)
    assert code == 1
    assert said in out, out
    assert "may be anything" not in out and "list only moves" not in out
