"""Rules of ConnectFour, played through the in-process harness ``LocalSession``.

Tests that need a known first player set the documented ``turn`` attribute
through ``session.game``; positions are set up through ``board``.
"""


import pytest

from gameserver.games.connect_four import ConnectFour
from gameserver.testing import GameServerError, IllegalMove, LocalSession
from tests.games.helpers import FirstPlayer, random_games

EMPTY_BOARD = [[-1] * 7 for _ in range(6)]
# A full grid without four in a row (each digit is a player id), row 0 on top.
NO_FOUR = ["0101010", "0101010", "1010101", "1010101", "0101010", "0101010"]


def new_session(first: int = 0) -> LocalSession:
    session = LocalSession(ConnectFour, 2)
    session.game.turn = first
    return session


def play(session: LocalSession, *columns: int) -> None:
    """Drop discs into ``columns`` in turn order; each must be accepted."""
    for column in columns:
        [player] = session.current
        session.move(player, column=column)


def test_player_limits() -> None:
    assert (ConnectFour.min_players(), ConnectFour.max_players()) == (2, 2)


@pytest.mark.parametrize("first", [0, 1])
def test_first_player_comes_from_the_random_source(first: int) -> None:
    rng = FirstPlayer(first)
    game = ConnectFour(2, rng=rng)
    assert game.current_player() == [first]
    assert rng.asked == [2]


def test_default_random_first_player_is_0_or_1() -> None:
    assert LocalSession(ConnectFour, 2).current in ([0], [1])


def test_initial_state() -> None:
    session = new_session(first=1)
    assert session.state(0) == {"board": EMPTY_BOARD, "winner": None,
                                "current": [1], "gameover": False}
    assert session.state(1) == session.state(0)


def test_discs_fall_to_the_bottom_and_stack() -> None:
    session = new_session(first=0)
    play(session, 3, 3, 3, 4)
    board = session.state(0)["board"]
    assert [board[row][3] for row in range(6)] == [-1, -1, -1, 0, 1, 0]
    assert board[5][4] == 1
    assert sum(cell != -1 for row in board for cell in row) == 4


def test_players_alternate() -> None:
    session = new_session(first=1)
    seen = []
    for column in (0, 1, 2, 3):
        seen.append(session.current)
        play(session, column)
    assert seen == [[1], [0], [1], [0]]


@pytest.mark.parametrize("columns, name", [
    ((0, 0, 1, 1, 2, 2, 3), "horizontal"),
    ((6, 5, 6, 5, 6, 5, 6), "vertical"),
    # Diagonal rising to the right: 0 at (5,0), (4,1), (3,2), (2,3).
    ((0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3), "diagonal up-right"),
    # Diagonal falling to the right: 0 at (2,3), (3,4), (4,5), (5,6).
    ((6, 5, 5, 4, 4, 3, 4, 3, 3, 0, 3), "diagonal down-right"),
])
def test_four_in_a_row_wins(columns: tuple[int, ...], name: str) -> None:
    session = new_session(first=0)
    play(session, *columns[:-1])
    assert not session.gameover, name
    play(session, columns[-1])
    state = session.state(1)
    assert state["winner"] == 0 and state["gameover"] and state["current"] == []


def test_the_disc_that_fills_a_gap_in_the_middle_wins() -> None:
    session = new_session(first=0)
    play(session, 0, 0, 1, 1, 3, 3)  # 0 has columns 0, 1 and 3 on the bottom row
    play(session, 2)
    assert session.state(0)["winner"] == 0


def test_five_in_a_row_also_wins() -> None:
    session = new_session(first=0)
    session.game.board[5] = [0, 0, -1, 0, 0, -1, -1]
    play(session, 2)
    assert session.state(0)["winner"] == 0


def test_three_in_a_row_does_not_win() -> None:
    session = new_session(first=0)
    play(session, 0, 0, 1, 1, 2, 6)
    assert not session.gameover
    assert session.state(0)["winner"] is None


def test_second_player_can_win() -> None:
    session = new_session(first=0)
    play(session, 0, 6, 1, 6, 0, 6, 1, 6)
    assert session.state(0)["winner"] == 1


def test_full_board_without_four_is_a_draw() -> None:
    session = new_session(first=1)
    board = [[int(digit) for digit in row] for row in NO_FOUR]
    board[0][3] = -1  # the last free cell; NO_FOUR has a 1 there
    session.game.board = board
    assert not session.gameover
    assert session.legal_moves(1) == [{"column": 3}]
    play(session, 3)
    state = session.state(0)
    assert state["board"] == [[int(digit) for digit in row] for row in NO_FOUR]
    assert state["winner"] is None and state["gameover"] and state["current"] == []


def test_win_on_the_last_cell_is_a_win_not_a_draw() -> None:
    session = new_session(first=0)
    board = [[int(digit) for digit in row] for row in NO_FOUR]
    board[0][:4] = [0, 0, 0, -1]  # row 0 becomes 0 0 0 _, so the last disc makes four
    session.game.board = board
    play(session, 3)
    assert session.state(0)["winner"] == 0


