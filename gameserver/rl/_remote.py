"""The network table: a session on a real server, over one keep-alive connection.

``Link`` is one keep-alive connection (``/work/shared/PROTOCOL.md`` plus the
keep-alive and legal-moves extensions of ``docs/protocol.md``), spoken
directly: requests are pre-encoded bytes, and the requests of one round go
out in one write (the server answers kept-alive requests in order). Every
table of an environment — one, or the N sessions of a vector env — shares it.

``RemoteTable`` turns table ops into *plans*: the request bytes to send and
a ``finish`` function for their replies (sans-I/O: plans do no I/O, the
link does). A move is sent together with the state request of the seat
that is likely to move next, so a step costs one round trip.

Why nothing ever waits on a seat the env itself drives: a ``state`` request
blocks until the view changed since its previous reply, so a table asks for
a seat's state only after a change it made itself (a move, a restart) and
otherwise answers from the view it already has. Only ``wait`` (for seats
played by other clients) sends a request that may block.

Joining: a ``join`` blocks until the session is full, so each seat joins on
a short-lived connection of its own; seats join in order (the next join is
sent once discovery shows the previous one seated), so seat ``i`` gets the
name ``names[i]``, as the history and the leaderboard will show.

Restart hand-over: after a restart of a finished game, every other player's
next ``state`` returns the old game's final state once. The table knows
when that is owed and asks twice in one write, keeping the second reply.

A restart asks for the restarter's new state in the restart itself (the
same extension), when that is the view wanted next, and for the new states
of the other seats the table plays (``"with_states_of"``): they are then
not handed the finished game's end, which the table has seen already.
After a few replies in a row without the restarter's state (an older
server, a game in a worker process), the state request goes beside the
restart from then on.

A move whose next wanted view is not the mover's own asks for the mover's
final state too (``"final_state": true``, gameserver 0.2.0): if the move
ends the game, it comes in the reply, and the end costs no ``state`` request.

A move whose next wanted view is the mover's own (a one-player game, a gym
env whose other seats are other clients) asks for it in the move itself
(``"with_state": true``, the push extension of gameserver 0.2.0): one
request instead of two, and the server encodes that state once, with no
second key check. A move whose next wanted view is another seat of the
table (self-play) names that seat instead (``"with_state": {"player_id":
P, "key": K}``, the same extension). An older server ignores what it does
not know, and a game in a worker process has no state at hand when its
move is answered; the reply then has no ``"state"``, the view is fetched,
and from then on the table sends the state request beside the move.

(About 580 lines: the link and the table's plans share one request format
and one reading of replies, checked: a hostile server gets a GameError.)
"""

from __future__ import annotations

import atexit
import json
import math
import os
import queue
import secrets
import select
import selectors
import socket
import ssl
import struct
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar
from weakref import WeakSet

from .._no_such_game import HINT_WORDS
from ..admission import NEW_SESSIONS_REFUSED, SESSIONS_REFUSED
from ..guard import GameGuard
from ..lobby import NO_SUCH_GAME, NO_SUCH_SESSION, TIMED_OUT
from ..players import INVALID_KEY
from ..protocol import framework_error
from . import _guardian
from ._table import GameError, Step, View

TERMINATOR = b"EOT\x00"
RECV_SIZE = 256 * 1024
OK_NONE_BYTES = b'{"status": "ok", "data": null}'  # as the server encodes it
OK_NONE: dict[str, Any] = {"status": "ok", "data": None}  # shared: never change it
MOVE_CACHE_MAX = 4096  # encoded moves kept per table
# Replies to moves and restarts whose views a connection keeps by their bytes, per game
# (``RemoteTable.move``, ``start``): at most this many, each of at most this many bytes (a
# restart's: per seat), for a game whose observation and mask take at most
# KNOWN_ARRAYS_MAX bytes (``make_table``). The states of a small game come again and
# again: tic-tac-toe's fill it within seconds (~10 MB).
KNOWN_MAX = 4096
KNOWN_BYTES_MAX = 512
KNOWN_ARRAYS_MAX = 4096
# Replies in a row without the state a move (or a restart) asked for, after which the
# table asks for states beside its moves (restarts) instead (``StatesInReplies``).
STATE_MISSES_MAX = 4
REPLY_MAX = 64 * 1024 * 1024  # bytes of one reply, at most (a server could send forever)
# Values of one reply, at most, counted as its commas, '{' and '[' before it is decoded:
# 3 bytes of '{},' decode to 72 of memory (64 MiB of them took 1.7 GB), as in the client
# module (docs/reliability.md). Raise it after the import if your states are that large.
REPLY_ITEMS_MAX = 1_000_000
# Seconds between the discover requests that wait for a seat to show: doubling from the
# first to the largest (the wait asked without a pause: hundreds of requests a second).
SEATED_PAUSE_FIRST = 0.002
SEATED_PAUSE_MAX = 0.05
# Sessions per discover reply asked for while a seat is awaited (``Link._listed``), and
# pages asked for in a row, at most, to find the session (a server could page for ever).
SEATED_PAGE = 100
SEATED_PAGES_MAX = 100
# The server's words for a start refused by its limit of new sessions a minute per address
# (imported: a small module without I/O), and the seconds between tries of such a join
# (doubling; ``Link.join``).
RATE_LIMITED = NEW_SESSIONS_REFUSED
RATE_PAUSE_FIRST = 0.05
RATE_PAUSE_MAX = 1.0
# Seconds connecting to the server may take, at most, and then its TLS handshake
# (``Link.connect``), as in the client module: a server that accepts and never answers
# must not hold the env for its timeout (which allows for other clients' moves).
CONNECT_TIMEOUT = 5.0
# Seconds an env's ``close()`` waits, at most, for the replies to its leave requests.
LEAVE_TIMEOUT = 10.0
# Seconds the program's exit waits, at most, for the leaves of the envs it did not close
# (``_leave_at_exit``).
EXIT_LEAVE_TIMEOUT = 2.0
# Tables whose leaves wait for the leaver thread, at most (``_abandoned``): those of a
# table dropped when that many wait are sent at the process's end, by its guardian
# (``_abandon``).
ABANDONED_MAX = 1024
# Timeouts kept by the kernel: Linux's struct timeval is two longs.
_KERNEL_TIMEOUTS = sys.platform.startswith("linux") and hasattr(socket, "SO_RCVTIMEO")
_TIMEVAL = struct.Struct("@ll")
# json.loads without its checks of the input's type and encoding: replies are UTF-8 bytes.
_decode = json.JSONDecoder().decode
# Its scanner (C): one value from an index, and where it ends; what decode() runs after
# its Python steps (skip whitespace, raw_decode, check the end). A reply is one value.
_scan = json.JSONDecoder().scan_once

_INTS = frozenset({int})  # the one type of a player id in a state's "current"

Finish = Callable[[list[dict[str, Any]]], Any]
T = TypeVar("T")


class StatesInReplies:
    """Whether replies of one kind (moves, restarts) bring the state asked for along: yes
    until ``STATE_MISSES_MAX`` of them in a row come without it (an older server, a game
    in a worker process, a state too large to come along), then the table asks beside."""

    __slots__ = ("on", "misses")

    def __init__(self) -> None:
        self.on = True
        self.misses = 0  # replies in a row without the state

    def came(self, with_state: bool) -> None:
        """A reply that was asked for the state came, ``with_state`` or not."""
        if with_state:
            self.misses = 0
            return
        self.misses += 1
        if self.misses >= STATE_MISSES_MAX:
            self.on = False


class Plan:
    """Requests to send and what to do with their replies: ``finish(replies)``
    returns the op's result."""

    __slots__ = ("payloads", "finish")

    def __init__(self, payloads: list[bytes], finish: Finish) -> None:
        self.payloads = payloads
        self.finish = finish


def _encode(request: dict[str, Any]) -> bytes:
    return json.dumps(request, separators=(",", ":")).encode() + TERMINATOR


