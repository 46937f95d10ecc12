"""Carry a game request through the lobby on the event loop, as a connection does.

The browser's seats and the in-process bots send the lobby the very
requests a game client sends (``DashboardSource.handle``). A request that
cannot be answered yet comes back as a ``Wait`` (``gameserver.waits``);
``settle`` turns it into something to ``await``:

* the wake callback only *schedules* the resume (``loop.call_soon``): it
  runs in the middle of someone else's change;
* when the awaiting task is cancelled (the browser went away), the ``Wait``
  is cancelled too, so a waiting joiner gives its seat back at once.

``ask`` builds the request from a dict exactly as a client would send it,
through the protocol's own decoder, so a browser's move is checked key by
key and type by type like anyone else's.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from .. import protocol
from ..protocol import ProtocolError, Request
from ..waits import Outcome, Wait
from .source import DashboardSource


def _set(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def settle(source: DashboardSource, outcome: Outcome) -> bytes:
    """The reply ``outcome`` stands for, waiting as long as it takes.

    Raises:
        asyncio.CancelledError: the caller was cancelled; the ``Wait`` is
            cancelled with it (a waiting join gives its seat back).
    """
    loop = asyncio.get_running_loop()
    while isinstance(outcome, Wait):
        if not outcome.woken:
            woken: asyncio.Future[None] = loop.create_future()
            outcome.on_wake(lambda now, future=woken: loop.call_soon(_set, future))
            try:
                await woken
            except asyncio.CancelledError:
                outcome.cancel()
                raise
        outcome = source.resume(outcome)
    return outcome


def decode(fields: dict[str, Any], max_depth: int) -> Request:
    """The protocol request ``fields`` describe (a dict with ``"type"``), checked.

    ``max_depth`` is the server's ``max_json_depth``, as on the game port.

    Raises:
        ProtocolError: a key is missing or of the wrong type, or it is nested
            too deeply to encode; the message is the one a game client would get.
    """
    try:
        raw = json.dumps(fields, allow_nan=False, separators=(",", ":")).encode()
    except RecursionError:  # decoded near JSON's depth, encoded deeper down the stack: only
        # with a max_json_depth near 1,000 (a browser's body is held to it first: _play)
        raise protocol.server_error("request is not valid JSON (it is nested too deeply to "
                                    "decode)") from None
    return protocol.decode_request(raw, max_depth).request


def _start(reply: bytes) -> bytes:
    return reply[:reply.index(b'", ') + 3]


OK = _start(protocol.ok(0))  # how the protocol's replies begin: ok, ...
NOT_OK = (_start(protocol.error("x")), _start(protocol.illegal_move("x")))  # ... or not


def is_ok(raw: bytes) -> bool:
    """Whether a lobby reply says ok, without decoding it (a state can be large)."""
    if raw.startswith(OK):
        return True
    if raw.startswith(NOT_OK):
        return False
    return reply_of(raw).get("status") == "ok"  # encoded some other way: look inside


def reply_of(raw: bytes) -> dict[str, Any]:
    """A lobby reply as a dict: ``{"status": ..., "data" | "message": ...}``."""
    value = json.loads(raw)
    return value if isinstance(value, dict) else {"status": "error", "message": str(value)}


async def ask(source: DashboardSource, fields: dict[str, Any], client: str,
              max_depth: int) -> bytes:
    """Send the request ``fields`` describe from ``client``; its reply's bytes.

    A request that does not pass the protocol's checks (``max_depth``: the
    server's ``max_json_depth``) gets the protocol's error reply, as on the
    game port.
    """
    try:
        request = decode(fields, max_depth)
    except ProtocolError as err:
        return err.reply()
    return await settle(source, source.handle(request, client))
