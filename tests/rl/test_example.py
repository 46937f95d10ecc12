"""examples/rl_qlearning.py, run as a user runs it (short mode): it learns.

The run is seeded and in-process, so it plays the same games every time: the
margin below is not luck. With these settings the learner goes from about
45 % to about 80 % wins against the random bot (1,000 evaluation games each,
a 95 % interval of about ±3 points).
"""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_q_learning_beats_its_untrained_self_by_20_points(tmp_path: Path) -> None:
    picture = tmp_path / "curve.png"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "rl_qlearning.py"), "--games", "4000",
         "--every", "2000", "--eval-games", "1000", "--seed", "1", "--plot", str(picture)],
        cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    untrained = float(re.search(r"^untrained win rate: ([\d.]+)%$", out, re.M).group(1))
    trained = float(re.search(r"^trained win rate: ([\d.]+)%$", out, re.M).group(1))
    assert 35 <= untrained <= 55  # the untrained learner plays at random
    assert trained - untrained >= 20, out
    rows = re.findall(r"^ *(\d+) +[\d.]+% +[\d.]+% +[\d.]+%", out, re.M)
    assert rows == ["0", "2000", "4000"]  # the learning curve, as a table
    assert "seat 0: 500 games" in out and "seat 1: 500 games" in out  # evaluate's report
    if importlib.util.find_spec("matplotlib") is not None:
        assert picture.read_bytes().startswith(b"\x89PNG")
    else:
        assert "matplotlib is not installed" in out and not picture.exists()


def test_a_server_that_is_not_there_is_said_in_one_line(tmp_path: Path) -> None:
    """docs/rl.md: ``--server HOST:PORT`` with no server there ended in a traceback of the
    env's internals, and the message did not say to start the server; a ``--server``
    without a port, in argparse's "invalid server_address value"."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens here
    script = str(ROOT / "examples" / "rl_qlearning.py")
    done = subprocess.run([sys.executable, script, "--server", f"127.0.0.1:{port}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == (f"rl_qlearning.py: cannot connect to the server at 127.0.0.1:{port}: "
                           "[Errno 111] Connection refused; is the server running? Start it "
                           "first: python3 -m gameserver (and check the port number)\n")
    done = subprocess.run([sys.executable, script, "--server", "127.0.0.1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "argument --server: '127.0.0.1': write HOST:PORT, e.g. 127.0.0.1:4711" in done.stderr