class Link:
    """One keep-alive connection to ``address``, for any number of tables.

    Args:
        address: ``(host, port)`` of the server.
        tls: ``True`` for TLS with the system's certificates, an
            ``ssl.SSLContext`` for your own (a self-signed certificate).
        timeout: seconds to wait for any reply (a join or a ``wait`` waits for
            other clients, so allow for them), and again for the rest of it once
            it has begun: a server that sends a byte now and then cannot hold the
            caller longer. Connecting and a TLS handshake wait ``CONNECT_TIMEOUT``
            each at most, if that is shorter.
    """

    def __init__(self, address: tuple[str, int], tls: bool | ssl.SSLContext = False,
                 timeout: float = 120.0) -> None:
        self.address = address
        self.timeout = timeout
        self._context: ssl.SSLContext | None = (
            tls if isinstance(tls, ssl.SSLContext)
            else ssl.create_default_context() if tls else None)
        # What the guardian is told of TLS (``_guardian.hold``): a context of the caller's
        # own cannot be handed to it (None: not guarded).
        self.guarded_tls = None if isinstance(tls, ssl.SSLContext) else bool(tls)
        self._sock: socket.socket | None = None
        self._blocking = False  # the socket's timeout is the kernel's (``_kernel_timed``)
        # Whether the connection has something to read now (called with 0: ``poll``'s
        # bound method, truthy if so), which it must not have before a request; always
        # truthy without a connection (``_connection`` makes one).
        self._readable: Callable[[int], Any] = _no_connection
        self._buffer = bytearray()
        # Its tables' views by the bytes of the move and restart replies that brought
        # them, per game (``RemoteTable.move``, ``start``): at most ``KNOWN_MAX`` a game.
        self.known: dict[str, dict[tuple[int, int, bytes], tuple[dict[int, View], bool]]] = {}
        # The tables that use the link and have not let it go (``RemoteTable.close``,
        # ``abandon``): the connection is closed with the last one only (``let_go``).
        self.tables = 0

    def connect(self) -> socket.socket:
        """A new connection to the server (its timeout: ``timeout``).

        Looking up the host's name, connecting (to each of its addresses in turn), and
        then a TLS handshake, each wait ``CONNECT_TIMEOUT`` at most (as the client module
        does), not ``timeout``: none waits for other clients, and a server that accepts
        and never answers held the env for ``timeout`` (120 s by default) before the
        handshake failed as "timed out"; a name server that did not answer held it for
        the system resolver's own time (``lookup``).
        """
        host, port = self.address
        limit = min(self.timeout, CONNECT_TIMEOUT)
        try:
            sock = _open(lookup(host, port, limit), limit)
        except LookupTimeout:
            raise GameError(f"cannot connect to the server at {host}:{port}: looking up the "
                            f"name {host!r} took longer than {limit:g} s: is the name right, "
                            "and the network's name server within reach? (An IP address, "
                            "such as 127.0.0.1, needs no lookup.)") from None
        except TimeoutError:
            raise GameError(f"cannot connect to the server at {host}:{port}: no answer "
                            f"within {limit:g} s (a wrong address, a firewall in the way, or "
                            "a server too busy to take connections?)") from None
        except socket.gaierror as err:
            raise GameError(f"cannot connect to the server at {host}:{port}: the name "
                            f"{host!r} was not found ({err.strerror}): check its spelling, "
                            "or use an IP address such as 127.0.0.1") from None
        except OSError as err:
            advice = ("; is the server running? Start it first: python3 -m gameserver (and "
                      "check the port number)") if isinstance(err, ConnectionRefusedError) else ""
            raise GameError(f"cannot connect to the server at {host}:{port}: {err}"
                            + advice) from None
        if self._context is not None:
            try:
                sock = self._context.wrap_socket(sock, server_hostname=host)
            except TimeoutError:  # (``_ssl`` keeps one deadline for all of the handshake)
                sock.close()
                raise GameError(f"cannot connect to the server at {host}:{port}: it accepted "
                                f"the connection but did not end the TLS handshake within "
                                f"{limit:g} s: is it overloaded, or not a game server? (A "
                                "game server without TLS refuses a TLS handshake at once.)"
                                ) from None
            except OSError as err:
                sock.close()
                raise GameError(f"cannot connect to the server at {host}:{port}: {err}; "
                                f"{_tls_advice(err, host)}") from None
        sock.settimeout(self.timeout)
        return sock

    # ------------------------------------------------------------ requests

    def exchange(self, payloads: list[bytes]) -> list[dict[str, Any]]:
        """Send ``payloads`` in one write; their replies, decoded, in order."""
        sock = self._connection() if self._readable(0) else self._sock
        try:
            sock.sendall(b"".join(payloads))
            if not self._buffer:
                # Usually one receive brings exactly the replies asked for: no buffering.
                chunk = sock.recv(RECV_SIZE)
                if chunk.endswith(TERMINATOR) and chunk.count(TERMINATOR) == len(payloads):
                    return list(map(_reply_of, chunk.split(TERMINATOR)[:-1]))
                if not chunk:
                    raise GameError(_closed_message(""))
                self._buffer += chunk
            return self._read(sock, len(payloads), _reply_of)
        except (OSError, GameError) as err:
            self.close()
            raise self._error(err) from None
        except BaseException:
            self._interrupted()
            raise

    def ask(self, payload: bytes) -> bytes:
        """Send one request; its reply's bytes, not decoded (``decode`` does that)."""
        sock = self._connection() if self._readable(0) else self._sock
        try:
            sock.sendall(payload)
            if not self._buffer:
                chunk = sock.recv(RECV_SIZE)
                if chunk.endswith(TERMINATOR) and chunk.find(TERMINATOR) == len(chunk) - 4:
                    return chunk[:-4]  # (exactly the reply: the usual case)
                if not chunk:
                    raise GameError(_closed_message(""))
                self._buffer += chunk
            return self._read(sock, 1, bytes)[0]
        except (OSError, GameError) as err:
            self.close()
            raise self._error(err) from None
        except BaseException:
            self._interrupted()
            raise

    def _interrupted(self) -> None:
        """A request's reply was awaited when something else ended the wait (Ctrl-C in a
        notebook: ``KeyboardInterrupt``): the connection is closed, so that the reply,
        still to come, goes nowhere. Kept, it came before the next request, which failed
        with "the server sent a reply that no request asked for ... is that a game
        server?", or, still on its way then, was taken for that request's own reply."""
        self.close()

    def decode(self, raw: bytes) -> dict[str, Any]:
        """The reply ``raw`` (from ``ask``), decoded; one that is not a reply closes the
        connection, as ``exchange`` does."""
        try:
            return _reply_of(raw)
        except GameError:
            self.close()
            raise

    def _connection(self) -> socket.socket:
        """The connection for the next request when the one kept is readable (or there is
        none): the one kept if it has nothing to read after all (a TLS session ticket),
        else a new one, the server having closed it (``_reopened``).

        Before each request the link looks whether its connection is readable (one
        ``poll``: ``_readable``); it must not be. The server closes a kept-alive
        connection idle for its connection_timeout (60 s by default, 0.1 s at the least)
        without a word, and says a last word before it closes one as it stops
        (``_last_word``): the request then goes on a new connection (a step sent on the
        closed one failed with "the server closed the connection", the game lost: a
        learner that trained or evaluated for a minute between steps). Anything else
        there is a reply no request asked for: taken for the next request's, it shifted
        every reply after it (a state read as a move's reply), so it is an error
        (``_unasked``). Until 2026-12-01 the link looked only after 50 ms unused.

        Raises:
            GameError: a reply no request asked for came (``_reopened``), or connecting
                failed (after the server's last word, the error says it too).
        """
        sock = self._sock
        said = "" if sock is None else self._reopened(sock)
        if said is None:
            return sock
        try:
            sock = self._sock = self._kernel_timed(self.connect())
        except GameError as err:
            if said:  # (the server stopped: say so, as before it was seen before a request)
                raise GameError(f"{err} (the server's last words on the connection before: "
                                f"{said!r})") from None
            raise
        self._readable = _poller(sock)
        return sock

    def _reopened(self, sock: socket.socket) -> str | None:
        """Whether ``sock``, readable before a request, was found closed by the server and
        closed here: then "", or the server's last word before it closed it
        (``_last_word``), and the next request goes on a new connection; None: nothing to
        read after all. The server closes a kept-alive connection idle for its
        ``connection_timeout`` without a reply, so it never saw a request that was not
        sent yet: sending it on a new connection does nothing twice.

        Raises:
            GameError: anything else came, which no request asked for (``_unasked``);
                the connection is closed, and the next request opens a new one.
        """
        sock.setblocking(False)
        try:
            # (a TLS session ticket is read, and counts as nothing)
            came = sock.recv(RECV_SIZE)
        except (BlockingIOError, ssl.SSLWantReadError):
            sock.settimeout(None if self._blocking else self.timeout)
            return None  # nothing to read: open, and idle
        except OSError:  # (reset, a TLS connection ended)
            came = b""
        self.close()
        said = _last_word(came) if came else ""
        if said is None:
            raise GameError(_unasked(came))
        return said

    def _kernel_timed(self, sock: socket.socket) -> socket.socket:
        """``sock`` made blocking, its timeout kept by the kernel (``SO_RCVTIMEO``,
        ``SO_SNDTIMEO``), where that can be done (Linux, without TLS).

        Why: a socket with a Python timeout asks ``poll()`` before every send and
        receive, two system calls more per step; a timed-out receive then fails with
        EAGAIN (``BlockingIOError``), reported as the timeout.
        """
        if not _KERNEL_TIMEOUTS or isinstance(sock, ssl.SSLSocket):
            return sock
        seconds = min(self.timeout, 10**9)
        timeval = _TIMEVAL.pack(int(seconds), int(seconds % 1 * 1e6))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        sock.settimeout(None)
        self._blocking = True
        return sock

    def _error(self, err: OSError | GameError) -> GameError:
        """``err`` (a failed exchange) as the GameError the caller sees."""
        if isinstance(err, GameError):
            return err
        if isinstance(err, (TimeoutError, BlockingIOError)):
            return GameError(f"no reply from the server within {self.timeout:g} s (waiting "
                             "for another client? see the timeout option)")
        return GameError(f"lost the connection to the server: {err}")

    def _read(self, sock: socket.socket, count: int, decode: Callable[[bytearray], T]
              ) -> list[T]:
        """``count`` replies, each passed to ``decode`` as it comes: the first begun in the
        buffer (the rest of a receive).

        ``REPLY_MAX`` and ``REPLY_ITEMS_MAX`` bound the replies together: the N sessions
        of a vector env are answered in one round (``run_many``), and N replies each up
        to the limits took N times the memory a limit allows (16 sessions: 1 GB of
        bytes, and 16 million values decoded). A reply's values are counted (as its
        commas, '{' and '[') when it is one of several; one alone, when it is longer
        than ``REPLY_ITEMS_MAX`` bytes (``_reply_of``: a shorter one cannot hold more).
        """
        buffer = self._buffer
        replies: list[T] = []
        start = 0
        taken = 0  # bytes of the replies read so far
        items = 0  # and their values, when count > 1
        deadline = time.monotonic() + self.timeout  # for the rest of the reply begun
        try:
            while len(replies) < count:
                end = buffer.find(TERMINATOR, start)
                if end < 0:
                    start = max(0, len(buffer) - len(TERMINATOR) + 1)
                    if taken + len(buffer) > REPLY_MAX:
                        raise GameError(_too_large(count, f"{REPLY_MAX} bytes", "REPLY_MAX"))
                    chunk = _receive(sock, deadline)
                    if not chunk:
                        text = bytes(buffer).decode(errors="replace")
                        raise GameError(_closed_message(text))
                    buffer += chunk
                    continue
                raw = buffer[:end]
                del buffer[:end + len(TERMINATOR)]  # (a reply that is not JSON too)
                taken += len(raw)
                if count > 1:
                    items += raw.count(b",") + raw.count(b"{") + raw.count(b"[")
                    if taken > REPLY_MAX or items > REPLY_ITEMS_MAX:
                        raise GameError(_too_large(
                            count, *((f"{REPLY_MAX} bytes", "REPLY_MAX") if taken > REPLY_MAX
                                     else (f"{REPLY_ITEMS_MAX:,} values (commas, lists and "
                                           "dicts)", "REPLY_ITEMS_MAX"))))
                replies.append(decode(raw))
                start = 0
                deadline = time.monotonic() + self.timeout  # the next reply's
            if buffer:  # (kept, it would pass for the next request's reply, and so on)
                raise GameError(f"the server sent more than the {count} replies asked for "
                                f"({bytes(buffer[:100])!r} after them): is that a game "
                                "server?")
        finally:
            sock.settimeout(None if self._blocking else self.timeout)
        return replies

    def execute(self, plan: Plan) -> Any:
        """Carry out one plan; the op's result."""
        return plan.finish(self.exchange(plan.payloads) if plan.payloads else [])

    def run_many(self, jobs: list[tuple[RemoteTable, Step]]) -> list[Any]:
        """Drive several steps (one per table) at once; their return values.

        Each round, every step runs until it needs the server; the requests
        of all of them go out in one write.
        """
        results: list[Any] = [None] * len(jobs)
        values: list[Any] = [None] * len(jobs)
        plans: dict[int, Plan] = {}
        active = set(range(len(jobs)))
        while active:
            for number in sorted(active):
                table, step = jobs[number]
                try:
                    while True:
                        plan = table.plan(step.send(values[number]))
                        if plan.payloads:
                            plans[number] = plan
                            break
                        values[number] = plan.finish([])
                except StopIteration as stop:
                    results[number] = stop.value
                    active.discard(number)
            if not plans:
                break
            order = sorted(plans)
            replies = self.exchange([p for n in order for p in plans[n].payloads])
            taken = 0
            for number in order:
                plan = plans.pop(number)
                values[number] = plan.finish(replies[taken:taken + len(plan.payloads)])
                taken += len(plan.payloads)
        return results

    def let_go(self) -> None:
        """One of the link's tables uses it no more (closed, or abandoned): the connection
        is closed once none does. Until 2026-12-01 any table closed it: a vector env's
        sessions share it (``run_many``), and one of them closed or collected (its
        ``__del__`` runs wherever the collector interrupts, a request of another table
        under way on the connection too) closed it under the others."""
        self.tables -= 1
        if self.tables <= 0:
            self.close()

    def leave(self, payloads: list[bytes]) -> None:
        """Close the connection, then send ``payloads`` (``leave`` requests: the leave
        extension of gameserver 0.2.0) on a connection of their own, and read their
        replies; errors are ignored.

        A connection of their own: the link's may still have a request waiting
        (a ``state`` that waits for another client, interrupted by Ctrl-C), whose
        reply they would wait behind; closing it ends that request (``_interrupted``
        closed it already). Errors: a
        server that is down or lost the session holds nothing of ours, and an
        older one (``unknown request type``) keeps the session until it is idle
        for its ``game_timeout``, as before; neither is worth an error in
        ``close()``. At most ``LEAVE_TIMEOUT`` seconds are spent waiting, in all
        (``_leave``).
        """
        self.close()
        self.send_leaves(payloads)

    def send_leaves(self, payloads: list[bytes]) -> None:
        """Send ``payloads`` (``leave`` requests) on a connection of their own, read their
        replies, ``LEAVE_TIMEOUT`` at most; errors are ignored (``leave``). The link's own
        connection is left as it is (other tables may use it)."""
        if payloads:
            _leave(self.address, self._context, b"".join(payloads), len(payloads),
                   time.monotonic() + min(self.timeout, LEAVE_TIMEOUT))

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        sock, self._sock = self._sock, None
        self._readable = _no_connection  # (the next request connects: ``_connection``)
        self._buffer.clear()
        self._blocking = False
        if sock is not None:
            sock.close()

    # ------------------------------------------------------------ joining

    def join(self, tables: list[RemoteTable]) -> None:
        """Seat every controlled seat of ``tables``, each table's seats in order.

        A join refused by the server's limit of new sessions a minute per address
        (``RATE_LIMITED``: a loop of short-lived envs, faster than 20 a second by
        default) is sent again after a pause, until the timeout: that limit lets
        one more through every few dozen milliseconds, and a refused start made
        nothing. Every other refusal is final.

        Raises:
            GameError: a join was refused or timed out, or another client took a seat
                the table needs (``_seated``, ``_filled_first``).
        """
        deadline = time.monotonic() + self.timeout
        pause = RATE_PAUSE_FIRST
        while True:
            try:
                self._join([table for table in tables if not table.joined])
                return
            except GameError as err:
                if RATE_LIMITED not in str(err) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(2 * pause, RATE_PAUSE_MAX)

    def _join(self, tables: list[RemoteTable]) -> None:
        """``join``, once."""
        # (table, seat, the seat's name, the join's socket): the names are taken as the
        # joins are sent (a reply renames the seat it is for, seat i being player i's)
        waiting: list[tuple[RemoteTable, int, str, socket.socket]] = []
        answered: dict[socket.socket, dict[str, Any]] = {}  # joins answered while awaited
        try:
            for table in tables:
                for number, seat in enumerate(table.controlled):
                    sock = self.connect()
                    waiting.append((table, seat, table.names[seat], sock))
                    sock.sendall(_encode({
                        "type": "join", "game": table.game_name, "session": table.session,
                        "players": table.players, "name": table.names[seat]}))
                    if number + 1 < len(table.controlled):
                        begun = self._await_seated(table, number + 1, sock)
                        if begun is not None:  # refused (say why now), or filled meanwhile
                            reply = answered[sock] = _read_to_end(sock, self.timeout, begun)
                            _joined(reply)
                            raise _filled_first(table)
            for table, seat, name, sock in waiting:
                reply = answered.get(sock) or _read_to_end(sock, self.timeout)
                data = _joined(reply)
                if not (type(data) is dict and type(data.get("key")) is str
                        and type(data.get("player_id")) is int
                        and 0 <= data["player_id"] < table.players):
                    raise GameError(f"join failed: {_not_a_game_server(data)}")
                if not table.external and data["player_id"] != seat:
                    raise _stranger(table, [])  # (who took the same name first)
                table.seated(data["player_id"], data["key"], name)
        except OSError as err:  # (a GameError passes as it is)
            raise self._error(err) from None
        finally:
            for *_, sock in waiting:
                sock.close()

    def _await_seated(self, table: RemoteTable, count: int, join: socket.socket
                      ) -> bytes | None:
        """Wait until the first ``count`` seats of ``table`` sit in its session (asking
        discovery, with pauses; None) or the ``join`` sent on that socket is answered
        (the reply's beginning).

        Raises:
            GameError: neither within the timeout, or another client in the session of
                a table that plays every seat (``_seated``).
        """
        deadline = time.monotonic() + self.timeout
        pause = SEATED_PAUSE_FIRST
        with selectors.DefaultSelector() as selector:  # (select() takes no fd above 1023)
            selector.register(join, selectors.EVENT_READ)
            while True:
                entry = self._listed(table, deadline)
                if entry is not None and _seated(table, entry, count):
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GameError(f"session {table.session}: the server did not seat "
                                    f"player {count - 1} within {self.timeout:g} s")
                if selector.select(min(pause, left)):
                    begun = _received_now(join, self.timeout)
                    if begun is not None:
                        return begun
                pause = min(2 * pause, SEATED_PAUSE_MAX)

    def _listed(self, table: RemoteTable, deadline: float) -> dict[str, Any] | None:
        """Discovery's entry of ``table``'s session (None: not waiting for players).

        A discover reply lists at most 1,000 sessions, sorted by (game, session): the
        pages asked for begin just before the session (after its name less its last
        character) and go on until they pass it, ``SEATED_PAGE`` sessions each; a server
        without pages sends one list of all.
        """
        key = (table.game_name, table.session)
        after = [table.game_name, table.session[:-1]]
        for _ in range(SEATED_PAGES_MAX):
            data = _data(self.exchange([_encode({
                "type": "discover", "after": after, "limit": SEATED_PAGE,
                "keep_alive": True})])[0], "discover")
            try:
                listed = [(entry["game"], entry["session"]) for entry in data["sessions"]]
                if key in listed:
                    entry = data["sessions"][listed.index(key)]
                    names = entry["names"]
                    if type(entry["joined"]) is not int or type(names) is not list or not all(
                            type(name) is str for name in names):
                        raise TypeError
                    return entry
                after = data.get("next")
                if after is None or not listed or max(listed) > key:
                    return None
            except (TypeError, KeyError, IndexError, AttributeError):
                raise GameError(f"discover failed: {_not_a_game_server(data)}") from None
            if time.monotonic() > deadline:  # (a server that pages slowly)
                return None
        raise GameError(f"discover failed: the server sent {SEATED_PAGES_MAX} pages of "
                        f"sessions without reaching session {table.session!r} (sessions "
                        "are listed sorted by game and name): is that a game server?")


