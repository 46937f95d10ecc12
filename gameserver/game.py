"""The contract every game implements: the base class ``AbstractGame``.

To write a new game you make a class that *inherits* from ``AbstractGame``
and fill in its methods. The server calls those methods for you: it creates
your game when enough players have joined, asks it whose turn it is, hands it
the moves players send, and asks it what each player may see.

A game written for the classic "python-game-server" (its file starts with
``from abstract_game import AbstractGame``) works here unchanged: the server
makes that import point at this module.

What the framework already does, so your game does not have to:

* Only players whose id is in ``current_player()`` can send a move; everyone
  else gets "not your turn" before your ``move`` is called.
* Once ``game_over()`` returns ``True`` no more moves reach your game.
* The framework adds ``"current"`` (whose turn) and ``"gameover"`` to every
  state you return, so you do not need to put them in yourself.
* If one of your methods raises an exception, runs for too long, or returns
  something that cannot be sent as JSON, only the request that called it gets
  an error (saying which method failed); your game and everybody else's keep
  running. The full error is written to the server's log.

See ``gameserver/games/template.py`` for a complete, commented example game,
and ``gameserver/games/secret_code.py`` for a short game with a secret.

You may also write these methods; your game works without them:

* ``legal_moves(player_id)`` returns the list of moves a player may make
  right now. The random bot picks its moves from it, the checker
  (``python3 -m gameserver check``) tests your ``move`` with it, and the
  terminal client shows it.
* ``private_data(player_id)`` returns what only that player may see (their
  cards, their secret code). The checker then makes sure no other player
  ever sees it.
* ``timeout_move(player_id)`` chooses the move the server makes for a
  player whose time for a move ran out (when the server has a turn timer).
* The text of your class's docstring is shown to players in the list of
  games, so explain the moves and the state there.
* The ``rl_`` hooks let learning programs play your game (see ``docs/rl.md``).
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar


class AbstractGame:
    """Base class for all games. Subclass it and fill in every method.

    Example::

        class CoinFlip(AbstractGame):
            def __init__(self, players):
                self.players = players
                ...
    """

    hidden_information: ClassVar[bool] = False
    """Set this to ``True`` if players may not see everything (cards, a secret).

    A game that defines ``private_data`` has secrets anyway, so it does not
    need this line. Declaring secrets also protects them from people
    watching: nobody can watch a player of such a game (with ``observe()`` or
    on the dashboard) unless that player agrees.

    Set it to ``False`` yourself if players see different things but nothing
    is secret (for example each player sees only their own score sheet):
    that tells ``python3 -m gameserver check`` it is on purpose.
    """

    def __init__(self, players: int) -> None:
        """Set up a new game for ``players`` players.

        The framework calls this once all players have joined, and again
        whenever a player restarts the game. Players get the ids
        ``0, 1, ..., players - 1`` in the order they joined.

        Args:
            players: how many players take part. The framework has already
                checked that it lies between ``min_players()`` and
                ``max_players()``, so you do not need to check it.

        Calling ``super().__init__(players)`` first is allowed; it does nothing.
        """

    @staticmethod
    def min_players() -> int:
        """Return the smallest number of players this game can be played with.

        Example::

            @staticmethod
            def min_players():
                return 2
        """
        raise _not_written("min_players")

    @staticmethod
    def max_players() -> int:
        """Return the largest number of players this game can be played with.

        Anyone may start a session of that many players, and your
        ``__init__`` runs with that number at the first join: return a number
        your game can really hold (not a billion "for any number").
        """
        raise _not_written("max_players")

    def current_player(self) -> int | list[int]:
        """Return the id of the player who may move now, or a list of ids.

        Return a single id (``return 0``) when exactly one player moves,
        a list (``return [0, 1]``) when several players may move at the same
        time, and an empty list (``return []``) when nobody may move, for
        example once the game is over. The framework always sends clients a
        list.
        """
        raise _not_written("current_player")

    def move(self, move: dict[str, Any], player_id: int) -> Any:
        """Handle one move, sent by player ``player_id``.

        ``move`` is a dictionary: a client that calls
        ``api.move(position=4)`` sends ``{"position": 4}``. The framework
        guarantees that ``move`` is a dict and that ``player_id`` is one of
        the current players, but **everything inside the dict comes straight
        from a client and must be checked** (missing keys, wrong types,
        values out of range).

        Returns:
            ``None`` if the move was legal and has been carried out.
            Otherwise an error that tells the player what was wrong, usually
            a string such as ``"that cell is already taken"``. Any value that
            can be sent as JSON works, for example ``["no such card", 3]``;
            the client raises ``IllegalMove`` with it. Leave your game
            unchanged when you reject a move, and return the error rather
            than raise it: an exception means your code has a bug. Do not
            return ``True`` for a good move: that is an error of your game.
        """
        raise _not_written("move")

    def game_over(self) -> bool:
        """Return ``True`` once the game has ended, otherwise ``False``."""
        raise _not_written("game_over")

    def state(self, player_id: int) -> dict[str, Any]:
        """Return what player ``player_id`` may see of the game, as a dict.

        Everything in it must be JSON: dicts with string keys, lists, strings,
        numbers, ``True``/``False`` and ``None`` (no sets, no objects). Leave
        out whatever this player must not know (other players' cards, hidden
        ships, ...): the dict you return is exactly what that player receives.
        Do not use the keys ``"current"`` and ``"gameover"``; the framework
        adds them.
        """
        raise _not_written("state")

    # ------------------------------------------------------------------
    # Optional methods. Your game works without them; write them when you
    # want what they give you.

    def legal_moves(self, player_id: int) -> list[dict[str, Any]] | None:
        """Optional: the moves player ``player_id`` may make right now, as a list.

        Each entry is a move dict exactly as a client would send it, for
        example ``[{"position": 0}, {"position": 4}]``. For a move that takes
        free text (a player's name), list one example such as
        ``[{"name": "player 1"}]``. The random bot picks its moves from this
        list, ``python3 -m gameserver check`` tests that your ``move`` accepts
        every move in it (and no others), and the terminal client shows it.

        Returns:
            The list of moves, or ``None`` (the default) when the game does
            not list its moves (for example because there are too many).
        """
        return None

    def timeout_move(self, player_id: int) -> dict[str, Any] | None:
        """Optional: the move to make for player ``player_id``, whose time ran out.

        This matters only on a server with a turn timer (``--turn-timeout``):
        there every player has a limited time for each move. When a
        player's time runs out, the server ends their turn like this:

        1. It calls this method. If you return a move dict (exactly as a
           client would send it, for example ``{"pass": True}`` or
           ``{"position": 4}``), the server makes that move for the player,
           through your ``move`` method, as if the player had sent it.
        2. If you return ``None`` (the default), or your ``move`` rejects
           what you returned, the server picks a random move from your
           ``legal_moves`` list instead.
        3. If your game lists no legal moves either, the player who ran out
           of time loses the game: the game ends at once, and every player's
           state gets ``"forfeit": {"players": [their id], "reason": ...}``.

        So a game that has a natural "do nothing" move (pass, stand, fold)
        should return it here; a game whose moves are all listed by
        ``legal_moves`` needs nothing. Only choose the move here: do not
        change your game in this method, the server makes the move for you
        through ``move``. Players who are not current never time out, so in
        a game where everyone moves at once (rock, paper, scissors) only
        those who have not chosen yet are affected.

        Tournaments use their own rule: a player who runs out of time
        there loses the game, and this method is not asked.

        Returns:
            A move dict, or ``None`` to leave the choice to the server.
        """
        return None

    def private_data(self, player_id: int) -> list[Any]:
        """Optional: the values that only player ``player_id`` may see.

        For example the cards in that player's hand, or their secret code.
        ``python3 -m gameserver check`` then makes sure none of these values
        ever shows up in another player's state. List each secret as it is,
        as one value (``return [self.code]``, not ``return self.code``, which
        would list the code's colours one by one, and anyone may know the
        colours). Once a secret is no longer secret (the game is over and
        shows it to everybody), stop listing it.

        Writing this method also tells the server that your game has
        secrets (see ``hidden_information``). The default, an empty list,
        means nothing is secret.
        """
        return []

    @classmethod
    def description(cls) -> str:
        """One paragraph about the game, shown in the list of games.

        The default is the first paragraph of your class docstring, so a
        good docstring is all you need.
        """
        return cls.documentation().split("\n\n")[0].replace("\n", " ").strip()

    @classmethod
    def documentation(cls) -> str:
        """How to play: the moves and the state. The default is the class docstring."""
        own_doc = cls.__dict__.get("__doc__")  # not the docstring inherited from here
        return inspect.cleandoc(own_doc) if isinstance(own_doc, str) else ""

    # ------------------------------------------------------------------
    # Optional hooks for reinforcement learning. A game that has them can be
    # played by learning programs through ``gameserver.rl`` (see docs/rl.md).
    # Give all three of rl_moves, rl_observation_shape and rl_observation,
    # and a legal_moves method too; rl_observation_range is optional.

    rl_moves: ClassVar[list[dict[str, Any]] | None] = None
    """Optional: every move any player could ever make, in a fixed order.

    A learning program chooses a move by its number: number ``i`` means
    ``rl_moves[i]``. Each entry is a move dict exactly as ``legal_moves``
    lists it, and every move that ``legal_moves`` can ever list must be in
    here (the moves that are legal right now are marked, the others not).
    For tic-tac-toe::

        rl_moves = [{"position": p} for p in range(9)]

    ``None`` (the default) means the game has no reinforcement-learning hooks.
    """

    rl_observation_shape: ClassVar[tuple[int, ...]] = ()
    """Optional: the shape of what ``rl_observation`` returns.

    ``(9,)`` for a list of 9 numbers; ``(3, 3)`` for a list of 3 lists of
    3 numbers each. It must be the same in every game and for every player.
    """

    rl_observation_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    """Optional: the smallest and the largest number an observation may hold."""

    @staticmethod
    def rl_observation(state: dict[str, Any], player_id: int) -> list[Any] | None:
        """Optional: turn what player ``player_id`` sees into a list of numbers.

        ``state`` is exactly what that player receives from ``state()``,
        including ``"current"`` and ``"gameover"``. Since you only get this
        player's own state, an observation can never show what the player
        may not see (another player's cards). Return a list of numbers, or of
        lists of numbers, in the shape of ``rl_observation_shape``, each
        number within ``rl_observation_range``. ``True``/``False`` count as
        1 and 0. Write it as a ``@staticmethod`` (no ``self``): it works on
        the state alone, also in a program far away from the server.

        Example for tic-tac-toe: 1 for my marks, 0.5 for the opponent's,
        0 for empty cells, with ``rl_observation_shape = (9,)``::

            @staticmethod
            def rl_observation(state, player_id):
                return [0 if cell == -1 else 1 if cell == player_id else 0.5
                        for cell in state["board"]]

        Returns:
            The numbers, or ``None`` (the default) when the game has no
            reinforcement-learning hooks.
        """
        return None


def has_hidden_information(game_class: type | None) -> bool:
    """Whether ``game_class`` has secrets: players who may not see everything.

    True when the class says ``hidden_information = True`` or has its own
    ``private_data`` method. Also True for ``None`` (the server no longer
    knows the game), because then nobody can tell.
    """
    if game_class is None:
        return True
    if getattr(game_class, "hidden_information", False) is True:
        return True
    return getattr(game_class, "private_data", None) is not AbstractGame.private_data


def lists_legal_moves(game_class: type | None) -> bool:
    """Whether ``game_class`` has its own ``legal_moves`` (so a bot can play it)."""
    method = getattr(game_class, "legal_moves", None)
    return method is not None and method is not AbstractGame.legal_moves


def _not_written(method: str) -> NotImplementedError:
    """The error of a required method that the game did not write (or called from its own)."""
    return NotImplementedError(
        f"AbstractGame.{method}() only describes what {method}() must do: write your own "
        f"{method}() in your game class, and do not call super().{method}() from it")
