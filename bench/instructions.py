#!/usr/bin/env python3
"""Benchmark: user-space machine instructions a server runs per move, ours and Colyseus'.

Timed figures move ±20 % on a shared machine; instructions do not. Each
workload's server runs under valgrind's callgrind (``--tool=callgrind
--separate-threads=yes``), which counts every machine instruction the
process runs in user space, in every thread (the kernel's work, system calls
included, is not counted). The load is the workload of
``tictactoe_load.py`` (ours) and of ``peers.py`` (Colyseus 0.16): K
two-player tic-tac-toe sessions of random bots, a finished game restarted.

How it counts (``callgrind_control``, no change to the servers):

* the server starts with the counting off (``--instr-atstart=no``: its
  start-up, the joins and the warm-up run several times faster than
  counted), then the counting is switched on;
* two measured windows, ``--windows`` seconds (default 10 and 30), each
  between a ``--zero`` and a ``--dump`` of the counters; the figure is the
  difference of the two windows' instructions divided by the difference of
  their moves, so that what happens once per window (the ends of the
  window, Colyseus' load generator leaving) cancels out;
* then an idle window: the bots, connected, make no move for ``--idle``
  seconds (ours: the generator waits; Colyseus': its generator is stopped
  with SIGSTOP) and what the server runs meanwhile (timers, sweeps, pings,
  the runtime's own threads) gives its instructions per second.

Under callgrind a server runs 40-60x slower, so its time-driven work
(the idle rate) weighs about 50x more per move than natively:
``time_driven_per_move`` is the idle rate times the windows' extra seconds
per extra move, and ``per_move_less_time_driven`` takes it out. Ours
counts the same within 1 % whatever the machine's load; V8's background
threads (its optimizing compiler, its collector) do more per move the
slower the server goes, so for Colyseus ``main_thread_per_move`` is the
steadier figure. The slower server also finds more moves ready per turn
of its event loop than natively (``event_loop_polls_per_move``), which
lowers the figure a little (ours: 5 % from K = 10 to K = 50).

Workloads: ours (``--ours``, as in ``peers.py``: ``MODE[:FLAGS]``; default
push without and with the store and keep-alive without it) and Colyseus
(``--peers colyseus``; its pinned Node packages must be installed: run
``python bench/peers.py`` once). V8's compiled JavaScript has no symbols:
its instructions count in the totals and show in ``top`` as one entry, "JIT
code". For ours, ``breakdown`` names the C work that matters (JSON
encoding and decoding, the eval loop, the allocators, the socket calls,
SQLite) per move, over all threads.

Without valgrind (or, for Colyseus, Node) a workload is skipped with a
message. ``--smoke`` runs ours (push, no store, K = 2) for a second or two:
a Python server takes 15-40 s to start under valgrind on this machine.

    python bench/instructions.py                      # K = 10: 4 workloads, ~10 min
    python bench/instructions.py --ours push --peers "" --windows 20,60
    python bench/instructions.py --keep /tmp/cg       # keep callgrind's files
    python bench/instructions.py --smoke
"""

from __future__ import annotations

import collections
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common
import peers
import tictactoe_load

