"""The browser of the browser tests (see tests/web/chromium.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.chromium import CHROMIUM, CHROMIUM_FLAGS, WAIT_MS, require


class Browser:
    """Playwright's browser, whose contexts (and their pages) wait up to ``WAIT_MS``."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def new_context(self, **options: Any) -> Any:
        context = self._browser.new_context(**options)
        context.set_default_timeout(WAIT_MS)
        return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, for the tests of one module; every wait of Playwright's
    (``expect`` too) is a generous hang guard, ``WAIT_MS``."""
    sync_api = require()
    sync_api.expect.set_options(timeout=WAIT_MS)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield Browser(chromium)
        chromium.close()
