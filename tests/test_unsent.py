"""The account of replies left unsent (``_unsent.py``): its rules, without connections.

A "connection" here only records being woken; the transports that report
to the account are tested in tests/test_transportconn.py and, across real
sockets, in tests/test_server_unsent.py.
"""

from __future__ import annotations

from gameserver._unsent import HELD_FREE, UnsentReplies

KB = 1000


class Conn:
    """A connection as the account sees it: it counts its wake-ups."""

    def __init__(self) -> None:
        self.woken = 0
        self.paused = False  # told to pause though it leaves nothing unsent

    def unsent_resumed(self) -> None:
        self.woken += 1

    def unsent_paused(self) -> None:
        self.paused = True


def test_bytes_within_the_bounds_are_counted_and_pause_nobody() -> None:
    account = UnsentReplies(per_address=100 * KB, total=1000 * KB, per_connection=100 * KB)
    a, b = Conn(), Conn()
    assert not account.update(a, "10.0.0.1", 0, 60 * KB)
    assert not account.update(b, "10.0.0.2", 0, 30 * KB)
    assert account.unsent == 90 * KB and account.of("10.0.0.1") == 60 * KB
    assert not account.update(a, "10.0.0.1", 60 * KB, 0)  # all sent
    assert account.unsent == 30 * KB and account.of("10.0.0.1") == 0
    assert account.paused == 0 and "10.0.0.1" not in account._addresses  # nothing kept


def test_beyond_its_address_bound_a_connection_with_bytes_unsent_pauses_others_go_on() -> None:
    account = UnsentReplies(per_address=100 * KB, total=1000 * KB, per_connection=100 * KB)
    a, b, c, stranger = Conn(), Conn(), Conn(), Conn()
    assert not account.update(a, "10.0.0.1", 0, 60 * KB)
    assert account.update(b, "10.0.0.1", 0, 50 * KB)  # 110 KB: beyond, and b leaves bytes
    assert account.paused == 1
    # a is told at its next report (it cannot add bytes without one)
    assert account.update(a, "10.0.0.1", 60 * KB, 70 * KB)
    assert account.paused == 2
    # a connection of the address with nothing unsent is not paused by reporting 0 ...
    assert not account.update(c, "10.0.0.1", 0, 0)
    # ... nor another address's, far from its own bound
    assert not account.update(stranger, "10.0.0.9", 0, 90 * KB)
    assert a.woken == b.woken == 0


def test_a_paused_connection_goes_on_once_its_own_bytes_are_sent() -> None:
    account = UnsentReplies(per_address=100 * KB, total=1000 * KB, per_connection=100 * KB)
    a, b = Conn(), Conn()
    account.update(a, "10.0.0.1", 0, 80 * KB)
    assert account.update(b, "10.0.0.1", 0, 40 * KB)
    assert not account.update(b, "10.0.0.1", 40 * KB, 0)  # b's client took all of it
    assert account.paused == 0 and b.woken == 0  # (it goes on by itself, not woken)
    assert account.update(b, "10.0.0.1", 0, 30 * KB)  # the address is still full: 110 KB


def test_the_address_is_full_until_back_under_a_quarter_then_its_paused_ones_are_woken() -> None:
    account = UnsentReplies(per_address=100 * KB, total=1000 * KB, per_connection=100 * KB)
    a, b = Conn(), Conn()
    assert account.update(a, "10.0.0.1", 0, 60 * KB) is False
    assert account.update(b, "10.0.0.1", 0, 60 * KB)
    assert account.update(a, "10.0.0.1", 60 * KB, 61 * KB)  # both paused, 121 KB
    assert account.update(a, "10.0.0.1", 61 * KB, 20 * KB)  # 80 KB: under, not a quarter
    assert account.update(b, "10.0.0.1", 60 * KB, 10 * KB)  # 30 KB: still above 25 KB
    assert a.woken == b.woken == 0 and account.paused == 2
    assert not account.update(b, "10.0.0.1", 10 * KB, 5 * KB)  # 25 KB: a quarter
    assert a.woken == 1 and account.paused == 0  # (b, reporting, learns it from the answer)
    assert not account.update(a, "10.0.0.1", 20 * KB, 60 * KB)  # no longer full: 65 KB


