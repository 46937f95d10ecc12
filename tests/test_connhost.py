"""The registry of open connections and its limits, without sockets."""

from __future__ import annotations

import json

from gameserver._connhost import ConnectionRegistry


class Conn:
    def shut_down(self, reply: bytes) -> None: ...

    def abort(self) -> None: ...


def message(reply: bytes | None) -> str | None:
    return None if reply is None else json.loads(reply)["message"]


def test_connections_are_counted_in_all_and_per_address() -> None:
    registry = ConnectionRegistry(max_total=3, max_per_address=2)
    a1, a2, a3, b1 = Conn(), Conn(), Conn(), Conn()
    for conn, address in ((a1, "a"), (a2, "a"), (b1, "b")):
        registry.add(conn, address)
        assert registry.refusal(address) is None  # at the limit, not beyond it
    registry.add(a3, "a")
    assert message(registry.refusal("a")) == (
        "server: too many connections (3); try again later")
    registry.remove(b1, "b")
    assert message(registry.refusal("a")) == (
        "server: too many connections from your address (at most 2); close some and try again")
    registry.remove(a3, "a")
    assert registry.refusal("a") is None
    assert len(registry) == 2 and set(registry) == {a1, a2}
    assert registry.opened_total == 4


def test_an_address_without_connections_is_forgotten() -> None:
    registry = ConnectionRegistry(max_total=10, max_per_address=1)
    conn = Conn()
    registry.add(conn, "a")
    registry.remove(conn, "a")
    registry.remove(conn, "a")  # twice: still nothing below zero
    assert registry._per_address == {} and len(registry) == 0
