"""The address key of a client (gameserver/addresses.py): what per-address bounds count by."""

from __future__ import annotations

from gameserver.addresses import address_key


def test_what_counts_as_one_address() -> None:
    """IPv4 and other text count as themselves; IPv6 by its /64, IPv4 written as IPv6 as IPv4."""
    assert address_key("10.0.0.1") == "10.0.0.1"
    assert address_key("010.0.0.1") == "010.0.0.1"  # not an address Python reads: as it is
    assert address_key("a test's client") == "a test's client"
    assert address_key("::ffff:10.0.0.1") == "10.0.0.1"
    assert address_key("2001:db8::1:2") == "2001:db8::/64"
    assert address_key("2001:db8::ffff:ffff:ffff:ffff") == "2001:db8::/64"
    assert address_key("2001:db8:0:1::1") == "2001:db8:0:1::/64"  # the next /64: another
    assert address_key("::1") == "::/64"
    assert address_key("fe80::1%eth0") == "fe80::/64"  # link-local, with its interface
    assert address_key("not:an:address") == "not:an:address"
    assert address_key("") == ""  # an unknown peer
