"""Replies held for their save (``_held.py``), on a connection without sockets.

A ``SavingHost`` makes Echo moves wait for a "commit" the test lands, as
the store makes them wait; the connection is ``tests.test_connection``'s
``MemoryConnection`` in front of the real lobby. Across real sockets with a
slow disk: tests/test_server_keepalive.py, tests/test_server_unsent.py.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from gameserver._connstate import UNSENT_FULL, State
from gameserver.framing import TERMINATOR
from gameserver.waits import Wait
from tests.test_connection import DISCOVER, Host, MemoryConnection, frame, hosting, join


class SavingHost(Host):
    """A host whose Echo moves wait for a commit, as the store makes them wait.

    Only the waiting is the store's stand-in (``Wait(saving=True)``, woken
    with ``now=True`` by ``commit``); the replies are the real lobby's.
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.unsaved: list[Wait] = []
        self.handle = self.saving_handle

    def saving_handle(self, request: Any, client: str) -> Any:
        reply = self.lobby.handle(request, client)
        if request.kind != "move" or not isinstance(reply, bytes):
            return reply
        wait = Wait(lambda: reply, saving=True, size=len(reply))
        self.unsaved.append(wait)
        return wait

    def commit(self) -> None:
        """The commit lands: wake every reply that waited for it, in order."""
        unsaved, self.unsaved = self.unsaved, []
        for wait in unsaved:
            wait.wake(now=True)


def saving_host(**settings: Any) -> contextlib.AbstractContextManager[SavingHost]:
    return hosting(SavingHost, **settings)


class CountingConnection(MemoryConnection):
    """Counts the transport's writes: held replies go out together, in one."""

    __slots__ = ("writes",)

    def __init__(self, host: Host) -> None:
        self.writes = 0
        super().__init__(host)

    def _write(self, data: bytes) -> None:
        self.writes += 1
        super()._write(data)


def echo(session: str, key: str, msg: Any) -> bytes:
    return frame({"type": "move", "game": "Echo", "session": session, "player_id": 0,
                  "key": key, "move": {"msg": msg}})


def echo_state(session: str, key: str) -> bytes:
    return frame({"type": "state", "game": "Echo", "session": session, "player_id": 0,
                  "key": key, "observer": False})


def echo_players(host: Host, conn: MemoryConnection, count: int) -> list[str]:
    """``count`` one-player Echo sessions e0, e1, ... joined on ``conn``; their keys."""
    conn.send(b"".join(join(f"e{i}", 1) for i in range(count)))
    host.run_soon()
    conn.take()
    keys = [reply["data"]["key"] for reply in conn.replies()[-count:]]
    conn.received.clear()
    return keys


def test_requests_sent_together_are_all_served_before_their_save_lands() -> None:
    """Sixteen moves in one packet: all played in this pass, all saved by one commit."""
    with saving_host() as host:
        conn = CountingConnection(host)
        keys = echo_players(host, conn, 16)
        writes = conn.writes
        conn.send(b"".join(echo(f"e{i}", key, i) for i, key in enumerate(keys)))
        assert len(host.unsaved) == 16  # every move was played in this pass ...
        assert conn.unsent == b"" and conn.state is State.READING  # ... none answered yet
        host.commit()
        assert conn.writes == writes + 1  # one write for the sixteen
        conn.take()
        assert conn.replies() == [{"status": "ok", "data": None}] * 16


def test_a_reply_that_needs_no_save_waits_behind_one_that_does() -> None:
    with saving_host() as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        conn.send(echo("e0", key, "a") + DISCOVER + echo_state("e0", key))
        assert conn.unsent == b""  # the discover's reply is ready, but behind the move's
        host.commit()
        conn.take()
        move_reply, discover, state_reply = conn.replies()
        assert move_reply == {"status": "ok", "data": None}
        assert "TicTacToe" in json.dumps(discover)
        assert state_reply["data"]["echo"] == "a"


def test_replies_held_for_their_save_are_bounded_like_unsent_ones() -> None:
    """A client that pipelines moves faster than they are saved holds at most
    ``reply_buffer_max`` (and one reply) of held replies; then reading stops."""
    limit = 4096
    with saving_host(reply_buffer_max=limit) as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        conn.send(echo("e0", key, "x" * 400) * 100)
        served = len(host.unsaved)
        assert 0 < served < 100 and not conn.reading
        assert conn._held_bytes <= limit + 400 + 600  # the bound, and one reply
        while host.unsaved:  # each commit lets the next ones be served
            host.commit()
            assert conn._held_bytes <= limit + 1000
            conn.take()
        assert len(conn.replies()) == 100 and conn.reading


