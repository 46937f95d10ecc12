"""Players and their keys, without a session."""

from __future__ import annotations

import pytest

from gameserver.players import Player, check_key, keys_match, new_key
from gameserver.protocol import ProtocolError


def test_keys_are_128_random_bits_in_hex() -> None:
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100 and all(len(key) == 32 and int(key, 16) >= 0 for key in keys)


def test_keys_match_only_themselves_even_with_odd_characters() -> None:
    key = new_key()
    assert keys_match(key, key)
    assert not keys_match(key[:-1], key) and not keys_match("\ud800", key)
    assert not keys_match("é" + key[1:], key)  # compared as bytes: not ASCII
    assert keys_match("clé\ud800", "clé\ud800") and not keys_match("clé", "cle")


def test_a_key_opens_only_its_own_seat_and_an_observer_key_only_reads() -> None:
    ann, bob = Player("ann"), Player("bob", observer_key=new_key())
    players = [ann, bob]
    check_key(players, 0, ann.key, observer=False)
    check_key(players, 1, bob.observer_key or "", observer=True)
    for player_id, key, observer in ((1, ann.key, False), (2, ann.key, False),
                                     (-1, ann.key, False), (0, ann.key, True)):
        with pytest.raises(ProtocolError, match="^framework: invalid key$"):
            check_key(players, player_id, key, observer)
    with pytest.raises(ProtocolError, match="observer key only works for state"):
        check_key(players, 1, bob.observer_key or "", observer=False)


def test_a_key_that_is_not_ascii_is_checked_as_bytes() -> None:
    ann, odd = Player("ann"), Player("odd", key="clé\ud800")
    players = [ann, odd]
    check_key(players, 1, "clé\ud800", observer=False)
    for player_id, key in ((0, "é" + ann.key[1:]), (0, "\ud800"), (1, "cle")):
        with pytest.raises(ProtocolError, match="^framework: invalid key$"):
            check_key(players, player_id, key, observer=False)
