"""A connection's rules, without sockets.

``BaseConnection`` is driven through an in-memory transport
(``MemoryConnection``: written bytes wait in a list until the test's
"client" takes them) in front of the real lobby with the bundled games, so
every rule of ``_connection.py`` (keep-alive, waiting, refusals, deadlines,
flow control) is shown with bytes and calls alone, without an event loop:
what the loop would run "soon" (a woken wait's resume) waits in a list
until the test runs it. The same rules across real sockets are in
``tests/test_server_*.py``; the table of states in tests/test_connstate.py,
replies held for their save in tests/test_held.py.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from gameserver import registry
from gameserver._connection import (
    REFUSED_DRAIN_MAX,
    REFUSED_QUIET,
    BaseConnection,
    short_deadline,
)
from gameserver._connhost import ConnectionRegistry
from gameserver._connstate import TIMED, TRANSITIONS, UNSENT_FULL, Event, State
from gameserver._unsent import UnsentReplies
from gameserver.checked import game_types
from gameserver.config import Settings
from gameserver.framing import TERMINATOR
from gameserver.guard import GameGuard
from gameserver.lobby import Lobby, LobbyLimits
from gameserver.metrics import Metrics

BUNDLED = registry.discover([])

# ---------------------------------------------------------------- a connection in memory


class Host:
    """What a connection needs (``ConnectionHost``), around a real lobby."""

    def __init__(self, **settings: Any) -> None:
        self.settings = Settings(**settings)
        self.registry = ConnectionRegistry(100, 100)
        self.unsent = UnsentReplies(self.settings.reply_buffer_max_per_address,
                                    self.settings.reply_buffer_max_total,
                                    self.settings.reply_buffer_max)
        self.metrics = Metrics()
        self.log_requests = False
        self.guard = GameGuard()
        self.lobby = Lobby(game_types(BUNDLED, self.guard), LobbyLimits(
            request_size_max=self.settings.request_size_max))
        self.handle = self.lobby.handle
        self.subscribe = self.lobby.subscribe
        self.resume = self.lobby.call
        self.soon: list[Callable[[], object]] = []

    def call_soon(self, callback: Callable[[], object]) -> None:
        self.soon.append(callback)

    def run_soon(self) -> None:
        """Run what the event loop would run next (woken waits resume)."""
        while self.soon:
            self.soon.pop(0)()


class MemoryConnection(BaseConnection):
    """A connection whose transport is memory: the test plays the client and the kernel."""

    __slots__ = ("unsent", "received", "reading", "half_closed", "closing", "aborted",
                 "deadline")

    def __init__(self, host: Host, address: str = "192.0.2.1") -> None:
        super().__init__(host)  # type: ignore[arg-type]
        self.unsent = bytearray()  # written, not yet taken by the client
        self.received = bytearray()  # taken by the client
        self.reading = True
        self.half_closed = self.closing = self.aborted = False
        self.deadline: float | None = None
        self._opened(address)
        self._set_deadline(host.settings.connection_timeout)

    # the client's side
    def send(self, data: bytes) -> None:
        assert self.reading, "the client sends while the server does not read"
        self._received(data)

    def take(self, size: int | None = None) -> bytes:
        """The client reads ``size`` bytes (all if None) of what the server wrote."""
        size = len(self.unsent) if size is None else size
        data = bytes(self.unsent[:size])
        del self.unsent[:size]
        self.received += data
        limit = self._host.settings.reply_buffer_max
        if self.closing and not self.unsent:
            self._gone()
        elif self.paused_for_output and len(self.unsent) <= limit // 4:
            self._writing_resumed()
        return data

    def replies(self) -> list[Any]:
        """Every kept-alive reply the client has taken so far, decoded."""
        return [json.loads(part) for part in bytes(self.received).split(TERMINATOR)[:-1]]

    @property
    def paused_for_output(self) -> bool:
        return bool(self._paused & 1)

    # the transport
    def _write(self, data: bytes) -> None:
        assert not self.closing and not self.aborted, "written after the close"
        self.unsent += data
        limit = self._host.settings.reply_buffer_max
        if len(self.unsent) > limit and not self.paused_for_output:
            self._writing_paused()

    def _close(self) -> None:
        self.closing = True
        self.reading = False
        if not self.unsent:
            self._gone()

    def _can_half_close(self) -> bool:
        return True

    def _half_close(self) -> None:
        self.half_closed = True

    def _abort(self) -> None:
        self.aborted = True
        self.unsent.clear()
        self._gone()

    def _set_deadline(self, seconds: float | None) -> None:
        self.deadline = seconds

    def _set_short_deadline(self) -> None:
        self.deadline = short_deadline(self._host.settings)

    def _pause_reading(self) -> None:
        self.reading = False

    def _resume_reading(self) -> None:
        self.reading = True


HostT = TypeVar("HostT", bound="Host")


@contextlib.contextmanager
def hosting(host_type: type[HostT] | None = None, /, **settings: Any) -> Iterator[HostT]:
    """A fresh host (a ``Host``, or of ``host_type``) with these settings (the guard's
    thread is stopped afterwards)."""
    host = (host_type or Host)(**settings)
    try:
        yield host  # type: ignore[misc]
    finally:
        host.guard.close()


def frame(data: dict[str, Any], keep_alive: bool = True) -> bytes:
    if keep_alive:
        data = {**data, "keep_alive": True}
    return json.dumps(data).encode() + TERMINATOR


def join(session: str, players: int, keep_alive: bool = True, name: str = "") -> bytes:
    return frame({"type": "join", "game": "TicTacToe" if players == 2 else "Echo",
                  "session": session, "players": players, "name": name}, keep_alive)


def state(player: dict[str, Any], keep_alive: bool = True) -> bytes:
    return frame({"type": "state", "game": "TicTacToe", "session": "t",
                  "player_id": player["player_id"], "key": player["key"],
                  "observer": False}, keep_alive)


def move(player: dict[str, Any], position: int) -> bytes:
    return frame({"type": "move", "game": "TicTacToe", "session": "t",
                  "player_id": player["player_id"], "key": player["key"],
                  "move": {"position": position}})


DISCOVER = frame({"type": "discover"})


def two_players(host: Host) -> tuple[MemoryConnection, dict[str, Any], dict[str, Any]]:
    """A kept-alive connection per player of TicTacToe session "t"; both have joined."""
    first, second = MemoryConnection(host), MemoryConnection(host)
    first.send(join("t", 2))
    second.send(join("t", 2))
    host.run_soon()
    first.take()
    second.take()
    return first, first.replies()[0]["data"], second.replies()[0]["data"]


# ---------------------------------------------------------------- requests and replies


def test_a_classic_request_is_answered_then_the_connection_closes() -> None:
    with hosting() as host:
        conn = MemoryConnection(host)
        assert conn.state is State.READING and conn.deadline == 60.0
        conn.send(join("e", 1, keep_alive=False))
        assert conn.state is State.CLOSING  # the reply waits for the client
        assert json.loads(conn.take())["data"]["player_id"] == 0
        assert conn.state is State.CLOSED and len(host.registry) == 0
        assert host.metrics.requests["join", "ok"] == 1


def test_kept_alive_requests_that_came_together_are_answered_in_turn() -> None:
    with hosting() as host:
        conn = MemoryConnection(host)
        conn.send(DISCOVER + join("e", 1) + DISCOVER[:10])
        conn.take()
        assert [r["status"] for r in conn.replies()] == ["ok", "ok"]
        assert conn.state is State.READING and conn.deadline == 60.0
        conn.send(DISCOVER[10:])
        conn.take()
        assert len(conn.replies()) == 3


def test_a_kept_alive_reply_starts_the_deadline_of_reading_as_the_table_says() -> None:
    # _serve and _answer take REQUEST and REPLIED inline, not through _go: as the table
    # says, SERVING sets no deadline and READING sets one.
    assert TRANSITIONS[State.READING][Event.REQUEST] is State.SERVING not in TIMED
    assert TRANSITIONS[State.SERVING][Event.REPLIED] is State.READING in TIMED
    with hosting() as host:
        conn = MemoryConnection(host)
        conn.deadline = None  # (so that the reply's is seen)
        conn.send(DISCOVER)
        assert conn.state is State.READING and conn.deadline == 60.0
        conn.take()
        assert [r["status"] for r in conn.replies()] == ["ok"]


def test_a_waiting_request_is_ended_by_no_deadline_and_is_answered_when_woken() -> None:
    with hosting() as host:
        first = MemoryConnection(host)
        first.send(join("t", 2))
        assert first.state is State.WAITING
        first._timed_out()  # READING's deadline, left to lapse (``_go``): it ends nothing
        assert first.state is State.WAITING and first.unsent == b"" and not first.closing
        second = MemoryConnection(host)
        second.send(join("t", 2))
        assert first.unsent == b""  # resumed soon, never inside the other request
        host.run_soon()
        assert first.state is State.READING and first.deadline == 60.0
        assert first.take().endswith(TERMINATOR)


def test_a_client_that_leaves_while_waiting_lets_go_of_its_wait() -> None:
    with hosting() as host:
        first, me, _ = two_players(host)
        session = host.lobby.sessions["TicTacToe", "t"]
        first.send(state(me))  # the first state returns at once; the second waits
        first.take()
        first.send(state(me))
        assert first.state is State.WAITING and session.waiting == 1
        first._eof()
        assert first.state is State.CLOSED and session.waiting == 0


def test_in_classic_mode_bytes_after_the_request_are_ignored() -> None:
    with hosting() as host:
        conn = MemoryConnection(host)
        conn.send(join("t", 2, keep_alive=False))
        conn.send(b"x" * 5_000)
        assert conn.state is State.WAITING and conn._reader.pending == 0


def test_shutting_down_answers_connections_between_requests_only() -> None:
    with hosting() as host:
        idle, waiting = MemoryConnection(host), MemoryConnection(host)
        waiting.send(join("t", 2))
        for conn in (idle, waiting):
            conn.shut_down(b"bye")
        assert idle.take() == b"bye" and idle.state is State.CLOSED
        assert waiting.state is State.WAITING  # the lobby answers it as it closes
        host.lobby.close()
        host.run_soon()
        assert "shutting down" in waiting.take().decode()


# ---------------------------------------------------------------- deadlines and refusals


def test_an_incomplete_request_times_out_with_a_reply() -> None:
    with hosting() as host:
        conn = MemoryConnection(host)
        conn.send(DISCOVER[:5])
        conn._timed_out()
        assert json.loads(conn.take())["message"] == "server: connection timed out on server"
        assert conn.state is State.CLOSED


def test_an_idle_kept_alive_connection_times_out_without_a_reply() -> None:
    with hosting() as host:
        conn = MemoryConnection(host)
        conn.send(DISCOVER)
        conn.take()
        conn._timed_out()
        assert conn.state is State.CLOSED and conn.take() == b""


def test_a_reply_never_taken_is_abandoned_at_the_next_deadline() -> None:
    with hosting() as host:
        conn = MemoryConnection(host)
        conn.send(frame({"type": "discover"}, keep_alive=False))
        assert conn.state is State.CLOSING and conn.deadline == 60.0
        conn._timed_out()
        assert conn.aborted and conn.state is State.CLOSED


def test_a_request_too_large_is_refused_and_what_follows_is_dropped() -> None:
    with hosting(request_size_max=1_000) as host:
        conn = MemoryConnection(host)
        conn.send(b"x" * 2_000)
        assert conn.state is State.DRAINING and conn.half_closed and conn.reading
        assert json.loads(conn.take())["message"] == "server: request size exceeded by client"
        conn.send(b"y" * 2_000)
        assert conn._reader.pending == 0 and conn.take() == b""
        assert conn.deadline == REFUSED_QUIET  # (a short one: not connection_timeout)
        conn._eof()  # the client closes in turn
        assert conn.state is State.CLOSED


def test_a_refused_client_quiet_after_its_refusal_is_closed_soon_not_aborted() -> None:
    """Its refusal and our FIN are out; a client that sends nothing more for
    REFUSED_QUIET has sent all it will: closed (nothing unread, so no reset destroys the
    refusal), not drained for the whole connection_timeout as before 2026-12-01 (a
    deadline of 60 s, and a client that kept its socket open held it that long).
    (Time is moved by the test.)"""
    with hosting(request_size_max=1_000) as host:
        conn = MemoryConnection(host)
        conn.send(b"x" * 2_000)
        conn.send(b"y" * 100)
        conn._timed_out()  # the first short deadline: it sent just now
        assert conn.state is State.DRAINING and not conn.closing
        assert conn.deadline == REFUSED_QUIET
        conn._heard -= REFUSED_QUIET  # quiet that long
        conn._timed_out()
        assert conn.state is State.CLOSING and conn.closing and not conn.aborted
        assert "request size exceeded" in conn.take().decode()  # (then it is closed)
        assert conn.state is State.CLOSED


def test_a_refused_client_that_goes_on_sending_is_aborted_when_its_drain_is_over() -> None:
    """However much it sends, at most REFUSED_DRAIN_MAX after its refusal (not a whole
    connection_timeout from then, after up to one before it: about twice that in all)."""
    with hosting(request_size_max=1_000) as host:
        conn = MemoryConnection(host)
        conn.send(b"x" * 2_000)
        assert conn._until - conn._heard == REFUSED_DRAIN_MAX < 60
        conn._until -= REFUSED_DRAIN_MAX  # its drain is over
        conn.send(b"y")  # (not quiet)
        conn._timed_out()
        assert conn.aborted and conn.state is State.CLOSED
    with hosting(request_size_max=1_000, connection_timeout=1.0) as host:
        conn = MemoryConnection(host)  # a server whose connection_timeout is shorter
        conn.send(b"x" * 2_000)
        assert conn._until - conn._heard == 1.0 and conn.deadline == 1.0


def test_a_connection_refused_for_the_limits_drains_briefly_too() -> None:
    """Refused for the limits (set aside at once), it drains as any refusal: closed once
    quiet, not held for connection_timeout among the few refused ones kept open."""
    with hosting() as host:
        host.registry = ConnectionRegistry(100, 1)
        MemoryConnection(host)
        conn = MemoryConnection(host)
        refusal = conn._refusal()
        assert refusal is not None
        conn._refuse_beyond_limits(refusal)
        assert conn.state is State.DRAINING and conn.deadline == REFUSED_QUIET
        assert host.registry.refused_open == 1
        conn._heard -= REFUSED_QUIET
        conn._timed_out()
        assert conn.closing and not conn.aborted
        assert "too many connections from your address" in conn.take().decode()
        assert conn.state is State.CLOSED and host.registry.refused_open == 0


# ---------------------------------------------------------------- flow control


def test_replies_not_taken_stop_reading_and_serving_until_the_client_reads() -> None:
    """Pipelined discovers (~18 kB each), never read: at most one reply beyond the bound."""
    limit = 4096

    with hosting(reply_buffer_max=limit) as host:
        conn = MemoryConnection(host)
        count = 50
        conn.send(DISCOVER * count)
        assert not conn.reading and conn.paused_for_output
        one_reply = len(conn.unsent)
        assert one_reply > limit  # so the first reply alone paused it
        assert host.metrics.requests["discover", "ok"] == 1  # the rest wait, unserved
        while host.metrics.requests["discover", "ok"] < count:
            assert conn.unsent, "nothing left to read, and the server does not go on"
            assert len(conn.unsent) <= limit + one_reply
            conn.take(1000)  # a slow reader
        conn.take()
        assert len(conn.replies()) == count and conn.reading
        assert conn.state is State.READING


def test_requests_sent_while_one_waits_are_held_back_by_pausing_not_refused() -> None:
    """A request's worth of pipelined requests behind a waiting one: reading pauses."""
    with hosting(request_size_max=1_000) as host:
        _, ann, bob = two_players(host)
        conn = MemoryConnection(host)
        conn.send(state(ann))  # at once: ann has not seen this game yet
        current = json.loads(conn.take()[: -len(TERMINATOR)])["data"]["current"]
        conn.send(state(ann))  # waits for a move
        assert conn.state is State.WAITING
        conn.send(state(ann) * (1_000 // len(state(ann)) + 1))  # more than request_size_max
        assert not conn.reading and conn.state is State.WAITING
        mover = ann if current == [ann["player_id"]] else bob
        MemoryConnection(host).send(move(mover, 4))
        host.run_soon()
        # Woken, answered; the next buffered state waits again, below the limit: reading.
        assert conn.reading and conn.state is State.WAITING
        conn.take()
        assert [reply["status"] for reply in conn.replies()] == ["ok", "ok"]


# ---------------------------------------------------------------- replies unsent, per address


class ReportingConnection(MemoryConnection):
    """Reports what it leaves unsent as raw sockets do (``_unsent.py``): after a write
    that leaves bytes, as the client takes them, and as 0 when it closes."""

    __slots__ = ()

    def _write(self, data: bytes) -> None:
        super()._write(data)
        self._unsent_now(len(self.unsent))

    def take(self, size: int | None = None) -> bytes:
        data = super().take(size)
        if data and self._unsent:
            self._unsent_now(len(self.unsent))
        return data

    def _gone(self) -> None:
        self._unsent_gone()
        super()._gone()


def test_a_subscriber_paused_for_its_address_that_takes_nothing_is_timed_out() -> None:
    """Paused for its address (``UNSENT_FULL``) below its own bound, a subscriber pushes
    nothing more, so it would never pass its own bound (``OUTPUT_FULL``): it too is a
    client that takes nothing, ended at its deadline, and its bytes leave the count.
    (It was kept for ever as "waiting for pushes", and its address stayed full.)"""
    limit = 64 * 1024
    with hosting(reply_buffer_max=limit, reply_buffer_max_per_address=limit) as host:
        _, ann, _ = two_players(host)
        subscriber = ReportingConnection(host)
        subscriber.send(frame({"type": "subscribe", "game": "TicTacToe", "session": "t",
                               "player_id": ann["player_id"], "key": ann["key"],
                               "observer": False}))
        subscriber.take()  # its reply and the state pushed
        subscriber.send(DISCOVER * 2)  # ~36 kB it does not take: above a quarter of the bound
        greedy = ReportingConnection(host)  # the same address
        greedy.send(DISCOVER * 10)
        assert host.unsent.of("192.0.2.1") > limit and greedy._paused & UNSENT_FULL
        subscriber.send(DISCOVER)  # its next write tells it: paused, below its own bound
        assert subscriber._paused & UNSENT_FULL and not subscriber.paused_for_output
        greedy._timed_out()  # "timed out", then aborted: the greedy one is gone
        greedy._timed_out()
        assert greedy.state is State.CLOSED and host.unsent.of("192.0.2.1") > limit // 4
        subscriber._timed_out()
        assert subscriber.state is State.CLOSING  # was: READING, its deadline set again
        subscriber._timed_out()
        assert subscriber.aborted and subscriber.state is State.CLOSED
        assert host.unsent.unsent == 0 and host.unsent.paused == 0


def test_the_replies_unsent_of_one_ipv6_host_count_together_by_its_64() -> None:
    """Each connection from another address of one /64 had a bound of its own: one host
    could leave reply_buffer_max_per_address unsent per address it took, unbounded."""
    limit = 64 * 1024
    with hosting(reply_buffer_max=limit, reply_buffer_max_per_address=limit) as host:
        greedy = ReportingConnection(host, "2001:db8::1")
        greedy.send(DISCOVER * 10)  # ~180 kB it does not take
        assert host.unsent.of("2001:db8::/64") > limit
        other = ReportingConnection(host, "2001:db8::2")  # the same host, another address
        other.send(DISCOVER)
        assert other._paused & UNSENT_FULL  # was: served on, with a bound of its own
        elsewhere = ReportingConnection(host, "2001:db8:0:1::1")  # the next /64
        elsewhere.send(DISCOVER)
        assert not elsewhere._paused & UNSENT_FULL


def test_the_connections_of_one_ipv6_host_count_together_by_its_64() -> None:
    with hosting() as host:
        host.registry = ConnectionRegistry(100, 1)
        assert MemoryConnection(host, "2001:db8::1")._refusal() is None
        refused = MemoryConnection(host, "2001:db8::2")._refusal()  # was: None, let in
        assert refused is not None and b"too many connections from your address" in refused
        assert MemoryConnection(host, "2001:db8:0:1::1")._refusal() is None  # another /64


# -------------------------------------------------------- a waiting client that reads nothing


def test_a_waiting_join_whose_client_takes_none_of_its_replies_is_aborted() -> None:
    """Replies left unsent, then a join that waits: the deadline READING set runs on in
    WAITING, and as it passes with none taken the connection is aborted and the seat
    given back (it was held, and the unsent replies with it, until join_timeout)."""
    with hosting() as host:
        conn = ReportingConnection(host)
        conn.send(DISCOVER * 2 + join("t", 2))
        assert conn.state is State.WAITING and conn.unsent and conn.deadline == 60.0
        assert ("TicTacToe", "t") in host.lobby.sessions
        conn._timed_out()
        assert conn.aborted and conn.state is State.CLOSED
        assert ("TicTacToe", "t") not in host.lobby.sessions  # the seat is given back
        assert host.unsent.unsent == 0 and len(host.registry) == 0


def test_replies_first_left_unsent_while_waiting_start_a_deadline() -> None:
    """A transport that reports its unsent bytes only once the request waits (raw
    sockets' cork opens at the end of the read): a deadline starts then."""
    with hosting() as host:
        conn = MemoryConnection(host)
        conn.send(DISCOVER + join("t", 2))
        conn.deadline = None  # READING's, passed meanwhile
        conn._unsent_now(len(conn.unsent))
        assert conn.state is State.WAITING and conn.deadline == 60.0
        conn._timed_out()
        assert conn.aborted and ("TicTacToe", "t") not in host.lobby.sessions


def test_a_waiting_client_that_takes_some_of_its_replies_stays() -> None:
    with hosting() as host:
        conn = ReportingConnection(host)
        conn.send(DISCOVER * 2 + join("t", 2))
        conn.deadline = None
        conn.take(100)  # a slow reader: some, not all
        conn._output_taken()
        assert conn.state is State.WAITING and conn.deadline == 60.0  # started again
        conn.take()
        conn._output_taken()
        conn._timed_out()  # nothing left unsent: a join may wait as long as it likes
        assert conn.state is State.WAITING and not conn.aborted
        second = MemoryConnection(host)
        second.send(join("t", 2))
        host.run_soon()
        assert conn.take().endswith(TERMINATOR)
        assert conn.replies()[-1]["data"]["player_id"] in (0, 1)
