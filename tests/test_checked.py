"""Checked game calls without sockets: results checked, answers remembered, replayable."""

from __future__ import annotations

import json
import logging
import os
import pickle
import random
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gameserver import registry
from gameserver.checked import CheckedGame, GameType, json_problem
from gameserver.games import TicTacToe
from gameserver.guard import GameCodeError, GameGuard
from gameserver.isolated import SAVE_EVERY
from tests.data.checked_games import dice
from tests.data.checked_games.dice import (
    Dice,
    DiceFromImport,
    DiceKeepsRandom,
    DiceLater,
    DiceLaterFromImport,
    DiceLaterOwnGenerator,
    DiceOwnGenerator,
    LoadedNumber,
)
from tests.data.checked_games.plain import Plain
from tests.serverproc import ServerProcess
from tests.wire import Player, request, until


@pytest.fixture
def guard() -> Iterator[GameGuard]:
    guard = GameGuard(time_limit=2)
    yield guard
    guard.close()


# Games drawing from ``random`` three ways, from their first call or from their third move.
RANDOM_GAMES = [Dice, DiceFromImport, DiceOwnGenerator,
                DiceLater, DiceLaterFromImport, DiceLaterOwnGenerator]
SAVED = Path(__file__).parent / "data" / "checked_games" / "saved_before_lazy_seeding.json"


def play(game: CheckedGame, moves: int) -> list[Any]:
    """Roll ``moves`` times and return what the state said after each roll."""
    seen = []
    for _ in range(moves):
        assert game.move({}, game.current()[0]) is None
        seen.append(game.state(0)["rolls"][-1])
    return seen


@pytest.mark.parametrize("game_class", RANDOM_GAMES)
def test_the_same_seed_gives_the_same_game(guard: GameGuard, game_class: type) -> None:
    game_type = GameType(game_class.__name__, game_class, guard)
    first = play(game_type.new_game(1, seed=7), 20)
    assert play(game_type.new_game(1, seed=7), 20) == first
    assert play(game_type.new_game(1, seed=8), 20) != first


@pytest.mark.parametrize("game_class", RANDOM_GAMES)
def test_a_restored_game_goes_on_as_the_original_would(guard: GameGuard,
                                                       game_class: type) -> None:
    game_type = GameType(game_class.__name__, game_class, guard)
    original = game_type.new_game(1)
    play(original, 5)
    copy = game_type.restore(original.snapshot())
    assert play(copy, 10) == play(original, 10)


@pytest.mark.parametrize("game_class", RANDOM_GAMES)
def test_every_snapshot_holds_the_generator_as_it_is_then(guard: GameGuard,
                                                          game_class: type) -> None:
    # The generator's saved state is reused until the game draws again: never stale.
    game_type = GameType(game_class.__name__, game_class, guard)
    original = game_type.new_game(1, seed=5)
    for _ in range(4):
        blob = original.snapshot()
        assert original.snapshot() == blob  # nothing drawn in between
        assert play(game_type.restore(blob), 3) == play(original, 3)


def test_games_do_not_disturb_each_others_randomness(guard: GameGuard) -> None:
    game_type = GameType("Dice", Dice, guard)
    alone = play(game_type.new_game(1, seed=3), 10)
    mixed, other = game_type.new_game(1, seed=3), game_type.new_game(1, seed=4)
    rolls = []
    for _ in range(10):
        rolls += play(mixed, 1)
        play(other, 1)
        random.random()  # the server's own use of the shared generator, in between
    assert rolls == alone


def test_the_module_gets_its_random_back_after_each_call(guard: GameGuard) -> None:
    game = GameType("Dice", Dice, guard).new_game(1, seed=1)
    play(game, 1)
    assert dice.random is random
    assert dice.randint is random.randint


def test_a_games_own_random_makes_only_the_functions_the_game_uses(guard: GameGuard) -> None:
    """The stand-in for ``random`` made all 46 functions for every game: 13 KB each, most
    of a tic-tac-toe session's memory."""
    for game_class, used in ((Dice, {"randint"}), (DiceFromImport, {"randint"}),
                             (DiceOwnGenerator, {"Random", "randint"})):  # (Dice.__init__)
        game = GameType(game_class.__name__, game_class, guard).new_game(1, seed=5)
        play(game, 3)
        assert set(vars(game._module)) - {"_generator"} == used


