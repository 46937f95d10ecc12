"""A worker's reply to a request, in a fixed layout the server reads with a few C calls.

Every request to a worker (a new game, a move, a state: ``gameserver.workers``)
is answered by a reply of nine fields::

    (error, result, current, over, views, snapshot, leftovers, retire, logs)

The other messages of the channel (the hello's report and catalog, a note
that a call is being interrupted) are pickles of plain data
(``_channel.decode_plain``). A reply is not: decoding a pickle safely costs
the server a walk over its opcodes in Python (a hostile worker can make the
C unpickler allocate gigabytes from a 12-byte memo index), about 1,150
bytecodes for a TicTacToe move's reply, and a check of the decoded fields
after it: a third of the server's Python for a move in a worker. Here a
reply is a header of lengths, then the bytes they measure, so the server
reads it with one ``struct`` call for the header, one for the lengths of the
states and one for the player ids, and slices; whatever a hostile worker
writes, decoding it allocates no more than the bytes it sent, and every
count is checked against its bound before anything is read.

The layout (native byte order and sizes: both ends run on one machine)::

    header   tag b"R", flags, then eight int32s: the lengths of error,
             result, current, over, the number of states, the lengths of
             snapshot and leftovers, the number of log records
    lengths  one int32 per state: -1 None (not sent along), n >= 0 a state
             reply (bytes) of n bytes, n <= -2 an error (text) of -n - 2 bytes
    records  three int32s per log record: its level, the lengths of its
             logger's name and of its text
    ids      current as int64s, when it is a list (its length: their number)
    bodies   error, result, current (as text), over (as text), the states in
             order, snapshot, leftovers, each record's name and text, each as
             long as its length says; text is UTF-8 (with lone surrogates, as
             Python keeps them)

A length of -1 is None; ``over`` and ``current`` say by the flags whether
they are a bool, None, a list or text.
"""

from __future__ import annotations

import struct
import sys
from typing import Any

from ._channel import (
    CURRENT_MAX,
    HEADER,
    LOG_RECORDS_MAX,
    MESSAGE_MAX,
    SNAPSHOT_MAX,
    VIEWS_MAX,
    VIEWS_ROOM,
    ChannelError,
)

TAG = b"R"  # the first byte of a reply (a pickle's is 0x80)
HEAD = struct.Struct("=cB8i")
_LENGTHS = 4  # bytes per length of a state
_RECORD = 12  # bytes per log record's level and lengths
_INT32 = 2 ** 31 - 1
_ID_MAX = sys.maxsize  # (as ``CheckedGame.current`` bounds ids: an id is JSON text)
_ID = 8  # bytes per player id
RETIRE = 1  # flags: the worker used its CPU time
OVER_TRUE, OVER_NONE, OVER_TEXT = 2, 4, 6  # (bits 1-2; 0: the game is not over)
CURRENT_NONE, CURRENT_TEXT = 8, 16  # (bits 3-4; 0: a list of player ids)
_FLAGS_MAX = 31
_OVER = {False: 0, True: OVER_TRUE, None: OVER_NONE}


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


# The usual reply (a move's, a state's: no error, no result, no log record, a list of at
# most ``_SHAPES_MAX`` players on turn, a bool for over, at most ``_SHAPES_MAX`` states,
# all bytes) is packed with one ``struct`` call, frame header included, by a format made
# at import per number of states and of players on turn, with the bytes it packs: 1,300
# machine instructions less than the general way. Where the frame's little-endian header
# and the reply's native order differ, there are none: only the general way.
_SHAPES_MAX = 8
_shapes: dict[tuple[int, int], tuple[struct.Struct, int]] = {}
if sys.byteorder == "little" and HEADER.format == "<I" and HEAD.format == "=cB8i":
    for _views in range(_SHAPES_MAX + 1):
        for _ids in range(_SHAPES_MAX + 1):
            _format = struct.Struct(f"<IcB8i{_views}i{_ids}q")
            _shapes[_views, _ids] = (_format, _format.size - HEADER.size)


