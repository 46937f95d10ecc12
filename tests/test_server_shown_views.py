"""A move's ``final_state`` and a restart's ``with_states_of``, attacked over real sockets.

Both extensions put views into a reply (docs/protocol.md, "The mover's
final state", "A restart with the other seats' states"): in a game with
hidden information each must be the view of the player whose key was
shown, never another player's, and a request of a buggy or hostile client
(wrong keys, keys of another session or of an observer, seats that do not
exist, wrong types, duplicates, many or huge entries) must get an error
naming what to fix and change nothing. Battleship hides each fleet from the
other player; the games run in the server, in a worker process (``--isolate-
games all``), and with the store on.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gameserver.protocol import STATES_OF_MAX
from tests.serverproc import ServerThread
from tests.test_server_push import Subscriber, ids, seat_two
from tests.wire import TERMINATOR, TIMEOUT, Player, send_raw

WINNER_FLEET = [[0, 0, 5, "h"], [2, 0, 4, "h"], [4, 0, 3, "h"], [6, 0, 3, "h"], [8, 0, 2, "h"]]
LOSER_FLEET = [[0, 9, 5, "v"], [0, 7, 4, "v"], [5, 5, 3, "h"], [9, 2, 3, "h"], [7, 8, 2, "v"]]
INVALID_KEY = {"status": "error", "message": "framework: invalid key"}
NOT_OTHERS = {"status": "error", "message": "framework: with_states_of must name other "
              "players of the session than the restarter, each once"}


def cells(fleet: list[list[Any]]) -> list[list[int]]:
    return [[row + i * (direction == "v"), col + i * (direction == "h")]
            for row, col, length, direction in fleet for i in range(length)]


def water(fleet: list[list[Any]]) -> list[list[int]]:
    taken = cells(fleet)
    return [[row, col] for row in range(10) for col in range(10) if [row, col] not in taken]


@pytest.fixture(params=["in-server", "worker", "store"])
def battle_server(request: pytest.FixtureRequest, tmp_path: Path,
                  make_server: Callable[..., ServerThread]) -> Iterator[ServerThread]:
    """A server with Battleship (and TicTacToe, CrazyEights): in the server, in a worker process, or
    in the server with the store on."""
    settings: dict[str, Any] = {"games": ["Battleship", "TicTacToe", "CrazyEights"]}
    if request.param == "worker":
        settings["isolate_games"] = "all"
    elif request.param == "store":
        settings.update(store=True, store_path=str(tmp_path / "store.sqlite3"))
    yield make_server(**settings)


def observer_of(port: int, player: Player) -> Player:
    """An observer of ``player``'s view (its code asked for with the player's key)."""
    code = json.loads(send_raw(port, json.dumps({"type": "observer_code", **ids(player)}).encode()
                               + TERMINATOR))["data"]["code"]
    watcher = Player(port, player.game, player.session)
    watcher.player_id, watcher.key, watcher.observer = player.player_id, code, True
    return watcher


def up_to_the_last_shot(conn: Subscriber, players: list[Player]) -> tuple[Player, Player]:
    """Both fleets placed, then shots until player 0 (the winner: player 1 shoots only
    water) has one ship cell left to hit. Returns (winner, loser)."""
    winner, loser = players
    assert conn.request({"type": "move", **ids(winner),
                         "move": {"ships": WINNER_FLEET}})["status"] == "ok"
    state = conn.request({"type": "move", **ids(loser), "move": {"ships": LOSER_FLEET},
                          "with_state": True})["state"]
    targets, misses = cells(LOSER_FLEET), water(WINNER_FLEET)
    while True:
        mover = state["current"][0]
        if mover == winner.player_id and len(targets) == 1:
            return winner, loser
        shot = targets.pop(0) if mover == winner.player_id else misses.pop(0)
        other = players[1 - mover]
        reply = conn.request({"type": "move", **ids(players[mover]), "move": {"shot": shot},
                              "with_state": {"player_id": other.player_id, "key": other.key},
                              "legal_moves": True})
        assert reply["status"] == "ok", reply
        state = reply["state"]


def last_shot(winner: Player) -> dict[str, Any]:
    return {"type": "move", **ids(winner), "move": {"shot": cells(LOSER_FLEET)[-1]},
            "final_state": True}


def test_a_final_state_is_the_movers_own_view_never_the_other_seats(
        battle_server: ServerThread) -> None:
    """The winner's last shot names the loser's seat for its "state" and asks for its
    own final state: "final_state" is what the winner's observer is shown (its fleet,
    unhit, which the loser never sees), "state" is the loser's."""
    port = battle_server.port
    players = seat_two(port, "final-hidden", "Battleship")
    conn = Subscriber(port)
    winner, loser = up_to_the_last_shot(conn, players)
    watchers = [observer_of(port, winner), observer_of(port, loser)]
    reply = conn.request({**last_shot(winner),
                          "with_state": {"player_id": loser.player_id, "key": loser.key}})
    assert reply["status"] == "ok", reply
    final, shown = reply["final_state"], reply["state"]
    assert final["gameover"] is True and final["winner"] == winner.player_id
    assert final["ships"] == WINNER_FLEET and shown["ships"] == LOSER_FLEET
    assert final == watchers[0].state()["data"]  # the winner's view, all of it
    assert shown == watchers[1].state()["data"]
    assert "S" not in "".join(shown["shots"])  # (the loser sees none of the winner's ships)
    conn.close()


