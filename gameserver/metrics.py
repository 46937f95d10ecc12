"""Counters for operators: requests, latencies, connections; Prometheus text format.

Recording is one dictionary lookup and two list updates per request, cheap
enough to stay on at all times. ``prometheus_text`` renders the counters
together with gauges that its source reads from the live server (``Gauges``:
sessions, waiting requests, connections, game-code errors); this module
knows neither the server nor its lobby.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

# Upper bounds (seconds) of the latency histogram buckets.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
           5.0, 10.0, 30.0, 60.0)

# A reply starts with '{"status": "'; the two bytes after it tell the status apart.
_STATUS_AT = slice(len(b'{"status": "'), len(b'{"status": "') + 2)
_STATUSES = {b"ok": "ok", b"er": "error", b"il": "illegalmove"}


class Metrics:
    """What the server counts while it runs.

    A request's reply is counted in one list, its type's and status's: a count
    per latency bucket (the last one +Inf), then the sum of the seconds. Its
    key is the reply's two status bytes, not the status's name (one dict
    lookup and no other per request); ``requests`` and ``latencies`` add them up.
    """

    def __init__(self) -> None:
        # (type, the reply's two status bytes) -> [count per bucket (+Inf last), seconds]
        self._rows: dict[tuple[str, bytes], list[float]] = {}
        self._pushes: Counter[bytes] = Counter()  # the two status bytes -> states pushed

    def request_done(self, kind: str, reply: bytes, seconds: float) -> None:
        """Count one answered request of type ``kind`` that took ``seconds``."""
        row = self._rows.get((kind, reply[_STATUS_AT]))
        if row is None:
            row = self._rows[kind, reply[_STATUS_AT]] = [0] * (len(BUCKETS) + 1) + [0.0]
        row[bisect_left(BUCKETS, seconds)] += 1
        row[-1] += seconds

    @property
    def requests(self) -> Counter[tuple[str, str]]:
        """(type, status) -> requests answered."""
        counts: Counter[tuple[str, str]] = Counter()
        for (kind, status), row in self._rows.items():
            counts[kind, _STATUSES.get(status, "other")] += int(sum(row[:-1]))
        return counts

    def latencies(self) -> dict[str, tuple[list[int], float]]:
        """Type -> (requests answered per latency bucket, +Inf last; their seconds)."""
        totals: dict[str, tuple[list[int], float]] = {}
        for (kind, _), row in self._rows.items():
            counts, seconds = totals.get(kind, ([0] * (len(BUCKETS) + 1), 0.0))
            totals[kind] = ([a + int(b) for a, b in zip(counts, row, strict=False)],
                            seconds + row[-1])
        return totals

    def pushed(self, reply: bytes) -> None:
        """Count one state (or error) pushed to a subscription."""
        self._pushes[reply[_STATUS_AT]] += 1

    @property
    def pushes(self) -> Counter[str]:
        """Status -> states (or errors) pushed to subscriptions."""
        counts: Counter[str] = Counter()
        for status, count in self._pushes.items():
            counts[_STATUSES.get(status, "other")] += count
        return counts


@dataclass(frozen=True, slots=True)
class Gauges:
    """What the server holds now, read when the metrics are rendered."""

    connections_open: int  # counted towards the connection limits
    connections_total: int  # accepted since the start (a counter)
    sessions: dict[str, int]  # game -> sessions open, every game offered (0 included)
    waiting_requests: int  # blocked in join or state
    game_code_errors: int  # calls into game code that raised, timed out or returned a wrong
    # value (a counter; the dashboard shows them by game)
    store_failed_saves: int | None = None  # commits that failed (a counter); None: no store
    store_refused_saves: int = 0  # sessions ended for rows the store file refused (a counter)
    connections_refused_open: int = 0  # refused for the limits, their refusal still draining
    replies_unsent_bytes: int = 0  # replies written and not taken by their clients yet
    connections_paused_unsent: int = 0  # paused: their address (or all) left too many unsent
    tls_handshakes: tuple[int, int, int] | None = None  # TLS: (in progress, refused, waited)
    tls_certificate_expiry: float | None = None  # TLS: the served certificate's notAfter
    # Live pages' event streams dropped because together they left more than
    # web_stream_buffer_max_total unread (a counter); None: no dashboard.
    web_streams_dropped_unread: int | None = None


class MetricsSource(Protocol):
    """Where ``prometheus_text`` reads from (the game server)."""

    @property
    def metrics(self) -> Metrics: ...

    def gauges(self) -> Gauges:
        """The gauges as they are now (called on the server's event loop)."""


def prometheus_text(source: MetricsSource) -> str:
    """The server's metrics in the Prometheus text exposition format (version 0.0.4)."""
    metrics = source.metrics
    gauges = source.gauges()
    lines = [
        "# HELP gameserver_connections_open Client connections open now (not those refused "
        "for the connection limits).",
        "# TYPE gameserver_connections_open gauge",
        f"gameserver_connections_open {gauges.connections_open}",
        "# HELP gameserver_connections_refused_open Client connections refused for the "
        "connection limits and still open (their refusal is sent, what comes is drained).",
        "# TYPE gameserver_connections_refused_open gauge",
        f"gameserver_connections_refused_open {gauges.connections_refused_open}",
        "# HELP gameserver_connections_total Client connections accepted.",
        "# TYPE gameserver_connections_total counter",
        f"gameserver_connections_total {gauges.connections_total}",
        "# HELP gameserver_replies_unsent_bytes Bytes of replies waiting in the server for "
        "clients that have not taken them yet (slow readers), and held for their save by "
        "connections that hold more than 16 KiB of them.",
        "# TYPE gameserver_replies_unsent_bytes gauge",
        f"gameserver_replies_unsent_bytes {gauges.replies_unsent_bytes}",
        "# HELP gameserver_connections_paused_unsent Connections not served now because "
        "their client address (or all clients) left more than reply_buffer_max_per_address "
        "(reply_buffer_max_total) of replies unread.",
        "# TYPE gameserver_connections_paused_unsent gauge",
        f"gameserver_connections_paused_unsent {gauges.connections_paused_unsent}",
    ]
    if gauges.web_streams_dropped_unread is not None:
        lines += [
            "# HELP gameserver_web_streams_dropped_unread_total Live pages' event "
            "streams of the dashboard dropped because all streams' clients together left "
            "more than web_stream_buffer_max_total unread (the slowest readers; their pages "
            "reconnect).",
            "# TYPE gameserver_web_streams_dropped_unread_total counter",
            "gameserver_web_streams_dropped_unread_total "
            f"{gauges.web_streams_dropped_unread}",
        ]
    lines += [
        "# HELP gameserver_requests_total Requests answered, by type and reply status.",
        "# TYPE gameserver_requests_total counter",
    ]
    for (kind, status), count in sorted(metrics.requests.items()):
        lines.append(f'gameserver_requests_total{{type="{kind}",status="{status}"}} {count}')
    lines += [
        "# HELP gameserver_request_seconds Time from a complete request to its reply "
        "(join and state include the time spent waiting).",
        "# TYPE gameserver_request_seconds histogram",
    ]
    for kind, (counts, seconds) in sorted(metrics.latencies().items()):
        running = 0
        for bound, count in zip(BUCKETS, counts, strict=False):
            running += count
            lines.append(f'gameserver_request_seconds_bucket{{type="{kind}",le="{bound}"}} '
                         f"{running}")
        running += counts[-1]
        lines.append(f'gameserver_request_seconds_bucket{{type="{kind}",le="+Inf"}} {running}')
        lines.append(f'gameserver_request_seconds_sum{{type="{kind}"}} '
                     f"{seconds:.6f}")
        lines.append(f'gameserver_request_seconds_count{{type="{kind}"}} {running}')
    pushes = metrics.pushes
    if pushes:
        lines += [
            "# HELP gameserver_pushes_total States pushed to subscriptions, by status.",
            "# TYPE gameserver_pushes_total counter",
        ]
        for status, count in sorted(pushes.items()):
            lines.append(f'gameserver_pushes_total{{status="{status}"}} {count}')
    lines += [
        "# HELP gameserver_sessions Sessions open now, by game.",
        "# TYPE gameserver_sessions gauge",
    ]
    for game, count in sorted(gauges.sessions.items()):
        lines.append(f'gameserver_sessions{{game="{game}"}} {count}')
    lines += [
        "# HELP gameserver_waiting_requests Requests blocked in join or state now.",
        "# TYPE gameserver_waiting_requests gauge",
        f"gameserver_waiting_requests {gauges.waiting_requests}",
        "# HELP gameserver_game_code_errors_total Calls into game code that raised, timed "
        "out or returned a wrong value (the dashboard counts them by game).",
        "# TYPE gameserver_game_code_errors_total counter",
        f"gameserver_game_code_errors_total {gauges.game_code_errors}",
    ]
    if gauges.store_failed_saves is not None:
        lines += [
            "# HELP gameserver_store_failed_saves_total Commits to the store file that failed "
            "(their changes are written again later).",
            "# TYPE gameserver_store_failed_saves_total counter",
            f"gameserver_store_failed_saves_total {gauges.store_failed_saves}",
            "# HELP gameserver_store_refused_saves_total Sessions ended because the store "
            "file refused their rows for good (a constraint, a value SQLite cannot take), "
            "and rows of the server's own left out so (the server log names each).",
            "# TYPE gameserver_store_refused_saves_total counter",
            f"gameserver_store_refused_saves_total {gauges.store_refused_saves}",
        ]
    if gauges.tls_certificate_expiry is not None:
        lines += [
            "# HELP gameserver_tls_certificate_expiry_seconds When the TLS certificate served "
            "to new connections expires (Unix seconds): alert well before it.",
            "# TYPE gameserver_tls_certificate_expiry_seconds gauge",
            f"gameserver_tls_certificate_expiry_seconds {gauges.tls_certificate_expiry:.0f}",
        ]
    if gauges.tls_handshakes is not None:
        in_progress, refused, waited = gauges.tls_handshakes
        lines += [
            "# HELP gameserver_tls_handshakes_in_progress TLS handshakes running on the "
            "handshake threads or waiting for one now.",
            "# TYPE gameserver_tls_handshakes_in_progress gauge",
            f"gameserver_tls_handshakes_in_progress {in_progress}",
            "# HELP gameserver_tls_handshakes_refused_total TLS connections closed before their "
            "handshake: their address had tls_handshakes_per_address in progress.",
            "# TYPE gameserver_tls_handshakes_refused_total counter",
            f"gameserver_tls_handshakes_refused_total {refused}",
            "# HELP gameserver_tls_handshake_waits_total TLS handshake steps that waited their "
            "turn: tls_handshakes_max steps were on the handshake threads.",
            "# TYPE gameserver_tls_handshake_waits_total counter",
            f"gameserver_tls_handshake_waits_total {waited}",
        ]
    return "\n".join(lines) + "\n"