def encode(reply: tuple[Any, ...]) -> bytes:
    """The worker's side: ``reply`` (its nine fields) as one framed message.

    Raises:
        ChannelError: the message would be larger than ``MESSAGE_MAX``.
        struct.error: a player id outside 64 bits (``CheckedGame.current`` refuses them).
    """
    error, result, current, over, views, snapshot, leftovers, retire, logs = reply
    if (error is None and result is None and leftovers is None and not logs
            and type(current) is list and type(over) is bool):
        shape = _shapes.get((len(views), len(current)))
        if shape is not None:
            try:
                states = b"".join(views)  # TypeError: None (not sent along), an error (text)
            except TypeError:
                shape = None
        if shape is not None:
            layout, size = shape
            size += len(states)
            if snapshot is None:
                n_snapshot = -1
            else:
                n_snapshot = len(snapshot)
                size += n_snapshot
            if size > MESSAGE_MAX:
                raise ChannelError(f"message of {size} bytes, more than {MESSAGE_MAX}")
            head = layout.pack(size, TAG, (RETIRE if retire else 0) | (OVER_TRUE if over else 0),
                               -1, -1, len(current), 0, len(views), n_snapshot, -1, 0,
                               *map(len, views), *current)
            return head + states if snapshot is None else b"".join((head, states, snapshot))
    flags = RETIRE if retire else 0
    bodies = []
    if error is None:
        n_error = -1
    else:
        bodies.append(_text(error))
        n_error = len(bodies[-1])
    if result is None:
        n_result = -1
    else:
        bodies.append(_text(result))
        n_result = len(bodies[-1])
    ids = b""
    if type(current) is list:
        n_current = len(current)
        ids = struct.pack(f"={n_current}q", *current)
    elif current is None:
        flags |= CURRENT_NONE
        n_current = 0
    else:
        flags |= CURRENT_TEXT
        bodies.append(_text(current))
        n_current = len(bodies[-1])
    n_over = 0
    if type(over) is str:
        flags |= OVER_TEXT
        bodies.append(_text(over))
        n_over = len(bodies[-1])
    else:
        flags |= _OVER[over]
    lengths = []
    for view in views:
        if view is None:
            lengths.append(-1)
        elif type(view) is bytes:
            bodies.append(view)
            lengths.append(len(view))
        else:
            bodies.append(_text(view))
            lengths.append(-2 - len(bodies[-1]))
    if snapshot is None:
        n_snapshot = -1
    else:
        bodies.append(snapshot)
        n_snapshot = len(snapshot)
    if leftovers is None:
        n_leftovers = -1
    else:
        bodies.append(_text(leftovers))
        n_leftovers = len(bodies[-1])
    records = []
    for level, name, text in logs:
        bodies += (_text(name), _text(text))
        records += (max(-_INT32, min(level, _INT32)), len(bodies[-2]), len(bodies[-1]))
    payload = b"".join((HEAD.pack(TAG, flags, n_error, n_result, n_current, n_over,
                                  len(views), n_snapshot, n_leftovers, len(logs)),
                        struct.pack(f"={len(lengths)}i", *lengths),
                        struct.pack(f"={len(records)}i", *records), ids, *bodies))
    if len(payload) > MESSAGE_MAX:
        raise ChannelError(f"message of {len(payload)} bytes, more than {MESSAGE_MAX}")
    return HEADER.pack(len(payload)) + payload


def decode(payload: bytes) -> tuple[Any, ...]:
    """The server's side: the reply in ``payload`` (which starts with ``TAG``), checked.

    What the server relies on holds for the result: each field has its type
    (``error``, ``result``, ``leftovers`` text or None; ``current`` a list of
    at most ``CURRENT_MAX`` ids within ``sys.maxsize``, text or None; ``over``
    a bool, text or None; ``views`` at most ``VIEWS_MAX`` states, each bytes,
    text or None, ``VIEWS_ROOM`` bytes in all; ``snapshot`` at most
    ``SNAPSHOT_MAX`` bytes or None; ``logs`` a list of at most ``LOG_RECORDS_MAX + 1``
    records, each a tuple of an int32 level and two texts: its logger's name, its text),
    and the lengths account for every byte of the payload.

    Raises:
        ChannelError: anything else.
    """
    try:
        return _decode(payload)
    except (struct.error, ValueError) as err:  # (lengths past the end; UnicodeDecodeError)
        raise ChannelError(f"a malformed reply: {str(err)[:200]}") from None


# The usual reply read back with one ``struct`` call for its states' lengths and player
# ids, by a format made at import per number of each (``encode``'s shapes, the other
# way): no error, result, leftovers or log record, a list of players on turn, a bool
# for over, each state sent along as bytes or not at all. About 170 bytecodes less per
# move than the general way (``_decode_any``), which reads every other reply, and any
# reply this one does not take, to the same result or the same refusal.
_QUICK_FLAGS = RETIRE | OVER_TRUE
_quick = {(views, ids): struct.Struct(f"={views}i{ids}q")
          for views in range(_SHAPES_MAX + 1) for ids in range(_SHAPES_MAX + 1)}


def _decode(payload: bytes) -> tuple[Any, ...]:
    """``decode`` but for the exceptions it turns into ``ChannelError``."""
    (tag, flags, n_error, n_result, n_current, n_over, n_views, n_snapshot, n_leftovers,
     n_logs) = HEAD.unpack_from(payload)
    if (flags & _QUICK_FLAGS == flags and n_error == n_result == n_leftovers == -1
            and n_over == n_logs == 0 and tag == TAG and -1 <= n_snapshot <= SNAPSHOT_MAX):
        layout = _quick.get((n_views, n_current))
        if layout is not None:
            fields = layout.unpack_from(payload, HEAD.size)
            current = list(fields[n_views:])
            if not current or -_ID_MAX <= min(current) and max(current) <= _ID_MAX:
                at = HEAD.size + layout.size
                views: list[bytes | str | None] = []
                for length in fields[:n_views]:
                    if length >= 0:
                        views.append(payload[at:at + length])
                        at += length
                    elif length == -1:
                        views.append(None)
                    else:  # an error instead of a state: the general way reads it
                        break
                else:
                    if at - HEAD.size - layout.size <= VIEWS_ROOM:
                        snapshot = None
                        if n_snapshot >= 0:
                            snapshot = payload[at:at + n_snapshot]
                            at += n_snapshot
                        if at == len(payload):
                            return (None, None, current, flags & OVER_TRUE == OVER_TRUE,
                                    views, snapshot, None, flags & RETIRE == RETIRE, [])
    return _decode_any(payload)