def test_a_large_held_reply_counts_its_size_towards_the_bound() -> None:
    """A move with state whose reply alone is above ``reply_buffer_max``: reading stops
    behind it, as it would behind as many bytes unsent; its save lets the next one on."""
    limit = 4096
    with saving_host(reply_buffer_max=limit) as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        big = frame({"type": "move", "game": "Echo", "session": "e0", "player_id": 0,
                     "key": key, "move": {"msg": "x" * limit}, "with_state": True})
        conn.send(big + big)
        assert len(host.unsaved) == 1 and not conn.reading  # the second one waits
        host.commit()
        conn.take()  # (the first reply is above the bound of unsent replies too)
        assert len(host.unsaved) == 1  # served once the first went out
        host.commit()
        conn.take()
        assert [len(reply["state"]["echo"]) for reply in conn.replies()] == [limit, limit]
        assert conn.reading


def test_a_classic_request_behind_held_replies_closes_after_them() -> None:
    with saving_host() as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        conn.send(echo("e0", key, 1) + frame({"type": "discover"}, keep_alive=False))
        assert conn.state is State.CLOSING and not conn.closing and conn.unsent == b""
        host.commit()
        data = conn.take()
        first, _, last = data.partition(TERMINATOR)
        assert json.loads(first) == {"status": "ok", "data": None}
        assert "TicTacToe" in last.decode() and conn.state is State.CLOSED


def test_a_client_that_hangs_up_still_gets_its_held_replies_then_the_close() -> None:
    with saving_host() as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        conn.send(echo("e0", key, 1) + echo("e0", key, 2))
        conn._eof()
        assert conn.state is State.CLOSING and not conn.closing
        host.commit()
        conn.take()
        assert len(conn.replies()) == 2 and conn.state is State.CLOSED


def test_a_connection_gone_drops_its_held_replies() -> None:
    with saving_host() as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        conn.send(echo("e0", key, 1))
        [wait] = host.unsaved
        conn._abort()
        assert conn.state is State.CLOSED and conn._held is None and wait.cancelled
        host.commit()  # nothing is written after the close
        assert conn.unsent == b""


def test_a_slow_save_does_not_time_a_connection_out() -> None:
    with saving_host() as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        conn.send(echo("e0", key, 1))
        conn._timed_out()  # the disk takes longer than connection_timeout
        assert conn.state is State.READING and conn.deadline == 60.0
        host.commit()
        conn.take()
        assert conn.replies() == [{"status": "ok", "data": None}]


def test_a_reply_saved_in_a_later_commit_does_not_hold_back_an_earlier_one() -> None:
    """Two moves in two reads: the first reply goes out one loop pass after its commit."""
    with saving_host() as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        conn.send(echo("e0", key, 1))
        first = host.unsaved.pop()
        conn.send(echo("e0", key, 2))
        first.wake(now=True)  # the first commit; the second move waits for the next
        host.run_soon()
        conn.take()
        assert conn.replies() == [{"status": "ok", "data": None}]
        host.commit()
        conn.take()
        assert len(conn.replies()) == 2


def test_a_slow_save_does_not_time_out_requests_that_wait_behind_held_replies() -> None:
    """Held replies filled the bound (HELD_FULL): the client's next requests wait in
    the reader, unread through no fault of its own, while the disk is slow."""
    with saving_host(reply_buffer_max=4096) as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        conn.send(echo("e0", key, "x" * 400) * 30)
        assert not conn.reading and conn._reader.pending  # the rest waits for the save
        conn._timed_out()  # the disk takes longer than connection_timeout
        assert conn.state is State.READING and not conn.closing
        while host.unsaved:
            host.commit()
            conn.take()
        assert conn.replies() == [{"status": "ok", "data": None}] * 30


def test_a_client_that_reads_nothing_is_timed_out_though_replies_are_held() -> None:
    """Replies saved but not sent (the client reads nothing) are not a slow disk:
    the deadline closes the connection as it closes any client that does not read."""
    with saving_host(reply_buffer_max=4096) as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        conn.send(echo("e0", key, "x" * 2500))
        host.commit()
        conn.send(echo_state("e0", key))  # 2.5 kB unread
        conn.send(echo("e0", key, "y" * 2500) + echo_state("e0", key) + echo("e0", key, 2))
        first, second = host.unsaved
        first.wake(now=True)  # the first commit: its replies fill the client's buffer
        host.run_soon()
        assert conn.paused_for_output
        second.wake(now=True)  # the second commit: its reply stays held (output is full)
        assert conn._held is not None and not conn._reader.pending
        conn._timed_out()
        assert conn.state is State.CLOSING  # not kept open forever
        conn._timed_out()  # the client still does not read
        assert conn.state is State.CLOSED and conn.aborted


