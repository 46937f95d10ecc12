"""Discovery and legal moves through real sockets; classic requests stay unchanged."""

from __future__ import annotations

import threading

from gameserver import protocol
from tests.test_server_flow import waiting_sessions
from tests.wire import Player, request


def state_with_moves(player: Player) -> dict:
    return request(player.port, {"type": "state", "game": player.game,
                                 "session": player.session, "player_id": player.player_id,
                                 "key": player.key, "observer": player.observer,
                                 "legal_moves": True})


def test_discover_lists_games_and_waiting_sessions_without_keys(make_server) -> None:
    server = make_server()
    waiting = Player(server.port, "TicTacToe", "lobby-table", 2, name="ann")
    joiner = threading.Thread(target=waiting.join)
    joiner.start()
    auto = Player(server.port, "NumberRace", "auto", 3)
    auto_joiner = threading.Thread(target=auto.join)
    auto_joiner.start()

    def sessions() -> list[dict]:
        return request(server.port, {"type": "discover"})["data"]["sessions"]

    for _ in range(1000):  # both joins must have reached the server
        if len(sessions()) == 2:
            break
    reply = request(server.port, {"type": "discover"})
    assert reply["status"] == "ok"
    games = {g["name"]: g for g in reply["data"]["games"]}
    assert games["TicTacToe"]["min_players"] == games["TicTacToe"]["max_players"] == 2
    assert games["Chat"]["max_players"] == 100
    assert games["TicTacToe"]["description"]
    assert "position" in games["TicTacToe"]["documentation"]
    assert sorted(reply["data"]["sessions"], key=lambda s: s["game"]) == [
        {"game": "NumberRace", "session": "auto", "players": 3, "joined": 1, "names": []},
        {"game": "TicTacToe", "session": "lobby-table", "players": 2, "joined": 1,
         "names": ["ann"]},
    ]
    # Joining fills the session: it is no longer listed.
    other = Player(server.port, "TicTacToe", "lobby-table", name="bob")
    assert other.join()["status"] == "ok"
    joiner.join(30)
    assert [s["game"] for s in sessions()] == ["NumberRace"]
    assert waiting.key not in str(sessions())


def test_state_can_carry_the_legal_moves_of_the_asking_player(server) -> None:
    a = Player(server.port, "TicTacToe", "legal", 2, name="a")
    b = Player(server.port, "TicTacToe", "legal", 2)
    joiner = threading.Thread(target=a.join)
    joiner.start()
    b.join()
    joiner.join(30)
    initial = {p.player_id: state_with_moves(p)["data"] for p in (a, b)}
    first, second = (a, b) if initial[a.player_id]["current"] == [a.player_id] else (b, a)
    assert initial[first.player_id]["legal_moves"] == [{"position": p} for p in range(9)]
    assert initial[second.player_id]["legal_moves"] == []  # not their turn
    assert first.move(position=4)["status"] == "ok"
    moves = state_with_moves(second)["data"]["legal_moves"]
    assert {"position": 4} not in moves and len(moves) == 8
    watcher = Player(server.port, "TicTacToe", "legal", name="a")
    assert watcher.observe()["status"] == "ok"
    observed = state_with_moves(watcher)["data"]
    assert observed["legal_moves"] == (moves if second is a else [])  # what "a" would get


def test_classic_state_has_no_legal_moves_key(server) -> None:
    echo = Player(server.port, "Echo", "plain-state", 1)
    echo.join()
    assert echo.state()["data"] == {"echo": "", "current": [0], "gameover": False}


def test_games_without_the_hook_report_null(server) -> None:
    echo = Player(server.port, "Echo", "no-hook", 1)
    echo.join()
    assert state_with_moves(echo)["data"]["legal_moves"] is None


def test_discover_pages_through_the_waiting_sessions_in_order(make_server) -> None:
    server = make_server()

    def discover(**paging: object) -> dict:
        reply = request(server.port, {"type": "discover", **paging})
        assert reply["status"] == "ok", reply
        return reply["data"]

    with waiting_sessions(server.port, 5):
        for _ in range(100):  # every join has reached the server
            if len(discover()["sessions"]) == 5:
                break
        everything = discover()
        assert [s["session"] for s in everything["sessions"]] == [
            f"waiting-{n:05}" for n in range(5)]
        assert everything["next"] is None
        pages, after = [], None
        while True:
            page = discover(limit=2, after=after)
            pages.append([s["session"] for s in page["sessions"]])
            after = page["next"]
            if after is None:
                break
            assert after == ["TicTacToe", pages[-1][-1]]
        assert pages == [["waiting-00000", "waiting-00001"], ["waiting-00002", "waiting-00003"],
                         ["waiting-00004"]]
        assert discover(limit=2)["games"] == everything["games"]  # the games, on every page


def test_one_discover_reply_lists_at_most_the_cap(make_server, monkeypatch) -> None:
    monkeypatch.setattr(protocol, "DISCOVER_SESSIONS_MAX", 3)
    server = make_server()
    with waiting_sessions(server.port, 4):
        for _ in range(100):
            data = request(server.port, {"type": "discover", "limit": 100})["data"]
            if data["next"] is not None:
                break
    assert len(data["sessions"]) == 3 and data["next"] == ["TicTacToe", "waiting-00002"]


def test_discover_paging_errors_name_the_key(server) -> None:
    reply = request(server.port, {"type": "discover", "limit": -1})
    assert reply == {"status": "error", "message": "framework: key 'limit' of a discover "
                     "request must be a positive integer, not -1"}
