"""Who won a finished game: one reading of the final states for the command and the dashboard."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from typing import Any

import pytest

from gameserver import history
from gameserver.results import display_name, outcome
from gameserver.web import _data


def record(players: list[str], final: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": 1, "game": "TicTacToe", "session": "s", "players": players,
            "started": 100.0, "ended": 130.5, "moves": 5, "final_states": final, **extra}


def over(**state: Any) -> dict[str, Any]:
    return {**state, "current": [], "gameover": True}


def test_outcome_of_a_winner_a_draw_a_ranking_and_nothing() -> None:
    assert outcome(record(["ann", "bob"], [over(winner=1)] * 2)) == {
        "kind": "win", "winners": ["bob"], "text": "bob wins"}
    assert outcome(record(["", ""], [over(winner=0)] * 2))["text"] == "player 0 wins"
    assert outcome(record(["ann", "bob"], [over(winner=None)] * 2))["kind"] == "draw"
    ranking = over(ranking={"Ada": 200, "Bo": 150}, scorecard={})
    assert outcome(record(["", ""], [ranking])) == {
        "kind": "win", "winners": ["Ada"], "text": "Ada wins (Ada 200, Bo 150)"}
    tied = over(ranking={"Ada": 200, "Bo": 200})
    assert outcome(record(["", ""], [tied])) == {
        "kind": "draw", "winners": [], "text": "draw (Ada 200, Bo 200)"}
    assert outcome(record(["ann"], [over(messages=[])]))["kind"] == "none"
    assert outcome(record(["ann"], []))["kind"] == "none"
    assert outcome(record(["ann", "bob"], [over(winner=7)]))["kind"] == "none"


def test_a_forfeit_decides_first_and_one_that_names_nobody_is_a_draw() -> None:
    late = over(forfeit={"players": [0], "reason": "clock"}, winner=0)
    assert outcome(record(["ann", "bob"], [late]))["winners"] == ["bob"]
    limit = over(forfeit={"players": [], "reason": "the game did not end within 30 moves "
                          "(the move limit)"})
    assert outcome(record(["ann", "bob"], [limit] * 2)) == {
        "kind": "draw", "winners": [],
        "text": "draw: the game did not end within 30 moves (the move limit)"}


def test_a_ranking_decides_before_a_winner_id() -> None:
    both = over(ranking={"Ada": 10, "Bo": 20}, winner=0)
    assert outcome(record(["Ada", "Bo"], [both]))["winners"] == ["Bo"]


def test_unnamed_players_read_as_player_n() -> None:
    assert display_name("", 2) == "player 2" and display_name("ann", 0) == "ann"


@pytest.mark.parametrize(("final", "text"), [
    ([over(ranking={"Ada": 200, "Bo": 200}, scorecard={})], "draw (Ada 200, Bo 200)"),  # Yahtzee
    ([over(ranking={"Ada": 200, "Bo": 150}, winner=1)], "Ada wins (Ada 200, Bo 150)"),
    ([over(winner=1)], "Bo wins"), ([over(winner=None)], "draw"),
    ([over(messages=[])], "finished"), ([], "finished"),
])
def test_the_history_command_says_what_the_dashboard_says(final: list[dict[str, Any]],
                                                         text: str) -> None:
    """The command and the dashboard once read the final state differently (a tie was
    ``ranking {...}`` in one and a draw in the other): both must say ``text``."""
    game = record(["Ada", "Bo"], final)
    assert _data.history_entry(game)["result"]["text"] == text  # the dashboard's history

    class OneGame:
        def finished_games(self, game: str | None, limit: int) -> list[dict[str, Any]]:
            return [{**record(["Ada", "Bo"], final), "moves": 3}]

    out = io.StringIO()
    with redirect_stdout(out):
        history.list_games(OneGame(), None, 20)  # type: ignore[arg-type]
    assert out.getvalue().rstrip().endswith(f"Ada, Bo: {text}")  # the command's
