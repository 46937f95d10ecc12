"""Benchmark (c): one sequential client doing move + state round trips.

A learning loop in its simplest form: one Echo session, one client that
sends a move, then asks for the state (which returns at once, because the
move changed it), again and again, each request waiting for its reply.
Measured twice against the same server:

* ``classic``: one TCP connection per request, as the classic client does;
* ``keepalive``: one connection for everything (``"keep_alive": true``);
* ``withstate``: one connection, and one request per step: the move's reply
  carries the mover's new state (``"with_state": true``, the push extension).
* ``nowait``: as ``withstate``, and the reply does not wait for the move's
  save (``"wait_for_save": false``, as the learning environments send it):
  with the store on, its commits are grouped by time, not one per step.

For each mode: requests/s, steps/s (a step: a move and the state after it),
p50/p99 request latency, server CPU µs per request and per step (from
/proc) and the client's own CPU.

    python bench/roundtrip.py            # 5 s per mode
    python bench/roundtrip.py --smoke    # a few seconds in all
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

import _common
from _common import TERMINATOR, perf_counter


def classic_request(addr: tuple[str, int], payload: bytes) -> bytes:
    """One request on its own connection; the reply ends when the server closes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.connect(addr)
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    finally:
        sock.close()
    return b"".join(chunks)


class KeptAlive:
    """One connection for many requests; each reply ends at the terminator."""

    def __init__(self, addr: tuple[str, int], source: str | None = None) -> None:
        self.sock = socket.create_connection(addr, source_address=source and (source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, payload: bytes) -> bytes:
        self.sock.sendall(payload)
        data = self.sock.recv(65536)
        while not data.endswith(TERMINATOR):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed a kept-alive connection")
            data += chunk
        return data[: -len(TERMINATOR)]

    def close(self) -> None:
        self.sock.close()


def run_mode(server: _common.Server, key: str, mode: str, seconds: float) -> dict[str, Any]:
    """Loop move + state for ``seconds`` in ``mode``; return the figures."""
    keep = mode != "classic"
    with_state = mode in ("withstate", "nowait")
    ids = {"game": "Echo", "session": "rt", "player_id": 0, "key": key}
    extra: dict[str, Any] = {"with_state": True} if with_state else {}
    if mode == "nowait":
        extra["wait_for_save"] = False
    move_head = _common.encode({"type": "move", **ids, "move": {"msg": 0}, **extra}, keep)
    # The move's payload with a changing number: the part before the 0 and after it.
    cut = move_head.index(b'"msg":0') + len(b'"msg":')
    before, after = move_head[:cut], move_head[cut + 1:]
    state = _common.encode({"type": "state", **ids, "observer": False}, keep)
    conn = KeptAlive(server.addr) if keep else None
    request = conn.request if conn is not None else (
        lambda payload: classic_request(server.addr, payload))
    latencies: list[float] = []
    errors = 0
    pairs = 0
    meter = _common.Meter(server.pid)
    deadline = perf_counter() + seconds
    try:
        while perf_counter() < deadline:
            t0 = perf_counter()
            reply = request(before + str(pairs).encode() + after)
            t1 = perf_counter()
            latencies.append(t1 - t0)
            if with_state:  # the state came with the move
                if json.loads(reply).get("state", {}).get("echo") != pairs:
                    errors += 1
                pairs += 1
                continue
            if reply != b'{"status": "ok", "data": null}':
                errors += 1
            reply = request(state)
            t2 = perf_counter()
            if json.loads(reply).get("data", {}).get("echo") != pairs:
                errors += 1
            latencies.append(t2 - t1)
            pairs += 1
    finally:
        if conn is not None:
            conn.close()
    requests = pairs if with_state else 2 * pairs
    figures = meter.read(requests)
    wall = figures["seconds"]
    return {
        "mode": mode,
        "requests_per_s": round(requests / wall, 1),
        "pairs_per_s": round(pairs / wall, 1),
        "server_cpu_us_per_step": round(figures["server_cpu_s"] * 1e6 / max(pairs, 1), 1),
        **_common.percentiles(latencies, "latency_"),
        "errors": errors,
        **figures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per mode (default 5)")
    parser.add_argument("--modes", default="classic,keepalive,withstate,nowait",
                        help="comma-separated: classic, keepalive, withstate, nowait "
                             "(default all)")
    args = _common.parse(parser, argv)
    seconds = 0.5 if args.smoke else args.seconds
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode not in ("classic", "keepalive", "withstate", "nowait"):
            parser.error(f"unknown mode {mode!r}")
    runs = []
    with _common.Server("--log-level", "WARNING", *args.server_arg) as server:
        join = _common.encode({"type": "join", "game": "Echo", "session": "rt",
                               "players": 1, "name": ""})
        key = json.loads(classic_request(server.addr, join))["data"]["key"]
        for mode in modes:
            runs.append(run_mode(server, key, mode, seconds))
        problems = server.log_problems()
        problem_lines = server.problem_lines()
    ratio = step_ratio = nowait_ratio = None
    by_mode = {r["mode"]: r for r in runs}
    if "classic" in by_mode and "keepalive" in by_mode:
        ratio = round(by_mode["keepalive"]["requests_per_s"]
                      / by_mode["classic"]["requests_per_s"], 2)
    if "keepalive" in by_mode and "withstate" in by_mode:
        step_ratio = round(by_mode["withstate"]["pairs_per_s"]
                           / by_mode["keepalive"]["pairs_per_s"], 2)
    if "keepalive" in by_mode and "nowait" in by_mode:
        nowait_ratio = round(by_mode["nowait"]["pairs_per_s"]
                             / by_mode["keepalive"]["pairs_per_s"], 2)
    record = {"benchmark": "roundtrip", "smoke": args.smoke, **_common.machine_info(),
              **_common.fsync_ms(5 if args.smoke else 20),
              "seconds_per_mode": seconds, "runs": runs, "keepalive_speedup": ratio,
              "withstate_steps_speedup": step_ratio, "nowait_steps_speedup": nowait_ratio,
              "server_log_problems": problems, "server_log_excerpt": problem_lines}
    parts = [f"{r['mode']}: {r['requests_per_s']:.0f} req/s, {r['pairs_per_s']:.0f} steps/s, "
             f"{r['server_cpu_us_per_step']:.0f} µs/step, p50 "
             f"{_common.fmt(r['latency_p50_ms'], 3)} ms, server "
             f"{r['server_cpu_us_per_request']:.0f} µs/req, client "
             f"{r['generator_cpu_us_per_request']:.0f} µs/req, errors {r['errors']}, "
             f"others {r['other_cpu_pct']:.0f}% + steal {r['steal_pct']:.0f}%"
             for r in runs]
    summary = "roundtrip: " + " | ".join(parts)
    if ratio is not None:
        summary += f" | keep-alive {ratio}x classic"
    if step_ratio is not None:
        summary += f" | with state {step_ratio}x the steps of keep-alive"
    if nowait_ratio is not None:
        summary += f" | not waiting for the save {nowait_ratio}x"
    _common.emit(record, summary)
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