def _seated(table: RemoteTable, entry: dict[str, Any], count: int) -> bool:
    """Whether discovery's ``entry`` (of ``table``'s session) shows the first ``count``
    seats of ``table`` seated: their names among those listed. A table that plays every
    seat wants nobody else there: another name, or more players than its joins, is a
    GameError. (Counting players alone, another client's seat passed for one of the
    table's: its next join went out early, and the session filled without it.)"""
    names = entry["names"]
    ours = Counter(table.names[seat] for seat in table.controlled[:count])
    del ours[""]  # (discovery lists no empty names)
    if table.external:
        return entry["joined"] >= count and not ours - Counter(names)
    others = Counter(names) - ours
    if others or entry["joined"] > count:
        raise _stranger(table, list(others))
    return entry["joined"] == count


def _stranger(table: RemoteTable, names: list[str]) -> GameError:
    """The error of another client in the session of ``table``, which plays every seat."""
    who = f" (as {', '.join(map(repr, names))})" if names else ""
    return GameError(
        f"session {table.session!r}: another client joined it{who} while this env was "
        "taking its seats; an env that plays every seat needs a session nobody else "
        "joins: pick another session name, or leave session unset for a fresh one")


def _filled_first(table: RemoteTable) -> GameError:
    """The error of ``table``'s session filled before every seat of ``table`` joined."""
    if not table.external:
        return _stranger(table, [])
    others = table.players - len(table.controlled)
    return GameError(
        f"session {table.session!r}: other clients filled it before this env's "
        f"{len(table.controlled)} seats had joined; of its {table.players} seats only "
        f"{others} are for other clients")