def test_a_game_that_keeps_the_random_module_cannot_be_saved(guard: GameGuard) -> None:
    """As when the stand-in was a module: found by an attack on the lazy stand-in, which
    pickled until the game drew once, so a game in a worker was saved as a copy that
    the next start refused (its session then dropped)."""
    game = GameType("DiceKeepsRandom", DiceKeepsRandom, guard).new_game(1, seed=5)
    for _ in range(2):  # before the game's first draw in a move, and after
        with pytest.raises(GameCodeError, match="pickle.*cannot pickle 'module' object"):
            game.snapshot()
        play(game, 1)


def test_a_game_that_uses_no_randomness_gets_no_generator(guard: GameGuard) -> None:
    game_type = GameType("Plain", Plain, guard)
    assert game_type.new_game(1)._rng is None


@pytest.mark.parametrize("game_class", RANDOM_GAMES)
def test_a_game_saved_before_its_first_draw_draws_as_the_original(guard: GameGuard,
                                                                   game_class: type) -> None:
    """A copy of a copy, each saved before the game drew, and the game made again from
    its seed all draw what the original draws."""
    game_type = GameType(game_class.__name__, game_class, guard)
    original = game_type.new_game(1, seed=11)
    copy = game_type.restore(original.snapshot())
    copy_of_copy = game_type.restore(copy.snapshot())
    again = game_type.new_game(1, original.seed)
    rolls = play(original, 10)
    assert play(copy, 10) == play(copy_of_copy, 10) == play(again, 10) == rolls
    assert play(game_type.restore(copy.snapshot()), 5) == play(copy, 5)


def test_a_games_generator_is_seeded_only_when_the_game_first_draws(guard: GameGuard) -> None:
    """Seeding a generator costs ~25,000 machine instructions: a game that has not drawn
    yet has none (it is saved as its seed, a few bytes), made or restored."""
    game_type = GameType("DiceLater", DiceLater, guard)
    game = game_type.new_game(1, seed=11)
    play(game, 2)
    blob = game.snapshot()
    copy = game_type.restore(blob)
    assert game._rng is not None and copy._rng is not None
    assert game._rng.rng is None and copy._rng.rng is None
    assert len(blob) < 300  # (the generator's state: 2.5 KB)
    assert play(game, 1) == play(copy, 1)
    assert game._rng.rng is not None and copy._rng.rng is not None
    assert len(game.snapshot()) > 2500


@pytest.mark.parametrize("name", json.loads(SAVED.read_text()))
def test_games_saved_by_earlier_versions_draw_as_they_did(guard: GameGuard,
                                                          name: str) -> None:
    """Blobs pickled before generators were seeded lazily (a ``SavedRandom``, also of a
    generator that had not drawn yet), with the rolls they gave then; a game made from
    their seed (5) rolls the same."""
    from tests.data.checked_games import dice
    game_type = GameType(name, getattr(dice, name), guard)
    for saved in json.loads(SAVED.read_text())[name]:
        assert play(game_type.restore(bytes.fromhex(saved["blob"])), 6) == saved["next_rolls"]
        again = game_type.new_game(1, seed=5)
        assert play(again, saved["moves"] + 6)[-6:] == saved["next_rolls"]


def _placeholder(*args: Any) -> None:
    """Stands for a global that ``crafted`` names in its place."""


class _Crafted:
    def __init__(self, args: tuple[Any, ...], state: Any = None) -> None:
        self.args, self.state = args, state

    def __reduce__(self) -> Any:
        return (_placeholder, self.args) if self.state is None else (
            _placeholder, self.args, self.state)


