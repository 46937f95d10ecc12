"""gameserver.rl.gym_env and vector_env: Gymnasium's check_env, opponents, one connection."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from game_server_api import GameServerAPI, GameServerError
from gameserver.protocol import framework_error
from gameserver.rl import GameError, RandomAgent, SessionGone, gym_env, vector_env
from tests.rl.helpers import GAMES_WITH_HOOKS
from tests.rl.test_aec import OFF_BY_ONE, OffByOne

ROOT = Path(__file__).resolve().parent.parent.parent

# check_env can try other render modes only on envs made by gymnasium.make (registered).
NO_SPEC = "Not able to test alternative render modes due to the environment not having a spec"


def run_check_env(env: Any) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    unexpected = [str(w.message) for w in caught if NO_SPEC not in str(w.message)]
    assert not unexpected, unexpected


@pytest.mark.parametrize("game, seat", [(g, 0) for g in GAMES_WITH_HOOKS] + [("Nim", 1)])
def test_check_env_passes_in_process(game: str, seat: int) -> None:
    env = gym_env(game, seat=seat, render_mode="ansi")
    try:
        run_check_env(env)
    finally:
        env.close()


# Games whose chance is all on our side: over the network the server draws the game's
# own chance (who starts TicTacToe), which check_env's seed determinism cannot allow for.
@pytest.mark.parametrize("game", ["Nim", "RockPaperScissors", "NumberRace"])
def test_check_env_passes_over_a_real_server(server, game: str) -> None:
    env = gym_env(game, server=(server.host, server.port))
    try:
        run_check_env(env)
    finally:
        env.close()


def lowest_legal(observation: np.ndarray, action_mask: np.ndarray) -> int:
    return int(np.flatnonzero(action_mask)[0])


def test_a_callable_opponent_moves_before_the_agent_when_it_starts() -> None:
    env = gym_env("Nim", seat=1, opponent=lowest_legal)  # player 0 starts Nim
    observation, info = env.reset(seed=1)
    # The opponent took 1 object from heap 0: heaps 2, 4, 5 (one-hot rows).
    assert observation.argmax(axis=1).tolist() == [2, 4, 5]
    assert info["action_mask"].tolist() == env.action_masks().tolist()
    assert info["action_mask"].sum() == 2 + 4 + 5
    env.close()


def test_a_whole_game_ends_with_the_winners_reward() -> None:
    env = gym_env("Nim", seat=0, opponent=lowest_legal)  # it takes 1 from the first heap
    env.reset(seed=1)  # heaps 3, 4, 5; action = heap * 5 + take - 1
    _, reward, terminated, _, _ = env.step(14)  # heap 2, take 5 -> 3 4 0 -> 2 4 0
    assert (reward, terminated) == (0.0, False)
    observation, reward, terminated, _, _ = env.step(8)  # heap 1, take 4 -> 2 0 0 -> 1 0 0
    assert (reward, terminated) == (0.0, False)
    assert observation.argmax(axis=1).tolist() == [1, 0, 0]
    observation, reward, terminated, truncated, info = env.step(0)  # the last object
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["action_mask"].sum() == 0
    env.close()


def test_an_opponent_that_changes_its_arrays_in_place_plays_on() -> None:
    """An opponent policy gets arrays of its own, as the agent does: one that scaled its
    observation in place failed with numpy's "output array is read-only" (the view's
    arrays are read-only since a network table keeps views to use again), and one that
    cleared its mask after choosing had its legal choice refused as "not legal now"."""
    def messy(observation: np.ndarray, action_mask: np.ndarray) -> int:
        observation *= 2.0  # (normalised in place, say)
        action = lowest_legal(observation, action_mask)
        action_mask[:] = 0
        return action

    env = gym_env("Nim", seat=0, opponent=messy)  # as test_a_whole_game_... plays it
    env.reset(seed=1)
    env.step(14)
    observation, _, _, _, _ = env.step(8)
    assert observation.argmax(axis=1).tolist() == [1, 0, 0] and observation.max() == 1.0
    _, reward, terminated, _, _ = env.step(0)
    assert (reward, terminated) == (1.0, True)
    env.close()


def test_an_illegal_action_ends_the_episode_as_a_loss() -> None:
    env = gym_env("Nim", seat=0, opponent=lowest_legal)
    env.reset(seed=4)
    env.step(14)  # heap 2 emptied
    _, reward, terminated, _, info = env.step(14)  # heap 2 again
    assert (reward, terminated, info["illegal_action"]) == (-1.0, True, True)
    with pytest.raises(GameError, match="call reset"):
        env.step(0)
    observation, _ = env.reset()  # a new game, as usual
    assert observation.argmax(axis=1).tolist() == [3, 4, 5]
    env.close()


def test_the_random_opponent_is_seeded_with_the_env() -> None:
    def first_observations(seed: int) -> list[list[float]]:
        env = gym_env("ConnectFour", seat=1)
        seen = [env.reset(seed=seed)[0].tolist() for _ in range(1)]
        for _ in range(5):
            seen.append(env.reset()[0].tolist())
        env.close()
        return seen

    assert first_observations(3) == first_observations(3)
    assert first_observations(3) != first_observations(4)


def bot_in_thread(host: str, port: int, session: str, moves: list[int],
                  errors: list[BaseException]) -> threading.Thread:
    """A client of the server playing random legal moves in ``session``; never restarts."""

    def play() -> None:
        rng = random.Random(9)
        api = GameServerAPI(host, port, "TicTacToe", session=session, players=2,
                            keep_alive=True)
        try:
            me = api.join()
            while True:
                state = api.state(legal_moves=True)
                if not state["gameover"] and me in state["current"]:
                    api.move(**rng.choice(state["legal_moves"]))
                    moves.append(me)
        except GameServerError as err:
            if "overwritten" not in str(err) and "shutting down" not in str(err):
                errors.append(err)
        finally:
            api.close()

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


def play_episodes(env: Any, episodes: int) -> list[float]:
    agent = RandomAgent(1)
    results = []
    observation, info = env.reset(seed=1)
    for _ in range(episodes):
        terminated = False
        while not terminated:
            observation, reward, terminated, _, info = env.step(
                agent(observation, info["action_mask"]))
        results.append(reward)
        observation, info = env.reset()
    assert info["action_mask"].sum() >= 8  # a fresh game, whoever opened it
    return results


def test_opponent_server_plays_the_bundled_bot(make_server) -> None:
    """As docs/rl.md shows: the bot restarts finished games, the env waits for that."""
    server = make_server()
    bot = subprocess.Popen(
        [sys.executable, "-m", "gameserver.bot", "TicTacToe", "--port", str(server.port),
         "--session", "table1", "--players", "2", "--games", "1000", "--seed", "3"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        env = gym_env("TicTacToe", opponent="server", server=(server.host, server.port),
                      session="table1", timeout=20.0)
        results = play_episodes(env, 20)
        assert len(results) == 20 and set(results) <= {-1.0, 0.0, 1.0}
        env.close()
        assert bot.poll() is None  # still playing: nothing went wrong on its side
    finally:
        bot.kill()
        _, errors = bot.communicate(timeout=20)
    assert "bot:" not in errors, errors


def test_opponent_server_that_never_restarts_with_restarts_true(make_server) -> None:
    server = make_server()
    moves: list[int] = []
    errors: list[BaseException] = []
    bot_in_thread(server.host, server.port, "versus", moves, errors)
    env = gym_env("TicTacToe", opponent="server", server=(server.host, server.port),
                  session="versus", restarts=True, timeout=20.0)
    results = play_episodes(env, 6)
    assert set(results) <= {-1.0, 0.0, 1.0} and len(results) == 6
    assert env.seat in (0, 1) and moves and all(m == 1 - env.seat for m in moves)
    env.close()
    assert not errors


def test_waiting_for_a_restart_nobody_makes_ends_with_a_clear_error(make_server) -> None:
    server = make_server()
    bot_in_thread(server.host, server.port, "nobody", [], [])
    env = gym_env("TicTacToe", opponent="server", server=(server.host, server.port),
                  session="nobody", timeout=0.5)
    agent = RandomAgent(2)
    observation, info = env.reset()
    terminated = False
    while not terminated:
        observation, _, terminated, _, info = env.step(
            agent(observation, info["action_mask"]))
    with pytest.raises(GameError, match=r"no reply from the server within 0.5 s \(waiting "
                                        "for another client"):
        env.reset()
    env.close()


def test_opponent_server_needs_a_server_and_a_session() -> None:
    with pytest.raises(ValueError, match="needs a server"):
        gym_env("TicTacToe", opponent="server")
    with pytest.raises(ValueError, match="needs session='NAME'"):
        gym_env("TicTacToe", opponent="server", server=("127.0.0.1", 1))
    with pytest.raises(ValueError, match="leave seat out"):
        gym_env("TicTacToe", seat=1, opponent="server", server=("127.0.0.1", 1),
                session="x")
    with pytest.raises(ValueError, match="vector_env cannot wait for other clients"):
        vector_env("TicTacToe", 2, opponent="server", server=("127.0.0.1", 1))


def masked_random_actions(rng: random.Random, masks: np.ndarray, ended: np.ndarray) -> list:
    return [0 if ended[n] else int(rng.choice(np.flatnonzero(masks[n])))
            for n in range(len(masks))]


def play_vector(env: Any, steps: int) -> tuple[int, int]:
    """Random masked steps; (episodes ended, autoresets checked)."""
    rng = random.Random(1)
    observations, infos = env.reset(seed=5)
    assert observations.shape == (env.num_envs, 3, 3, 3)
    ended = np.zeros(env.num_envs, dtype=bool)
    episodes = restarts = 0
    for _ in range(steps):
        actions = masked_random_actions(rng, infos["action_mask"], ended)
        was_ended = ended
        observations, rewards, ended, truncated, infos = env.step(actions)
        assert not truncated.any()
        for n in np.flatnonzero(was_ended):  # next-step autoreset: a fresh game, no reward
            assert rewards[n] == 0 and not ended[n] and infos["action_mask"][n].sum() >= 8
            restarts += 1
        episodes += int(ended.sum())
    return episodes, restarts


def test_vector_env_in_process() -> None:
    env = vector_env("TicTacToe", 4)
    episodes, restarts = play_vector(env, 40)
    assert episodes >= 8 and restarts >= 4
    env.close()


def test_vector_env_of_16_sessions_uses_one_connection(make_server) -> None:
    server = make_server()
    env = vector_env("TicTacToe", 16, server=(server.host, server.port), session="vec")
    episodes, restarts = play_vector(env, 20)
    assert episodes >= 16 and restarts >= 8
    assert server.call(lambda: len(server.server.connections)) == 1
    tokens = server.call(lambda: sorted(s.token for s in server.server.lobby.sessions.values()))
    assert tokens == sorted(f"vec-{n}" for n in range(16))
    env.close()


def test_a_current_player_that_names_no_seat_is_a_clear_error() -> None:
    """An opponent's seat named by the game (player 2 of 2) was an IndexError from inside
    the table (the list of its views)."""
    env = gym_env(OffByOne, seat=0)
    env.reset()
    with pytest.raises(GameError, match=OFF_BY_ONE):
        env.step(0)
    env.close()


@pytest.mark.parametrize("remote", [False, True], ids=["in-process", "network"])
def test_an_action_as_a_numpy_array_of_no_dimensions_is_played(server, remote: bool) -> None:
    """Stable-Baselines3's ``model.predict(observation)`` returns the action for one
    observation as an array of shape (), which Gymnasium's ``Discrete.contains`` accepts;
    the env took it for an illegal action: every such step was a lost episode."""
    env = gym_env("Nim", seat=0, opponent=lowest_legal,
                  server=(server.host, server.port) if remote else None)
    env.reset(seed=1)  # heaps 3, 4, 5; action = heap * 5 + take - 1
    action = np.array(14)  # heap 2, take 5
    assert env.action_space.contains(action)
    observation, reward, terminated, _, info = env.step(action)
    assert (reward, terminated, "illegal_action" in info) == (0.0, False, False)
    assert observation.argmax(axis=1).tolist() == [2, 4, 0]  # the opponent took 1 from heap 0
    observation, *_ = env.step(np.array(8, dtype=np.uint8))  # heap 1, take 4
    assert observation.argmax(axis=1).tolist() == [1, 0, 0]
    # What the action space does not contain is refused (test_an_action_that_is_no_...).
    assert not env.action_space.contains(np.array([0]))
    with pytest.raises(TypeError, match=r"not array\(\[0\]\) \(a numpy array of shape "
                       r"\(1,\)"):
        env.step(np.array([0]))
    env.close()


@pytest.mark.parametrize("remote", [False, True], ids=["in-process", "network"])
def test_an_action_that_is_no_whole_number_is_a_type_error_not_a_lost_episode(
        server, remote: bool) -> None:
    """A float (``3.0``, ``np.float32(3)``), a bool or an array of one dimension was taken
    for an illegal action: the episode ended as a loss, and a policy that gave floats
    lost every episode without a word. Refused as Gymnasium's ``Discrete.contains``
    refuses them; the episode goes on, and the legal action then given is played."""
    address = (server.host, server.port) if remote else None
    env = gym_env("Nim", seat=0, opponent=lowest_legal, server=address, timeout=20.0)
    env.reset(seed=1)
    for action in (14.0, np.float32(14), np.float64(14.5), True, np.array([14]), "14", None):
        # (Gymnasium takes True for 1, a bool being an int to Python; not so the envs.)
        assert env.action_space.contains(action) == (action is True)
        with pytest.raises(TypeError, match=r"step: the action must be a whole number, an "
                           r"index into rl_moves .*, not ") as caught:
            env.step(action)
        assert ("pass int(action)" in str(caught.value)) == isinstance(
            action, (float, np.floating))
    observation, reward, terminated, _, info = env.step(14)  # the episode went on
    assert (reward, terminated, "illegal_action" in info) == (0.0, False, False)
    assert observation.argmax(axis=1).tolist() == [2, 4, 0]
    env.close()
    vector = vector_env("Nim", 2, opponent=lowest_legal, server=address, timeout=20.0)
    vector.reset(seed=1)
    with pytest.raises(TypeError, match="step, environment 1: the action must be a whole"):
        vector.step(np.array([14, 14.0], dtype=object))
    # Every session is as it was (none left half-stepped): both play on.
    _, rewards, terminations, _, _ = vector.step(np.array([14, 14]))
    assert rewards.tolist() == [0.0, 0.0] and not terminations.any()
    vector.close()


def test_an_opponent_policy_that_answers_with_no_whole_number_is_a_clear_error() -> None:
    """It was numpy's IndexError ("only integers, slices ... are valid indices")."""
    env = gym_env("Nim", seat=1, opponent=lambda o, m: float(lowest_legal(o, m)))
    with pytest.raises(GameError, match=r"the opponent's policy chose action 0.0, which is "
                       r"not a whole number \(an int: an index into rl_moves\)"):
        env.reset(seed=1)
    env.close()


