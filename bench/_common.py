"""Shared helpers of the benchmarks in ``bench/`` (stdlib only, Linux only).

* ``Server`` runs ``python -m gameserver`` as a subprocess on a free port, in
  a temporary working directory (so a store file starts empty and goes
  away), and reads the port from its "listening on HOST:PORT" log line.
* ``cpu_us``, ``rss_kb``, ``open_fds``, ``open_sockets``, ``open_connections``
  read a process's CPU time, resident memory and open files from ``/proc``; ``own_cpu_us`` is the
  load generator's own CPU time; ``Meter`` takes all of them, plus the whole
  machine's busy and steal time, over a measured window.
* ``tcp_ext`` reads the kernel's TcpExt counters (``ListenOverflows``: SYNs
  dropped because an accept queue was full). They count every socket of this
  network namespace, not only the server's; on a quiet machine that is the
  server.
* ``Loop`` and ``Conn`` are a small epoll client: many non-blocking
  connections in one thread, one callback per reply. No task, thread or
  future per request, so the generator stays cheap next to the server on the
  same cores.
* ``fsync_ms`` times a small write + fdatasync, the unit of work of a server
  that saves every change before it answers.
* ``percentiles``, ``machine_info``, ``emit`` and ``make_parser`` give every
  benchmark the same record layout, the same one-line summary and the same
  ``--smoke`` flag (a run of a few seconds that only shows the benchmark
  works; its numbers mean nothing).

Every benchmark prints exactly one JSON line (the record) followed by one
summary line.
"""

from __future__ import annotations

import argparse
import errno
import heapq
import json
import math
import os
import platform
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TERMINATOR = b"EOT\x00"
PUSH = b'{"push": '  # how a pushed state starts (the push extension)
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Seconds a server may take to start listening, and ``--help`` to answer: hang guards.
# A start takes ~0.25 s of CPU; with the test suite on a loaded vCPU (helpers' runs and
# busy loops) 20 s passed: waiters' smoke run, niced by 5 beside four busy loops, ended
# with "server did not start" (and by 8, with --help past its 60 s).
STARTUP_TIMEOUT = 120.0
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)

perf_counter = time.perf_counter


# ---------------------------------------------------------------- the server