def _received_now(sock: socket.socket, timeout: float) -> bytes | None:
    """What a readable ``sock`` received (b"": closed), or None: nothing for the caller
    (a TLS socket is readable when the server's session tickets come after the handshake).
    """
    sock.setblocking(False)
    try:
        return sock.recv(RECV_SIZE)
    except (BlockingIOError, ssl.SSLWantReadError):
        return None
    finally:
        sock.settimeout(timeout)


def _leave(address: tuple[str, int], context: ssl.SSLContext | None, payload: bytes, replies: int,
           deadline: float) -> None:
    """Send ``payload`` (``replies`` requests) on a connection of its own, and read until
    that many replies came, the server closed, or ``deadline`` (``time.monotonic()``)
    passed; errors are ignored (``Link.leave``).

    One deadline for everything, the name's lookup too: ``Link.exchange`` allows its
    timeout for the connection to each of the host's addresses (a name with an IPv4 and
    an IPv6 address that do not answer: twice) and again for each reply, so an env's
    ``close()`` took many times ``LEAVE_TIMEOUT`` from a server that did not answer, or
    answered slowly. A TLS handshake, and a TLS ``sendall`` (one write of all), wait the
    socket's timeout in all, however the server trickles its bytes (``_ssl`` keeps a
    deadline across its reads and writes, since Python 3.5): so the timeout is set to
    what is left before each.
    """
    host, port = address
    sock: socket.socket | None = None
    try:
        addresses = lookup(host, port, max(deadline - time.monotonic(), 1e-3))
        sock = _open(addresses, None, deadline)
        if context is not None:
            sock.settimeout(max(deadline - time.monotonic(), 1e-3))
            sock = context.wrap_socket(sock, server_hostname=host)
        sock.settimeout(max(deadline - time.monotonic(), 1e-3))
        sock.sendall(payload)
        tail = b""  # the end of what came: a terminator split between two receives
        while replies > 0:
            chunk = _receive(sock, deadline)
            if not chunk:
                return
            seen = tail + chunk
            replies -= seen.count(TERMINATOR)
            tail = seen[-(len(TERMINATOR) - 1):]
    except (OSError, ValueError):  # (TimeoutError, ssl.SSLError: OSErrors)
        return
    finally:
        if sock is not None:
            sock.close()


# The leaves of tables that were not closed (``RemoteTable.__del__``, ``_leave_at_exit``):
# (address, TLS context, requests, the guardian's number of them), or a
# ``threading.Event`` to set once everything put before it is done. ``SimpleQueue.put``
# may be called from ``__del__`` (it takes no lock that the code the collector
# interrupted may hold); the leaver thread does the I/O. At most ``ABANDONED_MAX``
# tables' leaves (``_abandon``).
_abandoned: queue.SimpleQueue[Any] = queue.SimpleQueue()
# Tables whose leaves were not sent, the queue being full (``_abandon``), in all; and how
# many of them the leaver thread has warned of (``_warn_unsent``).
leaves_unsent = 0
_unsent_warned = 0
_leaver: threading.Thread | None = None
_leaver_lock = threading.Lock()
# The tables of this process that hold seats, left at exit if they are still open.
_open_tables: WeakSet[RemoteTable] = WeakSet()


def _abandon(link: Link, payloads: list[bytes], held: int | None) -> None:
    """Hand the leave requests ``payloads`` of a table of ``link`` (``held`` by the
    guardian under that number) to the leaver thread, unless ``ABANDONED_MAX`` tables'
    leaves wait for it already: then they are not sent now (counted in
    ``leaves_unsent``; the leaver thread warns); the guardian sends them when this
    process ends (``_guardian``; where there is none, the table's sessions stay on the
    server until idle for its ``game_timeout``).

    Why a bound: the leaver sends each server's leaves in one write and waits for their
    replies, ``LEAVE_TIMEOUT`` at most; a server that answers slowly, or not at all
    (stopped, overloaded, a network gone), holds it that long, and a loop that dropped
    envs meanwhile (their seats joined on other servers, or before it stopped) grew the
    queue without limit: a few hundred bytes per table, for ever. No I/O here, nor a lock
    (``__del__``: ``_abandoned``); ``qsize`` is exact enough for a bound (a put from
    another thread at the same moment may pass it by one)."""
    global leaves_unsent
    if _abandoned.qsize() < ABANDONED_MAX:
        _abandoned.put((link.address, link._context, payloads, held))
    else:
        leaves_unsent += 1


def _warn_unsent() -> None:
    """On the leaver thread: say once per overflow (``_abandon``) how many tables' leaves
    were not sent. A warning filter that turns it into an error (``-W error``, pytest's
    ``filterwarnings``) must not end the leaver thread."""
    global _unsent_warned
    unsent = leaves_unsent
    if unsent == _unsent_warned:
        return
    _unsent_warned = unsent
    try:
        warnings.warn(
            f"gameserver.rl: the leaves of {unsent} dropped envs' sessions were not sent: "
            f"{ABANDONED_MAX} envs' leaves were waiting already for a server that answers "
            "slowly or not at all; they are sent when this program ends (where that cannot "
            "be done, those sessions stay on the server until idle for its game_timeout). "
            "Close envs you are done with (env.close(), or a with block).",
            RuntimeWarning, stacklevel=1)
    except Exception:  # (a filter that raises: ``leaves_unsent`` says it still)
        pass


