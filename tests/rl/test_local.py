"""The in-process table: the server's session rules and guarded game calls, no network."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from gameserver.rl import GameError, aec_env, vector_env
from gameserver.rl._local import LocalTable
from tests.rl.test_aec import Fragile
from tests.test_testing import run_stuck, stuck_message


class Endless(Fragile):
    def move(self, move: dict, player_id: int) -> None:
        while True:
            pass


class Grabby(Fragile):
    """Changes the move dict it is given (the env must pass a copy)."""

    def move(self, move: dict, player_id: int) -> None:
        move["add"] = 99
        self.counter += 1


def test_an_endless_game_call_is_stopped_by_the_guard() -> None:
    env = aec_env(Endless, time_limit=0.2)
    env.reset()
    with pytest.raises(GameError, match=r"game Endless: move\(\) took longer than 0.2 s"):
        env.step(0)
    env.close()


def test_a_collected_table_that_shared_a_guard_leaves_it_watching_for_the_others() -> None:
    """A vector env's tables share one guard; one collected (its ``__del__``) stopped that
    guard's watchdog for all of them, and an endless call in another then hung for ever."""
    first = LocalTable(Endless, 1, ["a"], time_limit=0.2)
    other = LocalTable(Endless, 1, ["b"], guard=first.guard)
    del other
    gc.collect()
    first.start(None)
    with pytest.raises(GameError, match=r"move\(\) took longer than 0.2 s"):
        first.move(0, {})
    first.close()


def test_a_game_that_changes_its_move_dict_does_not_change_rl_moves() -> None:
    env = aec_env(Grabby)
    env.reset()
    env.step(0)
    env.step(0)
    assert Grabby.rl_moves == [{"add": 1}]
    assert env.table.view(0).state["counter"] == 2
    env.close()


def test_the_rules_of_the_server_apply() -> None:
    env = aec_env("TicTacToe")
    env.reset(seed=1)
    other = 1 - int(env.agent_selection[-1])
    with pytest.raises(GameError, match="framework: not your turn"):
        env.table.move(other, {"position": 0}, None)
    assert env.table.move(int(env.agent_selection[-1]), {"position": 9}, None) == (
        "game: position must be between 0 (top left) and 8 (bottom right)")
    with pytest.raises(GameError, match="no other clients to wait for"):
        env.table.wait(0)
    env.close()


def test_nothing_works_before_reset() -> None:
    env = aec_env("TicTacToe")
    with pytest.raises(GameError, match="call reset"):
        env.observe("player_0")
    env.close()


def test_a_call_that_catches_its_stop_ends_the_process_with_a_message(tmp_path: Path) -> None:
    """The in-process env hung for ever, silently, on a game whose bare ``except:`` in a
    loop caught the guard's interruption; now the process ends saying which call and why."""
    code, out = run_stuck(tmp_path, "-c", "from gameserver.rl import aec_env\n"
                          "from stubborn import Stubborn\n"
                          "env = aec_env(Stubborn, time_limit=0.2)\n"
                          "env.reset()\n"
                          "env.step(0)\n"
                          "print('came back')")
    assert code == 1, out
    assert stuck_message("the env's time_limit=0.2") in out
    assert "came back" not in out


def test_a_closed_env_refuses_to_play_on_so_no_game_call_runs_unguarded() -> None:
    """``close()`` stops the guard's watchdog; the env went on playing after it, and a
    game call in an endless loop then never came back."""
    env = aec_env(Endless, time_limit=0.2)
    env.reset()
    env.close()
    env.close()  # twice is fine
    with pytest.raises(GameError, match="this environment was closed: make a new one"):
        env.step(0)  # (Endless.move: without the check, a hang)
    with pytest.raises(GameError, match="this environment was closed"):
        env.reset()


def watchdogs() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "gameserver-watchdog"}


def test_an_in_process_vector_env_has_one_watchdog_thread_which_still_stops_a_call() -> None:
    """Every session of a vector env started a watchdog thread of its own: 1,024 sessions
    were 1,024 threads (and 43 MB; 24 MB now). The shared one still stops an endless call
    in any session."""
    before = watchdogs()
    env = vector_env(Endless, 8, time_limit=0.2)
    assert len(watchdogs() - before) == 1  # (those of closed envs end in their time)
    env.reset(seed=1)
    with pytest.raises(GameError, match=r"game Endless: move\(\) took longer than 0.2 s"):
        env.step([0] * 8)
    env.close()
