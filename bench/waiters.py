"""Benchmark (b): C clients blocked in ``state`` at once, wake-ups, and disconnects.

Setup: C one-player Echo sessions. Each client joins its own session and
asks for the state twice; the first ``state`` returns at once, the second
blocks (a classic request: it holds its connection until it is answered).
Optionally (``--fanout F``) F more clients share one Chat session and block
the same way. The setup uses one kept-alive connection per client for the
join and the first state, then sends the blocking state on it without
``keep_alive``, so every blocked client holds exactly one connection.

Then, with all of them blocked:

1. server RSS and open fds (/proc), compared with the idle server;
2. wake-up latency when one session changes: one Echo session at a time
   gets a move (on a separate kept-alive connection); latency = move sent →
   that session's blocked ``state`` reply received. The woken client
   blocks again before the next sample. Any other client waking up is a
   spurious wake-up (an error);
3. fan-out (with ``--fanout``): one Chat message wakes all F clients of the
   Chat session; latency of each, move sent → reply;
4. disconnects: every blocked client closes its connection at once; the
   time until the server holds no TCP connection shows the server noticed
   and freed them (RSS is reported too; Python keeps freed
   memory for reuse, so RSS falls less than fds do).

    python bench/waiters.py                  # C = 10,000, F = 100
    python bench/waiters.py --clients 2000 --samples 500
    python bench/waiters.py --smoke
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import _common
from _common import Conn, Loop, perf_counter

DISCONNECT_MAX = 60.0  # seconds the server may take to free the disconnected clients


class Waiter:
    """One client: join its session, read the state once, then block in state."""

    __slots__ = ("bench", "index", "game", "session", "players", "conn", "pid", "key",
                 "state_ka", "state_classic", "blocked", "on_wake")

    def __init__(self, bench: Bench, index: int, game: str, session: str, players: int):
        self.bench = bench
        self.index = index
        self.game = game
        self.session = session
        self.players = players
        self.conn = Conn(bench.loop)
        self.pid = -1
        self.key = ""
        self.blocked = False
        self.on_wake: Any = None  # set by the sampler that expects this wake-up

    def start(self) -> None:
        join = {"type": "join", "game": self.game, "session": self.session,
                "players": self.players, "name": ""}
        self.conn.send(_common.encode(join, True), self.on_join, True)

    def on_join(self, reply: bytes | None, err: str | None) -> None:
        data = self.bench.check(reply, err, "join")
        if data is None:
            return
        self.pid, self.key = data["player_id"], data["key"]
        ids = {"game": self.game, "session": self.session, "player_id": self.pid,
               "key": self.key}
        state = {"type": "state", **ids, "observer": False}
        self.state_classic = _common.encode(state)
        self.conn.send(_common.encode(state, True), self.on_first_state, True)

    def on_first_state(self, reply: bytes | None, err: str | None) -> None:
        if self.bench.check(reply, err, "state") is None:
            return
        self.block()
        self.bench.setup_done += 1

    def block(self) -> None:
        """Send the state request that blocks (classic: the reply closes the connection)."""
        if self.conn.sock is None:
            self.conn = Conn(self.bench.loop)
        self.blocked = True
        self.conn.send(self.state_classic, self.on_reply, False)

    def on_reply(self, reply: bytes | None, err: str | None) -> None:
        self.blocked = False
        handler, self.on_wake = self.on_wake, None
        if handler is None:
            self.bench.spurious += 1
            self.bench.check(reply, err, "state")
            return
        handler(self, reply, err)


class Bench:
    def __init__(self, server: _common.Server, sources: int) -> None:
        self.server = server
        self.loop = Loop(server.addr, sources)
        self.errors: dict[str, int] = {}
        self.spurious = 0
        self.setup_done = 0

    def check(self, reply: bytes | None, err: str | None, what: str) -> dict[str, Any] | None:
        """The reply's data, or None after counting the error."""
        if reply is not None:
            answer = json.loads(reply)
            if answer.get("status") == "ok":
                return answer["data"]
            err = str(answer.get("message"))
        message = f"{what}: {err}"[:100]
        self.errors[message] = self.errors.get(message, 0) + 1
        return None


