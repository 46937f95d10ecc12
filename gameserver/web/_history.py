"""Finished games for the dashboard: the list, one replay, the leaderboard.

The store is SQLite on disk: a read can take milliseconds, or much longer on
a slow disk or a store busy writing. So history requests never read on the
event loop. Each runs in a small pool of worker threads (``WORKERS``), which
also turns the records into the reply's JSON; at most ``QUEUED`` requests
are in the pool or waiting for it, beyond that the dashboard answers ``503``
at once. The loop only hands the work over and writes the bytes back.

A reply is held until its client has taken it, and a replay may be 16 MiB
(``HISTORY_SHOWN_BYTES``): the 32 connections one address may open, each
asking for a large replay and reading nothing, held 540 MB for up to
``WRITE_DEADLINE`` each. So the replies made and not yet taken are bounded
together, at ``OUT_MAX`` bytes (one reply is always allowed): beyond it a
request gets ``503`` too, before its work if the bound is reached already,
else once its reply is made (and dropped). A replay is read no further than
the room left (``finished_game``'s ``room``), and refused where it runs out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import _data
from ._http import HTTPError, Response, json_response
from .source import HistoryReader

log = logging.getLogger("gameserver.web")

WORKERS = 2  # threads reading the store
QUEUED = 16  # history requests in the pool or waiting for it, at most
OUT_MAX = 32 * 1024 * 1024  # bytes of replies made and not yet taken by their clients
LIMIT_MAX = 500  # finished games in one list
LEADERBOARD_GAMES = 2000  # finished games the leaderboard counts, newest first
OFF = {"store": False, "message": "the history is switched off on this server (the store "
       "is off)", "games": [], "leaderboard": {}}


class History:
    """The history endpoints' work, off the loop.

    Args:
        reader: the store's reader, or None when the store is off.
        hidden: whether a game (by name) has hidden information.
    """

    def __init__(self, reader: HistoryReader | None, hidden: Callable[[str], bool]) -> None:
        self._reader = reader
        self._hidden = hidden
        self._executor: ThreadPoolExecutor | None = None
        self._busy = 0
        self._out = 0  # bytes of replies made and not yet taken (OUT_MAX)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def games(self, game: str | None, limit: int) -> Response:
        limit = max(1, min(limit, LIMIT_MAX))
        return await self._run(lambda reader: {
            "store": True,
            "games": [_data.history_entry(r) for r in reader.finished_games(game, limit)]})

    async def replay(self, game_id: str, player: int) -> Response:
        if not (game_id.isascii() and game_id.isdigit()) or len(game_id) > 18:  # not "²"
            raise HTTPError(404, "no such finished game")

        def work(reader: HistoryReader) -> dict[str, Any]:
            # Read no further than the room left (one reply is always allowed): a replay
            # of 16 MiB made only to be dropped took 46 MiB of memory on the way.
            out = self._out  # (the loop's; this thread reads it as it starts)
            record = reader.finished_game(int(game_id), OUT_MAX - out if out else None)
            if record is None:
                raise HTTPError(404, "no such finished game")
            if not 0 <= player < max(1, len(record.get("players") or [])):
                raise HTTPError(404, f"game {game_id} has no player {player}")
            if record.get("no_room"):
                raise _busy_error()
            return _data.replay(record, player, self._hidden(str(record.get("game"))))

        return await self._run(work)

    async def leaderboard(self, game: str | None) -> Response:
        def work(reader: HistoryReader) -> dict[str, Any]:
            records = reader.finished_games(game, LEADERBOARD_GAMES)
            return {"store": True, "counted": len(records),
                    "leaderboard": _data.leaderboard(records)}

        return await self._run(work)

    async def _run(self, work: Callable[[HistoryReader], dict[str, Any]]) -> Response:
        reader = self._reader
        if reader is None:
            return json_response(OFF)
        if self._busy >= QUEUED or self._out >= OUT_MAX:
            raise _busy_error()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(WORKERS, "gameserver-history")
        self._busy += 1
        try:
            response = await asyncio.get_running_loop().run_in_executor(
                self._executor, _encoded, work, reader)
        finally:
            self._busy -= 1
        size = len(response.body)
        if self._out and self._out + size > OUT_MAX:
            raise _busy_error()  # (the reply is dropped here: its bytes are not held)
        self._out += size
        response.taken = lambda: self._taken(size)
        return response

    def _taken(self, size: int) -> None:
        self._out -= size


def _busy_error() -> HTTPError:
    return HTTPError(503, "the history is busy; try again", (("Retry-After", "2"),))


def _encoded(work: Callable[[HistoryReader], dict[str, Any]],
             reader: HistoryReader) -> Response:
    """In a worker thread: read, shape and encode."""
    try:
        data = work(reader)
    except sqlite3.Error as err:
        log.error("dashboard: reading the history failed: %s", err)
        raise HTTPError(500, "the history store could not be read (see the server log)"
                        ) from None
    return Response(200, json.dumps(data, allow_nan=False, separators=(",", ":")).encode(),
                    "application/json")
