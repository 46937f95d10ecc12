"""Playing in Debian's Chromium: a whole game of every bundled game, clicked through the pages.

Each game is played by two browser contexts against each other (each has
its own localStorage: two people) or by one against the bot, by clicking
what its renderer offers (cells, columns, cards, dice, stones, buttons) and
waiting for the pushed update after every move. Then: a browser against a
Python client, a reload in the middle of a game, keyboard play, invite
links, a seat that is not one's own, the phone width, and a server restart.

Runs Debian's Chromium through Playwright (never a downloaded browser);
skipped when either is missing, except under CI (see test_browser.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from game_server_api import GameServerAPI
from tests.serverproc import ServerProcess, ServerThread, free_port
from tests.test_first_game import my_race_source
from tests.web import play
from tests.web.chromium import require

sync_api = require()  # skips this module without Chromium or Playwright (not under CI)
expect = sync_api.expect

GAMES = Path(__file__).with_name("games")
MOVES_MAX = 400  # actions in one game at most: only so a broken test ends


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    running = play.web_server(web_bots_per_address=50)
    assert running.server is not None
    running.server.dashboard.bots.pause = 0.0  # the pause is for people watching
    yield running
    running.stop()


class Player:
    """One person: a browser context of its own (its own localStorage) with one page."""

    def __init__(self, browser: Any, base: str, width: int = 1280, height: int = 900,
                 color_scheme: str = "light") -> None:
        self.base = base
        self.context = browser.new_context(viewport={"width": width, "height": height},
                                           color_scheme=color_scheme)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console",
                      lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda err: self.errors.append(str(err)))

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    # ------------------------------------------------------------ starting

    def start(self, game: str, players: int, name: str, session: str = "",
              bots: int = 0) -> list[str]:
        """Start a game from /play; the invite links (read once the page waits or plays)."""
        self.goto(f"/play?game={game}")
        page = self.page
        page.fill("#play-players", str(players))
        page.fill("#play-bots", str(bots))
        page.fill("#play-session", session)
        page.fill("#play-name", name)
        page.locator("#new-game button[type=submit]").click()
        page.wait_for_url(f"**/play/{game}/**")
        if players - 1 - bots <= 0:
            self.wait_seated()
            return []
        expect(page.locator(".invite-link")).to_have_count(players - 1 - bots)
        return [link.input_value() for link in page.locator(".invite-link").all()]

    def against_the_bot(self, game: str) -> None:
        self.goto("/play")
        self.page.locator(f"[data-bot-game={game}]").click()
        self.page.wait_for_url(f"**/play/{game}/**")
        self.wait_seated()

    def accept(self, link: str, name: str) -> None:
        self.page.goto("about:blank")  # else a link to the page it shows would not load it
        self.page.goto(link)
        self.page.fill("#join-name", name)
        self.page.locator("#join-form button").click()

    def wait_seated(self) -> None:
        expect(self.page.locator("#you")).to_contain_text("You are")
        expect(self.page.locator(".live")).to_have_attribute("data-state", "live")

    # ------------------------------------------------------------ playing

    @property
    def turn(self) -> str:
        """"mine", "other" or "over", from the status line."""
        return self.page.locator("#play-status").get_attribute("data-turn") or ""

    def wait_turn(self) -> str:
        """Wait until this player may move or the game is over; which of the two."""
        self.page.wait_for_function(
            "() => ['mine', 'over'].includes(document.getElementById('play-status')"
            ".dataset.turn)")
        return self.turn

    def wait_shown(self) -> str:
        """Wait until the page shows a state of the game; whose turn it says."""
        self.page.wait_for_function(
            "() => ['mine', 'other', 'over'].includes("
            "document.getElementById('play-status').dataset.turn)")
        return self.turn

    def version(self) -> str:
        return self.page.locator("#board").get_attribute("data-version") or ""

    def act(self, target: Any) -> None:
        """Click ``target`` and wait for the update the move brings (accepted or not)."""
        before = self.version()
        target.click()
        self.page.wait_for_function(
            "v => document.getElementById('board').dataset.version !== v", arg=before)

    def play_alone(self, choose: Callable[[Any], Any]) -> None:
        """Against bots: on each turn click what ``choose(page)`` picks, to the end."""
        for _ in range(MOVES_MAX):
            if self.wait_turn() == "over":
                return
            self.act(choose(self.page))
        raise AssertionError("the game did not end")

    def status(self) -> Any:
        return self.page.locator("#play-status")

    def refused(self, status: int) -> None:
        """Expect the console error a refused request makes (Chromium logs each one)."""
        text = f"the server responded with a status of {status}"
        self.page.wait_for_function("() => true")
        assert any(text in error for error in self.errors), self.errors
        self.errors = [e for e in self.errors if text not in e]

    def close(self) -> None:
        self.context.close()
        assert self.errors == []


@pytest.fixture
def people(browser: Any, server: ServerThread) -> Iterator[Callable[..., Player]]:
    made: list[Player] = []
    base = f"http://127.0.0.1:{play.dashboard_port(server)}"

    def make(**kwargs: Any) -> Player:
        made.append(Player(browser, base, **kwargs))
        return made[-1]

    yield make
    for player in made:
        player.close()


def take_turns(players: list[Player], choose: Callable[[Player], Any]) -> None:
    """Two or more people: whoever may move clicks what ``choose`` picks, to the end."""
    for _ in range(MOVES_MAX):
        for player in players:
            player.wait_shown()
        if all(p.turn == "over" for p in players):
            return
        mover = next((p for p in players if p.turn == "mine"), None)
        if mover is None:  # the pushed update is still on its way to someone
            players[0].page.wait_for_timeout(20)
            continue
        mover.act(choose(mover))
    raise AssertionError("the game did not end")


# ---------------------------------------------------------------- every bundled game


def test_tictactoe_against_the_bot_by_clicking_cells(people: Callable[..., Player]) -> None:
    ann = people()
    ann.against_the_bot("TicTacToe")
    ann.play_alone(lambda page: page.locator(".ttt-cell.clickable").first)
    expect(ann.status()).to_contain_text("Game over")
    ann.page.locator("#restart").click()  # and once more (the bot may begin)
    expect(ann.status()).not_to_contain_text("Game over")
    assert ann.page.locator(".ttt-cell .mark:not(:empty)").count() <= 1


def test_connect_four_between_two_browsers(people: Callable[..., Player]) -> None:
    ann, bob = people(), people()
    (link,) = ann.start("ConnectFour", 2, "ann")
    bob.accept(link, "bob")
    bob.wait_seated()
    ann.wait_seated()
    column = {id(ann): 0, id(bob): 1}
    take_turns([ann, bob], lambda p: p.page.locator(f'[data-drop="{column[id(p)]}"]'))
    expect(ann.status()).to_contain_text("Game over")
    won = "you win!" in ann.status().inner_text()
    expect(bob.status()).to_contain_text("ann wins" if won else "you win!")


def test_battleship_fleets_placed_by_clicking_then_shots(people: Callable[..., Player]) -> None:
    ann, bob = people(), people()
    (link,) = ann.start("Battleship", 2, "ann")
    bob.accept(link, "bob")
    bob.wait_seated()
    ann.wait_seated()
    planner = ann.page.locator("#fleet-planner")
    for row in range(5):  # ships of 5, 4, 3, 3 and 2 from the left edge of rows 0..4
        planner.locator(f'[data-cell="{row},0"]').click()
    ann.act(ann.page.locator("#fleet-send"))
    expect(ann.page.locator(".seas figure").first.locator(".sea-cell.ship")).to_have_count(17)
    bob.page.locator("#fleet-random").click()
    bob.act(bob.page.locator("#fleet-send"))
    ann_cells = [f"{row},{col}" for row, length in enumerate((5, 4, 3, 3, 2))
                 for col in range(length)]
    # Bob never sees ann's ships; bob shoots them, ann shoots row by row.
    expect(bob.page.locator(".seas figure").nth(1).locator(".sea-cell.ship")).to_have_count(0)

    def shot(player: Player) -> Any:
        shots = player.page.locator(".seas figure").nth(1)
        if player is bob:
            cell = next(c for c in ann_cells if shots.locator(
                f'[data-cell="{c}"].clickable').count())
            return shots.locator(f'[data-cell="{cell}"]')
        return shots.locator(".sea-cell.clickable").first

    take_turns([ann, bob], shot)
    # Bob wins, unless ann's 17 shots from the top left find bob's whole random fleet.
    bob_won = "you win!" in bob.status().inner_text()
    expect(ann.status()).to_have_text("Game over: bob wins" if bob_won else "Game over: you win!")


def test_nim_against_the_bot_by_clicking_stones(people: Callable[..., Player]) -> None:
    ann = people()
    ann.against_the_bot("Nim")
    ann.play_alone(lambda page: page.locator(".stone.clickable").last)  # take one
    expect(ann.status()).to_contain_text("Game over")


def test_crazy_eights_against_the_bot_with_cards_suits_and_the_pile(
        people: Callable[..., Player]) -> None:
    ann = people()
    ann.against_the_bot("CrazyEights")
    ann.play_alone(lambda page: page.locator(
        ".hand .clickable, #draw-pile.clickable, #pass.clickable").first)
    expect(ann.status()).to_contain_text("Game over")


def test_yahtzee_alone_rolling_and_scoring(people: Callable[..., Player]) -> None:
    ann = people()
    ann.start("Yahtzee", 1, "ann")
    ann.page.fill("#f-your-name-for-the-scorecard", "Ada")
    ann.act(ann.page.locator(".inline-form button"))
    for turn in range(13):
        assert ann.wait_turn() == "mine"
        if turn == 0:  # keep two dice, roll the other three
            ann.page.locator('.die[data-die="0"]').click()
            ann.page.locator('.die[data-die="1"]').click()
            expect(ann.page.locator("#reroll")).to_have_text("Re-roll 3 dice")
            ann.act(ann.page.locator("#reroll"))
        # Score the first box that takes the dice (or cross one out), every other turn
        # the first box to cross out.
        choices = ".cross-out.clickable" if turn % 2 else "td.clickable, .cross-out.clickable"
        ann.act(ann.page.locator(".scorecard").locator(choices).first)
    assert ann.wait_turn() == "over"
    expect(ann.status()).to_contain_text("Game over: Ada wins with")


def test_chat_between_two_browsers(people: Callable[..., Player]) -> None:
    """A chat never ends: two people talk, each sees the other's words."""
    ann, bob = people(), people()
    (link,) = ann.start("Chat", 2, "ann")
    bob.accept(link, "bob")
    bob.wait_seated()
    ann.wait_seated()
    ann.page.fill("#chat-text", "hello bob")
    ann.act(ann.page.locator(".chat-form button"))
    expect(bob.page.locator(".bubble")).to_have_text(["annhello bob"])
    bob.page.fill("#chat-text", "hi ann")
    bob.page.locator("#chat-text").press("Enter")
    expect(ann.page.locator(".bubble .said")).to_have_text(["hello bob", "hi ann"])


