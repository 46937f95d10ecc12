"""Every call into game code goes through here: guarded, checked, replayable.

Theory of operation
-------------------
Game code is untrusted student code. ``GameType`` stands for one game class
(its player range, its documentation, making new games) and ``CheckedGame``
for one game instance. Each of their methods calls the game through the
``GameGuard`` (an exception or an overlong call becomes a ``GameCodeError``
naming the game and the method) and checks what came back (``state`` must
return a dict, ``current_player`` player ids, a rejection must be JSON), so
the rest of the framework — sessions, the checker, the test harness, the
dashboard — never calls a game directly and never sees a malformed result.

Running a game in a worker process (``gameserver.isolated``) is another
implementation of these two classes behind the same methods, with one
difference a caller must handle: a call that has to reach the worker (a new
or restored game, a move, a state not known in advance) returns a ``Call``
instead of its answer, and the answer arrives later (``Call.then``). A
game's ``pending`` is the ``Call`` that is still building it (None once
built, and always None in-process). Everything else (whose turn, game over,
each player's state) is answered at once. In-process games never return a
``Call``.

``current()`` and ``game_over()`` can only change when the game does (a new
game, a move), so each is asked once per change and remembered. Code that
changes the instance behind our back (a test setting up a position through
``instance``) makes us forget what we remembered.

Randomness is made replayable. A game that draws from the ``random`` module
gets, during ``__init__`` and ``move`` (the calls that may change it), a
generator of its own instead of the shared one: ``random`` in the game's
module stands for a ``random.Random`` seeded from the game's ``seed`` when
the game first draws (seeding costs ~25,000 machine instructions; a game
may draw only later, or never). That generator's state (its seed, before
it is made) is part of ``snapshot()``, so a saved game followed by the
same moves gives the same game again — which lets the store save moves
instead of whole games, and makes learning environments reproducible.
Swapping a module global costs a dict store; seeding the shared generator
before every call would cost ~4.5 µs. (How: ``gameserver._randomness``.)
Randomness from elsewhere (``secrets``,
the time, a ``random.Random()`` without a seed made in a helper module) is
not covered; docs/first-game.md says so.

(About 520 lines on purpose: the two classes and the rules they check, the
player range and JSON, are the one gate every call into a game passes.)
"""

from __future__ import annotations

import json
import logging
import pickle
import reprlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

from . import _channel, protocol
from ._randomness import (
    GameRandom,
    SavedRandom,
    StandIn,
    Unseeded,
    new_seed,
    random_slots,
    restored,
)
from ._unpickle import Unpickler
from .game import AbstractGame, has_hidden_information
from .guard import GameCodeError, GameGuard
from .protocol import framework_error

__all__ = ["Call", "CheckedGame", "GameType", "game_types", "json_problem", "range_problem"]

log = logging.getLogger("gameserver.checked")


NESTED_TOO_DEEPLY = "it is nested too deeply"  # RecursionError: about a thousand levels
# move() returned True: what happened and what to return instead (``LocalSession`` and the
# checker say it; on the wire True stays the rejection PROTOCOL.md lets a game send).
MOVE_RETURNED_TRUE = (
    "returned True, but the server takes any value other than None (or False) as the "
    "reason a move is refused, and True gives no reason. Return nothing (None) when the "
    "move is fine and done, and a text that says what is wrong when it is not, for "
    "example `return \"that cell is taken\"`")
_ID_MAX = sys.maxsize  # a player id, as ``current`` bounds it: JSON text of at most 19 digits


def _encoded(view: dict[str, Any]) -> bytes | Exception:
    """``view`` as an ok-reply, or the error that says why it is not JSON (returned, not
    raised: the guard turns what it raises into the game's failure)."""
    try:
        return protocol.ok(view)
    except (TypeError, ValueError, RecursionError) as err:
        return err


def _as_json_data(value: Any) -> tuple[Any, str]:
    """(``value`` as plain JSON data, ""), or (None, why it is not JSON)."""
    try:
        return json.loads(protocol.encode_json(value)), ""
    except (TypeError, ValueError) as err:
        return None, str(err)
    except RecursionError:
        return None, NESTED_TOO_DEEPLY


