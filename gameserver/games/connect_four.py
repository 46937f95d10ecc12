"""Connect Four for two players: drop discs into a 7x6 grid, four in a row wins."""

from __future__ import annotations

import random
from itertools import compress
from operator import eq
from typing import Any

from gameserver.game import AbstractGame

ROWS = 6
COLUMNS = 7
EMPTY = -1
# The four directions a line can run in, as (row step, column step):
# right, down, down-right and up-right. Checking both ways along each
# direction finds every line through a cell.
DIRECTIONS = ((0, 1), (1, 0), (1, 1), (-1, 1))
# legal_moves picks from these (and hands out copies): the move of each column, and EMPTY
# once a column, to compare the top row with.
MOVES = tuple({"column": c} for c in range(COLUMNS))
EMPTIES = (EMPTY,) * COLUMNS


class ConnectFour(AbstractGame):
    """Two players drop discs into a 7-column, 6-row grid; four in a row wins.

    Players: exactly 2. A random player starts; then the players alternate.

    Move:
        ``{"column": int}`` with 0 <= column <= 6 (client:
        ``move(column=3)``). The disc falls to the lowest empty cell of that
        column; the column must not be full.

    State:
        ``{"board": [[7 ints] * 6], "winner": id or null}``. ``board[row][col]``
        is -1 when empty, else the id (0 or 1) of the player whose disc is
        there. Row 0 is the top row and row 5 the bottom one, so discs fill
        each column from row 5 upwards. ``winner`` is null while the game runs
        and after a draw.

    End:
        Four discs of one player in a line (horizontal, vertical or either
        diagonal) win. A full grid without such a line is a draw (``winner``
        null). Afterwards ``current`` is empty.

    Errors (each has its own message): ``column`` missing; not an int
    (``true``/``false``, decimals and text are rejected); outside 0..6;
    column already full.

    Attributes (tests may set them):
        board: the grid, as in the state.
        turn: id of the player to move (meaningless once the game is over).
        winner: id of the winner, or None.
    """

    def __init__(self, players: int, rng: random.Random | None = None) -> None:
        """Set up an empty grid and pick the first player at random.

        Args:
            players: always 2; the framework checked it.
            rng: random source for choosing who starts. The server leaves it
                out; tests pass one to make the first player predictable.
        """
        self.board = [[EMPTY] * COLUMNS for _ in range(ROWS)]
        self.turn = (rng or random).randrange(2)  # the module: no new generator to seed
        self.winner: int | None = None

    @staticmethod
    def min_players() -> int:
        """Return 2."""
        return 2

    @staticmethod
    def max_players() -> int:
        """Return 2."""
        return 2

    def current_player(self) -> list[int]:
        """Return ``[turn]`` while the game runs, ``[]`` once it is over."""
        return [] if self.game_over() else [self.turn]

    def move(self, move: dict[str, Any], player_id: int) -> str | None:
        """Drop a disc of ``player_id`` into ``move["column"]`` and pass the turn.

        Returns:
            ``None`` if accepted, else an error message for the player.
        """
        if "column" not in move:
            return "column missing: send move(column=N) with N from 0 (left) to 6 (right)"
        column = move["column"]
        # bool is a subclass of int in Python, but True is not a column number.
        if not isinstance(column, int) or isinstance(column, bool):
            return (
                f"column must be a whole number (int) from 0 to 6, "
                f"but you sent a {type(column).__name__}: send e.g. move(column=3)"
            )
        if not 0 <= column < COLUMNS:
            return "column must be between 0 (left) and 6 (right)"
        if self.board[0][column] != EMPTY:
            free = [c for c in range(COLUMNS) if self.board[0][c] == EMPTY]
            return f"column {column} is full: choose one of the columns {free}"
        # The disc falls down to the lowest empty cell (the highest row number).
        row = max(r for r in range(ROWS) if self.board[r][column] == EMPTY)
        self.board[row][column] = player_id
        if self._makes_four(row, column):
            self.winner = player_id
        self.turn = 1 - player_id
        return None

    def _makes_four(self, row: int, column: int) -> bool:
        """Return whether the disc at (row, column) is part of four in a row."""
        player = self.board[row][column]
        for d_row, d_col in DIRECTIONS:
            count = 1  # the disc itself
            for sign in (1, -1):  # walk both ways along the direction
                r, c = row + sign * d_row, column + sign * d_col
                while 0 <= r < ROWS and 0 <= c < COLUMNS and self.board[r][c] == player:
                    count += 1
                    r, c = r + sign * d_row, c + sign * d_col
            if count >= 4:
                return True
        return False

    def game_over(self) -> bool:
        """Return ``True`` after four in a row or when the grid is full."""
        return self.winner is not None or EMPTY not in self.board[0]

    def state(self, player_id: int) -> dict[str, Any]:
        """Return the grid and the winner; both players see everything."""
        return {"board": [list(row) for row in self.board], "winner": self.winner}

    def legal_moves(self, player_id: int) -> list[dict[str, Any]]:
        """Return ``{"column": c}`` for every column that is not full yet."""
        if self.game_over():
            return []
        # [{"column": c} for c in range(COLUMNS) if self.board[0][c] == EMPTY], done by
        # the C code of map and compress: the server asks this after every move.
        return list(map(dict, compress(MOVES, map(eq, self.board[0], EMPTIES))))

    # ---- Reinforcement-learning hooks (optional; see AbstractGame and docs/rl.md) ----

    rl_moves = [{"column": c} for c in range(COLUMNS)]
    rl_observation_shape = (ROWS, COLUMNS, 3)

    @staticmethod
    def rl_observation(state: dict[str, Any], player_id: int) -> list[Any]:
        """The grid, each cell ``(mine, the opponent's, empty)`` (0 or 1); row 0 on top."""
        codes = {player_id: (1, 0, 0), EMPTY: (0, 0, 1)}  # any other cell: (0, 1, 0)
        return [[codes.get(cell, (0, 1, 0)) for cell in row] for row in state["board"]]
