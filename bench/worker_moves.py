#!/usr/bin/env python3
"""Benchmark: a worker process's own cost per change of TicTacToe, without the server.

Starts ``gameserver.worker`` as ``workers.py`` does (``python -I -c`` with the
boot line of ``_process``, the hello, the sandbox report, the catalog) and
pumps the requests of ``isolation.py``'s move phase through its pipes, one at
a time: games of seven moves (the first free cell; the starting player wins
on the diagonal), each made from a seed with both players' states sent along,
each move with the states of the request before (``wanted`` None), a saved
copy every ``SAVE_EVERY`` moves, a ``drop`` after each game. A *change* is a
new game or a move. Replies are decoded (``_reply.decode``) and checked.

* ``--callgrind``: the worker runs under ``valgrind --tool=callgrind``; the
  figure is its machine instructions per change, from two runs of different
  lengths (their difference: start-up cancels out). Deterministic.
* otherwise: the worker's CPU time per change (``/proc/PID/schedstat``, exact)
  over the games after a warm-up, ``--rounds`` times.

    taskset -c 0 python bench/worker_moves.py --games 2000 --rounds 5
    python bench/worker_moves.py --callgrind --games 300,1300
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common  # noqa: E402

from gameserver import _channel, _process, _reply  # noqa: E402

MOVES_PER_GAME = 7
SAVE_EVERY = 16
WANTED = [(0, False), (1, False)]  # the states sent along (``--states``: the first N)


class Pipe:
    """The server's end: blocking writes and reads of framed messages."""

    def __init__(self, command: list[str]) -> None:
        self.popen = subprocess.Popen(
            command, cwd=_process.PACKAGE_PARENT, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={name: os.environ[name] for name in ("PATH", "LANG") if name in os.environ})
        assert self.popen.stdin is not None and self.popen.stdout is not None
        self.to_worker = self.popen.stdin.fileno()
        self.reader = self.popen.stdout

    def send(self, message: tuple[Any, ...]) -> None:
        os.write(self.to_worker, _channel.encode(message))

    def receive(self) -> bytes:
        header = self.reader.read(_channel.HEADER.size)
        (length,) = _channel.HEADER.unpack(header)
        return self.reader.read(length)

    def close(self) -> None:
        self.popen.stdin.close()  # type: ignore[union-attr]
        self.popen.wait()


def start(prefix: list[str]) -> Pipe:
    pipe = Pipe([*prefix, sys.executable, "-I", "-c", _process._BOOT,
                 _process.PACKAGE_PARENT])
    pipe.send(("hello", {"source": ("module", "gameserver.games.tictactoe"),
                         "time_limit": 5.0, "memory_mb": 512, "cpu_seconds": 3600,
                         "readable": [], "parent": os.getpid(), "log_level": 20}))
    sandbox = _channel.decode_plain(pipe.receive())
    assert sandbox[0] == "sandbox", sandbox
    catalog = _channel.decode_plain(pipe.receive())
    assert catalog[0] == "catalog" and catalog[1], catalog
    return pipe


def play(pipe: Pipe, games: int, first_gid: int = 1, states: int = 2) -> int:
    """Play ``games`` games, each change sending ``states`` states along; the number of
    changes."""
    changes = 0
    moves = 0
    for gid in range(first_gid, first_gid + games):
        pipe.send(("new", gid, "TicTacToe", 2, 1000 + gid, WANTED[:states]))
        reply = _reply.decode(pipe.receive())
        assert reply[0] is None and reply[6] is None, reply
        changes += 1
        board = [-1] * 9
        for _ in range(MOVES_PER_GAME):
            player = reply[2][0]
            position = board.index(-1)
            board[position] = player
            moves += 1
            pipe.send(("move", gid, {"position": position}, player, None,
                       moves % SAVE_EVERY == 0))
            reply = _reply.decode(pipe.receive())
            assert reply[0] is None and reply[1] is None and reply[6] is None, reply
            assert len(reply[4]) == states and all(type(v) is bytes for v in reply[4]), reply
            assert (reply[5] is not None) == (moves % SAVE_EVERY == 0), reply
            changes += 1
        assert reply[3] is True, reply
        pipe.send(("drop", gid))
    return changes


def schedstat_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as file:
        return int(file.read().split()[0])


def timed(games: int, rounds: int, warmup: int, states: int = 2) -> list[float]:
    """The worker's CPU µs per change, one figure per round (one process per round)."""
    figures = []
    for _ in range(rounds):
        pipe = start([])
        play(pipe, warmup, states=states)
        before = schedstat_ns(pipe.popen.pid)
        changes = play(pipe, games, first_gid=warmup + 1, states=states)
        figures.append((schedstat_ns(pipe.popen.pid) - before) / 1000 / changes)
        pipe.close()
    return figures


def instructions(games: int, keep: str | None, states: int = 2) -> tuple[int, int]:
    """The worker's instructions (all of its run, under callgrind) and its changes;
    callgrind's file is kept as ``keep``-GAMES if asked."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(f"{keep}-{games}" if keep else Path(folder) / "callgrind.out")
        pipe = start(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                      "--trace-children=no"])
        changes = play(pipe, games, states=states)
        pipe.close()
        text = out.read_text()
    match = re.search(r"^summary: (\d+)", text, re.M) or re.search(r"^totals: (\d+)", text,
                                                                     re.M)
    assert match, "no totals in callgrind's output"
    return int(match.group(1)), changes


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--callgrind", action="store_true",
                        help="count the worker's machine instructions under valgrind's "
                             "callgrind instead of timing it")
    parser.add_argument("--games", help="games per round (default 2000; callgrind: SHORT,LONG, "
                                        "default 300,1300)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--keep", help="keep callgrind's files as KEEP-GAMES")
    parser.add_argument("--states", type=int, choices=(0, 1, 2), default=2,
                        help="states sent along with each change (default both players')")
    args = _common.parse(parser, argv)
    record: dict[str, Any] = {"benchmark": "worker_moves", "smoke": args.smoke,
                              **_common.machine_info(), "states": args.states}
    if args.callgrind:
        if shutil.which("valgrind") is None:
            _common.emit({**record, "skipped": "valgrind is not installed"},
                         "worker_moves: skipped: valgrind is not installed")
            return 0
        short, long = (int(n) for n in (args.games or ("40,120" if args.smoke else "300,1300"))
                       .split(","))
        timed(1, 1, 1)  # (compiles what changed: no run under callgrind writes a .pyc)
        ir_short, changes_short = instructions(short, args.keep, args.states)
        ir_long, changes_long = instructions(long, args.keep, args.states)
        per_change = round((ir_long - ir_short) / (changes_long - changes_short))
        record.update(instructions_per_change=per_change,
                      runs=[[ir_short, changes_short], [ir_long, changes_long]])
        summary = f"worker_moves: {per_change:,} instructions per change in the worker"
    else:
        games = int(args.games or (50 if args.smoke else 2000))
        rounds, warmup = (1, 10) if args.smoke else (args.rounds, args.warmup)
        figures = [round(f, 2) for f in timed(games, rounds, warmup, args.states)]
        record.update(cpu_us_per_change=figures, median=statistics.median(figures))
        summary = (f"worker_moves: the worker's CPU per change {statistics.median(figures):.1f} "
                   f"µs (median of {', '.join(f'{f:.1f}' for f in figures)})")
    _common.emit(record, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
