"""Benchmark (f): the tic-tac-toe workload against our server and its peers, side by side.

The same workload on each server, one after the other in one run: K
two-player tic-tac-toe sessions of random bots; each bot waits for its turn
through the server's own notification, moves on a random empty cell, and a
finished game is restarted in the same session. Measured per server and K,
over a window after a warm-up: moves/s, server CPU per completed move (utime
+ stime from /proc, all threads), the server's resident memory, and the load
generator's own CPU per move (it shares the two cores with the server).

* ours: ``bench/tictactoe_load.py`` in push mode (a subscription per player,
  moves with the mover's state), with and without the store; ``--ours``
  adds other modes (``keepalive``, ``classic``) for the same table.
* Colyseus 0.16 (``bench/peers/colyseus_*.js``): a room per session, the
  state patch broadcast after each message (``patchRate = null`` and
  ``broadcastPatch()``), clients of ``colyseus.js``.
* boardgame.io 0.50 (``bench/peers/boardgameio_*.js``): socket.io transport,
  in-memory storage, matches made through its lobby API, moves run by the
  server only (no optimistic updates), its own client.

The peers are Node programs written for this benchmark. Their packages are
pinned in ``bench/peers/package.json`` and ``package-lock.json`` and
installed by this script (``npm ci``) into ``bench/peers/node_modules``,
which git ignores: never a dependency of the server or its tests. Without
Node and npm the peers are skipped with a message and ours still runs.
``--smoke`` never installs anything: it runs the peers only if they are
installed already.

    python bench/peers.py                        # K = 10, 50; 5 s windows
    python bench/peers.py --repeat 3             # three runs of everything
    python bench/peers.py --sessions 200 --ours push:--no-store
    python bench/peers.py --smoke
"""

from __future__ import annotations

import collections
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import _common
import tictactoe_load

PEERS_DIR = Path(__file__).resolve().parent / "peers"
PEERS = {  # name -> (server script, load generator script)
    "colyseus": ("colyseus_server.js", "colyseus_load.js"),
    "boardgameio": ("boardgameio_server.js", "boardgameio_load.js"),
}
INSTALL_TIMEOUT = 600.0
STARTUP_TIMEOUT = 30.0


