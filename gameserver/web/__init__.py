"""The web dashboard: live sessions, spectating in the browser, history and replays.

``await start_dashboard(source, settings)`` serves it on the running event
loop, next to the game server (the server does it when ``settings.web`` is
on). ``source`` is a ``DashboardSource``: the dashboard reads the server
through it only (``LobbySource`` adapts a lobby, a store and the metrics).
Standard library only: an asyncio HTTP/1.1 server, server-sent events for
live pages, and plain HTML, CSS and JavaScript files from ``static/``.
See docs/dashboard.md for the pages, the endpoints, the access rules and
how a game author adds a renderer of their own.
"""

from .dashboard import Dashboard, WebSettings, start_dashboard
from .source import DashboardSource, HistoryReader, LobbySource

__all__ = ["Dashboard", "DashboardSource", "HistoryReader", "LobbySource", "WebSettings",
           "start_dashboard"]