def test_a_final_state_asked_by_a_client_holding_only_the_movers_seat(
        battle_server: ServerThread) -> None:
    """No "with_state": the reply carries the mover's final state only, and the move of
    a client that fails (not its turn, a wrong key named, a cell shot before, a game that
    has ended) carries none."""
    port = battle_server.port
    players = seat_two(port, "final-alone", "Battleship")
    conn = Subscriber(port)
    winner, loser = up_to_the_last_shot(conn, players)
    assert conn.request({**last_shot(loser), **ids(loser)}) == {
        "status": "error", "message": "framework: not your turn"}
    assert conn.request({**last_shot(winner), "with_state": {
        "player_id": loser.player_id, "key": winner.key}}) == INVALID_KEY  # nothing played
    again = conn.request({**last_shot(winner), "move": {"shot": cells(LOSER_FLEET)[0]}})
    assert again["status"] == "illegalmove" and "final_state" not in again
    # ("legal_moves" is read only beside "with_state": docs/protocol.md.)
    reply = conn.request({**last_shot(winner), "legal_moves": True})
    assert set(reply) == {"status", "data", "final_state"}  # (the rejected shot: no turn)
    assert reply["final_state"]["ships"] == WINNER_FLEET
    assert "legal_moves" not in reply["final_state"]
    assert reply["final_state"] == observer_of(port, winner).state()["data"]
    assert conn.request(last_shot(winner)) == {"status": "error",
                                               "message": "framework: game has ended"}
    conn.close()


def test_a_final_state_with_legal_moves_lists_none(make_server: Callable[..., ServerThread]
                                                   ) -> None:
    port = make_server(games=["Battleship"]).port
    players = seat_two(port, "final-legal", "Battleship")
    conn = Subscriber(port)
    winner, loser = up_to_the_last_shot(conn, players)
    reply = conn.request({**last_shot(winner), "legal_moves": True,
                          "with_state": {"player_id": loser.player_id, "key": loser.key}})
    assert reply["state"]["legal_moves"] == [] and reply["state"]["ships"] == LOSER_FLEET
    assert reply["final_state"]["legal_moves"] == []
    assert reply["final_state"]["ships"] == WINNER_FLEET
    conn.close()


def finished(port: int, session: str) -> tuple[Subscriber, Player, Player]:
    """A Battleship session played to its end on one connection."""
    players = seat_two(port, session, "Battleship")
    conn = Subscriber(port)
    winner, loser = up_to_the_last_shot(conn, players)
    assert conn.request(last_shot(winner))["status"] == "ok"
    return conn, winner, loser


def restart(restarter: Player, named: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "restart", **ids(restarter), "with_state": True, "legal_moves": True,
            "with_states_of": named, **extra}


def not_restarted(conn: Subscriber, player: Player) -> bool:
    """Whether the game is still the finished one (a move says it has ended)."""
    return conn.request({"type": "move", **ids(player), "move": {"ships": WINNER_FLEET}}) == {
        "status": "error", "message": "framework: game has ended"}


