"""An opponent without the operator's token reads nothing secret through the dashboard.

For each bundled game with hidden information, one player's secret is put
on the server (a Battleship fleet, a Rock-Paper-Scissors choice, a Crazy
Eights hand, a SecretCode code); the opponent, a spectator without the
token, then asks every dashboard endpoint (JSON, event streams, pages,
files) for every player, and none of the answers contains the secret; the
same for games in worker processes, with the history's endpoints too. With
the token, the operator sees the views; after the game, the replay is as
before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from game_server_api import GameServerError
from gameserver.game import has_hidden_information
from gameserver.games import Battleship, CrazyEights, RockPaperScissors, SecretCode
from tests.serverproc import ServerThread
from tests.web import play
from tests.web.test_endpoints import EventStream, fetch

TOKEN = "operator token of the tests"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def open_server() -> Iterator[ServerThread]:
    """No token configured: every visitor is a spectator."""
    server = play.web_server()
    yield server
    server.stop()


def every_answer(server: ServerThread, game: str, session: str, players: int) -> str:
    """What a spectator gets from every endpoint that shows running sessions."""
    base = f"/api/sessions/{game}/{session}"
    paths = ["/api/sessions", f"/api/sessions?q={session}", base, "/metrics", "/api/games",
             "/", f"/session/{game}/{session}", "/api/config"]
    paths += [f"{base}?player={n}" for n in range(-1, players + 1)]
    answers = [fetch(server, path)[2].decode() for path in paths]
    for path in ["/api/events", f"/api/events?q={session}",
                 *(f"{base}/events?player={n}" for n in range(players))]:
        stream = EventStream(server, path)
        try:
            answers.append(json.dumps(stream.next()[1]))
        finally:
            stream.close()
    return "\n".join(answers)


def secret_battleship(server: ServerThread) -> tuple[str, list[str]]:
    clients = play.seat(server, "Battleship", "hide-bs", ["ann", "bob"])
    play.place_fleets(clients)
    return "hide-bs", [json.dumps(ship) for ship in play.FLEET_A + play.FLEET_B]


def secret_rps(server: ServerThread) -> tuple[str, list[str]]:
    clients = play.seat(server, "RockPaperScissors", "hide-rps", ["ann", "bob"])
    clients[1].move(choice="scissors")  # bob has chosen; ann has not
    return "hide-rps", ['"you_chose":"scissors"']


def secret_crazy_eights(server: ServerThread) -> tuple[str, list[str]]:
    play.seat(server, "CrazyEights", "hide-c8", ["ann", "bob"])
    hands = [play.view(server, "CrazyEights", "hide-c8", n)["hand"] for n in (0, 1)]
    # A card in a hand is a secret; the same card as the top of the pile is not.
    top = play.view(server, "CrazyEights", "hide-c8", 0)["top"]
    return "hide-c8", [f'"{card}"' for hand in hands for card in hand if card != top]


def secret_code(server: ServerThread) -> tuple[str, list[str]]:
    clients = play.seat(server, "SecretCode", "hide-sc", ["ann", "bob"])
    clients[0].move(code=["yellow", "red", "yellow"])  # ann's code; bob has not guessed it
    return "hide-sc", ['["yellow","red","yellow"]']


SECRETS: dict[str, Callable[[ServerThread], tuple[str, list[str]]]] = {
    "Battleship": secret_battleship,
    "RockPaperScissors": secret_rps,
    "CrazyEights": secret_crazy_eights,
    "SecretCode": secret_code,
}


def test_the_bundled_games_with_secrets_declare_them() -> None:
    for game in (Battleship, CrazyEights, RockPaperScissors, SecretCode):
        assert has_hidden_information(game)


@pytest.mark.parametrize("game", sorted(SECRETS))
def test_a_spectator_reads_nothing_secret_anywhere(open_server: ServerThread,
                                                   game: str) -> None:
    session, secrets = SECRETS[game](open_server)
    answers = every_answer(open_server, game, session, players=2).replace(" ", "")
    assert session in answers  # the public view is there: the session, its players
    assert '"hidden":true' in answers
    for secret in secrets:
        assert secret.replace(" ", "") not in answers, f"{game}: {secret} leaked"
    summary = play.get_json(open_server, f"/api/sessions/{game}/{session}")["summary"]
    assert [p["name"] for p in summary["players"]] == ["ann", "bob"]
    assert summary["current"]  # whose turn it is: public


@pytest.mark.parametrize("game", sorted(SECRETS))
def test_the_operator_sees_every_view(game: str) -> None:
    server = play.web_server(web_token=TOKEN)
    try:
        session, secrets = SECRETS[game](server)
        data = play.get_json(server, f"/api/sessions/{game}/{session}", OPERATOR)
        assert "hidden" not in data and len(data["views"]) == 2
        text = json.dumps(data).replace(" ", "")
        assert all(secret.replace(" ", "") in text for secret in secrets)
        status, _, body = fetch(server, f"/api/sessions/{game}/{session}")
        assert status == 401 and all(secret.replace(" ", "") not in body.decode()
                                     for secret in secrets)
    finally:
        server.stop()


def test_a_finished_hidden_game_shows_its_views_and_its_replay(tmp_path: Path) -> None:
    server = play.web_server(store=True, store_path=str(tmp_path / "store.sqlite3"))
    try:
        clients = play.seat(server, "RockPaperScissors", "over-rps", ["ann", "bob"])
        while not play.view(server, "RockPaperScissors", "over-rps", 0)["gameover"]:
            clients[0].move(choice="rock")
            clients[1].move(choice="scissors")
        data = play.get_json(server, "/api/sessions/RockPaperScissors/over-rps?player=1")
        assert "hidden" not in data and "scissors" in json.dumps(data["view"])
        (entry,) = play.get_json(server, "/api/history?game=RockPaperScissors")["games"]
        replay = play.get_json(server, f"/api/history/{entry['id']}?player=0")
        moves = [step["move"] for step in replay["steps"]]
        assert {"choice": "rock"} in moves and None in moves  # bob's moves: hidden
    finally:
        server.stop()


def test_the_spectator_page_says_why_the_view_is_hidden(open_server: ServerThread) -> None:
    play.seat(open_server, "Battleship", "hide-page", ["cy", "di"])
    data = play.get_json(open_server, "/api/sessions/Battleship/hide-page?player=0")
    assert data["hidden"] is True and data["view"] is None
    app = (Path(play.__file__).parents[2] / "gameserver/web/static/app.js").read_text()
    assert re.search(r"Public view\.", app)


def test_a_spectator_reads_no_secret_of_a_game_in_a_worker_nor_from_the_history(
        tmp_path: Path) -> None:
    """The same attack on games in worker processes (the server keeps a mirror of their
    states), with the store on: the history, the leaderboard, the tournaments and
    every game id a running game may have are asked too (a running game is no
    finished game, whatever its id)."""
    server = play.web_server(isolate_games="all", store=True,
                             store_path=str(tmp_path / "store.sqlite3"))
    try:
        for game, make in sorted(SECRETS.items()):
            session, secrets = make(server)
            answers = every_answer(server, game, session, players=2)
            paths = ["/api/history", f"/api/history?game={game}", "/api/leaderboard",
                     "/api/tournaments", "/api/ratings", "/healthz", "/tournaments"]
            paths += [f"/api/history/{n}?player={p}" for n in range(1, 9) for p in (0, 1)]
            answers += "\n".join(fetch(server, path)[2].decode() for path in paths)
            answers = answers.replace(" ", "")
            assert '"hidden":true' in answers
            for secret in secrets:
                assert secret.replace(" ", "") not in answers, f"{game}: {secret} leaked"
    finally:
        server.stop()


KINGS = '''
from gameserver import games


class Kings(games.RockPaperScissors):
    """Each player also holds a secret card; state() reads its rank as a number, as a
    student's first try does, and fails for a face card (bob's King)."""

    cards = ("7H", "KS")

    def state(self, player_id):
        card = self.cards[player_id]
        return {**super().state(player_id), "card": card, "rank": int(card[:-1])}
'''


@pytest.mark.parametrize("isolate", ["folder", "off"])
def test_a_failing_state_of_a_game_with_secrets_shows_spectators_no_message(
        tmp_path: Path, isolate: str) -> None:
    """The attack: bob's state() fails on his card (``int('K')``), and its message,
    ``invalid literal for int() with base 10: 'K'``, stood in the session's summary:
    the lobby and the public view showed ann, a spectator of the localhost dashboard,
    that bob holds a King. Spectators now get the call and the exception's type; the
    operator (a dashboard with a token) gets the message whole."""
    (tmp_path / "kings.py").write_text(KINGS)
    for token in (None, TOKEN):
        server = play.web_server(games_dirs=[str(tmp_path)], isolate_games=isolate,
                                 web_token=token)
        try:
            ann, bob = play.seat(server, "Kings", "cards", ["ann", "bob"])
            with pytest.raises(GameServerError, match="base 10: 'K'"):  # his own: whole
                bob.state()
            if token is None:
                answers = every_answer(server, "Kings", "cards", players=2)
                assert "state() raised ValueError (its message is withheld" in answers
                assert "'K'" not in answers and "base 10" not in answers
            else:
                for path in ("/api/sessions", "/api/sessions/Kings/cards?player=1"):
                    assert "base 10: 'K'" in fetch(server, path, OPERATOR)[2].decode()
        finally:
            server.stop()
