"""Shared fixtures: real servers on free loopback ports, and a TLS key pair."""

from __future__ import annotations

import socket
import threading
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


class SlowNames:
    """What ``slow_names`` counts: the lookups of its name begun, and those still held."""

    name = "slow-name-server.example"

    def __init__(self) -> None:
        self.begun = 0
        self.held = 0
        self.release = threading.Event()

    def refuse_twice(self, call: Callable[[], Any], error: type[Exception], expected: str
                     ) -> None:
        """``call()`` raises ``error`` matching ``expected`` (within its connect timeout,
        the lookup still held), twice: the second try waited for the first's lookup."""
        for _ in range(2):
            with pytest.raises(error, match=expected):
                call()
        assert (self.begun, self.held) == (1, 1)  # one lookup, still held


@pytest.fixture
def slow_names(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowNames]:
    """``socket.getaddrinfo`` as with a name server that never answers for
    ``SlowNames.name`` (a lookup of it is held until the test ends, then fails as
    "temporary failure"); every other lookup as it is. (No name server of our own can be
    made to hang on this machine: the system's resolver is the one part replaced.)"""
    real = socket.getaddrinfo
    slow = SlowNames()

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        numeric = (args[4] if len(args) > 4 else kwargs.get("flags", 0)) & \
            socket.AI_NUMERICHOST
        if host != slow.name or numeric:
            return real(host, *args, **kwargs)
        slow.begun += 1
        slow.held += 1
        try:
            slow.release.wait(60)
        finally:
            slow.held -= 1
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield slow
    slow.release.set()


@pytest.fixture(autouse=True)
def _close_calls() -> Iterator[None]:
    """Close the connections of requests a test left unread, and stop the server
    processes it left running (after a failure, say)."""
    yield
    from tests.serverproc import stop_leftover_processes
    from tests.test_server import close_leftover_calls

    close_leftover_calls()
    stop_leftover_processes()

