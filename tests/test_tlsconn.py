"""TLS connections (``_tlsconn``) without sockets.

The client is an ``ssl.SSLObject`` on two memory buffers, the transport
``tests.test_transportconn.MemoryTransport`` (a buffer that the test empties
as the client reads, pausing and resuming writing as asyncio's do), the
host a real lobby (``tests.test_connection.Host``), the handshake's steps
run on the threads of a real ``Handshakes``. A deadline "passes" when the
test says so. The same connections across real sockets are in
tests/test_server_keepalive.py and tests/test_server_limits.py.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gameserver._connection import REFUSED_DRAIN_MAX, REFUSED_QUIET
from gameserver._connhost import ConnectionRegistry
from gameserver._connstate import State
from gameserver._handshakes import Handshakes
from gameserver._tlsconn import TLSConnection
from gameserver.startup import tls_context
from tests.test_connection import DISCOVER, Host, hosting
from tests.test_transportconn import MemoryTransport, next_pass, pass_deadline, replies


class Client:
    """A TLS client on memory buffers, wired to one server connection."""

    def __init__(self, host: Host, cafile: str, context: ssl.SSLContext,
                 handshakes: Handshakes) -> None:
        self.transport = MemoryTransport()
        self.conn = TLSConnection(host, context, handshakes)  # type: ignore[arg-type]
        self.transport.protocol = self.conn
        self.conn.connection_made(self.transport)
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ssl.create_default_context(cafile=cafile).wrap_bio(
            self._in, self._out, server_hostname="localhost")
        self.ended = False  # the server's close_notify came

    def flush(self) -> None:
        """The client's records go to the server (while it reads)."""
        records = self._out.read()
        if records:
            assert not self.transport.reading_paused, "sent while the server does not read"
            self.conn.data_received(records)

    def pump(self, take: int | None = None) -> None:
        """Records both ways: the client's to the server, and ``take`` bytes (all if None)
        of the server's to the client."""
        self.flush()
        self._in.write(self.transport.take(take))

    async def handshake(self) -> None:
        for _ in range(10):
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                await stepped(self.conn)
                self.pump()
        self.flush()  # (TLS 1.3: the client's Finished)
        await stepped(self.conn)
        assert self.conn._ready

    def send(self, data: bytes) -> None:
        self.tls.write(data)
        self.flush()

    def close_notify(self) -> None:
        try:
            self.tls.unwrap()
        except ssl.SSLWantReadError:  # (the server's comes later)
            pass
        self.flush()

    def read(self, take: int | None = None) -> bytes:
        """The plain bytes of what the client took of the server's records."""
        self.pump(take)
        data = b""
        while True:
            try:
                chunk = self.tls.read(65536)
            except ssl.SSLWantReadError:
                return data
            except ssl.SSLZeroReturnError:
                self.ended = True
                return data
            if not chunk:
                self.ended = True
                return data
            data += chunk


async def stepped(conn: TLSConnection) -> None:
    """Wait until the handshake's step (on a thread) is back on the loop, if one runs."""
    for _ in range(10_000):  # (a step takes a few ms: this is only against a hang)
        if not conn._stepping:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the handshake's step did not come back")


def run(tls_pair: tuple[str, str], body: Callable[[Host, Callable[[], Client]], Awaitable[None]],
        **settings: Any) -> None:
    """Run ``body(host, connect)`` in an event loop; ``connect()`` makes a client."""
    cert, key = tls_pair
    context = tls_context(cert, key)

    async def main() -> None:
        handshakes = Handshakes(asyncio.get_running_loop(), 64, 8)
        try:
            with hosting(**settings) as host:
                await body(host, lambda: Client(host, cert, context, handshakes))
        finally:
            handshakes.close()

    asyncio.run(main())


# ---------------------------------------------------------------- requests and replies


def test_a_request_and_its_reply_travel_encrypted(tls_pair: tuple[str, str]) -> None:
    async def body(host: Host, connect: Callable[[], Client]) -> None:
        client = connect()
        await client.handshake()
        client.send(DISCOVER)
        records = bytes(client.transport.wire + client.transport.buffer)
        reply = client.read()
        assert replies(reply)[0]["status"] == "ok"
        assert reply[:40] not in records  # (what travelled was encrypted)
        assert client.conn.state is State.READING

    run(tls_pair, body)


def test_plain_json_to_a_tls_port_is_refused_in_plain_text_then_drained_to_its_end(
        tls_pair: tuple[str, str]) -> None:
    """A classic client without TLS: its first byte begins no TLS record, so it gets the
    server: error a plain port would give, in plain text (its bytes went to OpenSSL, whose
    failed handshake aborted the connection unanswered), then our FIN; what it still sends
    is dropped unread (never handed to OpenSSL) until its end."""
    async def body(host: Host, connect: Callable[[], Client]) -> None:
        client = connect()
        client.conn.data_received(DISCOVER)  # plain JSON to a TLS port
        assert not client.conn._stepping  # (no handshake step: nothing for a thread)
        assert json.loads(client.transport.take())["message"].startswith(
            "server: this port speaks TLS only")
        assert client.transport.eof_written and client.conn.state is State.DRAINING
        client.conn.data_received(b"the rest of it, whatever it is" * 100)
        assert not client.transport.wire and not client.transport.aborted
        assert client.conn.eof_received() is True  # the client's end: closed
        assert client.transport.closing and not client.transport.aborted
        await next_pass()
        assert client.conn.state is State.CLOSED and len(host.registry) == 0

    run(tls_pair, body)


