"""Playing a game for ``python -m gameserver check``: the moves it tries, what it looks at.

``Player`` plays whole games of one game class through the server's own
session code (``Table``), checking every state on the way: the return types,
whose turn it is, and that no player sees another's secrets. It plays mostly
the moves the game lists in ``legal_moves``, and now and then a move that was
not listed, to see whether ``move`` accepts it. A game without
``legal_moves`` is played with moves guessed from the words in its source
code (``move["x"]`` gives the key ``"x"``, string constants likely values).
Every problem goes into the ``Report`` in the words of ``_check_words``.

(About 510 lines on purpose: what is checked along one game played, its turns,
its states, its replay from the seed, stays with the playing that sees it.)
"""

from __future__ import annotations

import ast
import inspect
import json
import linecache
import random
import re
import sys
from typing import Any

from . import _check_words as words
from ._channel import STATE_MAX
from ._check_words import Report
from .checked import MOVE_RETURNED_TRUE, GameType
from .game import AbstractGame, has_hidden_information
from .guard import GameCodeError, GameGuard
from .protocol import ProtocolError
from .session import Session

MAX_MOVES = 2000  # a game still running after this many moves "never ends"


class Stop(Exception):
    """This game cannot be played further; the problem is already reported."""


class Table:
    """One game played on the server's own session code, all players seated.

    The checker's only contact with ``Session``: how the server runs a game
    may change here without touching what the checker checks.

    Args:
        game_type: the game, behind the server's checked calls.
        players: how many players sit at the table.
        seed: the seed of the game's own randomness, so a checker run repeats.
    """

    def __init__(self, game_type: GameType, players: int, seed: int) -> None:
        self.session = Session(game_type, "check", players,
                               game=game_type.new_game(players, seed=seed))
        self.keys = [self.session.add_player("").key for _ in range(players)]

    @property
    def game(self) -> AbstractGame:
        """The game object itself, to ask it directly (the checker judges raw answers)."""
        return self.session.game.instance

    def current(self) -> list[int]:
        return self.session.game.current()

    def legal_moves(self, player: int) -> list[Any] | None:
        return self.session.game.legal_moves(player)

    def state_reply(self, player: int) -> bytes:
        """``player``'s state reply, as a client receives it."""
        return self.session.game.view_reply(player)

    def move(self, player: int, move: dict[str, Any]) -> dict[str, Any]:
        """The decoded reply to ``move`` by ``player``."""
        reply = self.session.move(player, self.keys[player], move)
        assert isinstance(reply, bytes)  # nothing to wait for: no store
        return json.loads(reply)

    def private_data(self, player: int) -> list[Any]:
        return self.session.game.private_data(player)

    def restart(self) -> None:
        self.session.restart(0, self.keys[0])


