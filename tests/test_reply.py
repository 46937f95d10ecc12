"""A worker's reply as bytes (``gameserver._reply``): what the worker writes, the server
reads back exactly; whatever else a hostile worker writes is refused with a
``ChannelError``, by its bounds before anything is read, never with another exception."""

from __future__ import annotations

import itertools
import struct
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gameserver import _channel, _reply
from gameserver._channel import ChannelError

STATE = b'{"status": "ok", "data": {}}'
USUAL = (None, None, [0], False, [STATE, STATE], None, None, False, [])


def framed_payload(reply: tuple[Any, ...]) -> bytes:
    frame = _reply.encode(reply)
    (length,) = _channel.HEADER.unpack_from(frame)
    assert length == len(frame) - _channel.HEADER.size
    return frame[_channel.HEADER.size:]


def header(**lengths: int) -> bytes:
    """A reply's header: the usual move's, with ``lengths`` changed."""
    fields = {"flags": 0, "error": -1, "result": -1, "current": 0, "over": 0, "views": 0,
              "snapshot": -1, "leftovers": -1, "logs": 0, **lengths}
    return _reply.HEAD.pack(_reply.TAG, *fields.values())


@pytest.mark.parametrize("changed", [
    {},
    {0: "framework: an error", 1: '{"why": "taken"}', 3: True, 7: True},
    {3: None, 2: None}, {3: "framework: game_over() failed", 2: "framework: current()"},
    {2: []}, {2: [-sys.maxsize, sys.maxsize, 0]},
    {4: [STATE, "framework: an error instead", None]}, {4: []},
    {4: [None] * _channel.VIEWS_MAX},
    {4: [b"x" * _channel.STATE_MAX, b"x" * _channel.MIRROR_MAX]},
    {5: b"s" * _channel.SNAPSHOT_MAX}, {5: b""}, {6: "started a thread"},
    {8: [(20, "gameserver.game", "a line\nand another")]},
    {8: [(-(2 ** 31) + 1, "", ""), (2 ** 31 - 1, "x", "y")]},
    # Text as Python keeps it, lone surrogates included (a game's exception message).
    {0: "\udcff\ud800 é ☃", 4: ["\udcff"], 8: [(30, "\ud800", "\udfff")]},
])
def test_what_a_worker_writes_the_server_reads_back(changed: dict[int, Any]) -> None:
    reply = list(USUAL)
    for index, value in changed.items():
        reply[index] = value
    assert _reply.decode(framed_payload(tuple(reply))) == tuple(reply)


def test_the_fullest_reply_fits_in_a_message() -> None:
    """``CURRENT_MAX`` players on turn, ``VIEWS_MAX`` states (the largest a reply sends
    along), the largest saved copy and the most log records at their longest."""
    views = [(b'{"status": "ok", "data": {"n": %d}}' % i) if i % 2 else f"error {i}"
             for i in range(_channel.VIEWS_MAX - 1)] + [b"x" * _channel.STATE_MAX]
    logs = [(30, f"game.{i}", "x" * _channel.LOG_TEXT_MAX)
            for i in range(_channel.LOG_RECORDS_MAX + 1)]
    reply = ("e" * _channel.ERROR_MAX, None, list(range(_channel.CURRENT_MAX)), False, views,
             b"s" * _channel.SNAPSHOT_MAX, None, True, logs)
    assert _reply.decode(framed_payload(reply)) == reply


def test_a_log_level_beyond_32_bits_is_sent_within_them() -> None:
    reply = (*USUAL[:8], [(10 ** 30, "game", "x"), (-(10 ** 30), "game", "y")])
    logs = _reply.decode(framed_payload(reply))[8]
    assert logs == [(2 ** 31 - 1, "game", "x"), (-(2 ** 31 - 1), "game", "y")]


@pytest.mark.parametrize(("payload", "why"), [
    # Counts past their bounds are refused by the header alone: nothing behind it is read
    # (five million states: 20 MB of lengths a server walking them would spend seconds on).
    (header(views=5_000_000), "5000000 states, more than 2048"),
    (header(current=_channel.CURRENT_MAX + 1), "40001 players on turn, more than 40000"),
    (header(snapshot=_channel.SNAPSHOT_MAX + 1), "a saved game of 262145 bytes"),
    (header(logs=_channel.LOG_RECORDS_MAX + 2), "22 log records, more than 21"),
    # Lengths no worker writes.
    (header(error=-2), "a header no worker writes"),
    (header(views=-1), "a header no worker writes"),
    (header(over=3), "a header no worker writes"),  # text of 3 bytes, but over is False
    (header(flags=_reply.CURRENT_NONE, current=1), "a header no worker writes"),
    (header(flags=_reply.CURRENT_NONE | _reply.CURRENT_TEXT), "a header no worker writes"),
    (header(flags=32), "a header no worker writes"),
    (b"X" + header()[1:], "a header no worker writes"),
    # Lengths that claim more (or fewer) bytes than there are.
    (header(error=2 ** 31 - 1) + b"x", "do not add up"),
    (header(error=1) + b"xy", "do not add up"),
    (header(current=1), "unpack_from requires a buffer"),
    (header(views=2) + struct.pack("=2i", 4, 4) + b"abcd", "do not add up"),
    (header(views=1) + struct.pack("=i", -(2 ** 31)), "states of more than"),
    (header(views=2) + struct.pack("=2i", _channel.STATE_MAX, _channel.MIRROR_MAX + 1),
     "states of more than"),
    (header(views=2) + struct.pack("=2i", _channel.STATE_MAX, _channel.MIRROR_MAX + 1)
     + b"x" * (_channel.VIEWS_ROOM + 1), "states of more than"),  # (every byte sent)
    (header(logs=1) + struct.pack("=3i", 20, -5, 1) + b"x", "a negative length"),
    # What the server relies on: ids within sys.maxsize (-2 ** 63 is not), text UTF-8.
    (header(current=1) + struct.pack("=q", -(2 ** 63)), "a player id past sys.maxsize"),
    (header(error=1) + b"\xff", "utf-8"),
    (header()[:10], "unpack_from requires a buffer"),
    (b"", "unpack_from requires a buffer"),
])
def test_a_reply_a_worker_forged_is_refused(payload: bytes, why: str) -> None:
    with pytest.raises(ChannelError, match=f"^a malformed reply: .*{why}"):
        _reply.decode(payload)


