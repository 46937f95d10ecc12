#!/usr/bin/env python3
"""Benchmark: the floor under a push move, a server that does nothing but the I/O.

Issue 15 compares our server's CPU per pushed move with Colyseus'. This
measures what the event loop and the kernel alone cost for the same shape
of traffic, so that a figure of ours can be split into what any Python
server on this loop pays and what our own code adds: K two-player
sessions, each player on a kept-alive connection of its own; a move is one
request of about 200 bytes, answered with a reply of about 250 bytes to the
mover and a push of the same size to the opponent (as ``tictactoe_load.py
--mode push`` does with ``"with_state": true``); the players take turns.
The server decodes nothing and checks nothing: it splits the stream at the
terminator and writes two canned messages.

Servers (``--modes``, each a subprocess, pinned with ``--cpus`` like the rest):

* ``raw``: asyncio's own loop, each socket watched with ``add_reader`` and
  read 64 KiB at a time, as our server does (``_rawconn.py``);
* ``transport``: asyncio's own loop with its transports and a ``Protocol``
  (asyncio's transport reads 256 KiB at a time);
* ``uvloop``: uvloop's loop with its transports (skipped where uvloop is not
  installed: ``pip install -e ".[fast]"``).

Prints the server's CPU per move (from /proc) and the generator's, like
``peers.py``; run it beside ``peers.py --peers colyseus`` and
``tictactoe_load.py --mode push`` in the same quarter hour to compare.

    python bench/floor.py --cpus 1            # 5 s per mode and K
    python bench/floor.py --smoke
"""

from __future__ import annotations

import argparse
import asyncio
import selectors
import socket
import subprocess
import sys
from typing import Any

import _common
from _common import TERMINATOR, perf_counter

MOVE = (b'{"type": "move", "game": "TicTacToe", "session": "s0000", "player_id": 0, '
        b'"key": "0123456789abcdef0123456789abcdef", "move": {"position": 4}, '
        b'"with_state": true}' + TERMINATOR)
STATE = (b'{"board": ["X", "O", null, null, "X", null, null, null, "O"], "current": [1], '
         b'"gameover": false, "winner": null, "legal_moves": [{"position": 2}, '
         b'{"position": 3}, {"position": 5}, {"position": 6}, {"position": 7}]}')
REPLY = b'{"status": "ok", "data": null, "state": ' + STATE + b'}' + TERMINATOR
PUSHED = b'{"push": ' + STATE + b'}' + TERMINATOR
PAIRED = b"paired" + TERMINATOR
MODES = ("raw", "transport", "uvloop")
READ_SIZE = 64 * 1024


# ---------------------------------------------------------------- the servers


class _Pairs:
    """Connections paired as the generator names them: each says ``pair N`` first (the
    loop may take connections in another order than they were made); both hear
    ``paired`` once the second of a pair has come."""

    def __init__(self) -> None:
        self.waiting: dict[bytes, Any] = {}

    def hello(self, conn: Any, message: bytes) -> None:
        other = self.waiting.pop(message, None)
        if other is None:
            self.waiting[message] = conn
            return
        conn.peer, other.peer = other, conn
        conn.send(PAIRED)
        other.send(PAIRED)


class _RawConn:
    """One socket read with ``add_reader`` (our server's way)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 pairs: _Pairs) -> None:
        self.loop, self.sock, self.pairs = loop, sock, pairs
        self.buffer, self.peer, self.pending = b"", None, b""  # (pending: not sent yet)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        loop.add_reader(sock, self.readable)

    def readable(self) -> None:
        try:
            data = self.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        if not data:
            self.loop.remove_reader(self.sock)
            self.sock.close()
            return
        self.buffer = _answer(self, self.buffer + data)

    def send(self, data: bytes) -> None:
        if not self.pending:
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                sent = 0
            data = data[sent:]
            if not data:
                return
            self.loop.add_writer(self.sock, self.writable)
        self.pending += data

    def writable(self) -> None:
        sent = self.sock.send(self.pending)
        self.pending = self.pending[sent:]
        if not self.pending:
            self.loop.remove_writer(self.sock)


class _Protocol(asyncio.Protocol):
    """One connection on the loop's own transports."""

    def __init__(self, pairs: _Pairs) -> None:
        self.pairs, self.buffer, self.peer, self.transport = pairs, b"", None, None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.send = transport.write
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP,
                                                      socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer = _answer(self, self.buffer + data)


def _answer(conn: Any, buffer: bytes) -> bytes:
    """Answer each whole message in ``buffer`` (a move: the reply and the opponent's
    push; the first: the pair's name); what is left of it."""
    while (end := buffer.find(TERMINATOR)) >= 0:
        message, buffer = buffer[:end], buffer[end + len(TERMINATOR):]
        if conn.peer is None:
            conn.pairs.hello(conn, message)
            continue
        conn.send(REPLY)
        conn.peer.send(PUSHED)
    return buffer


