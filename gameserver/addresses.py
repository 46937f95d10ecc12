"""The address key of a client: what every per-address bound counts by.

An IPv6 host usually has a whole /64 network to itself (SLAAC, privacy
addresses) and can take a new address for every connection, so a bound per
IPv6 address bounds nothing: IPv6 addresses count by their /64. An IPv4
address counts as itself, also when written as IPv6 (``::ffff:1.2.3.4``, a
dual-stack socket's view of an IPv4 client).

Used by the lobby's caps (``admission.py``), the game port's connections per
address (``_connhost.py``) and replies left unsent per address
(``_unsent.py``, through ``_connection.py``), and the dashboard's
connections, bots, invite links and throttles (``web/``).
"""

from __future__ import annotations

import functools
import ipaddress

__all__ = ["address_key", "canonical_ip"]


def address_key(address: str) -> str:
    """The address as the per-address bounds count it: ``2001:db8::/64`` for
    ``2001:db8::1``, ``10.0.0.1`` for ``10.0.0.1`` and ``::ffff:10.0.0.1``.

    Anything that is not an IP address (a test's name, a Unix socket) counts
    as it is.
    """
    if ":" not in address:  # IPv4, or not an IP address: counts as itself, unparsed
        return address
    return _ipv6_key(address)


@functools.lru_cache(maxsize=4096)
def _ipv6_key(address: str) -> str:
    """``address_key`` of an address with a colon (parsing one costs ~10 µs: cached)."""
    ip = canonical_ip(address)
    if ip is None:
        return address  # not an IP address: as it is
    if ":" not in ip:  # an IPv4 address written as IPv6
        return ip
    return str(ipaddress.IPv6Network((int(ipaddress.IPv6Address(ip)), 64), strict=False))


@functools.lru_cache(maxsize=4096)
def canonical_ip(address: str) -> str | None:
    """``address`` in one spelling, or None if it is no IP address: ``::ffff:10.0.0.1``
    (a dual-stack socket's IPv4 peer) is ``10.0.0.1``, ``2001:DB8:0::1`` is
    ``2001:db8::1`` (an IPv6 one then counts by its /64: ``address_key``). Cached:
    parsing takes a few µs, and the same addresses come again and again."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)