def test_every_cut_of_a_reply_is_refused() -> None:
    payload = framed_payload(("error", "{}", "turn?", "over?", [STATE, "err", None],
                              b"snap", "left", True, [(20, "n", "t")]))
    for end in range(len(payload)):
        with pytest.raises(ChannelError):
            _reply.decode(payload[:end])
    with pytest.raises(ChannelError):
        _reply.decode(payload + b"\0")


def _valid(reply: tuple[Any, ...]) -> bool:
    """What the server relies on in a decoded reply (``_reply.decode``'s promise)."""
    error, result, current, over, views, snapshot, leftovers, retire, logs = reply
    room = _channel.VIEWS_ROOM - sum(len(v) for v in views if v is not None)
    return bool(
        all(v is None or type(v) is str for v in (error, result, leftovers))
        and (current is None or type(current) is str
             or (type(current) is list and len(current) <= _channel.CURRENT_MAX
                 and all(type(p) is int and abs(p) <= sys.maxsize for p in current)))
        and (over is None or type(over) in (bool, str))
        and type(views) is list and len(views) <= _channel.VIEWS_MAX and room >= 0
        and all(v is None or type(v) in (bytes, str) for v in views)
        and (snapshot is None or (type(snapshot) is bytes
                                  and len(snapshot) <= _channel.SNAPSHOT_MAX))
        and type(retire) is bool
        and type(logs) is list and len(logs) <= _channel.LOG_RECORDS_MAX + 1
        and all(type(r) is tuple and len(r) == 3 and type(r[0]) is int
                and type(r[1]) is str and type(r[2]) is str for r in logs))


def _general(payload: bytes) -> tuple[Any, ...] | None:
    """The reply the general way reads from ``payload``, the usual one's quick way left
    out (``_reply._decode_any``); None where it refuses it."""
    try:
        return _reply._decode_any(payload)
    except (struct.error, ValueError):
        return None


def _refused_or_valid(payload: bytes) -> None:
    """Refused, or a valid reply; and the quick way agrees with the general way."""
    try:
        reply = _reply.decode(payload)
    except ChannelError:
        assert _general(payload) is None
        return
    assert _valid(reply)
    assert reply == _general(payload)


@given(st.binary(max_size=200))
def test_bytes_after_the_tag_are_refused_or_a_valid_reply(data: bytes) -> None:
    _refused_or_valid(_reply.TAG + data)


@given(st.integers(0, 200), st.binary(min_size=1, max_size=8))
def test_a_reply_with_bytes_overwritten_is_refused_or_a_valid_reply(at: int,
                                                                    junk: bytes) -> None:
    payload = framed_payload(("error", "{}", [3, 4], "over?", [STATE, "err", None],
                              b"snap", None, False, [(20, "n", "t")]))
    at %= len(payload)
    _refused_or_valid(payload[:at] + junk + payload[at + len(junk):])


@given(st.integers(0, 200), st.binary(min_size=1, max_size=8),
       st.sampled_from([None, b"", b"saved"]), st.sampled_from([[STATE, STATE], [STATE, None],
                                                                 [], [STATE] * 8]))
def test_a_usual_reply_overwritten_is_read_as_the_general_way_reads_it(
        at: int, junk: bytes, snapshot: bytes | None, views: list[bytes | None]) -> None:
    """The usual reply's quick way (``_reply._decode``) takes what the general way takes,
    to the same reply, and refuses what it refuses."""
    payload = framed_payload((None, None, [0, 1], True, views, snapshot, None, True, []))
    at %= len(payload)
    _refused_or_valid(payload[:at] + junk + payload[at + len(junk):])


def test_the_usual_reply_packed_at_once_is_the_general_layout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``encode``'s quick way (one ``struct`` call) writes the bytes of its general way,
    for the replies it takes and those next to them it must leave to the general way."""
    for reply in itertools.product(
            [None, "framework: an error"], [None, '{"why": "taken"}'],
            [[0], [], [0, 1], list(range(9)), [-sys.maxsize], None, "framework: current()"],
            [False, True, None, "framework: game_over() failed"],
            [[STATE, STATE], [], [STATE], [STATE] * 9, [STATE, None],
             [STATE, "framework: an error"], [None]],
            [None, b"", b"saved"], [None, "started a thread"], [False, True],
            [[], [(20, "game", "x")]]):
        quick = _reply.encode(reply)
        monkeypatch.setattr(_reply, "_shapes", {})
        assert quick == _reply.encode(reply), reply
        monkeypatch.undo()
        payload = quick[_channel.HEADER.size:]
        assert _reply.decode(payload) == reply == _reply._decode_any(payload)


def test_the_usual_reply_keeps_the_bounds_of_a_message() -> None:
    big = b"x" * _channel.STATE_MAX
    with pytest.raises(ChannelError, match="more than"):
        _reply.encode((None, None, [0], False, [big, big], None, None, False, []))
    with pytest.raises(struct.error):
        _reply.encode((None, None, [2 ** 63], False, [STATE], None, None, False, []))
