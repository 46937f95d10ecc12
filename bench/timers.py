"""Benchmark: what turn timers cost, in server CPU per move, with many timed sessions.

Two servers, one after the other, alike but for the timer: ``none`` (no
timer, the default) and ``timers`` (``--turn-timeout``, long enough never to
run out during the run, so that what is measured is the bookkeeping every
move pays: the timer restarted, the schedule looked at, the timer saved with
the store). Each serves S one-player Echo sessions (default 1,000), each
driven by its own kept-alive connection that sends one move after another
(one request in flight per connection). Measured over the same number of
seconds: moves per second and the server's CPU per move (from /proc). The
store is on in both (the default); ``--server-arg=--no-store`` leaves it out.

    python bench/timers.py                    # 1,000 sessions, 5 s per mode
    python bench/timers.py --sessions 200 --seconds 10
    python bench/timers.py --smoke            # a few seconds in all

On a shared machine, read ``other_cpu_pct`` and ``steal_pct`` of each run:
other programs' load makes every figure worse, and not by the same amount
in both runs.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import _common
from _common import Conn, Loop

TURN_TIMEOUT = 900.0  # seconds: no timer runs out during a run (at most game_timeout)


class Driver:
    """One session: join it, then send moves, one at a time, until told to stop."""

    __slots__ = ("bench", "conn", "index", "key", "moves", "errors", "running", "payload")

    def __init__(self, bench: Bench, index: int) -> None:
        self.bench = bench
        self.conn = Conn(bench.loop)
        self.index = index
        self.key = ""
        self.moves = 0
        self.errors = 0
        self.running = True
        self.payload = b""

    def start(self) -> None:
        join = _common.encode({"type": "join", "game": "Echo", "session": f"t{self.index}",
                               "players": 1, "name": ""}, keep_alive=True)
        self.conn.send(join, self.joined, keep_alive=True)

    def joined(self, reply: bytes | None, error: str | None) -> None:
        if reply is None:
            self.errors += 1
            return
        self.key = json.loads(reply)["data"]["key"]
        self.payload = _common.encode({"type": "move", "game": "Echo",
                                       "session": f"t{self.index}", "player_id": 0,
                                       "key": self.key, "move": {"msg": "m"}}, keep_alive=True)
        self.bench.joined += 1
        self.move()

    def move(self) -> None:
        if self.running:
            self.conn.send(self.payload, self.moved, keep_alive=True)

    def moved(self, reply: bytes | None, error: str | None) -> None:
        if reply != b'{"status": "ok", "data": null}':
            self.errors += 1
        self.moves += 1
        self.move()


class Bench:
    def __init__(self, server: _common.Server, sessions: int) -> None:
        self.loop = Loop(server.addr)
        self.joined = 0
        self.drivers = [Driver(self, n) for n in range(sessions)]


def run_mode(mode: str, sessions: int, seconds: float, extra: list[str]) -> dict[str, Any]:
    flags = ["--log-level", "WARNING", *extra]
    if mode == "timers":
        flags += ["--turn-timeout", str(TURN_TIMEOUT)]
    with _common.Server(*flags, nofile=_common.raise_nofile(sessions + 512)) as server:
        bench = Bench(server, sessions)
        for driver in bench.drivers:
            driver.start()
        all_joined = bench.loop.run(60.0, lambda: bench.joined == sessions)
        bench.loop.run(min(1.0, seconds / 2))  # warm up: every session has moved
        before = sum(d.moves for d in bench.drivers)
        meter = _common.Meter(server.pid)
        bench.loop.run(seconds)
        moves = sum(d.moves for d in bench.drivers) - before
        figures = meter.read(moves)
        for driver in bench.drivers:
            driver.running = False
        bench.loop.close()
        problems = server.log_problems()
    return {"mode": mode, "sessions": sessions, "all_joined": all_joined,
            "moves": moves, "moves_per_s": round(moves / figures["seconds"], 1),
            "errors": sum(d.errors for d in bench.drivers),
            "server_log_problems": problems, **figures}


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000,
                        help="timed sessions, each with its own connection (default 1000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per mode (default 5)")
    args = _common.parse(parser, argv)
    sessions = 20 if args.smoke else args.sessions
    seconds = 0.5 if args.smoke else args.seconds
    runs = [run_mode(mode, sessions, seconds, args.server_arg) for mode in ("none", "timers")]
    by_mode = {run["mode"]: run for run in runs}
    cost = round(by_mode["timers"]["server_cpu_us_per_request"]
                 - by_mode["none"]["server_cpu_us_per_request"], 1)
    record = {"benchmark": "timers", "smoke": args.smoke, **_common.machine_info(),
              "seconds_per_mode": seconds, "turn_timeout": TURN_TIMEOUT, "runs": runs,
              "timer_cost_us_per_move": cost}
    parts = [f"{r['mode']}: {r['moves_per_s']:.0f} moves/s, server "
             f"{r['server_cpu_us_per_request']:.1f} µs/move, errors {r['errors']}, others "
             f"{r['other_cpu_pct']:.0f}% + steal {r['steal_pct']:.0f}%" for r in runs]
    _common.emit(record, f"timers: {sessions} sessions | " + " | ".join(parts)
                 + f" | timers cost {cost:+.1f} µs/move")
    return 1 if any(r["errors"] or not r["all_joined"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
