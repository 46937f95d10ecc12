"""Take the dashboard screenshots in docs/screenshots/: ``python -m tests.web.screenshots``.

Starts a real server with its store in a temporary folder, plays a set of
games through the client module (one finished tic-tac-toe game for the
history, several running ones, one waiting for a player, one gone quiet),
and photographs the pages with Debian's Chromium driven by Playwright.
Then ``take_play`` plays in the browser itself, against the bot, and
photographs the play pages at desktop and phone width (``play-*.png``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from tests.serverproc import ServerThread
from tests.web import play

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def build_scene(server: ServerThread) -> dict[str, Any]:
    """Sessions worth looking at; returns the ids of interesting things."""
    # A finished game, for the history and the replay.
    done = play.seat(server, "TicTacToe", "lab1-team3", ["ada", "grace"])
    play.play_tictactoe(server, done, "lab1-team3", [4, 0, 2, 6, 3, 5, 1, 7, 8])
    second = play.seat(server, "TicTacToe", "lab1-team4", ["alan", "barbara"])
    play.play_tictactoe(server, second, "lab1-team4", [0, 3, 1, 4, 2, 5, 6])

    ttt = play.seat(server, "TicTacToe", "lab1-team7", ["linus", "margaret"])
    play.play_tictactoe(server, ttt, "lab1-team7", [4, 0, 8])

    c4 = play.seat(server, "ConnectFour", "table-2", ["edsger", "frances"])
    play.play_connect_four(server, c4, "table-2", [3, 3, 4, 2, 2, 4, 5, 3, 3, 1])

    ships = play.seat(server, "Battleship", "fleet-5", ["hedy", "claude"])
    play.place_fleets(ships)
    play.shoot(server, ships, "fleet-5", {
        0: [[0, 9], [1, 9], [2, 9], [3, 9], [4, 9], [5, 5], [9, 9], [0, 7]],
        1: [[0, 0], [0, 1], [5, 5], [2, 3], [4, 4], [8, 0], [8, 1], [3, 3]]})

    cards = play.seat(server, "CrazyEights", "cards-1", ["ken", "dennis", "bjarne"])
    play.play_crazy_eights(server, cards, "cards-1", 7)

    dice = play.seat(server, "Yahtzee", "dice-4", ["", ""])
    dice[0].move(name="Ada")
    dice[1].move(name="Blaise")
    for category in ("Chance", "Sixes", "Fives"):
        for _ in range(2):
            (current,) = play.turn(server, "Yahtzee", "dice-4")
            dice[current].move(score="add points" if category == "Chance" else "cross out",
                               category=category)

    chat = play.seat(server, "Chat", "lab-chat", ["", "", ""], players=3)
    for client, name, text in ((chat[0], "tutor", "Welcome! Tables 1-7 play tic-tac-toe."),
                               (chat[1], "ada", "Our bot wins as player 0 every time :)"),
                               (chat[2], "grace", "Is a draw counted on the leaderboard?"),
                               (chat[0], "tutor", "Yes, as a draw.")):
        client.move(name=name, message=text)

    nim = play.seat(server, "Nim", "nim-1", ["donald", "leslie"])
    nim[0].move(heap=2, take=3)
    nim[1].move(heap=0, take=1)

    rps = play.seat(server, "RockPaperScissors", "rps-3", ["tim", "vint"])
    rps[0].move(choice="rock")
    rps[1].move(choice="scissors")
    rps[1].move(choice="paper")

    # One group still waiting for its second player, one gone quiet.
    play.seat_partially(server, "ConnectFour", "table-9", "niklaus", players=2)
    server.call(play.make_quiet, server, "TicTacToe", "lab1-team7", 150.0)
    finished = play.get_json(server, "/api/history?game=TicTacToe",
                             {"Authorization": f"Bearer {TOKEN}"})["games"]
    return {"replay_id": finished[-1]["id"]}


TOKEN = "screenshots-operator-token"


def take(out: Path = OUT) -> list[Path]:
    """Build the scene and write the screenshots; returns their paths."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        # With a token the pages are the operator's: every view of the hidden-information
        # games (a spectator without it sees the public view only).
        server = play.web_server(store=True, store_path=str(Path(tmp) / "store.sqlite3"),
                                 web_token=TOKEN)
        try:
            scene = build_scene(server)
            base = f"http://127.0.0.1:{play.dashboard_port(server)}"
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                try:
                    shots = [
                        ("lobby.png", "/", "light", "#sessions tbody tr"),
                        ("lobby-dark.png", "/", "dark", "#sessions tbody tr"),
                        ("spectator-battleship.png", "/session/Battleship/fleet-5", "light",
                         ".sea"),
                        ("spectator-crazyeights.png", "/session/CrazyEights/cards-1?player=1",
                         "light", ".hand .card"),
                        ("spectator-connectfour.png", "/session/ConnectFour/table-2", "dark",
                         ".c4-cell"),
                        ("spectator-yahtzee.png", "/session/Yahtzee/dice-4", "light",
                         ".scorecard"),
                        ("spectator-chat.png", "/session/Chat/lab-chat", "light", ".bubble"),
                        ("history.png", "/history", "light", "#history"),
                        ("replay.png", f"/replay/{scene['replay_id']}?step=5", "light",
                         ".ttt-cell"),
                    ]
                    for name, path, scheme, ready in shots:
                        page = browser.new_page(viewport={"width": 1280, "height": 800},
                                                color_scheme=scheme)
                        page.goto(base + path + ("&" if "?" in path else "?") + "token=" + TOKEN)
                        page.wait_for_selector(ready)
                        page.wait_for_timeout(300)  # let the live badge settle
                        target = out / name
                        page.screenshot(path=str(target), full_page=True)
                        written.append(target)
                        page.close()
                finally:
                    browser.close()
        finally:
            server.stop()
    return written


DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _turns(page: Any, target: str, turns: int) -> None:
    """On each of ``turns`` turns click the first ``target``, waiting for the update.

    ``target`` may hold ``{n}``: the number of the turn (from 0).
    """
    for turn in range(turns):
        page.wait_for_function("() => ['mine', 'over'].includes("
                               "document.getElementById('play-status').dataset.turn)")
        if page.locator("#play-status").get_attribute("data-turn") == "over":
            return
        version = page.locator("#board").get_attribute("data-version")
        page.locator(target.format(n=turn)).first.click()
        page.wait_for_function("v => document.getElementById('board').dataset.version !== v",
                               arg=version)
    page.wait_for_function("() => document.getElementById('play-status').dataset.turn "
                           "!== 'other'")


def _against_the_bot(browser: Any, base: str, game: str, viewport: dict[str, int],
                     scheme: str) -> Any:
    page = browser.new_page(viewport=viewport, color_scheme=scheme)
    page.goto(base + "/play")
    page.fill("#play-name", "ada")
    page.locator(f"[data-bot-game={game}]").click()
    page.wait_for_selector("#play-status[data-turn]")
    return page


def take_play(out: Path = OUT) -> list[Path]:
    """Play in the browser against the bot and photograph it; returns the files."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    server = play.web_server()
    assert server.server is not None
    server.server.dashboard.bots.pause = 0.0
    base = f"http://127.0.0.1:{play.dashboard_port(server)}"

    def shoot(page: Any, name: str) -> None:
        page.wait_for_timeout(300)  # let the live badge settle
        page.screenshot(path=str(out / name), full_page=True)
        written.append(out / name)
        page.close()

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport=DESKTOP)
                page.goto(base + "/play?game=Nim")
                page.fill("#play-name", "ada")
                page.wait_for_selector(".quick-buttons button")
                shoot(page, "play-home.png")

                page = browser.new_page(viewport=DESKTOP)
                page.goto(base + "/play?game=CrazyEights")
                page.fill("#play-players", "3")
                page.fill("#play-name", "ada")
                page.locator("#new-game button[type=submit]").click()
                page.wait_for_selector(".invite-link")
                shoot(page, "play-invite.png")

                page = _against_the_bot(browser, base, "Battleship", DESKTOP, "light")
                page.locator("#fleet-random").click()
                page.locator("#fleet-send").click()
                _turns(page, ".seas figure:nth-child(2) .sea-cell.clickable", 14)
                shoot(page, "play-battleship.png")

                page = _against_the_bot(browser, base, "CrazyEights", PHONE, "dark")
                _turns(page, ".hand .clickable, #draw-pile.clickable, #pass.clickable", 3)
                shoot(page, "play-crazyeights-phone.png")

                page = _against_the_bot(browser, base, "ConnectFour", PHONE, "light")
                _turns(page, '[data-drop="{n}"].clickable', 3)
                page.locator('[data-drop="3"]').focus()
                shoot(page, "play-connectfour-phone.png")
            finally:
                browser.close()
    finally:
        server.stop()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNG files")
    parser.add_argument("--play-only", action="store_true",
                        help="only the play pages (play-*.png)")
    args = parser.parse_args()
    for path in ([] if args.play_only else take(args.out)) + take_play(args.out):
        print(path)


if __name__ == "__main__":
    main()
