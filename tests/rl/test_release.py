"""How an env gives its sessions back: ``with``, ``close()``, dropped, the program's end."""

from __future__ import annotations

from typing import Any

import pytest

from gameserver.rl import GameError, aec_env, gym_env, vector_env

TIMEOUT = 20.0  # seconds for any reply: a request that blocks by mistake fails the test


def make_env(kind: str, server: Any = None) -> Any:
    address = None if server is None else (server.host, server.port)
    options = {} if server is None else {"timeout": TIMEOUT}
    if kind == "aec":
        return aec_env("Nim", server=address, **options)
    if kind == "gym":
        return gym_env("Nim", server=address, **options)
    return vector_env("Nim", 2, server=address, **options)


def sessions_of(server: Any) -> list[tuple[str, str]]:
    return server.call(lambda: sorted(server.server.lobby.sessions))


@pytest.mark.parametrize("kind", ["aec", "gym", "vector"])
def test_every_env_is_a_context_manager_that_closes_it(make_server, kind: str) -> None:
    """``with aec_env(...) as env:`` and ``with vector_env(...) as envs:`` failed ("does
    not support the context manager protocol"): Gymnasium's ``Env`` is one, PettingZoo's
    ``AECEnv`` and Gymnasium's ``VectorEnv`` are not. The same rules as Gymnasium's: the
    env itself, closed at the end (its sessions left), an exception going on."""
    server = make_server()
    with pytest.raises(ZeroDivisionError):
        with make_env(kind, server) as env:
            assert type(env).__name__ == {"aec": "GameAECEnv", "gym": "GameGymEnv",
                                          "vector": "GameVectorEnv"}[kind]
            env.reset(seed=1)
            assert len(sessions_of(server)) == (2 if kind == "vector" else 1)
            1 / 0  # noqa: B018 (the block fails)
    assert sessions_of(server) == []
    with pytest.raises(GameError, match="this environment was closed"):
        env.reset()
    with make_env(kind) as local:  # in-process: its guard is stopped
        local.reset(seed=1)
    with pytest.raises(GameError, match="this environment was closed"):
        local.reset()
