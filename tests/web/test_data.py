"""What the dashboard computes from store records and game classes; no server, no HTTP."""

from __future__ import annotations

from typing import Any

from gameserver.games import TicTacToe
from gameserver.web import _data
from tests.web.games.coin_toss import CoinToss


def record(players: list[str], final: list[dict[str, Any]], game: str = "TicTacToe",
           **extra: Any) -> dict[str, Any]:
    return {"id": 1, "game": game, "session": "s", "players": players, "started": 100.0,
            "ended": 130.5, "moves": 5, "final_states": final, **extra}


def over(**state: Any) -> dict[str, Any]:
    return {**state, "current": [], "gameover": True}


def test_history_entry_has_duration_and_result() -> None:
    entry = _data.history_entry(record(["ann", "bob"], [over(winner=0)]))
    assert entry["duration"] == 30.5 and entry["moves"] == 5
    assert entry["result"]["text"] == "ann wins" and "final_states" not in entry


def test_leaderboard_counts_wins_draws_and_losses_by_name() -> None:
    records = [
        record(["ann", "bob"], [over(winner=0)]),
        record(["bob", "ann"], [over(winner=0)]),
        record(["ann", "bob"], [over(winner=None)]),
        record(["ann", ""], [over(winner=0)]),  # unnamed players are not ranked
        record(["ann"], [over(echo="x")], game="Echo"),  # no result: not counted
        record(["", ""], [over(ranking={"Ada": 10, "Bo": 20})], game="Yahtzee"),
    ]
    board = _data.leaderboard(records)
    assert set(board) == {"TicTacToe", "Yahtzee"}
    ann, bob = board["TicTacToe"]
    assert ann == {"name": "ann", "games": 4, "wins": 2, "draws": 1, "losses": 1}
    assert bob == {"name": "bob", "games": 3, "wins": 1, "draws": 1, "losses": 1}
    assert [r["name"] for r in board["Yahtzee"]] == ["Bo", "Ada"]


def test_replay_shows_one_players_states_and_hides_the_others_moves() -> None:
    game = record(["ann", "bob"], [over(winner=0), over(winner=0)], game="Battleship",
                  initial_states=[{"mine": "A0"}, {"mine": "B0"}],
                  steps=[{"seq": 1, "player_id": 0, "move": {"ships": "A"}, "rejection": None,
                          "time": 101.0, "states": [{"mine": "A1"}, {"mine": "B1"}]},
                         {"seq": 2, "player_id": 1, "move": {"ships": "B"}, "rejection": "no",
                          "time": 102.0, "states": [{"mine": "A2"}, {"mine": "B2"}]}])
    mine = _data.replay(game, 0, hide_others_moves=True)
    assert mine["initial"] == {"mine": "A0"} and mine["moves"] == 2
    assert [s["state"] for s in mine["steps"]] == [{"mine": "A1"}, {"mine": "A2"}]
    assert [s["move"] for s in mine["steps"]] == [{"ships": "A"}, None]
    assert mine["steps"][1]["rejection"] == "no"
    assert "B" not in str([s["move"] for s in mine["steps"]])
    assert "B1" not in str(mine) and "B0" not in str(mine)
    theirs = _data.replay(game, 1, hide_others_moves=False)
    assert [s["move"] for s in theirs["steps"]] == [{"ships": "A"}, {"ships": "B"}]




def test_a_renderer_is_the_js_file_named_after_the_class() -> None:
    path = _data.renderer_file(CoinToss)
    assert path is not None and path.name == "CoinToss.js"
    assert _data.renderer_file(TicTacToe) is None


def test_stuck_after_a_minute_or_a_quarter_of_the_game_timeout() -> None:
    assert _data.stuck_after(1000.0) == 60.0
    assert _data.stuck_after(40.0) == 10.0


def test_replay_without_states_ends_with_the_final_state_and_says_why() -> None:
    """A game in a worker process is not played again for its states: every step of its
    replay had none, the last too, and nothing said why. Now the last step is the final
    state (only when every move is shown) and ``states_note`` gives the reason."""
    steps = [{"seq": n, "player_id": 0, "move": {"call": "heads"}, "rejection": None,
              "time": 100.0 + n, "states": None} for n in (1, 2)]
    note = "the game CoinToss runs in a worker process: its moves are shown, the states ..."
    game = record(["ann", "bob"], [over(points=[1, 0]), over(points=[0, 1])], game="CoinToss",
                  moves=2, steps=steps, states_note=note)
    theirs = _data.replay(game, 1, hide_others_moves=False)
    assert [s["state"] for s in theirs["steps"]] == [None, over(points=[0, 1])]
    assert theirs["states_note"] == note
    cut = _data.replay({**game, "moves": 1500}, 1, hide_others_moves=False)  # 1,000 shown
    assert [s["state"] for s in cut["steps"]] == [None, None]
    known = _data.replay(record(["ann"], [over()], moves=0, steps=[]), 0, False)
    assert known["states_note"] is None and known["steps"] == []