def test_a_plain_client_quiet_after_its_answer_is_closed_and_one_that_keeps_sending_aborted(
        tls_pair: tuple[str, str]) -> None:
    """Answered NOT_TLS, a client that keeps its connection open and sends nothing more
    for REFUSED_QUIET has sent all it will: closed (not aborted: nothing unread, no reset),
    not held for connection_timeout. One that keeps sending stays drained, at most
    REFUSED_DRAIN_MAX after the refusal, then is aborted. (Time is moved by the test.)"""
    async def body(host: Host, connect: Callable[[], Client]) -> None:
        quiet = connect()
        quiet.conn.data_received(DISCOVER)
        assert quiet.conn._timer is not None and quiet.conn.state is State.DRAINING
        assert quiet.conn._timer.when() - asyncio.get_running_loop().time() <= REFUSED_QUIET
        quiet.conn._heard -= REFUSED_QUIET  # (quiet that long)
        pass_deadline(quiet.conn)
        assert quiet.conn.state is State.CLOSING and quiet.transport.closing
        assert not quiet.transport.aborted

        talker = connect()
        talker.conn.data_received(DISCOVER)
        talker.conn.data_received(b"more")  # (just now: not quiet)
        pass_deadline(talker.conn)
        assert talker.conn.state is State.DRAINING and not talker.transport.closing
        talker.conn._until -= 600  # (its drain is over)
        talker.conn.data_received(b"more")
        pass_deadline(talker.conn)
        assert talker.transport.aborted

    run(tls_pair, body, connection_timeout=600)


def test_bytes_that_are_neither_tls_nor_text_abort_the_connection(
        tls_pair: tuple[str, str]) -> None:
    async def body(host: Host, connect: Callable[[], Client]) -> None:
        client = connect()
        client.conn.data_received(b"\x00\x01\x02 not a TLS record" * 10)
        await stepped(client.conn)
        assert client.transport.aborted and not client.transport.wire
        await next_pass()  # (the transport reports it closed)
        assert client.conn.state is State.CLOSED and len(host.registry) == 0

    run(tls_pair, body)


def test_a_refusal_waits_for_the_handshake_then_what_comes_is_dropped_until_the_end(
        tls_pair: tuple[str, str]) -> None:
    """Beyond the limits: the refusal, our close_notify and FIN once the handshake ends,
    then the request the client sends right after its handshake is dropped unread (the
    connection was closed with it unread, and a large one reset it: the refusal lost)."""
    async def body(host: Host, connect: Callable[[], Client]) -> None:
        host.registry = ConnectionRegistry(100, 0)  # nobody may connect
        client = connect()
        assert client.conn.state is State.DRAINING and not client.transport.eof_written
        await client.handshake()
        client.send(b'{"type": "discover", "pad": "' + b"x" * 3000)
        assert b"too many connections from your address" in client.read()
        assert client.ended and client.transport.eof_written
        assert not client.transport.closing and client.conn.state is State.DRAINING
        assert client.conn.eof_received() is True  # the client's end: closed
        assert client.transport.closing and not client.transport.aborted

    run(tls_pair, body)


def test_a_request_too_large_is_refused_and_the_rest_dropped_until_the_clients_end(
        tls_pair: tuple[str, str]) -> None:
    """As on plain TCP: the refusal, our close_notify and FIN, then what the client still
    sends is dropped unread (closing with it unread would reset the connection before
    the client read its refusal), until the client's own end."""
    async def body(host: Host, connect: Callable[[], Client]) -> None:
        client = connect()
        await client.handshake()
        client.send(b'{"type": "discover", "pad": "' + b"x" * 3000)  # no end in sight
        assert client.conn.state is State.DRAINING
        assert json.loads(client.read())["message"] == (
            "server: request size exceeded by client")
        assert client.ended and client.transport.eof_written  # close_notify, then our FIN
        client.conn.data_received(b"the rest of it, whatever it is" * 100)
        assert not client.transport.aborted and client.conn.state is State.DRAINING
        assert client.conn.eof_received() is True  # the client's end: closed
        assert client.conn.state is State.CLOSING and client.transport.closing
        assert not client.transport.aborted

    run(tls_pair, body, request_size_max=1000)