def test_misuse_before_reset_and_after_close_is_a_clear_error() -> None:
    """``step`` before the first ``reset`` said "the episode has ended"; a vector env
    given fewer actions than sessions raised numpy's IndexError (more: some unused); an
    in-process env went on after ``close()`` without its watchdog, so a game call in an
    endless loop would never have been stopped."""
    env = gym_env("TicTacToe")
    with pytest.raises(GameError, match=r"call reset\(\) first: no episode is under way"):
        env.step(0)
    env.reset(seed=1)
    env.close()
    env.close()  # twice is fine
    with pytest.raises(GameError, match="this environment was closed"):
        env.reset()
    vector = vector_env("TicTacToe", 3)
    vector.reset(seed=1)
    for actions in ([0, 1], [0, 1, 2, 3], 0):
        with pytest.raises(ValueError, match=r"one action per environment \(3\)"):
            vector.step(actions)
    vector.close()


def test_opponent_server_without_restarts_joins_anew_after_the_server_lost_the_session(
        make_server) -> None:
    """With ``restarts=False`` the env waits for another client to start the next game.
    A session the server removed meanwhile (idle for its game_timeout, or a restart
    without the store) was a ``SessionGone`` saying "the env's next reset() joins it
    anew", but every later reset waited for that restart again and failed the same way.
    Now the next reset joins anew, and the message says the others must join anew too."""
    server = make_server()
    errors: list[BaseException] = []
    first = bot_in_thread(server.host, server.port, "lost", [], errors)
    env = gym_env("TicTacToe", opponent="server", server=(server.host, server.port),
                  session="lost", timeout=20.0)
    agent = RandomAgent(3)
    observation, info = env.reset()
    terminated = False
    while not terminated:  # to the end; the bot never restarts
        observation, _, terminated, _, info = env.step(agent(observation,
                                                             info["action_mask"]))
    server.call(lambda: [
        server.server.lobby.remove_session(session, framework_error("game session has "
                                                                    "timed out"))
        for session in list(server.server.lobby.sessions.values())])
    first.join(20)
    assert len(errors) == 1 and "call join() again" in str(errors[0])  # (the bot's words)
    with pytest.raises(SessionGone, match=r"the server no longer has session 'lost': .*the "
                       r"env's next reset\(\) joins it anew, and waits until the other "
                       "players have joined it again: their clients must join anew too"):
        env.reset()
    errors.clear()
    bot_in_thread(server.host, server.port, "lost", [], errors)  # the bot comes back
    observation, info = env.reset()
    assert info["action_mask"].sum() >= 8  # a fresh game in the session made anew
    names = server.call(lambda: [len(s.players) for s in server.server.lobby.sessions.values()])
    assert names == [2]
    env.close()
    assert not errors


