"""Hidden information stays hidden: the opponent tries to watch through observer mode.

Real server, real sockets, the student client module. For each bundled game
with secrets, the opponent plays its part and, at every turn, tries every
way observer mode offers to read the other player's view; nothing it
receives may contain the other player's ``private_data``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from game_server_api import GameServerAPI, GameServerError
from gameserver.games import Battleship, CrazyEights, RockPaperScissors
from tests.serverproc import ServerThread
from tests.wire import request

HIDDEN_GAMES = (RockPaperScissors, Battleship, CrazyEights)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread() as running:
        yield running


def client(server: ServerThread, game: str, session: str, name: str,
           players: int | None = None) -> GameServerAPI:
    return GameServerAPI("127.0.0.1", server.port, game, session, players, name)


def join_both(server: ServerThread, game: str, session: str) -> tuple[GameServerAPI, ...]:
    """ann starts the session, then bob joins it; both joins return once it is full."""
    ann = client(server, game, session, "ann", players=2)
    joined = threading.Thread(target=ann.join)
    joined.start()
    deadline = time.monotonic() + 30
    while not any(s["session"] == session for s in ann.discover()["sessions"]):
        assert time.monotonic() < deadline, "ann's session never appeared"
        time.sleep(0.01)
    bob = client(server, game, session, "bob")
    bob.join()
    joined.join(30)
    return ann, bob


def spy_attempts(server: ServerThread, game: str, session: str, ann_id: int) -> list[Any]:
    """Everything the opponent can get by trying to watch ann; errors included."""
    seen: list[Any] = []
    spy = client(server, game, session, "ann")
    for code in (None, "", "0" * 32):
        try:
            spy.observe(code=code)
            seen.append(spy.state())
        except GameServerError as err:
            seen.append(str(err))
    for key in ("", "0" * 32):  # guessing the observer key, as a raw request
        seen.append(request(server.port, {"type": "state", "game": game, "session": session,
                                          "player_id": ann_id, "key": key,
                                          "observer": True}))
    return seen


@pytest.mark.parametrize("game_class", HIDDEN_GAMES, ids=lambda c: c.__name__)
def test_the_opponent_cannot_watch_a_player_of_a_game_with_secrets(
        server: ServerThread, game_class: type) -> None:
    game = game_class.__name__
    session = f"secret-{game}"
    ann, bob = join_both(server, game, session)
    ann_id = ann._player_id
    live = server.server.lobby.sessions[(game, session)]  # to know ann's secrets
    rng = random.Random(5)
    leaked, checked = [], 0

    def play(player: GameServerAPI) -> None:
        state = player.state(legal_moves=True)
        if player._player_id in state["current"] and state["legal_moves"]:
            player.move(**rng.choice(state["legal_moves"]))

    for _ in range(40):
        play(ann)  # ann moves first: her choice is pending (RockPaperScissors) as bob spies
        secrets = live.game.private_data(ann_id)
        checked += len(secrets)
        attempts = spy_attempts(server, game, session, ann_id)
        assert attempts[0].count("hidden information") == 1  # the refusal says why
        text = json.dumps(attempts)
        leaked += [value for value in secrets if json.dumps(value) in text]
        # Nothing but refusals: no view of ann's at all (her board, her hand, ...).
        leaked += [attempt for attempt in attempts
                   if isinstance(attempt, dict) and attempt.get("status") != "error"]
        if live.game.game_over():
            break
        play(bob)
    assert checked > 0  # there were secrets to find
    assert leaked == []


def test_a_player_lets_its_own_second_program_watch_with_its_code(
        server: ServerThread) -> None:
    ann, bob = join_both(server, "RockPaperScissors", "split")
    ann.move(choice="rock")
    watcher = client(server, "RockPaperScissors", "split", "ann")
    assert watcher.observe(code=ann.observer_code()) == ann._player_id
    assert watcher.state() == ann.state()  # exactly what ann sees, her choice included
    with pytest.raises(GameServerError, match="observer"):
        watcher.move(choice="paper")


def test_the_operator_can_restore_the_classic_rule(make_server) -> None:
    classic = make_server(observer_consent=False)
    ann, bob = join_both(classic, "RockPaperScissors", "trusted")
    watcher = client(classic, "RockPaperScissors", "trusted", "ann")
    assert watcher.observe() == ann._player_id
