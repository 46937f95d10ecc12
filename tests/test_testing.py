"""gameserver.testing.LocalSession: the server's rules, in-process."""

from __future__ import annotations

import subprocess
import sys
import traceback
import warnings
from pathlib import Path

import pytest

from gameserver import _check_words as words
from gameserver.games.nim import Nim
from gameserver.games.tictactoe import TicTacToe
from gameserver.testing import GameServerError, IllegalMove, LocalSession
from tests import test_check
from tests.data.review.games import NaNState, StaleCurrent


def test_what_is_not_a_game_class_is_refused_saying_what_to_pass() -> None:
    """``LocalSession(MyRace(2), ...)`` and ``LocalSession("MyRace", ...)`` failed with
    ``'MyRace' object has no attribute '__name__'``, and then once more as the object was
    collected ("Exception ignored in: LocalSession.__del__")."""
    with pytest.raises(TypeError, match=r"^LocalSession takes your game's class \(such as "
                       r"MyRace\), not a game made from it \(Nim\(\.\.\.\)\): pass the "
                       "class itself, Nim, without parentheses; LocalSession makes the game$"):
        LocalSession(Nim(2), players=2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"not the text 'Nim': import the class from its file "
                       r"\(from my_race import MyRace\) and pass that$"):
        LocalSession("Nim", players=2)  # type: ignore[arg-type]
    script = ("from gameserver.testing import LocalSession\n"
              "try:\n    LocalSession('Nim', 2)\nexcept TypeError:\n    pass\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0 and done.stderr == ""  # nothing more when it is collected


def test_player_count_errors_match_the_server_word_for_word() -> None:
    with pytest.raises(GameServerError) as err:
        LocalSession(TicTacToe, 3)
    assert str(err.value) == ("framework: invalid number of players: TicTacToe is played by "
                              "exactly 2 players, not 3")


def test_current_is_empty_once_the_game_is_over_whatever_the_game_says() -> None:
    session = LocalSession(StaleCurrent, 1)
    assert session.current == [0]
    session.move(0, end=True)
    assert session.state(0) == {"over": True, "current": [], "gameover": True}
    assert session.legal_moves(0) == []


def test_nan_is_not_json() -> None:
    session = LocalSession(NaNState, 1)
    with pytest.raises(GameServerError, match=r"state\(\) returned something that cannot be "
                                              r"sent as JSON"):
        session.state(0)


def test_except_illegal_move_works_alike_in_tests_and_in_clients() -> None:
    """A student tests with LocalSession, then plays through game_server_api (issue 16)."""
    import game_server_api

    assert IllegalMove is game_server_api.IllegalMove
    assert GameServerError is game_server_api.GameServerError
    session = LocalSession(Nim, 2)
    try:
        session.move(0, heap=0, take=10)
    except game_server_api.IllegalMove as err:  # what the student's client catches
        assert str(err) == "game: heap 0 has only 3 objects left: take fewer"
    else:
        raise AssertionError("taking 10 of 3 was accepted")
    with pytest.raises(game_server_api.GameServerError, match="not your turn"):
        session.move(1, heap=0, take=1)


def test_a_move_that_returns_true_says_what_to_return_instead() -> None:
    """"return True" for a good move gave ``IllegalMove: True``, no word of what to fix.
    It stays the rejection a player gets (PROTOCOL.md: any JSON value); the error's note,
    printed under it in a traceback, says what happened and what to return."""
    session = LocalSession(test_check.defective_games.MoveReturnsTrue, 2)
    with pytest.raises(IllegalMove) as err:
        session.move(0, add=1)
    assert err.value.args == (True,)
    assert err.value.__notes__[0].startswith(
        "Your move() returned True, but the server takes any value other than None")
    assert "Return nothing (None) when the move is fine" in err.value.__notes__[0]
    assert "Return nothing (None)" in "".join(traceback.format_exception(err.value))
    assert session.current == [1]  # the game made the move before it said True
    session.move(1, add=3)  # its False still accepts


class _Beginner(Nim):
    """Nim with a beginner's state(): what ``mistake`` says."""

    mistake = ""

    def state(self, player_id: int) -> dict:  # type: ignore[override]
        if self.mistake == "no return":
            {"heaps": self.heaps}  # noqa: B018 (the mistake)
            return None  # type: ignore[return-value]
        if self.mistake == "set":
            return {"heaps": self.heaps, "taken": {1, 2}}
        if self.mistake == "tuple key":
            return {"heaps": self.heaps, (0, 1): "corner"}
        return super().state(player_id)


@pytest.mark.parametrize(("mistake", "message", "note"), [
    ("no return", "state() must return a dict, not NoneType",
     "Did you forget `return`? A method without `return` gives None: end it with `return "
     "...` and the value."),
    ("set", "(Object of type set is not JSON serializable)",
     "Player 1's state()[\"taken\"] is a set, and JSON has no sets: make it a list, for "
     "example sorted(...) or list(...)."),
    ("tuple key", "(keys must be str, int, float, bool or None, not tuple)",
     "Player 1's state() has the key (0, 1), a tuple: keys must be text (str), for example "
     "str(key).")])
def test_a_state_of_the_wrong_kind_says_what_to_fix_as_the_checker_does(
        mistake: str, message: str, note: str) -> None:
    """A student's test met the server's words alone (``... not NoneType``, ``Object of
    type set is not JSON serializable``): what went wrong, not what to change, which
    ``check`` says. The error's message stays the server's; its note says what to fix."""
    session = LocalSession(_Beginner, 2)
    session.game.mistake = mistake
    with pytest.raises(GameServerError) as err:
        session.state(1)
    assert str(err.value).startswith("framework: game _Beginner: state() ")
    assert str(err.value).endswith(message)
    assert err.value.__notes__ == [note]
    assert note in "".join(traceback.format_exception(err.value))


def test_a_move_that_raises_says_to_return_the_message_as_the_checker_does() -> None:
    """``raise ValueError("steps must be 1 to 6")`` in move(): the checker said to return
    the message instead; a student's test met the server's words alone (``move() raised
    ValueError: ...``). The note is the checker's, with the line to change."""
    sys.path.insert(0, str(test_check.STUDENTS))
    try:
        from raises_value_error import DiceRace
    finally:
        sys.path.remove(str(test_check.STUDENTS))
    path = test_check.STUDENTS / "raises_value_error.py"
    session = LocalSession(DiceRace, 2)
    with pytest.raises(GameServerError) as err:
        session.move(0, steps=9)
    assert str(err.value) == ("framework: game DiceRace: move() raised ValueError: steps must "
                              "be 1 to 6, not 9")
    (note,) = err.value.__notes__
    line = test_check.line_of(path, "raise ValueError").split(":")[1]
    assert note.startswith(f"{words.shown_path(str(path))}:{line}: move({{'steps': 9}}) "
                           "raised ValueError: steps must be 1 to 6, not 9. A bad move must "
                           "not raise an exception: return the message instead of raising "
                           "it: `return f\"steps must be 1 to 6, not {steps}\"`.")

    class Unchecked(DiceRace):
        def move(self, move, player_id):
            self.positions[player_id] += move["steps"]

    # A move the code uses before checking it: check it first, as the checker says.
    with pytest.raises(GameServerError) as err:
        LocalSession(Unchecked, 2).move(0, step=1)
    (note,) = err.value.__notes__
    assert note.startswith(f"{words.shown_path(__file__)}:")
    assert "move({'step': 1}) made your code fail with KeyError: 'steps'." in note
    assert "check it before you use it" in note


def test_an_exception_outside_move_comes_with_the_checkers_advice_and_the_games_traceback(
        ) -> None:
    """An exception in state(), current_player() or __init__ gave the server's one line and
    no note (only move() had one): the student's test showed the test's traceback, not the
    game's, and nothing said what to change. Now the note has the file and line, the
    checker's advice (a misspelt name), and the game's own traceback."""
    from gameserver.games.template import NumberRace

    class Misspelt(NumberRace):
        def state(self, player_id):
            return {"counter": self.countr}  # the line

    class Unset(NumberRace):
        def __init__(self, players):
            super().__init__(players)
            self.board = [0] * self.size  # the line

    class NoOrder(NumberRace):
        def current_player(self):
            return [self.order[self.turn]]  # the line

    class Keyed(NumberRace):
        def state(self, player_id):
            return {"counter": {}["counter"]}  # the line

    class Comma(NumberRace):
        def state(self, player_id):
            return {"counter": self.counter},

    def note(make_and_use) -> str:
        with pytest.raises(GameServerError) as err:
            make_and_use()
        (found,) = err.value.__notes__
        return found

    def place(game: type) -> str:
        lines, first = __import__("inspect").getsourcelines(game)
        line = first + next(n for n, text in enumerate(lines) if "# the line" in text)
        return f"{words.shown_path(__file__)}:{line}: "

    found = note(lambda: LocalSession(Misspelt, 2).state(0))
    assert found.startswith(place(Misspelt) + "Your game has no self.countr. Is it misspelt? "
                            "Your game has self.counter. Fix that line.\nTraceback")
    assert 'return {"counter": self.countr}' in found and "guard.py" not in found
    assert note(lambda: LocalSession(Unset, 2)).startswith(
        place(Unset) + "Your game has no self.size. Set it in __init__ (self.size = ...) "
        "before any method uses it. Fix that line.\nTraceback")
    assert note(lambda: LocalSession(NoOrder, 2).move(0, add=1)).startswith(
        place(NoOrder) + "Your game has no self.order.")
    assert note(lambda: LocalSession(Keyed, 2).state(0)).startswith(
        place(Keyed) + words.FIX_THAT_LINE + "\nTraceback")
    assert note(lambda: LocalSession(Comma, 2).state(1)) == (
        "A comma after the closing brace makes one: `return {...},` gives a tuple holding "
        "your dict. Take the comma out.")

    class Listed(NumberRace):
        def state(self, player_id):
            return [self.counter, self.winner]

    class Forgot(NumberRace):
        def state(self, player_id):
            {"counter": self.counter}  # noqa: B018 - the forgotten return

    assert note(lambda: LocalSession(Listed, 2).state(0)).startswith(
        "Put what a player sees in a dict, a name for each part, for example `return "
        '{"board": self.board, "winner": self.winner}`')
    assert note(lambda: LocalSession(Forgot, 2).state(0)).startswith("Did you forget `return`?")


def test_a_number_as_a_state_key_arrives_as_text_with_a_warning_once() -> None:
    """A state ``{"scores": {0: 3}}`` reaches a client as ``{"scores": {"0": 3}}`` (JSON keys
    are text); LocalSession gives what a client gets, and a student's ``state["scores"][0]``
    was a KeyError with nothing to say why. Now the first such state of a session comes
    with a warning, at the line of the student's test, saying what arrives and what to do."""
    from gameserver.games.template import NumberRace

    class Scored(NumberRace):
        def state(self, player_id):
            return {"scores": {p: 0 for p in range(self.players)}}

    session = LocalSession(Scored, 2)
    with pytest.warns(UserWarning) as told:
        assert session.state(1)["scores"] == {"0": 0, "1": 0}  # as a client gets it
    (warning,) = told
    assert str(warning.message).startswith(
        "Player 1's state()[\"scores\"] has the key 0, a number, but JSON sends every key as "
        "text: the client gets the key \"0\" and no key 0")
    assert warning.filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session.state(0)  # once a session
        LocalSession(NumberRace, 2).state(0)  # none for a game without


def test_a_beginners_slips_in_a_test_and_in_move_are_told_what_to_change() -> None:
    """``session.move(0, 3)`` failed with "'int' object is not a mapping"; a move() that
    returns "ok" for a good move raised IllegalMove('game: ok') with no word on why;
    ``def move(self, player_id, move):`` made the game's code fail with a TypeError whose
    note said to check the move. Now each says what to change, as the checker does."""
    from gameserver.games.template import NumberRace

    with pytest.raises(TypeError, match=r"move\(0, 3\): give the move as keywords, as a client "
                       r"does, for example session.move\(0, add=3\)"):
        LocalSession(NumberRace, 2).move(0, 3)

    class SaysOk(NumberRace):
        def move(self, move, player_id):
            super().move(move, player_id)
            return "OK."

    with pytest.raises(IllegalMove) as refused:
        LocalSession(SaysOk, 2).move(0, add=1)
    assert refused.value.__notes__ == [
        "Your move() " + words.returned_accepted("OK.")]
    assert refused.value.__notes__[0].startswith("Your move() returned 'OK.', as if the move "
                                                 "were fine, but the server takes any text")

    class Swapped(NumberRace):
        def move(self, player_id, move):
            return super().move(move, player_id)

    with pytest.raises(GameServerError) as failed:
        LocalSession(Swapped, 2).move(0, add=1)
    assert failed.value.__notes__ == [
        "The server calls move() with the move (a dict) first, then the player's id, but your "
        "move() names them the other way round (player_id, move): your move gets the "
        "player's id. Begin it with `def move(self, move, player_id):`."]


# ---------------------------------------------------------------- a call that never returns

# The checker's stubborn game (a bare except: in a loop), with the RL hooks for gameserver.rl.
STUBBORN = test_check.STUBBORN + """
    rl_moves = [{"n": 1}]
    rl_observation_shape = (1,)

    @staticmethod
    def rl_observation(state, player_id):
        return [0]
"""

STUBBORN_TEST = '''
from gameserver.testing import LocalSession
from stubborn import Stubborn


def test_it_moves():
    LocalSession(Stubborn, 1, time_limit=0.2).move(0, n=1)
'''


def run_stuck(tmp_path: Path, *args: str) -> tuple[int, str]:
    """Run ``args`` by Python in ``tmp_path`` (holding stubborn.py); exit code and output."""
    (tmp_path / "stubborn.py").write_text(STUBBORN)
    result = subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    return result.returncode, " ".join((result.stdout + result.stderr).split())


def stuck_message(setting: str) -> str:
    line = next(n for n, text in enumerate(STUBBORN.splitlines(), 1) if "never comes" in text)
    return (f"gameserver: game Stubborn: move() never returned: it ran longer than the time "
            f"limit of 0.2 s ({setting}) and was stopped, but it went on running, so your code "
            "caught the stop. A bare `except:` (or `except BaseException:`) in a loop that does "
            f"not end does that. It was running stubborn.py:{line}: `while self.turn >= 0:")


def test_a_call_that_catches_its_stop_ends_a_script_with_a_message(tmp_path: Path) -> None:
    """A bare ``except:`` in a loop caught the interruption and LocalSession hung for
    ever, silently; now the process ends (exit code 1) saying which call, why, and where."""
    code, out = run_stuck(tmp_path, "-c", "from gameserver.testing import LocalSession\n"
                          "from stubborn import Stubborn\n"
                          "LocalSession(Stubborn, 1, time_limit=0.2).move(0, n=1)\n"
                          "print('came back')")
    assert code == 1, out
    assert stuck_message("LocalSession(..., time_limit=0.2)") in out
    assert "Nothing else can end that call, so this program ends here." in out
    assert "came back" not in out


def test_a_call_that_catches_its_stop_ends_pytest_with_the_message_shown(
        tmp_path: Path) -> None:
    """Under pytest (which captures a test's output into a file it reads after the test)
    the message reaches the terminal instead of vanishing with the process."""
    (tmp_path / "test_stubborn.py").write_text(STUBBORN_TEST)
    code, out = run_stuck(tmp_path, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "test_stubborn.py")
    assert code == 1, out
    assert stuck_message("LocalSession(..., time_limit=0.2)") in out


def test_a_call_that_sleeps_past_its_limit_ends_a_script_saying_to_take_the_sleep_out(
        tmp_path: Path) -> None:
    """``time.sleep(1000)`` in move(): no stop reaches a sleeping call, and the process
    ended saying the game "caught the stop" with a bare ``except:`` it did not have. Now
    the message says the call waits, names the sleep and says to take it out."""
    sleepy = STUBBORN.replace("from gameserver.game", "import time\nfrom gameserver.game")
    sleepy = sleepy.split("    def move")[0] + (
        "    def move(self, move, player_id):\n        time.sleep(1000)\n")
    (tmp_path / "sleepy.py").write_text(sleepy.replace("Stubborn", "Sleepy"))
    result = subprocess.run([sys.executable, "-c", "from gameserver.testing import LocalSession\n"
                             "from sleepy import Sleepy\n"
                             "LocalSession(Sleepy, 1, time_limit=0.2).move(0, n=1)\n"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    out = " ".join(result.stderr.split())
    assert result.returncode == 1, out
    assert ("gameserver: game Sleepy: move() never returned: it has waited longer than twice "
            "the time limit of 0.2 s (LocalSession(..., time_limit=0.2)), and a call that "
            "waits cannot be stopped before it ends. It was running sleepy.py:") in out, out
    assert (": `time.sleep(1000)`. time.sleep() makes your game wait, and every player with "
            "it: a game answers at once. Take the sleep out (a client may wait between moves, "
            "if it wants to). Nothing else can end that call, so this program ends here.") in out
    assert "catch" not in out


# ---------------------------------------------------------------- a call stopped in time

BROKEN = Path(__file__).parent / "data" / "broken" / "broken_game.py"  # state() can loop


def test_a_call_stopped_in_time_names_the_students_line() -> None:
    """The message named the method and the limit, not where the game was stuck: the
    student had to guess which loop. Now the line of the game's own file that ran, not
    a framework line."""
    from gameserver import registry
    (broken,) = registry.load_target(str(BROKEN))
    lines = BROKEN.read_text().splitlines()
    loop = next(n for n, text in enumerate(lines, 1) if "while True:" in text)
    session = LocalSession(broken, 1, time_limit=0.2)
    try:
        session.move(0, {"break": "loop"})  # (its state is asked for after the move)
        with pytest.raises(GameServerError) as stopped:
            session.state(0)
    finally:
        session.close()
    shown = f"{BROKEN.relative_to(Path.cwd())}" if BROKEN.is_relative_to(Path.cwd()) else BROKEN
    assert str(stopped.value) in (
        "framework: game BrokenGame: state() took longer than 0.2 s and was stopped (endless "
        f"loop?) in file {shown}, line {n}: `{lines[n - 1].strip()}`" for n in (loop, loop + 1))
    # ... and what to do, as the checker says it.
    assert stopped.value.__notes__ == [
        "Look for a loop that never stops, or work that takes too long (trying every possible "
        "move many times over): a call into your game may take at most 5 s on the server (its "
        "game_call_timeout), less in the check."]


def test_a_seed_deals_the_same_cards_in_every_run() -> None:
    """A student's test of a card game could not say which cards a player holds: every
    session dealt fresh ones. ``seed=`` makes the first game's random numbers repeat, as
    ``check --seed`` does."""
    from gameserver.games.crazy_eights import CrazyEights

    hands = [LocalSession(CrazyEights, 2, seed=seed).state(0)["hand"] for seed in (7, 7, 8)]
    assert hands[0] == hands[1] != hands[2]