class Server:
    """``python -m gameserver FLAGS`` on a free loopback port.

    The log goes to a temporary file (not a pipe, so nobody has to drain
    it), which ``start`` reads until the "listening on HOST:PORT" line. With
    a log level that hides that line, ``start`` picks a free port itself and
    waits until it accepts connections.

    Args:
        flags: extra command-line flags for the server.
        nofile: raise the server's open-file limit (RLIMIT_NOFILE) to this.
        root: the source tree to run (default: ``server_root()``).
        wrapper: a program and its flags that run the server's Python, e.g. valgrind's
            (``bench/instructions.py``); ``pid`` is then the wrapper's process.
        startup_timeout: seconds to wait for the server to listen (default
            ``STARTUP_TIMEOUT``).
    """

    def __init__(self, *flags: str, nofile: int | None = None, root: Path | None = None,
                 wrapper: Sequence[str] = (), startup_timeout: float | None = None) -> None:
        self.flags = list(flags)
        self.nofile = nofile
        self.root = root or server_root()
        self.wrapper = list(wrapper)
        self.startup_timeout = startup_timeout
        self.host = "127.0.0.1"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_path = ""
        self._workdir = ""  # the server's working directory: files it writes go there

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)

    def start(self) -> Server:
        fd, self._log_path = tempfile.mkstemp(prefix="gameserver-bench-", suffix=".log")
        os.close(fd)
        args = [*self.wrapper, sys.executable, "-m", "gameserver", "--host", self.host]
        level = "INFO"
        for n, flag in enumerate(self.flags):
            if flag == "--log-level" and n + 1 < len(self.flags):
                level = self.flags[n + 1]
            elif flag.startswith("--log-level="):
                level = flag.split("=", 1)[1]
        quiet = level.upper() not in ("INFO", "DEBUG")
        if quiet:
            # No "listening on" line below INFO: pick a free port and poll it.
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                self.port = probe.getsockname()[1]
            args += ["--port", str(self.port)]
        else:
            args += ["--port", "0"]
        args += _isolation_flags(self.root, self.flags)
        self._workdir = tempfile.mkdtemp(prefix="gameserver-bench-")
        nofile = self.nofile

        def limits() -> None:
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        with open(self._log_path, "ab") as log:  # O_APPEND: we read while it writes
            self.proc = subprocess.Popen(
                args + self.flags, cwd=self._workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, preexec_fn=limits,
                env={**os.environ, "PYTHONUNBUFFERED": "1",
                     "PYTHONPATH": os.pathsep.join(
                         [str(self.root), *filter(None, [os.environ.get("PYTHONPATH")])])})
        deadline = time.monotonic() + (self.startup_timeout or STARTUP_TIMEOUT)
        while time.monotonic() < deadline:
            if quiet:
                try:
                    socket.create_connection(self.addr, timeout=1).close()
                    return self
                except OSError:
                    pass
            else:
                match = re.search(r"listening on (\S+):(\d+)", self.log())
                if match:
                    self.port = int(match.group(2))
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)  # a subprocess starting: nothing to await
        text = self.log()
        self.stop()
        raise RuntimeError("server did not start:\n" + text)

    def log(self) -> str:
        """Everything the server has logged so far."""
        if not self._log_path:
            return ""
        with open(self._log_path, "rb") as file:
            return file.read().decode(errors="replace")

    def log_problems(self) -> int:
        """Number of ERROR/CRITICAL records and tracebacks in the log."""
        return len(self.problem_lines(limit=None))

    def problem_lines(self, limit: int | None = 3) -> list[str]:
        """The first ERROR/CRITICAL/traceback lines of the log (for the record)."""
        lines = [line[:300] for line in self.log().splitlines()
                 if re.search(r" (ERROR|CRITICAL) |^Traceback", line)]
        return lines if limit is None else lines[:limit]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log_path:
            os.unlink(self._log_path)
            self._log_path = ""
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_help_cache: dict[Path, str] = {}


def _isolation_flags(root: Path, flags: list[str]) -> list[str]:
    """Flags that keep concurrent benchmark servers apart and let the load in.

    The web dashboard listens on a fixed port by default; two servers at once
    would collide, so it gets a free port (it still runs: a default setting).
    Flags a server does not have (an older commit) are left out.
    """
    if root not in _help_cache:
        done = subprocess.run([sys.executable, "-m", "gameserver", "--help"], cwd=root,
                              capture_output=True, text=True, timeout=STARTUP_TIMEOUT)
        _help_cache[root] = done.stdout
    extra = []
    if "--web-port" in _help_cache[root] and not any(f.startswith("--web-port") for f in flags):
        extra += ["--web-port", "0"]
    # A load generator stands for thousands of clients from a few addresses: the
    # per-address limits, which guard against floods, would refuse its load.
    for limit in ("--max-sessions-per-address", "--max-waiting-joins-per-address"):
        if limit in _help_cache[root] and not any(f.startswith(limit) for f in flags):
            extra += [limit, "1000000"]
    return extra


# ---------------------------------------------------------------- /proc readings


def cpu_split_us(pid: int) -> tuple[float, float]:
    """(user, system) CPU time of process ``pid`` (all its threads), in µs.

    /proc counts in clock ticks (usually 10 ms), so measure over seconds.
    """
    with open(f"/proc/{pid}/stat", "rb") as file:
        fields = file.read().rsplit(b")", 1)[1].split()
    return int(fields[11]) * 1e6 / CLK_TCK, int(fields[12]) * 1e6 / CLK_TCK


