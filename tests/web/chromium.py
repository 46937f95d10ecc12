"""Debian's Chromium through Playwright, for the browser tests (never a downloaded browser).

A browser test module calls ``require()`` at its top: it skips the module
when Chromium or Playwright is missing, except under CI (CI=true), where
.ci/run installs both and a missing one is an error. The module-scoped
``browser`` fixture (tests/web/conftest.py) launches it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.web.screenshots import CHROMIUM, CHROMIUM_FLAGS

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "WAIT_MS", "require"]

# How long Playwright waits for anything (an action, an ``expect``, a page to load), in
# milliseconds: only so that a broken test fails instead of hanging. Playwright's own
# defaults (5 s for ``expect``) and the 10 s the tests set were both passed on a loaded
# machine (helpers' full runs at a load average of 25-30) while the page was on its way.
WAIT_MS = 60_000


def require() -> Any:
    """Playwright's sync API; skips the calling module if it or Chromium is missing."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):  # CI installs Chromium: a missing browser is a failure there
            raise RuntimeError(f"browser tests need Chromium at {CHROMIUM}; .ci/run installs it")
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)",
                    allow_module_level=True)
    return pytest.importorskip("playwright.sync_api",
                               reason="browser tests need Playwright (pip install playwright)")
