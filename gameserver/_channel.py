"""The pipe between the server and a worker process: framing, encoding, bounds.

A message is a 4-byte little-endian length followed by a pickle of plain
data: tuples, lists, dicts, strings, bytes, numbers, booleans and None;
except a worker's reply to a request, which has a layout of its own
(``gameserver._reply``: the server reads it without a walk in Python).

Pickle is compact and fast, but unpickling can call any function the data
names. The server therefore decodes what a worker sends with
``decode_plain``, which refuses every class and function name: a hostile
game controls its worker and everything it sends. Only the worker unpickles
the server's messages (the server is trusted) and the games' own saved
blobs (its own game's code, inside its own sandbox).

Bounds (both sides enforce them; the server treats a worker that breaks
them as broken): a message holds at most ``MESSAGE_MAX`` bytes, and one over
``SCANNED`` bytes at most ``OPCODES_MAX`` pickle opcodes; a state
passed on to a client at most ``STATE_MAX``; the states sent along with a
change at most ``MIRROR_MAX`` in all (others are asked for when a client
wants them); a saved game kept by the server at most ``SNAPSHOT_MAX``.
"""

from __future__ import annotations

import io
import logging
import pickle
import struct
from typing import Any

from ._pickleops import opcodes
from .results import printable

HEADER = struct.Struct("<I")
MB = 1024 * 1024
MESSAGE_MAX = 24 * MB
STATE_MAX = 16 * MB
MIRROR_MAX = 64 * 1024
SNAPSHOT_MAX = 256 * 1024
VIEWS_MAX = 2048  # states one reply may carry (two per player: with and without legal moves)
VIEWS_ROOM = MIRROR_MAX + STATE_MAX  # ... and their bytes: those sent along, or one asked for
START_VIEWS_MAX = 1024  # players whose states a new game sends along, and its checksum asks
# Players one reply may list on turn (``current``): a game of thousands of players all on
# turn plays in a worker as in the server's process (40,000 ids: 320 KB of a reply, read
# in one ``struct`` call); more than the default max_connections (20,000) can seat.
CURRENT_MAX = 40_000
LOG_RECORDS_MAX = 20  # log records sent with one reply; more are counted, not sent
LOG_TEXT_MAX = 8000  # characters of one log record (with its traceback)
ERROR_MAX = 1000  # characters kept of an error a reply holds (the server's own: about 300)


class ChannelError(Exception):
    """The other side broke the framing or sent something that is not plain data."""


def encode(message: Any) -> bytes:
    """``message`` (plain data) as one framed message."""
    payload = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    if len(payload) > MESSAGE_MAX:
        raise ChannelError(f"message of {len(payload)} bytes, more than {MESSAGE_MAX}")
    return HEADER.pack(len(payload)) + payload


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: not plain data")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused a persistent id: not plain data")


SCANNED = 64 * 1024  # bytes of a message above which it is scanned before it is decoded
OPCODES_MAX = 50_000  # pickle opcodes in a scanned message (a catalog of 1,000 games: ~12,000)


def decode_plain(payload: bytes) -> Any:
    """Unpickle ``payload`` if it holds plain data only, and not too many objects.

    Plain data amplifies too: one byte of pickle makes an empty set of 216
    bytes (24 MB of them: 5 GB, and half a minute of the server's loop). A
    payload up to ``SCANNED`` bytes makes at most 15 MB; a larger one is
    refused past ``OPCODES_MAX`` opcodes, each of which makes at most one
    object (``opcodes``, which skips the text of strings and bytes: a 16 MB
    state is 30 opcodes). Every payload is walked first for its memo
    indices: ``LONG_BINPUT`` 1,000,000,000 (12 bytes in all) has the
    unpickler make and zero a memo of 2,000,000,000 slots, 16 GB and a
    minute and a half of the server's loop.

    Raises:
        ChannelError: it names a class or function, is not a pickle, has too many
            opcodes or a memo index past them.
    """
    scanned = len(payload) > SCANNED
    try:
        count = opcodes(payload, OPCODES_MAX + 1 if scanned else len(payload) + 1)
    except (ValueError, IndexError) as err:
        raise ChannelError(f"undecodable message ({type(err).__name__}: {err})"[:300]) from None
    if scanned and count > OPCODES_MAX:
        raise ChannelError(f"a message of more than {OPCODES_MAX} pickle opcodes")
    try:
        return _PlainUnpickler(io.BytesIO(payload)).load()
    except Exception as err:  # noqa: BLE001 - every way a hostile payload can fail
        raise ChannelError(f"undecodable message ({type(err).__name__}: {err})"[:300]) from None


