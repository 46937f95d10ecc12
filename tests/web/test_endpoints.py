"""The dashboard's HTTP endpoints against a real server, through urllib and raw sockets."""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import ssl
import types
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from game_server_api import GameServerAPI, GameServerError
from gameserver.web import Dashboard, WebSettings, _data, _http
from tests.serverproc import ServerThread
from tests.test_handshakes import hello
from tests.web import play
from tests.web.seats import next_event
from tests.wire import until

GAMES = Path(__file__).with_name("games")


@pytest.fixture(scope="module")
def web() -> Iterator[ServerThread]:
    """A server with its dashboard, the bundled games and the test games of tests/web/games."""
    server = play.web_server(games_dirs=[str(GAMES)], game_timeout=600.0)
    yield server
    server.stop()


def fetch(server: ServerThread, path: str, headers: dict[str, str] | None = None,
          method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; error statuses are returned, not raised."""
    url = f"http://127.0.0.1:{play.dashboard_port(server)}{path}"
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=play.WAIT) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def error_of(server: ServerThread, path: str, status: int, **kwargs: Any) -> str:
    code, headers, body = fetch(server, path, **kwargs)
    assert code == status, body
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)["error"]


def raw(server: ServerThread, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", play.dashboard_port(server)),
                                  timeout=play.WAIT) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


class EventStream:
    """A server-sent event stream read line by line, with a timeout."""

    def __init__(self, server: ServerThread, path: str) -> None:
        url = f"http://127.0.0.1:{play.dashboard_port(server)}{path}"
        self.reply = urllib.request.urlopen(url, timeout=play.WAIT)
        assert self.reply.headers["Content-Type"].startswith("text/event-stream")

    def next(self) -> tuple[str, Any]:
        """The next event as (event name, decoded data); comments and retry are skipped."""
        name, data = next_event(self.reply.readline)
        assert name != "eof", "the stream ended"
        return name, data

    def close(self) -> None:
        self.reply.close()


def session_keys(server: ServerThread, game: str, token: str) -> list[str]:
    def keys() -> list[str]:
        assert server.server is not None
        session = server.server.lobby.sessions[(game, token)]
        return [k for p in session.players for k in (p.key, p.observer_key) if k]
    return server.call(keys)


TOKEN = "s3cret token for tests"
QTOKEN = TOKEN.replace(" ", "%20")  # in a query string
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def guarded() -> Iterator[ServerThread]:
    server = play.web_server(web_token=TOKEN)
    yield server
    server.stop()


# ---------------------------------------------------------------- pages and files


def test_healthz(web: ServerThread) -> None:
    status, _, body = fetch(web, "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_pages_are_one_html_shell_with_a_strict_policy(web: ServerThread) -> None:
    for path in ("/", "/history", "/session/TicTacToe/some%2Fthing", "/replay/12"):
        status, headers, body = fetch(web, path)
        assert status == 200, path
        assert headers["Content-Type"].startswith("text/html")
        assert b'<script src="/static/app.js"' in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_static_files_are_served_with_their_types(web: ServerThread) -> None:
    for name, kind in (("app.js", "text/javascript"), ("renderers.js", "text/javascript"),
                       ("style.css", "text/css"), ("favicon.svg", "image/svg+xml")):
        status, headers, _ = fetch(web, f"/static/{name}")
        assert status == 200 and headers["Content-Type"].startswith(kind)


def test_a_games_own_renderer_is_refused_by_default_and_bundled_ones_stay(
        web: ServerThread) -> None:
    """A folder game's CoinToss.js was served by default: a student's script on every page.

    It ran as the dashboard itself (the operator's pages and the play pages
    included): it could read the seat keys the browser keeps and act with
    the operator's cookie. Now it is served only with web_renderers "all".
    """
    message = error_of(web, "/renderers/CoinToss.html", 404)
    assert "--web-renderers all" in message and "sandboxed frame" in message
    games = {g["name"]: g for g in play.get_json(web, "/api/games")}
    assert games["CoinToss"]["renderer"] is None  # the page shows the JSON tree
    status, _, body = fetch(web, "/static/renderers.js")  # the bundled games' renderers
    assert status == 200 and b'register("TicTacToe"' in body
    assert games["TicTacToe"]["renderer"] is None  # bundled: in renderers.js, no URL
    assert "no renderer of its own" in error_of(web, "/renderers/TicTacToe.html", 404)
    assert "no renderer of its own" in error_of(web, "/renderers/NoSuchGame.html", 404)


def test_with_web_renderers_all_a_games_own_renderer_is_served_in_a_sandboxed_document(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The author's script was served as /renderers/GAME.js and run in the dashboard's
    pages. Now it is only inside /renderers/GAME.html, a document sandboxed by its own
    header (opened by itself too) whose scripts may load and fetch nothing."""
    (tmp_path / "coin_toss.py").write_text((GAMES / "coin_toss.py").read_text())
    script = (GAMES / "CoinToss.js").read_text()
    (tmp_path / "CoinToss.js").write_text(script + '\n// "</script><script>alert(1)</script>"\n')
    with caplog.at_level(logging.INFO, "gameserver.web"):
        server = play.web_server(games_dirs=[str(tmp_path)], web_renderers="all")
    (said,) = [r.getMessage() for r in caplog.records if "web_renderers" in r.getMessage()]
    assert "sandboxed frame" in said and "legal moves" in said  # what the setting allows
    try:
        url = f"http://127.0.0.1:{play.dashboard_port(server)}/renderers/CoinToss.html"
        with urllib.request.urlopen(url, timeout=play.WAIT) as reply:
            (policy,) = reply.headers.get_all("Content-Security-Policy")  # one, not two
            assert reply.headers.get_all("X-Frame-Options") == ["SAMEORIGIN"]
            body = reply.read().decode()
        nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
        assert policy.startswith("sandbox allow-scripts; default-src 'none'; ")
        assert "connect-src" not in policy and "allow-same-origin" not in policy
        assert body.count(f'<script nonce="{nonce}">') == 3  # renderers.js, frame.js, theirs
        assert body.count("</script>") == 3  # theirs cannot end its element early
        assert 'GameDashboard.register("CoinToss"' in body
        assert fetch(server, "/renderers/CoinToss.js")[0] == 404  # never as a script of ours
        (tmp_path / "CoinToss.js").write_text(script + "// <!-- <script>\n")  # read fresh
        body = fetch(server, "/renderers/CoinToss.html")[2].decode()
        assert "<!--" not in body and "contains \\u003c!-- (an HTML comment)" in body
        games = {g["name"]: g for g in play.get_json(server, "/api/games")}
        assert games["CoinToss"]["renderer"] == "/renderers/CoinToss.html"
        assert games["TicTacToe"]["renderer"] is None
        assert error_of(server, "/renderers/TicTacToe.html", 404)
        assert error_of(server, "/renderers/NoSuchGame.html", 404)
    finally:
        server.stop()


@pytest.mark.parametrize("path", [
    "/nope", "/api", "/api/nope", "/api/sessions/TicTacToe", "/static/", "/static/nope.js",
    "/static/../_handler.py", "/static/%2e%2e%2f_handler.py", "/session/TicTacToe",
    "/replay/1/2", "/api/sessions/TicTacToe/missing", "/api/history/abc", "/metrics/x",
    # digits to isdigit(), not to int(): these were a 500 with a traceback in the log
    "/api/history/%C2%B2", "/api/history/" + "9" * 5000,
])
def test_bad_paths_get_a_json_404(web: ServerThread, path: str) -> None:
    assert error_of(web, path, 404)


def test_bad_parameters_and_methods_get_json_errors(web: ServerThread) -> None:
    assert "player" in error_of(web, "/api/sessions/TicTacToe/x?player=abc", 400)
    assert error_of(web, "/api/games", 501, method="POST")
    reply = raw(web, b"GET /api/games junk HTTP/1.1\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400") and b'{"error":' in reply
    reply = raw(web, b"GET /api/games HTTP/1.1\r\nX: " + b"y" * 70000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431") and b'{"error":' in reply
    assert b'{"error":' in raw(web, b"NONSENSE\r\n\r\n")  # HTTP/0.9: a body only
    for target in (b"//[x/", b"http://[::1/"):  # urlsplit() raised: no reply, a traceback
        reply = raw(web, b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 400") and b"bad request target" in reply


PLAY_HEAD = (b"Host: 127.0.0.1\r\nX-Gameserver-Play: 1\r\n"
             b"Content-Type: application/json\r\n")


@pytest.mark.parametrize("length", ["\u00b2", "9" * 5000, "+2", "0x2"])
def test_a_content_length_that_is_not_plain_digits_gets_411(
        web: ServerThread, caplog: pytest.LogCaptureFixture, length: str) -> None:
    """"²" passed isdigit() and 5000 digits passed it too; int() then failed: no reply at
    all, and a traceback in the log for every such request (from anyone)."""
    with caplog.at_level(logging.ERROR, "gameserver.web"):
        reply = raw(web, b"POST /api/play/open HTTP/1.1\r\n" + PLAY_HEAD
                    + f"Content-Length: {length}\r\n\r\n".encode("latin-1"))
    assert reply.startswith((b"HTTP/1.1 411", b"HTTP/1.1 413")) and b'{"error":' in reply
    assert not caplog.records


@pytest.mark.parametrize("encoding", [b"chunked", b"", b"identity"])
def test_any_transfer_encoding_is_refused(web: ServerThread, encoding: bytes) -> None:
    """A proxy in front may read a body by it; an empty one was let through (and the body
    read by its Content-Length), where a proxy may take it for chunked."""
    reply = raw(web, b"POST /api/play/open HTTP/1.1\r\n" + PLAY_HEAD + b"Transfer-Encoding: "
                + encoding + b"\r\nContent-Length: 2\r\n\r\n{}")
    assert reply.startswith(b"HTTP/1.1 501") and b"must come with Content-Length" in reply


def test_a_client_that_expects_100_continue_gets_it_before_it_sends_the_body(
        web: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 9110, 10.1.1: the server MUST answer at once, 100 or a final status. It said
    nothing, and the body was waited for until the deadline (curl sends it after 1 s)."""
    monkeypatch.setattr(_http, "REQUEST_DEADLINE", 600.0)
    with socket.create_connection(("127.0.0.1", play.dashboard_port(web)),
                                  timeout=play.WAIT) as sock:
        sock.sendall(b"POST /api/play/open HTTP/1.1\r\n" + PLAY_HEAD
                     + b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"[1]")
        assert sock.recv(65536).startswith(b"HTTP/1.1 400 ")  # (not an object: refused)


def test_a_repeated_content_length_is_refused(web: ServerThread) -> None:
    """Two lengths mean two readings (a proxy in front may take the other one): 400."""
    reply = raw(web, b"POST /api/play/open HTTP/1.1\r\n" + PLAY_HEAD
                + b"Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}")
    assert reply.startswith(b"HTTP/1.1 400") and b"given twice" in reply


@pytest.mark.parametrize("head", [
    b"POST /api/play/open HTTP/1.1\r\nHost: 127.0.0.1\rContent-Length: 40\r\n",  # bare CR
    b"POST /api/play/open HTTP/1.1\r\nHost: 127.0.0.1\x00\r\n",
    b"POST /api/play/open\x0b HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    b"POST /api/play/open\tHTTP/1.1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"])
def test_a_control_character_in_a_line_of_the_head_is_refused(
        web: ServerThread, head: bytes) -> None:
    """A bare LF or CR ends a line for some proxies: in front of us, one would read a
    Content-Length we do not see, and take the bytes we read as the next request for this
    request's body (or the other way round). Served before, as a Host of "127.0.0.1\\n..."."""
    reply = raw(web, head + PLAY_HEAD + b"Content-Length: 2\r\n\r\n{}")
    assert reply.startswith(b"HTTP/1.1 400") and b"control character" in reply, reply[:200]


@pytest.mark.parametrize(("head", "status", "says"), [
    (b"GET /api/games HTTP/1.1\nHost: 127.0.0.1\n\n", 400, b"ends with LF alone"),
    (b"GET /api/games HTTP/1.1\r\nHost: 127.0.0.1\n\n", 400, b"ends with LF alone"),
    (b"POST /api/play/open HTTP/1.1\r\nHost: 127.0.0.1\nContent-Length: 40\r\n"
     + PLAY_HEAD + b"Content-Length: 2\r\n\r\n{}", 400, b"ends with LF alone"),
    (b"GET /\n", 400, b"ends with LF alone"),  # HTTP/0.9, bare
    (b"GET /\r\n", 400, b"bad request line"),  # HTTP/0.9: no version, no headers to come
    (b"GET / HTTP/1.10\r\n", 400, b"no HTTP version"),
    (b"GET / HTTP/1.x\r\nHost: 127.0.0.1\r\n\r\n", 400, b"no HTTP version"),
    (b"GET / http/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, b"no HTTP version"),
    (b"GET / HTTP/2.0\r\n", 505, b"only HTTP/1.0 and HTTP/1.1"),
    (b"GET / HTTP/0.9\r\n", 505, b"only HTTP/1.0 and HTTP/1.1"),
    (b"\r\n\r\nGET /api/games HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, b"empty lines"),
    (b"GET /api/games HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431, b"100 header lines"),
    (b"GET /" + b"a" * 65536, 431, b"request head larger than"),  # one endless line
    (b"\x16" + b"a" * 65536, 400, b"a TLS handshake came"),
])
def test_a_malformed_head_is_answered_at_once_not_at_the_deadline(
        web: ServerThread, monkeypatch: pytest.MonkeyPatch, head: bytes, status: int,
        says: bytes) -> None:
    """A head in bare LFs holds no CR LF CR LF: it was answered 408 at the 10 s deadline
    (a client waiting for its answer, a connection held). Now each line is looked at as it
    comes: the deadline is made longer than the test waits, and the answer still comes.
    The versions: HTTP/1.10 and HTTP/1.x were served; a head of 101 header lines too."""
    monkeypatch.setattr(_http, "REQUEST_DEADLINE", 600.0)
    reply = raw(web, head)  # (our side stays open: a late reply times the read out)
    assert reply.startswith(b"HTTP/1.1 %d" % status) and says in reply, reply[-200:]
    assert b"Connection: close" in reply


def test_a_later_http_1_version_is_served_as_http_1_1(web: ServerThread) -> None:
    """RFC 9110, 2.5: HTTP/1.9 is processed as HTTP/1.1, kept alive (it was served as 1.0:
    closed after one reply). One empty line before a request line is ignored (RFC 9112, 2.2),
    as after a POST body some clients send one."""
    request = b"GET /healthz HTTP/1.9\r\nHost: 127.0.0.1\r\n\r\n"
    reply = raw(web, request + b"\r\n" + request.replace(b"\r\n\r\n",
                                                         b"\r\nConnection: close\r\n\r\n"))
    assert reply.count(b"HTTP/1.1 200 OK") == 2 and b"Connection: keep-alive" in reply


def test_a_path_or_query_of_many_parts_is_refused_before_it_is_decoded(
        web: ServerThread, guarded: ServerThread) -> None:
    """Every request's path and query were decoded before anything else, the token's check
    included, on the game server's loop: 16 KiB of "a&" took 5-14 ms, of "%41/" 11 ms, and a
    login form of 64 KiB of "a&" 22 ms, so a stranger's few requests a second held it."""
    assert "more than 32 parts" in error_of(web, "/api/games/" + "%41/" * 40, 404)
    assert "more than 32 query parameters" in error_of(web, "/api/games?" + "a&" * 40, 400)
    assert fetch(web, "/api/games?" + "a&" * 30)[0] == 200
    port = play.dashboard_port(guarded)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=play.WAIT)
    try:
        conn.request("POST", "/", "a&" * 40 + f"token={QTOKEN}",
                     {"Content-Type": "application/x-www-form-urlencoded"})
        reply = conn.getresponse()
        assert reply.status == 400 and b"a login form has one field" in reply.read()
    finally:
        conn.close()


def test_two_host_headers_are_refused(web: ServerThread) -> None:
    """RFC 9112, 3.2 (a server MUST refuse them): the DNS-rebinding check reads the last,
    a proxy in front may route by the first. Both were served, the last one checked."""
    reply = raw(web, b"GET /api/games HTTP/1.1\r\nHost: evil.example\r\n"
                     b"Host: 127.0.0.1\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400") and b"the header host is given twice" in reply


def test_an_http_1_1_request_without_host_is_refused_and_http_1_0_is_served(
        web: ServerThread, guarded: ServerThread) -> None:
    """RFC 9112, 3.2: a server MUST answer 400 to an HTTP/1.1 request without Host. It was
    served (without a token, as one for localhost; with one, to anyone with the token).
    HTTP/1.0 needs none: still served; an empty Host is one (of a target without a host)."""
    request = b"GET /api/games%s HTTP/1.%d\r\n%s\r\n"
    for server, token in ((web, b""), (guarded, b"?token=" + QTOKEN.encode())):
        reply = raw(server, request % (token, 1, b""))
        assert reply.startswith(b"HTTP/1.1 400") and b"names its Host" in reply, reply[:300]
        assert b"Connection: close" in reply
        reply = raw(server, request % (token, 0, b""))
        assert reply.startswith(b"HTTP/1.1 200") and b"TicTacToe" in reply, reply[:300]
        reply = raw(server, request % (token, 1, b"Host:\r\nConnection: close\r\n"))
        assert reply.startswith(b"HTTP/1.1 200") and b"TicTacToe" in reply, reply[:300]


def test_the_request_line_is_parsed_once(
        web: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_head parsed it (to refuse a bad one as soon as its line came) and parse_head
    parsed it again."""
    lines: list[str] = []
    parse = _http.parse_request_line

    def counted(line: str) -> Any:
        lines.append(line)
        return parse(line)

    monkeypatch.setattr(_http, "parse_request_line", counted)
    reply = raw(web, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200")
    assert lines == ["GET /healthz HTTP/1.1"]


def test_a_tls_handshake_on_the_dashboard_is_answered_at_once_in_plain_text(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """https:// to the plain dashboard: a ClientHello holds no line's end, so it was read
    until the 10 s deadline and then closed (a browser spun that long; a flood of hellos
    held a connection each for 10 s). Now its first byte is enough: a plain-text 400 that
    says what to do, which a TLS client takes for a broken record at once (the deadline is
    made longer than the test waits). A flood of them: each answered, one line in the log,
    no connection held."""
    monkeypatch.setattr(_http, "REQUEST_DEADLINE", 600.0)
    web = play.web_server()  # (its own: a TLS line logged in the last minute holds others)
    try:
        answered_at_once(web, caplog)
    finally:
        web.stop()


def answered_at_once(web: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "gameserver.web"):
        reply = raw(web, hello("localhost"))
        assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n"), reply[:300]
        assert reply.endswith(b"use http://, not https:// (for TLS, put a proxy in front: "
                              b"docs/dashboard.md, Access token)\n")
        assert raw(web, b"\x16") == reply  # the first byte alone is enough
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", play.dashboard_port(web)),
                                      timeout=play.WAIT) as sock:
            with pytest.raises(ssl.SSLError, match="WRONG_VERSION_NUMBER|wrong version"):
                context.wrap_socket(sock, server_hostname="localhost")
        for _ in range(30):  # a flood
            assert raw(web, hello("localhost")) == reply
    said = [r.getMessage() for r in caplog.records if "TLS handshake from" in r.getMessage()]
    assert len(said) == 1 and "on the plain HTTP port" in said[0], said
    assert web.server is not None
    dashboard = web.server.dashboard
    play.wait_until(lambda: web.call(lambda: dashboard.http.open) == 0,
                    "the refused connections to close")


def test_a_game_client_on_the_dashboard_is_told_at_once_which_port_this_is(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """game_server_api.py given the dashboard's port: its JSON request holds no line's end,
    so it waited the whole request deadline (10 s) and then read an HTTP 408 it cannot
    decode. Now its first byte "{" is enough (the deadline is made longer than the test
    waits): the game protocol's server: error saying which port this is, which the client
    raises as such; classic and kept-alive, a flood of them logged once, none left open.
    An HTTP request is served as before."""
    monkeypatch.setattr(_http, "REQUEST_DEADLINE", 600.0)
    web = play.web_server()  # (its own: a line logged in the last minute holds others)
    port = play.dashboard_port(web)
    told = "server: this is the web dashboard's HTTP port, not the game port"
    try:
        with caplog.at_level(logging.WARNING, "gameserver.web"):
            reply = raw(web, b'{"type": "discover"}EOT\x00')
            assert json.loads(reply)["message"].startswith(told), reply
            for keep_alive in (False, True):
                with GameServerAPI("127.0.0.1", port, "Echo", "s", 1, "ann",
                                   keep_alive=keep_alive) as api:
                    with pytest.raises(GameServerError, match="dashboard's HTTP port"):
                        api.join()
            for _ in range(20):  # a flood
                assert raw(web, b"{") == reply  # the first byte alone is enough
        said = [r.getMessage() for r in caplog.records
                if "game client's request" in r.getMessage()]
        assert len(said) == 1 and "on the dashboard's HTTP port" in said[0], said
        assert fetch(web, "/healthz")[0] == 200
        assert web.server is not None
        dashboard = web.server.dashboard
        play.wait_until(lambda: web.call(lambda: dashboard.http.open) == 0,
                        "the refused connections to close")
    finally:
        web.stop()


def test_a_play_body_nested_too_deep_is_refused_not_an_internal_error(
        web: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    """Too deep for JSON to decode: the game port's refusal of the same bytes (a move's
    reply is the lobby's reply, so a 200 saying "error"), not a 500."""
    body = b"[" * 60_000
    with caplog.at_level(logging.ERROR, "gameserver.web"):
        reply = raw(web, b"POST /api/play/move HTTP/1.1\r\n" + PLAY_HEAD
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body)
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(
        b'{"status": "error", "message": "server: request is not valid JSON (maximum recursion '
        b'depth exceeded while decoding a JSON array from a unicode string)"}')
    assert not caplog.records


def test_requests_for_other_host_names_are_refused(web: ServerThread) -> None:
    """Without a token only localhost is served (no DNS rebinding)."""
    assert "localhost" in error_of(web, "/api/games", 403, headers={"Host": "evil.example"})
    assert fetch(web, "/api/games", headers={"Host": "localhost:8080"})[0] == 200


# ---------------------------------------------------------------- live data


def test_games_lists_every_game_with_hidden_information_flag(web: ServerThread) -> None:
    games = {g["name"]: g for g in play.get_json(web, "/api/games")}
    assert {"TicTacToe", "ConnectFour", "Battleship", "CrazyEights", "Nim", "Yahtzee",
            "Chat", "Echo", "NumberRace", "RockPaperScissors", "CoinToss"} <= set(games)
    assert games["TicTacToe"]["min_players"] == games["TicTacToe"]["max_players"] == 2
    assert games["TicTacToe"]["description"].startswith("Two players")
    assert games["Battleship"]["hidden_information"] is True
    assert games["TicTacToe"]["hidden_information"] is False


def test_sessions_show_players_turn_and_flags(web: ServerThread) -> None:
    clients = play.seat(web, "TicTacToe", "flags-1", ["ann", "bob"])
    play.play_tictactoe(web, clients, "flags-1", [4])
    waiting = play.seat_partially(web, "ConnectFour", "flags-2", "carl", players=2)
    try:
        data = play.get_json(web, "/api/sessions")
        sessions = {(s["game"], s["session"]): s for s in data["sessions"]}
        running = sessions[("TicTacToe", "flags-1")]
        assert [p["name"] for p in running["players"]] == ["ann", "bob"]
        assert running["moves"] == 1 and len(running["current"]) == 1
        assert not running["stuck"] and not running["waiting_for_players"]
        half = sessions[("ConnectFour", "flags-2")]
        assert half["waiting_for_players"] and not half["stuck"]
        web.call(play.make_quiet, web, "TicTacToe", "flags-1", data["stuck_after"] + 1)
        again = {(s["game"], s["session"]): s for s in play.get_json(web, "/api/sessions")
                 ["sessions"]}
        assert again[("TicTacToe", "flags-1")]["stuck"]
    finally:
        waiting.stop()


def test_session_views_all_or_one_player(web: ServerThread) -> None:
    clients = play.seat(web, "ConnectFour", "views-1", ["ann", "bob"])
    play.play_connect_four(web, clients, "views-1", [3])
    both = play.get_json(web, "/api/sessions/ConnectFour/views-1")
    assert len(both["views"]) == 2 and both["views"][0]["board"] == both["views"][1]["board"]
    assert "hidden" not in both
    one = play.get_json(web, "/api/sessions/ConnectFour/views-1?player=1")
    assert one["player"] == 1 and one["view"] == both["views"][1]
    assert "views" not in one
    assert play.get_json(web, "/api/sessions/ConnectFour/views-1?player=5")["view"] is None


def test_the_operator_sees_every_view_of_a_hidden_game(guarded: ServerThread) -> None:
    clients = play.seat(guarded, "Battleship", "views-2", ["ann", "bob"])
    play.place_fleets(clients)
    both = play.get_json(guarded, "/api/sessions/Battleship/views-2", OPERATOR)
    assert [v["ships"] for v in both["views"]] == [play.FLEET_A, play.FLEET_B]
    one = play.get_json(guarded, "/api/sessions/Battleship/views-2?player=1", OPERATOR)
    assert one["player"] == 1 and one["view"]["ships"] == play.FLEET_B
    assert "views" not in one and json.dumps(play.FLEET_A) not in json.dumps(one)


def test_tokens_with_slashes_and_spaces_work(web: ServerThread) -> None:
    play.seat(web, "Echo", "room 7/b", ["eve"])
    data = play.get_json(web, "/api/sessions/Echo/room%207%2Fb?player=0")
    assert data["summary"]["session"] == "room 7/b" and data["view"]["echo"] == ""


def test_keys_never_appear(web: ServerThread) -> None:
    clients = play.seat(web, "TicTacToe", "keys-1", ["ann", "bob"])
    observer = play.observer(web, "TicTacToe", "keys-1", "ann")
    play.play_tictactoe(web, clients, "keys-1", [0])
    keys = session_keys(web, "TicTacToe", "keys-1")
    assert len(keys) == 3 and observer._key in keys
    bodies = [fetch(web, path)[2] for path in (
        "/api/sessions", "/api/sessions/TicTacToe/keys-1",
        "/api/sessions/TicTacToe/keys-1?player=0", "/metrics", "/api/games")]
    stream = EventStream(web, "/api/sessions/TicTacToe/keys-1/events?player=0")
    bodies.append(json.dumps(stream.next()[1]).encode())
    stream.close()
    for body in bodies:
        for key in keys:
            assert key.encode() not in body
    summary = play.get_json(web, "/api/sessions/TicTacToe/keys-1")["summary"]
    assert summary["observed"] == [0]


def test_game_code_errors_are_reported_not_raised(web: ServerThread) -> None:
    (client,) = play.seat(web, "BrokenView", "broken-1", ["ann"])
    client.move(anything=1)
    data = play.get_json(web, "/api/sessions/BrokenView/broken-1?player=0")
    assert "state" in data["view"]["error"] and "BrokenView" in data["view"]["error"]
    assert "state" in play.get_json(web, "/api/sessions/BrokenView/broken-1")["views"][0]["error"]


# The method of BrokenGame (tests/data/broken) that fails -> the move that makes it fail,
# and the error.
FAILURES = {"move": ("raise", "move() raised ZeroDivisionError: student bug in move"),
            "state": ("state", "state() raised KeyError: 'student bug in state'")}


@pytest.mark.parametrize("method", ["move", "state"])
@pytest.mark.parametrize("isolate_games", ["folder", "off"])
def test_a_move_or_state_that_failed_in_the_game_shows_on_the_lobby_until_one_is_accepted(
        isolate_games: str, method: str) -> None:
    """A student's game raised in ``move``: the lobby showed the session as playing, its
    failed move counted as rejected (``0 (+1 rejected)``), and nothing else; the docs
    promise that a session whose game code failed shows the error. A game that raised in
    ``state`` was still shown so after ``move`` was. In a worker process and in the
    server's own (two ways a failure comes back)."""
    broken = Path(__file__).parent.parent / "data" / "broken"
    server = play.web_server(games_dirs=[str(broken)], isolate_games=isolate_games)
    mode, error = FAILURES[method]
    try:
        (client,) = play.seat(server, "BrokenGame", "oops", ["ann"])
        path = "/api/sessions/BrokenGame/oops"
        assert "error" not in play.get_json(server, path)["summary"]
        with pytest.raises(GameServerError, match=re.escape(error)):
            client.move(**{"break": mode})
            client.state()  # (a move that breaks state() is accepted: the state fails)
        summary = play.get_json(server, path)["summary"]
        assert summary["error"] == "framework: game BrokenGame: " + error
        lobby = until(lambda: (data := play.get_json(server, "/api/sessions"))["counts"]
                      ["errors"] == 1 and data, "the lobby counting the error")
        (listed,) = [s for s in lobby["sessions"] if s["session"] == "oops"]
        assert error in listed["error"]
        client.move(**{"break": "none"})  # the game works again: no error to show
        assert "error" not in play.get_json(server, path)["summary"]
        assert client.state()["mode"] == "none"
    finally:
        server.stop()


# How BrokenGame's state() fails, by its move: what each failure says.
STATE_FAILURES = {
    "state": "framework: game BrokenGame: " + FAILURES["state"][1],
    "set": ("framework: game BrokenGame: state() returned something that cannot be sent "
            "as JSON (Object of type set is not JSON serializable)")}


@pytest.mark.parametrize("mode", ["state", "set"])
@pytest.mark.parametrize("isolate_games", ["folder", "off"])
def test_a_state_that_fails_on_the_session_page_shows_on_the_lobby_too(
        isolate_games: str, mode: str) -> None:
    """The server calls ``state()`` when someone asks: a state that failed showed on the
    lobby only once that player's client asked for it. The session's page asks for every
    player's, and showed the error in its view while its own summary, and the lobby,
    showed a game that works. Now what the page meets marks the session, as a client's
    request does (a worker's state still being fetched is no failure). A state that is
    no JSON (a set) in the server's own process marked nothing even so: the page found
    it out by itself, after asking."""
    broken = Path(__file__).parent.parent / "data" / "broken"
    server = play.web_server(games_dirs=[str(broken)], isolate_games=isolate_games)
    error = STATE_FAILURES[mode]
    try:
        (client,) = play.seat(server, "BrokenGame", "quiet", ["ann"])
        client.move(**{"break": mode})  # accepted; nobody asks for the state
        assert play.get_json(server, "/api/sessions")["counts"]["errors"] == 0
        page = until(lambda: (data := play.get_json(server, "/api/sessions/BrokenGame/quiet"))
                     ["views"][0].get("error") == error and data, "the page meeting it")
        assert page["summary"]["error"] == error  # (its own summary, in the same reply)
        lobby = until(lambda: (data := play.get_json(server, "/api/sessions"))["counts"]
                      ["errors"] == 1 and data, "the lobby counting the error")
        (listed,) = [s for s in lobby["sessions"] if s["session"] == "quiet"]
        assert listed["error"] == error
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["state", "set"])
@pytest.mark.parametrize("isolate_games", ["folder", "off"])
def test_a_state_that_fails_as_the_history_logs_it_shows_on_the_lobby(
        tmp_path: Path, isolate_games: str, mode: str) -> None:
    """The store logs every player's state as a game starts (the history's replays begin
    there): a state() that failed then, or was no JSON, was logged as an error and the
    lobby showed a game that works, until a client or the session's page asked."""
    broken = Path(__file__).parent.parent / "data" / "broken" / "broken_game.py"
    games = tmp_path / "games"
    games.mkdir()
    (games / "broken_game.py").write_text(  # broken from the start
        broken.read_text().replace('self.mode = "none"', f'self.mode = "{mode}"', 1))
    server = play.web_server(games_dirs=[str(games)], isolate_games=isolate_games,
                             store=True, store_path=str(tmp_path / "store.sqlite3"))
    try:
        play.seat(server, "BrokenGame", "sulky", ["ann"])  # full: it starts; no state asked
        lobby = until(lambda: (data := play.get_json(server, "/api/sessions"))["counts"]
                      ["errors"] == 1 and data, "the lobby counting the error")
        (listed,) = lobby["sessions"]
        assert listed["error"] == STATE_FAILURES[mode]
    finally:
        server.stop()


# ---------------------------------------------------------------- server-sent events


def test_session_stream_sends_each_change(web: ServerThread) -> None:
    clients = play.seat(web, "TicTacToe", "stream-1", ["ann", "bob"])
    stream = EventStream(web, "/api/sessions/TicTacToe/stream-1/events?player=1")
    try:
        _, first = stream.next()
        assert first["player"] == 1 and first["view"]["board"] == [-1] * 9
        for moves, cell in enumerate((4, 0), start=1):
            play.play_tictactoe(web, clients, "stream-1", [cell])
            _, data = stream.next()
            while data["summary"]["moves"] < moves:  # an activity-only update came first
                _, data = stream.next()
            assert data["view"]["board"][cell] != -1
    finally:
        stream.close()


def test_session_stream_ends_for_a_missing_session(web: ServerThread) -> None:
    stream = EventStream(web, "/api/sessions/TicTacToe/never/events")
    try:
        assert stream.next()[0] == "end"
    finally:
        stream.close()


def test_lobby_stream_sees_new_sessions(web: ServerThread) -> None:
    stream = EventStream(web, "/api/events")
    try:
        _, first = stream.next()
        assert "sessions" in first and "now" in first
        play.seat(web, "Nim", "lobby-stream-1", ["ann", "bob"])
        while True:
            _, data = stream.next()
            if any(s["session"] == "lobby-stream-1" for s in data["sessions"]):
                break
    finally:
        stream.close()


# ---------------------------------------------------------------- metrics


def test_metrics_parse_as_prometheus_text(web: ServerThread) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    play.seat(web, "Nim", "metrics-1", ["ann", "bob"])
    # /metrics may answer with an earlier test's rendering for a while (METRICS_MAX_AGE,
    # web/_routes.py; the server is this module's): the first that shows Nim is new.
    status, headers, body = until(
        lambda: b'gameserver_sessions{game="Nim"} 0\n' not in (got := fetch(web, "/metrics"))[2]
        and got, "a /metrics rendered after the Nim session started")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["gameserver_connections_open"].type == "gauge"
    assert families["gameserver_connections"].type == "counter"  # _total is the sample
    assert families["gameserver_request_seconds"].type == "histogram"
    assert families["gameserver_waiting_requests"].type == "gauge"
    assert families["gameserver_game_code_errors"].type == "counter"
    sessions = {s.labels["game"]: s.value for s in families["gameserver_sessions"].samples}
    assert sessions["Nim"] >= 1
    requests = {(s.labels["type"], s.labels["status"]): s.value
                for s in families["gameserver_requests"].samples
                if s.name == "gameserver_requests_total"}
    assert requests[("join", "ok")] >= 2


# ---------------------------------------------------------------- history


def test_history_says_when_the_store_is_off(web: ServerThread) -> None:
    data = play.get_json(web, "/api/history")
    assert data["store"] is False and data["games"] == []
    assert play.get_json(web, "/api/leaderboard")["store"] is False
    assert play.get_json(web, "/api/history/1")["store"] is False


def test_history_replay_and_leaderboard_from_the_real_store(tmp_path: Path) -> None:
    server = play.web_server(store=True, store_path=str(tmp_path / "store.sqlite3"))
    try:
        clients = play.seat(server, "TicTacToe", "hist-1", ["ann", "bob"])
        first = play.turn(server, "TicTacToe", "hist-1")[0]
        # The first mover takes the left column: 0, 3, 6; the other plays 1, 4.
        play.play_tictactoe(server, clients, "hist-1", [0, 1, 3, 4, 6])
        ships = play.seat(server, "Battleship", "hist-2", ["cy", "di"])
        play.place_fleets(ships)
        games = play.get_json(server, "/api/history")["games"]
        assert [g["session"] for g in games] == ["hist-1"]
        (entry,) = games
        winner = ["ann", "bob"][first]
        assert entry["result"] == {"kind": "win", "winners": [winner], "text": f"{winner} wins"}
        assert entry["moves"] == 5 and entry["players"] == ["ann", "bob"]
        assert entry["duration"] >= 0
        replay = play.get_json(server, f"/api/history/{entry['id']}?player=1")
        assert [s["move"] for s in replay["steps"]] == [{"position": c} for c in (0, 1, 3, 4, 6)]
        assert replay["initial"]["board"] == [-1] * 9
        assert replay["steps"][-1]["state"]["gameover"] is True
        assert "states" not in json.dumps(replay["steps"][0])
        board = play.get_json(server, "/api/leaderboard?game=TicTacToe")["leaderboard"]
        rows = {r["name"]: r for r in board["TicTacToe"]}
        assert rows[winner]["wins"] == 1 and rows[["ann", "bob"][1 - first]]["losses"] == 1
        assert error_of(server, "/api/history/999999", 404)
        assert error_of(server, f"/api/history/{entry['id']}?player=7", 404)
    finally:
        server.stop()


# ---------------------------------------------------------------- access token


def test_token_is_required_everywhere_but_healthz(guarded: ServerThread) -> None:
    for path in ("/api/sessions", "/metrics", "/api/events", "/api/sessions/Echo/x",
                 "/api/history", "/api/leaderboard", "/session/Echo/x"):
        assert fetch(guarded, path)[0] == 401
    # ... and the few paths players reach without it (tests/web/test_play_access.py)
    for path in ("/api/games", "/static/app.js", "/play"):
        assert fetch(guarded, path)[0] == 200
    status, headers, body = fetch(guarded, "/")
    assert status == 401 and headers["Content-Type"].startswith("text/html")
    assert b'name="token"' in body
    assert fetch(guarded, "/healthz")[0] == 200
    assert error_of(guarded, "/api/games?token=wrong", 401)
    assert error_of(guarded, "/api/games", 401, headers={"Authorization": "Bearer wrong"})


def test_the_token_is_not_logged(guarded: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, "gameserver.web"):
        assert fetch(guarded, f"/api/games?token={QTOKEN}")[0] == 200
        assert fetch(guarded, f"/?x=1&token={QTOKEN}")[0] == 303
        assert fetch(guarded, f"/api/games?tok%65n={QTOKEN}")[0] == 200  # decoded name
        assert raw(guarded, b"GET /api/games?token=s3cret HTTP/1.0 junk\r\n\r\n")
    assert "GET /api/games 200" in caplog.text and "GET / 303" in caplog.text
    assert "s3cret" not in caplog.text and "token" not in caplog.text


def test_the_token_is_not_logged_with_an_internal_error(
        guarded: ServerThread, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> None:
        raise ValueError("a bug of ours")

    monkeypatch.setattr(_data, "session_data", broken)
    with caplog.at_level(logging.DEBUG, "gameserver.web"):
        assert "internal error" in error_of(
            guarded, f"/api/sessions/Echo/x?token={QTOKEN}", 500)
    assert "internal error on /api/sessions/Echo/x\n" in caplog.text
    assert "a bug of ours" in caplog.text
    assert "s3cret" not in caplog.text and "token=" not in caplog.text


def test_token_in_the_address_once_then_a_cookie(guarded: ServerThread) -> None:
    status, headers, _ = fetch(guarded, f"/session/TicTacToe/x?player=1&token={QTOKEN}")
    assert status == 303 and headers["Location"] == "/session/TicTacToe/x?player=1"
    cookie = headers["Set-Cookie"].split(";")[0]
    assert "s3cret" not in cookie and "HttpOnly" in headers["Set-Cookie"]
    for path in ("/", "/api/games", "/metrics", "/static/app.js"):
        assert fetch(guarded, path, headers={"Cookie": cookie})[0] == 200, path
    assert fetch(guarded, f"/api/games?token={QTOKEN}")[0] == 200
    assert fetch(guarded, "/api/games", headers=OPERATOR)[0] == 200
    assert "Secure" not in headers["Set-Cookie"]  # plain HTTP (an ssh tunnel): kept


def test_the_login_form_posts_the_token_out_of_every_address(guarded: ServerThread) -> None:
    """The form once sent it with GET: the token in the address stayed in the browser's
    history and in the access log of the proxy in front."""
    status, _, page = fetch(guarded, "/session/TicTacToe/x?player=1")
    assert status == 401 and b'<form method="post">' in page and b'name="token"' in page
    port = play.dashboard_port(guarded)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=play.WAIT)
    try:
        conn.request("POST", "/session/TicTacToe/x?player=1", f"token={QTOKEN}",
                     {"Content-Type": "application/x-www-form-urlencoded"})
        reply = conn.getresponse()
        reply.read()
    finally:
        conn.close()
    assert reply.status == 303 and reply.headers["Location"] == "/session/TicTacToe/x?player=1"
    cookie = reply.headers["Set-Cookie"].split(";")[0]
    assert cookie == play.operator_cookie(guarded, TOKEN)["Cookie"]


def test_behind_a_tls_proxy_the_cookie_is_secure(guarded: ServerThread) -> None:
    """Without Secure, the browser sent the cookie (the token's equal) in clear to any
    http:// address of the host name, where someone on the network could read it."""
    status, headers, _ = fetch(guarded, f"/?token={QTOKEN}",
                               headers={"X-Forwarded-Proto": "https"})
    assert status == 303
    assert headers["Set-Cookie"].endswith("; Path=/; HttpOnly; SameSite=Strict; Secure")


def test_the_redirect_to_a_cookie_stays_on_the_dashboard(guarded: ServerThread) -> None:
    """A link like //evil.example/?token=... must not send the browser to another site.

    ``//x//evil.example`` is the one that did (its path is ``//evil.example``), and
    for any browser that has the cookie: the token in the link need not be right."""
    cookie = play.operator_cookie(guarded, TOKEN)
    for path in ("//evil.example", "//evil.example/", "///evil.example", "/\\evil.example",
                 "/\\/evil.example", "//", "/session//evil.example", "//x//evil.example",
                 "//x/\\evil.example"):
        for query, headers in ((QTOKEN, None), ("a-guess", cookie)):
            status, reply, _ = fetch(guarded, f"{path}?token={query}", headers=headers)
            location = reply.get("Location", "/")
            assert status in (303, 404) and location.startswith("/"), (path, location)
            assert not location.startswith(("//", "/\\")), (path, location)
    status, reply, _ = fetch(guarded, f"//x//evil.example?token={QTOKEN}")
    assert (status, reply["Location"]) == (303, "/evil.example")  # (it was //evil.example)


def test_with_a_token_any_host_name_may_be_used(guarded: ServerThread) -> None:
    headers = {"Host": "games.example.org", "Authorization": "Bearer s3cret token for tests"}
    assert fetch(guarded, "/api/games", headers=headers)[0] == 200


# ---------------------------------------------------------------- start and stop


def test_refuses_to_listen_beyond_localhost_without_a_token() -> None:
    with pytest.raises(OSError, match="without an access token"):
        Dashboard(types.SimpleNamespace(), WebSettings(host="0.0.0.0", port=0))  # type: ignore[arg-type]


def test_a_taken_port_is_logged_and_the_game_server_keeps_running(
        caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with caplog.at_level(logging.ERROR, "gameserver.server"):
            server = play.web_server(web_port=taken.getsockname()[1])
        try:
            assert server.server is not None and server.server.dashboard is None
            assert "web dashboard not started" in caplog.text
            play.seat(server, "Echo", "still-1", ["eve"])
        finally:
            server.stop()


def test_start_logs_the_address(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "gameserver.web"):
        server = play.web_server()
    try:
        port = play.dashboard_port(server)
        assert f"dashboard on http://127.0.0.1:{port}/" in caplog.text
    finally:
        server.stop()


def test_head_of_an_event_stream_is_its_head_alone(web: ServerThread) -> None:
    """HEAD gets the stream's head and the close: no stream, and none of its work (a GET
    of the same path streams until the client goes)."""
    for path in ("/api/events", "/api/sessions/TicTacToe/never/events"):
        reply = raw(web, f"HEAD {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head, reply
        assert body == b"", body


HUGE_ID = '''from abstract_game import AbstractGame


class HugeId(AbstractGame):
    def __init__(self, players):
        self.moves = 0

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return [0, 10 ** 5000]

    def move(self, move, player_id):
        self.moves += 1

    def game_over(self):
        return False

    def state(self, player_id):
        return {"moves": self.moves}
'''


@pytest.mark.parametrize("isolate", ["off", "folder"])
def test_a_game_naming_a_player_of_5000_digits_on_turn_leaves_the_dashboard_answering(
        tmp_path: Path, isolate: str) -> None:
    """An id no JSON can hold (Python writes no int of more than 4,300 digits): the list
    of sessions hung for every visitor and the session's page failed with a 500. Now the
    game's error, in its session's entry, as for any game that cannot say whose turn it is."""
    from tests.wire import Player
    (tmp_path / "huge_id.py").write_text(HUGE_ID)
    server = play.web_server(games_dirs=[str(tmp_path)], isolate_games=isolate,
                             games=["HugeId"])
    try:
        player = Player(server.port, "HugeId", "huge", 1)
        assert player.join()["status"] == "ok"
        player.move(x=1)
        (entry,) = [s for s in play.get_json(server, "/api/sessions")["sessions"]
                    if s["session"] == "huge"]
        assert "player ids of at most 19 digits" in entry["error"]
        one = play.get_json(server, "/api/sessions/HugeId/huge")
        assert "player ids of at most 19 digits" in json.dumps(one)
    finally:
        server.stop()
