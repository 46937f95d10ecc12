"""Benchmark: the floor under a game in a worker process, without our server.

Issue 13 asks what a game in a worker process adds per move, against the same
game in the server's process (``isolation.py``). This measures what the extra
hop alone costs on this machine, so that the figure of ours can be split into
what any Python server pays for a pipe round trip to a worker and what our own
code adds. A sequential client sends a move request of the size ours gets
(about 150 bytes, over loopback TCP with ``TCP_NODELAY``) and waits for the
reply; the server, on asyncio's loop with the socket watched by
``add_reader`` as ours is (``_rawconn.py``), answers it:

* ``direct``: with a canned reply at once (the game in the server's process,
  with a game that costs nothing);
* ``worker``: after writing the request to a worker process over a pipe and
  reading the worker's canned reply of about 300 bytes (two states, as
  ``_reply`` carries them) with ``os.readv`` from the loop, as
  ``workers.py`` does. The worker reads and writes with blocking calls.

Nothing is decoded, checked or saved. Prints the server's and the worker's
CPU per request (``/proc/PID/task/*/schedstat``: exact) and the client's
latency, and what the worker adds to each; compare with ``isolation.py``'s
"added" figures in the same run.

    python bench/hop.py --cpus 1            # 30,000 requests per mode, 3 rounds
    python bench/hop.py --smoke
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from typing import Any

import _common
from _common import TERMINATOR, perf_counter

REQUEST = (b'{"type": "move", "game": "TicTacToe", "session": "s0000", "player_id": 0, '
           b'"key": "0123456789abcdef0123456789abcdef", "move": {"position": 4}}'
           + TERMINATOR)
REPLY = b'{"status": "ok", "data": null}' + TERMINATOR
WORKER_REPLY = b"R" * 300
MODES = ("direct", "worker")
READ_SIZE = 64 * 1024


def _worker(requests: int, replies: int) -> None:
    """The worker: answer every read with a canned reply until the pipe closes."""
    while os.read(requests, READ_SIZE):
        os.write(replies, WORKER_REPLY)


def _serve(mode: str, listener: socket.socket, worker: tuple[int, int] | None) -> None:
    """The server: one client at a time, answered directly or through the worker."""
    loop = asyncio.new_event_loop()
    buffer = memoryview(bytearray(READ_SIZE))
    client: list[socket.socket] = []

    def from_worker() -> None:
        assert worker is not None
        try:
            os.readv(worker[1], [buffer])
        except BlockingIOError:
            return
        client[0].send(REPLY)

    def from_client() -> None:
        data = client[0].recv(READ_SIZE)
        if not data:
            loop.stop()
        elif worker is not None:
            os.write(worker[0], data)
        else:
            client[0].send(REPLY)

    def accept() -> None:
        conn, _ = listener.accept()
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.append(conn)
        loop.add_reader(conn.fileno(), from_client)

    listener.setblocking(False)
    loop.add_reader(listener.fileno(), accept)
    if worker is not None:
        os.set_blocking(worker[1], False)
        loop.add_reader(worker[1], from_worker)
    loop.run_forever()


def _start(mode: str, listener: socket.socket) -> tuple[int, int | None]:
    """Fork the server (and, for ``worker``, its worker); their pids."""
    ready_read, ready_write = os.pipe()
    server = os.fork()
    if server == 0:  # pragma: no cover - the server
        try:
            worker = None
            pid = 0
            if mode == "worker":
                to_worker, worker_in = os.pipe()
                worker_out, from_worker = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(worker_in)
                    os.close(worker_out)
                    _worker(to_worker, from_worker)
                    os._exit(0)
                os.close(to_worker)
                os.close(from_worker)
                worker = (worker_in, worker_out)
            os.write(ready_write, f"{pid}\n".encode())
            _serve(mode, listener, worker)
        finally:
            os._exit(0)
    os.close(ready_write)
    with os.fdopen(ready_read, "rb") as ready:
        worker_pid = int(ready.readline() or 0)
    return server, worker_pid or None


def run_mode(mode: str, requests: int) -> dict[str, Any]:
    """``requests`` sequential requests against a server of ``mode``; its figures."""
    listener = socket.create_server(("127.0.0.1", 0))
    server, worker = _start(mode, listener)
    try:
        sock = socket.create_connection(listener.getsockname())
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        latencies: list[float] = []

        def ask(count: int) -> None:
            for _ in range(count):
                start = perf_counter()
                sock.sendall(REQUEST)
                reply = sock.recv(READ_SIZE)
                while not reply.endswith(TERMINATOR):
                    reply += sock.recv(READ_SIZE)
                latencies.append(perf_counter() - start)

        with sock:
            ask(min(requests, 2000))  # warm-up
            latencies.clear()
            server_cpu = _common.cpu_exact_us(server)
            worker_cpu = _common.cpu_exact_us(worker) if worker else 0.0
            own = time.process_time_ns()
            busy = _common.machine_cpu_us()[0]
            start = perf_counter()
            ask(requests)
            wall = perf_counter() - start
            own = (time.process_time_ns() - own) / 1000
            server_cpu = _common.cpu_exact_us(server) - server_cpu
            worker_cpu = (_common.cpu_exact_us(worker) - worker_cpu) if worker else 0.0
            others = _common.machine_cpu_us()[0] - busy - own - server_cpu - worker_cpu
    finally:
        listener.close()
        for pid in (worker, server):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
    return {"mode": mode, "requests": requests,
            "server_cpu_us_per_request": round(server_cpu / requests, 2),
            "worker_cpu_us_per_request": round(worker_cpu / requests, 2),
            "client_cpu_us_per_request": round(own / requests, 2),
            **_common.percentiles(latencies, "latency_"),
            "other_cpu_pct": max(0.0, round(100 * others / 1e6 / wall, 1))}


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30_000,
                        help="requests per mode and round (default 30,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating (default 3)")
    args = _common.parse(parser, argv)
    requests = 2000 if args.smoke else args.requests
    rounds = 1 if args.smoke else args.rounds
    runs = [run_mode(mode, requests) for _ in range(rounds) for mode in MODES]
    added = []
    for direct, worker in zip(runs[::2], runs[1::2], strict=True):
        added.append({
            "server_cpu_us": round(worker["server_cpu_us_per_request"]
                                   - direct["server_cpu_us_per_request"], 2),
            "latency_p50_us": round(1000 * (worker["latency_p50_ms"]
                                            - direct["latency_p50_ms"]), 1),
            "worker_cpu_us": worker["worker_cpu_us_per_request"]})
    record = {"benchmark": "hop", "smoke": args.smoke, **_common.machine_info(),
              "runs": runs, "added": added}
    parts = " | ".join(f"+{a['server_cpu_us']:.1f} µs server CPU, +{a['latency_p50_us']:.1f} µs "
                       f"p50, worker {a['worker_cpu_us']:.1f} µs" for a in added)
    others = max(run["other_cpu_pct"] for run in runs)
    _common.emit(record, f"hop: a worker round trip adds {parts} per request | others up to "
                         f"{others:.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
