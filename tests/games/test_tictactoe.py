"""Rules of TicTacToe, tested on the class directly."""

import random

import pytest

from gameserver.games.tictactoe import LINES, TicTacToe
from gameserver.testing import LocalSession
from tests.games.helpers import FirstPlayer, random_games


def new_game(first: int = 0) -> TicTacToe:
    return TicTacToe(2, rng=FirstPlayer(first))


def play(game: TicTacToe, *positions: int) -> None:
    """Play ``positions`` in turn order, failing if any is rejected."""
    for position in positions:
        assert game.move({"position": position}, game.current_player()[0]) is None


def test_player_limits() -> None:
    assert (TicTacToe.min_players(), TicTacToe.max_players()) == (2, 2)


@pytest.mark.parametrize("first", [0, 1])
def test_first_player_comes_from_the_random_source(first: int) -> None:
    rng = FirstPlayer(first)
    game = TicTacToe(2, rng=rng)
    assert game.current_player() == [first]
    assert rng.asked == [2]


def test_default_random_first_player_is_0_or_1() -> None:
    assert TicTacToe(2).current_player() in ([0], [1])


def test_initial_state() -> None:
    game = new_game()
    assert game.state(0) == {"board": [-1] * 9, "winner": None}
    assert game.state(1) == game.state(0)
    assert not game.game_over()


def test_players_alternate_and_marks_show_ids() -> None:
    game = new_game(first=1)
    assert game.move({"position": 4}, 1) is None
    assert game.current_player() == [0]
    assert game.move({"position": 0}, 0) is None
    assert game.current_player() == [1]
    board = game.state(0)["board"]
    assert board[4] == 1 and board[0] == 0
    assert board.count(-1) == 7


@pytest.mark.parametrize("line", [
    (0, 1, 2), (3, 4, 5), (6, 7, 8),
    (0, 3, 6), (1, 4, 7), (2, 5, 8),
    (0, 4, 8), (2, 4, 6),
])
def test_every_line_of_three_wins(line: tuple[int, int, int]) -> None:
    game = new_game(first=0)
    others = [p for p in range(9) if p not in line]
    # Player 1 plays cells that cannot form a line with just two marks.
    play(game, line[0], others[0], line[1], others[-1], line[2])
    assert game.game_over()
    assert game.state(1)["winner"] == 0
    assert game.current_player() == []


def test_second_player_can_win() -> None:
    game = new_game(first=0)
    play(game, 0, 3, 1, 4, 8, 5)
    assert game.state(0)["winner"] == 1
    assert game.game_over()


def test_win_on_the_last_cell_is_a_win_not_a_draw() -> None:
    game = new_game(first=0)
    # Result: 0 1 0 / 1 0 1 / 1 0 0; the ninth mark completes the diagonal 0-4-8.
    play(game, 0, 1, 2, 3, 4, 5, 7, 6)
    assert not game.game_over()
    play(game, 8)
    assert game.game_over()
    assert game.state(0) == {"board": [0, 1, 0, 1, 0, 1, 1, 0, 0], "winner": 0}


def test_full_board_without_line_is_a_draw() -> None:
    game = new_game(first=0)
    # Result: 0 1 0 / 0 1 1 / 1 0 0
    play(game, 0, 1, 2, 4, 3, 5, 7, 6, 8)
    assert game.game_over()
    assert game.state(0) == {"board": [0, 1, 0, 0, 1, 1, 1, 0, 0], "winner": None}
    assert game.current_player() == []


def test_not_over_before_board_is_full() -> None:
    game = new_game(first=0)
    play(game, 0, 1, 2, 4, 3, 5, 7, 6)
    assert not game.game_over()
    assert game.current_player() == [0]


REJECTIONS = {
    "missing": ({}, "position missing"),
    "bool": ({"position": True}, "whole number"),
    "str": ({"position": "4"}, "whole number"),
    "float": ({"position": 4.0}, "whole number"),
    "list": ({"position": [4]}, "whole number"),
    "null": ({"position": None}, "whole number"),
    "negative": ({"position": -1}, "between 0"),
    "nine": ({"position": 9}, "between 0"),
    "huge": ({"position": 10**5000}, "between 0"),
}


