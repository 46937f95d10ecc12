"""Run the real server for tests: in a background thread, or as a subprocess.

``ServerThread`` starts ``GameServer`` on its own event loop in a daemon
thread, on a free loopback port, with the real protocol, lobby and games.
``ServerProcess`` runs ``python -m gameserver`` exactly as a user would.

``GAMESERVER_TEST_LOOP=uvloop`` runs every ``ServerThread`` on uvloop (the
accelerator of the ``fast`` extra) instead of asyncio's own loop: CI runs the
connection tests a second time that way (``.ci/run``), since the two loops hand
the server different transports and sockets. The README's test command runs on
asyncio's loop, the standard-library path that must stand on its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from gameserver.config import Settings
from gameserver.server import GameServer

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 120.0  # a hang guard: a start took 34-55 s on a loaded vCPU (bench, stop 48)
TEST_LOOP = os.environ.get("GAMESERVER_TEST_LOOP", "asyncio")
_ASYNCIO_LOOP = asyncio.new_event_loop


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The loop a test server runs on: asyncio's, or uvloop's (see the top); a test
    that patched ``asyncio.new_event_loop`` gets the loop it patched in."""
    if TEST_LOOP == "asyncio" or asyncio.new_event_loop is not _ASYNCIO_LOOP:
        return asyncio.new_event_loop()
    if TEST_LOOP == "uvloop":
        import uvloop  # not installed: the run that asked for it fails, as it should

        return uvloop.new_event_loop()
    raise ValueError(f"GAMESERVER_TEST_LOOP={TEST_LOOP!r}: use 'asyncio' or 'uvloop'")


class ServerThread:
    """A real server in this process. Use as a context manager or call stop()."""

    def __init__(self, **overrides: Any) -> None:
        overrides.setdefault("port", 0)
        overrides.setdefault("web", False)  # tests that need the dashboard say so
        overrides.setdefault("store", False)  # ... and so do tests that need the store
        # The server shares this process: the memory it holds is the test run's too, which
        # grows with every test; half the machine's memory (the default) could then refuse
        # sessions in a late test on a small machine. Tests of max_memory set their own.
        overrides.setdefault("max_memory", 1 << 30)  # MB: no limit in practice
        self.settings = Settings(**overrides)
        self.settings.check()
        self.host = self.settings.host
        self.port = 0
        self.server: GameServer | None = None
        self._loop = new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="test-server", daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._started.wait(STARTUP_TIMEOUT):
            raise RuntimeError("test server did not start")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self.server = GameServer(self.settings)
            self._loop.run_until_complete(self.server.start())
            self.port = self.server.port
        except BaseException as err:  # noqa: BLE001 - reported to start()
            self._error = err
            self._loop.close()
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.server.stop(grace=1.0))
        self._loop.close()

    def call(self, func: Any, *args: Any) -> Any:
        """Run ``func(*args)`` on the server's loop and return its result."""
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(func(*args))
            except BaseException as err:  # noqa: BLE001 - raised again in the caller
                result.set_exception(err)

        self._loop.call_soon_threadsafe(run)
        try:
            return result.result(STARTUP_TIMEOUT)  # the real exception, if func raised
        except concurrent.futures.TimeoutError:
            raise RuntimeError("server loop did not answer") from None

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STARTUP_TIMEOUT)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port nobody listens on right now (for servers that do not report theirs)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_running: set[ServerProcess] = set()  # started and not stopped: stopped after each test


def stop_leftover_processes() -> None:
    """Stop servers a test started and left running (it failed before stopping them)."""
    for server in list(_running):
        server.stop()


class ServerProcess:
    """``python -m gameserver ARGS`` in a subprocess, on a free port by default."""

    def __init__(self, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
                 preexec_fn: Any = None):
        self.args = list(args)
        self.preexec_fn = preexec_fn  # run in the child before the server starts (limits)
        # Below INFO the server prints no "listening on" line: give it a free port.
        self.quiet = any(level in self.args for level in ("WARNING", "ERROR"))
        if "--port" not in self.args:
            self.args += ["--port", str(free_port()) if self.quiet else "0"]
        if "--web-port" not in self.args:  # never the default 8080: tests run side by side
            self.args += ["--web-port", "0"]
        if "--store-path" not in self.args and "--no-store" not in self.args:
            self.args += ["--no-store"]  # no database files in the working tree
        self.host = "127.0.0.1"
        self.port = 0
        self.output: list[str] = []
        self._cwd = cwd
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self._listening = threading.Event()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gameserver", *self.args], cwd=self._cwd, env=self._env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=self.preexec_fn)
        _running.add(self)
        self._pump_thread.start()
        if self.quiet:
            self.port = int(self.args[self.args.index("--port") + 1])
            self._wait_until_connectable()
        if not self._listening.wait(STARTUP_TIMEOUT):
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            match = re.search(r"listening on (\S+):(\d+)", line)
            if match:
                self.port = int(match.group(2))
                self._listening.set()
        self._listening.set()  # exited: let start() report the output

    def _wait_until_connectable(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and self.proc is not None and self.proc.poll() is None:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
            except OSError:
                time.sleep(0.02)  # not listening yet; nothing to await but the port
                continue
            self._listening.set()
            return

    @property
    def log(self) -> str:
        return "".join(self.output)

    def wait_for_log(self, text: str, count: int = 1) -> bool:
        """Wait until ``text`` appears ``count`` times in the log (False on timeout)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.log.count(text) >= count:
                return True
            time.sleep(0.02)  # polling a log file; nothing to await
        return False

    def stop(self) -> int | None:
        _running.discard(self)
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(STARTUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self._pump_thread.join(STARTUP_TIMEOUT)
            assert self.proc.stdout is not None
            self.proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