def json_problem(value: Any) -> str:
    """Why ``value`` cannot be sent as JSON (as replies encode it), or "" if it can."""
    try:
        protocol.encode_json(value)
    except (TypeError, ValueError) as err:
        return str(err)
    except RecursionError:
        return NESTED_TOO_DEEPLY
    return ""


class ViewPending(GameCodeError):
    """A game in a worker process: the state asked for as a dict is being fetched (the
    worker has not sent it yet). No failure of the game's code (``Session.shown_view``)."""


class Call:
    """A game call running in a worker process: it ends later, with a value or an error.

    ``then(callback)`` runs ``callback()`` once the call has ended (at once
    if it has), in the order the callbacks were given; ``result()`` then
    gives the value or raises the call's ``GameCodeError``. Every call ends:
    the worker answers, or the server stops it (see ``gameserver.workers``).
    """

    __slots__ = ("done", "value", "error", "_callbacks")

    def __init__(self) -> None:
        self.done = False
        self.value: Any = None
        self.error: str | None = None  # a complete "framework: ..." message
        self._callbacks: list[Callable[[], None]] = []

    def then(self, callback: Callable[[], None]) -> None:
        if self.done:
            callback()
        else:
            self._callbacks.append(callback)

    def result(self) -> Any:
        """The call's value. Raises: GameCodeError: the call failed."""
        if self.error is not None:
            raise GameCodeError(self.error)
        return self.value

    def finish(self, value: Any = None, error: str | None = None) -> None:
        """For the implementation: the call has ended; run the callbacks."""
        if self.done:
            return
        self.done, self.value, self.error = True, value, error
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a bug of ours: the other callbacks still run
                log.exception("a callback of a game call failed")


def bounded_rejection(rejection: Any) -> Any:
    """A game's rejection of a move (JSON) within ``ERROR_MAX`` characters, as a player
    gets it and the move is kept with it (history, store, a worker's moves since its
    copy): a longer string is cut, with a note of its length; another value whose JSON
    is longer becomes that JSON as a string, cut."""
    if type(rejection) is str:
        return _channel.cut(rejection)
    if type(rejection) is list or type(rejection) is dict:
        text = protocol.encode_json(rejection)
        if len(text) > _channel.ERROR_MAX:
            return _channel.cut(text)
    return rejection


def range_problem(low: Any, high: Any) -> str:
    """What is wrong with a player range (``min_players()``, ``max_players()``), or "".

    The one rule, for loading a game, checking it, a worker's catalog and
    every join: whole numbers of at least 1 and at most ``sys.maxsize`` (a
    number of 5,000 digits cannot even be written in a reply), the minimum
    not above the maximum. The values may come from a hostile worker: they
    are shown within a few dozen characters, whatever they are.
    """
    if type(low) is int and type(high) is int and 1 <= low <= high <= sys.maxsize:
        return ""  # every join asks
    for method, value in (("min_players", low), ("max_players", high)):
        if type(value) is not int or value < 1:
            return f"{method}() must return a whole number of at least 1, not {_shown(value)}"
        if value > sys.maxsize:
            return (f"{method}() returns a number larger than sys.maxsize ({sys.maxsize}): "
                    "return the number of players your game can really hold")
    return (f"min_players() returns {low} but max_players() returns {high}: the minimum "
            "must not be larger than the maximum")


_SHORT = reprlib.Repr()


def _shown(value: Any) -> str:
    """``value`` in a message: a short repr of a number, string, bool or None, else its type."""
    if type(value) is int and abs(value) > sys.maxsize:
        return "a number of more than 19 digits"
    if value is None or type(value) in (int, float, str, bool):
        return _SHORT.repr(value)
    return f"a {type(value).__name__}"


def game_types(classes: Mapping[str, type[AbstractGame]],
               guard: GameGuard) -> dict[str, GameType]:
    """``{name: GameType}`` for game classes by name, all behind one guard."""
    return {name: GameType(name, game_class, guard) for name, game_class in classes.items()}