def test_moving_out_of_turn_is_refused_by_the_framework() -> None:
    session = new_session(first=0)
    with pytest.raises(GameServerError, match="not your turn"):
        session.move(1, column=0)


def test_no_moves_after_the_game_is_over() -> None:
    session = new_session(first=0)
    play(session, 0, 1, 0, 1, 0, 1, 0)
    with pytest.raises(GameServerError, match="game has ended"):
        session.move(1, column=1)


REJECTIONS = {
    "missing": ({}, "column missing"),
    "other key": ({"position": 3}, "column missing"),
    "bool": ({"column": True}, "whole number"),
    "str": ({"column": "3"}, "whole number"),
    "float": ({"column": 3.0}, "whole number"),
    "list": ({"column": [3]}, "whole number"),
    "dict": ({"column": {}}, "whole number"),
    "null": ({"column": None}, "whole number"),
    "negative": ({"column": -1}, "between 0"),
    "seven": ({"column": 7}, "between 0"),
    "huge": ({"column": 10**30}, "between 0"),
}


@pytest.mark.parametrize("name", REJECTIONS)
def test_bad_moves_are_rejected_and_change_nothing(name: str) -> None:
    move, expected = REJECTIONS[name]
    session = new_session(first=0)
    with pytest.raises(IllegalMove, match=expected):
        session.move(0, move)
    assert session.state(0)["board"] == EMPTY_BOARD
    assert session.current == [0]


def test_number_too_long_for_json_is_rejected_by_the_class() -> None:
    assert "between 0" in ConnectFour(2).move({"column": 10**5000}, 0)


def test_full_column_is_rejected() -> None:
    session = new_session(first=0)
    play(session, 2, 2, 2, 2, 2, 2)
    expected = r"column 2 is full: choose one of the columns \[0, 1, 3, 4, 5, 6\]"
    with pytest.raises(IllegalMove, match=expected):
        session.move(0, column=2)
    assert session.current == [0]
    assert [row[2] for row in session.state(0)["board"]] == [1, 0, 1, 0, 1, 0]


def test_rejection_messages_are_distinct() -> None:
    game = ConnectFour(2, rng=FirstPlayer(0))
    game.board[0][0] = 1  # column 0 is full
    messages = {game.move(move, 0) for move in ({}, {"column": "x"}, {"column": 9}, {"column": 0})}
    assert len(messages) == 4 and None not in messages


def test_legal_moves_are_the_columns_that_are_not_full() -> None:
    session = new_session(first=0)
    assert session.legal_moves(0) == [{"column": c} for c in range(7)]
    assert session.legal_moves(1) == []  # not this player's turn
    play(session, 5, 5, 5, 5, 5, 5)
    assert session.legal_moves(0) == [{"column": c} for c in (0, 1, 2, 3, 4, 6)]


def test_legal_moves_are_new_dicts_each_time() -> None:
    game = ConnectFour(2)
    game.legal_moves(0)[0]["column"] = 6  # a caller may change what it gets
    assert game.legal_moves(0)[0] == {"column": 0}


def test_no_legal_moves_once_the_game_is_over() -> None:
    session = new_session(first=0)
    play(session, 0, 1, 0, 1, 0, 1, 0)
    assert session.legal_moves(0) == session.legal_moves(1) == []
    assert session.game.legal_moves(1) == []


def test_state_is_a_copy() -> None:
    game = ConnectFour(2)
    game.state(0)["board"][5][0] = 1
    assert game.state(0)["board"] == EMPTY_BOARD


def test_restart_starts_a_fresh_game() -> None:
    session = new_session(first=0)
    play(session, 0, 1, 0, 1, 0, 1, 0)
    session.restart(1)
    state = session.state(0)
    assert state["board"] == EMPTY_BOARD and state["winner"] is None


def test_200_random_games_via_legal_moves() -> None:
    finals = random_games(ConnectFour, 2, games=200, seed=4, max_moves=42)
    for state in finals:
        if state["winner"] is None:  # a draw only on a full board
            assert all(cell != -1 for row in state["board"] for cell in row)
    assert {0, 1} <= {state["winner"] for state in finals}


def test_rl_observation_marks_each_cell_mine_the_opponents_or_empty() -> None:
    board = [[-1] * 7 for _ in range(6)]
    board[5][0], board[5][1], board[4][0] = 0, 1, 1
    seen = ConnectFour.rl_observation({"board": board}, 0)
    assert len(seen) == 6 and all(len(row) == 7 for row in seen)
    assert [list(cell) for cell in seen[5][:3]] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert list(seen[4][0]) == [0, 1, 0] and list(seen[0][6]) == [0, 0, 1]
    assert list(ConnectFour.rl_observation({"board": board}, 1)[4][0]) == [1, 0, 0]