class FrameReader:
    """Collects bytes from a pipe and cuts them into message payloads.

    ``broken`` says why the stream can no longer be cut (a message announced
    more than ``MESSAGE_MAX`` bytes); None while it can.
    """

    __slots__ = ("_buffer", "broken")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.broken: str | None = None

    def feed(self, data: bytes | memoryview) -> list[bytes]:
        """The payloads completed by ``data``, in order, up to a message that announces
        more than ``MESSAGE_MAX`` bytes: then ``broken`` says so, and nothing more is
        taken. The payloads before it are valid messages the other side sent: the caller
        hands them over first, then treats the other side as broken."""
        if self.broken is not None:
            return []
        buffer = self._buffer
        size = HEADER.size
        if not buffer and len(data) > size:  # most reads: one whole reply, nothing kept
            (length,) = HEADER.unpack_from(data)
            if len(data) == size + length and length <= MESSAGE_MAX:
                return [bytes(data[size:])]
        buffer += data
        payloads = []
        start = 0
        while len(buffer) - start >= size:
            (length,) = HEADER.unpack_from(buffer, start)
            if length > MESSAGE_MAX:
                self.broken = f"a message of {length} bytes announced, more than {MESSAGE_MAX}"
                buffer.clear()
                return payloads
            end = start + size + length
            if len(buffer) < end:
                break
            payloads.append(bytes(buffer[start + size:end]))
            start = end
        if start:
            del buffer[:start]
        return payloads


def read_message(file: io.BufferedReader) -> Any | None:
    """The next message from a blocking pipe (the worker's side); None at the end.

    Raises:
        ChannelError: the pipe ended inside a message, or the message is too large.
    """
    header = file.read(HEADER.size)
    if not header:
        return None
    if len(header) < HEADER.size:
        raise ChannelError("the pipe ended inside a message")
    (length,) = HEADER.unpack(header)
    if length > MESSAGE_MAX:
        raise ChannelError(f"a message of {length} bytes announced")
    payload = file.read(length)
    if len(payload) < length:
        raise ChannelError("the pipe ended inside a message")
    return pickle.loads(payload)  # from the server: trusted


# ---------------------------------------------------------------- checking what a worker sent


CATALOG_MAX = 1000  # game classes (and paths) one worker's catalog may list


def valid_catalog(reply: Any) -> bool:
    return (type(reply) is tuple and len(reply) == 3 and reply[0] == "catalog"
            and type(reply[1]) is list and len(reply[1]) <= CATALOG_MAX
            and _logs_shape(reply[2]) and all(_entry_shape(entry) for entry in reply[1]))


def valid_sandbox(reply: Any) -> bool:
    """``("sandbox", landlock_abi, problems)``, the report a worker sends before its catalog."""
    return (type(reply) is tuple and len(reply) == 3 and reply[0] == "sandbox"
            and type(reply[1]) is int and type(reply[2]) is list
            and len(reply[2]) <= CATALOG_MAX and all(type(p) is str for p in reply[2]))


def _entry_shape(entry: Any) -> bool:
    """(name, min players, max players, description, documentation, error, hidden
    information, lists legal moves); the player range is checked with the rule for every
    game (``checked.range_problem``), to refuse that game alone."""
    return (type(entry) is tuple and len(entry) == 8 and type(entry[0]) is str
            and all(v is None or type(v) is str for v in entry[3:6])
            and type(entry[6]) is bool and type(entry[7]) is bool)


def cut(text: Any) -> Any:
    """An error's ``text`` within ``ERROR_MAX`` characters; anything else as it is."""
    if type(text) is not str or len(text) <= ERROR_MAX:
        return text
    return f"{text[:ERROR_MAX]} ... (cut: {len(text)} characters)"


def _logs_shape(logs: Any) -> bool:
    return type(logs) is list and len(logs) <= LOG_RECORDS_MAX + 1 and all(
        type(r) is tuple and len(r) == 3 and type(r[0]) is int and type(r[1]) is str
        and type(r[2]) is str for r in logs)


# The loggers of the modules a worker runs. A record under another name is logged as
# the game's: the name comes from the game (``logging.getLogger(name)`` in its code),
# and Python keeps every logger it makes until the process ends.
WORKER_LOGGERS = frozenset({"gameserver.checked", "gameserver.guard", "gameserver.registry",
                            "gameserver.worker"})


def log_forwarded(records: list[tuple[int, str, str]], source: str = "") -> None:
    """Log what the worker logged: under its own logger name if it is one of ours.

    The text is the game's, whatever handler the server's log has: a newline in it is
    followed by an indent (no line of it can pass for a record of the server's) and
    other control characters are written as escapes (``results.printable``). Each
    record carries ``source``, the worker's (``Worker.label``), as its ``game_source``:
    the dashboard's notes of a game file (``_load_notes``) take a worker's lines for
    its own file only, whatever file their text names.
    """
    extra = {"game_source": source}
    for level, name, text in records:
        logger = name if name in WORKER_LOGGERS else "gameserver.game"
        logging.getLogger(logger).log(max(logging.DEBUG, min(level, logging.CRITICAL)), "%s",
                                      forwarded(text[:LOG_TEXT_MAX]), extra=extra)


def forwarded(text: str) -> str:
    """``text`` of a worker as ``log_forwarded`` logs it (a file's name in it too)."""
    return printable(text, newlines=True).replace("\n", "\n    ")
