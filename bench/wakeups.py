"""Benchmark (h): what one wake-up costs on this machine, without our server.

Two processes pass one byte back and forth over loopback TCP (``TCP_NODELAY``,
blocking sockets: each side sleeps in ``recv`` until the other sends), the
way a sequential client and a server do per request. Measured three ways:

* ``same_cpu``: both processes on one CPU. A send makes the other process
  runnable on the same CPU: a context switch, no inter-processor interrupt.
* ``two_cpus``: one process per CPU. Every send wakes a sleeping CPU: in a
  virtual machine that interrupt goes through the hypervisor.
* ``unpinned``: where the scheduler puts them.

The figures are the machine's, not ours, and explain why a sequential
benchmark of the server (``rl_envs.py``, ``isolation.py``, ``roundtrip.py``)
gives different figures with ``--cpus 1`` than without: on the build machine
of docs/performance.md a round trip takes 12-14 µs on one vCPU and 50-56 µs
across two, and each side's CPU time per round trip goes from about 6 to
about 20 µs (the figures of its ``--cpus`` paragraph).

    python bench/wakeups.py              # 50,000 round trips per placement
    python bench/wakeups.py --smoke      # a few thousand: checks it runs
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from typing import Any

import _common


def _echo(listener: socket.socket, cpu: int | None) -> None:
    """The child: send back every byte until the other side closes."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while data := conn.recv(1):
        conn.sendall(data)


def round_trips(cpus: tuple[int, int] | None, count: int) -> dict[str, Any]:
    """``count`` one-byte round trips between this process and a child on ``cpus``."""
    listener = socket.create_server(("127.0.0.1", 0))
    address = listener.getsockname()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            _echo(listener, cpus[1] if cpus else None)
        finally:
            os._exit(0)
    listener.close()
    mask = os.sched_getaffinity(0)
    try:
        if cpus is not None:
            os.sched_setaffinity(0, {cpus[0]})
        sock = socket.create_connection(address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with sock:
            for _ in range(min(count, 2000)):  # warm-up
                sock.sendall(b"x")
                sock.recv(1)
            child = _common.cpu_exact_us(pid)
            own = time.process_time_ns()
            busy = _common.machine_cpu_us()[0]
            start = time.perf_counter()
            for _ in range(count):
                sock.sendall(b"x")
                sock.recv(1)
            wall = time.perf_counter() - start
            own = (time.process_time_ns() - own) / 1000
            child = _common.cpu_exact_us(pid) - child
            others = _common.machine_cpu_us()[0] - busy - own - child
    except BaseException:
        os.kill(pid, signal.SIGKILL)  # it may still wait for the connection
        raise
    finally:
        os.sched_setaffinity(0, mask)
        os.waitpid(pid, 0)
    return {"cpus": list(cpus) if cpus else None, "round_trips": count,
            "us_per_round_trip": round(wall / count * 1e6, 1),
            "sender_cpu_us": round(own / count, 1), "echo_cpu_us": round(child / count, 1),
            # Everything else that ran meanwhile, in % of one core.
            "other_cpu_pct": max(0.0, round(100 * others / 1e6 / wall, 1))}


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50_000,
                        help="round trips per placement (default 50,000)")
    args = _common.parse(parser, argv)
    if not hasattr(os, "sched_setaffinity"):
        print("wakeups: needs Linux (os.sched_setaffinity)", file=sys.stderr)
        return 2
    count = 3000 if args.smoke else args.count
    allowed = sorted(os.sched_getaffinity(0))
    runs = {"same_cpu": round_trips((allowed[-1], allowed[-1]), count)}
    if len(allowed) > 1:
        runs["two_cpus"] = round_trips((allowed[0], allowed[-1]), count)
    runs["unpinned"] = round_trips(None, count)
    record = {"benchmark": "wakeups", "smoke": args.smoke, **_common.machine_info(), **runs}
    parts = [f"{name.replace('_', ' ')}: {run['us_per_round_trip']:.1f} µs per round trip "
             f"(CPU {run['sender_cpu_us']:.1f} + {run['echo_cpu_us']:.1f} µs)"
             for name, run in runs.items()]
    if "two_cpus" not in runs:
        parts.append("two cpus: skipped (one CPU allowed)")
    others = max(run["other_cpu_pct"] for run in runs.values())
    _common.emit(record, "wakeups: " + " | ".join(parts) + f" | others up to {others:.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
