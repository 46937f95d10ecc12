"""The virtual screen for the window tests: skipped where the tools are missing, not in CI."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.gui.screen import Screen, missing_tools


@pytest.fixture(scope="module")
def screen() -> Iterator[Screen]:
    missing = missing_tools()
    if missing:
        reason = ("the window tests need a virtual screen and tkinter: apt-get install "
                  + " ".join(missing))
        if os.environ.get("CI"):  # .ci/run installs them: missing is a failure there
            pytest.fail(reason)
        pytest.skip(reason)
    with Screen() as running:
        yield running