def test_rock_paper_scissors_between_two_browsers(people: Callable[..., Player]) -> None:
    ann, bob = people(), people()
    (link,) = ann.start("RockPaperScissors", 2, "ann")
    bob.accept(link, "bob")
    bob.wait_seated()
    ann.wait_seated()
    for _ in range(2):  # rock beats scissors, twice
        ann.act(ann.page.locator('[data-choice="rock"]'))
        expect(ann.status()).to_contain_text("Waiting for bob")
        bob.act(bob.page.locator('[data-choice="scissors"]'))
    expect(ann.status()).to_have_text("Game over: you win!")
    expect(bob.status()).to_have_text("Game over: ann wins")


def test_number_race_against_the_bot(people: Callable[..., Player]) -> None:
    ann = people()
    ann.against_the_bot("NumberRace")
    ann.play_alone(lambda page: page.locator(".choices .clickable").last)
    expect(ann.status()).to_contain_text("Game over")


def test_echo_alone_with_the_form_then_quit_and_restart(people: Callable[..., Player]) -> None:
    ann = people()
    ann.start("Echo", 1, "ann")
    ann.page.fill("#f-message", "hello")
    ann.act(ann.page.locator(".inline-form button"))
    expect(ann.page.locator(".echo blockquote")).to_have_text("hello")
    ann.page.locator("#move-form-box summary").click()  # the generic form: key = value
    ann.page.fill("#move-text", 'msg = ["a", 1]')
    ann.act(ann.page.locator(".move-form button"))
    expect(ann.page.locator(".echo")).to_contain_text('["a", 1]')
    ann.page.fill("#f-message", "error")  # Echo rejects this one on purpose
    ann.act(ann.page.locator(".inline-form button"))
    expect(ann.page.locator("#play-message")).to_contain_text("Not allowed: ")
    ann.act(ann.page.locator("#echo-quit"))
    expect(ann.status()).to_have_text("Game over")
    ann.act(ann.page.locator("#restart"))
    expect(ann.status()).to_have_text("Your turn")