def cpu_us(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), in µs."""
    user, system = cpu_split_us(pid)
    return user + system


def process_cpu_us(pid: int) -> float:
    """CPU time of process ``pid``, all its threads, ended ones too, in µs, exact to the
    nanosecond: the process's CPU clock (Linux: ``clock_gettime`` of the clock id
    ``CPUCLOCK_SCHED`` of ``pid``). ``cpu_us`` counts 10 ms clock ticks, so a short
    window under load can read 0 where the process did work; where the clock cannot be
    read (not Linux, the process gone), ``cpu_us``."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2) * 1e6
    except OSError:
        return cpu_us(pid)


def cpu_exact_us(pid: int) -> float:
    """CPU time of process ``pid``'s live threads, in µs, exact to the nanosecond
    (``/proc/PID/task/*/schedstat``; ``cpu_us`` counts 10 ms clock ticks). A thread
    that ended is not counted: for processes whose threads live as long as they do."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", "rb") as file:
                total += int(file.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):  # the thread ended meanwhile
            continue
    return total / 1000


def _status(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_kb(pid: int) -> int:
    """Resident memory of process ``pid`` in KiB (VmRSS)."""
    return _status(pid, "VmRSS")


def peak_rss_kb(pid: int) -> int:
    """Largest resident memory process ``pid`` has had, in KiB (VmHWM)."""
    return _status(pid, "VmHWM")


def threads(pid: int) -> int:
    return _status(pid, "Threads")


def open_fds(pid: int) -> int:
    """Number of open file descriptors of process ``pid``."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def open_sockets(pid: int) -> int:
    """Number of sockets among the open file descriptors of process ``pid``."""
    base = f"/proc/{pid}/fd"
    count = 0
    for name in os.listdir(base):
        try:
            if os.readlink(f"{base}/{name}").startswith("socket:"):
                count += 1
        except OSError:  # closed meanwhile
            pass
    return count


def open_connections(pid: int) -> int:
    """Number of TCP connections process ``pid`` holds open (its sockets that are TCP and
    not listening).

    A server's other sockets come and go as it starts: its dashboard's listener opens a
    moment after the game port answers, later still on a loaded machine. A count of all
    sockets taken "at idle" could miss it, and then a count back "at idle" never came
    (waiters.py, seen once with the machine's other load at 183 %).
    """
    listening: set[str] = set()
    connected: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as file:
                next(file)  # the header
                for line in file:
                    fields = line.split()
                    (listening if fields[3] == "0A" else connected).add(fields[9])
        except OSError:  # no IPv6 here
            pass
    base = f"/proc/{pid}/fd"
    count = 0
    for name in os.listdir(base):
        try:
            link = os.readlink(f"{base}/{name}")
        except OSError:  # closed meanwhile
            continue
        if link.startswith("socket:[") and link[8:-1] in connected:
            count += 1
    return count


def own_cpu_us() -> float:
    """User + system CPU time of this process (the load generator), in µs."""
    times = os.times()
    return (times.user + times.system) * 1e6


def tcp_ext() -> dict[str, int]:
    """The TcpExt counters of /proc/net/netstat (whole network namespace)."""
    with open("/proc/net/netstat") as file:
        lines = file.read().splitlines()
    counters: dict[str, int] = {}
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        prefix, *keys = names.split()
        if prefix == "TcpExt:":
            counters.update(zip(keys, map(int, values.split()[1:]), strict=False))
    return counters