STARTUP_TIMEOUT = 600.0  # seconds: a server starting under valgrind on a loaded machine
CONTROL_TIMEOUT = 120.0  # seconds for one callgrind_control command
JIT = "(JIT code, no symbol)"
POLLS = ("select_epoll_poll", "uv__io_poll")  # a turn of the event loop: Python's, libuv's
# The C work of ours that matters per move, over all threads: (label, kind, pattern);
# kind "self" sums the functions' own instructions, "inclusive" adds their callees',
# "object" sums the own instructions of every function of a library.
BREAKDOWN = (
    ("json encode (encoder_call, inclusive)", "inclusive", r"encoder_call"),
    ("json decode (scanner_call, inclusive)", "inclusive", r"scanner_call"),
    ("eval loop (_PyEval_EvalFrameDefault, self)", "self", r"_PyEval_EvalFrameDefault"),
    ("malloc/free (the allocators' own)", "self",
     r"_?Py(Object|Mem)_(Raw)?(Malloc|Calloc|Realloc|Free)|_PyMem_Raw\w+|malloc|free|realloc|"
     r"calloc|_int_(malloc|free|realloc)|malloc_consolidate|unlink_chunk\S*|tcache\w*"),
    ("socket calls (sock_recv/send, inclusive)", "inclusive",
     r"sock_(recv|recv_into|send|sendall|accept)"),
    ("epoll (select_epoll_poll, inclusive)", "inclusive", r"select_epoll_poll"),
    ("sqlite3 (libsqlite3 and _sqlite3, self)", "object", r".*sqlite.*"),
)


def valgrind_problem() -> str | None:
    """Why nothing can be counted here (None: it can)."""
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        return (f"{' and '.join(missing)} not installed: instruction counts are skipped "
                "(Debian: apt-get install valgrind)")
    return None


def valgrind(out_dir: Path, *extra: str) -> list[str]:
    """The command prefix that runs a program under callgrind, counting off at first."""
    return ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--instr-atstart=no",
            f"--callgrind-out-file={out_dir}/cg.%p", "-q", *extra]


# ---------------------------------------------------------------- callgrind's files


@dataclass
class Profile:
    """The instructions of one dump, all threads summed, per function and per thread."""

    threads: dict[int, int] = field(default_factory=dict)  # thread number -> instructions
    own: collections.Counter[str] = field(default_factory=collections.Counter)
    inclusive: collections.Counter[str] = field(default_factory=collections.Counter)
    objects: dict[str, str] = field(default_factory=dict)  # function -> its library
    calls: collections.Counter[str] = field(default_factory=collections.Counter)  # callee

    @property
    def total(self) -> int:
        return sum(self.threads.values())

    def add(self, path: Path, thread: int) -> None:
        """Add one thread's file (callgrind's format, names compressed or not).

        A function's own instructions are its cost lines; a call's line after
        ``calls=`` is what the call cost, callees included. Recursion levels
        (``f'2``) count as ``f``; a call of a function to itself is not added
        to its inclusive cost. Code without a symbol is one entry per library, and
        code of no library (V8's compiled JavaScript) one entry, ``JIT``.
        """
        names: dict[str, str] = {}
        libraries: dict[str, str] = {}
        function = callee = library = ""
        in_call = False
        total = 0
        with open(path, errors="replace") as file:
            for line in file:
                first = line[:1]
                if first.isdigit() or first in "+-*":
                    parts = line.split()
                    cost = int(parts[1]) if len(parts) > 1 else 0
                    if in_call:
                        in_call = False
                        if callee != function:
                            self.inclusive[function] += cost
                    else:
                        self.own[function] += cost
                        self.inclusive[function] += cost
                        total += cost
                elif line.startswith("fn="):
                    function = _name(line[3:], names)
                    if function.startswith("0x"):  # no symbol: one entry per library
                        function = (JIT if library in ("", "???") else
                                    f"(no symbol) {library.rsplit('/', 1)[-1]}")
                    self.objects.setdefault(function, library)
                elif line.startswith("cfn="):
                    callee = _name(line[4:], names)
                elif line.startswith("calls="):
                    in_call = True
                    self.calls[callee] += int(line[6:].split()[0])
                elif line.startswith("ob="):
                    library = _name(line[3:], libraries)
                elif line.startswith("cob="):
                    _name(line[4:], libraries)  # defines a compressed name
        self.threads[thread] = self.threads.get(thread, 0) + total

    def minus(self, other: Profile) -> Profile:
        """What this profile counted beyond ``other``."""
        return Profile({n: c - other.threads.get(n, 0) for n, c in self.threads.items()},
                       self.own - other.own, self.inclusive - other.inclusive,
                       {**other.objects, **self.objects}, self.calls - other.calls)

    def breakdown(self, per: float) -> dict[str, float]:
        figures = {}
        for label, kind, pattern in BREAKDOWN:
            match = re.compile(pattern).fullmatch
            if kind == "object":
                count = sum(c for f, c in self.own.items()
                            if match(self.objects.get(f, "").rsplit("/", 1)[-1]))
            else:
                counter = self.own if kind == "self" else self.inclusive
                count = sum(c for f, c in counter.items() if match(f))
            figures[label] = round(count / per)
        return figures

    def top(self, count: int, per: float) -> list[tuple[str, float]]:
        return [(f"{name} [{self.objects.get(name, '').rsplit('/', 1)[-1]}]", round(c / per))
                for name, c in self.own.most_common(count)]