def crafted(instance: Any, target: str, args: tuple[Any, ...], state: Any = None) -> bytes:
    """A saved game: ``instance`` with, as its generator, ``target(*args)`` (and ``state``
    set on it by pickle's BUILD), as someone who writes store rows could make it."""
    blob = pickle.dumps((instance, _Crafted(args, state)), 2)  # (names: "module\\nname\\n")
    module, name = target.rsplit(".", 1)
    placeholder = f"{__name__}\n{_placeholder.__name__}\n".encode()
    assert blob.count(placeholder) == 1
    return blob.replace(placeholder, f"{module}\n{name}\n".encode())


GAME_NUMBER, GAME_OBJECT = "<a LoadedNumber>", "<a Dice>"  # made by the test: not pickled


@pytest.mark.parametrize(("target", "args", "state"), [
    # The loader of a generator saved before its first draw, with arguments it never gets:
    # no seed, a seed that is not an int (one of the game's own kind runs the game's code
    # when a generator is seeded from it), a seed far longer than any new game's ...
    *(("gameserver._randomness._unseeded", args, None) for args in [
        (), ("5",), (5.0,), (True,), (None,), ((5,),), (5, 6), (2**5000,), (-2**5000,),
        (GAME_NUMBER,), (GAME_OBJECT,)]),
    # ... or a good seed, replaced by pickle's BUILD afterwards.
    ("gameserver._randomness._unseeded", (5,), (None, {"seed": GAME_NUMBER})),
    ("gameserver._randomness._unseeded", (5,), (None, {"seed": "5"})),
    ("gameserver._randomness._unseeded", (5,), {"seed": "5"}),
    # A generator of the game's own kind (its getstate ran at every save, unguarded).
    ("tests.data.checked_games.dice.LoadedDie", (), None),
    # Something else in the generator's place (a save then failed outside the guard).
    ("builtins.int", (5,), None),
    ("builtins.dict", (), None),
])
def test_a_crafted_generator_is_refused_when_the_game_is_restored(
        guard: GameGuard, target: str, args: tuple[Any, ...], state: Any) -> None:
    """Only a generator the framework saved comes back. Before, whatever stood in the
    generator's place was taken: the next save called its ``getstate`` outside the guard
    (the game's own code, or an AttributeError instead of the game's error)."""
    def made(value: Any) -> Any:
        return {GAME_NUMBER: LoadedNumber(5), GAME_OBJECT: Dice(1)}.get(value, value) if (
            type(value) is str) else value

    args = tuple(made(arg) for arg in args)
    if type(state) is tuple:
        state = (None, {key: made(value) for key, value in state[1].items()})
    blob = crafted(DiceLater(1), target, args, state)
    with pytest.raises(GameCodeError, match="framework: game DiceLater: "):
        GameType("DiceLater", DiceLater, guard).restore(blob)


@pytest.mark.parametrize("put", [b"r" + (2 ** 24).to_bytes(4, "little"), b"p16777216\n"])
def test_a_saved_game_with_a_memo_index_past_its_opcodes_is_refused_unloaded(
        guard: GameGuard, put: bytes) -> None:
    """A crafted store row of 12 bytes, ``LONG_BINPUT`` 1,000,000,000: the unpickler made
    and zeroed a memo of twice as many slots (16 GB, 80 s of the server's loop here) before
    anything could refuse the game. (The test's index makes 256 MB.)"""
    game_type = GameType("DiceLater", DiceLater, guard)
    with pytest.raises(GameCodeError, match="a memo index of 16777216 after 3 opcodes"):
        game_type.restore(b"\x80\x02N" + put + b".")
    game = game_type.new_game(1, seed=3)
    assert play(game_type.restore(game.snapshot()), 5) == play(game, 5)


def test_the_seed_of_a_generator_saved_before_its_first_draw_is_all_it_loads(
        guard: GameGuard) -> None:
    """The loader the allow-list has for it takes an int, and the game draws as the game
    made from that seed."""
    game_type = GameType("DiceLater", DiceLater, guard)
    blob = crafted(DiceLater(1), "gameserver._randomness._unseeded", (11,))
    assert play(game_type.restore(blob), 10) == play(game_type.new_game(1, seed=11), 10)


