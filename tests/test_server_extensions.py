"""Discovery and legal moves through real sockets; classic requests stay unchanged."""

from __future__ import annotations

import threading

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