def test_secret_code_between_two_browsers(people: Callable[..., Player]) -> None:
    maker, guesser = people(), people()
    (link,) = maker.start("SecretCode", 2, "ann")  # the first to join makes the code
    guesser.accept(link, "bob")
    guesser.wait_seated()
    maker.wait_turn()
    for colour in ("red", "blue", "red"):
        maker.page.locator(f'[data-colour="{colour}"]').click()
    maker.act(maker.page.locator("#code-send"))
    expect(guesser.page.locator(".hidden-code")).to_be_visible()  # the secret stays secret
    expect(guesser.page.locator(".code-line .peg-blue")).to_have_count(0)
    guesser.wait_turn()
    for colour in ("red", "green", "blue"):
        guesser.page.locator(f'[data-colour="{colour}"]').click()
    guesser.act(guesser.page.locator("#code-send"))
    expect(guesser.page.locator(".guesses")).to_contain_text("1 in the right place")
    for colour in ("red", "blue", "red"):
        guesser.page.locator(f'[data-colour="{colour}"]').click()
    guesser.act(guesser.page.locator("#code-send"))
    expect(guesser.status()).to_have_text("Game over: you win!")
    expect(maker.status()).to_have_text("Game over: bob wins")


GAMES_WITHOUT_RENDERERS = """
from gameserver.game import AbstractGame


class Countdown(AbstractGame):
    \"\"\"Take 1 or 2 from 7; whoever takes the last one wins.\"\"\"

    def __init__(self, players):
        self.players, self.left, self.turn, self.winner = players, 7, 0, None

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        return [] if self.game_over() else [self.turn]

    def move(self, move, player_id):
        if move.get("take") not in (1, 2) or move["take"] > self.left:
            return "take 1 or 2"
        self.left -= move["take"]
        if self.left == 0:
            self.winner = player_id
        self.turn = (self.turn + 1) % self.players
        return None

    def game_over(self):
        return self.winner is not None

    def state(self, player_id):
        return {"left": self.left, "winner": self.winner}

    def legal_moves(self, player_id):
        return [{"take": n} for n in (1, 2) if n <= self.left] if not self.game_over() else []


class Riddle(AbstractGame):
    \"\"\"Guess the word; no list of moves, no renderer: the form is the way.\"\"\"

    def __init__(self, players):
        self.solved = False

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return [] if self.solved else [0]

    def move(self, move, player_id):
        if move.get("word") != "echo":
            return "no: what answers without a mouth?"
        self.solved = True
        return None

    def game_over(self):
        return self.solved

    def state(self, player_id):
        return {"solved": self.solved, "winner": 0 if self.solved else None}
"""