LATE = f'''
import random
import time
from random import choice

from abstract_game import AbstractGame

FIRST_DRAW = {SAVE_EVERY + 2}  # after the worker's first saved copy


class Late(AbstractGame):
    def __init__(self, players):
        self.players, self.turn, self.draws = players, 0, []

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        return self.turn

    def game_over(self):
        return False

    def state(self, player_id):
        return {{"draws": self.draws[-3:], "turn": self.turn}}

    def move(self, move, player_id):
        time.sleep(move.get("sleep", 0))
        if move["n"] >= FIRST_DRAW:
            own = random.Random() if move["n"] % 5 == 0 else random
            self.draws.append((own.randint(1, 1000), choice("abcdef")))
        else:
            self.draws.append(None)
        self.turn = (self.turn + 1) % self.players
'''


def test_a_game_in_a_worker_that_draws_late_comes_back_drawing_as_in_process(
        tmp_path: Path) -> None:
    """Games k moves in share a worker that is killed: games with no saved copy are made
    again from their seed, the others come back from a copy saved before their first draw
    (k < FIRST_DRAW) or after; each then draws exactly what the same game draws
    in-process."""
    from tests.test_isolation import built, ended, until, with_workers

    path = tmp_path / "late.py"
    path.write_text(LATE)
    local_type = GameType("Late", registry.load_file(path)[0], GameGuard(watchdog=False))

    async def both(local: CheckedGame, remote: Any, move: dict[str, Any]) -> None:
        player = local.current()[0]
        expected = local.move(dict(move), player)
        call = remote.move(dict(move), player)
        await ended(call)
        assert call.result() == expected
        for player_id in (0, 1):
            assert remote.view_reply(player_id) == local.view_reply(player_id)

    async def check(isolation: Any, remote_types: dict[str, Any]) -> None:
        pairs = []
        for k in (0, 1, SAVE_EVERY, SAVE_EVERY + 1, SAVE_EVERY + 3, 2 * SAVE_EVERY + 1):
            pair = (local_type.new_game(2, seed=k),
                    await built(remote_types["Late"].new_game(2, seed=k)))
            for i in range(k):
                await both(*pair, {"n": i})
            pairs.append((k, *pair))
        local, remote = pairs[0][1:]
        worker = isolation.workers[0]
        pid = worker.pid
        assert pid is not None
        killed = remote.move({"n": 0, "sleep": 30}, local.current()[0])
        await until(lambda: worker.busy and worker._process is not None
                    and worker._process.unread() == 0, "the move read by the worker")
        os.kill(pid, signal.SIGKILL)
        await ended(killed)
        assert killed.error is not None and "died during move()" in killed.error
        for k, local, remote in pairs:
            for i in range(k, k + 2 * SAVE_EVERY + 5):
                await both(local, remote, {"n": i})

    with_workers(("file", str(path)), check)


def test_current_and_game_over_are_asked_once_per_change(guard: GameGuard) -> None:
    game = GameType("Plain", Plain, guard).new_game(1)
    calls = []
    game._instance.current_player = lambda: calls.append("current") or 0  # type: ignore
    for _ in range(3):
        assert game.current() == [0]
    assert calls == ["current"]
    assert game.move({}, 0) is None
    assert game.current() == [0] and calls == ["current", "current"]


def test_reading_the_instance_forgets_remembered_answers(guard: GameGuard) -> None:
    game = GameType("Plain", Plain, guard).new_game(1)
    assert game.current() == [0]
    game.instance.answer = [0, 0]  # a test setting up a position
    assert game.current() == [0, 0]


@pytest.mark.parametrize(("answer", "message"), [
    ("0", "current_player() must return a player id or a list of player ids, not str"),
    ([0, "1"], "current_player() must return a player id or a list of player ids, not list"),
    # The usual answer, one id in a list, is taken a quicker way: checked the same.
    ([True], "current_player() must return a player id or a list of player ids, not list"),
    ([1.0], "current_player() must return a player id or a list of player ids, not list"),
    ([sys.maxsize + 1], "current_player() must return player ids of at most 19 digits"),
    ([-sys.maxsize - 1], "current_player() must return player ids of at most 19 digits"),
    ([10 ** 5000], "current_player() must return player ids of at most 19 digits"),
])
def test_a_bad_current_player_is_named(guard: GameGuard, answer: Any, message: str) -> None:
    game = GameType("Plain", Plain, guard).new_game(1)
    game.instance.answer = answer
    with pytest.raises(GameCodeError, match=re.escape("framework: game Plain: " + message)):
        game.current()


