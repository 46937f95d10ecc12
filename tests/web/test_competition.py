"""Tournaments, ratings and turn timers on the dashboard, in Debian's Chromium.

A real server with its dashboard; bots take part in tournaments through the
client module, exactly as students' programs do.
"""

from __future__ import annotations

import http.client
import random
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from game_server_api import GameServerAPI
from gameserver.bot import Bot
from gameserver.tournament import TournamentSettings
from gameserver.web._tournaments import BODIES_KEPT
from tests.serverproc import ServerThread
from tests.web import play
from tests.web.test_browser import expect, page, url  # noqa: F401 - fixtures

WAIT = 60.0  # seconds: only so that a broken test fails instead of hanging


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    store = tmp_path_factory.mktemp("store") / "store.sqlite3"
    running = play.web_server(store=True, store_path=str(store), turn_timeout=30)
    yield running
    running.stop()


def create(server: ServerThread, **settings: Any) -> None:
    assert server.server is not None
    server.call(server.server.hall.create, TournamentSettings(**settings))


def take_part(server: ServerThread, tournament: str, names: list[str]) -> None:
    """Bots play the whole tournament under ``names``."""
    def run(name: str) -> None:
        api = GameServerAPI("127.0.0.1", server.port, "TicTacToe", f"tournament-{tournament}",
                            name=name, keep_alive=True)
        try:
            Bot(api, "TicTacToe", 0, random.Random(name), restarter=False).play_tournament()
        finally:
            api.close()

    threads = [threading.Thread(target=run, args=(name,), daemon=True) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)


def test_the_standings_page_shows_a_finished_round_robin(server: ServerThread,
                                                          page: Any) -> None:  # noqa: F811
    create(server, name="final", game="TicTacToe", turn_timeout=10, start_with=4)
    take_part(server, "final", ["ann", "bob", "cat", "dan"])
    page.goto(url(server, "/tournament/final"))
    expect(page.locator("#tournament-state")).to_have_text("finished")
    rows = page.locator("#standings tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.first.locator("td").first).to_have_text("1")
    expect(page.locator("#crosstable tbody tr")).to_have_count(4)
    expect(page.locator("#crosstable td.self")).to_have_count(4)
    standings = play.get_json(server, "/api/tournaments/final")["standings"]
    for place, row in enumerate(standings, 1):
        expect(rows.nth(place - 1).locator("th")).to_have_text(row["name"])
    assert page.locator(".matches a[href^='/replay/']").count() == 6  # every game's replay
    with page.expect_download() as download:
        page.get_by_text("Standings as CSV").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("place,name,points") and len(lines) == 5
    page.goto(url(server, "/tournaments"))
    expect(page.locator('tr[data-tournament="final"]')).to_contain_text("finished")
    expect(page.get_by_text("python3 -m gameserver tournament create")).to_be_visible()


def test_ratings_and_their_history_are_on_the_history_page(server: ServerThread,
                                                          page: Any) -> None:  # noqa: F811
    create(server, name="rated", game="TicTacToe", turn_timeout=10, start_with=3)
    take_part(server, "rated", ["eve", "fay", "gus"])
    page.goto(url(server, "/history?game=TicTacToe"))
    board = page.locator('.ratings[data-game="TicTacToe"]')
    expect(board.locator("tbody tr")).to_have_count(3 + 4 * ("final" in _tournaments(server)))
    expect(board.locator("svg.rating-chart polyline").first).to_be_attached()
    ratings = play.get_json(server, "/api/ratings?game=TicTacToe")["ratings"]["TicTacToe"]
    assert {r["name"] for r in ratings} >= {"eve", "fay", "gus"}
    assert all(r["games"] >= 1 and len(r["history"]) == r["games"] for r in ratings)


def test_a_running_tournament_links_its_live_game_whose_page_counts_down(
        server: ServerThread, page: Any) -> None:  # noqa: F811
    create(server, name="live", game="TicTacToe", turn_timeout=30, start_with=2)
    joins = [threading.Thread(target=_join, args=(server, name), daemon=True)
             for name in ("hal", "ivy")]
    for thread in joins:
        thread.start()
    page.goto(url(server, "/tournament/live"))
    expect(page.locator("#tournament-state")).to_have_text("running")  # it refreshes itself
    live = page.locator(".matches .running a")
    expect(live).to_have_text("game 1: live")
    live.click()
    page.wait_for_url(re.compile(r"/session/TicTacToe/tournament-live"))
    clock = page.locator(".countdown")
    expect(clock).to_have_count(1)
    expect(clock).to_have_text(re.compile(r"^\d+ s$"))
    assert server.server is not None
    server.call(server.server.hall.cancel, "live")
    for thread in joins:
        thread.join(WAIT)


def test_a_large_tournaments_page_says_where_its_crosstable_is(
        server: ServerThread, page: Any) -> None:  # noqa: F811
    """Beyond 64 participants the description has no crosstable (it grows with the square
    of the participants, and was made after every change): the page says so and points to
    the CSV; the standings are whole."""
    create(server, name="crowd", game="TicTacToe", turn_timeout=30)
    assert server.server is not None
    hall = server.server.hall
    tournament = server.call(hall.tournament, "crowd")
    for n in range(65):  # (registered here, not each by a client of its own)
        server.call(tournament.register, f"p{n}")
    server.call(hall.start, "crowd")
    page.goto(url(server, "/tournament/crowd"))
    expect(page.locator("#tournament-state")).to_have_text("running")
    expect(page.locator("#standings tbody tr")).to_have_count(65)
    expect(page.locator("#no-crosstable")).to_contain_text("65 participants")
    expect(page.locator("#crosstable")).to_have_count(0)
    server.call(hall.cancel, "crowd")


def _join(server: ServerThread, name: str) -> None:
    GameServerAPI("127.0.0.1", server.port, "TicTacToe", "tournament-live", name=name).join()


def _tournaments(server: ServerThread) -> list[str]:
    return [t["name"] for t in play.get_json(server, "/api/tournaments")["tournaments"]]


def test_csv_cells_a_spreadsheet_would_run_are_quoted(server: ServerThread) -> None:
    create(server, name="sheet", game="TicTacToe", turn_timeout=10, start_with=2)
    take_part(server, "sheet", ["=HYPERLINK(1)", "+bob"])
    port = play.dashboard_port(server)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/tournaments/sheet/games.csv",
                                timeout=WAIT) as reply:
        text = reply.read().decode()
        assert reply.headers["Content-Disposition"] == 'attachment; filename="sheet-games.csv"'
    assert "'=HYPERLINK(1)" in text and "'+bob" in text
    assert ",=" not in text and ",+" not in text


