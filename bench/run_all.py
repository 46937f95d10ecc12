"""Run every benchmark in sequence, each on its own fresh server.

    python bench/run_all.py              # the full suite, about three minutes
    python bench/run_all.py --smoke      # CI: a few seconds each, checks they run
    python bench/run_all.py --out results.json

Each benchmark's summary line is printed as it finishes; at the end comes one
JSON line holding every benchmark's record, then a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("bytecodes", "wakeups", "roundtrip", "tictactoe_load", "waiters", "isolation",
              "hop", "worker_moves", "timers")


def run(name: str, extra: list[str], timeout: float) -> dict[str, Any]:
    """Run ``bench/<name>.py``; return its record (or a record saying what went wrong)."""
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *extra],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"benchmark": name, "failed": f"no result within {timeout:g} s"}
    lines = done.stdout.splitlines()
    record: dict[str, Any] = {"benchmark": name}
    for n, line in enumerate(lines):
        if line.startswith("{"):
            record = json.loads(line)
            record["summary"] = lines[n + 1] if n + 1 < len(lines) else ""
            break
    record["exit_code"] = done.returncode
    record["wall_seconds"] = round(time.monotonic() - started, 1)
    if done.returncode != 0 or "summary" not in record:
        record["failed"] = (done.stderr.strip() or done.stdout.strip())[-2000:]
    return record


def interference(record: Any) -> float:
    """How much others disturbed a run, in % of one core.

    The mean of every ``*other_cpu_pct`` figure (CPU used by other programs)
    plus the mean ``*steal_pct`` (time the hypervisor gave our virtual CPUs
    to other machines) scaled to cores.
    """
    found: dict[str, list[float]] = {"other_cpu_pct": [], "steal_pct": []}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                suffix = next((s for s in found if key.endswith(s)), None)
                if suffix is not None and isinstance(item, (int, float)):
                    found[suffix].append(float(item))
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(record)
    nproc = record.get("nproc") or 1 if isinstance(record, dict) else 1

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    return mean(found["other_cpu_pct"]) + nproc * mean(found["steal_pct"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="a few seconds per benchmark; only checks that they run")
    parser.add_argument("--only", action="append", choices=BENCHMARKS,
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--out", metavar="FILE", help="also write the records to FILE")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="before each benchmark, wait up to SECONDS for the machine to "
                             "be idle (under 10%% busy for a second); a shared machine "
                             "skews every figure")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run each benchmark N times and keep the run least disturbed "
                             "by other programs and the hypervisor (other_cpu_pct, steal_pct); "
                             "for shared machines")
    parser.add_argument("--server-root", metavar="DIR",
                        help="run the servers from this source tree (see each benchmark)")
    parser.add_argument("--server-arg", action="append", default=[], metavar="FLAG",
                        help="extra flag for every server, e.g. --server-arg=--no-store")
    parser.add_argument("--cpus", metavar="LIST",
                        help="run every benchmark pinned to these CPUs, e.g. --cpus 1 (see "
                             "each benchmark: wake-ups across CPUs cost tens of µs here)")
    args = parser.parse_args(argv)
    extra = ["--smoke"] if args.smoke else []
    if args.cpus:
        extra += ["--cpus", args.cpus]
    extra += [f"--server-arg={flag}" for flag in args.server_arg]
    if args.server_root:
        extra += ["--server-root", args.server_root]
    timeout = 120.0 if args.smoke else 300.0
    records = []
    for name in args.only or BENCHMARKS:
        attempts = []
        for _ in range(max(1, args.repeat)):
            busy = _common.wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
            attempt = run(name, extra, timeout)
            attempt["machine_busy_pct_before"] = busy
            attempts.append(attempt)
        ran = [a for a in attempts if "failed" not in a] or attempts
        record = min(ran, key=interference)
        if len(attempts) > 1:
            record["attempts_other_cpu_pct"] = [round(interference(a), 1) for a in attempts]
        records.append(record)
        line = record.get("summary") or f"{name}: FAILED"
        print(line, flush=True)
        if "failed" in record:
            print(f"  {name} failed (exit {record.get('exit_code')}):\n{record['failed']}",
                  file=sys.stderr)
    combined = {"benchmark": "all", "smoke": args.smoke, "records": records}
    if args.out:
        Path(args.out).write_text(json.dumps(combined, indent=1) + "\n")
    failed = [r["benchmark"] for r in records if "failed" in r]
    print(json.dumps(combined), flush=True)
    print(f"run_all: {len(records) - len(failed)} of {len(records)} benchmarks ran"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