async def _serve(mode: str) -> None:
    loop = asyncio.get_running_loop()
    pairs = _Pairs()
    if mode == "raw":
        listener = socket.create_server(("127.0.0.1", 0))
        listener.setblocking(False)

        def accept() -> None:
            try:
                sock, _ = listener.accept()
            except BlockingIOError:
                return
            _RawConn(loop, sock, pairs)

        loop.add_reader(listener, accept)
        port = listener.getsockname()[1]
    else:
        server = await loop.create_server(lambda: _Protocol(pairs), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
    print(f"listening on 127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


def serve(mode: str) -> None:
    """The server process: ``floor.py --serve MODE``."""
    if mode == "uvloop":
        import uvloop
        uvloop.run(_serve(mode))
    else:
        asyncio.run(_serve(mode))


# ---------------------------------------------------------------- the generator


def run_mode(mode: str, sessions: int, seconds: float, warmup: float) -> dict[str, Any]:
    """One server of ``mode`` under K = ``sessions``; its figures."""
    server = subprocess.Popen([sys.executable, __file__, "--serve", mode],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("listening on"):
            raise SystemExit(f"the {mode} server did not start: {line!r}")
        port = int(line.rsplit(":", 1)[1])
        return _drive(server.pid, port, sessions, seconds, warmup)
    finally:
        server.kill()
        server.wait()


def _drive(pid: int, port: int, sessions: int, seconds: float,
           warmup: float) -> dict[str, Any]:
    """K sessions taking turns: a move, then its reply and the opponent's push."""
    selector = selectors.DefaultSelector()
    players = []
    for index in range(2 * sessions):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"pair %d" % (index // 2) + TERMINATOR)
        players.append(sock)
    for sock in players:  # every pair made before the first move
        answer = b""
        while not answer.endswith(PAIRED):
            answer += sock.recv(READ_SIZE)
    # Per session: whose turn (0 or 1) and how many of the move's two messages came.
    turn = [0] * sessions
    heard = [0] * sessions
    buffers = {sock: b"" for sock in players}
    for index, sock in enumerate(players):
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, index // 2)
    for session in range(sessions):
        players[2 * session].sendall(MOVE)
    moves = 0
    counting = False
    meter = None
    start = perf_counter()
    while True:
        now = perf_counter()
        if not counting and now - start >= warmup:
            counting, moves, meter = True, 0, _common.Meter(pid)
        if counting and now - start >= warmup + seconds:
            break
        for key, _ in selector.select(1.0):
            sock, session = key.fileobj, key.data
            data = buffers[sock] + sock.recv(READ_SIZE)
            count = data.count(TERMINATOR)
            buffers[sock] = data[data.rfind(TERMINATOR) + len(TERMINATOR):]
            heard[session] += count
            if heard[session] >= 2:  # the reply and the push: the other player moves
                heard[session] -= 2
                moves += 1
                turn[session] ^= 1
                players[2 * session + turn[session]].sendall(MOVE)
    assert meter is not None
    figures = meter.read(moves)
    for sock in players:
        sock.close()
    selector.close()
    return {"sessions": sessions, "moves": moves,
            "moves_per_s": round(moves / figures["seconds"], 1),
            **_common.per_move(figures, moves),
            "server_rss_kb": _common.rss_kb(pid),
            **{key: figures[key] for key in ("seconds", "server_cpu_pct", "other_cpu_pct",
                                             "steal_pct")}}


def main(argv: list[str] | None = None) -> int:
    parser = _common.make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)  # (the server)
    parser.add_argument("--modes", default=",".join(MODES),
                        help="servers to run, comma-separated (default: all three)")
    parser.add_argument("--sessions", default="10,50", help="comma-separated K (default 10,50)")
    parser.add_argument("--seconds", type=float, default=5.0, help="window (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds (default 1)")
    args = _common.parse(parser, argv)
    if args.serve:
        serve(args.serve)
        return 0
    seconds, warmup = (0.5, 0.2) if args.smoke else (args.seconds, args.warmup)
    sessions = [2] if args.smoke else [int(k) for k in args.sessions.split(",")]
    runs, skipped = [], {}
    for mode in args.modes.split(","):
        if mode == "uvloop":
            try:
                import uvloop  # noqa: F401
            except ImportError:
                skipped[mode] = "uvloop is not installed (pip install -e '.[fast]')"
                continue
        for k in sessions:
            runs.append({"mode": mode, **run_mode(mode, k, seconds, warmup)})
    record = {"benchmark": "floor", "smoke": args.smoke, **_common.machine_info(),
              "seconds_per_run": seconds, "runs": runs, "skipped": skipped}
    summary = "floor: " + " | ".join(
        f"{r['mode']} K={r['sessions']}: {r['moves_per_s']:.0f} moves/s, server "
        f"{r['server_cpu_us_per_move']:.1f} µs/move, generator "
        f"{r['generator_cpu_us_per_move']:.1f} µs/move" for r in runs)
    if skipped:
        summary += " | skipped: " + ", ".join(f"{m} ({why})" for m, why in skipped.items())
    _common.emit(record, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
