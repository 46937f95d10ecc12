"""Loading games: bundled ones, game folders, classic game files, broken files."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gameserver import _check_target, _import_limit, _no_such_game, registry
from gameserver.games import BUNDLED_GAMES
from tests.serverproc import ServerProcess
from tests.wire import Player

DATA = Path(__file__).parent / "data"


def test_bundled_games_are_registered_by_class_name() -> None:
    games = registry.discover([])
    assert {"Echo", "TicTacToe", "Chat", "Yahtzee"} <= set(games)
    assert set(games) == {cls.__name__ for cls in BUNDLED_GAMES}


def test_a_misspelt_method_is_named_in_the_line_that_skips_the_game(tmp_path: Path,
                                                                     caplog) -> None:
    """The teacher's log told a class's author only what was missing; ``check`` also said
    which of their methods to rename. Now the log does too (and neither guesses a method
    the game needs as it is: ``move`` is close to ``game_over`` by spelling)."""
    source = (DATA / "mixed_games" / "no_move.py").read_text()
    (tmp_path / "typo.py").write_text(source.replace("class NoMove", "class Typo").replace(
        "    def game_over(self):", "    def moves(self, move, player_id):\n"
                                   "        return None\n\n    def gameover(self):"))
    caplog.set_level(logging.INFO, logger="gameserver")
    assert "Typo" not in registry.discover([str(tmp_path)], bundled=False)
    (skipped,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert skipped.endswith("typo.py:4: class Typo does not define move, game_over (every "
                            "game must define __init__, min_players, max_players, "
                            "current_player, move, game_over, state). You wrote a method "
                            "called 'moves': rename it to 'move'. You wrote a method called "
                            "'gameover': rename it to 'game_over'."), skipped


def test_a_file_without_a_game_and_a_guessed_import_are_told_what_to_write(
        tmp_path: Path, caplog) -> None:
    """A class that forgot its base class was not offered, and nothing said so: clients
    got "no such game". A guess at the base class's module said only what was missing."""
    source = (DATA / "mixed_games" / "no_move.py").read_text()
    (tmp_path / "plain.py").write_text(source.replace("class NoMove(AbstractGame):",
                                                      "class Plain:"))
    (tmp_path / "guessed.py").write_text(source.replace("from gameserver import",
                                                        "from game import"))
    caplog.set_level(logging.INFO, logger="gameserver")
    assert registry.discover([str(tmp_path)], bundled=False) == {}
    told = {r.levelname: r.getMessage() for r in caplog.records}
    assert told["WARNING"] == (f"game file {tmp_path / 'plain.py'}: no game in it: a game is "
                               "a class that inherits from AbstractGame (class "
                               "MyGame(AbstractGame): ...). A file of helpers for other games "
                               "may ignore this")
    assert told["ERROR"].endswith("guessed.py:1: importing the file raised "
                                  "ModuleNotFoundError: No module named 'game' (import the "
                                  "base class with: from gameserver.game import AbstractGame)")


def test_bundled_games_can_be_switched_off() -> None:
    games = registry.discover([str(DATA / "classic_games")], bundled=False)
    assert list(games) == ["CoinGuess"]


def test_a_broken_folder_loads_the_good_games_and_logs_one_line_per_problem(caplog) -> None:
    caplog.set_level(logging.INFO, logger="gameserver")
    games = registry.discover([str(DATA / "mixed_games")])
    assert "CoinGuess" in games and "Counter" in games
    assert "NoMove" not in games and "Oops" not in games and "NotStatic" not in games
    assert games["Echo"] in BUNDLED_GAMES  # the duplicate did not replace the bundled one
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 4, errors
    static = next(e for e in errors if "NotStatic" in e)
    assert "not_static.py:4: min_players() cannot be called on the class" in static
    assert "put @staticmethod on the line above it" in static
    syntax = next(e for e in errors if "syntax_error.py" in e)
    assert "syntax_error.py:4: syntax error" in syntax
    assert syntax.endswith("(fix that line, then restart the server)")  # as check does not
    missing = next(e for e in errors if "NoMove" in e)
    assert "no_move.py:4: class NoMove does not define move" in missing
    duplicate = next(e for e in errors if "duplicate.py" in e)
    assert "the server already has a game called Echo (echo.py comes with it)" in duplicate


