"""Benchmark (e): 200 people playing in the browser and 50 watching slow nobody down (issue 20.4).

The server runs with its defaults (store on). One game client plays on its
own keep-alive connection, move + state, each request waiting for its
reply (the probe of bench/dashboard.py), and its latency is measured in two
phases against the same server:

* ``idle``: nobody uses the dashboard;
* ``browsers``: ``--players`` simulated browsers play tic-tac-toe in
  pairs through the play endpoints, exactly as play.js does (a join stream,
  then one standing state stream each, and a move POSTed on a keep-alive
  connection ``--think`` seconds after their turn comes; the first player
  restarts each finished game), while ``--spectators`` spectator pages
  stream those sessions (server-sent events). After the probe, the server's
  CPU is measured for ``--crowd-seconds`` with the browsers alone: what they
  cost, per browser move (a figure that others on the machine disturb far
  less than a latency).

The browsers run in a separate process (asyncio, raw HTTP/1.1): what they
cost does not land in the probe's process. Each browser phase first joins
every pair and waits until every stream has shown its first state; only
then is the probe measured. The phases run ``--rounds`` times, interleaved,
and the median p99 of each phase is compared (the goal: within 2x of idle).
The record also has the server's memory (RSS) idle and with everyone
connected, the browsers' own move latency, and how many moves, pushed
states and spectator events there were.

    python bench/browsers.py                    # 200 players, 50 spectators, 3 x 5 s
    python bench/browsers.py --think 0.2        # faster players: more load
    python bench/browsers.py --smoke            # a few seconds in all
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import socket
import statistics
import sys
import time
from typing import Any

import _common
from _common import perf_counter
from dashboard import free_port, measured_seat
from dashboard import play as probe

HEADERS = "Content-Type: application/json\r\nX-Gameserver-Play: 1\r\n"


# ---------------------------------------------------------------- a browser, in HTTP/1.1


class Http:
    """One connection to the dashboard (asyncio streams), as a browser holds it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Http:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        return cls(reader, writer)

    def post(self, path: str, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{HEADERS}"
                          f"Content-Length: {len(data)}\r\n\r\n".encode() + data)

    def get(self, path: str) -> None:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())

    async def head(self) -> tuple[int, int | None]:
        """The reply's status and Content-Length (None: a stream that runs until closed)."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(lines[0].split()[1]), length

    async def reply(self) -> Any:
        status, length = await self.head()
        body = await self.reader.readexactly(length or 0)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
        return json.loads(body)

    async def events(self) -> Any:
        """Each server-sent event of a stream as (name, data text)."""
        status, _ = await self.head()
        if status != 200:
            raise RuntimeError(f"HTTP {status} for a stream")
        name, data = "message", None
        while line := await self.reader.readline():
            line = line.rstrip(b"\n")
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"data: "):
                data = line[6:]
            elif not line and data is not None:
                yield name, data
                name, data = "message", None

    def close(self) -> None:
        self.writer.close()


class Browser:
    """One person playing: a state stream, and moves on a keep-alive connection."""

    def __init__(self, port: int, seat: dict[str, Any], think: float, counts: dict[str, Any],
                 rng: random.Random) -> None:
        self.port = port
        self.seat = seat
        self.think = think
        self.counts = counts
        self.rng = rng
        self.shown = asyncio.Event()  # the first state arrived
        self.busy = False
        self.moves: Http | None = None

    async def run(self) -> None:
        stream = await Http.open(self.port)
        self.moves = await Http.open(self.port)
        stream.post("/api/play/state", self.seat)
        try:
            async for name, data in stream.events():
                if name != "state":
                    continue
                self.counts["states"] += 1
                self.shown.set()
                state = json.loads(data)["data"]
                me = self.seat["player_id"]
                if state["gameover"] and me == 0 and not self.busy:
                    self._later("/api/play/restart", {})
                elif me in state["current"] and not self.busy:
                    self._later("/api/play/move", {"move": self.rng.choice(
                        state["legal_moves"])})
        finally:
            stream.close()
            self.moves.close()

    def _later(self, path: str, extra: dict[str, Any]) -> None:
        self.busy = True
        asyncio.get_running_loop().create_task(self._send(path, extra))

    async def _send(self, path: str, extra: dict[str, Any]) -> None:
        try:
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.think)
            assert self.moves is not None
            started = perf_counter()
            self.moves.post(path, {**self.seat, **extra})
            reply = await self.moves.reply()
            done = perf_counter()
            self.counts["move_latencies"].append(done - started)
            self.counts["move_times"].append(done)
            self.counts["moves"] += 1
            if reply["status"] == "error":
                self.counts["errors"] += 1
        finally:
            self.busy = False


async def join_pair(port: int, session: str) -> list[dict[str, Any]]:
    """Two browsers take the seats of a new two-player session (the second by invite)."""
    creator = await Http.open(port)
    creator.post("/api/play/join", {"game": "TicTacToe", "session": session, "players": 2,
                                    "name": "ann"})
    events = creator.events()
    name, data = await anext(events)
    assert name == "waiting", (name, data)
    link = json.loads(data)["invites"][0]
    friend = await Http.open(port)
    friend.post("/api/play/join", {"invite": link.split("#invite=")[1], "name": "bob"})
    seats = []
    for stream in (friend.events(), events):
        async for name, data in stream:
            if name == "seated":
                seat = json.loads(data)
                seats.append({"game": "TicTacToe", "session": seat["session"],
                              "player_id": seat["player_id"], "key": seat["key"]})
                break
    creator.close()
    friend.close()
    return seats


async def spectate(port: int, session: str, counts: dict[str, Any],
                   shown: asyncio.Event) -> None:
    page = await Http.open(port)
    page.get(f"/api/sessions/TicTacToe/{session}/events?player=0")
    try:
        async for _ in page.events():
            counts["spectator_events"] += 1
            shown.set()
    finally:
        page.close()


async def crowd(port: int, players: int, spectators: int, think: float, prefix: str,
                ready: Any, stop: Any) -> dict[str, Any]:
    counts: dict[str, Any] = {"moves": 0, "states": 0, "spectator_events": 0, "errors": 0,
                              "move_latencies": [], "move_times": []}
    rng = random.Random(1)
    sessions = [f"{prefix}-{n}" for n in range(players // 2)]
    started = perf_counter()
    limit = asyncio.Semaphore(20)

    async def pair(session: str) -> list[dict[str, Any]]:
        async with limit:
            return await join_pair(port, session)

    seats = [seat for pair_seats in await asyncio.gather(*map(pair, sessions))
             for seat in pair_seats]
    browsers = [Browser(port, seat, think, counts, random.Random(rng.random()))
                for seat in seats]
    watched = [asyncio.Event() for _ in range(spectators)]
    tasks = [asyncio.ensure_future(b.run()) for b in browsers]
    tasks += [asyncio.ensure_future(spectate(port, sessions[n % len(sessions)], counts, event))
              for n, event in enumerate(watched)]
    async with asyncio.timeout(60):
        await asyncio.gather(*(b.shown.wait() for b in browsers),
                             *(event.wait() for event in watched))
    setup = perf_counter() - started
    for key in ("moves", "states", "spectator_events"):
        counts[key] = 0
    counts["move_latencies"].clear()
    counts["move_times"].clear()
    ready.set()
    while not stop.is_set():
        await asyncio.sleep(0.05)  # the parent says when; nothing on this loop to await
    for task in tasks:
        task.cancel()
    failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception()]
    return {"setup_seconds": round(setup, 2), "moves": counts["moves"],
            "states": counts["states"], "spectator_events": counts["spectator_events"],
            "errors": counts["errors"] + len(failed), "move_times": counts["move_times"],
            **_common.percentiles(counts["move_latencies"], "browser_move_")}


def crowd_process(port: int, players: int, spectators: int, think: float, prefix: str,
                  ready: Any, stop: Any, results: Any) -> None:
    """In a child process: the browsers and spectators; their totals go on ``results``."""
    _common.raise_nofile(4 * (players + spectators) + 100)
    try:
        results.put(asyncio.run(crowd(port, players, spectators, think, prefix, ready, stop)))
    except BaseException as err:  # noqa: BLE001 - reported to the parent
        results.put({"failed": repr(err)})
        ready.set()


# ---------------------------------------------------------------- the phases


def wait_for_dashboard(port: int) -> None:
    """The dashboard starts after the game port: wait until it accepts connections."""
    deadline = time.monotonic() + _common.STARTUP_TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)  # a server starting: nothing to await


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=200, help="browsers (default 200)")
    parser.add_argument("--spectators", type=int, default=50, help="default 50")
    parser.add_argument("--think", type=float, default=1.0,
                        help="seconds a browser takes per move, on average (default 1)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase (default 5)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="times each phase runs, interleaved (default 3)")
    parser.add_argument("--crowd-seconds", type=float, default=3.0,
                        help="the browsers' own cost is measured this long (default 3)")
    args = _common.parse(parser, argv)
    if args.smoke:
        args.players, args.spectators, args.seconds, args.rounds, args.think = 10, 4, 0.6, 1, 0.1
        args.crowd_seconds = 0.5
    web_port = free_port()
    connections = str(4 * (args.players + args.spectators) + 100)
    flags = ["--log-level", "WARNING", "--web-port", str(web_port),
             "--web-max-connections", connections,
             "--web-max-connections-per-address", connections,  # every browser is 127.0.0.1
             "--max-waiting-joins-per-address", str(args.players + 10),
             "--max-sessions-per-address", str(args.players * args.rounds + 10),
             *args.server_arg]
    runs = []
    with _common.Server(*flags, nofile=4 * (args.players + args.spectators) + 1000) as server:
        wait_for_dashboard(web_port)
        key = measured_seat(server.addr)
        _common.wait_idle(server.pid)
        rss_start = _common.rss_kb(server.pid)
        context = multiprocessing.get_context("fork")
        round_number = 0
        for name in ("idle", "browsers") * args.rounds:
            run: dict[str, Any] = {"phase": name}
            child = None
            if name == "browsers":
                round_number += 1
                ready, stop, results = context.Event(), context.Event(), context.Queue()
                child = context.Process(target=crowd_process, args=(
                    web_port, args.players, args.spectators, args.think, f"round{round_number}",
                    ready, stop, results))
                child.start()
                if not ready.wait(120):
                    raise RuntimeError("the browsers did not all get their first state")
                run["rss_kb_connected"] = _common.rss_kb(server.pid)
            run.update(probe(server.addr, server.pid, key, "measured", args.seconds))
            run["rss_kb"] = _common.rss_kb(server.pid)
            if child is not None:
                meter = _common.Meter(server.pid)
                started = perf_counter()
                time.sleep(args.crowd_seconds)  # the browsers play on their own meanwhile
                ended = perf_counter()
                alone = meter.read(0)
                stop.set()
                run.update(results.get(timeout=60))
                moves = sum(started <= t <= ended for t in run.pop("move_times", []))
                run.update({"crowd_moves": moves,
                            "crowd_server_cpu_pct": alone["server_cpu_pct"],
                            "crowd_other_cpu_pct": alone["other_cpu_pct"],
                            "server_cpu_us_per_browser_move": round(
                                alone["server_cpu_s"] * 1e6 / max(moves, 1), 1)})
                child.join(30)
                if round_number < args.rounds:
                    _common.wait_idle(server.pid)  # the sessions of this round time out later
            runs.append(run)
        rss_peak = _common.peak_rss_kb(server.pid)
        problems = server.log_problems()
        problem_lines = server.problem_lines()
    summary: dict[str, dict[str, Any]] = {}
    for name in ("idle", "browsers"):
        mine = [r for r in runs if r["phase"] == name]
        summary[name] = {
            "p50_ms_median": statistics.median(r["latency_p50_ms"] for r in mine),
            "p99_ms_median": statistics.median(r["latency_p99_ms"] for r in mine),
            "server_cpu_pct_median": statistics.median(r["server_cpu_pct"] for r in mine),
            "other_cpu_pct_median": statistics.median(r["other_cpu_pct"] for r in mine)}
    crowd_runs = [r for r in runs if r["phase"] == "browsers"]
    summary["browsers"].update({
        "moves": sum(r.get("moves", 0) for r in crowd_runs),
        "states": sum(r.get("states", 0) for r in crowd_runs),
        "spectator_events": sum(r.get("spectator_events", 0) for r in crowd_runs),
        "browser_move_p99_ms_median": statistics.median(
            r.get("browser_move_p99_ms") or 0 for r in crowd_runs),
        "rss_kb_connected_max": max(r.get("rss_kb_connected", 0) for r in crowd_runs),
        "crowd_server_cpu_pct_median": statistics.median(
            r.get("crowd_server_cpu_pct", 0) for r in crowd_runs),
        "server_cpu_us_per_browser_move_median": statistics.median(
            r.get("server_cpu_us_per_browser_move", 0) for r in crowd_runs)})
    idle_p99 = summary["idle"]["p99_ms_median"]
    for phase in summary.values():
        phase["p99_vs_idle"] = round(phase["p99_ms_median"] / idle_p99, 2) if idle_p99 else None
    errors = sum(r.get("errors", 0) for r in runs) + sum(1 for r in runs if "failed" in r)
    record = {"benchmark": "browsers", "smoke": args.smoke, **_common.machine_info(),
              "players": args.players, "spectators": args.spectators, "think": args.think,
              "seconds_per_phase": args.seconds, "rounds": args.rounds,
              "rss_kb_start": rss_start, "rss_kb_peak": rss_peak, "phases": summary,
              "runs": runs, "errors": errors, "server_log_problems": problems,
              "server_log_excerpt": problem_lines}
    idle, crowd_phase = summary["idle"], summary["browsers"]
    _common.emit(record, (
        f"browsers: {args.players} players + {args.spectators} spectators | game client p99 "
        f"idle {_common.fmt(idle['p99_ms_median'], 3)} ms, with browsers "
        f"{_common.fmt(crowd_phase['p99_ms_median'], 3)} ms ({crowd_phase['p99_vs_idle']}x "
        f"idle) | {crowd_phase['moves']} browser moves (p99 "
        f"{_common.fmt(crowd_phase['browser_move_p99_ms_median'], 1)} ms), "
        f"{crowd_phase['states']} states pushed | the browsers alone: server "
        f"{crowd_phase['crowd_server_cpu_pct_median']:.0f}% CPU, "
        f"{crowd_phase['server_cpu_us_per_browser_move_median']:.0f} us per move | server RSS "
        f"{rss_start // 1024} MB idle, "
        f"{crowd_phase['rss_kb_connected_max'] // 1024} MB connected | others used "
        f"{crowd_phase['other_cpu_pct_median']:.0f}% CPU"))
    return 1 if errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
