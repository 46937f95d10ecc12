"""A join flood for tests: ``python tests/flood_joins.py PORT SECONDS FIRST LAST``.

One thread per source address 127.0.0.FIRST .. 127.0.0.LAST sends join
requests as fast as it can for SECONDS seconds: auto-joins and named joins
of two-player tic-tac-toe (which wait for a second player) and one-player
Echo sessions (full at once). Waiting joins are left waiting with their
connections open, as a hostile client would, until 200 are open per
address; then the oldest is closed. At the end it prints one JSON line:
how many joins were sent and how the server answered (by first words of
the message).
"""

from __future__ import annotations

import collections
import itertools
import json
import resource
import selectors
import socket
import sys
import threading
import time

TERMINATOR = b"EOT\x00"
OPEN_PER_ADDRESS = 200


def flood(port: int, source: str, until: float, counts: collections.Counter[str]) -> None:
    numbers = itertools.count()
    open_sockets: collections.deque[socket.socket] = collections.deque()
    replies = selectors.DefaultSelector()
    while time.monotonic() < until:
        n = next(numbers)
        kind = n % 3
        request = ({"type": "join", "game": "TicTacToe", "session": "auto", "players": 2,
                    "name": ""} if kind == 0 else
                   {"type": "join", "game": "TicTacToe", "session": f"flood-{source}-{n}",
                    "players": 2, "name": ""} if kind == 1 else
                   {"type": "join", "game": "Echo", "session": f"flood-{source}-{n}",
                    "players": 1, "name": ""})
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5,
                                            source_address=(source, 0))
            sock.sendall(json.dumps(request).encode() + TERMINATOR)
        except OSError as err:
            counts[f"connect: {type(err).__name__}"] += 1
            continue
        counts["sent"] += 1
        open_sockets.append(sock)
        replies.register(sock, selectors.EVENT_READ)
        for ready, _ in replies.select(0):
            replies.unregister(ready.fileobj)
            counts[answer(ready.fileobj)] += 1
            open_sockets.remove(ready.fileobj)
            ready.fileobj.close()
        while len(open_sockets) > OPEN_PER_ADDRESS:
            oldest = open_sockets.popleft()
            replies.unregister(oldest)
            oldest.close()
            counts["gave up waiting"] += 1
    for sock in open_sockets:
        sock.close()
    replies.close()


def answer(sock: socket.socket) -> str:
    """The reply's status and the first words of its message."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except OSError as err:
        return f"read: {type(err).__name__}"
    try:
        reply = json.loads(b"".join(chunks))
    except ValueError:
        return "not JSON"
    if reply.get("status") == "ok":
        return "ok"
    return " ".join(str(reply.get("message", "")).split()[:5])


def main() -> None:
    port, seconds, first, last = (int(arg) for arg in sys.argv[1:5])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = (last - first + 1) * (OPEN_PER_ADDRESS + 20)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(wanted, 1024)), hard))
    until = time.monotonic() + seconds
    counts: collections.Counter[str] = collections.Counter()
    threads = [threading.Thread(target=flood, args=(port, f"127.0.0.{n}", until, counts))
               for n in range(first, last + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(dict(counts)), flush=True)


if __name__ == "__main__":
    main()