def test_import_errors_name_the_file_and_line(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="gameserver")
    (tmp_path / "crash.py").write_text("x = 1\nraise RuntimeError('boom at import')\n")
    games = registry.discover([str(tmp_path)], bundled=False)
    assert games == {}
    assert "crash.py:2: importing the file raised RuntimeError: boom at import" in caplog.text


def test_a_missing_folder_is_an_error() -> None:
    with pytest.raises(registry.GameLoadError, match="^games folder /no/such/folder "
                       r"\(games_dirs\) does not exist or is not a folder"):
        registry.discover(["/no/such/folder"], bundled=False)


def test_select_keeps_named_games_and_rejects_unknown_names() -> None:
    games = registry.discover([])
    assert list(registry.select(games, ["TicTacToe"])) == ["TicTacToe"]
    assert registry.select(games, []) == games
    with pytest.raises(registry.GameLoadError,
                       match=r"unknown game\(s\) Nope \(found: .*Chat, .*Echo"):
        registry.select(games, ["Nope"])


def test_module_names_of_game_files_are_stable(tmp_path: Path) -> None:
    """The store pickles game objects by module name: it must not change between starts."""
    import sys

    folder = tmp_path / "games"
    folder.mkdir()
    (folder / "coin.py").write_text((DATA / "classic_games" / "coin.py").read_text())
    first = registry.discover([str(folder)], bundled=False)["CoinGuess"].__module__
    sys.modules["unrelated_module_loaded_meanwhile"] = sys  # changes len(sys.modules)
    try:
        again = registry.discover([str(folder)], bundled=False)["CoinGuess"].__module__
    finally:
        del sys.modules["unrelated_module_loaded_meanwhile"]
    assert first == again


def test_test_files_next_to_the_games_are_never_loaded(tmp_path: Path, caplog) -> None:
    """The guide has students keep their tests in the games folder (issue 17, point 6)."""
    caplog.set_level(logging.DEBUG, logger="gameserver")
    shutil.copy(DATA / "students" / "code_guess.py", tmp_path)
    student_test = ("import pytest\nfrom code_guess import CodeGuess\n\n\n"
                    "def test_it():\n    assert CodeGuess.min_players() == 2\n")
    for name in ("test_code_guess.py", "code_guess_test.py", "conftest.py"):
        (tmp_path / name).write_text(student_test)
    games = registry.discover([str(tmp_path)], bundled=False)
    assert list(games) == ["CodeGuess"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    skipped = [r.getMessage() for r in caplog.records if "a test file, not a game" in
               r.getMessage()]
    assert len(skipped) == 3 and all(r.levelno == logging.DEBUG for r in caplog.records
                                     if "a test file" in r.getMessage())
    assert any("test_code_guess.py skipped" in line for line in skipped)


def test_a_game_file_that_only_looks_like_a_test_is_loaded(tmp_path: Path) -> None:
    for name in ("testgame.py", "contest.py", "my_tests.py"):
        source = (DATA / "classic_games" / "coin.py").read_text()
        (tmp_path / name).write_text(source.replace("CoinGuess", name[:-3].title()))
    assert sorted(registry.discover([str(tmp_path)], bundled=False)) == [
        "Contest", "My_Tests", "Testgame"]


def test_game_classes_of_a_file_and_of_a_module_are_found_alike() -> None:
    by_file = registry.load_target(str(DATA / "review" / "games.py"))
    by_module = registry.load_target("tests.data.review.games")
    assert [c.__name__ for c in by_file] == [c.__name__ for c in by_module]
    assert "AbstractGame" not in [c.__name__ for c in by_module]  # imported, not defined
    with pytest.raises(registry.GameLoadError, match="no such file"):
        registry.load_target("no/such/game.py")
    with pytest.raises(registry.GameLoadError, match="cannot import module no.such.module"):
        registry.load_target("no.such.module")


def test_a_game_file_that_is_not_a_regular_file_is_skipped(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture,
                                                           ) -> None:
    """A pipe named like a game file: importing it (``--isolate-games off``) waited for
    ever, and the server never started. A folder so named is no file either."""
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "folder.py").mkdir()
    (tmp_path / "game.py").write_text("")
    with caplog.at_level(logging.ERROR, "gameserver.registry"):
        assert registry.game_files([str(tmp_path)]) == [(tmp_path / "game.py").resolve()]
    assert sorted(r.getMessage() for r in caplog.records) == [
        f"{tmp_path / name} skipped: not a regular file (a folder, a pipe, a device?)"
        for name in ("folder.py", "pipe.py")]