def test_current_is_a_copy_of_the_games_list(guard: GameGuard) -> None:
    game = GameType("Plain", Plain, guard).new_game(1)
    answer = game.instance.answer = [0]
    assert game.current() == [0] and game.current() is not answer
    game.instance.answer = (0,)
    game._current = None
    assert game.current() == [0]


def test_current_is_empty_once_the_game_is_over(guard: GameGuard) -> None:
    game = GameType("Plain", Plain, guard).new_game(1)
    for _ in range(3):
        game.move({}, 0)
    assert game.view(0) == {"turns": 3, "current": [], "gameover": True}


def test_a_view_is_a_copy_of_the_state_with_current_and_game_over(guard: GameGuard) -> None:
    game = GameType("Plain", Plain, guard).new_game(1)
    state = game.instance.state(0)
    game.instance.state = lambda player_id: state  # type: ignore[method-assign]
    assert game.view(0) == {"turns": 0, "current": [0], "gameover": False}
    assert state == {"turns": 0}  # the game's own dict is left alone
    game.instance.state = lambda player_id: [0]  # type: ignore[method-assign]
    with pytest.raises(GameCodeError, match=re.escape(
            "framework: game Plain: state() must return a dict, not list")):
        game.view(0)


def test_a_bundled_games_state_that_is_not_json_is_named(guard: GameGuard) -> None:
    game = GameType("TicTacToe", TicTacToe, guard).new_game(2, seed=1)
    assert game.type.plain_states
    game.instance.winner = {1}  # a set: no JSON
    with pytest.raises(GameCodeError, match=re.escape(
            "framework: game TicTacToe: state() returned something that cannot be sent as "
            "JSON (Object of type set is not JSON serializable)")) as caught:
        game.view_reply(0)
    assert isinstance(caught.value.__cause__, TypeError)


def test_a_rejection_that_is_not_json_is_the_games_error(guard: GameGuard) -> None:
    game = GameType("Plain", Plain, guard).new_game(1)
    assert game.move({"reject": "no"}, 0) == "no"
    with pytest.raises(GameCodeError, match="move\\(\\) rejected the move with a value "
                                            "that is not JSON"):
        game.move({"reject": {1, 2}}, 0)


def test_views_carry_legal_moves_only_for_players_on_turn(guard: GameGuard) -> None:
    game = GameType("TicTacToe", TicTacToe, guard).new_game(2, seed=1)
    mover = game.current()[0]
    assert len(game.view(mover, legal_moves=True)["legal_moves"]) == 9
    assert game.view(1 - mover, legal_moves=True)["legal_moves"] == []


def test_a_reply_with_legal_moves_spliced_into_the_one_without_is_the_encoded_one(
        guard: GameGuard) -> None:
    """At the start (the mover's nine moves, the other's none), in the middle and at the
    end (nobody's moves), byte for byte."""
    game = GameType("TicTacToe", TicTacToe, guard).new_game(2, seed=1)
    for position in (None, 4, 0, 1, 2, 7):  # (the first mover wins: 4, 1, 7)
        if position is not None:
            assert game.move({"position": position}, game.current()[0]) is None
        for player in (0, 1):
            spliced = game.legal_reply(player, game.view_reply(player))
            assert spliced == game.view_reply(player, legal_moves=True)
    assert game.game_over()


class _OwnLegalMoves(TicTacToe):
    """TicTacToe whose state has a key of the name the framework adds."""

    def state(self, player_id: int) -> dict[str, Any]:
        return {"legal_moves": "mine", **super().state(player_id)}


