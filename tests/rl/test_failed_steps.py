"""After a step that failed: reset first (the game's state is not known), and a reply
still to come for an interrupted request goes nowhere."""

from __future__ import annotations

import signal
import socket
import threading
from typing import Any

import numpy as np
import pytest

from gameserver.rl import GameError, _remote, aec_env, gym_env, vector_env

TIMEOUT = 20.0  # seconds for any reply: a request that blocks by mistake fails the test
RESET_FIRST = (r"^call reset\(\) first: the last (step|observation of player_.) failed "
               r"\(.*\), so the game's state is not known here \(the move may have been "
               r"made or not")


def make_env(kind: str, address: Any = None, **options: Any) -> Any:
    if address is not None:
        options["timeout"] = TIMEOUT
    if kind == "aec":
        return aec_env("Nim", server=address, **options)
    if kind == "gym":
        return gym_env("Nim", server=address, **options)
    return vector_env("Nim", 2, server=address, **options)


def legal_step(env: Any, kind: str, info: Any) -> Any:
    """One step with a legal action (the first one)."""
    if kind == "aec":
        observation, *_ = env.last()
        return env.step(int(np.flatnonzero(observation["action_mask"])[0]))
    masks = info["action_mask"]
    if kind == "gym":
        return env.step(int(np.flatnonzero(masks)[0]))
    return env.step([int(np.flatnonzero(row)[0]) if row.any() else 0 for row in masks])


@pytest.mark.parametrize("kind", ["aec", "gym", "vector"])
def test_a_step_after_one_that_failed_on_the_network_says_to_reset_first(
        make_server, kind: str) -> None:
    """A step after one that failed (the server stopped) played on from the views the env
    had: a killed server has lost the moves it had not yet saved (a step does not wait
    for the disk), so the env's game was not the server's any more: an AEC env said
    "action 0 is not legal now (legal: [])" at every step, a gym env could take a fresh
    view without its turn for an illegal action (a loss). Now the next step says to reset
    first, with the failure; reset() then goes on, on the server back at the address."""
    first = make_server()
    port = first.port
    env = make_env(kind, (first.host, port))
    info = None if kind == "aec" else env.reset(seed=1)[1]
    if kind == "aec":
        env.reset(seed=1)
    info = legal_step(env, kind, info)
    info = None if kind == "aec" else info[-1]
    first.stop()
    with pytest.raises(GameError, match="connection|shutting down|cannot connect"):
        legal_step(env, kind, info)
    make_server(port=port)
    for _ in range(2):  # (each time, until a reset)
        with pytest.raises(GameError, match=RESET_FIRST):
            legal_step(env, kind, info)
    info = None if kind == "aec" else env.reset(seed=2)[1]
    if kind == "aec":
        env.reset(seed=2)
    legal_step(env, kind, info)
    env.close()


def test_a_step_cut_short_by_the_opponents_policy_says_to_reset_first() -> None:
    """An opponent's policy that raised left the turn half played (the agent's move made,
    the opponent's not): the next step took the agent's fresh view, without its turn,
    for an illegal action, and ended the episode as a loss without a word."""
    armed = []

    def policy(observation: Any, mask: Any) -> int:
        if armed and not armed.pop():
            raise ZeroDivisionError("the policy's own bug")
        return int(np.flatnonzero(mask)[0])

    env = gym_env("TicTacToe", seat=0, opponent=policy)
    observation, info = env.reset(seed=1)
    armed.append(False)  # (its next call raises: in the step, after the agent's move)
    with pytest.raises(ZeroDivisionError):
        env.step(int(np.flatnonzero(info["action_mask"])[0]))
    with pytest.raises(GameError, match=RESET_FIRST.replace(r"\(.*\), so",
                                                            r"\(.*own bug\), so")):
        env.step(int(np.flatnonzero(env.action_masks())[0]))
    observation, info = env.reset()
    env.step(int(np.flatnonzero(info["action_mask"])[0]))  # (the policy plays on)
    with pytest.raises(TypeError, match="whole number"):
        env.step(1.0)  # a refused action's type changes nothing: the episode goes on
    env.step(int(np.flatnonzero(env.action_masks())[0]))
    env.close()


def test_a_vector_env_stepped_before_reset_says_so() -> None:
    envs = vector_env("Nim", 2)
    with pytest.raises(GameError, match=r"^call reset\(\) first: no episode is under way"):
        envs.step([0, 0])
    envs.close()


class Interrupt(BaseException):
    """What the signal handler raises: Ctrl-C in a notebook, as the link meets it."""


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signal handlers are set in the main thread only")
def test_a_reply_awaited_when_ctrl_c_came_goes_nowhere() -> None:
    """Ctrl-C (a notebook's interrupt) while a step awaited its reply left the connection
    open: the reply came later, before the next request, which failed with "the server
    sent a reply that no request asked for ... is that a game server?" (or, were it still
    on its way, was taken for that request's own reply). The link now closes the
    connection, and the next request goes on a new one."""
    listener = socket.create_server(("127.0.0.1", 0))
    asked = threading.Event()
    interrupted = threading.Event()
    replied = threading.Event()
    main = threading.main_thread().ident
    assert main is not None

    def serve() -> None:
        first, _ = listener.accept()
        with first:
            first.recv(1024)
            asked.set()
            signal.pthread_kill(main, signal.SIGUSR1)  # (the wait ends with Interrupt)
            interrupted.wait(TIMEOUT)
            try:
                first.sendall(b'{"status": "ok", "data": 1}EOT\x00')  # (late, unasked)
            except OSError:
                pass
            replied.set()
            listener.settimeout(TIMEOUT)
            second, _ = listener.accept()
        with second:
            second.recv(1024)
            second.sendall(b'{"status": "ok", "data": 2}EOT\x00')

    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupt

    previous = signal.signal(signal.SIGUSR1, interrupt)
    server = threading.Thread(target=serve)
    server.start()
    link = _remote.Link(listener.getsockname()[:2], timeout=TIMEOUT)
    try:
        with pytest.raises(Interrupt):
            link.exchange([_remote._encode({"type": "state", "keep_alive": True})])
        assert asked.is_set()
        interrupted.set()
        assert replied.wait(TIMEOUT)
        replies = link.exchange([_remote._encode({"type": "state", "keep_alive": True})])
        assert replies == [{"status": "ok", "data": 2}]
    finally:
        signal.signal(signal.SIGUSR1, previous)
        interrupted.set()
        link.close()
        server.join(TIMEOUT)
        listener.close()