def test_only_the_operator_creates_and_only_as_the_dashboard_does() -> None:
    token = "operator-token-for-tests-123"
    web = play.web_server(web_token=token)
    try:
        port = play.dashboard_port(web)

        def post(path: str, body: bytes, **headers: str) -> tuple[int, str]:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", body, headers,
                                             method="POST")
            try:
                with urllib.request.urlopen(request, timeout=WAIT) as reply:
                    return reply.status, reply.read().decode()
            except urllib.error.HTTPError as err:
                return err.code, err.read().decode()

        settings = b'{"name": "cup", "game": "TicTacToe"}'
        json_type = {"Content-Type": "application/json"}
        operator = {"Authorization": f"Bearer {token}", **json_type}
        assert post("/api/tournaments", settings, **json_type)[0] == 401  # no token
        assert post("/api/tournaments", settings, Authorization=f"Bearer {token}")[0] == 415
        assert post("/api/tournaments", settings, Origin="http://evil.example",
                    **operator)[0] == 403
        status, text = post("/api/tournaments", b'{"name": "cup", "game": "Chess"}',
                            **operator)
        assert status == 400 and "no such game" in text
        assert post("/api/tournaments", b'{"name": "c", "game": "X", "evil": 1}',
                    **operator)[0] == 400
        assert post("/api/tournaments", b"[1]", **operator)[0] == 400
        for clock in (b"NaN", b"Infinity", b"1e999"):  # JSON to Python, not to the protocol
            assert post("/api/tournaments", b'{"name": "c", "game": "TicTacToe", '
                        b'"game_clock": ' + clock + b"}", **operator)[0] == 400
        assert post("/api/tournaments", b"x" * 70_000, **operator)[0] == 413
        assert post("/api/tournaments", settings, **operator)[0] == 201
        assert post("/api/tournaments/cup/start", b"{}", **operator)[0] == 400  # nobody yet
        assert post("/api/tournaments/cup/explode", b"{}", **operator)[0] == 404
        assert post("/api/sessions", b"{}", **operator)[0] == 501
        # A form on another site posts with the browser's cookie, and an old browser
        # names no Origin: every action has a JSON body (a form cannot send one unasked).
        cookie = play.operator_cookie(web, token)
        assert post("/api/tournaments/cup/cancel", b"x=1", **cookie,
                    **{"Content-Type": "application/x-www-form-urlencoded"})[0] == 415
        assert post("/api/tournaments/cup/cancel", b"", **cookie)[0] == 415
        assert post("/api/tournaments/cup/delete", b"{}", **cookie, **json_type,
                    **{"Sec-Fetch-Site": "cross-site"})[0] == 403
        assert post("/api/tournaments/cup/cancel", b"{}", **operator) == (
            200, '{"name":"cup","state":"cancelled"}')
    finally:
        web.stop()