def test_games_without_a_renderer_play_through_buttons_or_the_form(
        browser: Any, tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text(GAMES_WITHOUT_RENDERERS)
    server = play.web_server(games_dirs=[str(tmp_path)])
    ann = Player(browser, f"http://127.0.0.1:{play.dashboard_port(server)}")
    try:
        ann.start("Countdown", 1, "ann")  # it lists its moves: buttons, open at once
        ann.play_alone(lambda page: page.locator("#legal-moves .legal-move").first)
        expect(ann.status()).to_have_text("Game over: you win!")
        ann.start("Riddle", 1, "ann")  # it does not: the form, open at once
        expect(ann.page.locator("#legal-moves")).to_have_count(0)
        ann.page.fill("#move-text", "word = sphinx")
        ann.act(ann.page.locator(".move-form button"))
        expect(ann.page.locator("#play-message")).to_have_text(
            "Not allowed: no: what answers without a mouth?")
        ann.page.fill("#move-text", 'word = "echo"')
        ann.act(ann.page.locator(".move-form button"))
        expect(ann.status()).to_have_text("Game over: you win!")
        expect(ann.page.locator("#board .json-tree")).to_contain_text("solved")
    finally:
        ann.close()
        server.stop()


def test_a_state_too_large_for_the_page_says_so_and_the_page_stays_live(
        browser: Any) -> None:
    """Such a state once dropped the page's stream: "reconnecting…", again and again."""
    server = play.web_server(games_dirs=[str(GAMES)])
    ann = Player(browser, f"http://127.0.0.1:{play.dashboard_port(server)}")
    try:
        ann.start("BigView", 1, "ann")  # no renderer, no legal moves: the form, open
        ann.page.fill("#move-text", "size = 600000")
        ann.page.locator(".move-form button").click()
        expect(ann.page.locator("#play-message")).to_have_text(
            "What you see of this game is 587 KiB, more than the browser page is sent at "
            "once (512 KiB), so it cannot be shown here. Play this game with a program "
            "(game_server_api.py) instead.")
        expect(ann.page.locator(".live")).to_have_attribute("data-state", "live")
    finally:
        ann.page.goto("about:blank")
        ann.close()
        server.stop()


# ---------------------------------------------------------------- together, and access


def test_a_browser_against_a_python_client(people: Callable[..., Player],
                                           server: ServerThread) -> None:
    ann = people()
    ann.goto("/play?game=TicTacToe")
    ann.page.fill("#play-players", "2")
    ann.page.fill("#play-session", "mixed-1")
    ann.page.fill("#play-name", "ann")
    ann.page.locator("#new-game button[type=submit]").click()
    expect(ann.page.locator("#waiting")).to_contain_text("1 of 2")
    client = GameServerAPI("127.0.0.1", server.port, "TicTacToe", session="mixed-1",
                           name="py")
    errors: list[BaseException] = []

    def python_plays() -> None:
        try:
            me = client.join()
            while not (state := client.state(legal_moves=True))["gameover"]:
                if me in state["current"]:
                    client.move(**state["legal_moves"][-1])
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    thread = threading.Thread(target=python_plays, daemon=True)
    thread.start()
    ann.wait_seated()
    expect(ann.page.locator("#board")).to_contain_text("py plays")
    ann.play_alone(lambda page: page.locator(".ttt-cell.clickable").first)
    thread.join(play.WAIT)
    assert not errors and not thread.is_alive()
    expect(ann.status()).to_contain_text("Game over")


def test_a_reload_in_the_middle_of_a_game_goes_on_where_it_was(
        people: Callable[..., Player]) -> None:
    ann = people()
    ann.against_the_bot("TicTacToe")
    for _ in range(2):
        assert ann.wait_turn() == "mine"
        ann.act(ann.page.locator(".ttt-cell.clickable").first)
        ann.wait_turn()
    marks = ann.page.locator(".ttt-cell .mark:not(:empty)")
    count = marks.count()
    assert count >= 3
    url = ann.page.url
    ann.page.reload()
    assert ann.page.url == url
    ann.wait_seated()
    expect(marks).to_have_count(count)  # the current board at once
    ann.play_alone(lambda page: page.locator(".ttt-cell.clickable").first)
    expect(ann.status()).to_contain_text("Game over")


def test_keyboard_play_arrows_and_enter(people: Callable[..., Player]) -> None:
    ann = people()
    ann.against_the_bot("ConnectFour")
    for _ in range(MOVES_MAX):
        if ann.wait_turn() == "over":
            break
        ann.page.locator("#board").focus()
        ann.page.keyboard.press("ArrowRight")  # the focus goes to the first drop button
        focused = ann.page.evaluate("document.activeElement.dataset.drop")
        assert focused is not None
        ann.page.keyboard.press("ArrowRight")
        assert ann.page.evaluate("document.activeElement.dataset.drop") != focused
        before = ann.version()
        ann.page.keyboard.press("Enter")
        ann.page.wait_for_function(
            "v => document.getElementById('board').dataset.version !== v", arg=before)
    expect(ann.status()).to_contain_text("Game over")


def test_an_invite_link_works_once_and_not_in_the_creators_own_browser(
        people: Callable[..., Player]) -> None:
    ann, bob, eve = people(), people(), people()
    links = ann.start("CrazyEights", 3, "ann")
    assert len(links) == 2 and all("#invite=" in link for link in links)
    bob.accept(links[0], "bob")
    expect(bob.page.locator("#waiting")).to_contain_text("2 of 3")
    eve.accept(links[0], "eve")  # bob is using it
    expect(eve.page.locator("#play-message")).to_contain_text("joining with this invite link")
    eve.refused(409)
    eve.accept(links[1], "eve")
    for person in (ann, bob, eve):
        person.wait_seated()
    assert "#invite" not in bob.page.url  # the secret leaves the address once used
    intruder = people()
    intruder.accept(links[0], "mallory")
    expect(intruder.page.locator("#play-message")).to_contain_text("used already")
    intruder.refused(410)
    ann.page.goto("about:blank")
    ann.page.goto(links[1])  # the creator's own browser already has a seat here
    expect(ann.page.locator("#play-message")).to_contain_text("already have a seat")
    ann.wait_seated()


def test_a_browser_cannot_play_another_seat_by_changing_its_storage(
        people: Callable[..., Player]) -> None:
    ann, bob = people(), people()
    (link,) = ann.start("TicTacToe", 2, "ann", session="forged-1")
    bob.accept(link, "bob")
    bob.wait_seated()
    ann.wait_seated()
    ann.page.evaluate("""() => {
        const seats = JSON.parse(localStorage.getItem("gameserver.seats"));
        seats["TicTacToe/forged-1"].player_id = 1;  // bob's seat, with ann's key
        localStorage.setItem("gameserver.seats", JSON.stringify(seats));
    }""")
    ann.page.reload()
    expect(ann.page.locator("#play-message")).to_contain_text("This seat is gone: invalid key")
    expect(ann.page.locator(".ttt-cell")).to_have_count(0)
    seats = ann.page.evaluate('() => localStorage.getItem("gameserver.seats")')
    assert "forged-1" not in json.loads(seats)  # forgotten


def test_phone_width_dark_no_sideways_scrolling_and_no_layout_jumps(
        people: Callable[..., Player]) -> None:
    ann = people(width=390, height=844, color_scheme="dark")
    ann.against_the_bot("ConnectFour")
    page = ann.page
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 19, 24)"  # the dark theme's --bg
    board = page.locator("#board")

    def top() -> float:  # in the page, not the window (clicks scroll the window)
        return float(board.evaluate("el => el.getBoundingClientRect().top + window.scrollY"))

    first = top()
    for column in (3, 2, 4):  # the status line changes with every turn: the board stays
        assert ann.wait_turn() == "mine"
        ann.act(page.locator(f'[data-drop="{column}"]'))
        assert top() == first
    ann.wait_turn()
    page.locator("#move-form-box summary").click()
    page.fill("#move-text", "column = 99")  # a long rejection from the game
    ann.act(page.locator(".move-form button"))
    expect(page.locator("#play-message")).to_contain_text("Not allowed: ")
    assert top() == first
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def started_with_dashboard(server: ServerProcess) -> ServerProcess:
    server.start()
    assert server.wait_for_log("dashboard on "), server.log
    return server


