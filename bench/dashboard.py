"""Benchmark (d): does the web dashboard slow the game down? (issue 14 point 6)

A server holds many sessions (20,000 one-player Echo sessions by default).
One game client plays on its own keep-alive connection, move + state, each
request waiting for its reply, and its latency is measured in three phases
against the same server:

* ``idle``: nobody looks at the dashboard;
* ``pollers``: 10 scripts poll ``/api/sessions`` as fast as they are
  answered (each waits for its reply, then asks again);
* ``streams``: 10 lobby pages and 40 spectator pages of the played session
  are open (server-sent events; every move is pushed to the 40).

The dashboard clients run in a separate process, so their work does not
disturb the game client's timing in this one. For each phase: the game
client's p50/p99/max latency, p99 relative to ``idle``, the server's CPU,
and what the dashboard clients received. The phases run ``--rounds`` times,
interleaved, and the median p99 of each phase is compared. The goal: p99
within 2x of idle.

    python bench/dashboard.py                   # 20,000 sessions, 5 s per phase
    python bench/dashboard.py --sessions 5000 --seconds 10
    python bench/dashboard.py --smoke           # a few seconds in all
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import socket
import statistics
import sys
import threading
import time
from typing import Any

import _common
from _common import TERMINATOR, perf_counter
from roundtrip import KeptAlive

FILL_BATCH = 500  # joins sent at once on the filling connection


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fill(addr: tuple[str, int], sessions: int) -> int:
    """Start ``sessions`` one-player Echo sessions through pipelined keep-alive joins."""
    conn = socket.create_connection(addr)
    made = 0
    try:
        while made < sessions:
            batch = min(FILL_BATCH, sessions - made)
            conn.sendall(b"".join(_common.encode({
                "type": "join", "game": "Echo", "session": f"fill-{made + n}", "players": 1,
                "name": f"student {made + n}"}, keep_alive=True) for n in range(batch)))
            data = b""
            while data.count(TERMINATOR) < batch:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("the server closed the filling connection")
                data += chunk
            made += data.count(b'"status": "ok"')
            if data.count(b'"status": "ok"') != batch:
                raise RuntimeError("a join failed: " + data[:300].decode(errors="replace"))
    finally:
        conn.close()
    return made


# ---------------------------------------------------------------- dashboard clients


def _poller(port: int, until: float, counts: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < until:
        conn.request("GET", "/api/sessions")
        reply = conn.getresponse()
        body = reply.read()
        if reply.status == 200:
            counts[0] += 1
            counts[1] += len(body)
        else:
            counts[2] += 1
    conn.close()


def _stream(port: int, path: str, until: float, counts: list[int]) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=1)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    while time.monotonic() < until:
        try:
            chunk = sock.recv(1 << 16)
        except TimeoutError:
            continue
        if not chunk:
            counts[2] += 1
            break
        counts[0] += chunk.count(b"data: ")
        counts[1] += len(chunk)
    sock.close()


def dashboard_clients(port: int, seconds: float, pollers: int, lobby_pages: int,
                      spectators: int, watched: str, results: Any) -> None:
    """In a child process: run the dashboard clients; put their totals on ``results``."""
    until = time.monotonic() + seconds
    threads = []
    poll_counts = [[0, 0, 0] for _ in range(pollers)]
    stream_counts = [[0, 0, 0] for _ in range(lobby_pages + spectators)]
    for n in range(pollers):
        threads.append(threading.Thread(target=_poller, args=(port, until, poll_counts[n])))
    paths = ["/api/events"] * lobby_pages + [
        f"/api/sessions/Echo/{watched}/events?player=0"] * spectators
    for n, path in enumerate(paths):
        threads.append(threading.Thread(target=_stream,
                                        args=(port, path, until, stream_counts[n])))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put({
        "poll_replies": sum(c[0] for c in poll_counts),
        "poll_mb": round(sum(c[1] for c in poll_counts) / 1e6, 2),
        "poll_errors": sum(c[2] for c in poll_counts),
        "stream_events": sum(c[0] for c in stream_counts),
        "streams_closed": sum(c[2] for c in stream_counts),
    })


# ---------------------------------------------------------------- the game client


def play(addr: tuple[str, int], pid: int, key: str, session: str,
         seconds: float) -> dict[str, Any]:
    """Move + state on one keep-alive connection for ``seconds``; the latencies."""
    ids = {"game": "Echo", "session": session, "player_id": 0, "key": key}
    state = _common.encode({"type": "state", **ids, "observer": False}, keep_alive=True)
    conn = KeptAlive(addr)
    latencies: list[float] = []
    errors = 0
    n = 0
    meter = _common.Meter(pid)
    deadline = perf_counter() + seconds
    try:
        while perf_counter() < deadline:
            move = _common.encode({"type": "move", **ids, "move": {"msg": n}}, keep_alive=True)
            t0 = perf_counter()
            reply = conn.request(move)
            t1 = perf_counter()
            errors += reply != b'{"status": "ok", "data": null}'
            conn.request(state)
            t2 = perf_counter()
            latencies += (t1 - t0, t2 - t1)
            n += 1
    finally:
        conn.close()
    return {**_common.percentiles(latencies, "latency_"), "errors": errors,
            **meter.read(len(latencies))}


def measured_seat(addr: tuple[str, int]) -> str:
    """Join the one-player Echo session "measured" that ``play`` plays; its key."""
    joined = KeptAlive(addr)
    reply = json.loads(joined.request(_common.encode({
        "type": "join", "game": "Echo", "session": "measured", "players": 1,
        "name": "measured"}, keep_alive=True)))
    joined.close()
    return str(reply["data"]["key"])


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20_000, help="default 20000")
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase (default 5)")
    parser.add_argument("--pollers", type=int, default=10, help="default 10")
    parser.add_argument("--lobby-pages", type=int, default=10, help="default 10")
    parser.add_argument("--spectators", type=int, default=40, help="default 40")
    parser.add_argument("--rounds", type=int, default=3,
                        help="times each phase runs, interleaved (default 3)")
    args = _common.parse(parser, argv)
    if args.smoke:
        args.sessions, args.seconds = 300, 0.6
        args.pollers, args.lobby_pages, args.spectators, args.rounds = 2, 2, 2, 1
    web_port = free_port()
    flags = ["--log-level", "WARNING", "--no-store", "--web-port", str(web_port),
             "--max-sessions", str(args.sessions + 10), "--max-connections-per-address",
             "20000", "--new-sessions-per-minute", str(max(1200, 2 * args.sessions)),
             *args.server_arg]
    runs = []
    with _common.Server(*flags) as server:
        started = perf_counter()
        made = fill(server.addr, args.sessions)
        fill_seconds = perf_counter() - started
        key = measured_seat(server.addr)
        _common.wait_idle(server.pid)
        rss_idle = _common.rss_kb(server.pid)
        context = multiprocessing.get_context("fork")
        phases = (("idle", 0, 0, 0), ("pollers", args.pollers, 0, 0),
                  ("streams", 0, args.lobby_pages, args.spectators)) * args.rounds
        for name, pollers, lobby_pages, spectators in phases:
            results: Any = context.Queue()
            child = None
            if pollers or lobby_pages or spectators:
                child = context.Process(target=dashboard_clients, args=(
                    web_port, args.seconds + 2.0, pollers, lobby_pages, spectators,
                    "measured", results))
                child.start()
                time.sleep(1.0)  # let the dashboard clients connect and warm up
            run = {"phase": name, "pollers": pollers, "lobby_pages": lobby_pages,
                   "spectators": spectators,
                   **play(server.addr, server.pid, key, "measured", args.seconds),
                   "rss_kb": _common.rss_kb(server.pid)}
            if child is not None:
                run.update(results.get(timeout=60))
                child.join(30)
            runs.append(run)
        problems = server.log_problems()
        problem_lines = server.problem_lines()
    # Each phase ran once per round, the rounds interleaved: the median of its p99s
    # is compared, so a neighbour's burst of work in one round weighs little.
    summary: dict[str, dict[str, Any]] = {}
    for name in ("idle", "pollers", "streams"):
        mine = [r for r in runs if r["phase"] == name]
        summary[name] = {
            "p99_ms_median": statistics.median(r["latency_p99_ms"] for r in mine),
            "p50_ms_median": statistics.median(r["latency_p50_ms"] for r in mine),
            "server_cpu_pct_median": statistics.median(r["server_cpu_pct"] for r in mine),
            "poll_replies": sum(r.get("poll_replies", 0) for r in mine),
            "stream_events": sum(r.get("stream_events", 0) for r in mine)}
    idle_p99 = summary["idle"]["p99_ms_median"]
    for phase in summary.values():
        phase["p99_vs_idle"] = round(phase["p99_ms_median"] / idle_p99, 2) if idle_p99 else None
    record = {"benchmark": "dashboard", "smoke": args.smoke, **_common.machine_info(),
              "sessions": made, "fill_seconds": round(fill_seconds, 2),
              "seconds_per_phase": args.seconds, "rounds": args.rounds,
              "rss_kb_idle": rss_idle, "phases": summary, "runs": runs,
              "server_log_problems": problems, "server_log_excerpt": problem_lines}
    parts = [f"{name}: p50 {_common.fmt(p['p50_ms_median'], 3)} ms, p99 "
             f"{_common.fmt(p['p99_ms_median'], 3)} ms ({p['p99_vs_idle']}x idle), server "
             f"{p['server_cpu_pct_median']:.0f}% CPU" + (
                 f", {p['poll_replies']} polls" if name == "pollers" else "") + (
                 f", {p['stream_events']} events" if name == "streams" else "")
             for name, p in summary.items()]
    _common.emit(record, f"dashboard: {made} sessions | " + " | ".join(parts))
    return 1 if any(r["errors"] or r.get("poll_errors") for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
