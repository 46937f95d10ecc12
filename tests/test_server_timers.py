"""Turn timers across the wire: the real server, raw sockets, real time.

Deadlines here are short (a fraction of a second); the tests never measure
them. They wait for what a timeout causes: a blocked ``state`` request that
returns because the server ended a turn.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gameserver import results
from gameserver.timers import COMPACT_MIN
from tests.serverproc import ServerProcess, ServerThread
from tests.wire import Player, request

GAMES = str(Path(__file__).parent / "data" / "timer_games")
WAIT = 20.0  # seconds: only so that a broken test fails instead of hanging


def timed_server(turn: float, **overrides: Any) -> ServerThread:
    """A server with a turn timer; its test games run in-process unless asked otherwise."""
    overrides.setdefault("max_waiting_joins_per_address", 100)
    overrides.setdefault("isolate_games", "off")
    return ServerThread(turn_timeout=turn, games_dirs=[GAMES], **overrides)


def seat(port: int, game: str, session: str) -> list[Player]:
    """Two players in a new session, ids 0 and 1."""
    players = [Player(port, game, session, players=2, name="ann"),
               Player(port, game, session, name="bob")]
    first = threading.Thread(target=players[0].join)
    first.start()
    while not _joined(port, game, session):
        time.sleep(0.01)  # polling the server's open sessions: nothing to await
    assert players[1].join()["status"] == "ok"
    first.join(WAIT)
    assert players[0].player_id == 0 and players[1].player_id == 1
    return players


def _joined(port: int, game: str, session: str) -> bool:
    sessions = request(port, {"type": "discover"})["data"]["sessions"]
    return any(s["game"] == game and s["session"] == session for s in sessions)


def wait_for(player: Player, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The player's first state that meets ``condition``.

    Each ``state`` after the first waits for the next change, so this
    returns as soon as the timeout that makes ``condition`` true has come.
    """
    box: list[dict[str, Any]] = []

    def ask() -> None:
        while True:
            data = player.state()["data"]
            if condition(data):
                box.append(data)
                return

    waiter = threading.Thread(target=ask, daemon=True)
    waiter.start()
    waiter.join(WAIT)
    assert box, "the awaited change never came"
    return box[0]


def test_a_player_out_of_time_gets_the_move_the_game_hook_names() -> None:
    with timed_server(0.3) as server:
        ann, bob = seat(server.port, "Talk", "hook")
        state = wait_for(bob, lambda s: bool(s["log"]))  # ann never moves
        assert state["log"][0] == [0, "pass"]


def test_a_game_in_a_worker_process_is_asked_for_its_hook_move_too() -> None:
    with timed_server(0.3, isolate_games="folder") as server:
        ann, bob = seat(server.port, "Talk", "worker")
        state = wait_for(bob, lambda s: bool(s["log"]))  # ann never moves
        assert state["log"][0] == [0, "pass"]  # the hook's move, fetched from the worker
        state = wait_for(ann, lambda s: len(s["log"]) >= 2)  # bob never moves either
        assert state["log"][1] == [1, "pass"]  # asked again after the change


def test_a_move_made_in_time_counts_though_its_worker_takes_longer_than_the_turn() -> None:
    with timed_server(0.3, isolate_games="folder", turn_timeout_action="forfeit") as server:
        ann, bob = seat(server.port, "Talk", "slow")
        assert ann.move(say="slowly")["status"] == "ok"  # in the worker past ann's deadline
        state = ann.state()["data"]
        assert state["log"][0] == [0, "slowly"]
        assert 0 not in state.get("forfeit", {}).get("players", [])  # (bob may be, by now)


def test_a_player_out_of_time_gets_a_random_legal_move() -> None:
    with timed_server(0.3) as server:
        ann, bob = seat(server.port, "TicTacToe", "random")
        # Nobody moves: whoever starts gets a random move, then the other one.
        state = wait_for(ann, lambda s: s["board"].count(-1) <= 7)
        assert sorted(state["board"]).count(0) == 1 and state["board"].count(1) == 1


def test_a_player_out_of_time_loses_a_game_that_lists_no_moves() -> None:
    with timed_server(0.3) as server:
        ann, bob = seat(server.port, "Silent", "forfeit")
        state = wait_for(ann, lambda s: s["gameover"])
        assert state["current"] == [] and state["log"] == []
        assert state["forfeit"] == {"players": [0], "reason": "turn timeout"}
        assert bob.state()["data"]["forfeit"]["players"] == [0]


def test_only_the_player_who_has_not_chosen_times_out_in_a_simultaneous_game() -> None:
    with timed_server(1.5) as server:  # long enough for ann's move to come first
        ann, bob = seat(server.port, "RockPaperScissors", "rps")
        assert ann.move(choice="rock")["status"] == "ok"
        # Bob never chooses: his choice is made for him, ann's stays hers.
        state = wait_for(ann, lambda s: bool(s["history"]))
        assert state["history"][0][0] == "rock"