@pytest.mark.parametrize("name", REJECTIONS)
def test_bad_moves_are_rejected_and_change_nothing(name: str) -> None:
    move, expected = REJECTIONS[name]
    game = new_game(first=0)
    error = game.move(move, 0)
    assert isinstance(error, str) and expected in error
    assert game.state(0)["board"] == [-1] * 9
    assert game.current_player() == [0]


def test_occupied_cell_is_rejected() -> None:
    game = new_game(first=0)
    play(game, 4)
    error = game.move({"position": 4}, 1)
    assert isinstance(error, str) and "already taken by player 0" in error
    assert game.state(1)["board"].count(-1) == 8
    assert game.current_player() == [1]


def test_rejection_messages_are_distinct() -> None:
    game = new_game(first=0)
    play(game, 4)
    messages = {
        game.move({}, 1),
        game.move({"position": "x"}, 1),
        game.move({"position": 9}, 1),
        game.move({"position": 4}, 1),
    }
    assert len(messages) == 4 and None not in messages


def test_the_winner_is_the_player_whose_mark_completed_a_line_in_300_random_games() -> None:
    """Checked against all eight lines after every move."""
    rng = random.Random(7)
    for _ in range(300):
        game = new_game(first=rng.randrange(2))
        while not game.game_over():
            player = game.current_player()[0]
            free = [p for p in range(9) if game.board[p] == -1]
            assert game.move({"position": rng.choice(free)}, player) is None
            won = any(game.board[a] == game.board[b] == game.board[c] == player
                      for a, b, c in LINES)
            assert game.winner == (player if won else None)


def test_a_position_of_an_int_subclass_marks_that_cell() -> None:
    class Cell(int):
        pass

    game = new_game(first=0)
    assert game.move({"position": Cell(4)}, 0) is None
    assert game.board[4] == 0 and game.current_player() == [1]
    assert "already taken" in game.move({"position": Cell(4)}, 1)


def test_state_is_a_copy() -> None:
    game = new_game()
    game.state(0)["board"][0] = 1
    assert game.state(0)["board"][0] == -1


def test_legal_moves_are_the_empty_cells() -> None:
    session = LocalSession(TicTacToe, 2)
    session.game.turn = 0
    assert session.legal_moves(0) == [{"position": p} for p in range(9)]
    assert session.legal_moves(1) == []  # not this player's turn
    session.move(0, position=4)
    session.move(1, position=0)
    assert session.legal_moves(0) == [{"position": p} for p in (1, 2, 3, 5, 6, 7, 8)]


def test_legal_moves_are_new_dicts_each_time() -> None:
    game = new_game(first=0)
    game.legal_moves(0)[0]["position"] = 7  # a caller may change what it gets
    assert game.legal_moves(0)[0] == {"position": 0}


def test_no_legal_moves_once_the_game_is_over() -> None:
    game = new_game(first=0)
    play(game, 0, 3, 1, 4, 2)
    assert game.legal_moves(0) == game.legal_moves(1) == []


def test_200_random_games_via_legal_moves() -> None:
    def exactly_the_free_cells(session, player, legal) -> None:
        board = session.state(player)["board"]
        assert legal == [{"position": p} for p in range(9) if board[p] == -1]

    finals = random_games(TicTacToe, 2, games=200, seed=5, max_moves=9,
                          check_listed=exactly_the_free_cells)
    assert {state["winner"] for state in finals} == {0, 1, None}


def test_rl_observation_marks_each_cell_mine_the_opponents_or_empty() -> None:
    board = [0, 1, -1,
             -1, 0, -1,
             1, -1, -1]
    mine, theirs, empty = [1, 0, 0], [0, 1, 0], [0, 0, 1]
    seen = TicTacToe.rl_observation({"board": board, "winner": None}, 0)
    assert [[list(cell) for cell in row] for row in seen] == [
        [mine, theirs, empty], [empty, mine, empty], [theirs, empty, empty]]
    seen = TicTacToe.rl_observation({"board": board, "winner": None}, 1)
    assert [list(cell) for cell in seen[0]] == [theirs, mine, empty]