def _name(text: str, table: dict[str, str]) -> str:
    """A name of callgrind's file: ``(id) name`` defines ``id``, ``(id)`` uses it."""
    text = text.strip()
    if text.startswith("("):
        end = text.index(")")
        key, rest = text[1:end], text[end + 1:].strip()
        if rest:
            table[key] = _plain(rest)
        return table.get(key, key)
    return _plain(text)


def _plain(name: str) -> str:
    """``f'2`` (callgrind's recursion level) -> ``f``."""
    head, _, level = name.rpartition("'")
    return head if head and level.isdigit() else name


class Callgrind:
    """The counters of a process running under callgrind, driven by ``callgrind_control``."""

    def __init__(self, pid: int, out_dir: Path) -> None:
        self.pid = pid
        self.out_dir = out_dir

    def _control(self, flag: str) -> None:
        done = subprocess.run(["callgrind_control", flag, str(self.pid)], capture_output=True,
                              text=True, timeout=CONTROL_TIMEOUT)
        if done.returncode != 0 or "OK" not in done.stdout + done.stderr:
            raise RuntimeError(f"callgrind_control {flag} {self.pid} failed: "
                               f"{(done.stdout + done.stderr).strip()[-500:]}")

    def start(self) -> None:
        """Switch counting on (the process started with ``--instr-atstart=no``)."""
        self._control("--instr=on")

    def zero(self) -> float:
        """Zero the counters; the time it was done (perf_counter, after)."""
        self._control("--zero")
        return _common.perf_counter()

    def dump(self) -> Profile:
        """Dump the counters since the last zero or dump, and read them."""
        before = set(self.out_dir.glob(f"cg.{self.pid}.*"))
        self._control("--dump")
        profile = Profile()
        for path in sorted(set(self.out_dir.glob(f"cg.{self.pid}.*")) - before):
            match = re.fullmatch(rf"cg\.{self.pid}\.\d+-(\d+)", path.name)
            if match:
                profile.add(path, int(match.group(1)))
        if not profile.threads:
            raise RuntimeError(f"callgrind wrote no file for process {self.pid} in "
                               f"{self.out_dir}")
        return profile


# ---------------------------------------------------------------- the measurement


@dataclass
class Window:
    moves: int
    seconds: float
    profile: Profile


