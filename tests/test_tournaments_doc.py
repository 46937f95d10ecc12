"""docs/tournaments.md's student program, run as a student copies it: two copies of it
take part in a tournament on a real server, play their game and are told their places.

The page's program was a sketch (``choose`` was nowhere), which a student who copied it
found out at the first move.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from gameserver.tournament import TournamentSettings
from tests.serverproc import ROOT, ServerThread
from tests.test_readme import code_blocks

PAGE = (ROOT / "docs" / "tournaments.md").read_text()
(PROGRAM,) = code_blocks(PAGE, "python")
TIMEOUT = 120  # seconds: only so that a broken test fails instead of hanging


def test_the_student_program_on_the_page_plays_a_tournament_as_written(tmp_path: Path) -> None:
    assert "'games.example.org', 4711" in PROGRAM and "name='alice#tulip-42'" in PROGRAM
    ast.parse(PROGRAM, feature_version=(3, 8))  # what students' computers may run
    (tmp_path / "game_server_api.py").write_text((ROOT / "game_server_api.py").read_text())
    with ServerThread() as server:
        assert server.server is not None
        server.call(server.server.hall.create, TournamentSettings(
            "final", "TicTacToe", best_of=3, start_with=2))
        program = PROGRAM.replace("'games.example.org', 4711", f"'127.0.0.1', {server.port}")
        students = [subprocess.Popen(
            [sys.executable, "-c", program.replace("alice#tulip-42", name)], cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in ("alice#tulip-42", "bob#reed-7")]
        told = [student.communicate(timeout=TIMEOUT) for student in students]
    for student, (out, err) in zip(students, told, strict=True):
        assert student.returncode == 0, out + err
    (alice, _), (bob, _) = told
    assert "tournament final is over: alice placed" in alice and " of 2 with " in alice
    assert "tournament final is over: bob placed" in bob
    # (a drawn match is half a point each: "½", "1½"; the moves are random, so it happens)
    points = [float(out.split(" with ")[1].split()[0].replace("½", ".5")) for out, _ in told]
    assert sum(points) == 1  # their match played to its end: a point for a win, or halves
