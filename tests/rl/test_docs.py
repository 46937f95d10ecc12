"""docs/rl.md's code, run as a reader copies it: every Python block that stands alone.

A block with ``server=("127.0.0.1", 4711)`` runs against a real server on a free port (the
port written in); the indented block (a game's class attributes) is a part of a class, not
a program, and is left out.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.test_readme import code_blocks

ROOT = Path(__file__).resolve().parent.parent.parent
PAGE = (ROOT / "docs" / "rl.md").read_text()
PROGRAMS = [block for block in code_blocks(PAGE, "python") if not block.startswith(" ")]
TIMEOUT = 300


def test_every_program_on_the_page_runs_as_written(make_server, tmp_path: Path) -> None:
    assert len(PROGRAMS) >= 4  # PettingZoo, Gymnasium, over the network, evaluating
    server = None
    for block in PROGRAMS:
        if '("127.0.0.1", 4711)' in block:
            server = server or make_server()
            block = block.replace('("127.0.0.1", 4711)', f'("127.0.0.1", {server.port})')
        done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True,
                              text=True, timeout=TIMEOUT)
        assert done.returncode == 0, f"{block}\n{done.stderr}"
        if "print(result)" in block:  # what the comment says it prints
            assert re.search(r"all seats: 1000 games, \d+ won, \d+ drawn, \d+ lost", done.stdout)
    assert server is not None, "the network block was not found"