def test_a_restart_refuses_every_key_but_the_named_players_own(
        battle_server: ServerThread) -> None:
    """A wrong key, another session's key for the same seat, the seat's observer key,
    seats the session does not have: refused before the restart, which does not happen."""
    port = battle_server.port
    conn, winner, loser = finished(port, "states-keys")
    elsewhere = seat_two(port, "states-keys-other", "Battleship")[loser.player_id or 0]
    code = observer_of(port, loser).key
    for named, error in [
            ([{"player_id": loser.player_id, "key": loser.key + "x"}], INVALID_KEY),
            ([{"player_id": loser.player_id, "key": elsewhere.key}], INVALID_KEY),
            ([{"player_id": loser.player_id, "key": ""}], INVALID_KEY),
            ([{"player_id": loser.player_id, "key": "k" * 500_000}], INVALID_KEY),
            ([{"player_id": loser.player_id, "key": code}],
             {"status": "error", "message": "framework: invalid key: an observer key only "
              "works for state requests with observer=true"}),
            ([{"player_id": 2, "key": loser.key}], INVALID_KEY),
            ([{"player_id": -1, "key": loser.key}], INVALID_KEY),
            ([{"player_id": 10**30, "key": loser.key}], INVALID_KEY),
            # A wrong key among right ones: nothing is restarted either.
            ([{"player_id": loser.player_id, "key": loser.key},
              {"player_id": loser.player_id, "key": "x"}], INVALID_KEY),
            # Another session's seat named with the key it has there.
            ([{"player_id": elsewhere.player_id, "key": elsewhere.key}], INVALID_KEY)]:
        assert conn.request(restart(winner, named)) == error, named
        assert not_restarted(conn, winner)
    conn.close()


def test_a_restart_refuses_the_restarter_duplicates_and_malformed_lists(
        battle_server: ServerThread) -> None:
    port = battle_server.port
    conn, winner, loser = finished(port, "states-shapes")
    mine = {"player_id": winner.player_id, "key": winner.key}
    theirs = {"player_id": loser.player_id, "key": loser.key}
    for named in ([mine], [theirs, mine], [theirs, theirs], [theirs] * STATES_OF_MAX):
        assert conn.request(restart(winner, named)) == NOT_OTHERS
        assert not_restarted(conn, winner)
    shape = ("framework: key 'with_states_of' of a restart request must list the players "
             f"whose new states the reply carries (1 to {STATES_OF_MAX}): "
             '[{"player_id": an integer, "key": a string}, ...]')
    for named in (None, [], "x", 1, theirs, [None], [[loser.player_id, loser.key]],
                  [theirs] * (STATES_OF_MAX + 1), [{**theirs, "observer": False}],
                  [{"player_id": True, "key": loser.key}],
                  [{"player_id": float(loser.player_id or 0), "key": loser.key}],
                  [{"player_id": str(loser.player_id), "key": loser.key}],
                  [{"player_id": loser.player_id, "key": None}],
                  [{"player_id": loser.player_id}], [theirs, {}]):
        reply = json.loads(send_raw(port, json.dumps(restart(winner, named)).encode()
                                    + TERMINATOR))  # (answered the classic way, and closed)
        assert reply == {"status": "error", "message": shape}, named
        assert not_restarted(conn, winner)
    conn.close()


def test_a_restart_shows_each_named_seat_its_own_new_view_in_order(
        battle_server: ServerThread) -> None:
    """Battleship's legal moves in its setup are an example placement of the player's
    own, random: each named seat gets its own; its observer is still handed the old end
    first, then is shown the same new view."""
    port = battle_server.port
    conn, winner, loser = finished(port, "states-own")
    watcher = observer_of(port, loser)
    # (A worker sends a new game's views without legal moves along with it.)
    legal = battle_server.settings.isolate_games != "all"
    reply = conn.request(restart(winner, [{"player_id": loser.player_id, "key": loser.key}],
                                 legal_moves=legal))
    assert reply["status"] == "ok" and set(reply) == {"status", "data", "state", "states"}
    (theirs,) = reply["states"]
    mine = reply["state"]
    assert mine["phase"] == theirs["phase"] == "setup" and mine["ships"] == theirs["ships"] == []
    assert watcher.state()["data"]["phase"] == "over"  # its observer: the old end first
    shown = watcher.state()["data"]  # ... then the new game
    assert shown == {key: value for key, value in theirs.items() if key != "legal_moves"}
    if legal:
        assert mine["legal_moves"] != theirs["legal_moves"]  # (one random fleet each)
        assert theirs == {**shown, "legal_moves": theirs["legal_moves"]}
    conn.close()


def test_keys_of_a_session_overwritten_meanwhile_restart_nothing(
        make_server: Callable[..., ServerThread]) -> None:
    """The session ended and was replaced by a new one under its name (a join with
    ``players``, allowed once its game is over): its old keys, the named one too, are
    refused in the new session, and so is a key of the new one named by an old one."""
    server = make_server(games=["Battleship"])
    conn, winner, loser = finished(server.port, "states-overwritten")
    new = seat_two(server.port, "states-overwritten", "Battleship")
    reply = conn.request(restart(winner, [{"player_id": loser.player_id, "key": loser.key}]))
    assert reply == INVALID_KEY
    named = new[loser.player_id or 0]  # a key of the new session, with the old restarter's
    reply = conn.request(restart(winner, [{"player_id": named.player_id, "key": named.key}]))
    assert reply == INVALID_KEY
    conn.close()


