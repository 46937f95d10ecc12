"""Nim: a second small example game, to read after ``template.py``.

Two players take turns taking objects from heaps; whoever takes the last
object wins. The code is short on purpose: it shows the same steps as the
template (check the move, change the state, pass the turn) plus the optional
``legal_moves`` hook, which lists every move the current player may make.
"""

from gameserver.game import AbstractGame

# The heaps a new game starts with. Change them to play another variant.
START_HEAPS = (3, 4, 5)


class Nim(AbstractGame):
    """Two players take objects from heaps in turn; taking the last object wins.

    Players: exactly 2. Player 0 starts, then the players alternate.

    Move:
        ``{"heap": i, "take": n}`` (client: ``move(heap=0, take=2)``) takes
        ``n`` objects from heap ``i``. Heaps are numbered from 0; ``n`` must be
        at least 1 and at most the size of the heap.

    State:
        ``{"heaps": [3, 4, 5], "winner": id or null}``; ``heaps`` holds how many
        objects are left on each heap.

    End: the player who takes the last object wins; then ``current`` is empty.

    Errors: ``heap`` or ``take`` missing or not a whole number, no such heap,
    ``take`` less than 1, or more than the heap holds.
    """

    def __init__(self, players: int) -> None:
        self.heaps = list(START_HEAPS)  # a list, so we can change the numbers
        self.turn = 0  # player 0 starts
        self.winner: int | None = None

    @staticmethod
    def min_players() -> int:
        return 2

    @staticmethod
    def max_players() -> int:
        return 2

    def current_player(self) -> list[int]:
        if self.game_over():
            return []  # nobody may move once the game is over
        return [self.turn]

    def move(self, move: dict, player_id: int) -> str | None:
        # Check everything first: the move comes straight from a client.
        heap = move.get("heap")
        take = move.get("take")
        # "type(x) is not int" also rejects True/False, text and decimals.
        if type(heap) is not int or type(take) is not int:
            return "send two whole numbers: move(heap=0, take=2) takes 2 objects from heap 0"
        if not 0 <= heap < len(self.heaps):
            return f"no such heap: the heaps are numbered 0 to {len(self.heaps) - 1}"
        if take < 1:
            return "you must take at least 1 object"
        if take > self.heaps[heap]:
            return f"heap {heap} has only {self.heaps[heap]} objects left: take fewer"

        # The move is fine: change the state.
        self.heaps[heap] -= take
        if sum(self.heaps) == 0:
            self.winner = player_id  # took the last object
        else:
            self.turn = 1 - player_id  # 0 -> 1 and 1 -> 0
        return None

    def game_over(self) -> bool:
        return self.winner is not None

    def state(self, player_id: int) -> dict:
        return {"heaps": list(self.heaps), "winner": self.winner}

    # Optional: list every move the player may make now. Bots pick from this
    # list, and "python3 -m gameserver check" tests that move() accepts each.
    def legal_moves(self, player_id: int) -> list[dict]:
        moves = []
        for heap, size in enumerate(self.heaps):
            for take in range(1, size + 1):
                moves.append({"heap": heap, "take": take})
        return moves

    # Optional: hooks for reinforcement learning (see AbstractGame and docs/rl.md).
    # Every move there could ever be, and the state as numbers: for each heap,
    # a row with a 1 at the number of objects left on it.
    rl_moves = [{"heap": heap, "take": take} for heap in range(len(START_HEAPS))
                for take in range(1, max(START_HEAPS) + 1)]
    rl_observation_shape = (len(START_HEAPS), max(START_HEAPS) + 1)

    @staticmethod
    def rl_observation(state: dict, player_id: int) -> list:
        return [[int(size == left) for size in range(max(START_HEAPS) + 1)]
                for left in state["heaps"]]