class GameType:
    """One game class, every call into it guarded.

    Args:
        name: the name clients use for the game (the class name).
        game_class: the class.
        guard: the guard every call goes through.
    """

    remote = False  # the game runs in this process (see gameserver.isolated)
    # Whether its states hold plain data only, no code of the game's own (a dict
    # subclass's items()): a bundled game's, or states decoded from a worker's JSON. They
    # are encoded without the guard's call, the others under it (``reply_of``).
    plain_states = False
    # Why the game cannot be played at all now (its worker process cannot be started, its
    # file no longer defines it, or the server is stopping); None: it can. Always None
    # in-process.
    unavailable: str | None = None
    # ``unavailable`` when that is only because the file of the game's worker no longer
    # defines it: until a replacement worker finds it again, not the server's restart.
    gone: str | None = None
    told_true = False  # its move() returned True (a rejection) and the log said so

    def __init__(self, name: str, game_class: type[AbstractGame], guard: GameGuard) -> None:
        from .games import BUNDLED_GAMES

        self.name = name
        self.game_class = game_class
        self.guard = guard
        self.plain_states = game_class in BUNDLED_GAMES
        self.hidden_information = has_hidden_information(game_class)
        self._random_slots = random_slots(game_class)
        self.unpickler = Unpickler([game_class])
        self._range: tuple[int, int] | None = None  # the player range, once read

    def __repr__(self) -> str:
        return f"GameType({self.name!r})"

    # ------------------------------------------------------------ the class

    def call(self, method: str, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)``, a method of this game, under guard (see ``GameGuard.call``).

        (``CheckedGame``'s calls that every join, state and move makes call the
        guard itself: one Python call less each.)
        """
        return self.guard.call(self.name, method, func, *args)

    def player_range(self) -> tuple[int, int]:
        """``(min_players(), max_players())``, read once and kept: every join asks. Raises
        GameCodeError when either fails or is no whole number (the next call asks again)."""
        if self._range is not None:
            return self._range
        low = self.call("min_players", self.game_class.min_players)
        high = self.call("max_players", self.game_class.max_players)
        problem = range_problem(low, high)
        if problem:
            raise GameCodeError(f"framework: game {self.name}: {problem}")
        self._range = (low, high)
        return low, high

    def check_player_count(self, players: int) -> None:
        """Refuse a session size outside the game's range, as every join does.

        Raises:
            ProtocolError: ``framework: invalid number of players: ...``.
            GameCodeError: the game's player range cannot be read.
        """
        problem = self.count_problem(players)
        if problem:
            raise framework_error(f"invalid number of players: {problem}")

    def count_problem(self, players: int) -> str:
        """Why a session of ``players`` is outside the game's range, or "" (for a join,
        and for a saved session whose game's range changed since, ``store._restore``).

        Raises:
            GameCodeError: the game's player range cannot be read.
        """
        low, high = self.player_range()
        if low <= players <= high:
            return ""
        wanted = f"exactly {low}" if low == high else f"{low} to {high}"
        return f"{self.name} is played by {wanted} players, not {players}"

    def description(self) -> str:
        return self.call("description", self.game_class.description)

    def documentation(self) -> str:
        return self.call("documentation", self.game_class.documentation)

    # ------------------------------------------------------------ instances

    def new_game(self, players: int, seed: int | None = None) -> CheckedGame:
        """A new game for ``players`` players; ``seed`` fixes its randomness (None: a
        fresh secret one). ``new_game(players, game.seed)`` makes the same game again
        (the store saves a new game as its seed).

        Raises:
            GameCodeError: the constructor failed.
        """
        if seed is None:
            seed = new_seed()
        rng = GameRandom(seed) if self._random_slots else None  # seeded when first needed
        game = CheckedGame(self, None, rng, seed)
        # (Not the ``instance`` setter: a new game has nothing remembered to forget.)
        game._instance = game._changing("__init__", self.game_class, players)
        return game

    def restore(self, blob: bytes, players: int | None = None) -> CheckedGame:
        """The game saved by ``CheckedGame.snapshot()``.

        Unpickles only this game's own classes and plain data (``_unpickle``),
        so a crafted blob cannot run code. ``players`` (how many play it, if
        known) lets a game in a worker process send each player's state along
        from the start.

        Raises:
            GameCodeError: the blob cannot be loaded (the game's class changed, it
                names something outside the allow-list, it holds something else
                where the framework saves the game's generator, ...).
        """
        instance, saved = self.call("unpickle", self.unpickler.load, blob)
        if not isinstance(instance, self.game_class):
            raise GameCodeError(f"framework: game {self.name}: the saved game is a "
                                f"{type(instance).__name__}, not a {self.name}")
        try:
            rng = restored(saved)
        except ValueError as err:
            raise GameCodeError(f"framework: game {self.name}: the saved game cannot be "
                                f"restored: {err}") from None
        if rng is None and self._random_slots:
            rng = GameRandom()  # (from fresh entropy, when first needed)
        return CheckedGame(self, instance, rng)


class CheckedGame:
    """One game instance behind guarded, checked calls (see the module docstring).

    ``instance`` is the game object itself, for tools that look inside it
    (tests, the checker); reading it makes this object forget what it
    remembered about the game, in case the caller changes it.
    """

    __slots__ = ("type", "seed", "_instance", "_rng", "_module", "_current", "_over")

    def __init__(self, game_type: GameType, instance: Any, rng: GameRandom | None,
                 seed: int | None = None) -> None:
        self.type = game_type
        self.seed = seed  # what new_game made it from; None for a restored game
        self._instance = instance
        self._rng = rng  # the game's generator (None for a game that uses no randomness)
        self._module = None if rng is None else StandIn(rng)  # the game's random
        self._current: list[int] | None = None
        self._over: bool | None = None

    @property
    def instance(self) -> Any:
        self._current = self._over = None
        return self._instance

    @instance.setter
    def instance(self, value: Any) -> None:
        self._instance = value
        self._current = self._over = None

    @property
    def pending(self) -> Call | None:
        """The call still building this game (a game in a worker process), else None."""
        return None

    def when_lost(self, callback: Callable[[CheckedGame, str], None]) -> None:
        """Call ``callback(game, reason)`` if the game is lost (only a game in a worker can be)."""

    # ------------------------------------------------------------ calls that change the game

    def move(self, move: dict[str, Any], player_id: int) -> Any:
        """Hand one move to the game: None if it was accepted, else the game's rejection.

        The classic framework treats every falsy result as "accepted", and any other
        JSON value as the rejection, ``True`` too (PROTOCOL.md: the player gets
        ``true``). A student who returns True means "done" nearly always: the log says
        so once per game and process, and ``LocalSession`` and the checker explain it
        (``MOVE_RETURNED_TRUE``).

        Raises:
            GameCodeError: ``move`` failed, or rejected the move with a value that is
                not JSON.
        """
        self._current = self._over = None
        result = self._changing("move", self._instance.move, move, player_id)
        if not result:
            return None
        if type(result) is str:  # (the usual rejection)
            return bounded_rejection(result)
        if result is True and not self.type.told_true:
            # Nearly always "accepted" meant (the move has changed the game, too): the
            # player only sees 'True', so the log says so, once per game and process.
            self.type.told_true = True
            log.warning("game %s: move() returned True, which rejects the move (the player "
                        "gets the error 'True'); a move is accepted when move() returns None "
                        "(or False): if True meant 'accepted', return nothing", self.type.name)
        # Under the guard: a value of the game's own kind (a dict subclass) runs the
        # game's code when it is encoded; sent on as plain JSON data, which runs none.
        game_type = self.type
        result, problem = game_type.guard.call(game_type.name, "move", _as_json_data, result)
        if problem:
            raise self._logged(self.type_error(
                "move", f"rejected the move with a value that is not JSON ({problem})"))
        return bounded_rejection(result)

    def _changing(self, method: str, func: Callable[..., Any], *args: Any) -> Any:
        """A call that may change the game: with the game's own ``random`` in place."""
        rng, game_type = self._rng, self.type
        if rng is None:
            return game_type.guard.call(game_type.name, method, func, *args)
        slots = game_type._random_slots
        for namespace, name, attribute, _ in slots:
            namespace[name] = (self._module if attribute is None
                               else getattr(self._module, attribute))
        try:
            return game_type.guard.call(game_type.name, method, func, *args)
        finally:
            for namespace, name, _, original in slots:
                namespace[name] = original

    # ------------------------------------------------------------ questions

    def game_over(self) -> bool:
        over = self._over
        if over is None:
            game_type = self.type
            over = self._over = bool(game_type.guard.call(game_type.name, "game_over",
                                                          self._instance.game_over))
        return over

    def current(self) -> list[int]:
        """Who may move now, always as a list of ids (empty once the game is over)."""
        current = self._current
        if current is not None:
            return current
        over = self._over  # (game_over's remembered answer, inline)
        if over is None:
            over = self.game_over()
        if over:
            current = self._current = []
            return current
        game_type = self.type
        current = game_type.guard.call(game_type.name, "current_player",
                                       self._instance.current_player)
        kind = type(current)
        if kind is int:
            current = [current]
        elif (kind is list and len(current) == 1 and type(current[0]) is int
                and -_ID_MAX <= current[0] <= _ID_MAX):  # (the usual ``[turn]``, checked)
            current = self._current = [current[0]]
            return current
        elif isinstance(current, (list, tuple)) and {int}.issuperset(map(type, current)):
            current = list(current)
        else:
            raise self._bad_return("current_player", "a player id or a list of player ids",
                                   current)
        # An id of 5,000 digits cannot be written as JSON: the dashboard's list of sessions
        # failed for every visitor. (min and max: in C, once per change.)
        if current and (min(current) < -_ID_MAX or max(current) > _ID_MAX):
            raise self.type_error("current_player", "must return player ids of at most 19 "
                                  "digits (seat numbers)")
        self._current = current
        return current

    def state(self, player_id: int) -> dict[str, Any]:
        """The game's own state dict for ``player_id`` (not a copy: do not change it)."""
        game_type = self.type
        state = game_type.guard.call(game_type.name, "state", self._instance.state, player_id)
        if not isinstance(state, dict):
            raise self._bad_return("state", "a dict", state)
        return state

    def view(self, player_id: int, legal_moves: bool = False) -> dict[str, Any]:
        """What ``state`` sends ``player_id``: the game's dict plus ``current`` and ``gameover``.

        With ``legal_moves`` also the moves the player may make now (``[]``
        when it is not their turn, None when the game does not list its moves).
        """
        # A copy: never add our keys to the game's own dict. Copying a dict of the game's
        # own kind may run the game's code (its __iter__ and keys()): under the guard.
        data = self.state(player_id)
        data = dict(data) if type(data) is dict else self.type.call("state", dict, data)
        # PROTOCOL.md: "current" is empty once the game is over, whatever the game says.
        current = self._current
        if current is None:
            current = self.current()
        data["current"] = current
        data["gameover"] = self._over  # (known with ``current``)
        if legal_moves:
            data["legal_moves"] = (self.legal_moves(player_id)
                                   if player_id in current else [])
        return data

    def view_reply(self, player_id: int, legal_moves: bool = False) -> bytes:
        """The encoded ok-reply of ``view``.

        Raises:
            GameCodeError: a game call failed, or the state is not JSON.
        """
        return self.reply_of(self.view(player_id, legal_moves))

    def legal_reply(self, player_id: int, reply: bytes) -> bytes | None:
        """``view_reply(player_id, True)`` made from ``reply``, ``view_reply(player_id)`` of
        the game as it is now: the legal moves spliced in, not the view encoded again (the
        store logs the view without them at a game's start and end, and a learning loop
        asks for it with them). None where a splice may differ from the encoding: a game
        not bundled (a key of its own kind may stand for "legal_moves"), in a worker
        process, or a reply with a "legal_moves" key anywhere (``view`` sets the state's
        own in place; the legal moves are its last key otherwise).

        Raises:
            GameCodeError: as ``view_reply``: ``legal_moves`` failed, or its moves are not
                JSON.
        """
        game_type = self.type
        if not game_type.plain_states or game_type.remote or b'"legal_moves"' in reply:
            return None
        if player_id not in self.current():  # (not their turn, or the game is over: no moves)
            return b"".join((reply[:-2], b', "legal_moves": []}}'))
        moves = self.reply_of(self.legal_moves(player_id))  # (the moves as an ok-reply)
        return b"".join((reply[:-2], b', "legal_moves": ', moves[protocol.OK_HEAD_SIZE:-1],
                         b"}}"))

    def reply_of(self, view: dict[str, Any]) -> bytes:
        """``view`` as an encoded ok-reply; GameCodeError naming ``state()`` if it is not JSON.

        Encoded under the guard (see ``GameType.plain_states``): the encoder runs the
        game's own code where the view holds a dict of the game's own kind (its
        ``items()``), which may loop or raise. The GameCodeError of a view that is not
        JSON has the json module's error as its ``__cause__``.
        """
        game_type = self.type
        if game_type.plain_states:
            try:
                return protocol.ok(view)
            except (TypeError, ValueError, RecursionError) as err:
                encoded: bytes | Exception = err
        else:
            encoded = game_type.guard.call(game_type.name, "state", _encoded, view)
            if type(encoded) is bytes:
                return encoded
        why = NESTED_TOO_DEEPLY if isinstance(encoded, RecursionError) else encoded
        raise self._logged(self.type_error(
            "state", f"returned something that cannot be sent as JSON ({why})")) from encoded

    def legal_moves(self, player_id: int) -> list[dict[str, Any]] | None:
        """The game's list of legal moves for ``player_id``, checked; None if it has none."""
        game_type = self.type
        moves = game_type.guard.call(game_type.name, "legal_moves", self._instance.legal_moves,
                                     player_id)
        if moves is None or (type(moves) is list and {dict}.issuperset(map(type, moves))):
            return moves  # (the usual case, checked without a Python call per move)
        if not (isinstance(moves, list) and all(isinstance(m, dict) for m in moves)):
            raise self._bad_return("legal_moves", "a list of move dicts or None", moves)
        return moves

    def timeout_move(self, player_id: int) -> dict[str, Any] | None:
        """The game's move for ``player_id``, whose time ran out; None if it names none."""
        hook = getattr(self._instance, "timeout_move", None)
        if hook is None:  # not an AbstractGame (a duck-typed game)
            return None
        move = self.type.call("timeout_move", hook, player_id)
        if move is not None and not isinstance(move, dict):
            raise self._bad_return("timeout_move", "a move dict or None", move)
        return move

    def private_data(self, player_id: int) -> list[Any]:
        values = self.type.call("private_data", self._instance.private_data, player_id)
        if not isinstance(values, (list, tuple)):
            raise self._bad_return("private_data", "a list", values)
        return list(values)

    # ------------------------------------------------------------ saving

    def snapshot(self) -> bytes:
        """The game and its random generator as bytes, for ``GameType.restore``.

        Raises:
            GameCodeError: the game cannot be pickled (it holds a file, a lock, ...).
        """
        return self.type.call("pickle", pickle.dumps, (self._instance, self._saved_random()),
                              pickle.HIGHEST_PROTOCOL)

    def _saved_random(self) -> Unseeded | SavedRandom | None:
        """The generator, ready to pickle (``GameRandom.save``): its seed until it is made;
        its state, read again only after draws.

        Reading and pickling a generator's state costs ~20-40 µs; most moves
        draw nothing, and a game is saved often.
        """
        rng = self._rng
        return None if rng is None else rng.save()

    # ------------------------------------------------------------ errors

    def type_error(self, method: str, text: str) -> GameCodeError:
        return GameCodeError(f"framework: game {self.type.name}: {method}() {text}")

    def _bad_return(self, method: str, expected: str, value: Any) -> GameCodeError:
        return self._logged(self.type_error(
            method, f"must return {expected}, not {type(value).__name__}"))

    def _logged(self, error: GameCodeError) -> GameCodeError:
        """``error`` (a value the game returned that is wrong), logged and counted: the
        teacher reads the server's log and the dashboard to see whose game broke and why.
        An exception of the game's was (by the guard, with its traceback); a wrong value
        only told the player."""
        log.error("%s", error.args[0].removeprefix("framework: "))
        self.type.guard.count(self.type.name)
        return error