def _raw_post(port: int, path: str, body: bytes, headers: dict[str, str]) -> int:
    """The status of one POST, redirects not followed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request("POST", path, body, headers)
        reply = conn.getresponse()
        reply.read()
        return reply.status
    finally:
        conn.close()


def test_a_media_type_is_read_in_any_case_by_every_check_of_one() -> None:
    """RFC 9110: ``Application/JSON`` is ``application/json``. The tournament actions
    once compared it as written (415) while the play requests and the login form did not.
    Any case stays safe: a form on another site can send none of them."""
    token = "operator-token-for-tests-789"
    web = play.web_server(web_token=token)
    try:
        port = play.dashboard_port(web)
        operator = {"Authorization": f"Bearer {token}"}
        shouting = {"Content-Type": "Application/JSON; charset=UTF-8"}
        assert _raw_post(port, "/api/tournaments", b'{"name": "cup", "game": "TicTacToe"}',
                         {**operator, **shouting}) == 201
        assert _raw_post(port, "/api/tournaments/cup/cancel", b"{}",
                         {**operator, **shouting}) == 200
        for kind in ("text/plain", "TEXT/PLAIN; charset=UTF-8", "multipart/form-data",
                     "application/jsonx", ""):
            assert _raw_post(port, "/api/tournaments/cup/delete", b"{}",
                             {**operator, "Content-Type": kind}) == 415, kind
        assert _raw_post(port, "/api/tournaments/cup/delete", b"{}",
                         {**operator, **shouting, "Sec-Fetch-Site": "cross-site"}) == 403
        # A play request gets past its media type (and fails later: no such session).
        assert _raw_post(port, "/api/play/move", b"{}", {
            **operator, **shouting, "X-Gameserver-Play": "1"}) not in (403, 415)
        assert _raw_post(port, "/api/play/move", b"{}", {
            **operator, "Content-Type": "Text/Plain", "X-Gameserver-Play": "1"}) == 415
        assert _raw_post(port, "/", f"token={token}".encode(), {
            "Content-Type": "Application/X-WWW-Form-Urlencoded; Charset=UTF-8"}) == 303
    finally:
        web.stop()


def test_deleting_a_tournament_says_its_games_stay_rated_and_changes_no_rating(
        tmp_path: Path, page: Any) -> None:  # noqa: F811
    """Deleting one once took its games out of the ratings: everyone's rating changed."""
    token = "operator-token-for-tests-456"
    store = str(tmp_path / "store.sqlite3")
    operator = {"Authorization": f"Bearer {token}"}
    web = play.web_server(web_token=token, store=True, store_path=store)
    try:
        create(web, name="cup", game="TicTacToe", turn_timeout=10, start_with=3)
        take_part(web, "cup", ["ann", "bob", "cat"])
        before = play.get_json(web, "/api/ratings", operator)["ratings"]
        assert sum(row["games"] for row in before["TicTacToe"]) == 6  # 3 games, 2 players each
        page.goto(url(web, f"/tournament/cup?token={token}"))
        expect(page.locator("#delete-hint")).to_contain_text("keeps its games")
        asked: list[str] = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
        page.locator("[data-action=delete]").click()
        expect(page).to_have_url(re.compile(r"/tournaments$"))
        assert "keep counting in the ratings" in asked[0]
        assert play.get_json(web, "/api/tournaments", operator)["tournaments"] == []
        assert play.get_json(web, "/api/ratings", operator)["ratings"] == before
    finally:
        page.goto("about:blank")  # its refreshes would fail once the server stops
        web.stop()
    again = play.web_server(web_token=token, store=True, store_path=store)  # a restart
    try:
        assert play.get_json(again, "/api/ratings", operator)["ratings"] == before
    finally:
        again.stop()
    command = subprocess.run([sys.executable, "-m", "gameserver", "ratings", "--store-path",
                              store], capture_output=True, text=True, timeout=WAIT, check=True)
    assert [line.split()[1] for line in command.stdout.splitlines()[2:]] == [
        row["name"] for row in before["TicTacToe"]]  # the command counts them too


def test_a_tournaments_description_is_encoded_once_until_it_changes(
        server: ServerThread) -> None:
    """A round robin of 128 is 3 MB of JSON, and every page showing it asks every 2 s:
    the encoding is kept while the description is unchanged (it was made for every
    request), for the operator and for everyone else alike."""
    create(server, name="kept", game="TicTacToe")
    assert server.server is not None
    tournaments = server.server.dashboard.app.tournaments
    hall = server.server.hall
    described = server.call(lambda: hall.tournament("kept").describe())
    first = play.get_json(server, "/api/tournaments/kept")
    assert first == {**described, "operator": False}
    body = server.call(lambda: tournaments._bodies["kept"][1])
    assert play.get_json(server, "/api/tournaments/kept") == first
    assert server.call(lambda: tournaments._bodies["kept"][1]) is body  # not made again
    # A change shows at once.
    server.call(lambda: hall.tournament("kept").register("ann"))
    assert play.get_json(server, "/api/tournaments/kept")["participants"] != first[
        "participants"]
    # At most BODIES_KEPT tournaments are kept encoded (the ones asked for last).
    for number in range(BODIES_KEPT + 2):
        create(server, name=f"kept{number}", game="TicTacToe")
        play.get_json(server, f"/api/tournaments/kept{number}")
    kept = server.call(lambda: list(tournaments._bodies))
    assert kept == [f"kept{number}" for number in range(2, BODIES_KEPT + 2)]
