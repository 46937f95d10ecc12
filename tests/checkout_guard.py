"""No test may write into the checkout: a test run that does fails, naming the files.

Tests write into ``tmp_path``. Anything new in ``git status`` after the run
(untracked or ignored files included, say a ``gameserver.sqlite3`` left by
a server started in the repository folder) fails the run. Caches of the
tools themselves are left alone; Hypothesis is told to keep its cache out of
the checkout.

The hooks are imported by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL_CACHES = ("__pycache__", ".pytest_cache", ".ruff_cache", ".egg-info")


def checkout_status() -> set[str] | None:
    """Every changed, untracked or ignored path of the checkout; None if it is not one."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return None
    done = subprocess.run(["git", "status", "--porcelain", "--ignored",
                           "--untracked-files=all"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    if done.returncode != 0:
        return None
    return {line for line in done.stdout.splitlines()
            if not any(cache in line for cache in TOOL_CACHES)}


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY",
                          os.path.join(tempfile.gettempdir(), "gameserver-hypothesis"))
    config.stash[_BEFORE] = checkout_status()


def pytest_sessionfinish(session: pytest.Session) -> None:
    before = session.config.stash.get(_BEFORE, None)
    after = checkout_status()
    if before is None or after is None:
        return
    written = sorted(after - before)
    if written:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = ("tests wrote into the checkout (use tmp_path, or a working directory in it):\n"
                + "\n".join(f"    {line}" for line in written))
        if reporter is not None:
            reporter.write_line(text, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_BEFORE = pytest.StashKey[set[str] | None]()
