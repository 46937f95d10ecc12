"""What the dashboard costs and bounds: connections, deadlines, streams and work per change.

Each test runs its own server in this process (``ServerThread``), so it can
look at the dashboard's counters and shorten its deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from game_server_api import GameServerAPI
from gameserver.checked import GameType
from gameserver.game import AbstractGame
from gameserver.web import _history, _http, _streams
from tests.serverproc import ServerThread
from tests.web import play
from tests.web.seats import WebSeat
from tests.web.test_endpoints import GAMES, EventStream, error_of, fetch

PAGES = 10  # live pages open at once


@pytest.fixture
def server() -> Iterator[ServerThread]:
    running = play.web_server()
    yield running
    running.stop()


def dashboard(server: ServerThread) -> Any:
    assert server.server is not None and server.server.dashboard is not None
    return server.server.dashboard


def connect(server: ServerThread, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.settimeout(play.WAIT)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", play.dashboard_port(server)))
    return sock


def request(sock: socket.socket, path: str) -> bytes:
    """Send one GET on ``sock`` and read until the server closes it."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                 .encode())
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- connections


def test_an_ipv6_browser_is_counted_by_its_64_on_a_real_socket() -> None:
    """Through real IPv6 loopback: the dashboard's connections, invite links and bots
    of ::1 count as ::/64 (gameserver/addresses.py); they counted per address, and one
    IPv6 host has a /64 of them."""
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6")
    server = play.web_server(web_host="::1")
    try:
        port = play.dashboard_port(server)
        body = json.dumps({"game": "Chat", "session": "v6", "players": 3, "bots": 1,
                           "name": "ann"}).encode()
        with socket.create_connection(("::1", port), timeout=play.WAIT) as sock:
            sock.sendall(b"POST /api/play/join HTTP/1.1\r\nHost: [::1]\r\nContent-Type: "
                         b"application/json\r\nX-Gameserver-Play: 1\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            reply = b""
            while b"event: waiting" not in reply:  # the head, then the first event
                reply += sock.recv(65536) or b"(closed)"
                assert not reply.endswith(b"(closed)"), reply
            web = dashboard(server)
            assert server.call(lambda: (dict(web.http.per_address), list(web.play.invites._owned),
                                        dict(web.bots._of_address))) == (
                {"::/64": 1}, ["::/64"], {"::/64": 1})
    finally:
        server.stop()


def test_one_address_cannot_starve_the_dashboard_and_healthz_is_always_answered(
        server: ServerThread) -> None:
    """64 idle sockets from one address once got every request a 503, /healthz too."""
    per_address = dashboard(server).http.max_per_address
    idle = [connect(server) for _ in range(64)]
    try:
        play.wait_until(lambda: dashboard(server).http.per_address.get("127.0.0.1", 0)
                        == per_address, "the address to reach its cap")
        with connect(server) as sock:  # the same address, beyond its cap: triaged
            reply = request(sock, "/healthz")
        assert reply.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in reply
        with connect(server) as sock:
            reply = request(sock, "/api/games")
        assert reply.startswith(b"HTTP/1.1 503") and b"Retry-After: 5" in reply
        with connect(server, "127.0.0.2") as sock:  # everyone else is served as usual
            reply = request(sock, "/api/games")
        assert reply.startswith(b"HTTP/1.1 200") and b"TicTacToe" in reply
    finally:
        for sock in idle:
            sock.close()


def test_a_request_has_a_deadline_not_each_read(
        server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client sending one byte now and then once kept its connection for ever."""
    monkeypatch.setattr(_http, "REQUEST_DEADLINE", 1.0)
    with connect(server) as sock:
        started = time.monotonic()
        reply = b""
        for byte in b"GET /api/games HTTP/1.1\r\nX-Slow: " + b"y" * 100:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.05)  # this client is slow on purpose: one byte per 50 ms
            if time.monotonic() - started > 5:
                break
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 408")
    assert json.loads(reply.partition(b"\r\n\r\n")[2])["error"].startswith(
        "the request took longer than 1 s")
    assert time.monotonic() - started < 5


def test_keep_alive_serves_many_requests_on_one_connection(server: ServerThread) -> None:
    with connect(server) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)
            assert head.startswith(b"HTTP/1.1 200") and b"Connection: keep-alive" in head
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            body = b""
            while len(body) < length:
                body += sock.recv(length - len(body))
            assert json.loads(body)["status"] == "ok"


def test_a_live_page_outlives_the_request_deadline(
        server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream only writes; the deadline is for a request that never comes."""
    monkeypatch.setattr(_http, "REQUEST_DEADLINE", 0.5)
    stream = EventStream(server, "/api/events")
    try:
        assert stream.next()[1]["sessions"] == []
        time.sleep(3 * _http.REQUEST_DEADLINE)  # quiet, well beyond the deadline
        play.seat(server, "Echo", "late-1", ["eve"])
        while not any(s["session"] == "late-1" for s in stream.next()[1]["sessions"]):
            pass
    finally:
        stream.close()


def test_a_stream_whose_client_does_not_read_is_dropped(
        server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unread events once piled up in the server without bound."""
    monkeypatch.setattr(_http, "STREAM_BUFFER_MAX", 64 * 1024)
    sessions = [play.seat(server, "Echo", f"big-{n}", [f"player {n} " + "x" * 80])[0]
                for n in range(150)]
    index = dashboard(server).index
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
    sock.settimeout(play.WAIT)
    sock.connect(("127.0.0.1", play.dashboard_port(server)))
    try:
        sock.sendall(b"GET /api/events?limit=500 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        play.wait_until(lambda: index.watchers == 1, "the stream to start")
        deadline = time.monotonic() + 60
        n = 0
        while index.watchers and time.monotonic() < deadline:  # never reading
            generation = index.generation
            sessions[n % len(sessions)].move(msg=n)  # each change: a new page of ~40 KB
            play.wait_until(lambda g=generation: index.generation > g or not index.watchers,
                            "the lobby to refresh")
            n += 1
        assert index.watchers == 0, "the stream was never dropped"
    finally:
        sock.close()
    assert fetch(server, "/api/sessions?limit=1")[0] == 200


def test_unread_live_pages_are_bounded_together_and_the_slowest_are_dropped(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Each stream was bounded (512 KiB unread) but not their sum: 512 connections that
    did not read held 256 MiB. Here only the sum bounds them (1 MiB, the least allowed);
    the slow readers are dropped, the page that reads stays."""
    monkeypatch.setattr(_http, "STREAM_BUFFER_MAX", 64 * 2**20)  # no stream alone is dropped
    server = play.web_server(web_stream_buffer_max_total=2**20)
    slow: list[socket.socket] = []
    try:
        sessions = [play.seat(server, "Echo", f"big-{n}", [f"player {n} " + "x" * 80])[0]
                    for n in range(150)]
        index = dashboard(server).index
        budget = dashboard(server).http.streams
        reader = connect(server)
        reader.sendall(b"GET /api/events?limit=500 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        taken = [0]

        def read() -> None:  # reads everything, as a browser does
            with contextlib.suppress(OSError):
                while chunk := reader.recv(65536):
                    taken[0] += len(chunk)
            taken.append(-1)  # the stream ended

        reading = threading.Thread(target=read, daemon=True)
        reading.start()
        for _ in range(4):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
            sock.settimeout(play.WAIT)
            sock.connect(("127.0.0.1", play.dashboard_port(server)))
            sock.sendall(b"GET /api/events?limit=500 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            slow.append(sock)  # never read
        play.wait_until(lambda: index.watchers == 5, "the streams to start")
        n = 0
        while index.watchers > 1 and n < 300:  # each change: a page of ~40 KB to each
            generation = index.generation
            sessions[n % len(sessions)].move(msg=n)
            play.wait_until(lambda g=generation: index.generation > g, "the lobby to refresh")
            n += 1
            assert server.call(lambda: budget.total) <= 2**20
        assert index.watchers == 1, f"the slow streams were never dropped ({n} changes)"
        assert budget.dropped == 4 and "web_stream_buffer_max_total (1048576)" in caplog.text
        # Counted where operators look (/metrics; until 2026-11-30 only the log said so).
        play.wait_until(lambda: b"\ngameserver_web_streams_dropped_unread_total 4\n" in fetch(
            server, "/metrics")[2], "/metrics to count the 4 streams dropped")
        before = taken[0]
        sessions[0].move(msg="still live")
        play.wait_until(lambda: taken[0] > before, "the reading page to get the change")
        assert taken[-1] != -1 and index.watchers == 1
        reader.close()
    finally:
        for sock in slow:
            sock.close()
        server.stop()


def large_finished_game(server: ServerThread) -> int:
    """The id of a finished Echo game of 40 moves of 900 KB: its replay is cut at 16 MiB
    (nine moves and the states after them, 15.5 MiB)."""
    api = GameServerAPI("127.0.0.1", server.port, "Echo", session="big", players=1,
                        keep_alive=True)
    api.join()
    for number in range(40):
        api.move(msg=f"{number}" + "y" * 900_000)
    api.move(msg="quit")
    api.close()
    return int(play.wait_until(lambda: play.get_json(server, "/api/history")["games"],
                               "the game in the history")[0]["id"])


def unread_replays(server: ServerThread, game_id: int, count: int) -> list[socket.socket]:
    """``count`` connections that asked for the replay and read only its status line,
    which is checked: a 200, until the replies unread are too many, then a 503."""
    readers = []
    statuses = []
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(play.WAIT)
        sock.connect(("127.0.0.1", play.dashboard_port(server)))
        sock.sendall(f"GET /api/history/{game_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                     .encode())
        statuses.append(sock.recv(12))  # the status line's start; the rest stays unread
        readers.append(sock)
    assert statuses == [b"HTTP/1.1 200"] * 2 + [b"HTTP/1.1 503"] * (count - 2)
    return readers


def test_large_replays_nobody_reads_are_bounded_together(tmp_path) -> None:
    """A replay may be 16 MiB, and the dashboard held each until its client took it: 32
    connections (one address's share) asking for one and reading nothing took the server
    from 65 MB to 606 MB. Now the replies made and not yet taken are bounded together
    (``_history.OUT_MAX``, 32 MiB): a third such request gets 503; once the readers go,
    the replay is served again."""
    server = play.web_server(store=True, store_path=str(tmp_path / "store.sqlite3"))
    try:
        game_id = large_finished_game(server)
        for sock in unread_replays(server, game_id, 4):
            sock.close()
        play.wait_until(lambda: fetch(server, f"/api/history/{game_id}")[0] == 200,
                        "the replay served again")
    finally:
        server.stop()


def test_a_replay_that_cannot_fit_is_refused_before_it_is_built(tmp_path) -> None:
    """Two large replays unread leave 1 MiB of the 32 MiB bound: a third request was
    read, replayed and encoded whole (16 MiB of text, and the server's memory peaked at
    about 70 MB more meanwhile), then refused with 503 for want of room and dropped.
    Now it is read only as far as the room left, and refused there."""
    server = play.web_server(store=True, store_path=str(tmp_path / "store.sqlite3"))
    try:
        game_id = large_finished_game(server)
        readers = unread_replays(server, game_id, 2)
        history = server.server.dashboard.app.history  # type: ignore[union-attr]
        assert _history.OUT_MAX - 2 * 2**20 < server.call(lambda: history._out) < _history.OUT_MAX
        tracemalloc.start()  # (this process's: the server runs in a thread of the test's)
        try:
            status = fetch(server, f"/api/history/{game_id}")[0]
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert status == 503
        assert peak < 4 * 2**20, f"{peak / 2**20:.1f} MiB"
        for sock in readers:
            sock.close()
    finally:
        server.stop()


# ---------------------------------------------------------------- events too large for a stream


@pytest.fixture
def big() -> Iterator[ServerThread]:
    """A server with BigView, whose view is as large as its player asks."""
    running = play.web_server(games_dirs=[str(GAMES)])
    yield running
    running.stop()


TOO_LARGE = 600_000  # bytes of view: more than the 512 KiB one event may be


def fetched(stream: EventStream) -> Any:
    """The next event whose view is known (a worker's game: fetched after each change)."""
    while True:
        _, data = stream.next()
        if "not known yet" not in str((data.get("view") or {}).get("error")):
            return data


def test_a_view_too_large_for_one_event_is_a_note_with_a_link_not_a_dropped_stream(
        big: ServerThread) -> None:
    """Such a view once got its stream dropped: the page reconnected every 2 s, forever."""
    (client,) = play.seat(big, "BigView", "big-1", ["ann"])
    client.move(size=TOO_LARGE)
    stream = EventStream(big, "/api/sessions/BigView/big-1/events?player=0")
    try:
        data = fetched(stream)
        note = data["too_large"]
        assert note["bytes"] > TOO_LARGE and note["max"] == _http.STREAM_BUFFER_MAX
        assert data["view"] is None and data["summary"]["players"][0]["name"] == "ann"
        assert note["url"] == "/api/sessions/BigView/big-1?player=0"
        assert len(play.get_json(big, note["url"])["view"]["filler"]) == TOO_LARGE
        client.move(size=10)  # the same stream goes on: smaller again, the view is sent
        data = fetched(stream)
        assert data["view"]["filler"] == "x" * 10 and "too_large" not in data
    finally:
        stream.close()


def test_a_state_not_known_yet_on_the_session_page_is_sent_once_known(
        big: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large state of a game in a worker process is fetched when asked: the session's
    page showed "not known yet" until it looked again, at its next refresh or change.
    Now the state's arrival changes the session's mark, and the page is sent it: here
    the refreshes are stopped, so only that can bring the next event."""
    monkeypatch.setattr(_streams, "STREAM_REFRESH", 3600.0)
    (client,) = play.seat(big, "BigView", "big-known", ["ann"])
    client.move(size=300_000)  # more than a change sends along: fetched when asked
    stream = EventStream(big, "/api/sessions/BigView/big-known/events?player=0")
    try:
        _, data = stream.next()
        assert "is not known yet" in data["view"]["error"] and "error" not in data["summary"]
        _, data = stream.next()
        assert data["view"]["filler"] == "x" * 300_000 and "error" not in data["summary"]
    finally:
        stream.close()


def test_a_players_state_too_large_for_one_event_says_so_on_the_play_stream(
        big: ServerThread) -> None:
    seat = WebSeat(play.dashboard_port(big), "BigView").join(players=1, name="ann")
    try:
        seat.state()
        assert seat.move(size=TOO_LARGE)["status"] == "ok"
        name, data = seat.states().next()
        assert name == "too_large", (name, str(data)[:200])
        assert data["bytes"] > TOO_LARGE and data["max"] == _http.STREAM_BUFFER_MAX
        assert seat.move(size=3)["status"] == "ok"  # the stream still runs
        assert seat.state()["filler"] == "xxx"
    finally:
        seat.close()


def test_a_lobby_page_too_large_for_one_event_is_trimmed(
        server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_http, "STREAM_BUFFER_MAX", 16 * 1024)
    for n in range(60):
        play.seat(server, "Echo", f"long-{n}", [f"pläyer {n} " + "x" * 80])
    stream = EventStream(server, "/api/events?limit=500")
    try:
        _, data = stream.next()
        assert data["matched"] == 60 and 0 < len(data["sessions"]) == data["limit"] < 60
    finally:
        stream.close()


# ---------------------------------------------------------------- work per change


def test_lobby_pages_share_the_work_of_each_change(server: ServerThread) -> None:
    """Every open lobby page once read all sessions on the loop, once per change."""
    index = dashboard(server).index
    for n in range(20):
        play.seat(server, "Echo", f"shared-{n}", ["eve"])
    streams = [EventStream(server, "/api/events") for _ in range(PAGES)]
    try:
        for stream in streams:
            stream.next()
        summaries = index.summaries
        play.seat(server, "Echo", "shared-new", ["eve"])
        for stream in streams:
            while not any(s["session"] == "shared-new" for s in stream.next()[1]["sessions"]):
                pass
        # One new session: its summary is computed once, the 20 others not again.
        assert index.summaries - summaries == 1
    finally:
        for stream in streams:
            stream.close()


def test_the_lobby_reply_is_capped_and_counts_everything(server: ServerThread) -> None:
    for n in range(12):
        play.seat(server, "Echo", f"many-{n:02}", [f"eve{n}"])
    page = play.get_json(server, "/api/sessions?limit=5&offset=5")
    assert page["counts"]["sessions"] == page["counts"]["live"] == page["matched"] == 12
    assert [s["session"] for s in page["sessions"]] == [f"many-{n:02}" for n in range(5, 10)]
    found = play.get_json(server, "/api/sessions?q=EVE11")
    assert [s["session"] for s in found["sessions"]] == ["many-11"] and found["matched"] == 1


def test_a_spectator_page_ignores_changes_of_other_sessions(server: ServerThread) -> None:
    play.seat(server, "TicTacToe", "watched", ["ann", "bob"])
    views = dashboard(server).streams.views
    stream = EventStream(server, "/api/sessions/TicTacToe/watched/events?player=0")
    try:
        stream.next()
        built = views.built
        others = [play.seat(server, "Echo", f"other-{n}", ["eve"])[0] for n in range(4)]
        for n, other in enumerate(others):
            other.move(msg=n)
        clients = play.seat(server, "TicTacToe", "watched-2", ["cy", "di"])
        play.play_tictactoe(server, clients, "watched-2", [4])
        assert views.built == built  # woken for none of these
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


def test_nothing_but_healthz_is_served_while_the_dashboard_stops(server: ServerThread) -> None:
    dashboard(server).stopping = True
    assert "shutting down" in error_of(server, "/api/games", 503)
    assert fetch(server, "/healthz")[0] == 200


def test_a_replay_is_bounded_however_large_its_moves(tmp_path: Any) -> None:
    """A finished Echo game of 200 moves of 900 KB made one ``/api/history/ID`` reply
    of 343 MB (each move, and the state after it) and took the server to 1.9 GB; the
    1,000 moves a replay shows would take 10 GB, so a client that played such a game
    could have the server killed by whoever opened its replay. A replay now holds at
    most ``HISTORY_SHOWN_BYTES`` of moves and states, and says where it stops."""
    from gameserver.store.reader import HISTORY_SHOWN_BYTES
    from tests.wire import Player

    running = play.web_server(store=True, store_path=str(tmp_path / "store.sqlite3"))
    try:
        echo = Player(running.port, "Echo", "bomb", players=1, name="eve")
        assert echo.join()["status"] == "ok"
        moves = HISTORY_SHOWN_BYTES // 900_000 + 4  # the moves alone are over the bound
        for n in range(moves):
            assert echo.move(msg=f"{n}" + "x" * 900_000)["status"] == "ok"
        assert echo.move(msg="quit")["status"] == "ok"
        games = play.wait_until(lambda: play.get_json(running, "/api/history")["games"],
                                "the game in the history")
        status, _, body = fetch(running, f"/api/history/{games[0]['id']}?player=0")
        assert status == 200
        assert len(body) <= HISTORY_SHOWN_BYTES + 64 * 1024, len(body)
        replay = json.loads(body)
        assert 0 < len(replay["steps"]) < moves + 1
        assert "too large" in replay["note"]
    finally:
        running.stop()


def test_the_budget_is_not_counted_afresh_at_every_write_near_its_limit() -> None:
    """The budget counts every stream afresh when its sum (an upper bound: a stream's
    count is from its last write) passes the limit. When the true sum stayed just under
    the limit (slow pages holding nearly all of it, clients that read what they are sent)
    it was counted afresh, every stream, at about every write: 512 streams, 58 ms of the
    loop per change sent to all. Now a count that finds it near the limit (past 7/8 of
    it) drops the slowest readers down to 7/8, so the next count is at least an eighth
    of the limit of writes away. Real streams on real sockets, with small buffers."""
    limit = 2**20
    chunk = 8 * 1024

    async def run() -> tuple[int, int]:
        budget = _http.StreamBudget(limit)
        peers: list[socket.socket] = []
        listener = socket.create_server(("127.0.0.1", 0))
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # (accepted: small)
        streams, writers = [], []
        for _ in range(5):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            sock.connect(listener.getsockname())
            peer, _ = listener.accept()
            peer.setblocking(False)
            peers.append(peer)
            _, writer = await asyncio.open_connection(sock=sock)
            writers.append(writer)
            stream = _http.EventStream(None)  # type: ignore[arg-type]  # (sent to by hand)
            stream.attach(writer, budget)
            streams.append(stream)
        slow, reading = streams[:3], streams[3:]

        async def fill(stream: _http.EventStream, unread: int) -> None:
            """Send until ``unread`` bytes wait in the server (the kernel's buffers full)."""
            while stream.unread < unread:
                assert stream.send(b"x" * min(chunk, unread - stream.unread))
                await asyncio.sleep(0)

        async def drain(stream: _http.EventStream, peer: socket.socket) -> None:
            while stream.unread:
                with contextlib.suppress(BlockingIOError):
                    while peer.recv(65536):
                        pass
                await asyncio.sleep(0.001)
            with contextlib.suppress(BlockingIOError):
                while peer.recv(65536):
                    pass

        for stream in slow:  # their clients never read: 952 KiB of the 1 MiB
            await fill(stream, (limit - 72 * 1024) // 3)
        assert budget.recounts == 0 and budget.dropped == 0
        for n in range(40):  # the reading pages, in turn: sent 48 KiB, then read it all
            stream = reading[n % 2]
            await fill(stream, 48 * 1024)
            await drain(stream, peers[3 + n % 2])
        for writer in writers:
            writer.transport.abort()
        await asyncio.sleep(0)  # (the transports close)
        for peer in peers:
            peer.close()
        listener.close()
        return budget.recounts, budget.dropped

    recounts, dropped = asyncio.run(run())
    assert dropped >= 1  # a slow page: the true sum was past 7/8 of the limit
    assert recounts <= 3, f"counted afresh {recounts} times in 40 rounds"