class Player:
    """Plays one game class for the checker, sharing one RNG for reproducibility."""

    def __init__(self, game_class: type[AbstractGame], report: Report, guard: GameGuard,
                 rng: random.Random) -> None:
        self.game_class = game_class
        self.name = game_class.__name__
        self.game_type = GameType(self.name, game_class, guard)
        self.report = report
        self.guard = guard
        self.rng = rng
        self.keys, self.words = source_words(game_class)
        self.listed = 0  # games that had legal moves to follow
        self.guessed_accepted = 0
        self.lengths: list[int] = []
        self.table: Table | None = None  # the game being played
        self.states_differed = False
        self.over_not_bool = False  # game_over() returned something else than True or False
        self.largest_state = 0  # bytes of the largest state reply seen
        self.keys_asked = -1  # the last game whose state was asked again for number keys
        self.replayed: set[int] = set()  # numbers of players whose first game was replayed
        self.log: list[tuple[int, dict[str, Any], Any]] | None = None  # its moves, replies
        self.states: list[dict[str, Any]] = []  # each player's, last looked at
        # By number of players: the games played to their end with a move per player at
        # least, and the ids ever on turn.
        self.finished: dict[int, int] = {}
        self.on_turn: dict[int, set[int]] = {}
        self.state_too_large = False  # one was larger than the server sends: nothing to add
        # Players who see different states is fine when the game says so.
        self.says_public = game_class.hidden_information is False and any(
            "hidden_information" in vars(c) for c in game_class.__mro__ if c is not AbstractGame)

    def play(self, players: int) -> None:
        """Play one whole game with ``players`` players, then restart once. The first
        game of each number of players is played again from its seed with its moves
        (``_replay``): the server brings a saved game back that way."""
        seed = self.rng.getrandbits(64)
        table = self.table = self._call(Table, self.game_type, players, seed)
        replay = players not in self.replayed
        self.log = [] if replay else None
        start = None  # player 0's first state, as the client gets it
        moves_made = 0
        used_legal_moves = False
        while True:
            over = self._inspect(table, players)
            if start is None:
                start = self.states[0]
            if over:
                break
            current = self._call(table.current)
            if not current:
                self.report.problem(
                    "The game is not over, but current_player() returned no player, so "
                    "nobody can move and the game is stuck. Return the id of the player "
                    "whose turn it is.", where=self._line("current_player"))
                raise Stop
            self.on_turn.setdefault(players, set()).update(current)
            player = self.rng.choice(current)
            legal = self._call(table.legal_moves, player)
            if legal is not None:
                used_legal_moves = True
                self._play_listed(table, player, legal)
            else:
                self._play_guessed(table, player)
            moves_made += 1
            if moves_made >= MAX_MOVES:
                if used_legal_moves:
                    self.report.problem(
                        f"A game with {words.plural(players, 'player')} was still not over after "
                        f"{MAX_MOVES} moves. Does game_over() ever return True?",
                        kind="never ends", where=self._line("game_over"))
                raise Stop
        self.lengths.append(moves_made)
        if replay:
            self.replayed.add(players)
            self._replay(players, seed, start)
        if moves_made >= players:  # (in a shorter game, somebody had no turn by rights)
            self.finished[players] = self.finished.get(players, 0) + 1
        self.listed += used_legal_moves
        self._call(table.restart)
        if self._state(table, 0)["gameover"] and not self.over_not_bool:
            self.report.problem("Right after a restart the new game is already over: does "
                                "__init__ set up a fresh game every time?",
                                where=self._line("__init__"))

    def _inspect(self, table: Table, players: int) -> bool:
        """Check every player's state and the return types; True once the game is over."""
        game = table.game
        over = self._call(self.guard.call, self.name, "game_over", game.game_over)
        if type(over) is not bool:
            self.over_not_bool = True  # a text is true: "over at once" says no more
            self.report.problem(f"game_over() must return True or False, not {over!r} "
                                f"({type(over).__name__}).{_game_over_fix(over)}",
                                kind="game_over type", where=self._line("game_over"))
        raw_current = self._call(self.guard.call, self.name, "current_player",
                                 game.current_player)
        ids = raw_current if isinstance(raw_current, (list, tuple)) else [raw_current]
        bad = [i for i in ids if type(i) is not int or not 0 <= i < players]
        if bad:
            ids_text = ("the only id is 0" if players == 1
                        else f"the ids are 0 to {players - 1}")
            self.report.problem(
                f"current_player() returned {raw_current!r}, but with "
                f"{words.plural(players, 'player')} "
                f"{ids_text}.{words.forgot_return(raw_current) or _ids_fix(bad, players)}",
                kind="current ids", where=self._line("current_player"))
            raise Stop
        states = self.states = [self._state(table, p) for p in range(players)]
        self._check_secrets(table, states)
        return bool(over)

    def _replay(self, players: int, seed: int, start: dict[str, Any] | None) -> None:
        """Play the game just played again, from its ``seed`` (player 0's first state was
        ``start``) with its moves: each must get the same reply. A game that draws random
        numbers of its own (``random.Random()``, ``random.seed()``) does not, and the
        server could not bring it back after a restart."""
        log, self.log = self.log or [], None
        table = self._call(Table, self.game_type, players, seed)
        if self._state(table, 0) != start:
            self.report.problem(words.not_replayable(None), kind="not replayable",
                                where=self._line("__init__"))
            return
        for number, (player, move, reply) in enumerate(log, 1):
            again = self._call(table.move, player, move, move=move)
            if again != reply:
                self.report.problem(words.not_replayable((number, move, reply, again)),
                                    kind="not replayable", where=self._line("move"))
                return

    def turn_problem(self) -> str | None:
        """Players who never had a turn in any game played to its end with their number
        of players and a move per player at least (two games at least): the turn is not
        passed on. None if none."""
        for players, games in sorted(self.finished.items()):
            seen = self.on_turn.get(players, set())
            never = [p for p in range(players) if p not in seen]
            if players > 1 and games > 1 and never:
                return words.never_on_turn(never, sorted(seen), players, games)
        return None

    def _check_secrets(self, table: Table, states: list[dict[str, Any]]) -> None:
        """No player sees another's ``private_data``; different views need declared secrets."""
        if not has_hidden_information(self.game_class) and not self.says_public:
            for other in range(1, len(states)):
                difference = words.first_difference(states[0], states[other])
                if difference:
                    self.states_differed = True
                    self.report.problem(words.undeclared_secrets(difference, other),
                                        kind="undeclared secrets", where=self._line("state"))
                    break
        everyone = [self._call(table.private_data, owner) for owner in range(len(states))]
        for owner, secrets in enumerate(everyone):
            for value in secrets:
                for other, state in enumerate(states):
                    # Another player may hold an equal secret of their own (the same card).
                    if other == owner or value in everyone[other]:
                        continue
                    where = words.path_to(state, value)
                    if where is not None:
                        text, blame = words.leaked(self.game_class, value, owner, other, where,
                                                   secrets, states[owner], self.words)
                        self.report.problem(text, kind=f"leak {blame}", where=self._line(blame))

    def _play_listed(self, table: Table, player: int, legal: list[Any]) -> None:
        if not legal:
            self.report.problem(
                f"legal_moves({player}) returned an empty list although player {player} "
                "may move now. List at least one move, or return None.", kind="empty legal",
                where=self._line("legal_moves"))
            raise Stop
        if self.rng.random() < 0.3:  # now and then, try a move that was not listed
            listed = {canonical(m) for m in legal}
            known_keys = {k for m in legal for k in m}
            guess = self._guess(legal)
            # Games may ignore keys they do not know, and list one example of a free-text
            # move (a name): only judge moves in their own terms.
            if (canonical(guess) not in listed and set(guess) <= known_keys
                    and not free_text_variant(guess, legal)):
                if self._submit(table, player, guess) is None:
                    self.report.problem(
                        f"move({words.short(guess, 100)}) was accepted for player {player}, but "
                        f"legal_moves({player}) did not list it. Either reject that move in "
                        f"move() or add it to legal_moves ({self._line_no('legal_moves')}).",
                        kind="unlisted accepted", where=self._line("move"))
                    return
        move = self.rng.choice(legal)
        rejection = self._submit(table, player, move)
        if rejection is not None:
            self.report.problem(
                f"legal_moves({player}) listed {words.short(move, 100)}, but move() rejected "
                f"it with {words.short(rejection, 100)}. Every listed move must be accepted: "
                f"list only moves that move() ({self._line_no('move')}) accepts.",
                kind="listed rejected", where=self._line("legal_moves"))
            raise Stop

    def _play_guessed(self, table: Table, player: int) -> None:
        for _ in range(200):
            if self._submit(table, player, self._guess([])) is None:
                self.guessed_accepted += 1
                return
        raise Stop  # no guess worked: the game cannot be driven without legal_moves

    def _submit(self, table: Table, player: int, move: dict[str, Any]) -> Any:
        """Submit a move; None if accepted, else the game's rejection value."""
        if self.log is not None:  # (a copy: a game may change the move it is given)
            self.log.append((player, json.loads(canonical(move)), None))
        reply = self._call(table.move, player, move, move=move)
        if self.log is not None:
            self.log[-1] = (*self.log[-1][:2], reply)
        if reply["status"] == "ok":
            return None
        if reply["status"] == "illegalmove" and reply["message"] is True:
            # "return True" for a good move, as a first-term student writes it: the server
            # rejects it (any value but None does), and False accepts a bad one.
            self.report.problem(f"move({words.short(move, 100)}) {MOVE_RETURNED_TRUE}.",
                                kind="returned True", where=self._line("move"))
            raise Stop
        if reply["status"] == "illegalmove" and words.sounds_accepted(reply["message"]):
            self.report.problem(f"move({words.short(move, 100)}) "
                                f"{words.returned_accepted(reply['message'])}",
                                kind="returned ok", where=self._line("move"))
            raise Stop
        if reply["status"] == "illegalmove":
            return reply["message"]
        self.report.problem(f"The server refused move {words.short(move, 100)}: "
                            f"{reply['message']}",
                            where=self._line("move"))
        raise Stop

    def _guess(self, examples: list[Any]) -> dict[str, Any]:
        """A random move: a listed move with one value changed, or built from source words."""
        rng = self.rng
        if examples and rng.random() < 0.7:
            move = dict(rng.choice(examples))
            if move:
                key = rng.choice(list(move))
                move[key] = mutate(move[key], rng, self.words)
                return move
        count = rng.choice([1, 1, 1, 2, 0])
        keys = rng.sample(self.keys, k=min(len(self.keys), count))
        return {k: random_value(rng, self.words) for k in keys}

    def _state(self, table: Table, player: int) -> dict[str, Any]:
        """The data of ``player``'s state reply; one larger than the server sends (from a
        worker process, where a game from the games folder runs) is a problem: the check
        runs the game in its own process, where nothing bounds it."""
        reply = self._call(table.state_reply, player, player=player)
        self.largest_state = max(self.largest_state, len(reply))
        state = json.loads(reply)["data"]
        if len(reply) > STATE_MAX:
            self.state_too_large = True
            self.report.problem(words.state_too_large(player, len(reply), STATE_MAX, state),
                                kind="state too large", where=self._line("state"))
            raise Stop
        if b'"null":' in reply or b'"true":' in reply or b'"false":' in reply:
            self._check_keys(table, player)
        if self.keys_asked < self.report.game and words.NUMBER_KEY.search(reply):
            self._check_number_keys(table, player)
        return state

    def _check_number_keys(self, table: Table, player: int) -> None:
        """A number as a key in ``player``'s state (its reply has a key of digits: the state
        is asked once more, to tell it from a text key "0", at most once a game): JSON
        sends it as text, and the client's ``state["scores"][0]`` is a KeyError. A warning
        (it works, read as text), once; none is looked for after it."""
        self.keys_asked = self.report.game
        found = words.number_key(self._call(self.guard.call, self.name, "state",
                                            table.game.state, player, player=player))
        if found:
            self.report.warnings.append(f"{words.method_line(self.game_class, 'state')}: "
                                        f"Player {player}'s {found}")
            self.keys_asked = sys.maxsize

    def _check_keys(self, table: Table, player: int) -> None:
        """A key None, True or False in ``player``'s state (its reply has a key "null",
        "true" or "false": the state is asked once more, to tell): JSON sends it as that
        text, and the client finds no key None."""
        found = words.converted_key(self._call(self.guard.call, self.name, "state",
                                               table.game.state, player, player=player))
        if found:
            self.report.problem(f"Player {player}'s {found}", kind="converted key",
                                where=self._line("state"))

    def _call(self, func: Any, *args: Any, move: dict[str, Any] | None = None,
              player: int | None = None) -> Any:
        """``func(*args)``; a failure of the game is reported, then stops this game.

        ``move`` is the move being played and ``player`` the player whose state
        is being assembled, to say exactly what failed.
        """
        try:
            return func(*args)
        except GameCodeError as err:
            self._report_failure(err, move, player)
            raise Stop from None
        except ProtocolError as err:
            self.report.problem(str(err), where=words.class_line(self.game_class))
            raise Stop from None

    def _report_failure(self, err: GameCodeError, move: dict[str, Any] | None,
                        player: int | None) -> None:
        # The report is about this game already: drop "framework: game NAME: ".
        text = words.failure_text(str(err))
        method = re.match(r"(\w+)\(\)", text)
        where = self._line(method[1] if method else "__init__")
        place = words.failure_line(self.game_class, err.details) if err.details else None
        kind = text
        if place:
            where = f"{words.shown_path(place[0])}:{place[1]}"
            kind = f"{text.split(':')[0]} at {where}"  # "move() raised ValueError" at a line
        if move is not None and text.startswith("move() "):
            # Name the move that did it.
            text = f"move({words.short(move, 100)})" + text.removeprefix("move()")
        if "took longer than" in text:
            text += words.too_slow(text)
        elif "cannot be sent as JSON" in text and player is not None:
            text = self._unsendable(player) or text
        elif "cannot be sent as JSON" in text:
            text += (". Only dicts, lists, strings, numbers, True/False and None can be "
                     "sent: turn sets and tuples into lists, objects into dicts.")
        elif text.endswith(", not NoneType"):
            text = text.removesuffix("NoneType") + "None." + words.forgot_return(None)
        elif words.state_not_a_dict(text):
            text += words.state_not_a_dict(text)
        elif re.search(r" must return .+, not \w+$", text):
            text += "."
        elif move is not None and text.startswith("move(") and " raised " in text:
            game = self.table.game if self.table is not None else None
            text = words.move_failed(move, text.partition(" raised ")[2], place, game)
        elif re.match(r"\w+\(\) raised ", text):  # (another method: its line, and the why)
            game = self.table.game if self.table is not None else self.game_class
            line = linecache.getline(*place) if place else ""
            text += ". " + words.raised(text.partition(" raised ")[2], game, line)
        self.report.problem(text, err.details, kind=kind, where=where)

    def _unsendable(self, player: int) -> str | None:
        """Which part of ``player``'s state cannot be sent (the state is built once more)."""
        if self.table is None:
            return None
        try:
            state = self.guard.call(self.name, "state", self.table.game.state, player)
        except GameCodeError:
            return None
        found = words.unsendable(state)
        return found and f"Player {player}'s {found}"

    def _line(self, method: str) -> str:
        return words.method_line(self.game_class, method)

    def _line_no(self, method: str) -> str:
        return words.line_of(self.game_class, method)