def machine_cpu_us() -> tuple[float, float, float]:
    """(busy, total, steal) CPU time of the whole machine, all cores, in µs (/proc/stat).

    Steal is time the hypervisor gave our virtual CPUs to someone else; it
    is not counted as busy.
    """
    with open("/proc/stat") as file:
        values = [int(v) for v in file.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    steal = values[7] if len(values) > 7 else 0
    total = sum(values[:8])  # guest time is already counted in user
    return ((total - idle - steal) * 1e6 / CLK_TCK, total * 1e6 / CLK_TCK,
            steal * 1e6 / CLK_TCK)


class Meter:
    """Server CPU, generator CPU, wall time and TcpExt counters between two points."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.wall = perf_counter()
        self.server_user, self.server_sys = cpu_split_us(pid)
        self.server = process_cpu_us(pid)
        self.own = own_cpu_us()
        self.tcp = tcp_ext()
        self.machine_busy, self.machine_total, self.machine_steal = machine_cpu_us()

    def read(self, requests: int) -> dict[str, Any]:
        """The deltas since construction; per-request figures use ``requests``."""
        wall = perf_counter() - self.wall
        user, system = cpu_split_us(self.pid)
        user -= self.server_user
        system -= self.server_sys
        server = process_cpu_us(self.pid) - self.server  # (exact; the split is by ticks)
        own = own_cpu_us() - self.own
        tcp = tcp_ext()
        busy, total, steal = machine_cpu_us()
        busy -= self.machine_busy
        total -= self.machine_total
        steal -= self.machine_steal
        per = max(requests, 1)
        return {
            "seconds": round(wall, 3),
            "requests": requests,
            "server_cpu_s": round(server / 1e6, 3),
            "server_cpu_pct": round(100 * server / 1e6 / wall, 1),
            "server_cpu_us_per_request": round(server / per, 1),
            "server_user_us_per_request": round(user / per, 1),
            "server_sys_us_per_request": round(system / per, 1),
            "generator_cpu_s": round(own / 1e6, 3),
            "generator_cpu_pct": round(100 * own / 1e6 / wall, 1),
            "generator_cpu_us_per_request": round(own / per, 1),
            # Everything else that ran meanwhile (kernel softirqs, other programs),
            # in % of one core: a busy neighbour makes every figure worse.
            "other_cpu_pct": max(0.0, round(100 * (busy - server - own) / 1e6 / wall, 1)),
            "machine_busy_pct": round(100 * busy / max(total, 1), 1),
            "steal_pct": round(100 * steal / max(total, 1), 1),
            "listen_overflows": tcp.get("ListenOverflows", 0)
            - self.tcp.get("ListenOverflows", 0),
            "listen_drops": tcp.get("ListenDrops", 0) - self.tcp.get("ListenDrops", 0),
            "syn_retransmits": tcp.get("TCPSynRetrans", 0) - self.tcp.get("TCPSynRetrans", 0),
        }


def others_without(other_cpu_pct: float, cpu_us: float, seconds: float) -> float:
    """``other_cpu_pct`` less a process of the benchmark's own that ``Meter`` (knowing
    only the server and this process) counted among the others: ``cpu_us`` of CPU
    over ``seconds`` (a peer's load generator, a game's worker)."""
    return max(0.0, round(other_cpu_pct - 100 * cpu_us / 1e6 / max(seconds, 1e-9), 1))


def per_move(figures: dict[str, Any], moves: int) -> dict[str, Any]:
    """Server and generator CPU per completed move, from a ``Meter`` reading."""
    per = max(moves, 1)
    return {"server_cpu_us_per_move": round(figures["server_cpu_s"] * 1e6 / per, 1),
            "generator_cpu_us_per_move": round(figures["generator_cpu_s"] * 1e6 / per, 1)}


def wait_idle(pid: int, limit: float = 10.0) -> float:
    """Wait until process ``pid`` uses (almost) no CPU for 0.2 s; return seconds waited."""
    start = perf_counter()
    quiet = 0
    last = cpu_us(pid)
    while perf_counter() - start < limit and quiet < 2:
        time.sleep(0.1)  # sampling /proc; there is nothing to await
        now = cpu_us(pid)
        quiet = quiet + 1 if now - last <= 1e6 / CLK_TCK else 0
        last = now
    return perf_counter() - start


def wait_quiet(limit: float, busy_pct: float = 10.0) -> float:
    """Wait up to ``limit`` s for a second in which the machine is under ``busy_pct`` % busy.

    Returns the last second's machine-wide busy percentage (all cores), so a
    record can say how quiet the machine was when the benchmark started.
    """
    deadline = time.monotonic() + limit
    while True:
        busy0, total0, _ = machine_cpu_us()
        time.sleep(1.0)  # sampling /proc/stat; there is nothing to await
        busy1, total1, _ = machine_cpu_us()
        busy = 100 * (busy1 - busy0) / max(total1 - total0, 1)
        if busy < busy_pct or time.monotonic() >= deadline:
            return round(busy, 1)


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted``; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


# ---------------------------------------------------------------- statistics and output


def percentiles(samples: Sequence[float], prefix: str = "") -> dict[str, Any]:
    """p50, p99 and max of ``samples`` (seconds) in ms, nearest-rank; plus the count."""
    values = sorted(samples)
    n = len(values)

    def rank(p: float) -> float | None:
        if not n:
            return None
        return round(values[max(0, math.ceil(p / 100 * n) - 1)] * 1000, 3)

    return {f"{prefix}n": n, f"{prefix}p50_ms": rank(50), f"{prefix}p99_ms": rank(99),
            f"{prefix}max_ms": rank(100)}


_server_root: Path | None = None


def server_root() -> Path:
    """The source tree the server runs from (``--server-root``; default: this repository)."""
    return _server_root or ROOT


def _commit() -> str:
    root = server_root()
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    dirty = ""
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=root, capture_output=True, text=True, timeout=10)
        dirty = "+dirty" if status.stdout.strip() else ""
    except (OSError, subprocess.TimeoutExpired):
        pass
    return out.stdout.strip() + dirty if out.returncode == 0 else "unknown"


def fsync_ms(samples: int = 20) -> dict[str, Any]:
    """Latency of a 4 KiB write + fdatasync in the temp folder (where the servers run).

    A server that makes every change durable before it answers waits for
    this once per commit, so it bounds such a server's latency.
    """
    times = []
    with tempfile.NamedTemporaryFile(prefix="gameserver-bench-fsync-") as file:
        block = b"x" * 4096
        for _ in range(samples):
            start = perf_counter()
            os.write(file.fileno(), block)
            os.fdatasync(file.fileno())
            times.append(perf_counter() - start)
    figures = percentiles(times, "fsync_")
    return {"disk_fsync_p50_ms": figures["fsync_p50_ms"],
            "disk_fsync_p99_ms": figures["fsync_p99_ms"]}


def tool_version(command: list[str]) -> str | None:
    """What ``command`` (a program and its version flag) prints, or None where the
    program is missing: for a record's list of the tools it ran."""
    if shutil.which(command[0]) is None:
        return None
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    return done.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    """Date, machine, Python and commit, for the record."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": _commit(),
        "server_root": str(server_root()),
        "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def emit(record: dict[str, Any], summary: str) -> None:
    """Print the record as one JSON line, then the one-line summary."""
    print(json.dumps(record), flush=True)
    print(summary, flush=True)


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line and apply the shared flags (``--server-root``, ``--cpus``)."""
    global _server_root
    args = parser.parse_args(argv)
    if args.server_root:
        _server_root = Path(args.server_root).resolve()
    if args.cpus:
        if not hasattr(os, "sched_setaffinity"):
            parser.error("--cpus needs Linux (os.sched_setaffinity)")
        try:
            cpus = {int(cpu) for cpu in args.cpus.split(",")}
            os.sched_setaffinity(0, cpus)  # the server and its workers inherit it
        except (ValueError, OSError) as err:
            parser.error(f"--cpus {args.cpus}: {err}")
    return args