def test_a_seat_survives_a_server_restart(browser: Any, tmp_path: Path) -> None:
    web_port = free_port()
    args = ["--store-path", str(tmp_path / "store.sqlite3"), "--web-port", str(web_port)]
    base = f"http://127.0.0.1:{web_port}"
    server = started_with_dashboard(ServerProcess(*args))
    ann, bob = Player(browser, base), Player(browser, base)
    try:
        (link,) = ann.start("TicTacToe", 2, "ann", session="restart-1")
        bob.accept(link, "bob")
        for person in (ann, bob):
            person.wait_seated()
        first = ann if ann.wait_shown() == "mine" else bob
        first.act(first.page.locator('[data-cell="4"]'))
        server.stop()
        expect(ann.page.locator(".live")).to_have_attribute("data-state", "lost")
        server = started_with_dashboard(ServerProcess(*args))
        for person in (ann, bob):  # each page reconnects by itself (within 10 s: its backoff)
            expect(person.page.locator(".live")).to_have_attribute("data-state", "live")
            expect(person.page.locator('[data-cell="4"] .mark')).not_to_be_empty()
        take_turns([ann, bob], lambda p: p.page.locator(".ttt-cell.clickable").first)
        expect(ann.status()).to_contain_text("Game over")
        ann.errors = [e for e in ann.errors if "ERR_CONNECTION_REFUSED" not in e]
        bob.errors = [e for e in bob.errors if "ERR_CONNECTION_REFUSED" not in e]
    finally:
        for person in (ann, bob):
            person.page.goto("about:blank")
        server.stop()
        for person in (ann, bob):
            person.close()


