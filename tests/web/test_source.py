"""The dashboard on its narrow interface alone: a lobby, a history reader, metrics, health.

No ``GameServer`` here: the dashboard is started on its own event loop with
a ``LobbySource`` over a real lobby, exactly as the server hands it one.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

from gameserver.checked import game_types
from gameserver.config import Settings
from gameserver.games import TicTacToe
from gameserver.guard import GameGuard
from gameserver.lobby import Lobby
from gameserver.web import LobbySource, WebSettings, start_dashboard
from gameserver.web._routes import STORE_FAILING

WEB = Path(__file__).resolve().parents[2] / "gameserver" / "web"


async def get(port: int, path: str) -> tuple[int, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                 .encode())
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body) if body.startswith((b"{", b"[")) else body


def serve(health: Any, paths: list[str]) -> list[tuple[int, Any]]:
    async def main() -> list[tuple[int, Any]]:
        guard = GameGuard()
        lobby = Lobby(game_types({"TicTacToe": TicTacToe}, guard))
        source = LobbySource(lobby, None, lambda: "# metrics\n", health)
        dashboard = await start_dashboard(source, WebSettings(port=0))
        try:
            return [await get(dashboard.port, path) for path in paths]
        finally:
            dashboard.stop()
            guard.close()
    return asyncio.run(main())


def test_healthz_reports_a_degraded_store_without_its_error_text() -> None:
    """Anyone may read /healthz; the error's text once named the store's file there."""
    degraded = {"status": "degraded", "failed_saves": 3,
                "error": "OSError: [Errno 28] No space left on device: '/srv/secret/store'"}
    (status, data), = serve(lambda: degraded, ["/healthz"])
    assert status == 200 and data["status"] == "degraded"
    assert data["store"] == {**degraded, "error": STORE_FAILING}
    assert "secret" not in json.dumps(data)


def test_healthz_without_a_store_report_and_with_a_failing_one() -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("the report itself failed")

    assert serve(None, ["/healthz"])[0][1]["status"] == "ok"
    (_, data), = serve(broken, ["/healthz"])
    assert data["status"] == "degraded" and "failed" in data["store"]["error"]


def test_the_dashboard_reads_only_what_the_source_gives() -> None:
    (games, lobby, metrics, history) = serve(
        lambda: {"status": "ok"}, ["/api/games", "/api/sessions", "/metrics", "/api/history"])
    assert [g["name"] for g in games[1]] == ["TicTacToe"]
    assert lobby[1]["counts"]["sessions"] == 0
    assert metrics == (200, b"# metrics\n")
    assert history[1]["store"] is False


def test_nothing_in_the_dashboard_imports_the_server() -> None:
    for path in WEB.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module not in ("server", "gameserver.server", "lobby", "session",
                                           "store"), f"{path.name} imports {node.module}"
                assert "GameServer" not in [a.name for a in node.names], path.name


def test_the_dashboards_settings_default_to_the_servers() -> None:
    """WebSettings takes each default from config.Settings (the server passes every one
    of them; a dashboard started with fewer, as above, has the server's others). A
    default written twice could drift: max_json_depth held browsers to 32 levels whatever
    Settings said."""
    server, web = Settings(), WebSettings()
    for field in dataclasses.fields(WebSettings):
        name = (field.name if field.name in ("game_timeout", "max_json_depth")
                else f"web_{field.name}")  # (the server's own, not the dashboard's)
        value = getattr(server, name)  # (a list is a tuple in the frozen WebSettings)
        assert getattr(web, field.name) == (tuple(value) if isinstance(value, list)
                                            else value), name
