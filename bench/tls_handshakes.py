"""Benchmark: a flood of replayed TLS ClientHellos, and a connected client meanwhile.

An attacker records one ClientHello and sends it again and again, each time
on a new connection: it costs the attacker nothing, the server a whole
handshake's key exchange and signature. Here ``--threads`` threads (in a
process of their own) each connect, send the recorded hello, wait for the
server's answer (or the connection's end) and close, as fast as they can.
Meanwhile one client that is already connected (TLS, kept alive) asks for
its Echo session to make a move, one request after the other.

Two windows against the same server: ``quiet`` (the client alone), then
``flood``. For each: the client's request latency (p50, p99, max), and
for the flood the hellos answered per second, the server's CPU per hello
(all its threads) and the CPU of its event loop's thread per hello (the
main thread: ``/proc/PID/task/PID/schedstat``, exact).

    python bench/tls_handshakes.py --cpus 0            # 5 s per window
    python bench/tls_handshakes.py --smoke             # a few seconds in all
"""

from __future__ import annotations

import json
import multiprocessing
import socket
import ssl
import sys
import threading
import time
from typing import Any

import _common
from _common import ROOT, perf_counter
from roundtrip import KeptAlive

CERT = ROOT / "tests" / "data" / "localhost-cert.pem"
KEY = ROOT / "tests" / "data" / "localhost-key.pem"


def client_hello() -> bytes:
    """The records of one ClientHello, as a client sends them first."""
    context = ssl.create_default_context(cafile=str(CERT))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def thread_cpu_us(pid: int, tid: int) -> tuple[float, float, float]:
    """CPU time of one thread of ``pid``, in µs: all of it (exact: schedstat), and its
    user and system parts (in clock ticks: 10 ms)."""
    with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as file:
        exact = int(file.read().split()[0]) / 1000
    with open(f"/proc/{pid}/task/{tid}/stat", "rb") as file:
        fields = file.read().rsplit(b")", 1)[1].split()
    return exact, int(fields[11]) * 1e6 / _common.CLK_TCK, int(fields[12]) * 1e6 / _common.CLK_TCK