@pytest.mark.parametrize("plain", [True, False])
def test_legal_moves_are_not_spliced_into_a_state_with_its_own_or_of_a_game_not_bundled(
        guard: GameGuard, plain: bool) -> None:
    """A state's own "legal_moves" is replaced in place (first key, not last): spliced,
    it would come twice. A game not bundled may have keys of its own kind in its state:
    never spliced (None: the caller encodes the view)."""
    game_type = GameType("OwnLegalMoves", _OwnLegalMoves, guard)
    game_type.plain_states = plain  # (as if bundled: the check of the key is what is left)
    game = game_type.new_game(2, seed=1)
    mover = game.current()[0]
    assert game.legal_reply(mover, game.view_reply(mover)) is None
    assert list(game.view(mover, legal_moves=True))[0] == "legal_moves"
    tictactoe = GameType("TicTacToe", TicTacToe, guard)
    tictactoe.plain_states = False
    game = tictactoe.new_game(2, seed=1)
    assert game.legal_reply(mover, game.view_reply(mover)) is None


def test_a_spliced_reply_whose_legal_moves_are_not_json_is_the_games_error(
        guard: GameGuard) -> None:
    game = GameType("TicTacToe", TicTacToe, guard).new_game(2, seed=1)
    mover = game.current()[0]
    reply = game.view_reply(mover)
    game.instance.legal_moves = lambda player_id: [{"position": {4}}]  # type: ignore
    with pytest.raises(GameCodeError, match=re.escape(
            "framework: game TicTacToe: state() returned something that cannot be sent as "
            "JSON (Object of type set is not JSON serializable)")):
        game.legal_reply(mover, reply)
    with pytest.raises(GameCodeError, match=re.escape(
            "framework: game TicTacToe: state() returned something that cannot be sent as "
            "JSON (Object of type set is not JSON serializable)")):
        game.view_reply(mover, legal_moves=True)


def test_the_player_count_check_names_the_range(guard: GameGuard) -> None:
    game_type = GameType("TicTacToe", TicTacToe, guard)
    game_type.check_player_count(2)
    with pytest.raises(Exception, match="TicTacToe is played by exactly 2 players, not 3"):
        game_type.check_player_count(3)


def test_json_problem_says_what_is_wrong() -> None:
    assert json_problem({"a": [1, "x", None]}) == ""
    assert "set" in json_problem({"a": {1}})
    assert "NaN" in json_problem(float("nan")) or "Out of range" in json_problem(float("nan"))


def test_the_player_range_is_read_once_unless_reading_it_failed(guard: GameGuard) -> None:
    """Every join checks the player range: it is the game's, read once (as a game in a
    worker process has it); a read that failed is tried again by the next join."""
    asked: list[str] = []

    class Flaky(Plain):
        @staticmethod
        def min_players() -> int:
            asked.append("min")
            if len(asked) == 1:
                raise RuntimeError("not yet")
            return 2

        @staticmethod
        def max_players() -> int:
            asked.append("max")
            return 3

    game_type = GameType("Flaky", Flaky, guard)
    with pytest.raises(GameCodeError, match="min_players"):
        game_type.check_player_count(2)
    game_type.check_player_count(2)
    with pytest.raises(Exception, match="invalid number of players: Flaky is played by 2 to "
                       "3 players, not 4"):
        game_type.check_player_count(4)
    assert game_type.player_range() == (2, 3)
    assert asked == ["min", "min", "max"]  # the failed read, then one that is kept


ODD_STATES = '''from gameserver.game import AbstractGame


class Board(dict):
    """A dict of the game's own kind: encoding the state calls its items()."""

    def items(self):
        if self.get("loop"):
            while True:
                pass
        return 1 / 0


class Top(dict):
    """A state of the game's own kind: copying it calls its keys() (it has its own
    __iter__)."""

    def __iter__(self):
        return iter(())

    def keys(self):
        return [1 / 0]


class OddState(AbstractGame):
    def __init__(self, players):
        self.loop = False
        self.top = False

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return [0]

    def game_over(self):
        return False

    def state(self, player_id):
        return Top() if self.top else {"board": Board(loop=self.loop)}

    def move(self, move, player_id):
        if move.get("reject"):  # rejected, with a value of the game's own kind
            return Board(loop=move.get("loop"))
        self.loop = bool(move.get("loop"))
        self.top = bool(move.get("top"))
'''