def test_the_renderer_of_first_game_md_moves_by_clicking(browser: Any, tmp_path: Path) -> None:
    """The "Click to move" example of docs/first-game.md, as a student would add it."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "first-game.md").read_text()
    section = guide.split("### Click to move in the browser", 1)[1]
    renderer = section.split("```js\n", 1)[1].split("```", 1)[0]
    (tmp_path / "my_race.py").write_text(my_race_source())  # steps 1 and 2 done
    (tmp_path / "MyRace.js").write_text(renderer)
    server = play.web_server(games_dirs=[str(tmp_path)], web_renderers="all")  # as the guide says
    assert server.server is not None
    server.server.dashboard.bots.pause = 0.0
    ann = Player(browser, f"http://127.0.0.1:{play.dashboard_port(server)}")
    try:
        ann.against_the_bot("MyRace")
        frame = ann.page.frame_locator("#board iframe.renderer-frame")  # in its sandbox
        expect(frame.locator("body")).to_contain_text("Counter: 0 of 31")
        expect(frame.locator("button")).to_have_count(4)
        ann.play_alone(lambda page: frame.locator("button.clickable").last)
        expect(ann.status()).to_contain_text("Game over")
    finally:
        ann.close()
        server.stop()


FRAME_BLOCKS = ("Content Security Policy", "Blocked a frame", "SecurityError",
                "sandboxed")  # what Chromium logs when the frame's tries are refused


def test_a_renderer_from_a_games_folder_is_sandboxed_and_still_draws_and_moves(
        browser: Any, tmp_path: Path) -> None:
    """A renderer in the games folder once ran as the dashboard itself: it read the
    seats' keys in localStorage and sent moves with them. Now it runs in a sandboxed
    frame; all it can do is draw and ask the page for a legal move."""
    template = Path(__file__).resolve().parents[2] / "gameserver" / "games" / "template.py"
    (tmp_path / "hostile.py").write_text(
        template.read_text().replace("class NumberRace(", "class Hostile("))
    (tmp_path / "Hostile.js").write_text((GAMES / "Hostile.js").read_text())
    server = play.web_server(games_dirs=[str(tmp_path)], web_renderers="all")
    assert server.server is not None
    server.server.dashboard.bots.pause = 0.0
    ann = Player(browser, f"http://127.0.0.1:{play.dashboard_port(server)}")
    try:
        ann.against_the_bot("Hostile")
        frame = ann.page.frame_locator("#board iframe.renderer-frame")
        report = frame.locator("#report")
        expect(report).not_to_contain_text("pending")
        tries = json.loads(report.text_content() or "")
        assert tries == dict.fromkeys(
            ("parent_dom", "parent_write", "top_location", "cookie", "local_storage",
             "session_storage", "api_config", "api_move", "api_restart"), "blocked")
        assert "pwned" not in ann.page.title()
        seats = json.loads(ann.page.evaluate("localStorage.getItem('gameserver.seats')"))
        assert len(seats) == 1  # the page's own storage is there, only the frame cannot read it
        # It still plays: a legal move it asks for is sent; the illegal one was not.
        if ann.wait_turn() == "mine":
            before = frame.locator("#counter").text_content()
            ann.act(frame.locator("#add-1.clickable"))
            expect(frame.locator("#counter")).not_to_have_text(before or "")
        expect(ann.page.locator("#play-message")).not_to_contain_text("Not allowed")
        ann.play_alone(lambda page: page.frame_locator("#board iframe").locator("#add-1"))
        expect(ann.status()).to_contain_text("Game over")
        # Opened by itself, the frame document is still sandboxed: no storage of the dashboard.
        ann.goto("/renderers/Hostile.html")
        assert ann.page.evaluate(
            "() => { try { return localStorage.length; } catch (err) { return err.name; } }"
        ) == "SecurityError"
        ann.errors = [e for e in ann.errors if not any(b in e for b in FRAME_BLOCKS)]
    finally:
        ann.close()
        server.stop()