def flood(addr: tuple[str, int], hello: bytes, threads: int, seconds: float,
          answered: Any, refused: Any) -> None:
    """Replay ``hello`` from ``threads`` threads for ``seconds``; count the answers."""
    deadline = time.monotonic() + seconds

    def one_thread() -> None:
        mine = theirs = 0
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(addr, timeout=5) as sock:
                    sock.sendall(hello)
                    if sock.recv(65536):
                        mine += 1
                    else:
                        theirs += 1
            except OSError:
                theirs += 1
        with answered.get_lock():
            answered.value += mine
        with refused.get_lock():
            refused.value += theirs

    workers = [threading.Thread(target=one_thread) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


class Client(KeptAlive):
    """One kept-alive TLS connection making moves in an Echo session (``request`` as
    roundtrip.py's kept-alive client)."""

    def __init__(self, addr: tuple[str, int]) -> None:
        context = ssl.create_default_context(cafile=str(CERT))
        raw = socket.create_connection(addr, timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(raw, server_hostname="localhost")


def window(server: _common.Server, client: Client, move: bytes, seconds: float,
           hello: bytes | None, threads: int) -> dict[str, Any]:
    """Requests for ``seconds``, with a flood of ``hello`` beside them if given."""
    answered = multiprocessing.Value("l", 0)
    refused = multiprocessing.Value("l", 0)
    flooder = None
    if hello is not None:
        flooder = multiprocessing.Process(target=flood, args=(
            server.addr, hello, threads, seconds, answered, refused))
        flooder.start()
        time.sleep(0.2)  # the flood under way
    loop0 = thread_cpu_us(server.pid, server.pid)
    meter = _common.Meter(server.pid)
    latencies, errors = [], 0
    deadline = perf_counter() + (seconds - 0.4 if hello is not None else seconds)
    while perf_counter() < deadline:
        start = perf_counter()
        reply = client.request(move)
        latencies.append(perf_counter() - start)
        if json.loads(reply).get("status") != "ok":
            errors += 1
    loop_us, user_us, system_us = (after - before for after, before in zip(
        thread_cpu_us(server.pid, server.pid), loop0, strict=True))
    if flooder is not None:
        flooder.join()
    hellos = answered.value
    figures = meter.read(len(latencies))
    wall = figures["seconds"]
    result = {"flood": hello is not None, **_common.percentiles(latencies, "latency_"),
              "errors": errors, **figures}
    if hello is not None:
        result.update({
            "hellos_answered": hellos, "hellos_refused_or_failed": refused.value,
            "hellos_per_s": round(hellos / wall, 1),
            "server_cpu_us_per_hello": round(figures["server_cpu_s"] * 1e6 / max(hellos, 1), 1),
            "loop_thread_cpu_us_per_hello": round(loop_us / max(hellos, 1), 1),
            "loop_thread_user_us_per_hello": round(user_us / max(hellos, 1), 1),
            "loop_thread_system_us_per_hello": round(system_us / max(hellos, 1), 1),
        })
    result["loop_thread_cpu_pct"] = round(100 * loop_us / 1e6 / wall, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per window (default 5)")
    parser.add_argument("--threads", type=int, default=8, help="flooding threads (default 8)")
    args = _common.parse(parser, argv)
    seconds = 1.0 if args.smoke else args.seconds
    hello = client_hello()
    with _common.Server("--log-level", "WARNING", "--no-store", "--tls-cert", str(CERT),
                        "--tls-key", str(KEY), *args.server_arg) as server:
        client = Client(server.addr)
        join = _common.encode({"type": "join", "game": "Echo", "session": "tls",
                               "players": 1, "name": ""}, keep_alive=True)
        key = json.loads(client.request(join))["data"]["key"]
        move = _common.encode({"type": "move", "game": "Echo", "session": "tls",
                                "player_id": 0, "key": key, "move": {"msg": 1}},
                               keep_alive=True)
        quiet = window(server, client, move, seconds, None, args.threads)
        flooded = window(server, client, move, seconds, hello, args.threads)
        problems = server.log_problems()
        log = server.log()
    warnings = [line[:200] for line in log.splitlines() if "TLS handshake" in line][:4]
    record = {"benchmark": "tls_handshakes", "smoke": args.smoke, **_common.machine_info(),
              "threads": args.threads, "seconds_per_window": seconds,
              "runs": [quiet, flooded], "server_log_problems": problems,
              "server_log_tls_lines": warnings}
    summary = (
        f"tls_handshakes: quiet p50 {_common.fmt(quiet['latency_p50_ms'], 2)} ms, p99 "
        f"{_common.fmt(quiet['latency_p99_ms'], 2)} ms | flood of {args.threads} threads "
        f"({flooded['hellos_per_s']:.0f} hellos/s answered, "
        f"{flooded['hellos_refused_or_failed']} refused or failed): p50 "
        f"{_common.fmt(flooded['latency_p50_ms'], 2)} ms, p99 "
        f"{_common.fmt(flooded['latency_p99_ms'], 2)} ms, max "
        f"{_common.fmt(flooded['latency_max_ms'], 2)} ms | server "
        f"{flooded['server_cpu_us_per_hello']:.0f} µs/hello, loop thread "
        f"{flooded['loop_thread_cpu_us_per_hello']:.0f} µs/hello (user "
        f"{flooded['loop_thread_user_us_per_hello']:.0f}, system "
        f"{flooded['loop_thread_system_us_per_hello']:.0f}) "
        f"({flooded['loop_thread_cpu_pct']:.0f}% busy) | errors "
        f"{quiet['errors'] + flooded['errors']}")
    _common.emit(record, summary)
    return 1 if quiet["errors"] or flooded["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