@pytest.mark.parametrize(("what", "loop", "expected"), [
    ("state", False, "raised ZeroDivisionError: division by zero"),
    ("state", True, "took longer than 0.5 s and was stopped"),
    ("rejection", False, "raised ZeroDivisionError: division by zero"),
    ("rejection", True, "took longer than 0.5 s and was stopped"),
    ("top", False, "raised ZeroDivisionError: division by zero"),  # the state's own copy
])
def test_game_code_that_runs_while_a_reply_is_encoded_is_guarded(tmp_path, what, loop,
                                                                 expected) -> None:
    """A state (or a move's rejection) holding a dict subclass runs the game's items()
    in the JSON encoder, which ran outside the guard: in the server process
    (isolate_games off, as on Windows) such a loop stalled every session for ever, and
    an exception was an internal error."""
    (tmp_path / "odd_state.py").write_text(ODD_STATES)
    with ServerProcess("--games-dir", str(tmp_path), "--isolate-games", "off",
                       "--game-call-timeout", "0.5") as server:
        player = Player(server.port, "OddState", "odd", 1)
        assert player.join()["status"] == "ok"
        request_data = {"game": "OddState", "session": "odd", "player_id": 0,
                        "key": player.key}
        if what == "rejection":
            request_data |= {"type": "move", "move": {"reject": True, "loop": loop}}
        else:
            assert player.move(loop=loop, top=what == "top") == {"status": "ok", "data": None}
            request_data |= {"type": "state", "observer": False}
        reply = request(server.port, request_data, timeout=20)
        method = "move" if what == "rejection" else "state"
        assert reply["status"] == "error" and reply["message"].startswith(
            f"framework: game OddState: {method}() {expected}"), reply
        other = Player(server.port, "Echo", "other", 1)  # the server goes on
        assert other.join()["status"] == "ok"


def test_a_wrong_value_a_game_returns_is_in_the_servers_log(make_server, tmp_path: Path,
                                                             caplog) -> None:
    """The teacher reads the server's log to see whose game broke: an exception was logged
    with its traceback, a value of the wrong kind (a forgotten return) only told the player."""
    caplog.set_level(logging.INFO, logger="gameserver")
    source = (Path(__file__).parent / "data" / "mixed_games" / "no_move.py").read_text()
    (tmp_path / "no_return.py").write_text(
        source.replace("class NoMove", "class NoReturn")
        .replace("        return {}", '        {"forgot": "return"}')
        .replace("    def game_over(self):", "    def move(self, move, player_id):\n"
                 "        return None\n\n    def game_over(self):"))
    server = make_server(games_dirs=[str(tmp_path)])
    player = Player(server.port, "NoReturn", "s", 1)
    player.join()
    text = "game NoReturn: state() must return a dict, not NoneType"
    assert player.state() == {"status": "error", "message": "framework: " + text}
    until(lambda: text in [r.getMessage() for r in caplog.records], "logged", 30)



@pytest.mark.parametrize("isolate_games", ["folder", "off"])
def test_a_move_returning_true_is_logged_once_for_the_operator(
        make_server, caplog, isolate_games: str) -> None:
    """The player got the error 'True' for every move, and the server's log said nothing:
    an instructor whose student's client "cannot move" had only the checker to ask."""
    from game_server_api import GameServerAPI, IllegalMove

    caplog.set_level(logging.WARNING, logger="gameserver")
    server = make_server(games_dirs=[str(Path(__file__).parent / "data" / "broken")],
                         isolate_games=isolate_games)
    api = GameServerAPI(server.host, server.port, "BrokenGame", session="t", players=1)
    api.join()
    for _ in range(3):
        with pytest.raises(IllegalMove, match="^True$"):
            api.move(**{"break": "true"})
    told = [r.getMessage() for r in caplog.records if "returned True" in r.getMessage()]
    assert told == ["game BrokenGame: move() returned True, which rejects the move (the "
                    "player gets the error 'True'); a move is accepted when move() returns "
                    "None (or False): if True meant 'accepted', return nothing"], told
