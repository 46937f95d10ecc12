"""The lobby's data: every session's summary, kept up to date in small steps on the loop.

Theory of operation
-------------------
With 20,000 sessions, building the lobby in one go (a summary per session,
each asking the game whose turn it is, then 4 MB of JSON) blocked the game
for a second per request. A thread does not help: under the GIL it holds
the interpreter just the same. So ``LobbyIndex`` keeps the work small and
shared:

* **Cached per session.** Each session's summary is computed and encoded
  once per change of its *mark* (``DashboardSource.mark``: its version,
  players, observers) and kept as a JSON fragment. A refresh reads only the
  marks and the activity (last request, waiting requests) of unchanged
  sessions: about a microsecond each.
* **In slices.** A refresh yields to the loop every ``SLICE`` seconds, so a
  game request waits at most one slice behind it.
* **Rarely.** Refreshes run only while someone wants the lobby (a request
  waits, or a live page is open), and the next one starts no sooner than
  ``cost / LOOP_SHARE`` after the last (so the lobby takes at most ~2% of
  the loop; but never later than ``MAX_GAP``: the first refresh, which
  encodes every session, costs far more than the next), and no sooner than
  ``STREAM_GAP`` when only live pages watch.
* **Capped.** A reply holds at most ``limit`` sessions per list (live and
  finished), with totals; a filter (``q``) narrows them on the server.

A request for the lobby waits for a refresh that *started after it
arrived*, so it sees every change made before it (tests rely on that).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Hashable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from ._data import withhold_error
from .source import DashboardSource, SessionKey

SLICE = 0.00005  # seconds of work between two yields to the loop
LOOP_SHARE = 0.02  # the share of the loop's time refreshes may take, at most
STREAM_GAP = 0.1  # seconds between refreshes while only live pages watch
MAX_GAP = 2.0  # seconds: the pause after one refresh is never longer
IDLE = 10.0  # seconds without demand after which refreshing stops
LIMIT_DEFAULT = 100  # sessions per list in a reply
LIMIT_MAX = 500
PAGE_CACHE = 32  # pages kept per refresh (distinct filters and offsets)
_STARTED = attrgetter("started")


@dataclass(slots=True)
class Entry:
    """One session in the lobby: its encoded summary and what changes without its mark."""

    mark: Hashable
    game: str
    started: float
    search: str  # lower-case game, session and player names, for the filter
    running: bool  # full, not over, no error: may become "stuck"
    finished: bool
    waiting_for_players: bool
    error: bool
    body: str  # the summary as JSON without braces, last_activity, waiting and stuck
    last_activity: float = 0.0
    waiting: int = 0
    stuck: bool = False

    def json(self) -> str:
        return (f'{{"last_activity":{self.last_activity!r},"waiting":{self.waiting},'
                f'"stuck":{"true" if self.stuck else "false"},{self.body}}}')


@dataclass(slots=True)
class Page:
    """A reply: the encoded data and what a live page compares to skip repeats."""

    compared: Hashable
    body: str  # JSON without "now"
    built: float


class LobbyIndex:
    """Every live session's summary, refreshed on demand in slices. Lives on the loop.

    Args:
        source: the server's data.
        stuck_seconds: a running session without requests for this long is "stuck".
        operators: whether only the operator reads the lobby (a dashboard with a
            token); else every visitor is a spectator, and a game's error in a game
            with hidden information is cut to its kind (``_data.withhold_error``).
    """

    def __init__(self, source: DashboardSource, stuck_seconds: float,
                 operators: bool = False) -> None:
        self._source = source
        self.stuck_seconds = stuck_seconds
        self.operators = operators
        self._entries: dict[SessionKey, Entry] = {}
        self._live: list[Entry] = []
        self._finished: list[Entry] = []
        self._counts: dict[str, int] = {}
        self._pages: dict[tuple[str, int, int], Page] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._wanted = asyncio.Event()
        self._refreshed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.watchers = 0  # open live pages
        self.generation = 0  # refreshes done
        self.refresh_cost = 0.0  # seconds of loop time the last refresh took
        self.summaries = 0  # summaries computed (sessions that changed), for tests
        self.built = 0.0  # when the last refresh ended (time.time())

    # ------------------------------------------------------------ demand

    async def fresh(self) -> None:
        """Return after a refresh that started after this call."""
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._wanted.set()
        self._ensure_running()
        await future

    async def changed(self, generation: int, timeout: float) -> None:
        """Return after the refresh that follows ``generation``, or after ``timeout``."""
        self._ensure_running()
        if self.generation != generation:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._refreshed.wait()
        except TimeoutError:
            pass

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for future in self._waiters:
            if not future.done():
                future.cancel()

    def _ensure_running(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                self._wanted.clear()
                self.refresh_cost = await self._refresh()
                await asyncio.sleep(min(MAX_GAP, self.refresh_cost / LOOP_SHARE))
                if self._waiters:
                    continue
                wait = STREAM_GAP if self.watchers else IDLE
                try:
                    async with asyncio.timeout(wait):
                        await self._wanted.wait()
                except TimeoutError:
                    if not self.watchers and not self._waiters:
                        return
        finally:
            self._task = None

    # ------------------------------------------------------------ one refresh

    async def _refresh(self) -> float:
        """Read every session once, in slices; return the loop time it took."""
        waiters, self._waiters = self._waiters, []
        clock = time.perf_counter
        spent = 0.0
        begun = clock()
        source = self._source
        mark_of, activity_of = source.mark, source.activity
        old = self._entries
        entries: dict[SessionKey, Entry] = {}
        live: dict[str, list[Entry]] = {}
        finished: dict[str, list[Entry]] = {}
        waiting_for_players = playing = stuck = errors = 0
        threshold = time.time() - self.stuck_seconds  # stuck: last request before this
        for n, (key, handle) in enumerate(source.sessions()):
            if not n & 15 and clock() - begun > SLICE:
                spent += clock() - begun
                await asyncio.sleep(0)
                begun = clock()
                threshold = time.time() - self.stuck_seconds
            mark = mark_of(handle)
            if mark is None:
                continue
            entry = old.get(key)
            if entry is None or entry.mark != mark:
                entry = self._entry(handle, mark)
            entry.last_activity, entry.waiting = last, _ = activity_of(handle)
            entries[key] = entry
            if entry.finished:
                group = finished.get(entry.game)
                if group is None:
                    group = finished[entry.game] = []
                group.append(entry)
                continue
            entry.stuck = is_stuck = entry.running and last <= threshold
            stuck += is_stuck
            playing += entry.running
            waiting_for_players += entry.waiting_for_players
            errors += entry.error
            group = live.get(entry.game)
            if group is None:
                group = live[entry.game] = []
            group.append(entry)
        self._entries = entries
        self._live = _ordered(live)
        self._finished = _ordered(finished)
        self._counts = {"sessions": len(entries), "live": len(self._live), "playing": playing,
                        "waiting_for_players": waiting_for_players, "stuck": stuck,
                        "finished": len(self._finished), "errors": errors}
        self._pages = {}
        self.generation += 1
        self.built = time.time()
        event, self._refreshed = self._refreshed, asyncio.Event()
        event.set()
        for future in waiters:
            if not future.done():
                future.set_result(None)
        return spent + clock() - begun

    def _entry(self, handle: Any, mark: Hashable) -> Entry:
        self.summaries += 1
        summary = self._source.summary(handle)
        error = "error" in summary
        if error:  # (a look at the game's class only then: errors are rare)
            withhold_error(summary, self._source.game_classes().get(summary.get("game")),
                           self.operators)
        full = bool(summary.get("full"))
        over = bool(summary.get("gameover"))
        summary["waiting_for_players"] = not full
        summary["finished"] = finished = full and over and not error
        for name in ("last_activity", "waiting", "stuck"):
            summary.pop(name, None)
        names = " ".join(str(p.get("name", "")) for p in summary.get("players", []))
        body = json.dumps(summary, separators=(",", ":"), allow_nan=False,
                          default=str)[1:-1]
        return Entry(mark, str(summary.get("game", "")), float(summary.get("started", 0.0)),
                     f"{summary.get('game', '')} {summary.get('session', '')} {names}".lower(),
                     running=full and not over and not error, finished=finished,
                     waiting_for_players=not full, error=error, body=body)

    # ------------------------------------------------------------ replies

    def page(self, q: str = "", offset: int = 0, limit: int = LIMIT_DEFAULT) -> Page:
        """The lobby's reply: counts, then up to ``limit`` live and finished sessions.

        ``q`` keeps the sessions whose game, token or a player's name
        contains it (any case); ``offset`` skips that many of each list.
        """
        q = q.strip().lower()[:100]
        offset = max(0, offset)
        limit = max(1, min(limit, LIMIT_MAX))
        cache_key = (q, offset, limit)
        cached = self._pages.get(cache_key)
        if cached is not None:
            return cached
        lists = []
        compared: list[Any] = [tuple(self._counts.values())]
        for entries in (self._live, self._finished):
            matched = [e for e in entries if q in e.search] if q else entries
            shown = matched[offset:offset + limit]
            lists.append((len(matched), shown))
            compared.append(tuple((e.mark, e.waiting, e.stuck) for e in shown))
        (live_total, live), (finished_total, finished) = lists
        counts = json.dumps(self._counts, separators=(",", ":"))
        body = (f'"stuck_after":{self.stuck_seconds!r},"counts":{counts},'
                f'"q":{json.dumps(q)},"offset":{offset},"limit":{limit},'
                f'"matched":{live_total},"sessions":[{",".join(e.json() for e in live)}],'
                f'"finished_matched":{finished_total},'
                f'"finished":[{",".join(e.json() for e in finished)}]')
        page = Page(tuple(compared), body, self.built)
        if len(self._pages) < PAGE_CACHE:
            self._pages[cache_key] = page
        return page


def _ordered(groups: dict[str, list[Entry]]) -> list[Entry]:
    """By game, then by start: sessions come in creation order, so sorting is cheap."""
    for entries in groups.values():
        entries.sort(key=_STARTED)
    return list(itertools.chain.from_iterable(groups[g] for g in sorted(groups)))


def with_now(body: str, now: float | None = None) -> bytes:
    """A page body as a JSON object with ``now`` (Unix seconds) first."""
    return ('{"now":' + repr(time.time() if now is None else now) + "," + body + "}").encode()
