"""gameserver.rl.aec_env: PettingZoo's api_test, in-process and over a real server."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gameserver.game import AbstractGame
from gameserver.games.nim import Nim
from gameserver.rl import GameError, RandomAgent, aec_env, gym_env
from tests.rl.helpers import GAMES_WITH_HOOKS, play_randomly, run_api_test


@pytest.mark.parametrize("game", GAMES_WITH_HOOKS)
def test_api_test_passes_in_process(game: str) -> None:
    env = aec_env(game)
    try:
        run_api_test(env)
    finally:
        env.close()


@pytest.mark.parametrize("game", GAMES_WITH_HOOKS)
def test_api_test_passes_over_a_real_server(server, game: str) -> None:
    env = aec_env(game, server=(server.host, server.port))
    try:
        run_api_test(env)
    finally:
        env.close()


@pytest.mark.parametrize("game, players", [("TicTacToe", 2), ("ConnectFour", 2), ("Nim", 2),
                                           ("RockPaperScissors", 2), ("NumberRace", 3)])
def test_random_games_end_with_rewards_from_the_winner(game: str, players: int) -> None:
    env = aec_env(game, players)
    policy = RandomAgent(3)
    env.reset(seed=3)
    outcomes = set()
    for _ in range(40):
        finals = play_randomly(env, policy)
        winner = env.table.view(0).state["winner"]
        expected = {f"player_{seat}": 0.0 if winner is None else 1.0 if seat == winner
                    else -1.0 for seat in range(players)}
        assert finals == expected
        outcomes.add(winner)
        env.reset()
    assert len(outcomes) >= 2  # the games really differ
    env.close()


def test_the_same_seed_replays_the_same_games() -> None:
    def trajectory(seed: int) -> list[Any]:
        env = aec_env("TicTacToe")
        env.reset(seed=seed)
        policy = RandomAgent(5)
        seen = []
        for _ in range(5):
            for agent in env.agent_iter():
                observation, reward, terminated, _, _ = env.last()
                seen.append((agent, observation["observation"].tolist(), reward))
                env.step(None if terminated else policy(observation["observation"],
                                                        observation["action_mask"]))
            env.reset()
        env.close()
        return seen

    assert trajectory(11) == trajectory(11)
    # TicTacToe draws who starts: over a few seeds both players open a game.
    openers = set()
    for seed in range(12):
        env = aec_env("TicTacToe")
        env.reset(seed=seed)
        openers.add(env.agent_selection)
        env.close()
    assert openers == {"player_0", "player_1"}


def test_an_illegal_or_malformed_action_is_refused_with_the_legal_ones() -> None:
    env = aec_env("Nim")
    env.reset(seed=1)
    env.step(14)  # heap 2, take 5: empties heap 2
    with pytest.raises(ValueError, match=r"action 14 is not legal now \(legal: \[0, 1, 2,"):
        env.step(14)
    with pytest.raises(ValueError, match="must be a whole number"):
        env.step(1.0)
    with pytest.raises(ValueError, match="must be a whole number"):
        env.step(True)
    env.step(np.int64(0))  # numpy integers are fine
    env.step(np.array(1))  # ... and arrays of one of no dimensions (SB3's predict)
    with pytest.raises(ValueError, match="must be a whole number"):
        env.step(np.array([2]))
    env.close()


def test_a_step_before_reset_or_after_the_last_agents_last_step_is_a_clear_error() -> None:
    """Both were a KeyError ('player_0') from inside the env."""
    env = aec_env("TicTacToe")
    with pytest.raises(GameError, match=r"call reset\(\) first: no game is under way"):
        env.step(0)
    env.reset(seed=1)
    play_randomly(env, RandomAgent(1))
    assert env.agents == []
    with pytest.raises(GameError, match=r"call reset\(\) first: no game is under way"):
        env.step(None)
    env.reset()  # and the next game as usual
    assert env.agents == ["player_0", "player_1"]
    env.close()


@pytest.mark.parametrize("remote", [False, True], ids=["in-process", "network"])
def test_rock_paper_scissors_never_shows_a_pending_choice(server, remote: bool) -> None:
    """Player 1's observation is the same whatever player 0 has just chosen."""
    seen = []
    for action in range(3):  # rock, paper, scissors
        env = aec_env("RockPaperScissors",
                      server=(server.host, server.port) if remote else None)
        env.reset(seed=2)
        assert env.agent_selection == "player_0"
        env.step(action)
        assert env.agent_selection == "player_1"
        observation = env.observe("player_1")
        seen.append(observation["observation"])
        assert observation["action_mask"].tolist() == [1, 1, 1]
        env.close()
    assert all(np.array_equal(seen[0], other) for other in seen[1:])
    assert seen[0][5] == 1  # ... and it does show that the opponent has chosen


def test_observations_are_copies_the_caller_may_change() -> None:
    env = aec_env("TicTacToe")
    env.reset(seed=1)
    first = env.observe(env.agent_selection)
    first["observation"][:] = 7
    first["action_mask"][:] = 0
    again = env.observe(env.agent_selection)
    assert again["observation"].max() == 1 and again["action_mask"].sum() == 9
    env.close()