def test_the_deadline_survives_a_server_restart(tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite3")
    turn = 60.0
    with timed_server(turn, store=True, store_path=store) as server:
        ann, bob = seat(server.port, "Talk", "restart")
        began = time.monotonic()  # ann's turn began before this
        ann.state()
    down = time.monotonic() - began  # a lower bound of the time that passed
    with timed_server(turn, store=True, store_path=store) as server:
        ann.port = bob.port = server.port
        data = request(server.port, {"type": "state", "game": "Talk", "session": "restart",
                                     "player_id": 0, "key": ann.key, "observer": False,
                                     "timer": True})["data"]
        left = data["timer"]["seconds_left"][0]
        assert 0 < left <= turn - down  # not a fresh minute: the saved deadline
        assert data["timer"]["seconds_left"][1] is None


def test_a_game_lost_on_time_is_in_the_history_and_stays_lost_after_a_restart(
        tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite3")
    with timed_server(0.3, store=True, store_path=store) as server:
        ann, bob = seat(server.port, "Silent", "lost")
        wait_for(ann, lambda s: s["gameover"])
    with timed_server(0.3, store=True, store_path=store) as server:
        ann.port = server.port
        state = ann.state()["data"]
        assert state["gameover"] and state["forfeit"]["players"] == [0]
        assert server.server is not None and server.server.history is not None
        (record,) = server.server.history.finished_games("Silent")
        assert results.outcome(record)["text"] == "bob wins: ann ran out of time"


def test_after_a_crash_the_turn_runs_from_the_last_logged_move(tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite3")
    flags = ("--store-path", store, "--turn-timeout", "60", "--games-dir", GAMES,
             "--isolate-games", "off", "--max-waiting-joins-per-address", "100")
    first = ServerProcess(*flags).start()
    try:
        ann, bob = seat(first.port, "Talk", "crash")
        assert ann.move(say="hi")["status"] == "ok"  # bob's turn begins with this move
        moved = time.monotonic()
        assert first.proc is not None
        first.proc.kill()  # no clean stop: the timer was last saved when the game began
    finally:
        first.stop()
    with ServerProcess(*flags) as second:
        since = time.monotonic() - moved  # at most the time since the move was logged
        data = request(second.port, {"type": "state", "game": "Talk", "session": "crash",
                                     "player_id": 1, "key": bob.key, "observer": False,
                                     "timer": True})["data"]
    left = data["timer"]["seconds_left"]
    assert left[0] is None and 0 < left[1] <= 60 - since


def test_ended_timed_sessions_are_not_kept_until_their_deadlines() -> None:
    """The lobby's ``TimerSchedule`` kept an entry for each timed session until its
    deadline, and with it the session, also after the session had ended. A client that
    started sessions with the longest turn it may choose (``game_timeout``) and replaced
    each at once (the overwrite rule lets a session's own player) kept every one of them
    in memory, its game's state included, for ``game_timeout`` seconds: 300 Echo sessions
    holding 900 KB each kept the server at 289 MB instead of 35 MB, and 1,200 new
    sessions a minute are allowed per address. Now the schedule holds, besides the live
    sessions, at most ``COMPACT_MIN`` ended ones (the same 300: 40 MB)."""
    with ServerThread() as server:
        assert server.server is not None
        schedule = server.server.lobby.timers
        for n in range(300):
            name = f"s{n % 5}"  # five live sessions at most: each join replaces one
            reply = request(server.port, {"type": "join", "game": "Echo", "session": name,
                                          "players": 1, "name": "", "turn_timeout": 1000})
            assert reply["status"] == "ok", reply
        held = server.call(lambda: [entry[2] for entry in schedule._heap])
        ended = [session for session in held if session.closed is not None]
        assert len(ended) <= COMPACT_MIN, f"{len(ended)} ended sessions held"


def test_a_starter_may_not_set_turns_too_short_for_the_others_who_join() -> None:
    """The attack: whoever started a named session set its turns to 0.1 s (the join
    extension); a classmate's classic client, never told, joined, and the server made its
    every move at random (the default action), so the starter won every game, rated.
    Now a starter's turn or clock below ``session_timer_min`` (5 s unless the host sets
    another) is refused for a session of more than one player, naming the allowed range;
    a session of one player (only its starter plays) still may have 0.1 s."""
    with ServerThread() as server:
        for key in ("turn_timeout", "game_clock"):
            refused = request(server.port, {"type": "join", "game": "TicTacToe",
                                            "session": "duel", "players": 2, "name": "eve",
                                            key: 0.1})
            assert refused["status"] == "error"
            assert refused["message"].startswith(
                f"framework: {key} must be 0 (no limit) or from 5 to 1000 seconds, not 0.1: "
                "the players who join a session get no say in its timer")
        assert request(server.port, {"type": "discover"})["data"]["sessions"] == []
        solo = request(server.port, {"type": "join", "game": "Echo", "session": "solo",
                                     "players": 1, "name": "eve", "turn_timeout": 0.1})
        assert solo["data"]["timer"]["turn_timeout"] == 0.1
    with ServerThread(session_timer_min=0.1) as server:  # the host's choice: as before
        starter = threading.Thread(target=request, args=(server.port, {
            "type": "join", "game": "TicTacToe", "session": "duel", "players": 2,
            "name": "eve", "turn_timeout": 0.1}))
        starter.start()
        while not _joined(server.port, "TicTacToe", "duel"):  # started: its join waits
            time.sleep(0.01)  # polling the server's open sessions: nothing to await
        assert Player(server.port, "TicTacToe", "duel", name="amy").join()["status"] == "ok"
        starter.join(WAIT)


def test_a_client_that_asks_sees_a_sessions_timer_before_it_joins() -> None:
    """A joiner opted into the extension (``"timer": true`` in ``discover``) sees each
    waiting session's timer before it joins (the join reply told it only once seated);
    a discover without it lists exactly what it did before."""
    with ServerThread(turn_timeout=30) as server:
        starter = threading.Thread(target=request, args=(server.port, {
            "type": "join", "game": "TicTacToe", "session": "duel", "players": 2,
            "name": "eve", "turn_timeout": 60}))
        starter.start()
        while not _joined(server.port, "TicTacToe", "duel"):
            time.sleep(0.01)  # polling the server's open sessions: nothing to await
        plain = request(server.port, {"type": "discover"})["data"]["sessions"]
        assert plain == [{"game": "TicTacToe", "session": "duel", "players": 2,
                          "joined": 1, "names": ["eve"]}]
        [listed] = request(server.port, {"type": "discover", "timer": True})["data"]["sessions"]
        assert listed["timer"] == {"turn_timeout": 60.0, "game_clock": None, "action": "move"}
        assert Player(server.port, "TicTacToe", "duel", name="amy").join()["status"] == "ok"
        starter.join(WAIT)


@pytest.mark.parametrize("timer", [{}, {"game_clock": 600.0}])
def test_a_turn_the_game_gives_a_seat_nobody_sits_in_is_timed_for_nobody(
        timer: dict[str, float]) -> None:
    """A game whose current_player() names player 2 of 2 (an off-by-one): the timer
    started that player's turn, and the state of anyone who asked for the timer was an
    internal error (an IndexError in the server: seconds_left has two places); with a
    game clock, so was the next change. Now only seats that exist are timed: nobody's
    time runs until the game names one (the game is stuck; it ends when idle)."""
    with timed_server(600.0, **timer) as server:
        ann, bob = seat(server.port, "OffByOne", "off-by-one")
        assert ann.move(say="hi")["status"] == "ok"
        for player in (ann, bob):
            reply = request(server.port, {
                "type": "state", "game": "OffByOne", "session": "off-by-one",
                "player_id": player.player_id, "key": player.key, "observer": False,
                "timer": True})
            assert reply["status"] == "ok", reply
            assert reply["data"]["timer"]["seconds_left"] == [None, None]
        assert bob.move(say="hi")["message"].startswith("framework: not your turn")


def test_the_move_made_for_a_player_out_of_time_cannot_be_foretold_by_its_opponent() -> None:
    """The attack: rock-paper-scissors under the operator's turn timer, the opponent
    slow or gone. The random choice made for it was drawn from a generator seeded by
    what everybody sees (game, session, games played, move number, player id), so the
    other player worked it out, chose what beats it, and won every round it timed out
    in. Here neither moves, and the attacker's forecast of every timed-out choice is
    checked: it must not be right for all of them (a secret of the seat's now goes into
    the seed: 1 in 9 a round by chance, 6 rounds at least)."""
    def foretold(games_played: int, moves: int, player: int) -> str:
        seed = f"RockPaperScissors/forecast/{games_played}/{moves}/{player}"
        return random.Random(seed).choice(["rock", "paper", "scissors"])

    with timed_server(0.2) as server:
        ann, bob = seat(server.port, "RockPaperScissors", "forecast")
        rounds = right = 0
        for games_played in (1, 2, 3):
            history = wait_for(ann, lambda s: s["gameover"])["history"]
            for number, (first, second, _) in enumerate(history):
                rounds += 1
                right += (first, second) == (foretold(games_played, 2 * number, 0),
                                             foretold(games_played, 2 * number + 1, 1))
            assert ann.restart()["status"] == "ok"
        assert rounds >= 6 and right < rounds
