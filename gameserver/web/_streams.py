"""Live pages: server-sent event streams of the lobby and of one session.

A stream sends the current data at once, then again whenever it changes,
and at least every ``STREAM_REFRESH`` seconds if only the time-driven parts
moved (ages, last activity, the "stuck" flag). It never waits for its client
(``_http.EventStream.send``), so a page that stops reading is dropped and
costs nothing more.

* Lobby streams wake after each refresh of the ``LobbyIndex`` and send its
  page (shared by every page with the same filter) when it differs from
  what they sent last.
* Session streams are woken by ``SessionFeed``: one timer, running only
  while such a page is open, compares the *mark* of each watched session
  every ``TICK`` seconds (a dictionary look-up each) and wakes the streams
  of the sessions that changed. What a stream sends is built once per
  change and shared by every page showing the same view (``ViewCache``).

One event is at most ``_http.STREAM_BUFFER_MAX`` bytes (512 KiB, what a
stream's client may leave unread). A larger one would get its stream
dropped, and the browser, reconnecting, would be sent it again: a reconnect
every 2 seconds, forever. So a view too large for its event is sent as a
note instead (``too_large``: its size, the limit, and the address of the
same data as one plain JSON reply, not live), and a lobby page too large
is cut to fewer sessions (halved until it fits; its ``limit`` says how many).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from . import _http
from ._http import EventStream
from ._lobby import LobbyIndex, Page, with_now
from .source import DashboardSource, SessionKey

TICK = 0.1  # seconds between two looks at the watched sessions' marks
STREAM_REFRESH = 2.0  # seconds: live pages also see slow changes (ages, "stuck")
VIEW_CACHE = 256  # encoded views kept (session, player, access) at most
END = b"event: end\ndata: {}\n\n"


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event, encoded once however many pages it goes to.

    ``compared`` is what a page compares with what it sent last (the data
    without ``now``).
    """

    compared: Hashable
    message: bytes


def encode(data: dict[str, Any]) -> Event:
    """``data`` as an event; ``now`` is left out of the comparison."""
    rest = {k: v for k, v in data.items() if k != "now"}
    compared = json.dumps(rest, separators=(",", ":"), allow_nan=False)
    body = compared
    if "now" in data:  # {"now": ..., the rest}: encoded once, "now" spliced in
        body = '{"now":' + repr(data["now"]) + ("," + compared[1:] if rest else "}")
    return Event(compared, f"data: {body}\n\n".encode())


class SessionFeed:
    """Wakes the streams of sessions whose mark changed; ticks only while one is open."""

    def __init__(self, source: DashboardSource) -> None:
        self._source = source
        self._watched: dict[SessionKey, tuple[Hashable, asyncio.Event, int]] = {}
        self._timer: asyncio.TimerHandle | None = None

    @contextmanager
    def watching(self, key: SessionKey) -> Iterator[Callable[[], asyncio.Event]]:
        """While open, ``current()`` is the event set at the next change of ``key``."""
        if key not in self._watched:
            self._watched[key] = (self._mark(key), asyncio.Event(), 0)
        mark, event, count = self._watched[key]
        self._watched[key] = (mark, event, count + 1)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(TICK, self._tick)
        try:
            yield lambda: self._watched[key][1]
        finally:
            mark, event, count = self._watched[key]
            if count > 1:
                self._watched[key] = (mark, event, count - 1)
            else:
                del self._watched[key]

    def _mark(self, key: SessionKey) -> Hashable:
        handle = self._source.session(key)
        return None if handle is None else self._source.mark(handle)

    def _tick(self) -> None:
        self._timer = None
        if not self._watched:
            return
        for key, (mark, event, count) in list(self._watched.items()):
            current = self._mark(key)
            if current != mark:
                self._watched[key] = (current, asyncio.Event(), count)
                event.set()
        self._timer = asyncio.get_running_loop().call_later(TICK, self._tick)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for _, event, _ in self._watched.values():
            event.set()


