"""Benchmark (e): the store's size and its time on the event loop, per move, as a game grows.

One one-player chat session sends N messages of S bytes each (a chat that keeps
every message, so its state grows with each one), through the real
``Session`` and ``Store`` on an event loop in this process, without sockets.
For each move it times what runs on the loop: the move itself (the game and
the store recording it) and the commit that follows in the next loop pass
(snapshots taken then included). Reported per case: bytes sent, the store
file's size (with its WAL) and the largest snapshot, the loop time per move
(p50, p99, max), and the same without the store, for comparison.

The cases of issue 14: 40 messages of 100 KB (the store was 106 MB, target
under 20 MB), 120 messages of 200 KB (1.5 GB and 344 ms per move; target:
no move above 5 ms at p99 for any size below the request limit).

    python bench/store_growth.py            # the issue's cases, and 400 of 900 KB
    python bench/store_growth.py --wire     # over sockets: store size, round trips
    python bench/store_growth.py --wire --server-root /tmp/before   # an older tree
    python bench/store_growth.py --smoke    # small cases, a second or two
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import socket
import sys
import tempfile
import time
from typing import Any

import _common


def growing_chat() -> type:
    """A chat that keeps every message, as the bundled Chat did before 0.2.0.

    The bundled Chat now keeps only its newest messages (so a chat that runs
    for days stays small); the store's benchmark needs a state that grows
    with every move, as in issue 14's figures. Moves and state as Chat's.
    """
    from gameserver.game import AbstractGame

    class EveryMessage(AbstractGame):
        def __init__(self, players: int) -> None:
            self.names: dict[int, str] = {}
            self.messages: list[list[str]] = []

        @staticmethod
        def min_players() -> int:
            return 1

        @staticmethod
        def max_players() -> int:
            return 1

        def current_player(self) -> int:
            return 0

        def move(self, move: dict[str, Any], player_id: int) -> str | None:
            if isinstance(move.get("name"), str):
                self.names[player_id] = move["name"]
            if isinstance(move.get("message"), str):
                self.messages.append([self.names.get(player_id, ""), move["message"]])
            return None

        def game_over(self) -> bool:
            return False

        def state(self, player_id: int) -> dict[str, Any]:
            return {"messages": self.messages}

    EveryMessage.__qualname__ = "EveryMessage"
    globals()["EveryMessage"] = EveryMessage  # picklable by name, as a game must be
    return EveryMessage


def run_case(messages: int, size: int, store_on: bool, history: bool) -> dict[str, Any]:
    sys.path.insert(0, str(_common.server_root()))
    from gameserver.checked import GameType
    from gameserver.guard import GameGuard
    from gameserver.session import Session
    from gameserver.store import Store

    folder = tempfile.mkdtemp(prefix="gameserver-bench-store-")
    path = os.path.join(folder, "store.sqlite3")
    loop_times: list[float] = []
    # The previous case's session (up to 360 MB of chat) may still be in a reference
    # cycle: freed by a collection during this case's moves, it would be timed here.
    gc.collect()

    async def play() -> Any:
        guard = GameGuard()
        game_type = GameType("Chat", growing_chat(), guard)
        store = Store(path, {"Chat": game_type}, history=history) if store_on else None
        if store is not None:
            store.start(asyncio.get_running_loop())
        session = Session(game_type, "room", 1, recorder=store)
        key = session.add_player("ann").key
        await asyncio.sleep(0)
        session.move(0, key, {"name": "ann"})
        await asyncio.sleep(0)
        commits = 0
        for n in range(messages):
            text = f"{n:05} " + "x" * (size - 6)
            started = time.perf_counter()
            session.move(0, key, {"message": text})
            moved = time.perf_counter() - started
            # The commit runs at the start of the next loop pass: time that pass.
            started = time.perf_counter()
            await asyncio.sleep(0)
            loop_times.append(moved + time.perf_counter() - started)
            if store is not None:
                commits = store.commits
        if store is not None:
            store.close()
        guard.close()
        return commits

    asyncio.run(play())
    sizes = {"store_bytes": 0, "largest_snapshot": 0}
    if store_on:
        import sqlite3
        sizes["store_bytes"] = sum(os.path.getsize(path + s) for s in ("", "-wal")
                                   if os.path.exists(path + s))
        with sqlite3.connect(path) as db:
            sizes["largest_snapshot"] = db.execute(
                "SELECT COALESCE(MAX(length(blob)), 0) FROM game_snapshots").fetchone()[0]
    for name in os.listdir(folder):
        os.unlink(os.path.join(folder, name))
    os.rmdir(folder)
    return {"messages": messages, "message_bytes": size, "store": store_on,
            "history": history, "sent_bytes": messages * size, **sizes,
            **_common.percentiles(loop_times, "loop_per_move_")}


def wire_case(messages: int, size: int, server_args: list[str]) -> dict[str, Any]:
    """The same chat through a real server subprocess (any tree: ``--server-root``).

    Measures the round trip of each move and the server's store file (with its
    WAL) after a clean stop: this also works with servers from before the
    store kept moves instead of states.
    """
    server = _common.Server("--log-level", "WARNING", *server_args).start()
    times: list[float] = []
    try:
        def send(request: dict[str, Any]) -> dict[str, Any]:
            with socket.create_connection(server.addr, timeout=120) as sock:
                sock.sendall(json.dumps(request).encode() + _common.TERMINATOR)
                chunks = []
                while chunk := sock.recv(1 << 20):
                    chunks.append(chunk)
            reply: dict[str, Any] = json.loads(b"".join(chunks))
            return reply

        joined = send({"type": "join", "game": "Chat", "session": "room", "players": 1,
                       "name": ""})["data"]
        ids = {"game": "Chat", "session": "room", "player_id": 0, "key": joined["key"]}
        send({"type": "move", **ids, "move": {"name": "ann"}})
        for n in range(messages):
            started = time.perf_counter()
            reply = send({"type": "move", **ids,
                          "move": {"message": f"{n:05} " + "x" * (size - 6)}})
            times.append(time.perf_counter() - started)
            assert reply["status"] == "ok", reply
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(60)
        store = os.path.join(server._workdir, "gameserver.sqlite3")
        stored = sum(os.path.getsize(store + s) for s in ("", "-wal")
                     if os.path.exists(store + s))
    finally:
        server.stop()
    return {"messages": messages, "message_bytes": size, "wire": True,
            "sent_bytes": messages * size, "store_bytes": stored,
            **_common.percentiles(times, "round_trip_")}


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--wire", action="store_true",
                        help="through a real server subprocess instead (store size and round "
                             "trip per move; works with --server-root for older trees)")
    args = _common.parse(parser, argv)
    cases = [(40, 100_000), (120, 200_000), (400, 900_000)]
    if args.smoke:
        cases = [(20, 20_000), (30, 100_000)]
    if args.wire:
        runs = [wire_case(messages, size, args.server_arg) for messages, size in cases[:2]]
        record = {"benchmark": "store_growth", "smoke": args.smoke, "wire": True,
                  **_common.machine_info(), "runs": runs}
        _common.emit(record, "store_growth (wire): " + " | ".join(
            f"{r['messages']} x {r['message_bytes'] // 1000} KB: store "
            f"{r['store_bytes'] / 1e6:.1f} MB, move round trip p50/p99/max "
            f"{_common.fmt(r['round_trip_p50_ms'])}/{_common.fmt(r['round_trip_p99_ms'])}/"
            f"{_common.fmt(r['round_trip_max_ms'])} ms" for r in runs))
        return 0
    runs = []
    for messages, size in cases:
        for store_on, history in ((True, True), (True, False), (False, False)):
            runs.append(run_case(messages, size, store_on, history))
    record = {"benchmark": "store_growth", "smoke": args.smoke, **_common.machine_info(),
              "runs": runs}
    parts = []
    for r in runs:
        what = ("store" + ("" if r["history"] else ", no history")) if r["store"] else "no store"
        size = (f"{r['store_bytes'] / 1e6:.1f} MB (largest snapshot "
                f"{r['largest_snapshot'] / 1e6:.2f} MB), " if r["store"] else "")
        parts.append(f"{r['messages']} x {r['message_bytes'] // 1000} KB ({what}): {size}"
                     f"loop per move p50/p99/max {_common.fmt(r['loop_per_move_p50_ms'], 2)}/"
                     f"{_common.fmt(r['loop_per_move_p99_ms'], 2)}/"
                     f"{_common.fmt(r['loop_per_move_max_ms'], 2)} ms")
    _common.emit(record, "store_growth: " + " | ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
