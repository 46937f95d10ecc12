"""The lobby's guard against floods, without a lobby: counts, caps and the overwrite rule."""

from __future__ import annotations

from typing import Any

import pytest

from gameserver.admission import Admission, RateLimit, WrongGuesses
from gameserver.lobby import LobbyLimits
from gameserver.protocol import ProtocolError
from gameserver.waits import Wait


class Owned:
    def __init__(self, owner: str) -> None:
        self.owner = owner


def test_sessions_per_address_count_until_they_end() -> None:
    admission = Admission(LobbyLimits(max_sessions_per_address=2,
                                      new_sessions_per_minute=10**6), lambda: 0.0)
    sessions: list[Any] = [Owned("10.0.0.1"), Owned("10.0.0.1")]
    for session in sessions:
        admission.check_start("10.0.0.1", 1)
        admission.started(session)
    with pytest.raises(ProtocolError, match="too many sessions started from your address"):
        admission.check_start("10.0.0.1", 1)
    admission.check_start("10.0.0.2", 1)  # another address is not affected
    admission.ended(sessions[0])
    admission.check_start("10.0.0.1", 1)


def test_only_waits_still_waiting_count_against_the_cap() -> None:
    admission = Admission(LobbyLimits(max_waiting_joins_per_address=2), lambda: 0.0)
    waits = [Wait(lambda: b""), Wait(lambda: b"")]
    for wait in waits:
        admission.check_waiting("a")
        admission.count_waiting("a", wait)
    with pytest.raises(ProtocolError, match="too many joins from your address are waiting"):
        admission.check_waiting("a")
    waits[0].wake()  # its session filled
    admission.check_waiting("a")
    waits[1].cancel()  # its client went away
    assert admission._waiting_of.get("a", set()) <= {waits[0]}


def test_the_rate_limit_refills_and_peeking_costs_nothing() -> None:
    limit = RateLimit(per_minute=2)
    assert limit.allow("a", peek=True) and limit.allow("a", peek=True)
    assert limit.allow("a") and limit.allow("a")
    assert not limit.allow("a") and limit.allow("b")


def test_woken_waits_are_forgotten_with_time() -> None:
    """A woken wait holds its session: it must not stay for an address never seen again."""
    admission = Admission(LobbyLimits(), lambda: 0.0)
    for n in range(50):
        wait = Wait(lambda: b"")
        admission.count_waiting(f"10.0.0.{n}", wait)
        wait.wake()  # the session filled, or ended
    admission.forget_idle()
    assert admission._waiting_of == {}


def test_ipv6_addresses_count_by_their_network() -> None:
    """One IPv6 host may take a new address per request: its /64 counts as one address."""
    admission = Admission(LobbyLimits(max_sessions_per_address=2,
                                      new_sessions_per_minute=10**6), lambda: 0.0)
    for host in ("2001:db8::1", "2001:db8::2"):
        admission.check_start(host, 1)
        admission.started(Owned(host))  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="too many sessions started from your address"):
        admission.check_start("2001:db8::ffff:3", 1)
    admission.check_start("2001:db8:0:1::1", 1)  # another network
    admission.check_start("::ffff:10.0.0.1", 1)  # IPv4, written as IPv6


def test_wrong_guesses_are_remembered_per_address_within_their_bounds() -> None:
    """A throttle's memory of wrong guesses (the dashboard's token, tournament passwords):
    the last ``remembered`` of an address (IPv6: its /64), for at most ``addresses``."""
    wrong = WrongGuesses(remembered=2, addresses=2)
    wrong.add("10.0.0.1", ["a"])
    wrong.add("10.0.0.1", ["b", "c"])  # "a" is forgotten: two per address
    assert wrong.tried("10.0.0.1", ["b", "c"]) and not wrong.tried("10.0.0.1", ["a"])
    assert not wrong.tried("10.0.0.1", ["b", "x"])  # each of them, or it is a new guess
    assert not wrong.tried("10.0.0.2", ["b"])  # another address's are its own
    wrong.add("2001:db8::1", ["d"])
    assert wrong.tried("2001:db8::ffff", ["d"])  # the same /64
    wrong.add("10.0.0.3", ["e"])  # a third address: the one least lately wrong goes
    assert not wrong.tried("10.0.0.1", ["b"]) and wrong.tried("10.0.0.3", ["e"])