def test_a_hang_up_behind_held_replies_stops_reading() -> None:
    """CLOSING reads nothing (the table at the top of ``_connstate.py``), held replies
    or not: a socket at its end stays readable, and reading it would spin the loop."""
    with saving_host() as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        conn.send(echo("e0", key, 1))
        conn._eof()
        assert conn.state is State.CLOSING and not conn.reading
        host.commit()
        conn.take()
        assert conn.replies() == [{"status": "ok", "data": None}] and conn.state is State.CLOSED


@pytest.mark.parametrize("ending", ["classic", "refused"])
def test_a_slow_save_does_not_abort_the_last_reply_behind_held_ones(ending: str) -> None:
    """A classic request (or one too large) behind a held reply: the connection is
    CLOSING (DRAINING) before anything of it is written; a save slower than
    connection_timeout must not abort it, as it does not time out READING."""
    with saving_host(request_size_max=1000) as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        last = frame({"type": "discover"}, keep_alive=False) if ending == "classic" else (
            b"x" * 1001)
        conn.send(echo("e0", key, 1) + last)
        assert conn.state in (State.CLOSING, State.DRAINING) and conn.unsent == b""
        conn._timed_out()  # the disk takes longer than connection_timeout
        assert not conn.aborted
        host.commit()
        first, _, rest = conn.take().partition(TERMINATOR)
        assert json.loads(first) == {"status": "ok", "data": None}
        assert json.loads(rest)["status"] == ("ok" if ending == "classic" else "error")


def test_a_held_reply_whose_save_gives_another_wait_waits_for_that_one_too() -> None:
    """Not what the store does (a save's resume gives bytes), but the queue holds on."""
    with saving_host() as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        conn.send(echo("e0", key, 1) + DISCOVER)
        [first] = host.unsaved
        second = Wait(lambda: b'{"status": "ok", "data": "second"}', saving=True)
        first._resume = lambda: second
        host.commit()
        assert conn.unsent == b""  # the move's reply is a second wait now; the discover waits
        second.wake(now=True)
        conn.take()
        assert [reply["data"] for reply in conn.replies()][0] == "second"
        assert len(conn.replies()) == 2


def test_serving_goes_on_once_held_replies_are_down_to_a_quarter_of_the_bound() -> None:
    """Not only when the queue is empty: a few replies still held do not stop the client."""
    limit = 4096
    with saving_host(reply_buffer_max=limit) as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        conn.send(echo("e0", key, 1) * 40)
        held = host.unsaved
        assert not conn.reading and len(held) < 40
        host.unsaved = []
        for wait in held[:-1]:  # every save lands but the last one's
            wait.wake(now=True)
        host.run_soon()
        assert not held[-1].woken and conn._held is not None  # one reply still held ...
        assert host.unsaved  # ... and the next moves were served meanwhile
        held[-1].wake(now=True)
        while host.unsaved:
            host.commit()
            conn.take()
        assert len(conn.replies()) == 40


# ---------------------------------------------------------------- counted for the address


def test_replies_held_for_their_save_count_for_the_address_and_a_slow_disk_ends_nobody(
        ) -> None:
    """Held replies beyond ``held_free`` count towards the address's bound (they did not:
    each connection held up to ``reply_buffer_max``, whatever its address held): the
    connection that passes it stops serving. A slow disk is not its client's fault: its
    deadline does not end it (not even with its next requests unread); the commit lets
    it go on."""
    limit = 32 * 1024
    with saving_host(reply_buffer_max=limit, reply_buffer_max_per_address=limit) as host:
        first, second = MemoryConnection(host), MemoryConnection(host)  # one address
        keys = echo_players(host, first, 2)
        first.send(echo("e0", keys[0], 1) * 40)  # ~21 kB held: counted, within the bound
        assert len(host.unsaved) == 40 and host.unsent.of("192.0.2.1") == first._held_bytes
        second.send(echo("e1", keys[1], 2) * 40)
        assert host.unsent.of("192.0.2.1") > limit and second._paused & UNSENT_FULL
        assert len(host.unsaved) < 80 and second._reader.pending  # the rest waits unread
        for conn in (first, second):
            conn._timed_out()  # the disk takes longer than connection_timeout
            assert conn.state is State.READING and not conn.closing and conn.deadline == 60.0
        while host.unsaved:  # each commit lets the rest be served
            host.commit()
            host.run_soon()
        for conn in (first, second):
            conn.take()
            assert conn.replies() == [{"status": "ok", "data": None}] * 40
        assert (host.unsent.unsent, host.unsent.paused) == (0, 0)


def test_held_replies_that_counted_leave_the_account_as_the_connection_closes() -> None:
    with saving_host() as host:
        conn = MemoryConnection(host)
        [key] = echo_players(host, conn, 1)
        conn.send(echo("e0", key, 1) * 40)  # ~21 kB held
        assert host.unsent.unsent == conn._held_bytes > host.unsent.held_free
        conn._abort()
        assert conn._held is None and (host.unsent.unsent, host.unsent.paused) == (0, 0)
