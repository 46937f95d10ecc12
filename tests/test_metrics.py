"""The server's counters and their Prometheus text, without a server."""

from __future__ import annotations

from gameserver import protocol
from gameserver.metrics import Gauges, Metrics, prometheus_text


class Source:
    def __init__(self) -> None:
        self.metrics = Metrics()

    def gauges(self) -> Gauges:
        return Gauges(connections_open=1, connections_total=2, sessions={"Echo": 1},
                      waiting_requests=0, game_code_errors=0)


def test_pushes_are_counted_by_status_and_shown_once_there_are_some() -> None:
    source = Source()
    assert "gameserver_pushes_total" not in prometheus_text(source)
    source.metrics.pushed(protocol.ok({"echo": 1}))
    source.metrics.pushed(protocol.ok({"echo": 2}))
    source.metrics.pushed(protocol.error("framework: game session was overwritten"))
    text = prometheus_text(source)
    assert 'gameserver_pushes_total{status="ok"} 2' in text
    assert 'gameserver_pushes_total{status="error"} 1' in text
    assert source.metrics.requests == {}  # a push answers no request
