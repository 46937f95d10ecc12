#!/usr/bin/env python3
"""Python bytecodes the server runs per request: a count, not a time.

Timed figures on a VM move by several µs from one run (or one clone) to
the next; the number of bytecodes the server's thread executes for the
same requests does not move at all. So this shows, to the bytecode, what a
change to the per-request code does, and a benchmark of the others tells
what that is worth in time. It counts ``sys.settrace`` opcode events in the
thread of an in-process server (``tests.serverproc.ServerThread`` of the
tree measured: it needs a checkout with its tests, as ``--server-root``
does), leaving out what time drives (the lobby's tick, the deadline sweep,
the store's checkpoints).

Workloads (each with and without the store):

* ``join``: a keep-alive join of a one-player Echo session and one
  ``state``, per client (what ``waiters.py`` does while it sets up);
* ``classic``, ``keepalive``: one sequential client alternating ``move``
  and ``state`` on Echo, per request (``roundtrip.py``);
* ``rl``: one step of the network AEC environment on TicTacToe, per step
  (``rl_envs.py``; needs the ``rl`` extra, else it is skipped; its steps do
  not wait for the save);
* ``tictactoe``: ``isolation.py``'s move phase, per change: one client holds
  both seats of a TicTacToe session on one kept-alive connection and plays
  games of seven moves and a restart, each request waiting for its reply
  (and, with the store, for its save).
* ``push``: the push extension, per move (``tictactoe_load.py --mode
  push``): ``PUSH_SESSIONS`` two-player TicTacToe sessions, each player on
  a kept-alive connection of its own that subscribed its view; a move asks
  for the mover's state in its reply (``"with_state": true``) and is pushed
  to the opponent. The sessions take turns, one move (or restart) each, and
  the client waits for every reply and push before the next: games of seven
  moves, then player 0 restarts (the new game pushed to both, the old one's
  end handed over to player 1 first); a restart is counted in the seven
  moves of its game.

``--client`` counts the other side of ``rl``: the bytecodes the network AEC
env runs in its own process per step (the env, PettingZoo's loop and the
benchmark's random policy, as for PettingZoo's own env), without the store.

``--isolate`` runs the games in a worker process (``isolate_games="all"``):
then only the server's side of a game call is counted (the worker is another
process), which is what issue 13 asks a game in a worker to add.

``--worker`` counts the worker's side of ``tictactoe``'s changes, per change:
a ``Host`` of ``gameserver/worker.py`` in the counting process (no server,
no pipe) is sent what the server sends a worker for them (a restart: the
old game dropped and a new one made; seven moves, both players' views
wanted, a saved copy asked every ``isolated.SAVE_EVERY`` moves), each
message encoded and read back as the pipe carries it, each reply encoded
and written (to ``/dev/null``). On one CPU the worker's call is part of
what a move waits for.

Prints one JSON record and a summary line, like every benchmark; ``--top
N`` adds the N functions that run the most bytecodes, per workload.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from roundtrip import KeptAlive, classic_request  # noqa: E402

WORKLOADS = ("join", "classic", "keepalive", "rl", "tictactoe", "push")
SIDES = {"client": ["rl"], "worker": ["tictactoe"]}  # what --client and --worker count
# What a workload counts per, where not per request ("per step" with --client).
UNITS = {"push": "move"}
PUSH_SESSIONS = 10  # the push workload's sessions (two subscribed players each)
# Time-driven work, not the requests': a frame under one of these is not counted.
# (Only the server's thread is traced: the watchdog's and the store's threads are not.)
TIMED = {"sweep", "tick", "_tick", "forget_idle", "_sweep", "tick_timers"}


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000,
                        help="clients (join), move/state pairs, steps, changes or moves "
                             "counted (default 1000)")
    parser.add_argument("--only", action="append", choices=WORKLOADS,
                        help="count only this workload (repeatable)")
    parser.add_argument("--top", type=int, default=0, metavar="N",
                        help="also list the N functions that run the most bytecodes")
    parser.add_argument("--isolate", action="store_true",
                        help="the games in a worker process (isolate_games all)")
    parser.add_argument("--client", action="store_true",
                        help="count the network AEC env's own process per step (rl only)")
    parser.add_argument("--worker", action="store_true",
                        help="count a game worker's side of tictactoe's changes, per change")
    args = _common.parse(parser, argv)
    root = _common.server_root()
    count = 20 if args.smoke else args.requests
    runs = []
    side = "client" if args.client else "worker" if args.worker else "server"
    for workload in SIDES.get(side) or args.only or WORKLOADS:
        for store in (False, True) if side == "server" else (False,):
            runs.append(_count_in_child(root, workload, store, count, args.top,
                                        args.isolate, side))
    counted = [run for run in runs if "skipped" not in run]
    unit = {"client": "step", "worker": "change"}.get(side, "request")
    summary = "bytecodes: " + " | ".join(
        f"{run['workload']} "
        f"{('store' if run['store'] else 'no store') if side == 'server' else side}: "
        + (f"{run['bytecodes_per_request']:.0f} per {UNITS.get(run['workload'], unit)} "
           f"({run['calls_per_request']:.1f} calls)" if "skipped" not in run
           else f"skipped ({run['skipped']})") for run in runs)
    record = {"benchmark": "bytecodes", "smoke": args.smoke, **_common.machine_info(),
              "requests": count, "isolate": args.isolate, "client": args.client,
              "worker": args.worker, "runs": runs}
    _common.emit(record, summary)
    return 0 if counted else 1


def _count_in_child(root: Path, workload: str, store: bool, count: int,
                    top: int, isolate: bool = False, side: str = "server") -> dict[str, Any]:
    """Count one workload in a fresh process that imports the server from ``root``
    (``side``: the server's thread, the env's process, or a game worker's)."""
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "PYTHONPATH": str(root)}
        done = subprocess.run(
            [sys.executable, __file__, "--child", workload, "store" if store else "memory",
             str(count), str(top), "all" if isolate else "off", side], cwd=folder, env=env,
            capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"counting {workload} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the child


def _child(workload: str, store: bool, count: int, top: int,
           isolate: str, side: str = "server") -> dict[str, Any]:
    import collections

    from tests.serverproc import ServerThread

    if workload == "rl":
        try:
            import gameserver.rl  # noqa: F401  (its error says what to install)
        except ImportError as err:
            return {"workload": workload, "store": store, "skipped": str(err)[:200]}
    options: dict[str, Any] = {"store": store, "new_sessions_per_minute": 10**9,
                               "isolate_games": isolate}
    if store:
        options["store_path"] = os.path.join(os.getcwd(), "count.sqlite3")
    if side == "worker":
        server = None
        run = _worker_changes()
    else:
        try:  # (a tree from before the per-address limits has no such settings)
            server = ServerThread(**options, max_sessions_per_address=10**6,
                                  max_waiting_joins_per_address=10**6).start()
        except TypeError:
            server = ServerThread(**options).start()
        run = _WORKLOADS[workload](server, count)
    ops: collections.Counter[tuple[str, str]] = collections.Counter()
    calls: collections.Counter[tuple[str, str]] = collections.Counter()

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        outer = frame
        for _ in range(4):
            if outer is None:
                break
            if outer.f_code.co_name in TIMED:
                return None
            outer = outer.f_back
        frame.f_trace_opcodes = True
        code = frame.f_code
        key = (os.path.basename(code.co_filename), code.co_name)
        calls[key] += 1

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "opcode":
                ops[key] += 1
            return local
        return local

    run(50)  # warm: caches filled, the first session made
    if server is None or side == "client":  # this thread (the env's process, the worker)
        sys.settrace(tracer)
        requests = run(count)
        sys.settrace(None)
    else:
        server.call(sys.settrace, tracer)
        requests = run(count)
        server.call(sys.settrace, None)
    record = {"workload": workload, "store": store, "client": side == "client",
              "worker": side == "worker", "requests": requests,
              "bytecodes_per_request": round(sum(ops.values()) / requests, 1),
              "calls_per_request": round(sum(calls.values()) / requests, 2)}
    if top:
        record["top"] = [[f"{name[0]}:{name[1]}", round(n / requests, 1),
                          round(calls[name] / requests, 2)] for name, n in ops.most_common(top)]
    return record


def _joins(server: Any, _: int) -> Any:
    number = 0
    clients_kept = []

    def run(clients: int) -> int:
        nonlocal number
        for _ in range(clients):
            number += 1
            client = KeptAlive((server.host, server.port),
                               f"127.0.{1 + (number // 200) % 250}.{1 + number % 200}")
            ids = {"game": "Echo", "session": f"w{number}"}
            data = _ask(client.request, {"type": "join", **ids, "players": 1, "name": ""},
                        True)["data"]
            _ask(client.request, {"type": "state", **ids, "player_id": data["player_id"],
                                  "key": data["key"], "observer": False}, True)
            clients_kept.append(client)  # kept open, as waiters.py keeps its clients
        return clients
    return run


def _sequential(keep_alive: bool) -> Any:
    def workload(server: Any, _: int) -> Any:
        address = (server.host, server.port)
        first = KeptAlive(address)
        ids = {"game": "Echo", "session": "seq", "player_id": 0, "key": _ask(
            first.request, {"type": "join", "game": "Echo", "session": "seq", "players": 1,
                            "name": ""}, True)["data"]["key"]}
        send = first.request if keep_alive else partial(classic_request, address)
        moves = 0

        def run(pairs: int) -> int:
            nonlocal moves
            for _ in range(pairs):
                moves += 1
                moved = _ask(send, {"type": "move", **ids, "move": {"msg": moves}}, keep_alive)
                assert moved["status"] == "ok", moved
                state = _ask(send, {"type": "state", **ids, "observer": False}, keep_alive)
                assert state["data"]["echo"] == moves, state
            return 2 * pairs
        return run
    return workload


def _rl_steps(server: Any, _: int) -> Any:
    from gameserver.rl import RandomAgent, aec_env

    env = aec_env("TicTacToe", server=(server.host, server.port), session="count")
    policy = RandomAgent(1)
    env.reset(seed=1)

    def run(wanted: int) -> int:
        steps = 0
        while steps < wanted:
            for _ in env.agent_iter():
                observation, _, terminated, truncated, _ = env.last()
                env.step(None if terminated or truncated else
                         policy(observation["observation"], observation["action_mask"]))
                steps += 1
            env.reset()
        return steps
    return run


def _tictactoe(server: Any, _: int) -> Any:
    ids = {"game": "TicTacToe", "session": "t"}
    first = KeptAlive((server.host, server.port))
    joined: list[dict[str, Any]] = []
    joiner = threading.Thread(target=lambda: joined.append(_ask(
        first.request, {"type": "join", **ids, "players": 2, "name": "a"}, True)))
    joiner.start()
    conn = KeptAlive((server.host, server.port))
    seats = [_ask(conn.request, {"type": "join", **ids, "players": 2, "name": "b"},
                  True)["data"]]
    joiner.join(30)
    seats.append(joined[0]["data"])
    keys = {seat["player_id"]: {**ids, "player_id": seat["player_id"], "key": seat["key"]}
            for seat in seats}
    moves = [[_common.encode({"type": "move", **keys[p], "move": {"position": cell}}, True)
              for cell in range(9)] for p in (0, 1)]
    restart = _common.encode({"type": "restart", **keys[0]}, True)
    state = _common.encode({"type": "state", **keys[0], "observer": False}, True)

    def run(wanted: int) -> int:  # changes: 7 moves and a restart a game (+ one state)
        changes = 0
        while changes < wanted:
            assert conn.request(restart).startswith(b'{"status": "ok"')
            current = json.loads(conn.request(state))["data"]["current"][0]
            for cell in range(7):
                assert conn.request(moves[current][cell]).startswith(b'{"status": "ok"')
                current = 1 - current
            changes += 8
        return changes
    return run


def _worker_changes() -> Any:
    """``tictactoe``'s changes as a game worker serves them (see ``--worker``)."""
    import io
    import itertools

    from gameserver import _channel, _reply, isolated, worker

    source = ("module", "gameserver.games.tictactoe")
    hello = {"source": source, "time_limit": 5.0, "log_level": "WARNING"}
    sink = os.open(os.devnull, os.O_WRONLY)
    host = worker.Host(hello, sink)
    host.load(source)
    wanted = [(0, False), (1, False)]
    numbers = itertools.count(1)  # the games' ids, as the server numbers them
    gid = next(numbers)
    unsaved = 0  # moves since the last saved copy

    def serve(message: tuple[Any, ...]) -> tuple[Any, ...] | None:
        # As worker.main: read from the pipe, handled, the reply encoded and written.
        reply = host.handle(_channel.read_message(io.BytesIO(_channel.encode(message))))
        if reply is not None:
            worker._write(sink, _reply.encode(reply))
        return reply

    def run(wanted_changes: int) -> int:  # changes: a restart and 7 moves a game
        nonlocal gid, unsaved
        changes = 0
        while changes < wanted_changes:
            serve(("drop", gid))
            gid = next(numbers)
            reply = serve(("new", gid, "TicTacToe", 2, gid, wanted))
            assert reply is not None and reply[0] is None, reply
            current = reply[2][0]
            for cell in range(7):
                unsaved += 1
                save = unsaved >= isolated.SAVE_EVERY
                unsaved = 0 if save else unsaved
                # (the states wanted: None, as the new game's request named them)
                reply = serve(("move", gid, {"position": cell}, current, None, save))
                assert reply is not None and reply[0] is None and reply[1] is None, reply
                current = 1 - current
            changes += 8
        return changes
    return run


class _Subscriber:
    """A kept-alive connection with a subscription: its replies and its pushes apart."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = KeptAlive(address).sock
        self.sock.settimeout(60)  # (a push that never comes fails the count, not hangs it)
        self.buffer = b""
        self.pushes: list[dict[str, Any]] = []

    def _message(self) -> bytes:
        while _common.TERMINATOR not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed a subscribed connection")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(_common.TERMINATOR)
        return message

    def request(self, payload: bytes) -> bytes:
        """Send ``payload``; its reply (the pushes that come meanwhile are kept)."""
        self.sock.sendall(payload)
        while True:
            message = self._message()
            if not message.startswith(b'{"push": '):
                return message
            self.pushes.append(json.loads(message))

    def pushed(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` pushes, each a state (then none more may be kept)."""
        while len(self.pushes) < count:
            message = self._message()
            assert message.startswith(b'{"push": '), message
            self.pushes.append(json.loads(message))
        pushes, self.pushes = self.pushes, []
        assert len(pushes) == count and all(p["status"] == "ok" for p in pushes), pushes
        return [push["data"] for push in pushes]


def _join_into(joined: list[bytes], sub: _Subscriber, join: bytes) -> None:
    joined.append(sub.request(join))  # (it waits for the session's second player)


def _push(server: Any, _: int) -> Any:
    address = (server.host, server.port)
    games = []  # per session: (its two subscribers by player id, moves, restart)
    current: list[int] = []  # whose turn it is, per session
    for number in range(PUSH_SESSIONS):
        ids = {"game": "TicTacToe", "session": f"push{number}"}
        first, second = _Subscriber(address), _Subscriber(address)
        join = _common.encode({"type": "join", **ids, "players": 2, "name": ""}, True)
        joined: list[bytes] = []
        joiner = threading.Thread(target=partial(_join_into, joined, first, join))
        joiner.start()
        seats = [json.loads(second.request(join))["data"]]
        joiner.join(30)
        seats.append(json.loads(joined[0])["data"])
        by_id = {seats[0]["player_id"]: second, seats[1]["player_id"]: first}
        subs = [by_id[0], by_id[1]]
        keys = {seat["player_id"]: {**ids, "player_id": seat["player_id"], "key": seat["key"]}
                for seat in seats}
        for player, sub in enumerate(subs):
            reply = sub.request(_common.encode(
                {"type": "subscribe", **keys[player], "observer": False}, True))
            assert reply.startswith(b'{"status": "ok"'), reply
            (state,) = sub.pushed(1)  # the state it has not seen
        current.append(state["current"][0])
        moves = [[_common.encode({"type": "move", **keys[p], "move": {"position": cell},
                                  "with_state": True}, True) for cell in range(9)]
                 for p in (0, 1)]
        restart = _common.encode({"type": "restart", **keys[0]}, True)
        games.append((subs, moves, restart))

    def run(wanted: int) -> int:  # moves: 7 a game, then a restart, in each session by turns
        moves = 0
        while moves < wanted:
            for step in range(8):
                for number, (subs, cells, restart) in enumerate(games):
                    if step < 7:  # the first mover takes 0, 2, 4, 6: the diagonal, at 7
                        mover = current[number]
                        reply = subs[mover].request(cells[mover][step])
                        assert reply.startswith(b'{"status": "ok", "data": null, "state": '), \
                            reply
                        (state,) = subs[1 - mover].pushed(1)
                        current[number] = 1 - mover
                        moves += 1
                    else:  # the end handed over to player 1, then the new game to both
                        assert subs[0].request(restart).startswith(b'{"status": "ok"')
                        (state,) = subs[0].pushed(1)
                        ended, state = subs[1].pushed(2)
                        assert ended["gameover"] and not state["gameover"], ended
                        current[number] = state["current"][0]
        return moves
    return run


_WORKLOADS = {"join": _joins, "classic": _sequential(False), "keepalive": _sequential(True),
              "rl": _rl_steps, "tictactoe": _tictactoe, "push": _push}


def _ask(send: Any, body: dict[str, Any], keep_alive: bool) -> dict[str, Any]:
    """``body`` sent with ``send`` (``roundtrip``'s clients), its reply decoded."""
    return json.loads(send(_common.encode(body, keep_alive)).removesuffix(_common.TERMINATOR))


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "--child":
        _, _, name, where, number, most, isolate, side = sys.argv
        print(json.dumps(_child(name, where == "store", int(number), int(most), isolate,
                                side)))
        sys.stdout.flush()
        os._exit(0)  # (the server thread and the env's connection end with the process)
    sys.exit(main())
