"""The I/O adapter: connections in, lobby replies out; and the assembly point of the server.

One connection object per TCP connection. It feeds bytes to a
``RequestReader``, hands the decoded request to the lobby and writes back
what the lobby answers. A request that must wait (join until the session is
full, state until it changes) leaves the connection holding a future and
nothing else: no task, no thread, a few hundred bytes.

Plain TCP is served on raw non-blocking sockets (``_rawconn``), TLS on
asyncio transports, encrypted by ``_tlsconn``, its handshakes computed on
threads (``_handshakes``); what a connection does with
a request, and its states, are shared (``_connection``, ``_connstate``,
``_held``). Connections see the server only through ``ConnectionHost``
(settings, the lobby's two entry points, the connection registry, metrics,
and a way to hold the store's commits for a burst), built here.

Why over 450 lines: it is where every part is assembled and wired to the
others (the lobby, store, workers, tournaments, the dashboard, certificates
and their reload); each wiring is a few lines, and split apart they would
be read only together.

Classic mode is one request per connection: reply, then close. A request
with ``"keep_alive": true`` gets its reply followed by ``EOT\\0`` and the
connection stays open for the next request.

A client that closes its side (EOF) is gone: its waiting request is dropped
at once. Classic clients never half-close, so this costs them nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import ssl
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import _no_such_game, protocol, registry, startup
from ._certwatch import CHECK_INTERVAL, CertificateWatch
from ._connhost import ConnectionRegistry
from ._handshakes import Handshakes
from ._import_limit import import_limit
from ._load_notes import LoadNotes, game_source
from ._rawlisten import RawListener
from ._sidetables import TimerBook
from ._soon import Soon
from ._tlsconn import TLSConnection
from ._transportconn import TransportConnection
from ._unsent import UnsentReplies
from .checked import game_types
from .config import Settings, unknown_game_names
from .game import AbstractGame
from .guard import GameGuard
from .isolated import Isolation
from .lobby import Lobby, LobbyLimits
from .memory import memory_limit
from .metrics import Gauges, Metrics
from .placement import plan
from .protocol import Request, Subscribe, server_error
from .store import GameReplayer, HistoryReader, Store
from .timers import rules_from
from .tournament_hall import TournamentHall
from .tournament_store import TournamentBook
from .waits import Feed, Outcome
from .workers import WorkerSettings

__all__ = ["GameServer", "LISTEN_BACKLOG"]

log = logging.getLogger("gameserver.server")

T = TypeVar("T")

LISTEN_BACKLOG = 4096  # the kernel caps this at net.core.somaxconn


@dataclass(frozen=True, slots=True)
class _ConnectionHost:
    """The server as its connections see it (``_connection.ConnectionHost``)."""

    settings: Settings
    registry: ConnectionRegistry
    metrics: Metrics
    unsent: UnsentReplies
    log_requests: bool
    handle: Callable[[Request, str], Outcome]
    subscribe: Callable[[Subscribe, str], Feed | bytes]
    resume: Callable[[Callable[[], Outcome]], Outcome]
    call_soon: Callable[[Callable[[], object]], object]


class GameServer:
    """A running game server: listening socket, lobby and open connections.

    Args:
        settings: the server settings.
        games: game name -> game class to offer, all run in this process;
            None: the games the settings name (bundled games, games folders,
            ``isolate_games``; see ``gameserver.placement.plan``).
    """

    def __init__(self, settings: Settings,
                 games: Mapping[str, type[AbstractGame]] | None = None) -> None:
        self.settings = settings
        self.guard = GameGuard(settings.game_call_timeout)
        self._select = games is None  # settings.games applies once the workers said theirs
        # What the log says of each game file while it loads, for the dashboard.
        self.load_notes = LoadNotes()
        self._game_files: list[Path] = []
        if games is None:
            with self.load_notes.listening():
                games, self._sources, self._game_files = plan(settings)
        else:
            self._sources = []
        if not self._sources:
            self.load_notes.finish(self._game_files)
        self.isolation = Isolation(WorkerSettings(
            time_limit=settings.game_call_timeout,
            import_limit=import_limit(settings.game_call_timeout, settings.game_import_timeout),
            memory_mb=settings.worker_memory_limit,
            cpu_seconds=settings.worker_cpu_limit,
            log_level=logging.getLevelName(settings.log_level),
            secrets=tuple(path for path in (settings.store_path if settings.store else "",
                                            settings.tls_key) if path)), self.guard)
        types = game_types(games, self.guard)
        self.store = (Store(settings.store_path, types, history=settings.history,
                            history_max_games=settings.history_max_games,
                            history_max_bytes=settings.history_max_bytes,
                            sync=settings.store_sync,
                            snapshot_max=settings.store_snapshot_max)
                      if settings.store else None)
        self.history: HistoryReader | None = None  # finished games, once the store is open
        self.lobby = Lobby(types, LobbyLimits(
            game_timeout=settings.game_timeout, join_timeout=settings.join_timeout,
            request_size_max=settings.request_size_max, max_sessions=settings.max_sessions,
            memory_max=memory_limit(settings.max_memory),
            new_sessions_per_minute=settings.new_sessions_per_minute,
            max_sessions_per_address=settings.max_sessions_per_address,
            max_waiting_joins_per_address=settings.max_waiting_joins_per_address,
            observer_consent=settings.observer_consent, overwrite=settings.overwrite,
            overwrite_idle=settings.overwrite_idle,
            max_name_length=settings.max_name_length,
            timers=rules_from(settings.turn_timeout, settings.game_clock,
                              settings.turn_timeout_action, settings.turn_timeouts,
                              settings.game_clocks, settings.session_timer_min)),
            store=self.store)
        self.lobby.timers.on_earlier = self._wake_for_timers
        if self.store is not None:
            self.lobby.timer_book = TimerBook(self.store)
        self.hall = TournamentHall(self.lobby, TournamentBook(self.store)
                                   if self.store is not None else None)
        self.hall.rate_named_games = settings.rated_games == "named"
        if self.store is not None:
            self.store.rated_games = self.hall.rated_games  # (pruned games: their ratings)
            self.store.forget_rated = (  # (... their ids leave the hall's as they are pruned)
                lambda ids: self.hall.deleted_rated.difference_update(ids))
        self.connections = ConnectionRegistry(settings.max_connections,
                                              settings.max_connections_per_address,
                                              settings.proxy_protocol_from)
        self.unsent = UnsentReplies(settings.reply_buffer_max_per_address,
                                    settings.reply_buffer_max_total, settings.reply_buffer_max)
        self.metrics = Metrics()
        self.port = settings.port
        self.dashboard: Any = None  # the web dashboard, when settings.web is on
        self.loop: asyncio.AbstractEventLoop | None = None
        self.soon: Soon | None = None  # the loop's call_soon, sooner after a worker's replies
        self._server: asyncio.Server | None = None  # TLS: asyncio's server
        self._listener: RawListener | None = None  # plain TCP: our own
        self.handshakes: Handshakes | None = None  # TLS: the threads of the handshakes
        self.tls_context: ssl.SSLContext | None = None  # TLS: what new connections get
        self.certificates: CertificateWatch | None = None  # TLS: a renewed pair taken
        self._certificate_check: asyncio.TimerHandle | None = None  # ... every hour
        self._certificate_task: asyncio.Task[None] | None = None  # ... the one under way
        self._certificate_again = False  # a reload asked for while one was under way
        self._reload_asked = False  # ... or while the server started (done once it listens)
        self._ticker: asyncio.TimerHandle | None = None  # runs the lobby's tick
        self._timer_wake: asyncio.TimerHandle | None = None  # at the next turn deadline
        self._timer_wake_at = math.inf  # ... which is then (lobby clock)

    def run_on_loop(self, func: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run ``func(*args)`` on the server's event loop from another thread.

        The lobby and its sessions belong to the event loop's thread; other
        threads (the web dashboard) read them only through this.

        Raises:
            TimeoutError: the loop did not run it within ``timeout`` seconds.
            Exception: whatever ``func`` raised.
        """
        assert self.loop is not None, "the server is not running"
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(func(*args))
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                result.set_exception(err)

        self.loop.call_soon_threadsafe(run)
        return result.result(timeout)

    async def start(self) -> None:
        """Start listening; ``self.port`` is the real port afterwards.

        Raises:
            StartupError: the store file cannot be used (before anything
                listens), the TLS files are wrong, or listening failed (a store
                file this start created is deleted again).
        """
        loop = asyncio.get_running_loop()
        # The loop's call_soon for the store's commits and the connections' resumes, run
        # right after a worker's replies when those schedule them (``_soon``).
        self.soon = Soon(loop)
        try:
            await self._load_isolated_games()
        except BaseException:
            self.isolation.close()
            raise
        if self.store is not None:
            self.store.games = dict(self.lobby.game_types)  # isolated games included
            self.store.open()
        try:
            await self._listen(loop)
        except BaseException:
            if self.store is not None:
                self.store.abandon()
            self.isolation.close()  # (its game workers were left running, and unwaited)
            raise
        self.loop = loop
        if self.certificates is not None:  # (not before it listens: a failed start has none)
            self._next_certificate_check()
        if self._reload_asked:  # (a SIGHUP while the server started)
            self._reload_asked = False
            self.reload_certificate()
        if self.store is not None:
            self.store.start(loop, self.soon)
            sessions = self.store.load_sessions()
            if self.lobby.timer_book is not None:
                self.lobby.timer_book.merge(sessions)  # type: ignore[attr-defined]
            self.lobby.restore(sessions)
            self.hall.restore()
            self.history = HistoryReader(
                self.store.path, GameReplayer(self.lobby.game_types, self.run_on_loop))
        self._tick()
        for problem in protocol.FAST_PATH_FALLBACKS:
            log.warning("%s", problem)
        log.info("gameserver listening on %s:%d (TLS %s), games: %s",
                 self.settings.host, self.port, "on" if self.settings.tls else "off",
                 ", ".join(sorted(self.lobby.games)) or "none")
        log.info("store: %s", f"sessions and history saved in {self.settings.store_path}"
                 if self.store else "off (sessions live in memory only)")
        if self.settings.web:
            await self._start_dashboard()

    async def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        settings = self.settings
        tls = self.tls_context = (startup.tls_context(settings.tls_cert, settings.tls_key)
                                  if settings.tls else None)
        if tls is not None:
            self.certificates = CertificateWatch(settings.tls_cert, settings.tls_key, tls)
            self.certificates.warn_now()
        host = _ConnectionHost(
            settings=settings, registry=self.connections, metrics=self.metrics,
            unsent=self.unsent,
            log_requests=log.isEnabledFor(logging.DEBUG), handle=self.lobby.handle,
            subscribe=self.lobby.subscribe,
            resume=self.lobby.call, call_soon=self.soon or loop.call_soon)
        if tls is not None:
            self.handshakes = handshakes = Handshakes(loop, settings.tls_handshakes_max,
                                                      settings.tls_handshakes_per_address)
        try:
            if tls is None:
                await self._listen_raw(host, loop)
            if self._listener is None:
                self._server = await loop.create_server(
                    (lambda: TransportConnection(host)) if tls is None
                    else lambda: TLSConnection(host, self.tls_context or tls, handshakes),
                    settings.host, settings.port, backlog=LISTEN_BACKLOG, reuse_address=True)
                self.port = self._server.sockets[0].getsockname()[1]
        except OSError as err:
            if self.handshakes is not None:
                self.handshakes.close()
            raise startup.listen_error(err, settings.host, settings.port) from None

    async def _load_isolated_games(self) -> None:
        """Add the games of the worker processes; then keep only those the settings name
        (a per-game setting naming a game not found is logged: ``unknown_game_names``)."""
        game_types = self.lobby.game_types
        with self.load_notes.listening():
            for game_type in await self.isolation.load(self._sources, self.soon):
                registry.add(game_types, game_type.name, game_type, game_type.source)
        self.load_notes.finish(self._game_files)
        # (before the settings' choice: a game not chosen did load, and is no such game)
        self.lobby.unloaded = _no_such_game.unloaded_games(self._game_files, {
            name: game_source(game_type) for name, game_type in game_types.items()})
        for problem in unknown_game_names(self.settings, game_types):  # (--game: a few)
            log.error("%s", problem)
        if self._select:
            self.lobby.game_types = registry.select(game_types, self.settings.games)
        self.isolation.retain(list(self.lobby.game_types.values()))

    def reload_certificate(self) -> asyncio.Task[None] | None:
        """SIGHUP (``systemctl reload``): read the TLS certificate and key again now, for
        new connections (connections open keep theirs); a pair that cannot be used
        leaves the served one, and the log says why (``check_certificate(force=True)``).

        Returns the check's task; None when TLS is off (logged) or the server is still
        starting (done once it listens: the files read at start may be older).
        """
        if self.loop is None:
            self._reload_asked = True
            return None
        if self.certificates is None:
            log.info("reload asked for (SIGHUP): TLS is off, no certificate to reload; "
                     "nothing else is reloaded (restart for other settings)")
            return None
        return self.check_certificate(force=True)

    def check_certificate(self, force: bool = False) -> asyncio.Task[None]:
        """Take a renewed TLS certificate from disk for new connections, and warn of a
        coming expiry (daily); again in ``CHECK_INTERVAL`` seconds (``_certwatch``).

        The files are read on a thread: this starts the check (unless one is under
        way) and returns its task, done once a renewed pair is served. ``force``
        (SIGHUP): see ``CertificateWatch.look``; asked for while a check is under
        way (which may have read the files before they changed), another follows it
        in the same task.
        """
        assert self.loop is not None and self.certificates is not None
        task = self._certificate_task
        if task is None or task.done():
            if self._certificate_check is not None:
                self._certificate_check.cancel()  # (a check asked for between two: the next)
            task = self._certificate_task = self.loop.create_task(
                self._check_certificate(force))
        elif force:
            self._certificate_again = True
        return task

    async def _check_certificate(self, force: bool) -> None:
        assert self.certificates is not None
        try:
            while True:
                self._certificate_again = False
                self.tls_context = await self.certificates.look(force)
                if not self._certificate_again:
                    break
                force = True
        except asyncio.CancelledError:  # the server stops: no next check
            raise
        except BaseException:
            self._next_certificate_check()
            raise
        self._next_certificate_check()

    def _next_certificate_check(self) -> None:
        assert self.loop is not None
        self._certificate_check = self.loop.call_later(CHECK_INTERVAL, self.check_certificate)

    def game_files(self) -> dict[str, Any]:
        """Each game file: the games it offers and what the log said while it loaded; and
        each game offered: its game-code errors (``LoadNotes.report``). For the dashboard."""
        return self.load_notes.report({name: game_source(game_type) for name, game_type
                                       in self.lobby.game_types.items()}, self.guard.by_game)

    def _tick(self) -> None:
        """Let time pass in the lobby (timeouts), and again a tick interval later; the
        workers drop the games of the sessions that ended (those timed out just now too)."""
        assert self.loop is not None
        self.lobby.tick()
        self.isolation.flush_drops()
        self._ticker = self.loop.call_later(self.lobby.tick_interval(), self._tick)

    def _wake_for_timers(self, deadline: float) -> None:
        """A turn timer runs out at ``deadline`` (lobby clock): be awake then."""
        if self.loop is None or deadline >= self._timer_wake_at:
            return
        if self._timer_wake is not None:
            self._timer_wake.cancel()
        self._timer_wake_at = deadline
        self._timer_wake = self.loop.call_later(max(0.0, deadline - self.lobby.clock()),
                                                self._run_timers)

    def _run_timers(self) -> None:
        self._timer_wake, self._timer_wake_at = None, math.inf
        self.lobby.tick_timers()
        deadline = self.lobby.timers.next()
        if deadline is not None:
            self._wake_for_timers(deadline)

    async def _listen_raw(self, host: _ConnectionHost, loop: asyncio.AbstractEventLoop) -> None:
        """Serve plain TCP on raw sockets, if the loop can watch them.

        Windows' default (proactor) loop cannot (no ``add_reader``): there,
        plain TCP stays on asyncio's transports, like TLS.
        """
        listener = RawListener(host, loop)
        try:
            self.port = await listener.start(self.settings.host, self.settings.port,
                                             LISTEN_BACKLOG)
        except NotImplementedError:
            log.debug("the event loop cannot watch sockets: plain TCP on asyncio transports")
            return
        self._listener = listener

    async def _start_dashboard(self) -> None:
        # The game server keeps running without its dashboard: it is a view, not a part.
        # The dashboard sees the server only through this adapter (gameserver/web/source.py).
        from .metrics import prometheus_text
        from .web import LobbySource, WebSettings, start_dashboard
        s = self.settings
        source = LobbySource(self.lobby, self.history, lambda: prometheus_text(self),
                             self.store.health if self.store is not None else None,
                             self.hall, self.game_files)
        try:
            self.dashboard = await start_dashboard(source, WebSettings(
                s.web_host, s.web_port, s.web_token, s.game_timeout, s.web_max_connections,
                s.web_max_connections_per_address, s.web_play, s.web_bots,
                s.web_bots_per_address, s.web_renderers, s.max_json_depth,
                s.web_stream_buffer_max_total, tuple(s.web_trusted_proxies)))
        except OSError as err:
            log.error("web dashboard not started on %s:%d: %s (pick another --web-port, "
                      "or --no-web)", self.settings.web_host, self.settings.web_port, err)

    async def stop(self, grace: float = 2.0) -> None:
        """Stop accepting, answer every waiting client, close within ``grace`` seconds."""
        if self._server is not None:
            self._server.close()
        if self._listener is not None:
            self._listener.stop_accepting()
        if self.dashboard is not None:
            self.dashboard.stop()
            await self.dashboard.wait_stopped()
        if self._ticker is not None:
            self._ticker.cancel()
        if self._certificate_check is not None:
            self._certificate_check.cancel()
        if self._certificate_task is not None:
            self._certificate_task.cancel()
        if self._timer_wake is not None:
            self._timer_wake.cancel()
        self.hall.close()  # first: what fails from here on is no tournament game's result
        self.lobby.close()  # waiting joins and states get "server is shutting down"
        self.isolation.close()  # ... and so do moves in flight to game workers
        reply = server_error("server is shutting down").reply()
        for connection in list(self.connections):
            connection.shut_down(reply)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.connections and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self.connections):
            connection.abort()
        if self._listener is not None:
            self._listener.close()
        if self.handshakes is not None:
            self.handshakes.close()
        if self.store is not None:
            self.store.close()
        self.guard.close()
        log.info("gameserver stopped")

    def gauges(self) -> Gauges:
        """What ``metrics.prometheus_text`` reports besides the counters (on the loop)."""
        sessions = self.lobby.sessions.values()
        by_game = Counter(session.game_name for session in sessions)
        return Gauges(
            connections_open=len(self.connections),
            connections_refused_open=self.connections.refused_open,
            connections_total=self.connections.opened_total,
            replies_unsent_bytes=self.unsent.unsent,
            connections_paused_unsent=self.unsent.paused,
            sessions={game: by_game[game] for game in self.lobby.games},
            waiting_requests=sum(session.waiting for session in sessions),
            game_code_errors=self.guard.errors,
            store_failed_saves=None if self.store is None else self.store.failed_saves,
            store_refused_saves=0 if self.store is None else self.store.refused_saves,
            tls_handshakes=None if (handshakes := self.handshakes) is None else (
                handshakes.in_progress, handshakes.refused, handshakes.waited),
            tls_certificate_expiry=None if (watch := self.certificates) is None
            or watch.dates is None else watch.dates[1],
            web_streams_dropped_unread=None if self.dashboard is None
            else self.dashboard.http.streams.dropped)

