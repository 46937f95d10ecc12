"""Yahtzee for 1 to 8 players, with the standard 13-category scorecard."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from itertools import combinations
from typing import Any

from gameserver.game import AbstractGame

UPPER = ("Ones", "Twos", "Threes", "Fours", "Fives", "Sixes")
LOWER = (
    "Three of a Kind", "Four of a Kind", "Full House",
    "Small Straight", "Large Straight", "Yahtzee", "Chance",
)
CATEGORIES = UPPER + LOWER
UPPER_BONUS = 35
UPPER_BONUS_FROM = 63
YAHTZEE_POINTS = 50
YAHTZEE_BONUS = 100
MAX_ROLLS = 3
NAME_MAX = 100  # characters of a name (every state carries one, the last all of them)
FIXED_POINTS = {"Full House": 25, "Small Straight": 30, "Large Straight": 40,
                "Yahtzee": YAHTZEE_POINTS}
# What each lower category needs, for the "your dice do not fit" message.
NEEDS = {
    "Three of a Kind": "at least three dice showing the same face",
    "Four of a Kind": "at least four dice showing the same face",
    "Full House": "three dice of one face and two of another",
    "Small Straight": "four faces in a row, e.g. 1-2-3-4",
    "Large Straight": "five faces in a row: 1-2-3-4-5 or 2-3-4-5-6",
    "Yahtzee": "all five dice showing the same face",
}
# Every non-empty set of dice positions, as sorted lists: the 31 ways to re-roll.
REROLLS = [list(c) for size in range(1, 6) for c in combinations(range(5), size)]
HOW_TO_SCORE = "send score='add points' or score='cross out' together with category='...'"


def fits(category: str, dice: list[int]) -> bool:
    """Return whether ``dice`` may be scored in ``category`` with "add points".

    An upper category needs at least one die of its face; Chance takes anything.
    """
    counts = sorted(Counter(dice).values())
    faces = set(dice)
    if category in UPPER:
        return UPPER.index(category) + 1 in faces
    return {
        "Three of a Kind": counts[-1] >= 3,
        "Four of a Kind": counts[-1] >= 4,
        "Full House": counts == [2, 3],
        "Small Straight": any({s, s + 1, s + 2, s + 3} <= faces for s in (1, 2, 3)),
        "Large Straight": faces in ({1, 2, 3, 4, 5}, {2, 3, 4, 5, 6}),
        "Yahtzee": counts == [5],
        "Chance": True,
    }[category]


def points(category: str, dice: list[int]) -> int:
    """Return what ``dice`` score in ``category``; only call it when they fit."""
    if category in UPPER:
        face = UPPER.index(category) + 1
        return face * dice.count(face)
    return FIXED_POINTS.get(category, sum(dice))


def total(card: dict[str, int | None]) -> int:
    """Return a scorecard's total, bonuses included.

    The Yahtzee box already holds its +100 bonuses; the upper bonus of 35 is
    added here because the scorecard has no box for it. Empty boxes count 0.
    """
    upper = sum(card[c] or 0 for c in UPPER)
    return sum(v or 0 for v in card.values()) + (UPPER_BONUS if upper >= UPPER_BONUS_FROM else 0)


class Yahtzee(AbstractGame):
    """Yahtzee: roll five dice up to three times per turn, then fill one box.

    Players: 1 to 8.

    Phase 1, names: every player who has not chosen a name yet is current and
    sends ``{"name": str}`` (client: ``move(name="Ada")``). Surrounding spaces
    are removed; the name must be non-empty, at most ``NAME_MAX`` (100)
    characters and unique, and cannot be changed.
    A player who has sent a name drops out of ``current`` and waits.

    Phase 2, turns: a random player starts, then turns go to id + 1 (wrapping
    around). Each turn starts with all five dice rolled (roll 1 of 3). Moves:

    * ``{"roll_dice": [indices]}`` re-rolls the dice at those positions
      (0..4; a position listed twice is rolled once). At most 3 rolls per
      turn, counting the automatic first one.
    * ``{"score": "add points", "category": C}`` scores the dice in C and
      ends the turn. Upper categories (Ones..Sixes) need at least one die of
      that face and score the sum of those dice; Three/Four of a Kind and
      Chance score the sum of all dice; Full House 25, Small Straight 30,
      Large Straight 40, Yahtzee 50.
    * ``{"score": "cross out", "category": C}`` scores 0 in C and ends the turn.

    Categories (spelled exactly): Ones, Twos, Threes, Fours, Fives, Sixes,
    Three of a Kind, Four of a Kind, Full House, Small Straight,
    Large Straight, Yahtzee, Chance.

    Bonuses: 35 when Ones..Sixes add up to 63 or more (added to the total, not
    shown in the scorecard). Another Yahtzee scored with "add points" into a
    Yahtzee box that already holds a Yahtzee adds 100 to that box, so the
    box shows 50, 150, 250, ... A Yahtzee box crossed out with 0 stays used.
    Scoring such a bonus ends the turn without filling another box.

    State (for the asking player):
        ``"scorecard"``: ``{category: points or null}``, all 13 categories, the
        asking player's own card. ``"dice"``: five ints 1..6, until the game is
        over. ``"current_name"``: name of the player whose turn it is, only in
        phase 2 (clients use its presence to tell the phases apart).
        ``"ranking"``: ``{name: total}``, best first, once the game is over;
        totals include both bonuses.

    End: when every scorecard is full; then ``current`` is empty. A player
    whose card is full is skipped (possible after Yahtzee bonuses).

    Errors: a turn move during phase 1, a name move during phase 2, empty /
    too long / taken / repeated names, a fourth roll, a roll_dice that is not
    a non-empty list of positions 0..4, roll_dice together with score or category in one
    move, an unknown score action, a missing or unknown
    category, a used category, dice that do not fit the category, and a move
    with none of the keys above.

    ``legal_moves``: in phase 1, one example name that nobody uses yet,
    such as ``{"name": "player 0"}`` (any other valid name is accepted
    too). In phase 2, every re-roll while rolls are left, as the 31
    non-empty sorted position lists (``[0]``, ``[0, 1]``, ...,
    ``[0, 1, 2, 3, 4]``; other spellings of the same re-roll, such as
    ``[2, 0]`` or ``[0, 0, 2]``, are accepted but not listed), then every
    "add points" whose category fits the dice (including a Yahtzee bonus),
    then every "cross out" of an unused category.

    Attributes (tests may set ``dice`` and ``rolls``):
        dice: the five dice.
        rolls: how many times the dice were rolled this turn (1..3).
        names: each player's name, or None while not chosen.
        cards: each player's scorecard.
        turn: id of the player whose turn it is; None during phase 1.
    """

    # Each player is shown only their own scorecard, but scorecards are not secret.
    hidden_information = False

    def __init__(self, players: int, rng: random.Random | None = None) -> None:
        """Set up empty scorecards and roll the dice for the first turn.

        Args:
            players: number of players, 1..8; the framework checked it.
            rng: random source for the dice and the first player. The server
                leaves it out; tests pass one to make the game predictable.
        """
        self._random = rng or random.Random()
        self.names: list[str | None] = [None] * players
        self.cards: list[dict[str, int | None]] = [
            dict.fromkeys(CATEGORIES) for _ in range(players)
        ]
        self.turn: int | None = None
        self.dice = [0] * 5
        self.rolls = 0
        self._roll(range(5))

    @staticmethod
    def min_players() -> int:
        """Return 1: Yahtzee can be played alone."""
        return 1

    @staticmethod
    def max_players() -> int:
        """Return 8."""
        return 8

    def current_player(self) -> list[int]:
        """Return the unnamed players in phase 1, the turn player in phase 2."""
        if self.game_over():
            return []
        if self.turn is None:
            return [pid for pid, name in enumerate(self.names) if name is None]
        return [self.turn]

    def game_over(self) -> bool:
        """Return ``True`` once every scorecard is full."""
        return all(None not in card.values() for card in self.cards)

    def state(self, player_id: int) -> dict[str, Any]:
        """Return the asking player's scorecard and the public information."""
        state: dict[str, Any] = {"scorecard": dict(self.cards[player_id])}
        if self.game_over():
            pairs = zip(self.names, self.cards, strict=True)
            totals = [(name, total(card)) for name, card in pairs]
            # Best first, so a client can print the ranking as it comes.
            state["ranking"] = dict(sorted(totals, key=lambda pair: pair[1], reverse=True))
            return state
        state["dice"] = list(self.dice)
        if self.turn is not None:
            state["current_name"] = self.names[self.turn]
        return state

    def legal_moves(self, player_id: int) -> list[dict[str, Any]] | None:
        """Return one example name in phase 1, the turn player's moves in phase 2."""
        if player_id not in self.current_player():
            return []
        if self.turn is None:
            # Names are free text: offer one example that nobody uses yet.
            example, number = f"player {player_id}", 2
            while example in self.names:
                example, number = f"player {player_id} ({number})", number + 1
            return [{"name": example}]
        moves: list[dict[str, Any]] = []
        if self.rolls < MAX_ROLLS:
            moves.extend({"roll_dice": list(positions)} for positions in REROLLS)
        card = self.cards[player_id]
        for category in CATEGORIES:
            bonus = category == "Yahtzee" and bool(card[category])
            if (card[category] is None or bonus) and fits(category, self.dice):
                moves.append({"score": "add points", "category": category})
        moves.extend({"score": "cross out", "category": category}
                     for category in CATEGORIES if card[category] is None)
        return moves

    def move(self, move: dict[str, Any], player_id: int) -> str | None:
        """Route the move to the phase's handler.

        Returns:
            ``None`` if accepted, else an error message for the player.
        """
        if self.turn is None:
            if "name" in move:
                return self._name(move["name"], player_id)
            if "roll_dice" in move or "score" in move:
                return "the game has not started yet: first send your name with move(name='...')"
            return "unknown move: first send your name with move(name='...')"
        if "roll_dice" in move:
            if "score" in move or "category" in move:
                return (
                    "a move either re-rolls or scores, not both: send roll_dice=[...] "
                    f"alone, or {HOW_TO_SCORE}"
                )
            return self._reroll(move["roll_dice"])
        if "score" in move:
            return self._score(move, player_id)
        if "name" in move:
            return (
                "names cannot be changed once the game has started: "
                f"send roll_dice=[positions 0..4], or {HOW_TO_SCORE}"
            )
        return f"unknown move: send roll_dice=[positions 0..4], or {HOW_TO_SCORE}"

    def _name(self, name: Any, player_id: int) -> str | None:
        """Record ``player_id``'s name; start the turns once all are named."""
        if self.names[player_id] is not None:
            return f"you are already called {self.names[player_id]!r}: names cannot be changed"
        if not isinstance(name, str):
            return "name must be text (a str), e.g. move(name='Ada')"
        name = name.strip()
        if not name:
            return "name must not be empty or only spaces: send e.g. move(name='Ada')"
        if len(name) > NAME_MAX:
            return f"name too long: at most {NAME_MAX} characters"
        if name in self.names:
            return "name already in use by another player: choose a different name"
        self.names[player_id] = name
        if None not in self.names:
            # The dice for this first turn were rolled in __init__.
            self.turn = self._random.randrange(len(self.names))
        return None

    def _reroll(self, selection: Any) -> str | None:
        """Re-roll the dice at the positions in ``selection``."""
        if self.rolls >= MAX_ROLLS:
            return f"you have already rolled {MAX_ROLLS} times this turn: now {HOW_TO_SCORE}"
        usage = "e.g. move(roll_dice=[0, 2]) re-rolls the first and the third die"
        if not isinstance(selection, list):
            return f"roll_dice must be a list of dice positions 0..4, {usage}"
        if not selection:
            return f"roll_dice is empty: list at least one die position 0..4, {usage}"
        for index in selection:
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= 4:
                return f"roll_dice may only contain the whole numbers 0..4, {usage}"
        self._roll(sorted(set(selection)))
        return None

    def _roll(self, positions: Iterable[int]) -> None:
        """Roll the dice at ``positions`` (all five at a turn's start) and count it."""
        for index in positions:
            self.dice[index] = self._random.randint(1, 6)
        self.rolls += 1

    def _score(self, move: dict[str, Any], player_id: int) -> str | None:
        """Add points to or cross out a category, then pass the turn on."""
        action = move["score"]
        if action not in ("add points", "cross out"):
            return f"score must be 'add points' or 'cross out': {HOW_TO_SCORE}"
        if "category" not in move:
            return f"category missing: {HOW_TO_SCORE}; categories: {', '.join(CATEGORIES)}"
        category = move["category"]
        if not isinstance(category, str) or category not in CATEGORIES:
            return (
                f"unknown category: use one of {', '.join(CATEGORIES)} "
                f"(spelled exactly like this)"
            )
        card = self.cards[player_id]
        box = card[category]
        # A Yahtzee box holding points (50, 150, ...) takes further Yahtzees as
        # bonuses; one crossed out with 0 is simply used.
        bonus = action == "add points" and category == "Yahtzee" and bool(box)
        if box is not None and not bonus:
            return "category was already used: choose a category that is still null on your card"
        if action == "add points":
            if not fits(category, self.dice):
                return (
                    f"your dice {self.dice} do not fit {category}: it needs "
                    f"{self._needs(category)}; choose another category or cross one out "
                    f"with score='cross out'"
                )
            card[category] = (box or 0) + (YAHTZEE_BONUS if bonus else points(category, self.dice))
        else:
            card[category] = 0
        self._next_turn()
        return None

    @staticmethod
    def _needs(category: str) -> str:
        """Describe what the dice need for ``category``."""
        if category in UPPER:
            return f"at least one die showing {UPPER.index(category) + 1}"
        return NEEDS[category]

    def _next_turn(self) -> None:
        """Give the turn to the next player with an empty box and roll for them."""
        if self.game_over():
            return
        assert self.turn is not None
        players = len(self.cards)
        for step in range(1, players + 1):
            candidate = (self.turn + step) % players
            if None in self.cards[candidate].values():
                self.turn = candidate
                break
        self.rolls = 0
        self._roll(range(5))
