"""The web dashboard: live sessions, spectating in the browser, history and replays.

``start_dashboard(server)`` serves it from a daemon thread next to the game
server's event loop (the server calls it when ``settings.web`` is on). It is
standard library only: ``http.server`` for HTTP, server-sent events for live
pages, and plain HTML, CSS and JavaScript files from ``static/``.
See docs/dashboard.md for the pages, the endpoints and how a game author
adds a renderer of their own.
"""

from .dashboard import Dashboard, start_dashboard

__all__ = ["Dashboard", "start_dashboard"]
