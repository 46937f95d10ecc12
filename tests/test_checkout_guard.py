"""The guard in tests/checkout_guard.py fails a test run that writes into the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GUARD = Path(__file__).with_name("checkout_guard.py")


@pytest.mark.skipif(shutil.which("git") is None, reason="the guard asks git what changed")
def test_a_run_that_writes_into_the_checkout_fails_and_names_the_file(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "tests").mkdir(parents=True)
    shutil.copy(GUARD, checkout / "tests" / "checkout_guard.py")
    (checkout / "tests" / "__init__.py").write_text("")
    (checkout / "tests" / "conftest.py").write_text(
        "from tests.checkout_guard import pytest_configure, pytest_sessionfinish\n")
    (checkout / "tests" / "test_it.py").write_text(
        "from pathlib import Path\n\n"
        "def test_clean(tmp_path):\n    (tmp_path / 'fine.sqlite3').write_text('x')\n\n"
        "def test_dirty():\n    Path('store.sqlite3').write_text('x')\n")
    (checkout / ".gitignore").write_text("*.sqlite3\n")
    for command in (["init", "-q"], ["add", "."],
                    ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "t"]):
        subprocess.run(["git", *command], cwd=checkout, check=True, capture_output=True)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests"], cwd=checkout, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout
    assert "2 passed" in run.stdout
    assert "tests wrote into the checkout" in run.stdout
    assert "!! store.sqlite3" in run.stdout and "fine.sqlite3" not in run.stdout
