"""Crazy Eights (Mau-Mau) for 2 to 6 players: shed your hand by matching suit or rank."""

from __future__ import annotations

import random
from typing import Any

from gameserver.game import AbstractGame

SUITS = ("C", "D", "H", "S")
SUIT_NAMES = {"C": "clubs", "D": "diamonds", "H": "hearts", "S": "spades"}
RANKS = ("2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K", "A")
DECK = tuple(rank + suit for suit in SUITS for rank in RANKS)
SPECIAL = ("8", "2", "Q", "A")  # ranks with an effect; never the first card
LOG_LENGTH = 10
# "pass" is a Python keyword: move(pass=True) is a syntax error, so clients
# written in Python pass the key through a dict.
PASS = "move(**{'pass': True})"
MOVES = f"send move(play='7H'), move(play='8C', suit='H'), move(draw=True) or {PASS}"


def rank(card: str) -> str:
    """Return the rank of a card: ``"10"`` for ``"10D"``."""
    return card[:-1]


def suit(card: str) -> str:
    """Return the suit letter of a card: ``"D"`` for ``"10D"``."""
    return card[-1]


def sort_key(card: str) -> tuple[int, int]:
    """Order cards by suit, then by rank (2 lowest, ace highest)."""
    return SUITS.index(suit(card)), RANKS.index(rank(card))