def _ids_fix(ids: list[Any], players: int) -> str:
    """How to return player ids that exist, for ``ids`` that do not, with ``players``."""
    if any(type(i) is str for i in ids):
        return (" An id is a whole number, the player's place from 0 on, not a name: return "
                "0 for the first player, 1 for the second, and so on.")
    counts_from_1 = ids and all(type(i) is int and 1 <= i <= players for i in ids)
    return (" Ids count from 0, not 1: start the turn at 0, and" if counts_from_1 else
            f" Return only ids from 0 to {players - 1},") + (
        " go round with `self.turn = (self.turn + 1) % self.players` (self.players: the "
        "number of players __init__ was given).")


def _game_over_fix(over: Any) -> str:
    """How to make ``game_over()`` return a bool, when it returned ``over``."""
    text = (" A text counts as true in Python, even 'no' or 'False', so the game seemed "
            "over." if type(over) is str and over else "")
    return words.forgot_return(over) if over is None else (
        f"{text} Write `return False` while the game goes on and `return True` once it has "
        "ended; a comparison such as `return self.moves >= 9` gives one of them.")


# ---------------------------------------------------------------- guessing moves


def source_words(game_class: type[AbstractGame]) -> tuple[list[str], list[str]]:
    """Likely move keys (``move["x"]``, ``move.get("x")``, ``"x" in move``) and
    other short string constants in the game's source (likely values)."""
    try:
        tree = ast.parse(inspect.getsource(inspect.getmodule(game_class) or game_class))
    except (OSError, TypeError, SyntaxError):
        return ["move"], ["move"]
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            keys.add(_string(node.slice))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "get" and node.args):
            keys.add(_string(node.args[0]))
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            keys.add(_string(node.left))
    keys.discard("")
    words = {node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and 0 < len(node.value) < 30 and "\n" not in node.value}
    return sorted(keys) or sorted(words) or ["move"], sorted(words) or ["move"]


