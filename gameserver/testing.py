"""Test your game without a network: ``LocalSession`` runs it in-process.

It uses the server's own session code, so moves go through the same checks
in the same order (game over, whose turn, ...) and fail with the same
messages as on the real server; only the sockets are missing. Use it in
plain pytest tests::

    from gameserver.testing import LocalSession, IllegalMove
    from mygame import MyGame

    def test_first_player_can_move():
        session = LocalSession(MyGame, players=2)
        session.move(0, position=4)
        assert session.state(1)["board"][4] == 0

    def test_occupied_cell_is_rejected():
        session = LocalSession(MyGame, players=2)
        session.move(0, position=4)
        with pytest.raises(IllegalMove, match="taken"):
            session.move(1, position=4)

``state`` never waits (unlike the client's ``state()``): it always returns
the state right now, including the framework's ``"current"`` and
``"gameover"`` keys.

A game call that runs past ``time_limit`` fails with ``GameServerError``
(``... took longer than 5 s and was stopped (endless loop?) in file mygame.py,
line 12: `while True:` ``: the line of your game's file it was running). One that
catches that stop (a bare ``except:`` in a loop) and so never returns ends
the whole test run, with a message on stderr naming the game, the method
and the line it was running (see ``gameserver._stuck``): nothing else can
end it.

A ``GameServerError`` for a failure of the game's code keeps the server's
message and adds, as a note (shown under the traceback), what
``python3 -m gameserver check`` says to change: return the message instead
of raising it in ``move``, the file and line, a forgotten ``return``, the
place in a state that JSON cannot send; for an exception another method raised
(``state``, ``current_player``, ``__init__``), the line, a misspelt name, and the
game's own traceback.

``IllegalMove`` and ``GameServerError`` are the very classes of the client
module ``game_server_api``, so ``except IllegalMove:`` catches a rejected
move the same way in a test and in a client that plays on a real server.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

# The client module's own exception classes (one standalone file, installed with
# the server), so that students catch the same class in tests and in clients.
from game_server_api import GameServerError, IllegalMove

from . import _check_defs as defs
from . import _check_words as words
from ._stuck import exit_stuck
from .checked import MOVE_RETURNED_TRUE, GameType
from .game import AbstractGame
from .guard import GameCodeError, GameGuard
from .protocol import ProtocolError
from .registry import not_a_class
from .session import Session

__all__ = ["GameServerError", "IllegalMove", "LocalSession"]


class LocalSession:
    """One session of ``game_class`` with ``players`` players, all seated.

    Args:
        game_class: your game class (not an instance).
        players: how many players; must be within the game's min/max.
        names: optional player names, one per player.
        time_limit: seconds one call into the game may run (as on the server);
            a call that goes on after it was stopped ends the process.
        seed: the seed of the first game's random numbers (the ``random`` module's
            functions, as the server gives each game its own): the same seed deals the
            same cards and rolls the same dice in every run of a test. None: fresh
            ones. A ``restart()`` always draws fresh ones.

    Raises:
        GameServerError: invalid number of players, or the constructor failed.
        TypeError: ``game_class`` is no class (a game made from it, its name).
    """

    def __init__(self, game_class: type[AbstractGame], players: int,
                 names: list[str] | None = None, time_limit: float = 5.0,
                 seed: int | None = None) -> None:
        problem = not_a_class(game_class, "LocalSession")
        if problem:
            raise TypeError(problem)
        self._guard = guard = GameGuard(time_limit)
        # A call that catches its interruption would hang the tests: say so, and end them.
        guard.stuck = exit_stuck(game_class, guard, f"LocalSession(..., time_limit="
                                 f"{time_limit:g})")
        # ... and a call stopped in time says where in the student's file it was.
        guard.where = lambda tb: words.stopped_at(game_class, tb)
        self._game_class = game_class
        self._reply = b""  # the last state reply (``_state_reply``)
        self._number_key_told = False  # a number as a state's key was looked for
        game_type = GameType(game_class.__name__, game_class, self._guard)
        try:
            game_type.check_player_count(players)
            self.session = Session(game_type, "local", players,
                                   game=game_type.new_game(players, seed=seed))
        except ProtocolError as err:
            raise GameServerError(str(err)) from None
        except GameCodeError as err:  # (__init__ failed, or a static method)
            error = GameServerError(str(err))
            note = words.call_failed(game_class, str(err), err.details)
            if note:
                error.add_note(note)
            raise error from None
        for player_name in names or [""] * players:
            self.session.add_player(player_name)

    @property
    def game(self) -> AbstractGame:
        """The game instance itself, to look at (or set up) its attributes in tests."""
        return self.session.game.instance

    def move(self, player_id: int, move: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Submit a move as ``player_id``: ``move(0, position=4)`` or ``move(0, {...})``.

        Raises:
            IllegalMove: the game rejected the move. ``args`` hold what ``move``
                returned: ``str(err)`` is ``"game: <your message>"`` for a string,
                and a list rejection ``["no such card", 3]`` gives
                ``err.args == ("no such card", 3)``, as on a real server.
            GameServerError: the framework refused it (game over, not your
                turn) or the game's code failed (the message names the method).
        """
        if move is not None and not isinstance(move, dict):  # ("'int' object is not a mapping")
            raise TypeError(f"move({player_id!r}, {move!r}): give the move as keywords, as a "
                            "client does, for example session.move(0, add=3), or as a dict, "
                            f"session.move(0, {{'add': 3}}), not {move!r} alone")
        move = {**(move or {}), **kwargs}
        key = self.session.players[self._check_id(player_id)].key
        move = json.loads(json.dumps(move))
        reply = self._run(self.session.move, player_id, key, move, move=move)
        if reply["status"] == "illegalmove":
            value = reply["message"]
            err = IllegalMove(*value) if isinstance(value, list) else IllegalMove(value)
            if value is True:  # (a player gets just that; its author needs the why)
                err.add_note(f"Your move() {MOVE_RETURNED_TRUE}.")
            elif words.sounds_accepted(value):  # ("ok": the same mistake, in words)
                err.add_note(f"Your move() {words.returned_accepted(value)}")
            raise err

    def state(self, player_id: int) -> dict[str, Any]:
        """What ``player_id`` would receive from ``state()`` right now: as JSON carries it,
        so a number the game used as a key is text here too (``"0"``, not ``0``), as a
        client gets it; such a key is told with a warning (looked for in the first state
        that may have one)."""
        data = self._run(self._state_reply, player_id, False)["data"]
        if not self._number_key_told and words.NUMBER_KEY.search(self._reply):
            self._tell_number_key(player_id)
        return data

    def _tell_number_key(self, player_id: int) -> None:
        """Warn where ``player_id``'s state has a number as a key (as ``check`` does): a
        student's test read ``state["scores"][0]``, got a KeyError and could not see why
        (the game's own state() has the key 0). The state is asked again to tell (its
        reply has a key of digits, maybe text): once a session, so that a game whose
        state() counts its calls sees no more than one extra."""
        self._number_key_told = True
        try:  # (the state, asked again as the game returns it: nothing changed since)
            found = words.number_key(self._guard.call(self._game_class.__name__, "state",
                                                      self.game.state, player_id))
        except GameCodeError:
            return
        if found:
            warnings.warn(f"Player {player_id}'s {found}", UserWarning, stacklevel=3)

    def legal_moves(self, player_id: int) -> list[dict[str, Any]] | None:
        """The legal moves the server would send to ``player_id`` (``[]`` if not their turn)."""
        return self._run(self._state_reply, player_id, True)["data"]["legal_moves"]

    def restart(self, player_id: int = 0) -> None:
        """Start a fresh game in this session, as ``player_id`` would."""
        self._run(self.session.restart, player_id,
                  self.session.players[self._check_id(player_id)].key)

    @property
    def players(self) -> int:
        return self.session.size

    @property
    def current(self) -> list[int]:
        """The ids who may move now."""
        return self.state(0)["current"]

    @property
    def gameover(self) -> bool:
        return self.state(0)["gameover"]

    def close(self) -> None:
        """Stop the time-limit watchdog (also done when the object is collected)."""
        self._guard.close()

    def __del__(self) -> None:
        if hasattr(self, "_guard"):  # (not when __init__ refused its arguments)
            self._guard.close()

    def _state_reply(self, player_id: int, legal_moves: bool) -> bytes:
        self._reply = reply = self.session.game.view_reply(self._check_id(player_id),
                                                           legal_moves)
        return reply

    def _check_id(self, player_id: int) -> int:
        if type(player_id) is not int or not 0 <= player_id < self.players:
            raise GameServerError(f"no player {player_id!r}: this session has the players "
                                  f"0 to {self.players - 1}")
        return player_id

    def _run(self, step: Any, *args: Any, move: dict[str, Any] | None = None,
             ) -> dict[str, Any]:
        """``step(*args)``'s reply, decoded; ``move``: the move ``step`` submits, if any."""
        try:
            reply = json.loads(step(*args))
        except (ProtocolError, GameCodeError) as err:
            error = GameServerError(str(err))
            if isinstance(err, GameCodeError):
                note = self._what_to_fix(err, args[0] if step == self._state_reply
                                         else None, move)
                if note:
                    error.add_note(note)
            raise error from None
        if reply["status"] == "error":
            raise GameServerError(reply["message"])
        return reply

    def _what_to_fix(self, err: GameCodeError, player_id: int | None,
                     move: dict[str, Any] | None) -> str:
        """What ``python3 -m gameserver check`` says to do about the failure ``err`` (the
        server's words, which name what went wrong but not what to change): a forgotten
        ``return``; where in ``player_id``'s state is what JSON cannot send; a call out
        of time (a sleep, a loop that never stops); for an exception ``move`` raised,
        the line and what to change there (return the message instead of raising it;
        check the move before using it); for one another method raised (``state``,
        ``current_player``), the line, the checker's advice and the game's traceback.
        Added to the error as a note (its message stays the server's, letter for letter).
        "" where there is nothing to add."""
        message = str(err)
        unfit = defs.signature_problem(self._game_class, "move") if move is not None else ""
        if unfit:  # (``def move(self, player_id, move):``: the game's error is its symptom)
            return unfit
        if move is not None:
            advice = words.move_raised(self._game_class, message, err.details, move, self.game)
            if advice:
                return advice
        advice = words.call_failed(self._game_class, message, err.details, self.game)
        if advice:  # (an exception another method raised: state(), current_player() ...)
            return advice
        if "took longer than" in message:
            return words.too_slow(message).removeprefix(". ")
        if message.endswith(", not NoneType"):
            return words.forgot_return(None).strip()
        if "cannot be sent as JSON" not in message or player_id is None:
            return ""
        try:  # (the state that failed, asked again: nothing else changed since)
            state = self.session.game.state(player_id)
        except GameCodeError:
            return ""
        where = words.unsendable(state)
        return f"Player {player_id}'s {where}" if where else ""