def node_problem(install: bool) -> str | None:
    """Why the peers cannot run here (None: they can), installing them first if asked."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "Node.js and npm are not installed: the peers are skipped (ours still runs)"
    if (PEERS_DIR / "node_modules" / ".package-lock.json").exists():
        return None
    if not install:
        return ("the peers' Node packages are not installed (smoke mode installs nothing); "
                "run `python bench/peers.py` once to install them")
    print(f"installing the peers' pinned packages into {PEERS_DIR / 'node_modules'} (npm ci)",
          file=sys.stderr, flush=True)
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                          cwd=PEERS_DIR, capture_output=True, text=True,
                          timeout=INSTALL_TIMEOUT)
    if done.returncode != 0:
        return f"npm ci failed in {PEERS_DIR}: {(done.stderr or done.stdout).strip()[-500:]}"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_peer(command: list[str]) -> tuple[Child, int]:
    """A peer's server (``command PORT``) on a free port; a few tries, in case another
    program took the port."""
    for attempt in range(3):
        port = free_port()
        server = Child([*command, str(port)], errors_apart=False)
        try:
            server.wait_for_line("listening on", STARTUP_TIMEOUT)
            return server, port
        except RuntimeError:
            server.stop()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def run_peer(name: str, sessions: int, seconds: float, warmup: float) -> dict[str, Any]:
    """One peer server and its load generator, for one K; the figures."""
    server_script, load_script = PEERS[name]
    node = shutil.which("node") or "node"
    return measure_peer(name, [node, server_script], [node, load_script], sessions, seconds,
                        warmup)


def measure_peer(name: str, server_command: list[str], load_command: list[str], sessions: int,
                 seconds: float, warmup: float) -> dict[str, Any]:
    """The server ``server_command PORT`` under ``load_command PORT K WARMUP SECONDS``
    (run in ``PEERS_DIR``), which prints "start" when its measured window begins and
    "end MOVES GAMES" when it ends; the figures."""
    server, port = start_peer(server_command)
    generator: Child | None = None
    try:
        generator = Child([*load_command, str(port), str(sessions), str(warmup), str(seconds)],
                          errors_apart=True)
        generator.wait_for_line("start", STARTUP_TIMEOUT + 10 * sessions + warmup)
        meter = _common.Meter(server.pid)
        generator_before = _common.cpu_us(generator.pid)
        end = generator.wait_for_line("end", seconds + STARTUP_TIMEOUT)
        generator_cpu = _common.cpu_us(generator.pid) - generator_before
        figures = meter.read(0)
        rss = _common.rss_kb(server.pid)
    finally:
        for child in (generator, server):
            if child is not None:
                child.stop()
    _, moves, games = end.split()
    return _figures(name, sessions, int(moves), int(games), figures, generator_cpu, rss,
                    generator.errors())


class Child:
    """A peer's process, its output read by threads of its own as it comes.

    A child writing into a pipe nobody reads blocks once the pipe is full (64 KiB on
    Linux; Node writes to pipes synchronously): a server that logs, a generator that
    complains on stderr, stopped and held the benchmark. And a wait for a line ends at
    its deadline, also when the child prints nothing and does not exit (a blocking
    ``readline`` waited for ever). Lines nobody looked at are kept up to ``KEPT``; more
    are dropped.

    Args:
        command: the program and its arguments, run in ``PEERS_DIR``.
        errors_apart: stderr read apart (``errors()``); else it goes with stdout.
    """

    KEPT = 10_000

    def __init__(self, command: list[str], errors_apart: bool) -> None:
        self.command = command
        self.process = subprocess.Popen(
            command, cwd=PEERS_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if errors_apart else subprocess.STDOUT, text=True,
            errors="replace")
        self.pid = self.process.pid
        assert self.process.stdout is not None
        self._output = _Lines(self.process.stdout, self.KEPT)
        self._errors = (_Lines(self.process.stderr, self.KEPT)
                        if self.process.stderr is not None else None)

    def wait_for_line(self, prefix: str, timeout: float) -> str:
        """The first line of stdout (from here on) starting with ``prefix``, stripped.

        Raises:
            RuntimeError: none within ``timeout`` seconds, or the child ended first;
                with the last lines it said.
        """
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while (line := self._output.next(deadline)) is not None:
            if line.startswith(prefix):
                return line.strip()
            seen = [*seen[-4:], line.rstrip()]
        raise RuntimeError(f"{' '.join(self.command)}: no {prefix!r} line within {timeout:g} s "
                           f"(exit code {self.process.poll()}); it said: " + " / ".join(seen))

    def errors(self) -> list[str]:
        """The first lines of stderr (after ``stop``): what went wrong, if anything."""
        if self._errors is None:
            return []
        return [line.rstrip() for line in self._errors.unread()[:3]]

    def stop(self) -> None:
        """Kill it, if it still runs; wait for it, and for the end of its output."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for lines in (self._output, self._errors):
            if lines is not None:
                lines.join()


class _Lines:
    """The lines of ``stream``, read by a thread as they come (see ``Child``)."""

    def __init__(self, stream: IO[str], kept: int) -> None:
        self._lines: collections.deque[str] = collections.deque()
        self._kept = kept
        self._ended = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                with self._changed:
                    if len(self._lines) < self._kept:
                        self._lines.append(line)
                    self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def next(self, deadline: float) -> str | None:
        """The next line; None when the stream ended or ``deadline`` (monotonic) passed."""
        with self._changed:
            while not self._lines and not self._ended:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
            return self._lines.popleft() if self._lines else None

    def unread(self) -> list[str]:
        with self._changed:
            return list(self._lines)

    def join(self) -> None:
        """Wait for the end of the stream (the child ended: it comes at once)."""
        self._thread.join(STARTUP_TIMEOUT)


