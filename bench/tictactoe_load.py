"""Benchmark (a): K two-player tic-tac-toe sessions of random players, restarting.

Each of the 2K players loops: ``state`` (long poll) → if it is its turn, a
random ``move`` on an empty cell → ``state`` ...; when the game is over,
player 0 restarts it. All players live in one process on one epoll loop
(``_common.Loop``): no thread or task per player, so the generator costs
little CPU next to the server. Modes (``--mode``):

* ``classic`` (default): every request opens its own TCP connection, as
  classic clients do;
* ``keepalive``: one kept-alive connection per player (``--keep-alive``);
* ``push``: one kept-alive connection per player, which subscribes the
  player's view once; each new state is pushed, and a move's reply carries
  the mover's new state (``"with_state": true``). No ``state`` requests.
  When a player's connection fails, it subscribes again on a new one, and
  sends again the move or restart the failure may have lost (the view has
  seen the state it acted on, so no push would bring that state again).

Measured for each K after a warm-up, over a fixed window (which goes on until the
first move where none was counted in it: a smoke run on a loaded machine; the rates
divide by the real time), on a fresh server:

* moves/s and games/s;
* move latency: move sent → its reply (includes the connect);
* notify latency: move reply → the opponent's ``state`` reply showing that
  move (0 when the generator noticed both in the same epoll batch);
* errors (non-ok replies, failed connections) and stalls (a connect, move or
  restart that took ≥ 1 s, or a notify ≥ 1 s, or a request still unanswered
  after 1 s at the end);
* accept-queue overflows (TcpExt ListenOverflows, whole machine);
* server CPU µs per request and the generator's own CPU.

    python bench/tictactoe_load.py                       # K = 10, 50, 200, 500
    python bench/tictactoe_load.py --sessions 200 --seconds 20
    python bench/tictactoe_load.py --smoke
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from typing import Any

import _common
from _common import Conn, Loop, perf_counter

OK_NULL = b'{"status": "ok", "data": null}'
OK_NULL_WITH_STATE = b'{"status": "ok", "data": null, "state": '
STALL = 1.0  # seconds
FIRST_MOVE_MAX = 60.0  # seconds a window goes on past its end for its first move


class Stats:
    def __init__(self) -> None:
        self.on = False  # inside the measured window
        self.requests = 0
        self.moves = 0
        self.games = 0
        self.move_latency: list[float] = []
        self.notify_latency: list[float] = []
        self.errors: Counter[str] = Counter()
        self.stalls = 0
        self.pushes = 0


class Session:
    __slots__ = ("name", "expect", "mover", "reply_t", "seen_t", "notified")

    def __init__(self, name: str) -> None:
        self.name = name
        self.expect = 0  # number of marks once the last move is on the board
        self.mover = -1
        self.reply_t: float | None = None  # when the last move's reply was noticed
        self.seen_t: float | None = None  # when the opponent saw it, if before that
        self.notified = True


class Player:
    """One random player: a little state machine driven by reply callbacks."""

    __slots__ = ("bench", "session", "pid", "conn", "t0", "keep", "state_req",
                 "move_head", "move_tail", "restart_req", "subscribe_req", "kind", "pushed",
                 "payload", "lost")

    def __init__(self, bench: Bench, session: Session) -> None:
        self.bench = bench
        self.session = session
        self.pid = -1
        self.keep = bench.keep_alive
        self.conn = Conn(bench.loop)
        self.t0 = 0.0
        self.kind = ""
        self.pushed: dict[str, Any] | None = None  # a push that came while a request was out
        self.payload = b""  # the request in flight
        # push: the kind and bytes of a move or restart a failed connection may have lost
        self.lost: tuple[str, bytes] | None = None
        self.new_conn()

    def new_conn(self) -> None:
        self.conn = Conn(self.bench.loop)
        if self.bench.push:
            self.conn.on_push = self.on_push

    def send(self, kind: str, payload: bytes) -> None:
        self.kind = kind
        self.payload = payload
        self.t0 = perf_counter()
        if not self.keep:
            self.conn = Conn(self.bench.loop)
        self.conn.send(payload, self.on_reply, self.keep)

    def join(self) -> None:
        request = {"type": "join", "game": "TicTacToe", "session": self.session.name,
                   "players": 2, "name": ""}
        self.send("join", _common.encode(request, self.keep))

    def on_reply(self, reply: bytes | None, err: str | None) -> None:
        bench = self.bench
        stats = bench.stats
        now = bench.loop.now
        if stats.on:
            stats.requests += 1
        if reply is None:
            self.failed(err or "no reply")
            return
        kind = self.kind
        if kind == "again":
            self.sent_again(reply, now)
            return
        if kind == "move" and bench.push:
            if not reply.startswith(OK_NULL_WITH_STATE):
                self.failed(reply.decode(errors="replace"))
                return
            self.kind = ""
            self.pushed = None  # older than the state this reply carries
            self.moved(now)
            self.on_state(json.loads(reply)["state"], now)
            return
        if kind == "move":
            if reply != OK_NULL:
                self.failed(reply.decode(errors="replace"))
                return
            self.moved(now)
            self.ask_state()
            return
        if kind == "restart":
            if reply != OK_NULL:
                self.failed(reply.decode(errors="replace"))
                return
            if stats.on:
                stats.games += 1
                if now - self.t0 >= STALL:
                    stats.stalls += 1
            self.kind = ""
            self.ask_state()
            pushed, self.pushed = self.pushed, None
            if pushed is not None:  # the new game's state came before the reply
                self.on_state(pushed, now)
            return
        answer = json.loads(reply)
        if answer.get("status") != "ok":
            self.failed(str(answer.get("message")))
            return
        data = answer["data"]
        if kind == "join":
            self.joined(data)
        elif kind == "subscribe":
            self.kind = ""  # the states come as pushes
            if self.lost is not None:
                self.send("again", self.lost[1])
        else:
            self.on_state(data, now)

    def moved(self, now: float) -> None:
        """The reply to our move came."""
        stats = self.bench.stats
        session = self.session
        session.reply_t = now
        if stats.on:
            stats.moves += 1
            latency = now - self.t0
            stats.move_latency.append(latency)
            if latency >= STALL:
                stats.stalls += 1
            if session.seen_t is not None:  # the opponent saw it in this batch
                stats.notify_latency.append(0.0)
        session.seen_t = None

    def on_push(self, message: bytes) -> None:
        """A pushed state of our view (push mode)."""
        bench = self.bench
        if bench.stats.on:
            bench.stats.pushes += 1
        answer = json.loads(message)
        if answer.get("status") != "ok":
            self.failed(str(answer.get("message")))
            return
        self.on_state(answer["data"], bench.loop.now)

    def failed(self, message: str) -> None:
        bench = self.bench
        if bench.stats.on:
            bench.stats.errors[message[:100]] += 1
        if bench.push and self.kind in ("move", "restart") and self.lost is None:
            self.lost = (self.kind, self.payload)
        if not bench.stopping:
            # Back off a little, then pick up the game again with a state request
            # (push: a subscription, on a new connection: the old one's ended with it).
            self.conn.close()
            self.new_conn()
            bench.loop.call_later(0.05, self.resume)

    def resume(self) -> None:
        if self.pid < 0:
            self.join()
        elif self.bench.push:
            if not self.bench.stopping:
                self.send("subscribe", self.subscribe_req)
        else:
            self.ask_state()

    def sent_again(self, reply: bytes, now: float) -> None:
        """The reply to a move or restart sent again after a failure (push mode).

        Its first sending may have reached the game before the connection
        failed: then this one is refused ("not your turn", a taken cell's
        illegal move, "game is not over"), and the subscription brings what
        came of the first.
        """
        lost, self.lost = self.lost, None
        self.kind = ""
        answer = json.loads(reply)
        pushed, self.pushed = self.pushed, None
        if answer.get("status") == "ok" and lost is not None:
            if lost[0] == "move":
                self.moved(now)
            elif self.bench.stats.on:
                self.bench.stats.games += 1
        if "state" in answer:  # newer than any push that came before the reply
            self.on_state(answer["state"], now)
        elif pushed is not None:
            self.on_state(pushed, now)

    def joined(self, data: dict[str, Any]) -> None:
        self.pid = pid = data["player_id"]
        keep = self.keep
        ids = {"game": "TicTacToe", "session": self.session.name, "player_id": pid,
               "key": data["key"]}
        self.state_req = _common.encode({"type": "state", **ids, "observer": False}, keep)
        self.restart_req = _common.encode({"type": "restart", **ids}, keep)
        extra = {"with_state": True} if self.bench.push else {}
        move = _common.encode({"type": "move", **ids, "move": {"position": 0}, **extra}, keep)
        cut = move.index(b'"position":') + len(b'"position":')
        self.move_head, self.move_tail = move[:cut], move[cut + 1:]
        self.subscribe_req = _common.encode({"type": "subscribe", **ids, "observer": False},
                                            keep)
        if self.bench.push:
            self.send("subscribe", self.subscribe_req)
        self.bench.joined += 1
        if not self.bench.push:
            self.ask_state()

    def ask_state(self) -> None:
        if not self.bench.stopping and not self.bench.push:
            self.send("state", self.state_req)

    def on_state(self, data: dict[str, Any], now: float) -> None:
        board = data["board"]
        session = self.session
        stats = self.bench.stats
        if not session.notified and session.mover != self.pid:
            marks = 9 - board.count(-1)
            if marks >= session.expect:
                session.notified = True
                if stats.on:
                    if session.reply_t is not None:
                        latency = now - session.reply_t
                        stats.notify_latency.append(latency)
                        if latency >= STALL:
                            stats.stalls += 1
                    else:
                        session.seen_t = now  # counted when the move reply comes
        if self.bench.stopping:
            return
        if self.bench.push and self.kind:  # a request in flight: act once its reply came
            # (a reply waits until its change is saved; a push may come before it).
            self.pushed = data
            return
        if data["gameover"]:
            if self.pid == 0:
                self.send("restart", self.restart_req)
            else:
                self.ask_state()
        elif self.pid in data["current"]:
            empty = [i for i, cell in enumerate(board) if cell == -1]
            position = self.bench.rng.choice(empty)
            session.expect = 10 - len(empty)
            session.mover = self.pid
            session.reply_t = None
            session.seen_t = None
            session.notified = False
            self.send("move", self.move_head + str(position).encode() + self.move_tail)
        else:
            self.ask_state()


class Bench:
    def __init__(self, server: _common.Server, sessions: int, mode: str,
                 seed: int, sources: int) -> None:
        self.loop = Loop(server.addr, sources)
        self.keep_alive = mode != "classic"
        self.push = mode == "push"
        self.rng = random.Random(seed)
        self.stats = Stats()
        self.stopping = False
        self.joined = 0
        self.sessions = [Session(f"bench-{n}") for n in range(sessions)]
        self.players = [Player(self, s) for s in self.sessions for _ in range(2)]


def run_level(sessions: int, seconds: float, warmup: float, mode: str,
              server_args: list[str], seed: int, sources: int) -> dict[str, Any]:
    with _common.Server(*server_args) as server:
        bench = Bench(server, sessions, mode, seed, sources)
        loop = bench.loop
        everyone = len(bench.players)
        for player in bench.players:
            player.join()
        joined = loop.run(30.0, lambda: bench.joined == everyone)
        loop.run(warmup)
        stats = bench.stats
        connects_before, slow_before = loop.connects, loop.slow_connects
        loop.max_connect_wait = 0.0
        meter = _common.Meter(server.pid)
        stats.on = True
        loop.run(seconds)
        if stats.moves == 0:  # a starved machine: the window lasts until a move is counted
            loop.run(FIRST_MOVE_MAX, lambda: stats.moves > 0)
        stats.on = False
        figures = meter.read(stats.requests)
        per_move = _common.per_move(figures, stats.moves)
        bench.stopping = True
        # Requests in flight for longer than STALL right now are stalled too.
        now = perf_counter()
        stuck = sum(1 for p in bench.players if p.kind != "state" and p.conn.sock is not None
                    and now - p.t0 >= STALL)
        connects = loop.connects - connects_before
        slow = loop.slow_connects - slow_before
        max_connect = loop.max_connect_wait
        loop.close()
        problems = server.log_problems()
        problem_lines = server.problem_lines()
        rss = _common.rss_kb(server.pid)
    wall = figures["seconds"]
    return {
        "sessions": sessions,
        "all_joined": joined,
        "mode": mode,
        "moves_per_s": round(stats.moves / wall, 1),
        "pushes": stats.pushes,
        **per_move,
        "games_per_s": round(stats.games / wall, 1),
        "moves": stats.moves,
        "games": stats.games,
        **_common.percentiles(stats.move_latency, "move_"),
        **_common.percentiles(stats.notify_latency, "notify_"),
        "errors": sum(stats.errors.values()),
        "error_kinds": dict(stats.errors.most_common(5)),
        "stalls": stats.stalls + slow + stuck,
        "stalled_replies": stats.stalls,
        "stuck_at_end": stuck,
        "slow_connects": slow,
        "max_connect_ms": round(max_connect * 1000, 3),
        "connects": connects,
        "server_rss_kb": rss,
        "server_log_problems": problems,
        "server_log_excerpt": problem_lines,
        **figures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="10,50,200,500",
                        help="comma-separated session counts K (default 10,50,200,500)")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="measured window per K (default 8)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds (default 1)")
    parser.add_argument("--mode", choices=("classic", "keepalive", "push"), default=None,
                        help="classic: a connection per request (default); keepalive: one "
                             "kept-alive connection per player; push: one per player, "
                             "subscribed, moves with the mover's state")
    parser.add_argument("--keep-alive", action="store_true", help="the same as --mode keepalive")
    parser.add_argument("--sources", type=int, default=1,
                        help="spread connections over 127.0.0.1..N (default 1)")
    parser.add_argument("--seed", type=int, default=1)
    args = _common.parse(parser, argv)
    levels = [int(k) for k in args.sessions.split(",") if k.strip()]
    seconds, warmup = args.seconds, args.warmup
    if args.smoke:
        levels, seconds, warmup = [2, 20], 0.6, 0.2
    _common.raise_nofile(4 * max(levels) + 1000)
    server_args = ["--log-level", "WARNING", *args.server_arg]
    mode = args.mode or ("keepalive" if args.keep_alive else "classic")
    runs = [run_level(k, seconds, warmup, mode, server_args, args.seed, args.sources)
            for k in levels]
    record = {"benchmark": "tictactoe_load", "smoke": args.smoke, **_common.machine_info(),
              **_common.fsync_ms(5 if args.smoke else 20),
              "seconds_per_level": seconds, "runs": runs}
    parts = [f"K={r['sessions']}: {r['moves_per_s']:.0f} moves/s, {r['games_per_s']:.0f} games/s,"
             f" move p50/p99 {_common.fmt(r['move_p50_ms'])}/{_common.fmt(r['move_p99_ms'])} ms,"
             f" notify p50/p99 {_common.fmt(r['notify_p50_ms'])}/"
             f"{_common.fmt(r['notify_p99_ms'])} ms, errors {r['errors']},"
             f" stalls {r['stalls']}, overflows {r['listen_overflows']},"
             f" server {r['server_cpu_us_per_move']:.0f} µs/move,"
             f" generator {r['generator_cpu_pct']:.0f}% CPU, others {r['other_cpu_pct']:.0f}%"
             f" + steal {r['steal_pct']:.0f}%"
             for r in runs]
    kinds = {kind for r in runs for kind in r["error_kinds"]}
    summary = f"tictactoe_load ({runs[0]['mode']}): " + " | ".join(parts)
    if kinds:
        summary += " | errors seen: " + "; ".join(sorted(kinds))
    _common.emit(record, summary)
    return 0 if all(r["all_joined"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