def figures(name: str, sessions: int, idle: Window, windows: list[Window],
            top: int, breakdown: bool) -> dict[str, Any]:
    """The record of one workload: per move from the difference of the two windows."""
    short, long = windows[0], windows[-1]
    moves = long.moves - short.moves
    seconds = long.seconds - short.seconds
    if moves <= 0 or seconds <= 0:
        raise RuntimeError(f"{name}: the longer window counted no more moves or seconds "
                           f"({short.moves} moves in {short.seconds:.2f} s, then "
                           f"{long.moves} in {long.seconds:.2f} s)")
    diff = long.profile.minus(short.profile)
    per_move = diff.total / moves
    idle_per_s = idle.profile.total / max(idle.seconds, 1e-9)
    time_driven = idle_per_s * seconds / moves
    main = diff.threads.get(1, 0) / moves
    main_time_driven = idle.profile.threads.get(1, 0) / max(idle.seconds, 1e-9) * seconds / moves
    record: dict[str, Any] = {
        "workload": name, "sessions": sessions,
        "instructions_per_move": round(per_move),
        "main_thread_per_move": round(main),
        "other_threads_per_move": round(per_move - main),
        "time_driven_per_move": round(time_driven),
        "per_move_less_time_driven": round(per_move - time_driven),
        "main_thread_less_time_driven": round(main - main_time_driven),
        "idle_instructions_per_s": round(idle_per_s),
        "idle_threads": idle.profile.threads,
        "idle_seconds": round(idle.seconds, 2),
        "moves_per_s_under_valgrind": round(moves / max(seconds, 1e-9), 1),
        # Under valgrind the server finds more ready per poll than natively: fewer turns
        # of its event loop per move, each with its fixed cost.
        "event_loop_polls_per_move": round(sum(diff.calls[f] for f in POLLS) / moves, 3),
        "windows": [{"moves": w.moves, "seconds": round(w.seconds, 2),
                     "instructions": w.profile.total,
                     "instructions_per_move": round(w.profile.total / max(w.moves, 1)),
                     "threads": w.profile.threads} for w in windows],
        "top": diff.top(top, moves),
    }
    if breakdown:
        record["breakdown"] = diff.breakdown(moves)
    return record


def measure_ours(mode: str, flags: list[str], sessions: int, windows: Iterable[float],
                 warmup: float, idle: float, out_dir: Path, top: int) -> dict[str, Any]:
    """Our server under callgrind, the load of ``tictactoe_load.py`` in ``mode``."""
    name = _name_of(mode, flags)
    server = _common.Server("--log-level", "WARNING", *flags, wrapper=valgrind(out_dir),
                            startup_timeout=STARTUP_TIMEOUT)
    with server:
        bench = tictactoe_load.Bench(server, sessions, mode, seed=1, sources=1)
        loop, stats = bench.loop, bench.stats
        for player in bench.players:
            player.join()
        everyone = len(bench.players)
        if not loop.run(STARTUP_TIMEOUT, lambda: bench.joined == everyone):
            raise RuntimeError(f"{name}: {bench.joined} of {everyone} players joined")
        loop.run(warmup)
        counter = Callgrind(server.pid, out_dir)
        counter.start()
        loop.run(1.0)  # the first instrumented moves, not counted
        measured: list[Window] = []
        for seconds in windows:
            stats.moves = 0
            stats.on = True
            start = counter.zero()
            loop.run(seconds)
            # On a starved machine a window lasts until it has more moves than the last,
            # and lasts longer than it: the first window, stretched until its first move
            # came (10.8 s for 1 move, then 1.5 s for 7), made the difference of the two
            # a negative count per move. Time-driven work is in both windows; only with
            # more seconds in the longer one is it added to, not taken from, the figure.
            fewer = measured[-1].moves if measured else 0
            past = start + (measured[-1].seconds if measured else 0.0)
            loop.run(STARTUP_TIMEOUT, lambda fewer=fewer, past=past: (
                stats.moves > fewer and _common.perf_counter() > past))
            stats.on = False
            measured.append(Window(stats.moves, _common.perf_counter() - start,
                                   counter.dump()))
        # The idle window: the bots wait (this loop is not run); what is in flight ends.
        time.sleep(1.0)
        start = counter.zero()
        time.sleep(idle)
        quiet = Window(0, _common.perf_counter() - start, counter.dump())
        errors = sum(stats.errors.values())
        problems = server.problem_lines()
        loop.close()
    record = figures(name, sessions, quiet, measured, top, breakdown=True)
    record["errors"] = errors
    record["server_log_excerpt"] = problems
    return record