def _string(node: ast.AST) -> str:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""


def random_value(rng: random.Random, words: list[str]) -> Any:
    kind = rng.randrange(7)
    if kind <= 2:
        return rng.randint(0, 9) if rng.random() < 0.8 else rng.randint(-2, 100)
    if kind == 3:
        return rng.choice(words)
    if kind == 4:
        return [rng.randint(-1, 10) for _ in range(rng.randint(0, 3))]
    if kind == 5:
        return rng.choice([None, True, False, "", 1.5, {}])
    return rng.randint(-10**6, 10**6)


def mutate(value: Any, rng: random.Random, words: list[str]) -> Any:
    if type(value) is int and rng.random() < 0.6:
        return value + rng.choice([-1, 1, 2, 10])
    if isinstance(value, list) and value and rng.random() < 0.6:
        changed = list(value)
        changed[rng.randrange(len(changed))] = mutate(changed[0], rng, words)
        return changed
    return random_value(rng, words)


def free_text_variant(move: dict[str, Any], legal: list[Any]) -> bool:
    """Whether ``move`` is a listed move with only free-form parts changed.

    Free-form parts are those a game lists in one canonical or example form:
    text (a name), a list of plain values in another order or repeated
    (``[2, 0]`` for ``[0, 2]``), and lists of lists (one example of a
    structured value, such as where the ships go).
    """
    return any(set(listed) == set(move) and all(_same_kind(listed[k], move[k]) for k in move)
               for listed in legal)


def _same_kind(listed: Any, given: Any) -> bool:
    if listed == given or (type(listed) is str and type(given) is str):
        return True
    if _plain_list(listed) and _plain_list(given):
        return {canonical(x) for x in listed} == {canonical(x) for x in given}
    return isinstance(listed, list) and any(isinstance(x, list) for x in listed)


def _plain_list(value: Any) -> bool:
    return isinstance(value, list) and not any(isinstance(x, (list, dict)) for x in value)


def canonical(move: Any) -> str:
    return json.dumps(move, sort_keys=True)
