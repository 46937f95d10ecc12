"""SecretCode: a short game with a secret, to read after the template.

One player makes up a secret code of colours, the other tries to guess it.
The code is the game's secret: only the player who made it may see it until
the game is over. A game with secrets needs three things, and this file
shows each of them (look for "Secret 1", "Secret 2", "Secret 3"):

1. ``state(player_id)`` shows the code only to the player who made it.
2. ``private_data(player_id)`` lists the secrets of that player, so that
   ``python3 -m gameserver check`` can prove no other player ever sees them.
3. Once the game is over the code is no longer secret: everybody sees it,
   and ``private_data`` stops listing it.
"""

import itertools

from gameserver.game import AbstractGame

COLOURS = ("red", "green", "blue", "yellow")
LENGTH = 3  # colours in a code
TRIES = 6  # how many guesses the guesser has
MAKER = 0  # the player who joins first makes the code ...
GUESSER = 1  # ... and the second one guesses it


class SecretCode(AbstractGame):
    """One player picks a secret code of 3 colours, the other has 6 tries to guess it.

    Players: exactly 2. Player 0 (who joins first) makes the code, then
    player 1 guesses.

    Moves:
        Player 0, once: ``{"code": [3 colours]}``
        (client: ``move(code=["red", "blue", "red"])``).
        Player 1, then: ``{"guess": [3 colours]}``
        (client: ``move(guess=["red", "green", "blue"])``).
        The colours are red, green, blue and yellow; a colour may appear more
        than once.

    State:
        ``{"colours": [...], "code": [...] or null, "guesses": [{"guess":
        [...], "right": n}, ...], "tries_left": n, "winner": id or null}``.
        ``code`` is the secret: player 0 sees it from the start, player 1
        only once the game is over (until then it is null). ``right`` says
        how many colours of that guess are in the right place.

    End: player 1 wins by guessing the code; player 0 wins when player 1 has
    used all 6 tries.
    """

    def __init__(self, players: int) -> None:
        self.code: list[str] | None = None  # the secret, once player 0 has chosen it
        self.guesses: list[dict] = []  # [{"guess": [...], "right": 2}, ...]
        self.winner: int | None = None

    @staticmethod
    def min_players() -> int:
        return 2

    @staticmethod
    def max_players() -> int:
        return 2

    def current_player(self) -> list[int]:
        if self.game_over():
            return []
        if self.code is None:
            return [MAKER]  # first the code must be made
        return [GUESSER]

    def move(self, move: dict, player_id: int) -> str | None:
        key = "code" if player_id == MAKER else "guess"
        colours = move.get(key)
        if type(colours) is not list or len(colours) != LENGTH:
            return f'send {LENGTH} colours, for example move({key}=["red", "blue", "red"])'
        for colour in colours:
            if colour not in COLOURS:
                return "the colours are red, green, blue and yellow"

        if player_id == MAKER:
            self.code = list(colours)  # a copy of the list, to keep it to ourselves
            return None

        right = 0
        for place in range(LENGTH):
            if colours[place] == self.code[place]:
                right = right + 1
        self.guesses.append({"guess": list(colours), "right": right})
        if right == LENGTH:
            self.winner = GUESSER
        elif len(self.guesses) == TRIES:
            self.winner = MAKER
        return None

    def game_over(self) -> bool:
        return self.winner is not None

    def state(self, player_id: int) -> dict:
        # Secret 1: only the maker sees the code, until the game is over.
        if player_id == MAKER or self.game_over():
            code = self.code
        else:
            code = None
        return {
            "colours": list(COLOURS),
            "code": code,
            "guesses": [dict(guess) for guess in self.guesses],
            "tries_left": TRIES - len(self.guesses),
            "winner": self.winner,
        }

    def private_data(self, player_id: int) -> list:
        # Secret 2: tell the checker what only this player may see. List the
        # whole code as one value: its colours alone are no secret (everybody
        # sees them in "colours").
        # Secret 3: once the game is over, the code is no longer secret.
        if player_id == MAKER and self.code is not None and not self.game_over():
            return [self.code]
        return []

    def legal_moves(self, player_id: int) -> list[dict]:
        if self.game_over():
            return []
        key = "code" if player_id == MAKER else "guess"
        # Every code: each of the 4 colours in each of the 3 places (64 moves).
        return [{key: list(code)} for code in itertools.product(COLOURS, repeat=LENGTH)]
