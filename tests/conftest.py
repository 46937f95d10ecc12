"""Shared fixtures: real servers on free loopback ports, and a TLS key pair."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.checkout_guard import pytest_configure, pytest_sessionfinish  # noqa: F401 - hooks
from tests.serverproc import ServerThread

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def server() -> Iterator[ServerThread]:
    """One real server with default settings, shared by the whole test run."""
    with ServerThread() as running:
        yield running


@pytest.fixture
def make_server() -> Iterator[Callable[..., ServerThread]]:
    """Factory: ``make_server(join_timeout=1, ...)`` starts a real server with overrides."""
    started: list[ServerThread] = []

    def make(**overrides: Any) -> ServerThread:
        running = ServerThread(**overrides).start()
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture(scope="session")
def tls_pair() -> tuple[str, str]:
    """(certificate, key) of a self-signed certificate for localhost and 127.0.0.1."""
    return str(DATA / "localhost-cert.pem"), str(DATA / "localhost-key.pem")


@pytest.fixture(scope="session")
def other_tls_pair() -> tuple[str, str]:
    """A second, unrelated self-signed pair, to test verification failures."""
    return str(DATA / "other-cert.pem"), str(DATA / "other-key.pem")


@pytest.fixture(scope="module")
def games_server() -> Iterator[ServerThread]:
    """A real server offering the bundled games and tests/data/games, one per test module."""
    from tests.test_server import run_games_server

    yield from run_games_server()


@pytest.fixture(autouse=True)
def _close_calls() -> Iterator[None]:
    """Close the connections of requests a test left unread, and stop the server
    processes it left running (after a failure, say)."""
    yield
    from tests.serverproc import stop_leftover_processes
    from tests.test_server import close_leftover_calls

    close_leftover_calls()
    stop_leftover_processes()

