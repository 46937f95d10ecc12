"""The registry of open connections and its limits, without sockets."""

from __future__ import annotations

import json

import pytest

from gameserver import _connhost
from gameserver._connhost import ConnectionRegistry


class Conn:
    def __init__(self) -> None:
        self.aborted = False

    def shut_down(self, reply: bytes) -> None: ...

    def abort(self) -> None:
        self.aborted = True


def message(reply: bytes | None) -> str | None:
    return None if reply is None else json.loads(reply)["message"]


def test_connections_are_counted_in_all_and_per_address() -> None:
    registry = ConnectionRegistry(max_total=3, max_per_address=2)
    a1, a2, a3, b1, c1 = Conn(), Conn(), Conn(), Conn(), Conn()
    for conn, address in ((a1, "a"), (a2, "a"), (b1, "b")):
        registry.add(conn, address)
        assert registry.refusal(address) is None  # at the limit, not beyond it
    registry.add(c1, "c")
    assert message(registry.refusal("c")) == (
        "server: too many connections (3); try again later")
    registry.remove(c1, "c")
    registry.add(a3, "a")
    registry.remove(b1, "b")
    assert message(registry.refusal("a")) == (
        "server: too many connections from your address (at most 2); close some and try again")
    registry.remove(a3, "a")
    assert registry.refusal("a") is None
    assert len(registry) == 2 and set(registry) == {a1, a2}
    assert registry.opened_total == 5


def test_an_address_without_connections_is_forgotten() -> None:
    registry = ConnectionRegistry(max_total=10, max_per_address=1)
    conn = Conn()
    registry.add(conn, "a")
    registry.remove(conn, "a")
    registry.remove(conn, "a")  # twice: still nothing below zero
    assert registry._per_address == {} and len(registry) == 0


def test_a_refused_connection_stops_counting_towards_the_limits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One address must not fill every place with connections that were refused: each
    is set aside while its refusal goes out, and at most REFUSED_MAX of them stay open."""
    monkeypatch.setattr(_connhost, "REFUSED_MAX", 2)
    registry = ConnectionRegistry(max_total=3, max_per_address=1)
    accepted, refused = Conn(), [Conn() for _ in range(3)]
    registry.add(accepted, "a")
    for conn in refused:
        registry.add(conn, "a")
        assert registry.refusal("a") is not None  # beyond the address's limit
    for conn in refused:
        registry.set_aside(conn, "a")
    # A third: the oldest is closed (it had the longest time to read its refusal).
    assert [conn.aborted for conn in refused] == [True, False, False]
    assert len(registry) == 1 and registry.refused_open == 2
    assert set(registry) == {accepted, *refused[1:]}  # a server that stops ends them too
    other = Conn()
    registry.add(other, "b")
    assert registry.refusal("b") is None  # the places are the accepted connections'
    for conn in refused:  # closed: removed (the oldest, closed already, counts nowhere)
        registry.remove(conn, "a")
    assert registry.refused_open == 0 and len(registry) == 2
    assert registry._per_address == {"a": 1, "b": 1}


def test_beyond_refused_max_the_address_that_holds_the_most_loses_its_oldest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The oldest refused connection of all was closed: a flood from one address closed
    every other address's refusal in turn. Now the flood's own are closed; an address
    that ties with the most loses its own oldest (not another's)."""
    monkeypatch.setattr(_connhost, "REFUSED_MAX", 4)
    registry = ConnectionRegistry(max_total=100, max_per_address=100)

    def refuse(address: str) -> Conn:
        conn = Conn()
        registry.add(conn, address)
        registry.set_aside(conn, address)
        return conn

    honest = refuse("h")
    flood = [refuse("f") for _ in range(10)]
    assert not honest.aborted and [c.aborted for c in flood] == [True] * 7 + [False] * 3
    other = refuse("o")  # "f" holds the most: its oldest goes
    assert not other.aborted and [c.aborted for c in flood] == [True] * 8 + [False] * 2
    again = refuse("o")  # "o" (2 with this one) ties with "f" (2): its own goes
    assert other.aborted and not again.aborted and not honest.aborted
    assert registry.refused_open == 4
    for conn in [honest, again, *flood]:
        registry.remove(conn, "?")  # (the key it was set aside under is the one kept)
    assert registry.refused_open == 0 and registry._aside_by == {}


def test_connections_beyond_their_addresss_limit_take_no_place_of_others() -> None:
    """Connections that wait for their verdict beyond their address's limit (a burst
    from one address) must not refuse another address's for ``max_total``, nor be told
    that the server is full when it is their address that has too many."""
    registry = ConnectionRegistry(max_total=3, max_per_address=2)
    burst = [Conn() for _ in range(6)]
    for conn in burst:
        registry.add(conn, "a")
    other = Conn()
    registry.add(other, "b")
    assert registry.refusal("b") is None
    assert message(registry.refusal("a")) == (
        "server: too many connections from your address (at most 2); close some and try again")
    for conn in burst[:4]:
        registry.set_aside(conn, "a")
    assert registry.refusal("a") is None and registry._counted == 3
    registry.add(Conn(), "c")  # one more within its address's limit: beyond max_total
    assert message(registry.refusal("c")) == (
        "server: too many connections (3); try again later")
    for conn in [other, *burst[4:]]:  # every count back to zero, none below
        registry.remove(conn, "b" if conn is other else "a")
        registry.remove(conn, "b" if conn is other else "a")
    assert registry._counted == 1 and registry._per_address == {"c": 1}