@pytest.mark.parametrize("remote", [False, True], ids=["in-process", "network"])
def test_the_mask_of_a_session_an_illegal_action_ended_is_all_zeros(server, remote: bool
                                                                     ) -> None:
    """A session ended by an illegal action kept the mask of the actions legal before it,
    in its row of the vector env's ``info["action_mask"]`` and in ``action_masks()``, where
    a session whose game ended has all zeros: the episode is over, no action is legal in
    it (the next step ignores its action: next-step autoreset)."""
    address = (server.host, server.port) if remote else None
    with vector_env("Nim", 2, server=address) as envs:
        _, infos = envs.reset(seed=4)
        masks = infos["action_mask"]
        illegal = int(np.flatnonzero(masks[0] == 0)[0])
        legal = int(np.flatnonzero(masks[1])[0])
        _, rewards, ended, _, infos = envs.step([illegal, legal])
        assert ended.tolist() == [True, False] and rewards[0] == -1.0
        assert infos["illegal_action"][0] and infos["_illegal_action"].tolist() == [True, False]
        assert infos["action_mask"][0].tolist() == [0] * len(masks[0])
        assert infos["action_mask"][1].any()
        assert not envs.envs[0].action_masks().any()
        _, rewards, ended, _, infos = envs.step([0, int(np.flatnonzero(
            infos["action_mask"][1])[0])])  # session 0 starts its next game
        assert rewards[0] == 0.0 and not ended[0] and infos["action_mask"][0].any()
    env = gym_env("Nim", seat=0, opponent=lowest_legal, server=address)
    _, info = env.reset(seed=4)
    _, _, terminated, _, info = env.step(int(np.flatnonzero(info["action_mask"] == 0)[0]))
    assert terminated and info["illegal_action"] and not info["action_mask"].any()
    assert not env.action_masks().any()
    env.close()
