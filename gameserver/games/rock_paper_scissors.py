"""Rock, paper, scissors for two players, best of three, with simultaneous moves."""

from __future__ import annotations

from typing import Any

from gameserver.game import AbstractGame

CHOICES = ("rock", "paper", "scissors")
BEATS = {"rock": "scissors", "paper": "rock", "scissors": "paper"}  # key beats value
WINS_NEEDED = 2  # best of three


class RockPaperScissors(AbstractGame):
    """Rock, paper, scissors, best of three: both players choose at the same time.

    Players: exactly 2.

    Each round both players are current until they have chosen; a player who
    has chosen drops out of ``current`` and waits for the other. Nobody sees
    the opponent's choice before both have chosen; then the round is decided
    and shown in ``history``. Rock beats scissors, scissors beats paper, paper
    beats rock. A drawn round (same choice) is replayed and does not count.
    The first player to win 2 rounds wins the game.

    Move:
        ``{"choice": "rock" | "paper" | "scissors"}`` (client:
        ``move(choice="rock")``), spelled exactly like this.

    State (for the asking player):
        ``"round"``: number of the round being played, from 1; a drawn round
        keeps its number. Once the game is over, the number of the last round.
        ``"score"``: ``[rounds won by player 0, rounds won by player 1]``.
        ``"you_chose"``: your choice in this round while the opponent has not
        chosen yet, else null. ``"opponent_has_chosen"``: whether the opponent
        has chosen in this round. ``"history"``: every finished round, oldest
        first, as ``[choice of player 0, choice of player 1, winner id or null]``
        (null for a draw). ``"winner"``: id of the game's winner, or null.

    End: when a player has won 2 rounds; then ``current`` is empty.

    Errors: ``choice`` missing, not text, or not one of the three choices.

    ``private_data`` is your pending choice, unless that word already appears
    in the public history (see the method).
    Choosing twice in a round is refused by the server ("not your turn").

    Attributes (tests may set them):
        choices: each player's choice in the running round, or None.
        score, history, winner: as in the state.
    """

    def __init__(self, players: int) -> None:
        """Start round 1 with no choices and a score of 0:0.

        Args:
            players: always 2; the framework checked it.
        """
        self.choices: list[str | None] = [None, None]
        self.score = [0, 0]
        self.history: list[list[Any]] = []
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
        """Return the players who have not chosen in this round yet."""
        if self.game_over():
            return []
        return [pid for pid in (0, 1) if self.choices[pid] is None]

    def move(self, move: dict[str, Any], player_id: int) -> str | None:
        """Record ``player_id``'s choice; decide the round once both have chosen.

        Returns:
            ``None`` if accepted, else an error message for the player.
        """
        if "choice" not in move:
            return "choice missing: send move(choice='rock'), 'paper' or 'scissors'"
        choice = move["choice"]
        if not isinstance(choice, str):
            return (
                f"choice must be text (a str), but you sent a {type(choice).__name__}: "
                f"send move(choice='rock'), 'paper' or 'scissors'"
            )
        if choice not in CHOICES:
            return (
                f"unknown choice {choice[:20]!r}: send 'rock', 'paper' or 'scissors' "
                f"(in lower case)"
            )
        self.choices[player_id] = choice
        if None not in self.choices:
            self._decide_round()
        return None

    def _decide_round(self) -> None:
        """Score the round both players have chosen in and start the next one."""
        first, second = self.choices
        assert first is not None and second is not None
        winner = None
        if BEATS[first] == second:
            winner = 0
        elif BEATS[second] == first:
            winner = 1
        self.history.append([first, second, winner])
        if winner is not None:
            self.score[winner] += 1
            if self.score[winner] >= WINS_NEEDED:
                self.winner = winner
        self.choices = [None, None]

    def game_over(self) -> bool:
        """Return ``True`` once a player has won 2 rounds."""
        return self.winner is not None

    def state(self, player_id: int) -> dict[str, Any]:
        """Return the public score and history, plus only your own pending choice."""
        decided = sum(self.score)
        return {
            "round": decided if self.game_over() else decided + 1,
            "score": list(self.score),
            "you_chose": self.choices[player_id],
            "opponent_has_chosen": self.choices[1 - player_id] is not None,
            "history": [list(entry) for entry in self.history],
            "winner": self.winner,
        }

    def legal_moves(self, player_id: int) -> list[dict[str, Any]]:
        """Return the three choices while ``player_id`` has not chosen, else ``[]``."""
        if player_id not in self.current_player():
            return []
        return [{"choice": choice} for choice in CHOICES]

    def private_data(self, player_id: int) -> list[Any]:
        """Return ``player_id``'s choice while the opponent may not see it yet.

        ``check`` looks for these values in the opponent's state. A word that
        the public ``history`` already shows (from an earlier round) would be
        found there although nothing leaked, so it is left out.
        """
        choice = self.choices[player_id]
        if choice is None or any(choice in entry for entry in self.history):
            return []
        return [choice]

    # ---- Reinforcement-learning hooks (optional; see AbstractGame and docs/rl.md) ----

    rl_moves = [{"choice": choice} for choice in CHOICES]
    rl_observation_shape = (14,)

    @staticmethod
    def rl_observation(state: dict[str, Any], player_id: int) -> list[Any]:
        """Numbers from the player's own state, so the opponent's pending choice is never in it.

        My rounds won and the opponent's (as fractions of 2), my choice in this
        round (one-hot), whether the opponent has chosen, and both choices of
        the last finished round (one-hot, the fourth entry meaning "none yet").
        """
        mine, theirs = state["score"][player_id], state["score"][1 - player_id]
        last = state["history"][-1] if state["history"] else [None, None, None]
        return [mine / WINS_NEEDED, theirs / WINS_NEEDED,
                *[int(state["you_chose"] == c) for c in CHOICES],
                int(state["opponent_has_chosen"]),
                *[int(last[player_id] == c) for c in (*CHOICES, None)],
                *[int(last[1 - player_id] == c) for c in (*CHOICES, None)]]
