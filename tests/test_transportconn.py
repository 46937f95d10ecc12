"""Connections on asyncio transports (``_transportconn``) without sockets.

``MemoryTransport`` plays asyncio's transport in front of a kernel that
takes a few KB at once: what does not fit waits in the transport's buffer
until the test's client takes some, and writing is paused and resumed at
the buffer's limits, as asyncio does. The host is a real lobby
(``tests.test_connection``); a deadline "passes" when the test says so.
TLS on these transports is in tests/test_tlsconn.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from gameserver._connstate import NOT_SERVING, UNSENT_FULL, State
from gameserver._transportconn import TransportConnection
from gameserver.framing import TERMINATOR
from tests.test_connection import (
    DISCOVER,
    Host,
    frame,
    hosting,
    join,
    move,
    two_players,
)
from tests.test_held import echo, saving_host


class MemoryTransport(asyncio.Transport):
    """A transport in front of a "kernel" that takes ``ROOM`` bytes at once: what does
    not fit waits in ``buffer`` (the transport's) until the client ``take``s some."""

    ROOM = 4096  # the kernel's send buffer

    def __init__(self) -> None:
        super().__init__()
        self.wire = bytearray()  # in the kernel, for the client to read
        self.buffer = bytearray()  # in the transport, until the kernel has room
        self.protocol: TransportConnection | None = None
        self._lost = False  # connection_lost is called (or due)
        self.high = self.low = 0
        self.writing_paused = False
        self.reading_paused = self.closing = self.aborted = False
        self.eof_written = False  # our FIN (write_eof)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closing, "written after the close"
        self.buffer += data
        self._to_kernel()
        if len(self.buffer) > self.high and not self.writing_paused:
            self.writing_paused = True
            assert self.protocol is not None
            self.protocol.pause_writing()

    def _to_kernel(self) -> None:
        room = self.ROOM - len(self.wire)
        if room > 0:
            self.wire += self.buffer[:room]
            del self.buffer[:room]

    def take(self, size: int | None = None) -> bytes:
        """The client reads ``size`` bytes (all there is if None) of what was written."""
        if size is None:
            data = bytes(self.wire + self.buffer)
            self.wire.clear()
            self.buffer.clear()
        else:
            data = bytes(self.wire[:size])
            del self.wire[:size]
            self._to_kernel()
        if self.writing_paused and len(self.buffer) <= self.low:
            self.writing_paused = False
            assert self.protocol is not None
            self.protocol.resume_writing()
        if self.closing and not self.buffer:
            self._lose()
        return data

    def eof(self) -> None:
        """The client's FIN: asyncio closes the transport unless the protocol keeps it."""
        assert self.protocol is not None
        if not self.protocol.eof_received():
            self.close()

    def _lose(self) -> None:
        """As asyncio: ``connection_lost`` in the next loop pass, once."""
        if not self._lost:
            self._lost = True
            assert self.protocol is not None
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def get_write_buffer_size(self) -> int:
        return len(self.buffer)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        assert high is not None and low is not None
        self.high, self.low = high, low
        if len(self.buffer) > high and not self.writing_paused:  # as asyncio does
            self.writing_paused = True
            assert self.protocol is not None
            self.protocol.pause_writing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("192.0.2.7", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        """Closed once the buffer is sent (the kernel's part is the client's to read)."""
        self.closing = True
        if not self.buffer:
            self._lose()

    def abort(self) -> None:
        self.closing = self.aborted = True
        self.wire.clear()
        self.buffer.clear()
        self._lose()

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        assert not self.closing, "half-closed after the close"
        self.eof_written = True


def replies(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(part) for part in data.split(TERMINATOR)[:-1]]


def pass_deadline(conn: TransportConnection) -> None:
    """The deadline set last passes now (its timer is cancelled: this is it)."""
    assert conn._timer is not None, "no deadline runs"
    conn._timer.cancel()
    conn._deadline_passed()


async def next_pass() -> None:
    """Let the loop run what is due soon (a resumed connection reads, a transport
    reports its close)."""
    for _ in range(2):
        await asyncio.sleep(0)


def connected(host: Host) -> tuple[TransportConnection, MemoryTransport]:
    transport = MemoryTransport()
    conn = TransportConnection(host)  # type: ignore[arg-type]
    transport.protocol = conn
    conn.connection_made(transport)
    return conn, transport


def joined(host: Host) -> tuple[TransportConnection, MemoryTransport, str]:
    """A kept-alive connection whose client joined Echo session "e0"; the player's key."""
    conn, transport = connected(host)
    conn.data_received(join("e0", 1))
    host.run_soon()
    return conn, transport, replies(transport.take())[0]["data"]["key"]


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


def test_a_client_that_half_closes_gets_its_held_replies_then_the_close() -> None:
    """As on raw sockets: the transport stays open for the replies held for their save
    (asyncio would close it at the client's FIN and drop them)."""
    async def body() -> None:
        with saving_host() as host:
            conn, transport, key = joined(host)
            conn.data_received(echo("e0", key, 1) + echo("e0", key, 2))
            transport.eof()
            await next_pass()
            assert conn.state is State.CLOSING and not transport.closing
            host.commit()
            assert [reply["status"] for reply in replies(transport.take())] == ["ok", "ok"]
            await next_pass()
            assert transport.closing and conn.state is State.CLOSED

    run(body)


def test_a_client_that_takes_part_of_its_replies_is_alive_until_it_takes_none() -> None:
    async def body() -> None:
        with hosting(reply_buffer_max=4096) as host:
            conn, transport = connected(host)
            conn.data_received(DISCOVER * 3)  # more than the kernel and the buffer hold
            assert transport.buffer and conn._paused
            for _ in range(3):
                transport.take(1000)  # a slow reader
                pass_deadline(conn)
                assert conn.state is State.READING and conn._timer is not None
            pass_deadline(conn)  # it took nothing since
            assert conn.state is State.CLOSING

    run(body)


def test_replies_the_kernel_took_at_once_are_not_progress() -> None:
    """A reply written after the deadline was set (here: held for its save) that went
    straight into the kernel says nothing of the client: the idle connection still
    ends at that deadline."""
    async def body() -> None:
        with saving_host() as host:
            conn, transport, key = joined(host)
            conn.data_received(echo("e0", key, 1))
            host.commit()  # the held reply goes out, after the deadline of READING was set
            assert not transport.buffer and replies(transport.take())[0]["status"] == "ok"
            pass_deadline(conn)
            assert conn.state is State.CLOSING

    run(body)


# ---------------------------------------------------------------- replies unsent, per address


def test_replies_left_in_the_buffer_count_for_the_address_and_pause_it_beyond_its_bound(
        ) -> None:
    """Two connections of one address (``_unsent.py``): what stays in the transport's
    buffer counts; beyond the address's bound, a connection that leaves bytes there
    pauses after its reply, and goes on once its client took them all (asyncio says so
    only at the low-water mark: 0 while paused for the address). Beyond the bound and a
    quarter of it, the other connection pauses too, though it leaves nothing unsent."""
    async def body() -> None:
        with hosting(reply_buffer_max=4096, reply_buffer_max_per_address=4096) as host:
            greedy, greedy_wire = connected(host)
            other, other_wire = connected(host)  # the same address
            greedy.data_received(DISCOVER * 3)  # a ~20 kB reply: the kernel takes 4 kB
            address = "192.0.2.7"
            assert host.unsent.of(address) == len(greedy_wire.buffer) > 4096 * 5 // 4
            assert greedy._paused & UNSENT_FULL and greedy_wire.high == 0
            assert other._paused & UNSENT_FULL and host.unsent.paused == 2  # beyond
            other.data_received(DISCOVER * 2)  # kept: not served while its address is beyond
            assert other_wire.take() == b"" and host.unsent.of(address) == len(
                greedy_wire.buffer)
            got = replies(greedy_wire.take())
            other_got: list[dict[str, Any]] = []
            for _ in range(20):  # both clients read: served to the end, nothing lost
                if len(got) == 3 and len(other_got) == 2:
                    break
                host.run_soon()
                got += replies(greedy_wire.take())
                other_got += replies(other_wire.take())
            assert [reply["status"] for reply in got] == ["ok"] * 3
            assert [reply["status"] for reply in other_got] == ["ok"] * 2
            host.run_soon()  # (woken as the last of it was taken)
            assert not other._paused & NOT_SERVING
            assert not greedy._paused & NOT_SERVING and greedy_wire.high == 4096
            assert host.unsent.of(address) == 0 and host.unsent.paused == 0

    run(body)


def test_a_connection_closed_with_replies_unsent_leaves_none_counted() -> None:
    """Aborted (a reset, a server that stops): its bytes leave the account as it closes."""
    async def body() -> None:
        with hosting(reply_buffer_max=4096, reply_buffer_max_per_address=4096) as host:
            conns = [connected(host) for _ in range(2)]
            for conn, _ in conns:
                conn.data_received(DISCOVER * 3)
            assert host.unsent.unsent > 8192 and host.unsent.paused == 2
            conns[0][0].abort()
            conns[1][0].shut_down(b"bye")  # (serving: not answered; closed as the lobby does)
            conns[1][0].abort()
            await next_pass()
            assert host.unsent.unsent == 0 and host.unsent.paused == 0
            assert all(conn.state is State.CLOSED for conn, _ in conns)

    run(body)


def test_what_a_push_leaves_unsent_while_a_request_waits_is_counted_again_at_a_deadline(
        ) -> None:
    """asyncio does not say when its buffer drains: the count is brought up to date at
    a deadline. In WAITING one runs while bytes are unsent (READING's, lapsing, started
    again as the client takes some), so that a drained buffer is not counted for as
    long as the request waits (a join: up to ``join_timeout``); once nothing is unsent,
    none runs."""
    async def body() -> None:
        with hosting() as host:
            mover_conn, ann, bob = two_players(host)
            conn, transport = connected(host)
            conn.data_received(frame({"type": "subscribe", "game": "TicTacToe", "session": "t",
                                      "player_id": ann["player_id"], "key": ann["key"],
                                      "observer": False}))
            current = replies(transport.take())[1]["data"]["current"]
            conn.data_received(DISCOVER + join("u", 2))  # ~18 kB the kernel does not all take
            assert conn.state is State.WAITING and host.unsent.of("192.0.2.7") > 4096
            transport.take(4096)  # a slow reader: a little
            pass_deadline(conn)  # READING's, lapsing: it starts again (the client took some)
            mover = ann if current == [ann["player_id"]] else bob
            mover_conn.send(move(mover, 4))
            host.run_soon()  # the push, behind the discover's reply
            assert replies(transport.take())[-1]["push"] == 1  # the client takes it all
            assert host.unsent.of("192.0.2.7") > 4096  # (asyncio has not said so)
            pass_deadline(conn)
            assert conn.state is State.WAITING and host.unsent.of("192.0.2.7") == 0
            pass_deadline(conn)  # (started again: the client took the rest meanwhile)
            assert conn.state is State.WAITING
            assert conn._timer is None  # nothing unsent: no deadline is needed


def test_a_waiting_request_whose_client_takes_none_of_its_replies_is_aborted() -> None:
    """READING's deadline lapses into WAITING; as it passes with none of the replies
    left unsent taken, the connection is aborted and the join's seat given back."""
    async def body() -> None:
        with hosting() as host:
            conn, transport = connected(host)
            conn.data_received(DISCOVER + join("u", 2))
            assert conn.state is State.WAITING and transport.buffer
            pass_deadline(conn)
            assert transport.aborted
            await next_pass()  # (asyncio's connection_lost)
            assert conn.state is State.CLOSED and ("TicTacToe", "u") not in host.lobby.sessions

    run(body)

    run(body)
