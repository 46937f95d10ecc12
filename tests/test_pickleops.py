"""Counting a pickle's opcodes without running it (``gameserver._pickleops``): the same
count as ``pickletools.genops``, whatever the pickle, damaged ones included."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import random
from typing import Any

import pytest

from gameserver import _channel, _pickleops


def _plain_samples() -> list[Any]:
    views = [b'{"status": "ok", "data": {"n": %d}}' % i for i in range(50)]
    return [
        (None, None, list(range(1000, 1300)), False, views, b"s" * 300, None, False,
         [(30, "game", "x\ny")]),
        [0, 1, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 70, -(2 ** 700)] * 70,
        [1.5, float("inf"), "\u00e9t\u00e9", "x" * 300, b"y" * 70_000, bytearray(b"z")] * 3,
        {"a": [None, True, False, (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)], "b": {1, 2},
         "c": frozenset({3}), "d": {}, "e": [[]] * 5},
        [[i] * (i % 7) for i in range(500)],
        ["same"] * 300 + [b"same"] * 300,  # memo: BINGET, LONG_BINGET
    ]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_opcodes_are_counted_as_pickletools_counts_them(protocol: int) -> None:
    for sample in _plain_samples():
        payload = pickle.dumps(sample, protocol)
        counted = sum(1 for _ in pickletools.genops(payload))
        assert _pickleops.opcodes(payload, 10 ** 9) == counted
        assert _pickleops.opcodes(payload, counted) == counted
        assert _pickleops.opcodes(payload, counted - 1) == counted - 1
    # A global (refused when decoded, but counted as one), in both of its forms.
    for payload in (pickle.dumps(os.system, protocol), pickle.dumps(ValueError("x"), protocol)):
        assert _pickleops.opcodes(payload, 10 ** 9) == sum(1 for _ in pickletools.genops(payload))


def test_a_damaged_pickle_never_counts_fewer_opcodes_than_it_runs() -> None:
    """Bytes flipped, cut or added anywhere: whatever the unpickler decodes, the count
    is the one of its opcodes (else the bound could be passed), or the payload is refused."""
    rng = random.Random(40)
    bases = [pickle.dumps(sample, protocol) for sample in _plain_samples()
             for protocol in (0, 2, 5) if len(pickle.dumps(sample, protocol)) < 20_000]
    damaged = 0
    for _ in range(2500):
        data = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 4)):
            where = rng.randrange(len(data))
            kind = rng.random()
            if kind < 0.6:
                data[where] = rng.randrange(256)
            elif kind < 0.8:
                del data[where:where + rng.randint(1, 9)]
            else:
                data[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 9)))
        payload = bytes(data)
        try:
            counted = _pickleops.opcodes(payload, 10 ** 9)
        except (ValueError, IndexError):
            continue  # refused (and not decoded: a damaged memo index could take gigabytes)
        try:
            _channel._PlainUnpickler(io.BytesIO(payload)).load()
        except Exception:  # noqa: BLE001 - damaged: any error
            continue
        damaged += 1
        assert counted == sum(1 for _ in pickletools.genops(payload))
    assert damaged > 100  # (enough of them still decode to mean something)