def _decode_any(payload: bytes) -> tuple[Any, ...]:
    """``_decode`` for every reply, the usual one included.

    The counts are checked against their bounds first; then each part is
    sliced in turn, a slice never longer than what is left of the payload,
    and the end must come out exactly at the payload's: a length that
    claims more than was sent is refused there, having copied no more than
    was sent.
    """
    (tag, flags, n_error, n_result, n_current, n_over, n_views, n_snapshot, n_leftovers,
     n_logs) = HEAD.unpack_from(payload)
    if (tag != TAG or flags > _FLAGS_MAX or min(n_error, n_result, n_snapshot, n_leftovers) < -1
            or min(n_current, n_over, n_views, n_logs) < 0):
        raise ValueError("a header no worker writes")
    if n_views > VIEWS_MAX:
        raise ValueError(f"{n_views} states, more than {VIEWS_MAX}")
    if n_snapshot > SNAPSHOT_MAX:
        raise ValueError(f"a saved game of {n_snapshot} bytes, more than {SNAPSHOT_MAX}")
    if n_logs > LOG_RECORDS_MAX + 1:
        raise ValueError(f"{n_logs} log records, more than {LOG_RECORDS_MAX + 1}")
    current_kind = flags & (CURRENT_NONE | CURRENT_TEXT)
    over_kind = flags & OVER_TEXT
    if current_kind == 0:
        if n_current > CURRENT_MAX:
            raise ValueError(f"{n_current} players on turn, more than {CURRENT_MAX}")
    elif current_kind != CURRENT_TEXT and (n_current or current_kind != CURRENT_NONE):
        raise ValueError("a header no worker writes")
    if n_over and over_kind != OVER_TEXT:
        raise ValueError("a header no worker writes")
    at = HEAD.size
    lengths: tuple[int, ...] = ()
    if n_views:
        lengths = struct.unpack_from(f"={n_views}i", payload, at)
        at += _LENGTHS * n_views
    records: tuple[int, ...] = ()
    if n_logs:
        records = struct.unpack_from(f"={3 * n_logs}i", payload, at)
        at += _RECORD * n_logs
    current: Any = None
    if current_kind == 0:
        current = list(struct.unpack_from(f"={n_current}q", payload, at))
        at += _ID * n_current
        if current and (min(current) < -_ID_MAX or max(current) > _ID_MAX):
            raise ValueError("a player id past sys.maxsize")
    error = result = snapshot = leftovers = None
    if n_error >= 0:
        error = payload[at:at + n_error].decode("utf-8", "surrogatepass")
        at += n_error
    if n_result >= 0:
        result = payload[at:at + n_result].decode("utf-8", "surrogatepass")
        at += n_result
    if current_kind == CURRENT_TEXT:
        current = payload[at:at + n_current].decode("utf-8", "surrogatepass")
        at += n_current
    if over_kind == OVER_TEXT:
        over: Any = payload[at:at + n_over].decode("utf-8", "surrogatepass")
        at += n_over
    else:
        over = over_kind == OVER_TRUE if over_kind != OVER_NONE else None
    views: list[bytes | str | None] = []
    start = at
    for length in lengths:
        if length >= 0:
            views.append(payload[at:at + length])
            at += length
        elif length == -1:
            views.append(None)
        else:
            views.append(payload[at:at - 2 - length].decode("utf-8", "surrogatepass"))
            at -= 2 + length
    if at - start > VIEWS_ROOM:
        raise ValueError(f"states of more than {VIEWS_ROOM} bytes in all")
    if n_snapshot >= 0:
        snapshot = payload[at:at + n_snapshot]
        at += n_snapshot
    if n_leftovers >= 0:
        leftovers = payload[at:at + n_leftovers].decode("utf-8", "surrogatepass")
        at += n_leftovers
    logs = []
    for i in range(0, 3 * n_logs, 3):
        name_end = at + records[i + 1]
        end = name_end + records[i + 2]
        if name_end < at or end < name_end:
            raise ValueError("a log record of a negative length")
        logs.append((records[i], payload[at:name_end].decode("utf-8", "surrogatepass"),
                     payload[name_end:end].decode("utf-8", "surrogatepass")))
        at = end
    if at != len(payload):
        raise ValueError("lengths that do not add up to the reply's")
    return (error, result, current, over, views, snapshot, leftovers, flags & RETIRE == RETIRE,
            logs)