def test_the_total_bounds_many_addresses_each_within_its_own() -> None:
    """Addresses are cheap (an IPv6 /64): the sum over all of them has its bound too."""
    account = UnsentReplies(per_address=100 * KB, total=300 * KB, per_connection=100 * KB)
    conns = [Conn() for _ in range(4)]
    for number, conn in enumerate(conns[:3]):
        assert not account.update(conn, f"10.0.0.{number}", 0, 90 * KB)  # 270 KB
    assert account.update(conns[3], "10.0.0.3", 0, 90 * KB)  # 360 KB: beyond the total
    assert account.update(conns[0], "10.0.0.0", 90 * KB, 91 * KB)
    assert account.paused == 2
    for number, conn in enumerate(conns[1:3], 1):  # down to 75 KB in all: a quarter
        account.update(conn, f"10.0.0.{number}", 90 * KB, 0)
    assert account.unsent == 181 * KB and conns[0].woken == conns[3].woken == 0
    account.update(conns[0], "10.0.0.0", 91 * KB, 0)
    assert conns[3].woken == 0  # 90 KB: not a quarter yet
    account.update(conns[3], "10.0.0.3", 90 * KB, 70 * KB)
    assert conns[3].woken == 1 and account.paused == 0


def test_an_address_still_full_is_not_woken_when_the_total_calms_down() -> None:
    account = UnsentReplies(per_address=100 * KB, total=200 * KB, per_connection=100 * KB)
    greedy, other, calm = Conn(), Conn(), Conn()
    account.update(greedy, "10.0.0.1", 0, 99 * KB)
    account.update(calm, "10.0.0.2", 0, 99 * KB)
    assert account.update(greedy, "10.0.0.1", 99 * KB, 101 * KB)  # both bounds passed
    assert account.update(other, "10.0.0.3", 0, 10 * KB)  # the total is full: 210 KB
    account.update(calm, "10.0.0.2", 99 * KB, 0)  # 111 KB
    account.update(greedy, "10.0.0.1", 101 * KB, 40 * KB)  # 50 KB: a quarter of the total
    assert other.woken == 1 and greedy.woken == 0  # 10.0.0.1 is at 40 KB: above 25 KB
    assert account.paused == 1


def test_a_connection_that_closes_leaves_nothing_behind() -> None:
    account = UnsentReplies(per_address=100 * KB, total=1000 * KB, per_connection=100 * KB)
    conns = [Conn() for _ in range(3)]
    for conn in conns:
        account.update(conn, "10.0.0.1", 0, 60 * KB)
    assert account.paused == 2
    for conn in conns:  # reset, timed out, the server stopped: the transport reports 0
        account.update(conn, "10.0.0.1", 60 * KB, 0)
    assert account.unsent == 0 and account.paused == 0 and not account._addresses


def test_the_held_bytes_kept_uncounted_stay_within_the_total_bound() -> None:
    """Every connection kept HELD_FREE of replies held for their save uncounted: 20,000
    connections (max_connections) could keep 312 MiB, beyond the 256 MiB of
    reply_buffer_max_total. Now the allowance is a share of a sixteenth of the total,
    counted bytes pause beyond the rest, and both together stay within the total."""
    total = 256 * 2**20
    account = UnsentReplies(per_address=total, total=total, per_connection=4 * 2**20)
    assert account.held_free == HELD_FREE  # a class: 16 moves of a vector, uncounted
    conns = [Conn() for _ in range(20_000)]
    for conn in conns:
        account.opened(conn, "10.0.0.2")
        assert account.connections * account.held_free + account._total <= total
    assert account.held_free >= 800  # a move's reply and its cost, still
    conn = Conn()
    assert not account.update(conn, "10.0.0.1", 0, total - total // 16)  # all it counts
    assert account.update(conn, "10.0.0.1", total - total // 16, total - total // 16 + 1)
    for _ in range(20_000 - 1000):
        account.closed(conns.pop(), "10.0.0.2")
    assert account.held_free == HELD_FREE  # shared among fewer again


def test_past_the_margin_every_connection_of_the_address_pauses() -> None:
    """Each connection of a full address could add one write (Echo's with_state reply:
    1 MB; 2,000 connections: 2 GB beyond 64 MiB). Past the bound and a quarter of it,
    every connection of the address pauses, those with nothing unsent and those that
    open meanwhile too, until the address is back under a quarter; other addresses go on."""
    account = UnsentReplies(per_address=100 * KB, total=10_000 * KB, per_connection=100 * KB)
    writer, idle, other = Conn(), Conn(), Conn()
    for conn, address in ((writer, "10.0.0.1"), (idle, "10.0.0.1"), (other, "10.0.0.2")):
        account.opened(conn, address)
    assert account.update(writer, "10.0.0.1", 0, 110 * KB)  # full: only the writer pauses
    assert not idle.paused
    assert account.update(writer, "10.0.0.1", 110 * KB, 130 * KB)  # beyond the margin
    assert idle.paused and not other.paused and account.paused == 2
    late = Conn()
    account.opened(late, "10.0.0.1")
    assert late.paused and account.paused == 3
    assert account.update(idle, "10.0.0.1", 0, 0)  # nothing of its own: paused still
    account.closed(late, "10.0.0.1")
    assert account.paused == 2
    account.update(writer, "10.0.0.1", 130 * KB, 20 * KB)  # a quarter: every one goes on
    assert writer.woken == idle.woken == 1 and account.paused == 0