class ViewCache:
    """What session pages send, built once per change and shared by the same views."""

    def __init__(self, source: DashboardSource, build: Callable[..., dict[str, Any] | None]
                 ) -> None:
        self._source = source
        self._build = build
        self._events: dict[tuple[Any, ...], tuple[Hashable, float, Event | None]] = {}
        self.built = 0  # events built, for tests

    def get(self, key: SessionKey, player: int | None, operator: bool) -> Event | None:
        """The session's current event for this view, or None once the session is gone."""
        handle = self._source.session(key)
        mark = None if handle is None else self._source.mark(handle)
        cache_key = (key, player, operator)
        cached = self._events.get(cache_key)
        now = time.monotonic()
        if cached is not None and cached[0] == mark and now - cached[1] < STREAM_REFRESH / 2:
            return cached[2]
        data = self._build(key, player, operator)
        self.built += 1
        event = encode(data) if data is not None else None
        if data is not None and event is not None and not EventStream.fits(event.message):
            event = too_large(data, key, player, len(event.message))
        if len(self._events) >= VIEW_CACHE:
            self._events.pop(next(iter(self._events)))
        self._events[cache_key] = (mark, now, event)
        return event


def too_large(data: dict[str, Any], key: SessionKey, player: int | None,
              size: int) -> Event:
    """The event sent instead of a session's view of ``size`` bytes, too large for one.

    It keeps the summary (who plays, whose turn, moves) and says where the
    whole view is: ``/api/sessions/G/T?player=N``, one plain reply. Should
    even the summary not fit, only the note is sent.
    """
    url = f"/api/sessions/{quote(key[0], safe='')}/{quote(key[1], safe='')}"
    note = {"bytes": size, "max": _http.STREAM_BUFFER_MAX,
            "url": url if player is None else f"{url}?player={player}"}
    trimmed = {k: v for k, v in data.items() if k not in ("view", "views")}
    trimmed["too_large"] = note
    if player is not None:
        trimmed["view"] = None
    event = encode(trimmed)
    if EventStream.fits(event.message):
        return event
    return encode({"now": data.get("now"), "too_large": note})


PAGE_FRAME = 64  # bytes an event adds to a lobby page's body: "data: ", "now", the ends


def fitting_page(index: LobbyIndex, q: str, offset: int, limit: int) -> Page:
    """The lobby page, with fewer sessions if it is too large for one event.

    Its body is JSON with only ASCII characters, so its length is its size.
    """
    while True:
        page = index.page(q, offset, limit)
        if len(page.body) + PAGE_FRAME <= _http.STREAM_BUFFER_MAX or limit <= 1:
            return page
        limit //= 2


class Streams:
    """The dashboard's live pages; ``stopping()`` tells them to end."""

    def __init__(self, index: LobbyIndex, feed: SessionFeed, views: ViewCache,
                 stopping: Callable[[], bool]) -> None:
        self.index = index
        self.feed = feed
        self.views = views
        self._stopping = stopping

    def lobby(self, q: str, offset: int, limit: int) -> EventStream:
        async def run(stream: EventStream) -> None:
            self.index.watchers += 1
            try:
                await self.index.fresh()
                last: Hashable = None
                last_body = ""
                sent = 0.0
                while not self._stopping():
                    generation = self.index.generation
                    page = fitting_page(self.index, q, offset, limit)
                    now = time.monotonic()
                    # Activity alone (last request times) is sent every STREAM_REFRESH.
                    if page.compared != last or (now - sent >= STREAM_REFRESH
                                                 and page.body != last_body):
                        if not stream.send(b"data: " + with_now(page.body, page.built)
                                           + b"\n\n"):
                            return
                        last, last_body, sent = page.compared, page.body, now
                    elif not stream.ping_due():
                        return
                    await self.index.changed(generation, STREAM_REFRESH)
            finally:
                self.index.watchers -= 1

        return EventStream(run)

    def session(self, key: SessionKey, player: int, operator: bool) -> EventStream:
        async def run(stream: EventStream) -> None:
            with self.feed.watching(key) as current:
                last: Hashable = None
                while not self._stopping():
                    change = current()
                    event = self.views.get(key, player, operator)
                    if event is None:
                        stream.send(END)
                        return
                    if event.compared != last:
                        if not stream.send(event.message):
                            return
                        last = event.compared
                    elif not stream.ping_due():
                        return
                    try:
                        async with asyncio.timeout(STREAM_REFRESH):
                            await change.wait()
                    except TimeoutError:
                        pass

        return EventStream(run)