def measure_colyseus(sessions: int, windows: Iterable[float], warmup: float, idle: float,
                     out_dir: Path, top: int) -> dict[str, Any]:
    """Colyseus' Node server under callgrind, its load generator (native) from peers.py.

    Each window is a run of the generator on the same server: it joins, warms up
    ``warmup`` s, prints "start" (the counters are zeroed), plays, prints "end MOVES
    GAMES" and leaves; the counters are dumped once its connections are closed.
    A first run of the generator warms V8's compiler up and is not counted.
    """
    node = shutil.which("node") or "node"
    server_script, load_script = peers.PEERS["colyseus"]
    port = peers.free_port()
    server = peers.Child([*valgrind(out_dir, "--smc-check=all-non-file"), node, server_script,
                          str(port)], errors_apart=False)
    try:
        server.wait_for_line("listening on", STARTUP_TIMEOUT)
        counter = Callgrind(server.pid, out_dir)
        problems: list[str] = []

        def generator(seconds: float) -> Window:
            """A run of the load generator; a few tries: under valgrind a join sometimes
            fails with "socket hang up" (seen after the counting was switched on, when
            everything runs slower for a while)."""
            why = ""
            for _attempt in range(3):
                load = peers.Child([node, load_script, str(port), str(sessions), str(warmup),
                                    str(seconds)], errors_apart=True)
                try:
                    load.wait_for_line("start", STARTUP_TIMEOUT)
                    start = counter.zero()
                    end = load.wait_for_line("end", seconds + STARTUP_TIMEOUT)
                    load.process.wait(STARTUP_TIMEOUT)
                except RuntimeError as err:
                    load.stop()
                    why = f"{err} {' / '.join(load.errors())}"
                    continue
                load.stop()
                problems.extend(load.errors())
                time.sleep(1.0)  # the server closes the generator's connections and rooms
                return Window(int(end.split()[1]), _common.perf_counter() - start,
                              counter.dump())
            raise RuntimeError(f"colyseus: three runs of the load generator failed: {why}")

        counter.start()
        generator(max(windows))  # V8 compiles what runs most: not counted
        measured = [generator(seconds) for seconds in windows]
        # The idle window: the bots of one more run stopped (SIGSTOP), their rooms and
        # connections kept (the server pings its clients every 3 s and drops one that
        # missed two pings: the window must be shorter than 6 s).
        load = peers.Child([node, load_script, str(port), str(sessions), "0",
                            str(idle + 30)], errors_apart=True)
        try:
            load.wait_for_line("start", STARTUP_TIMEOUT)
            load.process.send_signal(signal.SIGSTOP)
            time.sleep(0.5)  # what was in flight
            start = counter.zero()
            time.sleep(idle)
            quiet = Window(0, _common.perf_counter() - start, counter.dump())
            load.process.send_signal(signal.SIGCONT)
        finally:
            load.stop()
    finally:
        server.stop()
    record = figures("colyseus", sessions, quiet, measured, top, breakdown=False)
    record["problems"] = problems[:5]  # what its load generator said on stderr
    return record