def test_a_restart_of_a_session_that_timed_out_says_so(
        make_server: Callable[..., ServerThread]) -> None:
    server = make_server(games=["TicTacToe"], game_timeout=0.5)
    players = seat_two(server.port, "states-timed-out")
    conn = Subscriber(server.port)
    conn.send({"type": "state", **ids(players[0]), "observer": False, "legal_moves": True})
    conn.reply()
    conn.send({"type": "state", **ids(players[0]), "observer": False})  # waits for the end
    assert conn.reply() == {"status": "error",
                            "message": "framework: game session has timed out"}
    other = players[1]
    reply = conn.request(restart(players[0], [{"player_id": other.player_id,
                                               "key": other.key}]))
    assert reply == {"status": "error", "message": "framework: no such game session"}
    conn.close()


def test_with_states_of_is_not_read_without_with_state(battle_server: ServerThread) -> None:
    conn, winner, _ = finished(battle_server.port, "states-unread")
    reply = conn.request(restart(winner, "not a list", with_state=False))
    assert reply == {"status": "ok", "data": None}
    assert not not_restarted(conn, winner)
    conn.close()


DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("isolate", ["off", "folder"])
@pytest.mark.parametrize("size", [10, 40_000, 2_000_000])
def test_a_large_final_state_is_the_movers_or_none(
        make_server: Callable[..., ServerThread], isolate: str, size: int) -> None:
    """Each player's final state holds a secret of ``size`` characters of its own. In the
    server both come along whatever their size; a worker sends along with the move only
    the views that fit into 64 KiB together: the reply has no view that did not come, and
    that view stays unseen (its next ``state`` brings it). Never the other's secret."""
    server = make_server(games_dirs=[str(DATA / "final_games")], isolate_games=isolate)
    mover, other = seat_two(server.port, f"big-end-{size}", "BigEnd")
    conn = Subscriber(server.port)
    reply = conn.request({"type": "move", **ids(mover), "move": {"size": size},
                          "final_state": True,
                          "with_state": {"player_id": other.player_id, "key": other.key}})
    assert reply["status"] == "ok" and reply["data"] is None
    shown = {"final_state": (mover, "0" * size), "state": (other, "1" * size)}
    for key, (player, secret) in shown.items():
        if key in reply:
            assert reply[key] == {"secret": secret, "current": [], "gameover": True}
        else:  # (a worker sends along the views that fit in 64 KiB, the mover's first)
            assert isolate == "folder" and size > 32 * 1024, key
            assert player.state()["data"]["secret"] == secret  # unseen: at once
    if size == 2_000_000 and isolate == "folder":
        assert set(reply) == {"status", "data"}
    conn.close()


@pytest.mark.parametrize("isolate", ["off", "folder"])
def test_a_final_state_the_game_cannot_give_is_left_out_and_its_error_comes_next(
        make_server: Callable[..., ServerThread], isolate: str) -> None:
    """FailingEnd's ``state`` fails once it is over: the move that ends it is still
    answered ok, without "final_state"; the mover's next ``state`` gets the error."""
    server = make_server(games_dirs=[str(DATA / "view_games")], isolate_games=isolate)
    mover, _ = seat_two(server.port, "failing-final", "FailingEnd")
    conn = Subscriber(server.port)
    assert conn.request({"type": "move", **ids(mover), "move": {},
                         "final_state": True}) == {"status": "ok", "data": None}
    reply = conn.request({"type": "state", **ids(mover), "observer": False})
    assert reply["status"] == "error" and "state call" in reply["message"]
    conn.close()


def test_a_restart_whose_own_state_is_not_at_hand_shows_no_states_and_hands_the_end_over(
        make_server: Callable[..., ServerThread]) -> None:
    """A worker sends a new game's views without legal moves: a restart with state asking
    for them gets no "state", so (docs/protocol.md) no "states" either, and the named
    seat is handed the finished game's end as always; nobody was shown the new game."""
    server = make_server(games=["Battleship"], isolate_games="all")
    conn, winner, loser = finished(server.port, "states-not-at-hand")
    reply = conn.request(restart(winner, [{"player_id": loser.player_id, "key": loser.key}]))
    assert reply == {"status": "ok", "data": None}
    assert loser.state()["data"]["phase"] == "over"  # the end, handed over ...
    assert loser.state()["data"]["phase"] == "setup"  # ... then the new game
    conn.close()


