"""The web dashboard (placeholder until the dashboard lands)."""

from __future__ import annotations

from typing import Any


def start_dashboard(server: Any) -> Any:
    """Start the dashboard for ``server``; returns an object with ``stop()`` and ``port``."""
    raise OSError("the web dashboard is not built yet")