def _figures(server: str, sessions: int, moves: int, games: int, figures: dict[str, Any],
             generator_cpu_us: float, rss_kb: int, problems: list[str],
             generator_in_others: bool = True) -> dict[str, Any]:
    wall = figures["seconds"]
    per = max(moves, 1)
    return {
        "server": server, "sessions": sessions, "moves": moves, "games": games,
        "moves_per_s": round(moves / wall, 1),
        "server_cpu_us_per_move": round(figures["server_cpu_s"] * 1e6 / per, 1),
        "server_cpu_pct": figures["server_cpu_pct"],
        "generator_cpu_us_per_move": round(generator_cpu_us / per, 1),
        "generator_cpu_pct": round(100 * generator_cpu_us / 1e6 / wall, 1),
        "server_rss_kb": rss_kb,
        # A peer's generator is a process of its own: taken out of the others. Ours runs
        # in this process (``run_ours``), never among the others.
        "other_cpu_pct": figures["other_cpu_pct"] if not generator_in_others
        else _common.others_without(figures["other_cpu_pct"], generator_cpu_us, wall),
        "steal_pct": figures["steal_pct"], "seconds": wall, "problems": problems,
    }


def run_ours(mode: str, flags: list[str], sessions: int, seconds: float,
             warmup: float) -> dict[str, Any]:
    """Our server in ``mode`` with ``flags``, through ``tictactoe_load``; the same figures."""
    run = tictactoe_load.run_level(sessions, seconds, warmup, mode,
                                   ["--log-level", "WARNING", *flags], seed=1, sources=1)
    figures = {"seconds": run["seconds"], "server_cpu_s": run["server_cpu_s"],
               "server_cpu_pct": run["server_cpu_pct"], "other_cpu_pct": run["other_cpu_pct"],
               "steal_pct": run["steal_pct"]}
    name = "ours " + mode + "".join(" " + flag.lstrip("-") for flag in flags)
    result = _figures(name, sessions, run["moves"], run["games"], figures,
                      run["generator_cpu_s"] * 1e6, run["server_rss_kb"],
                      run["server_log_excerpt"], generator_in_others=False)
    result["errors"] = run["errors"]
    return result


def parse_ours(text: str) -> list[tuple[str, list[str]]]:
    """``push:--no-store,push`` -> [("push", ["--no-store"]), ("push", [])]."""
    modes = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        mode, _, flags = part.partition(":")
        modes.append((mode, flags.split() if flags else []))
    return modes


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="10,50", help="comma-separated K (default 10,50)")
    parser.add_argument("--seconds", type=float, default=5.0, help="window (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds (default 1)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of everything (default 1)")
    parser.add_argument("--ours", default="push:--no-store,push",
                        help="our modes, comma-separated MODE[:FLAGS] (default "
                             "push:--no-store,push; modes: push, keepalive, classic)")
    parser.add_argument("--peers", default="colyseus,boardgameio",
                        help="peers to run, comma-separated (default colyseus,boardgameio; "
                             "empty: none)")
    args = _common.parse(parser, argv)
    levels = [int(k) for k in args.sessions.split(",") if k.strip()]
    seconds, warmup, repeat = args.seconds, args.warmup, args.repeat
    if args.smoke:
        levels, seconds, warmup, repeat = [2], 0.6, 0.2, 1
    ours = parse_ours(args.ours)
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        parser.error(f"unknown peers: {', '.join(unknown)}")
    skipped = node_problem(install=not args.smoke) if peers else None
    if skipped:
        print(f"peers: {skipped}", file=sys.stderr, flush=True)
        peers = []
    _common.raise_nofile(4 * max(levels) + 1000)
    runs = []
    for number in range(repeat):
        for sessions in levels:
            for mode, flags in ours:
                runs.append({"run": number + 1, **run_ours(mode, flags, sessions, seconds,
                                                              warmup)})
            for peer in peers:
                runs.append({"run": number + 1, **run_peer(peer, sessions, seconds, warmup)})
    record = {"benchmark": "peers", "smoke": args.smoke, **_common.machine_info(),
              "node": _common.tool_version(["node", "--version"]), "peers_skipped": skipped,
              "seconds_per_run": seconds, "runs": runs}
    parts = [f"{r['server']} K={r['sessions']}: {r['moves_per_s']:.0f} moves/s, "
             f"{r['server_cpu_us_per_move']:.0f} µs/move, {r['server_rss_kb'] / 1024:.0f} MiB, "
             f"generator {r['generator_cpu_us_per_move']:.0f} µs/move, others "
             f"{r['other_cpu_pct']:.0f}%" for r in runs]
    summary = "peers: " + " | ".join(parts)
    if skipped:
        summary += f" | peers skipped: {skipped}"
    _common.emit(record, summary)
    return 0 if all(r["moves"] > 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