def _start_leaver() -> None:
    """Start the leaver thread of this process, if it has none running: as a table joins
    (never in ``__del__``: starting a thread takes locks the interrupted code may hold)."""
    global _leaver
    with _leaver_lock:
        if _leaver is None or not _leaver.is_alive():  # (none yet, or a forked child)
            _leaver = threading.Thread(target=_leave_abandoned, daemon=True,
                                       name="gameserver-rl-leaver")
            _leaver.start()


def _leave_abandoned() -> None:
    """The leaver thread: send the leaves put in ``_abandoned``, those of one server in
    one write (a vector env's sessions), each such write ``LEAVE_TIMEOUT`` at most."""
    while True:
        batch = [_abandoned.get()]
        while True:  # and whatever else is there now (the other tables of a vector env)
            try:
                batch.append(_abandoned.get_nowait())
            except queue.Empty:
                break
        servers: dict[tuple[Any, Any], list[bytes]] = {}
        held: dict[tuple[Any, Any], list[int | None]] = {}
        done = []
        for item in batch:
            if isinstance(item, threading.Event):
                done.append(item)
            else:
                servers.setdefault((item[0], item[1]), []).extend(item[2])
                held.setdefault((item[0], item[1]), []).append(item[3])
        for (address, context), payloads in servers.items():
            _leave(address, context, b"".join(payloads), len(payloads),
                   time.monotonic() + LEAVE_TIMEOUT)
            for number in held[(address, context)]:
                _guardian.drop(number)  # (sent: not again at this process's end)
        _warn_unsent()
        for event in done:
            event.set()


@atexit.register
def _leave_at_exit() -> None:
    """At the program's end, leave the sessions of the envs still open (a script that
    never called ``close()``), and wait for the leaves of those collected before, in all
    ``EXIT_LEAVE_TIMEOUT`` at most: without it they stayed on the server until idle for
    its ``game_timeout`` (1,000 s by default). A forked child leaves nothing of its
    parent's (``RemoteTable.__del__``)."""
    for table in list(_open_tables):
        table.abandon()
    if _leaver is None or not _leaver.is_alive():
        return
    done = threading.Event()
    _abandoned.put(done)
    done.wait(EXIT_LEAVE_TIMEOUT)


class LookupTimeout(TimeoutError):
    """A host name's lookup did not end in time (``lookup``)."""


class _Lookup:
    """One lookup of a host name, on a thread of its own (``lookup``)."""

    def __init__(self, host: str, port: int) -> None:
        self.done = threading.Event()
        self.addresses: list[Any] = []
        self.error: Exception | None = None
        threading.Thread(target=self._run, args=(host, port), daemon=True,
                         name=f"gameserver.rl lookup of {host[:100]!r}").start()

    def _run(self, host: str, port: int) -> None:
        try:
            self.addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except Exception as err:  # (handed to every caller waiting for it: ``lookup``)
            self.error = err
        finally:
            with _LOOKUPS_LOCK:
                if _LOOKUPS.get((host, port)) is self:
                    del _LOOKUPS[(host, port)]
            self.done.set()


# The lookups under way, by (host, port): a caller whose lookup is under way already waits
# for that one, so a name server that never answers holds one thread per name at most.
_LOOKUPS: dict[tuple[str, int], _Lookup] = {}
_LOOKUPS_LOCK = threading.Lock()


def lookup(host: str, port: int, timeout: float) -> list[Any]:
    """``socket.getaddrinfo(host, port)`` for a TCP connection, within ``timeout`` seconds.

    An IP address is no lookup (answered here, at once). A name is looked up on a thread
    of its own (``getaddrinfo`` cannot be interrupted: a name server that does not answer
    held the env for the system resolver's own time, 5 s per try and server of
    ``/etc/resolv.conf`` and more, whatever its timeouts), waited for ``timeout`` at most;
    a lookup that takes longer goes on without the caller, and a caller that asks for the
    same name meanwhile waits for it (one thread per name at most).

    Raises:
        LookupTimeout: not done within ``timeout``.
        socket.gaierror: the name is not found (or what ``getaddrinfo`` raised).
    """
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                  flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        pass  # not an IP address: a name, looked up below
    with _LOOKUPS_LOCK:
        pending = _LOOKUPS.get((host, port))
        if pending is None:
            pending = _LOOKUPS[(host, port)] = _Lookup(host, port)
    if not pending.done.wait(timeout):
        raise LookupTimeout(f"looking up {host!r} took longer than {timeout:g} s")
    if pending.error is not None:
        raise pending.error
    return pending.addresses


def _open(addresses: list[Any], timeout: float | None, deadline: float | None = None
          ) -> socket.socket:
    """A TCP connection (``TCP_NODELAY``) to the first of ``addresses`` (``lookup``) that
    takes it, each tried within ``timeout`` (None: up to ``deadline``, a
    ``time.monotonic()``), all no later than ``deadline`` if given.

    Raises:
        OSError: no address took it (the last one's error; TimeoutError for a timeout).
    """
    error: OSError = OSError("the name has no address")
    for family, kind, proto, _, where in addresses:
        left = math.inf if deadline is None else deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(min(timeout or left, left))
            sock.connect(where)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as err:
            sock.close()
            error = err
    raise error