@pytest.mark.parametrize("isolate", ["folder", "off"])
def test_a_missing_games_folder_is_an_error_naming_it_wherever_it_is_met(
        tmp_path: Path, isolate: str) -> None:
    """The settings' check refuses it at start; a server built from settings that were
    not checked (a program embedding it), or a folder gone since, logged it and started
    without its games: every join of them failed."""
    from gameserver.config import ConfigError, Settings
    from gameserver.server import GameServer
    missing = str(tmp_path / "gmaes")
    message = (f"games folder {missing} (games_dirs) does not exist or is not a folder: "
               "give the folder that holds the game files")
    settings = Settings(port=0, web=False, store=False, games_dirs=[str(tmp_path), missing],
                        isolate_games=isolate)
    with pytest.raises(registry.GameLoadError) as refused:
        GameServer(settings)
    assert str(refused.value) == message
    with pytest.raises(ConfigError) as checked:
        settings.check()
    assert str(checked.value) == message
    (tmp_path / "file").write_text("")
    with pytest.raises(registry.GameLoadError, match="^games folder .*file \\(games_dirs\\)"):
        registry.game_files([str(tmp_path / "file")])


def test_a_copy_of_the_template_not_renamed_is_told_to_rename_its_class(
        tmp_path: Path, make_server, caplog) -> None:
    """A student who skipped step 1 of docs/first-game.md: the server offers the bundled
    NumberRace, and the log line said the name was 'already loaded from ?'."""
    caplog.set_level(logging.ERROR, logger="gameserver")
    template = Path(registry.__file__).parent / "games" / "template.py"
    (tmp_path / "my_race.py").write_text(template.read_text())
    make_server(games_dirs=[str(tmp_path)])
    (skipped,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped == (f"game NumberRace skipped: {tmp_path / 'my_race.py'}: the server "
                       "already has a game called NumberRace (template.py comes with it): "
                       "rename the class in your file (docs/first-game.md, step 1)")


def test_no_such_game_says_a_class_was_not_loaded_and_never_names_its_file(
        tmp_path: Path) -> None:
    """``unloaded_games`` and ``no_such_game_hint``: which requested names "no such game"
    says could not be loaded (the rule docs/first-game.md, step 4, gives), read from the
    files as text. The hint named the file to any client that guessed a class's name,
    and a student's name may be in it; said "failed to load" for a class skipped in a file
    whose other games loaded; and gave a client who misspelt a game that loaded
    (``tictactoe``) the hint of a broken file of a similar name (``tic_tac_toe.py``), as
    if the game it wanted were broken."""
    (tmp_path / "ada_lovelace_race.py").write_text(
        "class MyRace(AbstractGame)\n    pass\n")  # a syntax error
    (tmp_path / "pair.py").write_text("class Works(AbstractGame):\n    pass\n\n"
                                      "class Skipped(gameserver.AbstractGame):\n    pass\n\n"
                                      "class Board:\n    pass\n")
    (tmp_path / "tic_tac_toe.py").write_text("raise SystemExit\n")  # no class line
    (tmp_path / "long.py").write_text(f"class {'L' * 101}(AbstractGame): ...\nraise SystemExit\n")
    files = registry.game_files([str(tmp_path)])
    offered = {"Works": str(tmp_path / "pair.py"), "TicTacToe": "gameserver.games.tictactoe"}
    unloaded = _no_such_game.unloaded_games(files, offered)
    assert unloaded == {"MyRace": False, "Skipped": True}

    def hint(name: str) -> str:
        return _no_such_game.no_such_game_hint(name, offered, unloaded)

    where = (": the file's author finds why in the server's log, in the section 'Game code' "
             "of the dashboard's lobby page, or by running python3 -m gameserver check on "
             "that file")
    failed = ("a game file of the server's games folder defines a class 'MyRace', but the "
              "server could not load any game from that file" + where)
    assert hint("MyRace") == "; " + failed
    assert hint("Skipped") == (
        "; a game file of the server's games folder defines a game class 'Skipped', but the "
        "server skipped that class (it loaded the file's other games)" + where)
    letter = "; a game's name is its class's name, letter for letter"
    assert hint("my_race") == hint("MYRACE") == f"{letter}, and {failed}"
    assert hint("tictactoe") == hint("Tic_Tac_Toe") == f"{letter}: did you mean 'TicTacToe'?"
    assert hint("works") == f"{letter}: did you mean 'Works'?"
    assert hint("Board") == hint("Pair") == hint("Nope") == ""
    assert hint("AdaLovelaceRace") == hint("ada_lovelace_race") == ""  # a file's name: no game
    assert not any(".py" in hint(name) or "ada" in hint(name).casefold()
                   for name in ("MyRace", "myrace", "Skipped"))


def test_a_class_named_in_any_language_is_found_by_both_hints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A game's name may be any Python identifier (``Ärgerspiel``): the lobby's hint read
    a file's class names as starting with an ASCII letter and said nothing of a broken
    file's ``Ärgerspiel``, while ``check Ärgerspiel`` found the file (two readings of
    the same ``class`` lines; now one, ``registry.class_lines``)."""
    (tmp_path / "aerger.py").write_text(
        "class Ärgerspiel(AbstractGame)\n    pass\n", encoding="utf-8")  # a syntax error
    (tmp_path / "elan.py").write_text("class Élan:\n    pass\n", encoding="utf-8")
    assert registry.class_lines(tmp_path / "aerger.py") == [("Ärgerspiel", "(AbstractGame)")]
    assert registry.class_lines(tmp_path / "missing.py") == []
    unloaded = _no_such_game.unloaded_games(registry.game_files([str(tmp_path)]), {})
    assert unloaded == {"Ärgerspiel": False, "Élan": False}
    assert "defines a class 'Ärgerspiel'" in _no_such_game.no_such_game_hint(
        "Ärgerspiel", [], unloaded)
    monkeypatch.chdir(tmp_path)
    assert _check_target.hint("Ärgerspiel") == (
        "; the check takes the game's file, and class Ärgerspiel is in aerger.py: "
        "python3 -m gameserver check aerger.py")


# Game files whose import does not end, each with the line it stays on (marked "here").
ENDLESS_IMPORTS = {
    "looper.py": "import math\n\nwhile math.pi: pass  # here (one line: wherever it stops)\n",
    "sleeper.py": "import time\n\ntime.sleep(1000)  # here\n",
    "catcher.py": ("class Catcher:\n    while True:\n        try:\n"
                   "            while True: pass  # here\n"
                   "        except BaseException:\n            pass\n"),
}


def _line_marked(text: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if "# here" in line)


def test_a_game_file_whose_import_never_ends_does_not_hold_the_servers_start(
        tmp_path: Path) -> None:
    """With ``isolate_games = "off"`` the server imports the games folder's files itself,
    and a student's file with an endless loop at its top (or in a class body), a
    ``time.sleep`` or a loop that catches every exception held its start for ever,
    saying nothing. Now each import has ``game_import_timeout`` (at least twice a game
    call's limit), tried first in a process of its own: each is one log line naming its
    file and line, and the server starts with the other games."""
    for name in ENDLESS_IMPORTS:
        (tmp_path / name).write_text(ENDLESS_IMPORTS[name])
    shutil.copy(DATA / "tracer_games" / "tracer.py", tmp_path)
    with ServerProcess("--isolate-games", "off", "--games-dir", str(tmp_path),
                       "--game-call-timeout", "0.5", "--game-import-timeout", "1") as server:
        player = Player(server.port, "Tracer", "after", 1)
        assert player.join()["status"] == "ok"
        assert player.move(do="nothing")["status"] == "ok"
        log = server.log
    path = tmp_path.resolve()
    for name, text in ENDLESS_IMPORTS.items():
        assert (f"game file skipped: {path / name}:{_line_marked(text)}: importing the file "
                "took longer than 1 s and was stopped (an endless loop at the file's top "
                "level or in a class body, or a call that waits: time.sleep, input()?). It "
                "was imported in a process of its own first, which was ended: nothing of it "
                "runs in the server.") in log, log


def test_a_game_file_that_catches_its_stop_does_not_run_on_in_the_server(
        tmp_path: Path) -> None:
    """A file whose import was given up (it catches every exception and loops) ran on in a
    daemon thread of the server, costing a CPU for ever. Now the server imports a file
    itself only once its import ended in a throw-away process: each time it runs, the
    file writes down the process it runs in, and the server's is never among them."""
    ran = tmp_path / "ran_in.txt"
    (tmp_path / "stubborn.py").write_text(
        "import os\n"
        f"with open({str(ran)!r}, 'a') as out:\n"
        "    out.write(f'{os.getpid()}\\n')\n"
        "while True:\n"
        "    try:\n"
        "        while True: pass\n"
        "    except BaseException:\n"
        "        pass\n")
    shutil.copy(DATA / "tracer_games" / "tracer.py", tmp_path)
    with ServerProcess("--isolate-games", "off", "--games-dir", str(tmp_path),
                       "--game-call-timeout", "0.5", "--game-import-timeout", "1") as server:
        assert Player(server.port, "Tracer", "after", 1).join()["status"] == "ok"
        assert server.proc is not None
        server_pid = server.proc.pid
        log = server.log  # (the server imports its games before it listens)
    assert "stubborn.py:6: importing the file took longer than 1 s" in log, log
    pids = ran.read_text().split()
    assert pids and str(server_pid) not in pids, (pids, server_pid)


def test_a_game_file_that_ends_its_process_as_it_loads_does_not_end_the_server(
        tmp_path: Path) -> None:
    """``os._exit`` at a file's top level ended the server (``isolate_games = "off"``);
    its trial import ends a throw-away process instead, and the file is skipped."""
    (tmp_path / "quitter.py").write_text("import os\nos._exit(3)\n")
    shutil.copy(DATA / "tracer_games" / "tracer.py", tmp_path)
    with ServerProcess("--isolate-games", "off", "--games-dir", str(tmp_path)) as server:
        assert Player(server.port, "Tracer", "after", 1).join()["status"] == "ok"
        log = server.log
    assert (f"{tmp_path.resolve() / 'quitter.py'}: importing the file ended the process that "
            "imported it (exit status 3: ") in log, log


def test_the_files_of_a_folder_are_tried_in_one_process_and_a_new_one_after_a_failure(
        tmp_path: Path) -> None:
    """With ``isolate_games = "off"`` each file was tried in a throw-away process of its
    own (a fresh interpreter, about 0.1 s, and the file's imports, per file). All are
    tried in one process now, in the server's order; a file that overruns or ends that
    process fails alone, and the files after it are tried in a new one (a file that
    failed after others is tried once more alone first, to be sure it was its own
    doing). Each file writes down the process it runs in: five trial processes for five
    files with two failures after others (five before, and as many with no failure),
    each working file once in a trial and once in the server."""
    ran = tmp_path / "ran_in.txt"
    note = (f"import os\nwith open({str(ran)!r}, 'a') as out:\n"
            "    out.write(f'{os.getpid()} {__file__}\\n')\n")
    source = (DATA / "tracer_games" / "tracer.py").read_text()
    for name, rest in [("a_first", ""), ("b_looper", "while True: pass  # here\n"),
                       ("c_middle", ""), ("d_quitter", "os._exit(3)\n"), ("e_last", "")]:
        game = source.replace("class Tracer(", f"class {name.title().replace('_', '')}(")
        (tmp_path / f"{name}.py").write_text(note + rest if rest else game + note)
    with ServerProcess("--isolate-games", "off", "--games-dir", str(tmp_path),
                       "--game-call-timeout", "0.5", "--game-import-timeout", "1") as server:
        for game in ("AFirst", "CMiddle", "ELast"):
            assert Player(server.port, game, "after", 1).join()["status"] == "ok", game
        assert server.proc is not None
        server_pid = str(server.proc.pid)
        log = server.log
    assert "b_looper.py:4: importing the file took longer than 1 s" in log, log
    assert "d_quitter.py: importing the file ended the process that imported it" in log, log
    runs = [(pid, Path(file).stem) for pid, file in
            (line.split(" ", 1) for line in ran.read_text().splitlines())]
    trials = [(pid, file) for pid, file in runs if pid != server_pid]
    assert sorted(file for pid, file in runs if pid == server_pid) == [
        "a_first", "c_middle", "e_last"], runs
    assert [file for _, file in trials] == ["a_first", "b_looper", "b_looper", "c_middle",
                                            "d_quitter", "d_quitter", "e_last"], runs
    processes = [pid for pid, _ in trials]
    assert processes[0] == processes[1] and processes[3] == processes[4], runs
    assert len(set(processes)) == 5, runs


def test_a_file_is_not_blamed_for_what_a_file_before_it_left_running(
        tmp_path: Path) -> None:
    """All the files are tried in one process: a thread the first left behind ended the
    process (``os._exit``) during the second's import, and the second was reported as
    "importing the file ended the process" and skipped. A file that fails after others
    is tried again alone: the second passes."""
    first = tmp_path / "a_leaves_a_timer.py"
    first.write_text("import os, threading\nthreading.Timer(0.3, os._exit, (4,)).start()\n")
    second = tmp_path / "b_slow.py"
    second.write_text("import time\nend = time.monotonic() + 1\n"
                      "while time.monotonic() < end:\n    pass\n")
    failed = _import_limit.trial_imports([first, second], 5.0)
    assert second not in failed, failed
    # Alone, a file that ends its process fails as before.
    quitter = tmp_path / "c_quits.py"
    quitter.write_text("import os\nos._exit(3)\n")
    failed = _import_limit.trial_imports([second, quitter], 5.0)
    assert list(failed) == [quitter] and failed[quitter].how == "exit status 3", failed


def test_a_folder_whose_paths_pass_the_command_lines_bound_is_tried(
        tmp_path: Path) -> None:
    """The trial's files go on its command line: 600 files of paths of about 3,800 bytes
    (2.3 MB) made its start fail with "Argument list too long", and the server's with it.
    A trial process takes ``TRIAL_FILES_MAX`` files at most."""
    folder = tmp_path
    for level in range(15):
        folder = folder / f"{level:02d}{'d' * 248}"
    folder.mkdir(parents=True)
    files = [folder / f"g{number:03d}.py" for number in range(600)]
    for file in files:
        file.write_text("VALUE = 1\n")
    files.append(folder / "quits.py")
    files[-1].write_text("import os\nos._exit(3)\n")
    assert sum(len(str(file)) + 1 for file in files) > 2 * 1024 * 1024
    assert list(_import_limit.trial_imports(files, 5.0)) == [files[-1]]


def test_a_file_that_cancels_its_trials_timer_and_forges_its_marks_is_stopped_in_time(
        tmp_path: Path) -> None:
    """The trial's timer ends a file's import at the limit; a file can cancel it
    (``faulthandler``) and write the trial's marks itself, with the descriptor it finds
    in ``sys.argv``. The server then ends the trial at the limit and a little more from
    the last mark that came in order: a file that sleeps and writes "this file begins
    again" for ever does not hold the start (it would, if any mark moved the deadline),
    and the file after it is tried in a new process and loads."""
    (tmp_path / "a_forger.py").write_text(
        "import faulthandler, os, sys, time\n"
        "faulthandler.cancel_dump_traceback_later()\n"
        "while True:\n"
        "    os.write(int(sys.argv[2]), b'\\ngameserver-trial-start 0\\n')\n"
        "    time.sleep(0.05)\n")
    shutil.copy(DATA / "tracer_games" / "tracer.py", tmp_path)
    with ServerProcess("--isolate-games", "off", "--games-dir", str(tmp_path),
                       "--game-call-timeout", "0.5", "--game-import-timeout", "1") as server:
        assert Player(server.port, "Tracer", "after", 1).join()["status"] == "ok"
        log = server.log
    assert (f"{tmp_path.resolve() / 'a_forger.py'}:?: importing the file took longer than "
            "1 s and was stopped") in log, log


def test_a_file_that_forges_the_mark_of_its_imports_end_fails_its_trial(
        tmp_path: Path) -> None:
    """The trial's marks were known text, and the descriptor they go to is in the trial's
    ``sys.argv``: a file wrote "this file's import ended" itself, then ended the process
    (``os._exit``) or ran on past the limit, and passed, to be imported by the server
    (which it would end, or hold a CPU of for ever). A mark now carries a secret the
    file is not given (not in ``sys.argv``, nor its environment, nor its standard input,
    whose pipe the trial closed): the forgers fail, each as what it did."""
    forge = (
        "import faulthandler, os, sys\n"
        "faulthandler.cancel_dump_traceback_later()\n"
        "fd = int(sys.argv[2])\n"
        "secret = os.read(0, 100) + os.environ.get('GAMESERVER_TRIAL', '').encode()\n"
        "for text in [b'start 0', b'ended 0', b'start 1', b'ended 1'] + sys.argv[1:]:\n"
        "    text = text if isinstance(text, bytes) else text.encode()\n"
        "    os.write(fd, b'\\ngameserver-trial-' + text + b'\\n')\n"
        "    os.write(fd, b'\\ngameserver-trial-' + secret + b'-' + text + b'\\n')\n")
    quitter = tmp_path / "a_quits.py"
    quitter.write_text(forge + "os._exit(0)\n")
    looper = tmp_path / "b_loops.py"
    looper.write_text(forge + "while True:\n    pass\n")
    failed = _import_limit.trial_imports([quitter, looper], 1.0)
    assert sorted(failed) == [quitter, looper], failed
    assert not failed[quitter].overran and failed[quitter].how == "exit status 0", failed
    assert failed[looper].overran, failed


def test_a_file_whose_dump_at_the_limit_is_large_is_said_to_overrun(tmp_path: Path) -> None:
    """At the limit the trial dumps every thread's stack and ends the process (status
    1); the dump was kept to its last 64 KB, and one larger (a file that left many
    threads deep in calls, then looped) lost its first line, "Timeout (": the file was
    said to have ended the process itself ("os._exit, a signal, or a crash"), which
    sent its author looking for the wrong thing. It overran now, at its loop's line."""
    path = tmp_path / "many_threads.py"
    path.write_text(
        "import threading\n"
        "held = threading.Event()\n"
        "def deep_call_with_a_long_name_to_fill_the_dump(depth):\n"
        "    if depth:\n"
        "        return deep_call_with_a_long_name_to_fill_the_dump(depth - 1)\n"
        "    held.wait()\n"
        "for _ in range(40):\n"
        "    threading.Thread(target=deep_call_with_a_long_name_to_fill_the_dump,\n"
        "                     args=(95,), daemon=True).start()\n"
        "while True:  # here\n"
        "    pass\n")
    failed = _import_limit.trial_imports([path], 1.0)
    assert list(failed) == [path] and failed[path].overran, failed
    assert failed[path].line == 10, failed
    message = str(registry._trial_failed(path, failed[path], 1.0))
    assert message.startswith(f"{path}:10: importing the file took longer than 1 s"), message


def test_a_slow_import_within_the_limit_loads_in_check_and_in_the_server(
        tmp_path: Path) -> None:
    """``check`` gave a file's import 4 s (twice its call limit), the server in-process
    twice ``game_call_timeout``, a worker 20 s: a file whose top level legitimately
    takes long (a cold ``import numpy``) failed ``check`` as "an endless loop?" although
    a worker loaded it. One rule now (``_import_limit.import_limit``, 20 s by default):
    a top level that takes 4.5 s loads in ``check`` and in the server itself (as in a
    worker, whose rule it was)."""
    source = (DATA / "tracer_games" / "tracer.py").read_text()
    (tmp_path / "slow.py").write_text(source + "\nimport time\n\ntime.sleep(4.5)\n")
    result = subprocess.run([sys.executable, "-m", "gameserver", "check", "slow.py",
                             "--games", "4"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "importing the file" not in result.stdout, result.stdout
    assert "Checking Tracer" in result.stdout, result.stdout
    with ServerProcess("--isolate-games", "off", "--games-dir", str(tmp_path),
                       "--game-call-timeout", "1") as server:
        assert Player(server.port, "Tracer", "after", 1).join()["status"] == "ok", server.log


@pytest.mark.parametrize("name", ["looper.py", "sleeper.py"])  # (the catcher: as a file's)
def test_check_of_a_module_whose_import_never_ends_says_where_and_ends(
        tmp_path: Path, name: str) -> None:
    """``check games.my_game`` (a module's name, not a file) had no import limit: a loop
    at its top held the check for ever. It has the file's limit now."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "__init__.py").write_text("")
    (tmp_path / "mine" / name).write_text(ENDLESS_IMPORTS[name])
    module = f"mine.{Path(name).stem}"
    result = subprocess.run([sys.executable, "-m", "gameserver", "check", module,
                             "--import-timeout", "1"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    where = f"{tmp_path.resolve() / 'mine' / name}:{_line_marked(ENDLESS_IMPORTS[name])}"
    assert out.startswith(f"PROBLEM {where}: importing module {module} "), out
    assert out.endswith("run the check again"), out


@pytest.mark.parametrize("name", sorted(ENDLESS_IMPORTS))
def test_check_of_a_game_file_whose_import_never_ends_says_where_and_ends(
        tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(ENDLESS_IMPORTS[name])
    result = subprocess.run([sys.executable, "-m", "gameserver", "check", str(path),
                             "--import-timeout", "1"],  # (twice check's call limit: 4 s)
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert out.startswith(f"PROBLEM {path.resolve()}:{_line_marked(ENDLESS_IMPORTS[name])}: "
                          "importing the file "), out
    assert out.endswith("run the check again"), out


def test_a_game_file_edited_within_the_second_at_the_same_length_loads_its_new_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python's bytecode cache trusts a file whose modification time (whole seconds) and
    size are unchanged: a game file edited so, and loaded again, ran its old code. Game
    files are compiled from their text at every load, and leave no ``__pycache__``
    (bytecode written as Python writes it by default: the trial import's ``-I`` process
    ignores PYTHONDONTWRITEBYTECODE, which this machine's tests had set)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = tmp_path / "ranged.py"
    text = ("from gameserver.games.echo import Echo\n\n\nclass Ranged(Echo):\n"
            "    @staticmethod\n    def max_players():\n        return {}\n")
    path.write_text(text.format(3))
    stamp = path.stat().st_mtime_ns
    assert registry.load_module(path)[0].max_players() == 3
    path.write_text(text.format(4))
    os.utime(path, ns=(stamp, stamp))
    assert registry.load_module(path)[0].max_players() == 4
    assert not (tmp_path / "__pycache__").exists()
