"""Battleship for two players on a 10x10 grid: hidden ships, a setup phase, then shots."""

from __future__ import annotations

import functools
import random
from collections import Counter
from typing import Any

from gameserver.game import AbstractGame

SIZE = 10
FLEET = (5, 4, 3, 3, 2)  # ship lengths
DIRECTIONS = {"h": (0, 1), "v": (1, 0)}  # "h" runs to the right, "v" downwards
# Grid symbols in the state.
WATER, MISS, SHIP, HIT, SUNK = ".", "o", "S", "X", "#"
SHIPS_USAGE = (
    "send move(ships=[[row, col, length, 'h' or 'v'], ...]) with all five ships, "
    "lengths 5, 4, 3, 3 and 2, e.g. [[0, 0, 5, 'h'], [2, 0, 4, 'h'], [4, 0, 3, 'h'], "
    "[6, 0, 3, 'h'], [8, 0, 2, 'h']]"
)
SHOT_USAGE = "send move(shot=[row, col]) with row and col from 0 to 9"

Ship = tuple[int, int, int, str]  # (row, col, length, direction)
Cell = tuple[int, int]


@functools.lru_cache(maxsize=1024)  # a game asks for the same few ships again and again
def ship_cells(ship: Ship) -> tuple[Cell, ...]:
    """Return the cells a ship covers, from its (row, col) end onwards."""
    row, col, length, direction = ship
    d_row, d_col = DIRECTIONS[direction]
    return tuple((row + i * d_row, col + i * d_col) for i in range(length))


