"""Tic-tac-toe for two players on a 3x3 board."""

from __future__ import annotations

import random
from itertools import compress
from operator import eq
from typing import Any

from gameserver.game import AbstractGame

# Every row, column and diagonal, as board positions.
LINES = (
    (0, 1, 2), (3, 4, 5), (6, 7, 8),
    (0, 3, 6), (1, 4, 7), (2, 5, 8),
    (0, 4, 8), (2, 4, 6),
)
# For each position, the lines through it: a new mark can only complete one of these.
LINES_THROUGH = tuple(tuple(line for line in LINES if position in line) for position in range(9))
EMPTY = -1
# rl_observation's codes of a cell, (mine, the opponent's, empty): floats, as the learner's
# float32 array holds them (numpy converts 27 ints to floats in ~20 % more time); by
# player id, mine and empty; any other cell is the opponent's (OPPONENTS: one per cell).
CODES = tuple({player_id: (1.0, 0.0, 0.0), EMPTY: (0.0, 0.0, 1.0)} for player_id in (0, 1))
OPPONENTS = ((0.0, 1.0, 0.0),) * 9
# legal_moves picks from these (and hands out copies): the move of each cell, and EMPTY nine
# times, to compare each cell with.
MOVES = tuple({"position": p} for p in range(9))
EMPTIES = (EMPTY,) * 9


class TicTacToe(AbstractGame):
    """Two players take turns marking cells; three in a row wins.

    Players: exactly 2. A random player starts; then the players alternate.

    Board positions::

        0 | 1 | 2
        3 | 4 | 5
        6 | 7 | 8

    Move:
        ``{"position": int}`` with 0 <= position <= 8, an empty cell
        (client: ``move(position=4)``).

    State:
        ``{"board": [9 ints], "winner": id or null}``. A board cell holds -1
        when empty, else the id (0 or 1) of the player who marked it.
        ``winner`` is null while the game runs and after a draw.

    End:
        A line of three marks ends the game with ``winner`` set; a full board
        without such a line ends it as a draw (``winner`` null). Afterwards
        ``current`` is empty.

    Errors (each has its own message): ``position`` missing; not an int
    (``true``/``false``, decimals and text are rejected); outside 0..8; cell
    already taken.

    Attributes:
        board: the 9 cells, as in the state.
        turn: id of the player to move (meaningless once the game is over).
        winner: id of the winner, or None.
    """

    def __init__(self, players: int, rng: random.Random | None = None) -> None:
        """Set up an empty board and pick the first player at random.

        Args:
            players: always 2; the framework checked it.
            rng: random source for choosing who starts. The server leaves it
                out; tests pass one to make the first player predictable.
        """
        self.board = [EMPTY] * 9
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
        """Mark ``move["position"]`` for ``player_id`` and pass the turn.

        Returns:
            ``None`` if accepted, else an error message for the player.
        """
        board = self.board
        position = move.get("position")
        # (The usual move, checked in one line; anything else is looked at in turn.)
        if type(position) is not int or not 0 <= position <= 8 or board[position] != EMPTY:
            problem = self._problem(move)
            if problem is not None:
                return problem
        board[position] = player_id
        for a, b, c in LINES_THROUGH[position]:
            if board[a] == board[b] == board[c]:  # all three are player_id's now
                self.winner = player_id
        self.turn = 1 - player_id
        return None

    def _problem(self, move: dict[str, Any]) -> str | None:
        """What is wrong with ``move`` (an error message for the player), or None."""
        if "position" not in move:
            return "position missing: send move(position=N) with N from 0 (top left) to 8"
        position = move["position"]
        # bool is a subclass of int in Python, but True is not a cell number.
        if not isinstance(position, int) or isinstance(position, bool):
            return (
                f"position must be a whole number (int) from 0 to 8, "
                f"but you sent a {type(position).__name__}: send e.g. move(position=4)"
            )
        if not 0 <= position <= 8:
            return "position must be between 0 (top left) and 8 (bottom right)"
        if self.board[position] != EMPTY:
            return (
                f"position {position} is already taken by player {self.board[position]}: "
                f"choose a cell that shows -1 in the board"
            )
        return None

    def game_over(self) -> bool:
        """Return ``True`` after a line of three or when the board is full."""
        return self.winner is not None or EMPTY not in self.board

    def state(self, player_id: int) -> dict[str, Any]:
        """Return the board and the winner; both players see everything."""
        return {"board": list(self.board), "winner": self.winner}

    def legal_moves(self, player_id: int) -> list[dict[str, Any]]:
        """Return ``{"position": p}`` for every empty cell, ``[]`` once the game is over."""
        if self.game_over():
            return []
        # [{"position": p} for p, cell in enumerate(self.board) if cell == EMPTY], done by
        # the C code of map and compress: the server asks this after every move.
        return list(map(dict, compress(MOVES, map(eq, self.board, EMPTIES))))

    # ---- Reinforcement-learning hooks (optional; see AbstractGame and docs/rl.md) ----

    rl_moves = [{"position": p} for p in range(9)]
    rl_observation_shape = (3, 3, 3)

    @staticmethod
    def rl_observation(state: dict[str, Any], player_id: int) -> list[Any]:
        """The board as rows of cells, each cell ``(mine, the opponent's, empty)`` (0 or 1)."""
        # One lookup per cell: a learner calls this once per step, millions of times.
        codes = CODES[player_id]
        # codes.get(cell, (0.0, 1.0, 0.0)) for each cell: any other cell is the opponent's.
        cells = list(map(codes.get, state["board"], OPPONENTS))
        return [cells[0:3], cells[3:6], cells[6:9]]
