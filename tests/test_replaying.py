"""The replay rule: a logged move played again must get its logged verdict (no sockets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gameserver.checked import GameType
from gameserver.games.tictactoe import TicTacToe
from gameserver.guard import GameGuard
from gameserver.replaying import SLICE_BYTES, SLICE_MOVES, LoggedMove, replay, slices, verdict


def new_game() -> Any:
    return GameType("TicTacToe", TicTacToe, GameGuard(watchdog=False)).new_game(2, seed=7)


def test_a_verdict_is_none_for_an_accepted_move_and_json_text_otherwise() -> None:
    game = new_game()
    first = game.current()[0]
    assert verdict(game, {"position": 4}, first) is None
    rejection = verdict(game, {"position": 4}, 1 - first)  # taken: rejected by the game
    assert rejection is not None and rejection.startswith('"') and "4" in rejection
    game.instance.board = None  # the game now raises in move(): its error, as text
    error = verdict(game, {"position": 0}, 1 - first)
    assert error is not None and error.startswith('"framework: game TicTacToe: move() raised')


def test_moves_that_get_their_logged_verdicts_replay_the_game() -> None:
    played, first = new_game(), None
    logged: list[LoggedMove] = []
    for seq, position in enumerate((4, 4, 0), start=1):
        player = played.current()[0]
        first = player if first is None else first
        logged.append((seq, player, {"position": position},
                       verdict(played, {"position": position}, player)))
    again = new_game()
    assert replay(again, logged) is None
    assert again.view(0) == played.view(0) and again.view(1) == played.view(1)


def test_the_first_move_with_another_verdict_is_named() -> None:
    game = new_game()
    player = game.current()[0]
    logged: list[LoggedMove] = [(1, player, {"position": 4}, '"no, thanks"'),
                                (2, 1 - player, {"position": 0}, None)]
    assert replay(game, logged) == (
        "move 1 gave ok when played again, not \"no, thanks\" as logged: the game does not "
        "play the same twice (was its file changed since, or does it read the clock or use "
        "secrets?)")


def test_moves_are_sent_to_a_worker_in_bounded_slices_never_split() -> None:
    def move(seq: int, size: int) -> LoggedMove:
        return (seq, 0, {"say": "x" * size}, None)

    assert slices([]) == []
    few = [move(seq, 10) for seq in range(1, 2 * SLICE_MOVES + 2)]
    assert [len(part) for part in slices(few)] == [SLICE_MOVES, SLICE_MOVES, 1]
    big = [move(seq, SLICE_BYTES // 3) for seq in range(1, 4)] + [move(4, 10)]
    assert [len(part) for part in slices(big)] == [2, 2]
    huge = [move(1, 10), move(2, SLICE_BYTES * 2), move(3, 10)]
    assert [len(part) for part in slices(huge)] == [1, 1, 1]  # alone, never split
    assert [m for part in slices(big + huge) for m in part] == big + huge


def test_a_rejection_logged_whole_before_rejections_were_cut_still_replays() -> None:
    """A game's rejection is cut at ERROR_MAX characters now (``bounded_rejection``); a
    game saved before logged it whole, and its replay got the cut text: 'does not play
    the same twice', and the game ended at the restart. The cut of what was logged counts
    as the same verdict."""
    from gameserver import registry
    from gameserver._json import json_or_repr

    folder = Path(__file__).parent / "data" / "hostile_games" / "grumbler"
    (grumbler,) = registry.load_file(folder / "grumbler.py")
    game = GameType("Grumbler", grumbler, GameGuard(watchdog=False)).new_game(1, seed=7)
    whole = json_or_repr("no" * 2_500_000)
    listed = json_or_repr(["no", "x" * 5_000_000])
    assert replay(game, [(1, 0, {"reject": "text"}, whole), (2, 0, {}, None),
                         (3, 0, {"reject": "list"}, listed)]) is None
    other = json_or_repr("ne" * 2_500_000)  # another rejection, cut or not, still differs
    assert replay(game, [(4, 0, {"reject": "text"}, other)]) is not None