def _receive(sock: socket.socket, deadline: float) -> bytes:
    """One receive that waits no later than ``deadline`` (``time.monotonic()``)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    sock.settimeout(left)
    return sock.recv(RECV_SIZE)


def _read_to_end(sock: socket.socket, timeout: float, begun: bytes | None = None
                 ) -> dict[str, Any]:
    """A classic reply (a join's: ended by the server closing the connection); its first
    byte within the socket's timeout (unless ``begun``, what came of it already), the
    rest within ``timeout`` after that."""
    chunks = [sock.recv(RECV_SIZE) if begun is None else begun]
    size = len(chunks[0])
    deadline = time.monotonic() + timeout
    while chunks[-1]:
        chunks.append(_receive(sock, deadline))
        size += len(chunks[-1])
        if size > REPLY_MAX:
            raise GameError(_too_large(1, f"{REPLY_MAX} bytes", "REPLY_MAX"))
    raw = b"".join(chunks)
    if len(raw) > REPLY_ITEMS_MAX:
        _count_items(raw)
    text = raw.decode(errors="replace")
    try:
        reply = json.loads(text)
    except (ValueError, RecursionError):
        raise GameError(_closed_message(text)) from None
    return _checked(reply, text)


# What each status of a reply carries (the protocol's three).
_CARRIES = {"ok": "data", "error": "message", "illegalmove": "message"}


def _reply_of(raw: bytes | bytearray) -> dict[str, Any]:
    """One reply, decoded (most replies to moves and restarts are ``OK_NONE``: no parsing)."""
    if raw == OK_NONE_BYTES:
        return OK_NONE
    if len(raw) > REPLY_ITEMS_MAX:  # (a shorter reply cannot hold more values)
        _count_items(raw)
    try:
        text = raw.decode()
        try:
            reply, end = _scan(text, 0)
        except StopIteration:  # not a value at the start (whitespace?): decode() says
            end = -1
        if end != len(text):
            reply = _decode(text)
    except (ValueError, RecursionError):  # (RecursionError: nested thousands deep)
        raise GameError(f"the server sent a reply that is not JSON: {bytes(raw[:100])!r}"
                        ) from None
    if type(reply) is dict and reply.get("status") == "ok" and "data" in reply:
        return reply  # (the usual shape, checked without a call)
    return _checked(reply, raw)


def _too_large(count: int, limit: str, name: str) -> str:
    """The error of ``count`` replies (one, or a round's: ``Link._read``) of more than
    ``limit`` (the value of ``name``), together."""
    what = (f"a reply of more than {limit}" if count == 1 else
            f"replies of more than {limit} in all to the {count} requests of one round (a "
            "vector env's sessions are answered together)")
    return (f"the server sent {what}: is that a game server? If your game's states are "
            f"that large, raise gameserver.rl._remote.{name} after the import"
            + ("" if count == 1 else ", or play fewer sessions in one vector env"))


def _count_items(raw: bytes | bytearray) -> None:
    """Raise if ``raw`` holds more than ``REPLY_ITEMS_MAX`` values (before decoding it)."""
    items = raw.count(b",") + raw.count(b"{") + raw.count(b"[")
    if items > REPLY_ITEMS_MAX:
        raise GameError(f"the server sent a reply of more than {REPLY_ITEMS_MAX:,} values "
                        f"({items:,} commas, lists and dicts): is that a game server? If "
                        "your game's states are that large, raise gameserver.rl._remote."
                        "REPLY_ITEMS_MAX after the import")


def _checked(reply: Any, raw: bytes | bytearray | str) -> dict[str, Any]:
    """``reply`` if it has the shape of one (a status and what it carries), else raise."""
    status = reply.get("status") if type(reply) is dict else None
    if type(status) is not str or _CARRIES.get(status, "status") not in reply:
        raise GameError(_not_a_game_server(raw[:100]))
    return reply


def _joined(reply: dict[str, Any]) -> Any:
    """The data of a join's ``reply``. A game the server lacks is said with what to do:
    an env handed a class of its own found the server's "no such game" a riddle (the
    class is right here), not knowing that the server plays the game itself. So are too
    many sessions from this address: the server's "finish or leave some first" did not
    say that an env leaves its sessions at ``close()`` alone, and a loop that made an env
    per evaluation without closing it met that at about the 200th (an env dropped since
    leaves its sessions when collected: ``RemoteTable.__del__``)."""
    try:
        return _data(reply, "join")
    except GameError as err:
        text = str(err)
        if SESSIONS_REFUSED in text:
            raise GameError(f"{text} (an env leaves its sessions when it is closed: call "
                            "close() on each env you are done with, or make it in a with "
                            "block; one still open holds its sessions until it is dropped "
                            "or the program ends)") from None
        if not text.startswith(f"join failed: {framework_error(NO_SUCH_GAME)}: ") or any(
                hint in text for hint in HINT_WORDS):  # (it says what there is to do)
            raise
        raise GameError(f"{text}; the server plays the game itself and must offer it (a "
                        "game of your own: start the server with python3 -m gameserver "
                        "--games-dir FOLDER, the folder of its file; docs/rl.md)") from None


def _not_a_game_server(what: Any) -> str:
    return f"the server sent a reply that is not a game server's: {what!r}"[:300]


# How the refusal of a TLS port begins (``_tlsconn.NOT_TLS``): not imported, as that would
# bring asyncio and the server's connections into the env's process; a test pins it.
_TLS_ONLY = "server: this port speaks TLS only"
_PASS_TLS = ("pass tls=True (or tls=ssl.create_default_context(cafile=CERT) with the "
             "server's certificate file, for a self-signed one)")


def _closed_message(text: str) -> str:
    """What to say of a connection the server closed after ``text`` (what came of a reply).

    TLS is advised only when the reply says the port speaks TLS only (a TLS port answers
    a request without TLS so, in plain text: ``_tlsconn.NOT_TLS``). A connection closed
    without a word says nothing of TLS: a server killed while a request waited closes it
    so, and so does a proxy in front of a server that is down, the new connection of a
    request after an idle pause too. (Until 2026-12-01 the env said "if it speaks TLS,
    pass tls=True" then, to a learner whose env had played on that port for an hour: a
    TLS server before 2026-11-30 closed a request without TLS so.) An answer in HTTP
    names the dashboard's port; a reply without its end, a classic server.
    """
    try:
        reply = json.loads(text)
        if isinstance(reply, dict) and "message" in reply:
            if str(reply["message"]).startswith(_TLS_ONLY):  # (its advice is the module's)
                return f"the server speaks TLS only: {_PASS_TLS}"
            return f"the server closed the connection: {reply['message']}"
        if isinstance(reply, dict) and "status" in reply:  # (a reply, without its end)
            return ("the server answered, then closed the connection: it does not keep "
                    "connections open (a classic game server?), and the env needs the "
                    "keep-alive extension of gameserver (docs/protocol.md)")
    except (ValueError, RecursionError):
        pass
    if not text:
        return ("the server closed the connection without answering: did it stop or crash? "
                "(If it runs, is that port a game server's?)")
    if text.startswith("HTTP/"):  # (the dashboard's port: a 408 after its 10 s)
        status = text.split("\r", 1)[0][:60]
        return (f"the server answered in HTTP ({status!r}): that port is a web server's "
                "(the game server's dashboard?), not a game server's: use the game "
                "server's port (4711 unless its operator chose another)")
    return f"the server closed the connection after {text[:200]!r}"


def _no_connection(timeout: int) -> bool:
    """``Link._readable`` without a connection: truthy, so that a request makes one."""
    return True


def _poller(sock: socket.socket) -> Callable[[int], Any]:
    """A function that says (truthy) whether ``sock`` has something to read: ``poll``'s
    bound method (one system call, no Python frame), ``select`` where there is none."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return poller.poll
    return lambda timeout: select.select([sock], [], [], timeout)[0]


def _last_word(came: bytes) -> str | None:
    """The message of ``came``, found on a kept-alive connection before a request, if it
    is the server's last word before it closes the connection: an error reply without the
    terminator (``server: server is shutting down``, as our server says to every
    connection between requests as it stops; the ``_last_reply`` of its connections).
    None: it is not, but a reply no request asked for."""
    if TERMINATOR in came:
        return None
    try:
        reply = json.loads(came)
    except (ValueError, RecursionError):
        return None
    if type(reply) is dict and reply.get("status") == "error":
        return str(reply.get("message"))[:200]
    return None


def _unasked(came: bytes) -> str:
    """What to say of ``came``, found on a kept-alive connection before a request: a reply
    no request asked for (one request answered twice?). Taken for the next request's
    reply, it shifted every reply after it. (A reply that comes while the next request is
    on its way cannot be told from that request's own; the one that follows it is found
    before the request after, or with more replies than asked for (``_read``), and refused
    so. No request id can tell them apart at once: a reply names no request, and the
    server ignores keys a request does not use, so an id would come back in no reply;
    docs/rl.md.)"""
    return (f"the server sent a reply that no request asked for ({came[:100]!r}, after its "
            "replies to the requests before): is that a game server? The connection is "
            "closed; the next request goes on a new one")


def _tls_advice(err: OSError, host: str) -> str:
    """What to do about a TLS handshake with ``host`` that failed with ``err``."""
    if isinstance(err, ssl.SSLCertVerificationError):
        if "mismatch" in str(err):
            return (f"the certificate is not made out to {host!r}: connect to the name "
                    "it is made out to")
        return ("for a server whose certificate is its own (self-signed), pass "
                "tls=ssl.create_default_context(cafile=CERT), CERT the server's "
                "certificate file (never its key)")
    return "does the server speak TLS? If not, leave out tls"


class SessionGone(GameError):
    """The server no longer has the table's session: it was restarted without its store
    (or could not restore the session), or the session was idle longer than the server's
    ``game_timeout`` (1,000 s by default) and was removed. The table's next new game
    (``reset()``) joins the session anew (``RemoteTable.start``; a gym env whose other
    seats are other clients, ``GameGymEnv``, too, even with ``restarts=False``)."""


# The server's words for a session it lacks, and for one it removed while a request of
# ours waited in it (idle for its game_timeout: the other seats' clients were away).
GONE = (str(framework_error(NO_SUCH_SESSION)), str(framework_error(TIMED_OUT)))


def _data(reply: dict[str, Any], what: str, table: RemoteTable | None = None) -> Any:
    if reply.get("status") != "ok":
        message = f"{what} failed: {reply.get('message')}"
        if table is not None and reply.get("message") in GONE:
            again = ("the env's next reset() joins it anew, and waits until the other "
                     "players have joined it again: their clients must join anew too"
                     if table.external else "the env's next reset() joins it anew")
            raise SessionGone(
                f"{message} (the server no longer has session {table.session!r}: it was "
                "restarted without its store, or the session was idle for longer than the "
                f"server's game timeout; {again})")
        if table is not None and INVALID_KEY in message:
            message += (f" (has another client started a new session {table.session!r}, "
                        "replacing this one?)")
        raise GameError(message)
    return reply["data"]


class ClosedLink:
    """The link of a closed table (``RemoteTable.close``): closing it again is fine,
    anything else is a ``GameError`` saying so."""

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        raise GameError("this environment was closed: make a new one")


CLOSED: Any = ClosedLink()


class RemoteTable:
    """A session on the server; this process drives the seats in ``controlled``.

    Args:
        link: the connection (shared with other tables of the same env).
        game_name: the game's class name on the server.
        players: the session's size.
        names: one name per seat, as the dashboard, history and leaderboard show them.
        session: the session's name; a fresh unique one by default.
        controlled: the seats this table moves (default: all). Other seats are
            played by other clients that join the same named session.
        wait_for_save: False sends moves, restarts and states with ``"wait_for_save":
            false`` (their replies do not wait for the server's disk; see
            docs/protocol.md). An older server ignores the key and waits.
        known: keep the views of move and restart replies to use again when the same
            bytes come again (``KNOWN_MAX``; for a game whose encoded views are small).
    """

    def __init__(self, link: Link, game_name: str, players: int, names: list[str],
                 session: str | None = None, controlled: list[int] | None = None,
                 wait_for_save: bool = False, known: bool = True) -> None:
        self.link = link
        # Keys every move, restart and state request carries (none: the server waits
        # for the save).
        self._save_keys: dict[str, Any] = {} if wait_for_save else {"wait_for_save": False}
        self.game_name = game_name
        self.players = players
        self.names = names
        self.session = session or f"rl-{game_name}-{secrets.token_hex(4)}"
        self.controlled = list(range(players)) if controlled is None else list(controlled)
        self._asked = self.controlled  # (before the server's ids replace them: ``forget``)
        self.external = len(self.controlled) < players
        self._seat_ids = frozenset(range(players))  # the player ids a state may name
        self.joined = False
        self._held: int | None = None  # the guardian's number of its leaves (``_guardian``)
        self._keys: dict[int, str] = {}
        self._state_requests: dict[int, bytes] = {}
        self._move_prefix: dict[int, bytes] = {}
        self._move_with_state_prefix: dict[int, bytes] = {}
        self._move_showing_prefix: dict[tuple[int, int], bytes] = {}  # (mover, shown seat)
        self._move_states = StatesInReplies()  # a seat's state in a move's reply
        # A restart's request, plain and asking for the states of the table's seats.
        self._restart_requests = (b"", b"")
        self._restart_states = StatesInReplies()  # the restarter's in a restart's
        self._encoded: dict[int, tuple[dict[str, Any], bytes]] = {}
        # The requests of moves whose reply brings the next view, by (id(move), seat,
        # hint): valid while no hand-over is owed and such replies come (_move_request).
        self._move_requests: dict[tuple[int, int, int | None], tuple[
            dict[str, Any], tuple[bytes, int | None, int | None]]] = {}
        self._views: dict[int, View] = {}
        # The views a move's reply brought (and whether the game is over), by (mover,
        # shown seat, the reply's bytes): the same bytes again (a state seen before) are
        # not decoded, checked nor encoded again (a view does not change once made).
        # Shared by the link's tables of this game (a vector env's sessions).
        self._known = link.known.setdefault(game_name, {}) if known else {}
        self._known_max = KNOWN_MAX if known else 0
        self._owed: set[int] = set()  # seats owed the hand-over of a finished game
        self._over = False  # the last view we saw showed the game over
        # The guard of the env's calls of rl_observation (``make_table``), closed with it,
        # and whether the table made it (else another table of its env did: a vector env's
        # tables share the first one's).
        self.guard: GameGuard | None = None
        self.own_guard = False
        link.tables += 1  # (``Link.let_go``: by ``close`` or ``abandon``, once made entire)
        self._pid = os.getpid()  # (last: ``__del__`` leaves only a table made entire)

    # ------------------------------------------------------------ the table interface

    def start(self, seed: int | None, hint: int = 0) -> None:
        """A new game: the first (joining), or a restart; a session the server no longer
        has (``SessionGone``) is joined anew, as at first."""
        if self.external or not (self.joined and self._restart_states.on
                                 and hint in self.controlled):
            self.link.execute(self.plan(("start", seed, hint)))
            return
        try:
            self._restart(hint)
        except SessionGone:
            self.forget()
            self.link.execute(self.plan(("start", seed, hint)))

    def _restart(self, hint: int) -> None:
        # The usual restart of a table that plays every seat, asking for their states
        # (what plan would do, without a Plan); a reply whose bytes came before brings
        # the views kept for them.
        self._restarting()
        raw = self.link.ask(self._restart_requests[1])
        key = (-1, -1, raw)  # (a restart's: no mover, no shown seat)
        if self._recall(key):
            self._owed.difference_update(self.controlled[1:])
            self._restart_states.misses = 0
            return
        self._restarted(self.link.decode(raw))
        if len(self._views) == len(self.controlled):  # (every seat's state came)
            self._remember(key, KNOWN_BYTES_MAX * len(self.controlled))

    def view(self, seat: int) -> View:
        try:
            return self._views[seat]  # (the common case, without planning)
        except KeyError:
            return self.link.execute(self._fetch(seat))

    def move(self, seat: int, move: dict[str, Any], hint: int | None = None) -> Any:
        payload, shown, hint = self._move_request(seat, move, hint)
        if hint is not None:
            return self.link.execute(self._move_plan(seat, move, payload, shown, hint))
        # One request (what plan would do, without a Plan).
        raw = self.link.ask(payload)
        if shown is None:
            return self._moved(seat, move, None, self.link.decode(raw))
        key = (seat, shown, raw)
        if self._recall(key):
            self._move_states.misses = 0
            return None
        result = self._moved(seat, move, shown, self.link.decode(raw))
        if result is None and shown in self._views:  # (an "ok", and the state came)
            self._remember(key, KNOWN_BYTES_MAX)
        return result

    def _recall(self, key: tuple[int, int, bytes]) -> bool:
        """Whether these very reply bytes came before (``key``: mover, shown seat, bytes):
        if so, the views they brought then are the table's again (a view does not change
        once made)."""
        known = self._known.get(key)
        if known is None:
            return False
        self._views.update(known[0])
        self._over = known[1]
        return True

    def _remember(self, key: tuple[int, int, bytes], size_max: int) -> None:
        """Keep the views the reply of ``key`` brought, within the memo's bounds."""
        if len(key[2]) <= size_max and len(self._known) < self._known_max:
            self._known[key] = (self._views.copy(), self._over)

    def wait(self, seat: int) -> View:
        return self.link.execute(self.plan(("wait", seat)))

    def run(self, step: Step) -> Any:
        return self.link.run_many([(self, step)])[0]

    def close(self) -> None:
        """Leave the session (``departures``), close the connection and stop the guard;
        the table can be used no more (a request would open a new connection, and
        ``rl_observation`` run unguarded)."""
        link, self.link = self.link, CLOSED
        if link is not CLOSED:
            link.let_go()  # (the connection, if no other table uses it: ``Link.leave``)
            link.send_leaves(self.departures())
        if self.guard is not None:
            self.guard.close()

    def __del__(self) -> None:
        """A table collected without ``close()`` (an env the caller did not close) stops
        the guard it made (its watchdog thread stayed for ever, one more per such env: a
        loop that made an env per evaluation and dropped it), and leaves its session
        (``abandon``): until 2026-12-01 that stayed on the server until idle for the
        server's ``game_timeout`` (1,000 s by default), counted against the address's
        ``max_sessions_per_address``."""
        if getattr(self, "own_guard", False) and self.guard is not None:
            self.guard.close()
        if getattr(self, "joined", False) and getattr(self, "_pid", None) is not None:
            self.abandon()  # (not after close(), nor after the exit's: nothing is held)

    def abandon(self) -> None:
        """Leave the session without waiting: the leaves go to the leaver thread
        (``_abandoned``), so that no I/O holds the code the collector interrupted, nor
        the program's exit for longer than ``EXIT_LEAVE_TIMEOUT``. The connection is
        closed if no other table uses it (``Link.let_go``: no request of this table is
        under way, as it is collected or the program ends; one of another table may be).
        Nothing in a forked child: the seats are its parent's, which plays on."""
        if self._pid != os.getpid():
            return
        link, self.link = self.link, CLOSED
        held = self._held  # (the guardian keeps them until the leaver has sent them)
        payloads = self.departures(release=False)
        if link is not CLOSED:
            link.let_go()
            if payloads:
                _abandon(link, payloads, held)

    def departures(self, release: bool = True) -> list[bytes]:
        """The ``leave`` requests of the seats this table holds (none before it joined),
        after which the table holds none (``forget``; ``release``: the guardian's copy
        too).

        Without them the session stayed on the server until idle for its
        ``game_timeout`` (1,000 s by default), counted against this address's
        ``max_sessions_per_address`` (200): a loop that made a new env for each
        evaluation was refused at about the 200th. Once every seat of a session
        has left, the server ends it; a session whose other seats are other
        clients' (``controlled``) goes on for them.
        """
        payloads = self._leaves() if self.joined else []
        self.forget(release)
        return payloads

    def _leaves(self) -> list[bytes]:
        """The ``leave`` requests of the seats the table holds."""
        return [_encode({"type": "leave", "game": self.game_name, "session": self.session,
                         "player_id": seat, "key": key, "keep_alive": True})
                for seat, key in self._keys.items()]

    # ------------------------------------------------------------ planning

    def plan(self, op: tuple[Any, ...]) -> Plan:
        """The plan that carries out one table op (see ``_table``)."""
        kind = op[0]
        if kind == "view":
            view = self._views.get(op[1])
            if view is not None:
                return Plan([], lambda replies: view)
            return self._fetch(op[1])
        if kind == "move":
            return self._plan_move(op[1], op[2], op[3])
        if kind == "start":
            return self._plan_start(op[2])
        if kind == "wait":
            self._views.clear()
            return self._fetch(op[1])
        raise ValueError(f"unknown table op {op!r}")

    def seated(self, player_id: int, key: str, name: str) -> None:
        """A join reply arrived: ``player_id`` is ours, with ``key``, joined as ``name``."""
        self._keys[player_id] = key
        self.names[player_id] = name
        self._move_requests.clear()  # (made with the keys before)
        ids = {"game": self.game_name, "session": self.session, "player_id": player_id,
               "key": key}
        self._state_requests[player_id] = _encode({
            "type": "state", **ids, "observer": False, "legal_moves": True,
            "keep_alive": True, **self._save_keys})
        self._move_prefix[player_id] = _encode(
            {"type": "move", **ids, "keep_alive": True, **self._save_keys,
             "final_state": True, "move": None})[:-len(b"null}EOT\x00")]
        self._move_with_state_prefix[player_id] = _encode(
            {"type": "move", **ids, "keep_alive": True, "with_state": True, "legal_moves": True,
             **self._save_keys, "move": None})[:-len(b"null}EOT\x00")]
        if len(self._keys) == len(self.controlled):
            self.controlled = sorted(self._keys)  # the ids the server actually gave
            self.joined = True
            _open_tables.add(self)  # (left at exit, or when collected, if not closed)
            _start_leaver()
            # (left if this process dies without its exit hooks: ``_guardian``)
            self._held = _guardian.hold(*self.link.address, self.link.guarded_tls,
                                        self._leaves())
            restarter, *others = self.controlled
            restart = {"type": "restart", "game": self.game_name, "session": self.session,
                       "player_id": restarter, "key": self._keys[restarter],
                       "keep_alive": True, **self._save_keys}
            extra = {"with_states_of": [{"player_id": seat, "key": self._keys[seat]}
                                        for seat in others]} if others else {}
            self._restart_requests = (_encode(restart), _encode(
                {**restart, "with_state": True, "legal_moves": True, **extra}))
            for mover, shown in ((m, s) for m in self._keys for s in self._keys if m != s):
                self._move_showing_prefix[(mover, shown)] = _encode(
                    {"type": "move", "game": self.game_name, "session": self.session,
                     "player_id": mover, "key": self._keys[mover], "keep_alive": True,
                     "with_state": {"player_id": shown, "key": self._keys[shown]},
                     "legal_moves": True, **self._save_keys, "final_state": True,
                     "move": None}
                )[:-len(b"null}EOT\x00")]

    def _plan_start(self, hint: int) -> Plan:
        self._views.clear()
        if not self.joined:
            self.link.join([self])  # the first game starts when everybody is seated
            return self._fetch_hint(hint, [], lambda replies: None)
        self._restarting()
        if not self._restart_states.on or hint not in self.controlled:
            plan = self._fetch_hint(hint, [self._restart_requests[0]],
                                    lambda replies: _data(replies[0], "restart", self))
        else:
            plan = Plan([self._restart_requests[1]], lambda replies: self._restarted(replies[0]))

        def finish(replies: list[dict[str, Any]]) -> Any:
            try:
                return plan.finish(replies)
            except SessionGone:  # join it anew (the replies of this round are all read)
                self.forget()
                return self.link.execute(self._plan_start(hint))

        return Plan(plan.payloads, finish)

    def forget(self, release: bool = True) -> None:
        """Back to before the first join (the server lost the session): the next
        ``start`` joins it again, under the same name, with the same seats' names; the
        guardian no longer holds the seats' leaves (unless not ``release``: ``abandon``)."""
        held, self._held = self._held, None
        if release:
            _guardian.drop(held)
        self.joined = False
        self.controlled = self._asked
        for made in (self._keys, self._state_requests, self._move_prefix,
                     self._move_with_state_prefix, self._move_showing_prefix,
                     self._move_requests, self._views):
            made.clear()
        self._owed.clear()
        self._over = False

    def _restarting(self) -> None:
        """A restart is sent: the views are gone, and the other seats owed the end."""
        self._views.clear()
        if self._over:  # the others are owed the finished game's final state, once
            self._owed = set(self.controlled[1:])
        self._over = False

    def _restarted(self, reply: dict[str, Any]) -> Any:
        """The result of a restart that asked for the states of the table's seats."""
        restarter, *others = self.controlled
        data = _data(reply, "restart", self)
        state = reply.get("state")
        if state is not None:
            self._keep_view(restarter, state)
        states = reply.get("states")
        if type(states) is list and len(states) == len(others):  # (a server since 0.2.0)
            self._owed.difference_update(others)  # the old end is not handed over
            for seat, shown in zip(others, states, strict=True):
                if shown is not None:  # (a game in a worker process may leave one out)
                    self._keep_view(seat, shown)
        # Without it (fetched when wanted): an older server or a game in a worker process
        # never sends it; a hand-over owed to the restarter, after another client's
        # restart, is one miss.
        self._restart_states.came(state is not None)
        return data

    def _plan_move(self, seat: int, move: dict[str, Any], hint: int | None) -> Plan:
        return self._move_plan(seat, move, *self._move_request(seat, move, hint))

    def _move_plan(self, seat: int, move: dict[str, Any], payload: bytes, shown: int | None,
                   hint: int | None) -> Plan:
        """The plan of a move's request ``payload`` (``_move_request``: with ``shown``'s
        view in its reply, ``hint``'s fetched beside it)."""
        return self._fetch_hint(
            hint, [payload], lambda replies: self._moved(seat, move, shown, replies[0]))

    def _move_request(self, seat: int, move: dict[str, Any], hint: int | None
                      ) -> tuple[bytes, int | None, int | None]:
        """The request of ``seat``'s ``move``; the seat whose view comes in its reply
        (None: none), and the seat whose view to fetch beside it (None: none)."""
        self._views.clear()  # the move changes the game, accepted or rejected
        # The env passes the same few move dicts (rl_moves) again and again: encode each
        # once. The caches hold the dict itself, so its id cannot be reused meanwhile.
        usual = not self._owed and self._move_states.on
        if usual:
            made = self._move_requests.get((id(move), seat, hint))
            if made is not None and made[0] is move:
                return made[1]
        cached = self._encoded.get(id(move))
        if cached is None or cached[0] is not move:
            cached = (move, json.dumps(move, separators=(",", ":")).encode() + b"}"
                      + TERMINATOR)
            if len(self._encoded) < MOVE_CACHE_MAX:
                self._encoded[id(move)] = cached
        if hint is None or hint not in self._keys:
            return self._move_prefix[seat] + cached[1], None, None
        prefix = None  # of a move whose reply brings the view of ``hint``
        if usual:
            prefix = (self._move_with_state_prefix[seat] if hint == seat  # the mover's own
                      else self._move_showing_prefix.get((seat, hint)))  # another of ours
        if prefix is None:
            return self._move_prefix[seat] + cached[1], None, hint
        request = prefix + cached[1], hint, None
        if len(self._move_requests) < MOVE_CACHE_MAX:
            self._move_requests[(id(move), seat, hint)] = (move, request)
        return request

    def _moved(self, seat: int, move: dict[str, Any], shown: int | None,
               reply: dict[str, Any]) -> Any:
        """The result of ``seat``'s ``move`` from its ``reply``, which brings the view of
        ``shown`` (unless None), and the mover's own if the game ended."""
        final = reply.get("final_state")  # the game is over: the mover's view of its end
        if final is not None:
            self._keep_view(seat, final)
        status = reply["status"]
        if shown is not None:
            state = reply.get("state")
            if state is not None:
                self._keep_view(shown, state)
                self._move_states.misses = 0  # (came(True), without a call)
            elif status == "ok":
                # A state too large to come along from a worker process misses now and
                # then; an older server always does.
                self._move_states.came(False)
        if status == "ok":
            return reply["data"]
        if status == "illegalmove":
            return reply["message"]
        return _data(reply, f"move {move!r} of player {seat}", self)

    def _fetch_hint(self, hint: int | None, payloads: list[bytes], first: Finish) -> Plan:
        """``payloads`` (finished by ``first``), then the view of ``hint`` in the same write."""
        if hint is None or hint not in self._keys:
            return Plan(payloads, first)
        fetch = self._fetch(hint)

        def finish(replies: list[dict[str, Any]]) -> Any:
            result = first(replies[:len(payloads)])
            fetch.finish(replies[len(payloads):])
            return result

        return Plan(payloads + fetch.payloads, finish)

    def _fetch(self, seat: int) -> Plan:
        """Ask for ``seat``'s state (twice when a hand-over is owed: keep the second)."""
        request = self._state_requests.get(seat)
        if request is None:
            raise GameError(f"seat {seat} is not played by this environment")
        handover = seat in self._owed
        self._owed.discard(seat)

        def fetched(replies: list[dict[str, Any]]) -> View:
            return self._keep_view(seat, _data(replies[-1], f"state of player {seat}", self))

        return Plan([request, request] if handover else [request], fetched)

    def _keep_view(self, seat: int, data: dict[str, Any]) -> View:
        """``seat``'s state (with its legal moves) as the view the table has of it."""
        if type(data) is dict:
            legal = data.pop("legal_moves", None)
            if (type(gameover := data.get("gameover")) is bool
                    and type(current := data.get("current")) is list
                    and _INTS.issuperset(map(type, current))  # no Python step per id
                    and self._seat_ids.issuperset(current)  # (ints by now: not True, 1.0)
                    and (type(legal) is list or not legal)):
                view = self._views[seat] = View(data, legal)
                self._over = gameover
                return view
            if legal is not None:
                data["legal_moves"] = legal  # (as it came, for the message)
        raise GameError(f"the server sent a state of player {seat} that is not a game "
                        f"state: {data!r}"[:300])