def test_a_restart_shows_three_hands_each_to_its_own_seat_in_the_order_named(
        battle_server: ServerThread) -> None:
    """Crazy Eights deals each of three players a hand of its own: restarted mid-game,
    naming seats 2 and 1 in that order, the reply's "states" are player 2's hand, then
    player 1's, each as its observer is shown it; the restarter's is its own."""
    port = battle_server.port
    players = [Player(port, "CrazyEights", "three-hands", 3) for _ in range(3)]
    threads = [threading.Thread(target=player.join) for player in players[1:]]
    for thread in threads:
        thread.start()
    players[0].join()
    for thread in threads:
        thread.join(TIMEOUT)
    players.sort(key=lambda player: player.player_id or 0)
    watchers = [observer_of(port, player) for player in players]
    for watcher in watchers:
        watcher.state()  # (the first deal, seen)
    conn = Subscriber(port)
    named = [{"player_id": p.player_id, "key": p.key} for p in (players[2], players[1])]
    reply = conn.request(restart(players[0], named, legal_moves=False))
    assert reply["status"] == "ok", reply
    hands = [reply["state"]["hand"], *(state["hand"] for state in reply["states"])]
    assert hands == [watchers[p].state()["data"]["hand"] for p in (0, 2, 1)]
    assert len({tuple(hand) for hand in hands}) == 3  # (three hands: no view twice)
    conn.close()


def test_a_restarter_still_owed_an_earlier_end_gets_no_states_and_waives_nothing(
        battle_server: ServerThread) -> None:
    """The loser restarts the finished game (the winner's view is owed its end), then the
    winner restarts naming the loser: the winner's view is owed the end, so the reply has
    neither "state" nor "states", and the winner's next ``state`` is that end first."""
    port = battle_server.port
    conn, winner, loser = finished(port, "states-owed")
    assert conn.request({"type": "restart", **ids(loser)}) == {"status": "ok", "data": None}
    reply = conn.request(restart(winner, [{"player_id": loser.player_id, "key": loser.key}]))
    assert reply == {"status": "ok", "data": None}
    assert winner.state()["data"]["phase"] == "over"
    assert winner.state()["data"]["phase"] == "setup"
    conn.close()


def test_a_replaced_worker_shows_each_seat_and_its_observer_only_that_seats_hand(
        make_server: Callable[..., ServerThread]) -> None:
    """The server's mirror of a game in a worker process, attacked across the worker's
    replacement: the views it keeps are keyed by seat and legal-moves flag, and
    the game comes back from its copy in a new process. Each seat, with and
    without its legal moves, and its observer then see that seat's hand only
    (the hands never overlap), the legal moves list only cards of the seat that
    is on turn, and a move's state shown for the other seat is that seat's."""
    server = make_server(games=["CrazyEights"], isolate_games="all")
    players = seat_two(server.port, "mirror", "CrazyEights")
    observers = [observer_of(server.port, player) for player in players]

    def views(conn: Subscriber, shown: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
        """Each seat's state with legal moves (or the one ``shown`` already, by seat),
        checked against its observer's view."""
        seen = []
        for player, observer in zip(players, observers, strict=True):
            view = shown.get(player.player_id) or conn.request(
                {"type": "state", **ids(player), "observer": False, "legal_moves": True})["data"]
            watched = conn.request({"type": "state", **ids(observer), "observer": True})["data"]
            assert view["hand"] == watched["hand"]
            legal = {move["play"] for move in view.get("legal_moves", []) if "play" in move}
            assert legal <= set(view["hand"])
            assert not view.get("legal_moves") or player.player_id in view["current"]
            seen.append(view)
        assert not set(seen[0]["hand"]) & set(seen[1]["hand"])
        return seen

    conn = Subscriber(server.port)
    try:
        before = views(conn, {})
        worker = server.call(lambda: server.server.isolation.workers[0])  # type: ignore[union-attr]
        pid = server.call(lambda: worker.pid)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while server.call(lambda: worker.pid) in (pid, None):
            assert time.monotonic() < deadline, "the worker was not replaced"
            time.sleep(0.01)
        mover = before[0]["current"][0]
        other = players[1 - mover]
        reply = conn.request({"type": "move", **ids(players[mover]),
                              "move": before[mover]["legal_moves"][0],
                              "with_state": {"player_id": other.player_id, "key": other.key},
                              "legal_moves": True})
        assert reply["status"] == "ok", reply
        views(conn, {other.player_id: reply["state"]})
    finally:
        conn.close()