def is_int(value: Any) -> bool:
    """Return whether ``value`` is a whole number (``True``/``False`` are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def show(number: int) -> str:
    """Return ``number`` for an error message; huge numbers cannot be printed."""
    return str(number) if abs(number) < 1000 else "(a huge number)"


def random_fleet(rng: random.Random) -> list[list[Any]]:
    """Return a random valid placement of the whole fleet, as sent in a move."""
    taken: set[Cell] = set()
    fleet: list[list[Any]] = []
    for length in FLEET:
        while True:
            direction = rng.choice("hv")
            d_row, d_col = DIRECTIONS[direction]
            row = rng.randrange(SIZE - d_row * (length - 1))
            col = rng.randrange(SIZE - d_col * (length - 1))
            cells = ship_cells((row, col, length, direction))
            if taken.isdisjoint(cells):
                taken.update(cells)
                fleet.append([row, col, length, direction])
                break
    return fleet


class Battleship(AbstractGame):
    """Battleship: hide five ships on a 10x10 grid, then take turns shooting.

    Players: exactly 2. Rows and columns are numbered 0..9; row 0 is the top,
    column 0 the left edge.

    Phase 1, setup: both players are current and each places their whole
    fleet in one move; a player who has placed drops out of ``current``.

    * ``{"ships": [[row, col, length, direction], ...]}`` (client:
      ``move(ships=[[0, 0, 5, "h"], [2, 0, 4, "h"], [4, 0, 3, "h"],
      [6, 0, 3, "h"], [8, 0, 2, "h"]])``): exactly five ships with the
      lengths 5, 4, 3, 3 and 2, in any order. A ship starts at (row, col)
      and runs ``length`` cells to the right (``"h"``) or downwards
      (``"v"``). Ships must lie on the grid and must not overlap; they may
      touch.

    Phase 2, shooting: a random player shoots first, then the players
    alternate (a hit does not give another shot).

    * ``{"shot": [row, col]}`` (client: ``move(shot=[3, 4])``) shoots at that
      cell of the opponent's grid; each cell can be shot only once.

    A ship is sunk when all its cells are hit; then its position is shown to
    the shooter. Whoever sinks the opponent's last ship wins.

    State (for the asking player):
        ``"phase"``: ``"setup"``, ``"shooting"`` or ``"over"``.
        ``"board"``: your own grid as 10 strings (rows) of 10 characters, so
        ``board[row][col]`` is one cell and ``print("\\n".join(board))``
        draws it: ``"."`` water, ``"o"`` water the opponent shot at, ``"S"``
        your ship, ``"X"`` your ship hit, ``"#"`` your sunk ship.
        ``"ships"``: your fleet as you placed it, ``[]`` before you have.
        ``"shots"``: what you know of the opponent's grid, drawn the same
        way: ``"."`` not shot yet, ``"o"`` miss, ``"X"`` hit, ``"#"`` part
        of a sunk ship.
        ``"sunk"``: the opponent's sunk ships as ``[row, col, length,
        direction]``. ``"opponent_ready"``: whether the opponent has placed
        their fleet. ``"ships_left"`` and ``"opponent_ships_left"``: how many
        of your and of the opponent's ships are not sunk yet (0 before
        placing). ``"last_shot"``: the latest shot by either player,
        ``{"player": id, "row": r, "col": c, "result": "miss" | "hit" |
        "sunk"}``, or null. ``"winner"``: id or null.

    Errors: a shot during setup or ships during shooting; ``ships`` not a
    list of five ``[row, col, length, "h"/"v"]`` entries; wrong lengths; a
    ship off the grid; overlapping ships; ``shot`` not a ``[row, col]`` pair
    of whole numbers 0..9; a cell shot before; a move with neither key.

    ``legal_moves`` lists, during setup, ONE example placement (random, the
    same for the whole game); any other valid placement is accepted too.
    While shooting it lists every cell not shot yet.

    ``private_data`` is the cells (``[row, col]``) of the player's ships that
    have not been hit yet; hit cells are known to the opponent anyway. (The
    state holds no other two-number lists, so ``check`` cannot mistake, say,
    a score for a ship cell.)

    Attributes (tests may set them):
        fleets: each player's ships as (row, col, length, direction) tuples,
            or None before placing.
        shots: for each player, the set of (row, col) they have shot at.
        turn: id of the player to shoot; None during setup.
        winner: id of the winner, or None.
        examples: the example placement ``legal_moves`` offers each player.
    """

    def __init__(self, players: int, rng: random.Random | None = None) -> None:
        """Start the setup phase.

        Args:
            players: always 2; the framework checked it.
            rng: random source for who shoots first and the example
                placements in ``legal_moves``. The server leaves it out;
                tests pass one to make the game predictable.
        """
        self._random = rng or random.Random()
        self.fleets: list[list[Ship] | None] = [None, None]
        self.shots: list[set[Cell]] = [set(), set()]
        self.turn: int | None = None
        self.winner: int | None = None
        self.last_shot: dict[str, Any] | None = None
        # Fixed per game, so that legal_moves gives the same answer every time.
        self.examples = [random_fleet(self._random) for _ in range(2)]

    @staticmethod
    def min_players() -> int:
        """Return 2."""
        return 2

    @staticmethod
    def max_players() -> int:
        """Return 2."""
        return 2

    # ------------------------------------------------------------ queries

    def phase(self) -> str:
        """Return ``"setup"``, ``"shooting"`` or ``"over"``."""
        if self.winner is not None:
            return "over"
        return "setup" if self.turn is None else "shooting"

    def current_player(self) -> list[int]:
        """Return the players still placing ships, or the shooter."""
        phase = self.phase()
        if phase == "setup":
            return [pid for pid in (0, 1) if self.fleets[pid] is None]
        return [] if phase == "over" else [self.turn]  # type: ignore[list-item]

    def game_over(self) -> bool:
        """Return ``True`` once one player's ships are all sunk."""
        return self.winner is not None

    def _sunk(self, owner: int, ship: Ship) -> bool:
        """Return whether every cell of ``owner``'s ``ship`` has been shot."""
        return self.shots[1 - owner].issuperset(ship_cells(ship))

    def _ships_left(self, owner: int) -> int:
        fleet = self.fleets[owner] or []
        return sum(not self._sunk(owner, ship) for ship in fleet)

    def state(self, player_id: int) -> dict[str, Any]:
        """Return your own grid and fleet, and what you know of the opponent's."""
        opponent = 1 - player_id
        own = self.fleets[player_id] or []
        incoming = self.shots[opponent]  # the opponent's shots at your grid
        board = [[WATER] * SIZE for _ in range(SIZE)]
        for row, col in incoming:
            board[row][col] = MISS
        for ship in own:
            sunk = self._sunk(player_id, ship)
            for row, col in ship_cells(ship):
                board[row][col] = SUNK if sunk else HIT if (row, col) in incoming else SHIP
        shots = [[WATER] * SIZE for _ in range(SIZE)]
        enemy = self.fleets[opponent] or []
        enemy_cells = {cell for ship in enemy for cell in ship_cells(ship)}
        for row, col in self.shots[player_id]:
            shots[row][col] = HIT if (row, col) in enemy_cells else MISS
        sunk = [ship for ship in enemy if self._sunk(opponent, ship)]
        for ship in sunk:
            for row, col in ship_cells(ship):
                shots[row][col] = SUNK
        return {
            "phase": self.phase(),
            "board": ["".join(row) for row in board],
            "ships": [list(ship) for ship in own],
            "shots": ["".join(row) for row in shots],
            "sunk": [list(ship) for ship in sunk],
            "opponent_ready": self.fleets[opponent] is not None,
            "ships_left": self._ships_left(player_id),
            "opponent_ships_left": self._ships_left(opponent),
            "last_shot": dict(self.last_shot) if self.last_shot else None,
            "winner": self.winner,
        }

    def legal_moves(self, player_id: int) -> list[dict[str, Any]]:
        """Setup: one example placement. Shooting: every cell not shot yet."""
        if player_id not in self.current_player():
            return []
        if self.turn is None:
            return [{"ships": [list(ship) for ship in self.examples[player_id]]}]
        return [{"shot": [row, col]} for row in range(SIZE) for col in range(SIZE)
                if (row, col) not in self.shots[player_id]]

    def private_data(self, player_id: int) -> list[Any]:
        """Return the cells of ``player_id``'s ships that have not been hit yet."""
        hit = self.shots[1 - player_id]
        return [[row, col] for ship in self.fleets[player_id] or []
                for row, col in ship_cells(ship) if (row, col) not in hit]

    # ------------------------------------------------------------ moves

    def move(self, move: dict[str, Any], player_id: int) -> str | None:
        """Place the fleet (setup) or shoot (shooting phase).

        Returns:
            ``None`` if accepted, else an error message for the player.
        """
        if self.turn is None:
            if "ships" in move:
                return self._place(move["ships"], player_id)
            if "shot" in move:
                return f"the shooting has not started yet: first place your ships, {SHIPS_USAGE}"
            return f"unknown move: place your ships first, {SHIPS_USAGE}"
        if "shot" in move:
            return self._shoot(move["shot"], player_id)
        if "ships" in move:
            return f"your ships are already placed and cannot be moved: {SHOT_USAGE}"
        return f"unknown move: {SHOT_USAGE}"

    def _place(self, ships: Any, player_id: int) -> str | None:
        """Check a whole fleet and place it."""
        if not isinstance(ships, list):
            return f"ships must be a list of five ships: {SHIPS_USAGE}"
        if len(ships) != len(FLEET):
            return f"you sent {len(ships)} ships, but all five are placed at once: {SHIPS_USAGE}"
        fleet: list[Ship] = []
        for index, ship in enumerate(ships):
            if (not isinstance(ship, list) or len(ship) != 4
                    or not all(is_int(value) for value in ship[:3])):
                return (
                    f"ships[{index}] must be a list [row, col, length, direction] with "
                    f"three whole numbers and 'h' or 'v', e.g. [0, 0, 5, 'h']"
                )
            if not isinstance(ship[3], str) or ship[3] not in DIRECTIONS:  # dicts: unhashable
                return (
                    f"ships[{index}]: the direction must be 'h' (the ship runs to the "
                    f"right) or 'v' (it runs downwards)"
                )
            fleet.append((ship[0], ship[1], ship[2], ship[3]))
        lengths = sorted((ship[2] for ship in fleet), reverse=True)
        if Counter(lengths) != Counter(FLEET):
            shown = ", ".join(show(length) for length in lengths)
            return (
                f"the ship lengths must be 5, 4, 3, 3 and 2 (one ship each, two of "
                f"length 3), but you sent {shown}"
            )
        owner: dict[Cell, int] = {}
        for index, ship in enumerate(fleet):
            row, col, length, direction = ship
            cells = ship_cells(ship)
            if not all(0 <= r < SIZE and 0 <= c < SIZE for r, c in cells):
                return (
                    f"ships[{index}] (length {length} from row {show(row)}, col {show(col)}, "
                    f"{direction!r}) does not fit on the grid: rows and columns go from "
                    f"0 to 9, 'h' runs to the right and 'v' downwards"
                )
            for cell in cells:
                if cell in owner:
                    return (
                        f"ships[{owner[cell]}] and ships[{index}] overlap at row {cell[0]}, "
                        f"col {cell[1]}: ships may touch but not overlap"
                    )
                owner[cell] = index
        self.fleets[player_id] = fleet
        if None not in self.fleets:
            self.turn = self._random.randrange(2)
        return None

    def _shoot(self, shot: Any, player_id: int) -> str | None:
        """Shoot at one cell of the opponent's grid."""
        if not (isinstance(shot, list) and len(shot) == 2 and all(is_int(v) for v in shot)):
            return f"shot must be a list of two whole numbers [row, col]: {SHOT_USAGE}"
        row, col = shot
        if not (0 <= row < SIZE and 0 <= col < SIZE):
            return (
                f"shot [{show(row)}, {show(col)}] is off the grid: rows and columns go "
                f"from 0 to 9"
            )
        if (row, col) in self.shots[player_id]:
            return (
                f"you already shot at row {row}, col {col}: choose a cell that shows "
                f"'.' in your shots grid"
            )
        opponent = 1 - player_id
        self.shots[player_id].add((row, col))
        result = "miss"
        for ship in self.fleets[opponent] or []:
            if (row, col) in ship_cells(ship):
                result = "sunk" if self._sunk(opponent, ship) else "hit"
        self.last_shot = {"player": player_id, "row": row, "col": col, "result": result}
        if self._ships_left(opponent) == 0:
            self.winner = player_id
        else:
            self.turn = opponent
        return None