# ---------------------------------------------------------------- the command


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="K (default 10)")
    parser.add_argument("--windows", default="10,30",
                        help="the two measured windows, seconds (default 10,30)")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds of play before counting (default 5)")
    parser.add_argument("--idle", type=float, default=4.0,
                        help="the idle window, seconds (default 4; below 6 for Colyseus)")
    parser.add_argument("--ours", default="push:--no-store,push,keepalive:--no-store",
                        help="our modes, comma-separated MODE[:FLAGS] (default "
                             "push:--no-store,push,keepalive:--no-store; empty: none)")
    parser.add_argument("--peers", default="colyseus",
                        help="peers to count: colyseus or empty (default colyseus)")
    parser.add_argument("--top", type=int, default=15,
                        help="functions with the most own instructions per move to list "
                             "(default 15)")
    parser.add_argument("--keep", metavar="DIR",
                        help="write callgrind's files into DIR and keep them (for "
                             "callgrind_annotate); default: a temporary folder, removed")
    args = _common.parse(parser, argv)
    windows = sorted(float(s) for s in args.windows.split(",") if s.strip())
    if len(windows) != 2 or windows[0] == windows[1]:
        parser.error("--windows takes two different lengths, e.g. 10,30")
    ours = peers.parse_ours(args.ours)
    wanted = [p.strip() for p in args.peers.split(",") if p.strip()]
    if set(wanted) - {"colyseus"}:
        parser.error("--peers: only colyseus is counted")
    sessions, warmup, idle = args.sessions, args.warmup, args.idle
    skipped: dict[str, str] = {}
    if args.smoke:
        ours, sessions, windows, warmup, idle = [("push", ["--no-store"])], 2, [0.5, 1.5], \
            0.3, 0.5
        if wanted:
            skipped["colyseus"] = ("smoke mode counts ours only (Node takes about a minute to "
                                   "start under valgrind)")
        wanted = []
    problem = valgrind_problem()
    if problem:
        skipped.update({name: problem for name in
                        [_name_of(mode, flags) for mode, flags in ours] + wanted})
        ours, wanted = [], []
    if wanted:
        node = peers.node_problem(install=False)
        if node:
            skipped["colyseus"] = node
            wanted = []
    _common.raise_nofile(4 * sessions + 1000)
    out_dir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="instructions-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    failed: dict[str, str] = {}
    try:
        for mode, flags in ours:
            try:
                runs.append(measure_ours(mode, flags, sessions, windows, warmup, idle,
                                         out_dir, args.top))
            except (RuntimeError, OSError, subprocess.SubprocessError) as err:
                failed[_name_of(mode, flags)] = str(err)
        if wanted:
            try:
                runs.append(measure_colyseus(sessions, windows, warmup, idle, out_dir,
                                             args.top))
            except (RuntimeError, OSError, subprocess.SubprocessError) as err:
                failed["colyseus"] = str(err)
    finally:
        if not args.keep:
            shutil.rmtree(out_dir, ignore_errors=True)
    record = {"benchmark": "instructions", "smoke": args.smoke, **_common.machine_info(),
              "valgrind": _common.tool_version(["valgrind", "--version"]),
              "node": (_common.tool_version(["node", "--version"])
                       if "colyseus" not in skipped else None),
              "windows_s": windows, "warmup_s": warmup, "runs": runs, "skipped": skipped,
              "failed": failed}
    parts = [f"{r['workload']} K={r['sessions']}: {r['instructions_per_move']:,} instructions"
             f"/move ({r['per_move_less_time_driven']:,} less time-driven), main thread "
             f"{r['main_thread_per_move']:,}" for r in runs]
    ours_runs = [r for r in runs if r["workload"].startswith("ours")]
    theirs = [r for r in runs if r["workload"] == "colyseus"]
    if ours_runs and theirs:
        record["ratio_to_colyseus"] = {
            r["workload"]: round(r["instructions_per_move"]
                                 / theirs[0]["instructions_per_move"], 2) for r in ours_runs}
        parts.append("ours/colyseus " + ", ".join(
            f"{n.removeprefix('ours ')} {v:.2f}x" for n, v in
            record["ratio_to_colyseus"].items()))
    summary = "instructions: " + (" | ".join(parts) or "nothing counted")
    if skipped:
        summary += " | skipped: " + ", ".join(f"{n} ({why})" for n, why in skipped.items())
    if failed:
        summary += " | FAILED: " + ", ".join(f"{n} ({why[:300]})" for n, why in failed.items())
    _common.emit(record, summary)
    return 1 if failed else 0


def _name_of(mode: str, flags: list[str]) -> str:
    return "ours " + mode + "".join(" " + flag.lstrip("-") for flag in flags)


if __name__ == "__main__":
    sys.exit(main())