def make_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the flags every benchmark shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--server-root", metavar="DIR",
                        help="run the server from this source tree, e.g. a clean clone of "
                             "the commit to measure (default: this repository)")
    parser.add_argument("--smoke", action="store_true",
                        help="a run of a few seconds that only checks the benchmark works")
    parser.add_argument("--server-arg", action="append", default=[], metavar="FLAG",
                        help="extra flag for the server, e.g. --server-arg=--game-timeout=60 "
                             "(repeatable)")
    parser.add_argument("--cpus", metavar="LIST",
                        help="run the benchmark, the server and its workers on these CPUs "
                             "only, e.g. --cpus 1: in a VM a wake-up on another CPU costs "
                             "tens of µs, so unpinned figures depend on where the scheduler "
                             "puts each process (Linux)")
    return parser


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# ---------------------------------------------------------------- the epoll client


Callback = Callable[[bytes | None, str | None], None]


class Loop:
    """A minimal epoll loop for many client connections in one thread.

    Args:
        addr: the server's (host, port).
        sources: number of loopback source addresses (127.0.0.1, .2, ...) to
            spread client connections over, for runs that need more than one
            address's ephemeral ports.
    """

    def __init__(self, addr: tuple[str, int], sources: int = 1) -> None:
        self.addr = addr
        self.epoll = select.epoll()
        self.conns: dict[int, Conn] = {}
        self.now = perf_counter()
        self.sources = [f"127.0.0.{n}" for n in range(1, sources + 1)] if sources > 1 else []
        self._next_source = 0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.connects = 0
        self.slow_connects = 0  # connects that took >= 0.5 s (SYN retransmits)
        self.max_connect_wait = 0.0

    def source(self) -> str | None:
        if not self.sources:
            return None
        self._next_source = (self._next_source + 1) % len(self.sources)
        return self.sources[self._next_source]

    def call_later(self, delay: float, func: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (perf_counter() + delay, self._seq, func))

    def run(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Serve events for up to ``seconds``; return True if ``until()`` became true."""
        deadline = perf_counter() + seconds
        poll = self.epoll.poll
        conns = self.conns
        timers = self._timers
        while True:
            if until is not None and until():
                return True
            now = perf_counter()
            if now >= deadline:
                return False
            timeout = deadline - now
            if timers:
                timeout = max(0.0, min(timeout, timers[0][0] - now))
            events = poll(timeout, 4096)
            self.now = now = perf_counter()  # one timestamp per batch: when we noticed
            for fd, mask in events:
                conn = conns.get(fd)
                if conn is not None:
                    conn.on_event(mask)
            while timers and timers[0][0] <= now:
                heapq.heappop(timers)[2]()

    def close(self) -> None:
        for conn in list(self.conns.values()):
            conn.close()
        self.epoll.close()


class Conn:
    """One client connection; ``send`` one request at a time, get one callback per reply.

    A request sent with ``keep_alive=False`` (classic) completes when the
    server closes the connection; one sent with ``keep_alive=True`` completes
    at the terminator and the connection stays open for the next ``send``.
    The payload must already carry the terminator (and the ``keep_alive`` key
    when wanted). ``send`` on a closed ``Conn`` connects first.

    The callback gets ``(reply, None)`` or ``(None, error)``; ``loop.now`` is
    the time the reply was noticed.

    Pushed states (the push extension: messages that start with
    ``{"push": ``) go to ``on_push`` instead, whenever they come; replies
    still come one per request.
    """

    __slots__ = ("loop", "sock", "fd", "buf", "cb", "keep", "out", "t_connect", "on_push")

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.sock: socket.socket | None = None
        self.fd = -1
        self.buf = bytearray()
        self.cb: Callback | None = None
        self.keep = False
        self.out: bytes | None = None  # payload waiting for the connect to finish
        self.t_connect = 0.0
        self.on_push: Callable[[bytes], None] | None = None

    def send(self, payload: bytes, cb: Callback, keep_alive: bool = False) -> None:
        self.cb = cb
        self.keep = keep_alive
        if self.sock is None:
            self._connect(payload)
            return
        try:
            sent = self.sock.send(payload)
        except OSError as err:
            self._fail(f"send: {err.strerror or err}")
            return
        if sent != len(payload):  # tiny requests: does not happen on loopback
            self.sock.setblocking(True)
            self.sock.sendall(payload[sent:])
            self.sock.setblocking(False)

    def _connect(self, payload: bytes) -> None:
        loop = self.loop
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        source = loop.source()
        if source is not None:
            sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
        self.sock = sock
        self.fd = fd = sock.fileno()
        self.buf = bytearray()
        loop.connects += 1
        self.t_connect = perf_counter()
        code = sock.connect_ex(loop.addr)
        if code not in (0, errno.EINPROGRESS):
            self._fail(f"connect: {os.strerror(code)}")
            return
        loop.conns[fd] = self
        try:
            # On loopback the handshake has usually finished inside connect():
            # sending at once saves a round through epoll.
            sock.send(payload)
        except BlockingIOError:  # still connecting (e.g. SYN dropped, accept queue full)
            self.out = payload
            loop.epoll.register(fd, select.EPOLLOUT)
            return
        except OSError as err:
            self._fail(f"connect: {err.strerror or err}")
            return
        loop.epoll.register(fd, select.EPOLLIN)

    def on_event(self, mask: int) -> None:
        sock = self.sock
        assert sock is not None
        if self.out is not None:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._fail(f"connect: {os.strerror(code)}")
                return
            wait = perf_counter() - self.t_connect
            loop = self.loop
            if wait >= 0.5:
                loop.slow_connects += 1
            loop.max_connect_wait = max(loop.max_connect_wait, wait)
            payload, self.out = self.out, None
            try:
                sock.send(payload)
            except OSError as err:
                self._fail(f"send: {err.strerror or err}")
                return
            loop.epoll.modify(self.fd, select.EPOLLIN)
            return
        buf = self.buf
        while True:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                break
            except OSError as err:
                self._fail(f"recv: {err.strerror or err}")
                return
            if not data:  # EOF
                if self.keep:
                    self._fail("connection closed by the server before the terminator")
                    return
                cb = self.cb
                self.close()
                if cb is not None:
                    cb(bytes(buf), None)
                return
            buf += data
            if self.keep:
                if self.on_push is not None:
                    self._messages()
                    return
                end = buf.find(TERMINATOR)
                if end >= 0:  # one request at a time, so nothing follows it
                    reply = bytes(buf[:end])
                    del buf[: end + len(TERMINATOR)]
                    cb = self.cb
                    if cb is not None:
                        cb(reply, None)
                    return
            # Classic: the FIN usually arrives with the reply, so reading again
            # now saves a round through epoll.

    def _messages(self) -> None:
        """Hand every complete message in the buffer to ``on_push`` or the reply callback."""
        buf = self.buf
        start = 0
        while self.sock is not None:
            end = buf.find(TERMINATOR, start)
            if end < 0:
                break
            message = bytes(buf[start:end])
            start = end + len(TERMINATOR)
            if message.startswith(PUSH):
                self.on_push(message)  # type: ignore[misc]
            elif self.cb is not None:
                self.cb(message, None)
        del buf[:start]

    def _fail(self, message: str) -> None:
        cb = self.cb
        self.close()
        if cb is not None:
            cb(None, message)

    def close(self) -> None:
        """Close the connection without a callback (closing also leaves epoll)."""
        if self.sock is not None:
            self.loop.conns.pop(self.fd, None)
            self.sock.close()
            self.sock = None
            self.out = None


def encode(request: dict[str, Any], keep_alive: bool = False) -> bytes:
    """A request's wire bytes, terminator included."""
    if keep_alive:
        request = {**request, "keep_alive": True}
    return json.dumps(request, separators=(",", ":")).encode() + TERMINATOR
