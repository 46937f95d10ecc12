"""What the dashboard costs and bounds: connections, threads, timeouts and work per change.

Each test runs its own server in this process (``ServerThread``), so it can
count threads and calls and patch the handler's timeout.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gameserver.checked import GameType
from gameserver.game import AbstractGame
from gameserver.web import _data
from gameserver.web._handler import STREAM_REFRESH, Handler
from gameserver.web.dashboard import MAX_CONNECTIONS
from tests.serverproc import ServerThread
from tests.web import play
from tests.web.test_endpoints import EventStream, error_of, fetch

PAGES = 10  # live pages open at once


@pytest.fixture
def server() -> Iterator[ServerThread]:
    running = play.web_server()
    yield running
    running.stop()


def dashboard(server: ServerThread) -> Any:
    assert server.server is not None and server.server.dashboard is not None
    return server.server.dashboard


class Counted:
    """Wraps a function of ``_data`` to count its calls (they run on the loop)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._real = getattr(_data, name)
        monkeypatch.setattr(_data, name, self)

    def __call__(self, *args: Any) -> Any:
        self.calls.append(args)
        return self._real(*args)


# ---------------------------------------------------------------- connections


def test_idle_connections_get_no_thread_beyond_the_limit_and_are_closed(
        server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """300 idle connections once made 300 threads that never ended."""
    monkeypatch.setattr(Handler, "timeout", 2.0)  # the real one is 30 s
    port = play.dashboard_port(server)
    before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", port), timeout=play.WAIT)
            for _ in range(MAX_CONNECTIONS + 60)]
    try:
        replies: dict[socket.socket, bytes] = {}

        def read() -> None:
            waiting = [s for s in idle if s not in replies]
            for sock in select.select(waiting, [], [], 0.05)[0]:
                replies[sock] = sock.recv(65536)

        def answered() -> int:
            read()
            return sum(reply.startswith(b"HTTP/1.0 503") for reply in replies.values())

        def all_closed() -> bool:
            read()
            return len(replies) == len(idle)

        # Beyond the limit: a 503 at once, no thread. The others wait for a request.
        play.wait_until(lambda: answered() >= 60, "503 replies beyond the limit")
        assert threading.active_count() - before <= MAX_CONNECTIONS
        busy = next(r for r in replies.values() if r.startswith(b"HTTP/1.0 503"))
        assert json.loads(busy.partition(b"\r\n\r\n")[2])["error"].startswith(
            "the dashboard is busy")
        # Then the timeout closes the idle ones, and the dashboard answers again.
        play.wait_until(all_closed, "the idle connections to be closed")
        assert sum(r == b"" for r in replies.values()) == MAX_CONNECTIONS
        assert fetch(server, "/api/games")[0] == 200
        play.wait_until(lambda: threading.active_count() <= before,
                        "the dashboard's threads to end")
    finally:
        for sock in idle:
            sock.close()


def test_a_live_page_outlives_the_timeout(server: ServerThread,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream only writes; the timeout is for a request that never comes."""
    monkeypatch.setattr(Handler, "timeout", 0.5)
    stream = EventStream(server, "/api/events")
    try:
        assert stream.next()[1]["sessions"] == []
        time.sleep(3 * Handler.timeout)  # quiet, well beyond the timeout
        play.seat(server, "Echo", "late-1", ["eve"])
        while not any(s["session"] == "late-1" for s in stream.next()[1]["sessions"]):
            pass
    finally:
        stream.close()


# ---------------------------------------------------------------- work per change


def test_lobby_pages_share_one_snapshot_per_change(
        server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every open lobby page once read all sessions on the loop, once per change."""
    snapshots = Counted(monkeypatch, "sessions_snapshot")
    feed = dashboard(server).feed
    streams = [EventStream(server, "/api/events") for _ in range(PAGES)]
    try:
        for stream in streams:
            stream.next()
        calls, generation, started = len(snapshots.calls), feed.generation, time.monotonic()
        play.seat(server, "Echo", "shared-1", ["eve"])
        for stream in streams:
            while not any(s["session"] == "shared-1" for s in stream.next()[1]["sessions"]):
                pass
        changes = feed.generation - generation
        refreshes = 1 + int((time.monotonic() - started) / STREAM_REFRESH)
        assert 1 <= len(snapshots.calls) - calls <= changes + refreshes < PAGES
    finally:
        for stream in streams:
            stream.close()


def test_a_spectator_page_ignores_changes_of_other_sessions(
        server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    play.seat(server, "TicTacToe", "watched", ["ann", "bob"])
    snapshots = Counted(monkeypatch, "session_snapshot")
    feed = dashboard(server).feed
    stream = EventStream(server, "/api/sessions/TicTacToe/watched/events?player=0")
    try:
        stream.next()

        def change_elsewhere(n: int) -> None:
            generation = feed.generation
            play.seat(server, "Echo", f"other-{n}", ["eve"])
            play.wait_until(lambda: feed.generation > generation, "the feed to see it")

        change_elsewhere(0)  # the feed has ticked since the stream started
        calls, started = len(snapshots.calls), time.monotonic()
        for n in range(1, 5):
            change_elsewhere(n)
        refreshes = 1 + int((time.monotonic() - started) / STREAM_REFRESH)
        assert len(snapshots.calls) - calls <= refreshes < 4
    finally:
        stream.close()


# ---------------------------------------------------------------- the games


class Unplayable(AbstractGame):
    """The classic mistake: ``min_players`` without @staticmethod."""

    def min_players(self) -> int:  # type: ignore[override]
        return 2

    @staticmethod
    def max_players() -> int:
        return 2


def test_a_game_whose_min_players_fails_is_listed_with_its_error(server: ServerThread) -> None:
    assert server.server is not None
    server.call(server.server.lobby.game_types.__setitem__, "Unplayable",
                  GameType("Unplayable", Unplayable, server.server.guard))
    status, _, body = fetch(server, "/api/games")
    assert status == 200
    games = {g["name"]: g for g in json.loads(body)}
    assert "min_players" in games["Unplayable"]["error"]
    assert "min_players" not in games["Unplayable"]
    assert games["Unplayable"]["renderer"] is None
    assert games["TicTacToe"]["min_players"] == 2 and "error" not in games["TicTacToe"]


def test_games_are_not_read_while_the_dashboard_stops(server: ServerThread) -> None:
    dashboard(server).stopping = True
    assert "shutting down" in error_of(server, "/api/games", 503)
