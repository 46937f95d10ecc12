"""Benchmark: what running a game in a worker process costs the server, per move and per state.

The same TicTacToe games are played against two servers: one runs TicTacToe
in the server process (``--isolate-games off``), the other in a worker
process (``--isolate-games all``). One client holds both seats on one
kept-alive connection, each request waiting for its reply, and plays games
of exactly seven moves (always the first free cell: the starting player
wins on the diagonal), restarting between games. Two phases per server:

* ``pairs``: after every move, the mover asks for its state;
* ``moves``: only the state after each restart (to learn who starts).

The states cost ``(pairs - moves) / extra states``; a *change* (a move or a
restart: the requests that go to the worker) costs what remains of
``moves``. Server CPU comes from /proc's schedstat, exact (the server
process's threads only; the worker's own CPU is reported apart), latency
from the client's clock. The client's own CPU per request (``moves``
phase) is reported too: its code and its requests are the same for both
servers, so what it adds with a worker is what the machine charges for a
third process taking turns on the CPU (cold caches after each switch),
not our code. The servers take turns (``--rounds``) so that a
busy neighbour hurts both alike; figures are the medians over rounds.
Memory: each worker's resident set after the run.

``--tables N`` plays N such sessions at once, each from a thread of its own
on a connection of its own (a class's server, rather than one sequential
client): the server and the worker then handle several requests per wake-up,
so the CPU per change shows what a busy server pays; the latencies then
include the wait behind the other tables' requests.

    python bench/isolation.py              # 3 rounds of 300 games per phase, no store
    python bench/isolation.py --store      # the same with the store on (the default)
    python bench/isolation.py --smoke      # a few seconds in all
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from typing import Any

import _common
from _common import perf_counter
from roundtrip import KeptAlive

MOVES_PER_GAME = 7
MODES = {"in_process": ("--isolate-games", "off"), "isolated": ("--isolate-games", "all")}


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the server's game workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as file:
                    fields = file.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


class Table:
    """One TicTacToe session with both seats on one kept-alive connection."""

    def __init__(self, server: _common.Server, session: str = "t") -> None:
        joins = [_common.encode({"type": "join", "game": "TicTacToe", "session": session,
                                 "players": 2, "name": name}, True) for name in ("a", "b")]
        first = KeptAlive(server.addr)
        replies: list[bytes] = []
        joiner = threading.Thread(target=lambda: replies.append(first.request(joins[0])))
        joiner.start()
        self.conn = KeptAlive(server.addr)
        seats = [json.loads(self.conn.request(joins[1]))["data"]]
        joiner.join(30)
        first.close()
        seats.insert(0, json.loads(replies[0])["data"])
        keys = {seat["player_id"]: seat["key"] for seat in seats}
        ids = [{"game": "TicTacToe", "session": session, "player_id": p, "key": keys[p]}
               for p in (0, 1)]
        self.moves = [[_common.encode({"type": "move", **ids[p], "move": {"position": cell}},
                                      True) for cell in range(9)] for p in (0, 1)]
        self.states = [_common.encode({"type": "state", **ids[p], "observer": False}, True)
                       for p in (0, 1)]
        self.restart = _common.encode({"type": "restart", **ids[0]}, True)
        self.move_latency: list[float] = []
        self.state_latency: list[float] = []
        self.errors = 0

    def timed(self, payload: bytes, into: list[float]) -> bytes:
        start = perf_counter()
        reply = self.conn.request(payload)
        into.append(perf_counter() - start)
        if not reply.startswith(b'{"status": "ok"'):
            self.errors += 1
        return reply

    def play(self, games: int, states: bool) -> tuple[int, int]:
        """Play ``games`` games; returns (changes, states) sent."""
        changes = asked = 0
        for _ in range(games):
            self.timed(self.restart, [])
            current = json.loads(self.timed(self.states[0], []))["data"]["current"][0]
            changes, asked = changes + 1, asked + 1
            for cell in range(MOVES_PER_GAME):
                self.timed(self.moves[current][cell], self.move_latency)
                if states:
                    self.timed(self.states[current], self.state_latency)
                    asked += 1
                changes += 1
                current = 1 - current
        return changes, asked

    def close(self) -> None:
        self.conn.close()


def others(phase: dict[str, Any]) -> float:
    """A phase's "others" without the game's workers: they are processes of their own,
    which ``Meter`` (knowing the server and this process) counted among the others
    (24-34 % in every isolated run); their CPU is reported apart."""
    return _common.others_without(phase["other_cpu_pct"], phase["worker_cpu_us"],
                                  phase["seconds"])


def play_all(tables: list[Table], games: int, states: bool) -> tuple[int, int]:
    """Each table plays ``games`` games, all tables at once (a thread each); returns the
    (changes, states) sent in all."""
    if len(tables) == 1:
        return tables[0].play(games, states)
    sent: list[tuple[int, int]] = []
    threads = [threading.Thread(target=lambda t=table: sent.append(t.play(games, states)))
               for table in tables]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(changes for changes, _ in sent), sum(asked for _, asked in sent)


def measure(server: _common.Server, games: int, tables: int = 1) -> dict[str, Any]:
    """Both phases on one server; CPU per state and per change, and the latencies.
    With several ``tables`` they play at once, ``games // tables`` games each."""
    all_tables = [Table(server, f"t{number}") for number in range(tables)]
    for table in all_tables:
        table.play(2, states=True)  # warm up (and build the first game)
        table.move_latency.clear()
        table.state_latency.clear()
    # The client's CPU: its one thread, or with several tables all of its threads.
    client_clock = time.thread_time if tables == 1 else time.process_time
    workers = children(server.pid)
    figures = {}
    cpu = {}
    for phase, states in (("pairs", True), ("moves", False)):
        # Exact CPU (schedstat): a smoke run's few games take less than a 10 ms clock tick.
        worker_cpu = sum(_common.cpu_exact_us(w) for w in workers)
        server_cpu = _common.cpu_exact_us(server.pid)
        meter = _common.Meter(server.pid)
        client_cpu = client_clock()
        changes, asked = play_all(all_tables, max(1, games // tables), states)
        client_cpu = client_clock() - client_cpu
        figures[phase] = meter.read(changes + asked)
        figures[phase]["client_cpu_us"] = client_cpu * 1e6 / (changes + asked)
        cpu[phase] = _common.cpu_exact_us(server.pid) - server_cpu
        figures[phase]["changes"], figures[phase]["states"] = changes, asked
        figures[phase]["worker_cpu_us"] = (sum(_common.cpu_exact_us(w) for w in workers)
                                           - worker_cpu)
    for table in all_tables:
        table.close()
    move_latency = [value for table in all_tables for value in table.move_latency]
    state_latency = [value for table in all_tables for value in table.state_latency]
    pairs, moves = figures["pairs"], figures["moves"]
    extra_states = pairs["states"] - moves["states"]
    per_state = (cpu["pairs"] - cpu["moves"]) / extra_states
    per_change = (cpu["moves"] - moves["states"] * per_state) / moves["changes"]
    worker_per_change = moves["worker_cpu_us"] / moves["changes"]
    return {
        "server_cpu_us_per_change": round(per_change, 1),
        "server_cpu_us_per_state": round(per_state, 1),
        "worker_cpu_us_per_change": round(worker_per_change, 1),
        "client_cpu_us_per_request": round(moves["client_cpu_us"], 1),
        **_common.percentiles(move_latency, "move_"),
        **_common.percentiles(state_latency, "state_"),
        "errors": sum(table.errors for table in all_tables),
        "worker_rss_kb": [_common.rss_kb(w) for w in workers],
        "other_cpu_pct": max(others(pairs), others(moves)),
        "steal_pct": max(pairs["steal_pct"], moves["steal_pct"]),
        "seconds": round(pairs["seconds"] + moves["seconds"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=300, help="per phase (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="turns of each server (default 3)")
    parser.add_argument("--store", action="store_true",
                        help="keep the store on (the default server setting); without it the "
                             "servers run with --no-store, so that only the game calls differ")
    parser.add_argument("--tables", type=int, default=1,
                        help="sessions played at once, each by a thread of its own on a "
                             "connection of its own (default 1: one sequential client); "
                             "the games per phase are shared among them")
    args = _common.parse(parser, argv)
    games, rounds = (5, 1) if args.smoke else (args.games, args.rounds)
    runs: list[dict[str, Any]] = []
    idle_rss: dict[str, list[int]] = {}
    for round_number in range(rounds):
        for mode, flags in MODES.items():
            store = [] if args.store else ["--no-store"]
            with _common.Server("--log-level", "WARNING", *store, "--no-web",
                                "--game", "TicTacToe", *flags, *args.server_arg) as server:
                if mode == "isolated":
                    idle_rss[mode] = [_common.rss_kb(w) for w in children(server.pid)]
                run = measure(server, games, args.tables)
                run["problems"] = server.log_problems()
            runs.append({"mode": mode, "round": round_number, **run})

    def median(mode: str, key: str) -> float:
        values = [r[key] for r in runs if r["mode"] == mode and r[key] is not None]
        return round(statistics.median(values), 3) if values else 0.0

    keys = ("server_cpu_us_per_change", "server_cpu_us_per_state", "move_p50_ms",
            "state_p50_ms", "move_p99_ms", "state_p99_ms", "worker_cpu_us_per_change",
            "client_cpu_us_per_request")
    medians = {mode: {key: median(mode, key) for key in keys} for mode in MODES}
    added = {key: round(medians["isolated"][key] - medians["in_process"][key], 3)
             for key in (*keys[:4], "client_cpu_us_per_request")}
    record = {"benchmark": "isolation", "smoke": args.smoke, **_common.machine_info(),
              "games_per_phase": games, "tables": args.tables, "rounds": rounds,
              "store": args.store, "runs": runs,
              "medians": medians,
              "added": added, "worker_idle_rss_kb": idle_rss.get("isolated", []),
              "errors": sum(r["errors"] for r in runs)}
    iso, local = medians["isolated"], medians["in_process"]
    idle = idle_rss.get("isolated")
    idle_mib = statistics.median(idle) / 1024 if idle else None
    others = max(r["other_cpu_pct"] for r in runs)
    summary = (f"isolation: added per change {added['server_cpu_us_per_change']:+.1f} µs server "
               f"CPU ({local['server_cpu_us_per_change']:.1f} -> "
               f"{iso['server_cpu_us_per_change']:.1f}), "
               f"{added['move_p50_ms'] * 1000:+.0f} µs p50 latency; per state "
               f"{added['server_cpu_us_per_state']:+.1f} µs CPU, "
               f"{added['state_p50_ms'] * 1000:+.0f} µs p50; worker "
               f"{iso['worker_cpu_us_per_change']:.0f} µs CPU per change; the client's own "
               f"CPU per request {added['client_cpu_us_per_request']:+.1f} µs (same code: "
               "the machine's cost of a third process in turn); idle RSS "
               f"{_common.fmt(idle_mib)} MiB per worker; errors {record['errors']}; others up "
               f"to {others:.0f}%")
    _common.emit(record, summary)
    return 1 if record["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
