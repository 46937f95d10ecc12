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


def test_requests_are_counted_by_type_and_status_with_their_latencies() -> None:
    source = Source()
    metrics = source.metrics
    metrics.request_done("move", protocol.OK_NULL, 0.0002)
    metrics.request_done("move", protocol.illegal_move("occupied"), 0.003)
    metrics.request_done("move", protocol.error("framework: not your turn"), 0.0005)
    metrics.request_done("state", protocol.ok({"echo": 1}), 100.0)
    metrics.request_done("invalid", b"not a reply", 0.0)
    assert metrics.requests == {("move", "ok"): 1, ("move", "illegalmove"): 1,
                                ("move", "error"): 1, ("state", "ok"): 1,
                                ("invalid", "other"): 1}
    text = prometheus_text(source)
    assert 'gameserver_requests_total{type="move",status="illegalmove"} 1' in text
    # the move's three replies, together: 0.0002 and 0.0005 (a bound is "le") by 0.0005
    assert 'gameserver_request_seconds_bucket{type="move",le="0.0005"} 2' in text
    assert 'gameserver_request_seconds_bucket{type="move",le="0.005"} 3' in text
    assert 'gameserver_request_seconds_sum{type="move"} 0.003700' in text
    assert 'gameserver_request_seconds_count{type="move"} 3' in text
    assert 'gameserver_request_seconds_bucket{type="state",le="60.0"} 0' in text
    assert 'gameserver_request_seconds_bucket{type="state",le="+Inf"} 1' in text
