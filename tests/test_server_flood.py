"""A join flood cannot fill the server: a fair pair still plays (issue 12, point 3).

Twenty loopback addresses (127.0.0.2 … 127.0.0.21) flood joins as fast as
they can for ten seconds from another process, while a well-behaved pair of
clients from 127.0.0.1 starts and finishes a tic-tac-toe game. The pair's
join and move latencies are printed (``pytest -s``); the test asserts what
the limits promise, not times: the game is played to the end, no request of
the pair fails, the flood's waiting sessions stay within 20 x the per-address
cap, and the flood is told why it is refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.serverproc import ServerProcess
from tests.wire import Player

FLOOD = Path(__file__).with_name("flood_joins.py")
FLOOD_SECONDS = 10
ADDRESSES = 20
WAITING_CAP = 10  # the default max_waiting_joins_per_address


def timed(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call(*args, **kwargs)
    return result, (time.perf_counter() - started) * 1000


def test_a_fair_pair_plays_while_twenty_addresses_flood_joins(tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite3")
    # Logging below INFO: a line per flooded session would only measure the log pipe.
    with ServerProcess("--store-path", store, "--log-level", "WARNING") as server:
        flood = subprocess.Popen(
            [sys.executable, str(FLOOD), str(server.port), str(FLOOD_SECONDS), "2",
             str(1 + ADDRESSES)], stdout=subprocess.PIPE, text=True)
        time.sleep(2)  # let the flood get going: the pair must meet it at full strength
        waiting_seen = []
        ann, bob = Player(server.port, "TicTacToe", "fair-pair", 2), \
            Player(server.port, "TicTacToe", "fair-pair")
        ann_join = threading.Thread(target=ann.join)
        started = time.perf_counter()
        ann_join.start()
        while not any(s["session"] == "fair-pair" for s in discover(server.port)):
            assert time.perf_counter() - started < 30, "ann's session never appeared"
        (bob_reply, bob_ms) = timed(bob.join)
        ann_join.join(30)
        assert bob_reply["status"] == "ok" and ann.key is not None
        seats = {ann.player_id: ann, bob.player_id: bob}
        move_ms = []
        state = seats[0].state()["data"]
        seats[1].state()
        while not state["gameover"]:
            mover = seats[state["current"][0]]
            reply, ms = timed(mover.move, position=state["board"].index(-1))
            assert reply == {"status": "ok", "data": None}
            move_ms.append(ms)
            state = mover.state()["data"]
            waiting_seen.append(len([s for s in discover(server.port)
                                     if s["session"] != "fair-pair"]))
        flood_out, _ = flood.communicate(timeout=FLOOD_SECONDS + 60)
        counts = json.loads(flood_out)
        print(f"\nfair pair during the flood: the join that filled the session {bob_ms:.1f} "
              f"ms, moves "
              f"{', '.join(f'{ms:.1f}' for ms in move_ms)} ms; flood: {counts}; "
              f"waiting sessions seen: {waiting_seen}")
        assert counts["sent"] > 1000  # it was a flood
        assert counts.get("framework: too many joins from", 0) > 0  # refused, and told why
        assert max(waiting_seen) <= ADDRESSES * WAITING_CAP
        assert discover(server.port) is not None  # still answering after the flood


def discover(port: int) -> list[dict[str, Any]]:
    from tests.wire import request

    reply = request(port, {"type": "discover"})
    assert reply["status"] == "ok", reply
    return reply["data"]["sessions"]