class CrazyEights(AbstractGame):
    """Crazy Eights: get rid of all your cards by matching the top card's suit or rank.

    Players: 2 to 6. A standard 52-card deck; cards are strings of rank and
    suit: ranks ``2``..``10``, ``J``, ``Q``, ``K``, ``A`` and suits ``C``
    (clubs), ``D`` (diamonds), ``H`` (hearts), ``S`` (spades), e.g. ``"7H"``,
    ``"10D"``, ``"QS"``. Each player gets 7 cards with 2 players, else 5.
    One card starts the discard pile (never an 8, 2, Q or A: those go back
    under the draw pile); the rest is the draw pile. A random player begins;
    turns go to id + ``direction`` (wrapping around).

    Moves on your turn (send exactly one of play, draw and pass):

    * ``{"play": card}`` (client: ``move(play="7H")``): play a card from your
      hand that has the current suit or the top card's rank.
    * ``{"play": "8C", "suit": "H"}``: an 8 is wild and may be played on
      anything; you name the suit (C, D, H or S) the next player must follow.
    * ``{"draw": true}``: draw one card, at most once per turn and only when
      none of your cards fits (you must play if you can). Afterwards you may
      play only the card you drew (if it fits) or pass.
    * ``{"pass": true}``: end your turn; only after drawing, or when no card
      of yours fits and there is nothing left to draw at all. ``pass`` is a
      Python keyword, so Python clients write ``move(**{"pass": True})``.

    Special cards: a 2 makes the next player draw 2 cards and skips their
    turn (2s do not stack). A queen skips the next player. An ace reverses
    the direction; with 2 players it skips the other player instead, so you
    play again. When the draw pile is empty, the discard pile except its top
    card is shuffled into a new draw pile.

    End: the first player with no cards left wins, even if the last card was
    special; then ``current`` is empty.

    State (for the asking player):
        ``"hand"``: your cards, sorted by suit and rank. ``"top"``: the top
        card of the discard pile. ``"suit"``: the suit to follow (the top
        card's, or the one named with an 8). ``"hand_sizes"``: how many cards
        each player holds, by id. ``"draw_pile"``: cards left in the draw
        pile. ``"direction"``: 1 or -1. ``"drawn"``: the card you drew this
        turn, or null. ``"winner"``: id or null. ``"log"``: the last 10
        events as sentences, oldest first.

    Errors: none or several of play/draw/pass; play not a card, not in your
    hand, or not fitting; an 8 without a valid suit, or a suit with another
    card; after drawing, playing another card than the drawn one or drawing
    again; draw or pass not ``true``; drawing while a card of yours fits or
    when no card is left; passing without drawing while you could play or
    draw.

    Attributes (tests may set them; the last card of a list is its top):
        hands: each player's cards. draw_pile, discard: the two piles.
        suit: the suit to follow. turn: id of the player to move.
        direction: 1 or -1. drawn: the card drawn this turn, or None.
        winner: id or None. log: the events.
    """

    def __init__(self, players: int, rng: random.Random | None = None) -> None:
        """Shuffle, deal and turn up the first card.

        Args:
            players: number of players, 2..6; the framework checked it.
            rng: random source for shuffling and choosing who begins. The
                server leaves it out; tests pass one to make games repeatable.
        """
        self._random = rng or random.Random()
        self.draw_pile = list(DECK)
        self._random.shuffle(self.draw_pile)
        hand_size = 7 if players == 2 else 5
        self.hands = [sorted((self.draw_pile.pop() for _ in range(hand_size)), key=sort_key)
                      for _ in range(players)]
        # At least 22 cards are left and only 16 are special, so this ends.
        while rank(self.draw_pile[-1]) in SPECIAL:
            self.draw_pile.insert(0, self.draw_pile.pop())
        self.discard = [self.draw_pile.pop()]
        self.suit = suit(self.discard[-1])
        self.turn = self._random.randrange(players)
        self.direction = 1
        self.drawn: str | None = None
        self.winner: int | None = None
        self.log = [f"the first card is {self.discard[-1]}; player {self.turn} begins"]

    @staticmethod
    def min_players() -> int:
        """Return 2."""
        return 2

    @staticmethod
    def max_players() -> int:
        """Return 6."""
        return 6

    # ------------------------------------------------------------ queries

    def current_player(self) -> list[int]:
        """Return ``[turn]`` while the game runs, ``[]`` once it is over."""
        return [] if self.game_over() else [self.turn]

    def game_over(self) -> bool:
        """Return ``True`` once a player has no cards left."""
        return self.winner is not None

    def state(self, player_id: int) -> dict[str, Any]:
        """Return your hand and the public information; other hands only as sizes."""
        return {
            "hand": list(self.hands[player_id]),
            "top": self.discard[-1],
            "suit": self.suit,
            "hand_sizes": [len(hand) for hand in self.hands],
            "draw_pile": len(self.draw_pile),
            "direction": self.direction,
            "drawn": self.drawn if player_id == self.turn else None,
            "winner": self.winner,
            "log": self.log[-LOG_LENGTH:],
        }

    def legal_moves(self, player_id: int) -> list[dict[str, Any]]:
        """Return every card play that fits (8s once per suit), else draw or pass."""
        if player_id not in self.current_player():
            return []
        moves: list[dict[str, Any]] = []
        for card in self._playable(player_id):
            if rank(card) == "8":
                moves.extend({"play": card, "suit": named} for named in SUITS)
            else:
                moves.append({"play": card})
        if self.drawn is not None:
            moves.append({"pass": True})  # after drawing you may always pass
        elif not moves:
            moves.append({"draw": True} if self._can_draw() else {"pass": True})
        return moves

    def private_data(self, player_id: int) -> list[Any]:
        """Return the cards in ``player_id``'s hand."""
        return list(self.hands[player_id])

    def _fits(self, card: str) -> bool:
        """Return whether ``card`` may be played on the discard pile now."""
        return rank(card) == "8" or rank(card) == rank(self.discard[-1]) or suit(card) == self.suit

    def _playable(self, player_id: int) -> list[str]:
        """Return the cards ``player_id`` may play now: after drawing only the drawn one."""
        cards = [self.drawn] if self.drawn else self.hands[player_id]
        return [card for card in cards if self._fits(card)]

    def _can_draw(self) -> bool:
        """Return whether a card is left to draw, counting a reshuffle."""
        return bool(self.draw_pile) or len(self.discard) > 1

    def _next(self, steps: int = 1) -> int:
        """Return the id ``steps`` places after the turn player, in the current direction."""
        return (self.turn + steps * self.direction) % len(self.hands)

    # ------------------------------------------------------------ moves

    def move(self, move: dict[str, Any], player_id: int) -> str | None:
        """Play a card, draw or pass.

        Returns:
            ``None`` if accepted, else an error message for the player.
        """
        actions = [key for key in ("play", "draw", "pass") if key in move]
        if not actions:
            return f"unknown move: {MOVES}"
        if len(actions) > 1:
            return f"send only one of play, draw and pass per move, not {' and '.join(actions)}"
        if "suit" in move and "play" not in move:
            return "suit goes only with an 8: send e.g. move(play='8C', suit='H')"
        if "play" in move:
            return self._play(move, player_id)
        action = actions[0]
        if move[action] is not True:
            return f"send {'move(draw=True)' if action == 'draw' else PASS} to {action}"
        if action == "draw":
            return self._draw(player_id)
        return self._pass(player_id)

    def _play(self, move: dict[str, Any], player_id: int) -> str | None:
        """Play a card from ``player_id``'s hand."""
        card = move["play"]
        hand = self.hands[player_id]
        if not isinstance(card, str):
            return "play must be a card written as text, e.g. move(play='7H')"
        if card not in DECK:
            return (
                f"there is no card {card[:10]!r}: cards are written rank + suit, ranks 2..10, "
                f"J, Q, K, A and suits C, D, H, S, e.g. '7H', '10D', 'QS'"
            )
        if card not in hand:
            return f"you do not have {card}: your hand is {', '.join(hand)}"
        if self.drawn is not None and card != self.drawn:
            return (
                f"after drawing you may only play the card you drew ({self.drawn}), "
                f"or pass with {PASS}"
            )
        named = move.get("suit")
        if rank(card) == "8":
            if "suit" not in move:
                return (
                    f"an 8 is wild: also name the suit the next player must follow, "
                    f"e.g. move(play='{card}', suit='H') (C, D, H or S)"
                )
            if named not in SUITS:
                return "suit must be 'C' (clubs), 'D' (diamonds), 'H' (hearts) or 'S' (spades)"
        else:
            if "suit" in move:
                return f"only an 8 lets you name a suit: send move(play='{card}') without suit"
            if not self._fits(card):
                instead = (f"pass with {PASS}" if self.drawn else
                           "draw with move(draw=True) if none of your cards fits")
                return (
                    f"{card} does not fit on {self.discard[-1]}: play a card of "
                    f"{SUIT_NAMES[self.suit]} ({self.suit}) or of rank "
                    f"{rank(self.discard[-1])}, or an 8; or {instead}"
                )
        hand.remove(card)
        self.discard.append(card)
        self.suit = named if rank(card) == "8" else suit(card)
        self.drawn = None
        if rank(card) == "8":
            self._event(f"player {player_id} played {card} and chose {SUIT_NAMES[self.suit]}")
        else:
            self._event(f"player {player_id} played {card}")
        if not hand:
            self.winner = player_id
            self._event(f"player {player_id} has no cards left and wins")
            return None
        self._effect(rank(card))
        return None

    def _effect(self, played: str) -> None:
        """Apply the effect of the rank just played and pass the turn on."""
        if played == "A" and len(self.hands) > 2:
            self.direction = -self.direction
            self._event("the direction is reversed")
            self.turn = self._next()
        elif played in ("A", "Q"):  # an ace with 2 players works like a queen
            self._event(f"player {self._next()} is skipped")
            self.turn = self._next(2)
        elif played == "2":
            victim = self._next()
            got = sum(self._draw_one(victim) is not None for _ in range(2))
            self._event(f"player {victim} draws {got} card{'s' * (got != 1)} and is skipped")
            self.turn = self._next(2)
        else:
            self.turn = self._next()

    def _draw(self, player_id: int) -> str | None:
        """Draw one card for ``player_id``; they keep the turn."""
        if self.drawn is not None:
            return (
                f"you have already drawn this turn: play the card you drew "
                f"({self.drawn}) if it fits, or pass with {PASS}"
            )
        playable = self._playable(player_id)
        if playable:
            return (
                f"you can play {', '.join(playable)}, so you may not draw: you may only "
                f"draw when none of your cards fits"
            )
        if not self._can_draw():
            return f"there is no card left to draw: pass with {PASS}"
        self.drawn = self._draw_one(player_id)
        self._event(f"player {player_id} drew a card")
        return None

    def _pass(self, player_id: int) -> str | None:
        """End ``player_id``'s turn without playing."""
        if self.drawn is None:
            playable = self._playable(player_id)
            if playable:
                return f"you can play {', '.join(playable)}, so you may not pass"
            if self._can_draw():
                return "you may only pass after drawing: draw first with move(draw=True)"
        self._event(f"player {player_id} passed")
        self.drawn = None
        self.turn = self._next()
        return None

    def _draw_one(self, player_id: int) -> str | None:
        """Move the top card of the draw pile into a hand; None if none is left."""
        if not self.draw_pile:
            if len(self.discard) < 2:
                return None
            self.draw_pile = self.discard[:-1]
            self.discard = self.discard[-1:]
            self._random.shuffle(self.draw_pile)
            self._event("the discard pile was shuffled into a new draw pile")
        card = self.draw_pile.pop()
        self.hands[player_id].append(card)
        self.hands[player_id].sort(key=sort_key)
        return card

    def _event(self, text: str) -> None:
        """Add an event to the log, keeping only the last ones."""
        self.log = [*self.log, text][-LOG_LENGTH:]