def populate(bench: Bench, waiters: list[Waiter], in_flight: int) -> bool:
    """Start every waiter's setup, at most ``in_flight`` at once; True if all blocked."""
    pending = iter(waiters)
    started = 0
    target = len(waiters)

    def refill() -> bool:
        nonlocal started
        while started - bench.setup_done < in_flight and started < target:
            next(pending).start()
            started += 1
        return bench.setup_done + len(bench.errors) >= target

    return bench.loop.run(120.0, refill) and bench.setup_done == target


def sample_wakeups(bench: Bench, waiters: list[Waiter], samples: int) -> dict[str, Any]:
    """Change one Echo session at a time; time move sent → its blocked state's reply."""
    loop = bench.loop
    poker = Conn(loop)
    step = max(1, len(waiters) // max(samples, 1))
    chosen = [waiters[(n * step) % len(waiters)] for n in range(samples)]
    latencies: list[float] = []
    move_latencies: list[float] = []
    done = 0
    outstanding = 0
    t0 = 0.0

    def woke(waiter: Waiter, reply: bytes | None, err: str | None) -> None:
        nonlocal outstanding
        if bench.check(reply, err, "woken state") is not None:
            latencies.append(loop.now - t0)
        waiter.block()
        outstanding -= 1
        if outstanding == 0:
            loop.call_later(0.002, next_sample)  # let the new blocked state land

    def moved(reply: bytes | None, err: str | None) -> None:
        nonlocal outstanding
        if reply is not None and reply.startswith(b'{"status": "ok"'):
            move_latencies.append(loop.now - t0)
        else:
            bench.check(reply, err, "move")
        outstanding -= 1
        if outstanding == 0:
            loop.call_later(0.002, next_sample)

    def next_sample() -> None:
        nonlocal done, outstanding, t0
        if done >= len(chosen):
            return
        waiter = chosen[done]
        done += 1
        waiter.on_wake = woke
        move = {"type": "move", "game": "Echo", "session": waiter.session,
                "player_id": waiter.pid, "key": waiter.key, "move": {"msg": done}}
        outstanding = 2
        t0 = perf_counter()
        poker.send(_common.encode(move, True), moved, True)

    meter = _common.Meter(bench.server.pid)
    next_sample()
    loop.run(60.0, lambda: done >= len(chosen) and outstanding == 0)
    poker.close()
    figures = meter.read(3 * done)  # move, woken state, new blocked state
    return {**_common.percentiles(latencies, "wake_"),
            **_common.percentiles(move_latencies, "wake_move_"),
            "wake_server_cpu_us_per_request": figures["server_cpu_us_per_request"],
            "wake_other_cpu_pct": figures["other_cpu_pct"],
            "wake_steal_pct": figures["steal_pct"]}


def sample_fanout(bench: Bench, fans: list[Waiter], rounds: int) -> dict[str, Any]:
    """Post one Chat message per round; time move sent → each of the F replies."""
    loop = bench.loop
    poker = Conn(loop)
    latencies: list[float] = []
    last: list[float] = []
    done = 0
    outstanding = 0
    t0 = 0.0
    sender = fans[0]

    def woke(waiter: Waiter, reply: bytes | None, err: str | None) -> None:
        nonlocal outstanding
        if bench.check(reply, err, "woken state") is not None:
            latencies.append(loop.now - t0)
        outstanding -= 1
        if outstanding == 0:
            last.append(loop.now - t0)
            for fan in fans:  # all of them block again, then the next round
                fan.block()
            loop.call_later(0.02, next_round)

    def moved(reply: bytes | None, err: str | None) -> None:
        bench.check(reply, err, "chat move")

    def next_round() -> None:
        nonlocal done, outstanding, t0
        if done >= rounds:
            return
        done += 1
        for fan in fans:
            fan.on_wake = woke
        outstanding = len(fans)
        move = {"type": "move", "game": "Chat", "session": sender.session,
                "player_id": sender.pid, "key": sender.key,
                "move": {"name": "bench", "message": f"round {done}"}}
        t0 = perf_counter()
        poker.send(_common.encode(move, True), moved, True)

    next_round()
    loop.run(60.0, lambda: done >= rounds and outstanding == 0)
    poker.close()
    return {"fanout_rounds": done, **_common.percentiles(latencies, "fanout_"),
            **_common.percentiles(last, "fanout_last_")}


def disconnect_all(bench: Bench, waiters: list[Waiter], idle_sockets: int) -> dict[str, Any]:
    """Close every blocked client at once; time until the server holds no connection.

    Its TCP connections rather than all fds or sockets: a server may open files
    meanwhile (a database, its journal) and listeners (the dashboard's, late on a
    loaded machine) that are no client's. ``idle_sockets`` is only reported.
    """
    pid = bench.server.pid
    fds_before = _common.open_fds(pid)
    sockets_before = _common.open_sockets(pid)
    rss_before = _common.rss_kb(pid)
    t0 = perf_counter()
    for waiter in waiters:
        waiter.on_wake = None
        waiter.blocked = False
        waiter.conn.close()
    closed = perf_counter() - t0
    freed = None
    # A hang guard: on a loaded vCPU the smoke run's 310 took 3.6 s (niced by 5 beside
    # four busy loops), a third of the 10 s this was.
    deadline = t0 + DISCONNECT_MAX
    while perf_counter() < deadline:
        if _common.open_connections(pid) == 0:
            freed = perf_counter() - t0
            break
        time.sleep(0.005)  # polling /proc: nothing to await
    sockets = _common.open_sockets(pid)
    rss_at_free = _common.rss_kb(pid)
    time.sleep(1.0)
    return {
        "disconnect_clients": len(waiters),
        "disconnect_close_ms": round(closed * 1000, 1),
        "disconnect_freed_ms": None if freed is None else round(freed * 1000, 1),
        "disconnect_fds_before": fds_before,
        "disconnect_fds_after": _common.open_fds(pid),
        "disconnect_sockets_before": sockets_before,
        "disconnect_sockets_after": sockets,
        "idle_sockets": idle_sockets,
        "disconnect_rss_kb_before": rss_before,
        "disconnect_rss_kb_after": rss_at_free,
        "disconnect_rss_kb_after_1s": _common.rss_kb(pid),
    }


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000,
                        help="blocked Echo clients C (default 10000)")
    parser.add_argument("--fanout", type=int, default=100,
                        help="extra clients in one Chat session, woken together "
                             "(default 100, at most 100; 0: none)")
    parser.add_argument("--samples", type=int, default=300,
                        help="single-session wake-ups to time (default 300)")
    parser.add_argument("--rounds", type=int, default=20, help="fan-out rounds (default 20)")
    parser.add_argument("--in-flight", type=int, default=200,
                        help="setups in progress at once (default 200)")
    parser.add_argument("--sources", type=int, default=0,
                        help="spread connections over 127.0.0.1..N (default: one address "
                             "per 1000 clients, as many students on many machines; the server "
                             "limits connections and new sessions per address)")
    args = _common.parse(parser, argv)
    clients, fanout = args.clients, min(args.fanout, 100)
    samples, rounds = args.samples, args.rounds
    if args.smoke:
        clients, fanout, samples, rounds = 300, 10, 30, 3
    total = clients + fanout
    sources = args.sources or max(1, -(-total // 1000))
    nofile = total + 1000
    _common.raise_nofile(nofile)
    server_args = ["--log-level", "WARNING", *args.server_arg]
    with _common.Server(*server_args, nofile=nofile) as server:
        pid = server.pid
        bench = Bench(server, sources)
        _common.wait_idle(pid)  # a server may open more sockets just after it logged
        idle_rss, idle_fds = _common.rss_kb(pid), _common.open_fds(pid)
        idle_sockets = _common.open_sockets(pid)
        echo = [Waiter(bench, n, "Echo", f"wait-{n}", 1) for n in range(clients)]
        fans = [Waiter(bench, clients + n, "Chat", "fan", fanout) for n in range(fanout)]
        meter = _common.Meter(pid)
        t0 = perf_counter()
        # The Chat clients first: their joins block until all F have joined.
        blocked = populate(bench, fans + echo, args.in_flight)
        setup_seconds = perf_counter() - t0
        setup = meter.read(3 * total)
        _common.wait_idle(pid)  # let the server finish the last blocking requests
        populated = {
            "blocked_clients": sum(w.blocked for w in fans + echo),
            "all_blocked": blocked,
            "setup_seconds": round(setup_seconds, 2),
            "setup_server_cpu_us_per_request": setup["server_cpu_us_per_request"],
            "setup_generator_cpu_us_per_request": setup["generator_cpu_us_per_request"],
            "setup_listen_overflows": setup["listen_overflows"],
            "idle_rss_kb": idle_rss,
            "idle_fds": idle_fds,
            "rss_kb": _common.rss_kb(pid),
            "peak_rss_kb": _common.peak_rss_kb(pid),
            "fds": _common.open_fds(pid),
            "threads": _common.threads(pid),
        }
        populated["rss_kb_per_client"] = round(
            (populated["rss_kb"] - idle_rss) / max(total, 1), 2)
        wake = sample_wakeups(bench, echo, samples) if blocked and echo else {}
        fan = sample_fanout(bench, fans, rounds) if blocked and fans else {}
        gone = disconnect_all(bench, fans + echo, idle_sockets)
        bench.loop.close()
        problems = server.log_problems()
        problem_lines = server.problem_lines()
    errors = sum(bench.errors.values())
    record = {"benchmark": "waiters", "smoke": args.smoke, **_common.machine_info(),
              **_common.fsync_ms(5 if args.smoke else 20),
              "clients": clients, "fanout": fanout, "source_addresses": sources,
              **populated, **wake, **fan, **gone,
              "spurious_wakeups": bench.spurious, "errors": errors,
              "error_kinds": dict(sorted(bench.errors.items(), key=lambda kv: -kv[1])[:5]),
              "server_log_problems": problems, "server_log_excerpt": problem_lines,
              "other_cpu_pct_during_setup": setup["other_cpu_pct"],
              "steal_pct_during_setup": setup["steal_pct"]}
    summary = (
        f"waiters: {populated['blocked_clients']} blocked "
        f"(setup {populated['setup_seconds']} s), server RSS "
        f"{populated['rss_kb'] / 1024:.1f} MiB ({populated['rss_kb_per_client']:.2f} KiB/client), "
        f"{populated['fds']} fds, {populated['threads']} threads; wake p50/p99 "
        f"{_common.fmt(wake.get('wake_p50_ms'), 2)}/{_common.fmt(wake.get('wake_p99_ms'), 2)} "
        f"ms; fan-out {fanout} p50/p99 {_common.fmt(fan.get('fanout_p50_ms'), 2)}/"
        f"{_common.fmt(fan.get('fanout_p99_ms'), 2)} ms; disconnect freed in "
        f"{_common.fmt(gone['disconnect_freed_ms'])} ms; errors {errors}, "
        f"spurious {bench.spurious}; others {setup['other_cpu_pct']:.0f}% + steal "
        f"{setup['steal_pct']:.0f}% during setup")
    _common.emit(record, summary)
    return 0 if blocked and not errors and gone["disconnect_freed_ms"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