def test_a_refused_client_that_never_ends_holds_no_memory_and_is_aborted_at_the_deadline(
        tls_pair: tuple[str, str]) -> None:
    """After our close_notify what comes (records, its close_notify, garbage) is not even
    buffered for decryption; a client that never sends its end, and never stops sending,
    is aborted once its drain is over (REFUSED_DRAIN_MAX)."""
    async def body(host: Host, connect: Callable[[], Client]) -> None:
        client = connect()
        await client.handshake()
        client.send(b'{"type": "discover", "pad": "' + b"x" * 3000)
        assert b"request size exceeded" in client.read() and client.ended
        for _ in range(100):  # 10 MB of records, then its close_notify, then not TLS at all
            client.send(b"x" * 100_000)
        client.close_notify()
        client.conn.data_received(b"not TLS" * 1000)
        assert client.conn._incoming.pending == 0 and client.conn.state is State.DRAINING
        assert not client.transport.closing
        pass_deadline(client.conn)  # it sent just now: drained on
        assert not client.transport.aborted and not client.transport.closing
        client.conn._until -= REFUSED_DRAIN_MAX  # its drain is over
        pass_deadline(client.conn)
        assert client.transport.aborted

    run(tls_pair, body, request_size_max=1000)


def test_a_handshake_not_ended_by_the_deadline_is_aborted(tls_pair: tuple[str, str]) -> None:
    async def body(host: Host, connect: Callable[[], Client]) -> None:
        client = connect()
        with pytest.raises(ssl.SSLWantReadError):
            client.tls.do_handshake()
        client.flush()  # the client's hello, the server's answer: then nothing more
        await stepped(client.conn)
        client.pump()
        pass_deadline(client.conn)  # (the server's answer went out: it does not count)
        assert client.transport.aborted

    run(tls_pair, body)


def test_a_fin_before_the_handshake_ends_aborts(tls_pair: tuple[str, str]) -> None:
    async def body(host: Host, connect: Callable[[], Client]) -> None:
        client = connect()
        with pytest.raises(ssl.SSLWantReadError):
            client.tls.do_handshake()
        client.flush()
        assert client.conn.eof_received() is True
        await stepped(client.conn)
        assert client.transport.aborted

    run(tls_pair, body)


# ---------------------------------------------------------------- the client's end


@pytest.mark.parametrize("ending", ["close_notify", "fin"])
def test_requests_before_the_clients_end_are_answered_then_the_server_closes(
        tls_pair: tuple[str, str], ending: str) -> None:
    async def body(host: Host, connect: Callable[[], Client]) -> None:
        client = connect()
        await client.handshake()
        client.tls.write(DISCOVER * 2)
        if ending == "close_notify":
            client.close_notify()  # requests and the end in one write
        else:
            client.flush()
            assert client.conn.eof_received() is True  # (the transport stays open)
        assert client.conn.state is State.CLOSING and client.transport.closing
        assert [reply["status"] for reply in replies(client.read())] == ["ok", "ok"]
        assert client.ended  # the server's close_notify came last

    run(tls_pair, body)


def test_records_read_while_output_is_full_wait_with_the_end_behind_them(
        tls_pair: tuple[str, str]) -> None:
    """Replies not taken pause reading: the requests (and the close_notify) already in
    the TLS buffer are served once the client takes its replies, in order, then the
    close."""
    count = 6

    async def body(host: Host, connect: Callable[[], Client]) -> None:
        client = connect()
        await client.handshake()
        client.tls.write(DISCOVER * count)
        client.close_notify()
        assert client.transport.reading_paused and client.conn.state is State.READING
        received = b""
        for _ in range(100):
            received += client.read()
            await next_pass()
            if client.ended:
                break
        assert [reply["status"] for reply in replies(received)] == ["ok"] * count
        assert client.ended and client.conn.state is State.CLOSED
        assert not client.transport.aborted

    run(tls_pair, body, reply_buffer_max=4096)


# ---------------------------------------------------------------- deadlines


def test_an_idle_client_after_its_handshake_is_timed_out_at_the_first_deadline(
        tls_pair: tuple[str, str]) -> None:
    """The handshake's records went straight out: they are not replies a slow client
    took, which would start the deadline again."""
    async def body(host: Host, connect: Callable[[], Client]) -> None:
        client = connect()
        await client.handshake()
        client.read()
        pass_deadline(client.conn)
        assert client.conn.state is State.CLOSING
        assert "timed out" in json.loads(client.read())["message"]
        assert client.ended

    run(tls_pair, body)


def test_a_client_that_takes_part_of_its_replies_is_alive_until_it_takes_none(
        tls_pair: tuple[str, str]) -> None:
    async def body(host: Host, connect: Callable[[], Client]) -> None:
        client = connect()
        await client.handshake()
        client.read()
        client.send(DISCOVER * 3)  # ~60 KB of replies, more than the buffer's limit
        assert client.conn._paused  # the client takes nothing yet
        for _ in range(3):
            client.read(take=1000)  # a slow reader
            pass_deadline(client.conn)
            assert client.conn.state is State.READING and client.conn._timer is not None
        pass_deadline(client.conn)  # it took nothing since
        assert client.conn.state is State.CLOSING

    run(tls_pair, body, reply_buffer_max=4096)