def test_render_shows_the_selected_players_own_state() -> None:
    env = aec_env("TicTacToe", render_mode="ansi")
    env.reset(seed=1)
    text = env.render()
    assert text.startswith(f"TicTacToe, as {env.agent_selection} sees it; to move: "
                           f"{env.agent_selection}")
    assert "board: [-1, -1, -1, -1, -1, -1, -1, -1, -1]" in text
    env.close()


def test_a_game_without_hooks_or_an_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="Yahtzee has no reinforcement-learning hooks"):
        aec_env("Yahtzee")
    with pytest.raises(ValueError, match="no bundled game called 'Chess'"):
        aec_env("Chess")
    with pytest.raises(ValueError, match="invalid number of players"):
        aec_env("TicTacToe", 3)
    with pytest.raises(ValueError, match=r"server must be \(host, port\)"):
        aec_env("TicTacToe", server="localhost:4711")


def test_a_game_made_from_its_class_is_refused_saying_to_pass_the_class() -> None:
    """``aec_env(Nim(2))`` failed with ``'Nim' object has no attribute '__name__'``."""
    with pytest.raises(TypeError, match=r"^aec_env takes your game's class \(such as MyRace\), "
                       r"not a game made from it \(Nim\(\.\.\.\)\): pass the class itself, "
                       "Nim, without parentheses; aec_env makes the game$"):
        aec_env(Nim(2))
    with pytest.raises(TypeError, match=r"^gym_env takes your game's class \(such as MyRace\), "
                       "not int 3$"):
        gym_env(3)  # type: ignore[arg-type]


class Fragile(AbstractGame):
    """One player adds 1 to a counter; the game's own code fails at 3."""

    rl_moves = [{"add": 1}]
    rl_observation_shape = (2,)

    def __init__(self, players: int) -> None:
        self.counter = 0

    @staticmethod
    def min_players() -> int:
        return 1

    @staticmethod
    def max_players() -> int:
        return 1

    def current_player(self) -> int:
        return 0

    def move(self, move: dict, player_id: int) -> None:
        if self.counter == 3:
            raise KeyError("the bug in this game")
        self.counter += 1

    def game_over(self) -> bool:
        return False

    def state(self, player_id: int) -> dict:
        return {"counter": self.counter}

    def legal_moves(self, player_id: int) -> list:
        return [{"add": 1}]

    @staticmethod
    def rl_observation(state: dict, player_id: int) -> list:
        return [1, min(state["counter"], 5) / 5]


def test_a_failing_game_call_is_reported_as_on_the_server() -> None:
    env = aec_env(Fragile)
    env.reset()
    for _ in range(3):
        env.step(0)
    with pytest.raises(GameError, match=r"game Fragile: move\(\) raised KeyError: "
                                        "'the bug in this game'"):
        env.step(0)
    env.close()


class OffByOne(Nim):
    """A first-term bug: current_player() counts the players from 1, so after player 0's
    first move it names player 2 of 2."""

    def current_player(self) -> list[int]:
        return [self.turn * 2] if not self.game_over() else []


class Minus(Nim):
    """After player 0's first move, current_player() names player -1."""

    def current_player(self) -> list[int]:
        return [-self.turn] if not self.game_over() else []


OFF_BY_ONE = (r"OffByOne.current_player\(\) returned \[2\], but the players of this "
              r"2-player game are 0 to 1 \(player ids start at 0\)")


@pytest.mark.parametrize(("game", "message"), [
    (OffByOne, OFF_BY_ONE), (Minus, OFF_BY_ONE.replace("OffByOne", "Minus").replace("2", "-1", 1))])
def test_a_current_player_that_names_no_seat_is_a_clear_error(game: type, message: str) -> None:
    """It was an IndexError from inside the env (the list of its agents), or for -1 the
    last agent was selected and the episode went on."""
    env = aec_env(game)
    env.reset()
    with pytest.raises(GameError, match=message):
        env.step(0)
    env.close()


class EndlessEncoder(Nim):
    """Nim whose encoder loops once the game is under way (named Nim: a server plays it
    as Nim)."""

    @staticmethod
    def rl_observation(state: dict, player_id: int) -> list:
        if sum(state["heaps"]) < 12:
            while True:
                pass
        return Nim.rl_observation(state, player_id)


EndlessEncoder.__name__ = "Nim"


@pytest.mark.parametrize("remote", [False, True], ids=["in-process", "network"])
def test_an_endless_rl_observation_is_stopped_at_the_time_limit(server, remote: bool) -> None:
    """The env calls rl_observation itself (over the network too: the server never
    does), without the guard it gives every other game call: an endless loop there hung
    the training for ever."""
    env = aec_env(EndlessEncoder, time_limit=0.2,
                  server=(server.host, server.port) if remote else None)
    env.reset(seed=1)
    env.step(0)
    with pytest.raises(GameError, match=r"game Nim: rl_observation\(\) took longer than "
                       r"0.2 s and was stopped"):
        env.last()
    env.close()
