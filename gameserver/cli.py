"""Command line: ``python -m gameserver [settings]`` runs the server.

Settings come from defaults, then an optional TOML file (``--config``), then
flags; ``python -m gameserver --help`` lists every one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import select
import signal
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from . import __version__, config, registry
from ._connhost import REFUSED_MAX
from .results import printable
from .server import GameServer

log = logging.getLogger("gameserver")


def _check(argv: list[str], prog: str) -> int:
    from . import check
    return check.main(argv, prog)


def _history(argv: list[str], prog: str) -> int:
    from . import history
    return history.main(argv, prog)


def _tournament(argv: list[str], prog: str) -> int:
    from . import competition_cli
    return competition_cli.main(argv, prog)


def _ratings(argv: list[str], prog: str) -> int:
    from . import competition_cli
    return competition_cli.ratings_main(argv, prog)


COMMANDS = {"check": _check, "history": _history, "tournament": _tournament,
            "ratings": _ratings}


def _command(name: str, argv: list[str], prog: str) -> int:
    """Run one of ``COMMANDS``; end quietly when the reader of its output has gone.

    ``history | head`` closes the pipe after ten lines: the next write raised
    BrokenPipeError, a traceback for the user. Like other command-line tools, the
    command then just ends (status 1). Its output is flushed here, inside the
    ``try``, and standard output then points at /dev/null, so that the interpreter's
    own flush at exit cannot raise the same error again ("Exception ignored ...").
    """
    try:
        status = COMMANDS[name](argv, prog)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        if not _reader_gone():
            raise  # another pipe or socket (a dashboard's): a real error, shown as one
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1


def _reader_gone() -> bool:
    """Whether standard output is a pipe nobody reads any more (poll says POLLERR).

    Where that cannot be told (no poll, stdout not a file), it is not assumed.
    """
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def build_parser(prog: str = "gameserver") -> argparse.ArgumentParser:
    """The command line's parser; ``prog`` is how the user started it (for --help)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A server for turn-based multiplayer games. Clients connect with "
                    "game_server_api.py (see the README).",
        epilog=f"Other commands: '{prog} check GAME_FILE' plays many random games of a "
               f"game to find its bugs; '{prog} history [ID]' lists finished games or "
               f"shows one; '{prog} tournament ...' creates and runs tournaments; "
               f"'{prog} ratings' shows the Elo ratings.")
    parser.add_argument("--version", action="version", version=f"gameserver {__version__}")
    config.add_arguments(parser)
    return parser


RECORD_MAX = 16_000  # characters of one record in the log (a game worker's: 8,000)
RECORD_END = 4_000  # ... of them from its end (an exception's message ends a traceback)


class LineFormatter(logging.Formatter):
    """Every record starts a line, and only a record does.

    A record's text holds what clients sent (session names, player names,
    what a game's own code logs): a newline there began a line that looked
    like a record of its own (``session Echo/x\\n2026-... ERROR ...``). Here
    every line after a record's first is indented (a traceback stays readable),
    and other control characters are written as escapes (``\\x1b``). A record
    is cut to ``RECORD_MAX`` characters, its start and end kept: a game's error
    may quote a move of a megabyte, which was logged in full at every request.
    """

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if len(text) > RECORD_MAX:
            text = (f"{text[:RECORD_MAX - RECORD_END]} ... ({len(text) - RECORD_MAX} "
                    f"characters left out) ... {text[-RECORD_END:]}")
        return printable(text, newlines=True).replace("\n", "\n    ")


LOG_BUFFER_MAX = 1_000_000  # characters of records waiting for the log's reader
LOG_FLUSH_WAIT = 2.0  # seconds the exit waits for them to be written


class LogWriter(logging.Handler):
    """Writes the log from a thread of its own: a reader that stops reading never
    stops the server.

    ``StreamHandler`` wrote on the event loop; with stderr a pipe nobody read (a
    launcher's ``Popen(stderr=PIPE)``, a terminal paused with Ctrl-S) the write that
    found the pipe full blocked the loop, and every client waited for ever. Here a
    record is formatted on the caller's thread and queued; the thread writes what is
    queued. Records that would make the queue exceed ``LOG_BUFFER_MAX`` characters
    are left out, counted, and the count is logged once the reader reads again. The
    thread writes to the file descriptor itself (``os.write``): a daemon thread blocked
    inside ``sys.stderr``'s buffer would hold its lock, and the interpreter aborts
    when it cannot take that lock at exit.
    """

    def __init__(self, stream: TextIO, limit: int = LOG_BUFFER_MAX) -> None:
        super().__init__()
        self._stream = stream
        self._limit = limit
        self._lines: list[str] = []
        self._queued = 0  # characters in _lines
        self._dropped = 0
        self._writing = False
        self._ready = threading.Condition(threading.Lock())
        threading.Thread(target=self._run, name="gameserver-log", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + "\n"
        except Exception:  # noqa: BLE001 - logging's own way: report, never raise
            self.handleError(record)
            return
        with self._ready:
            if self._queued + len(text) > self._limit:
                self._dropped += 1
                return
            self._lines.append(text)
            self._queued += len(text)
            self._ready.notify_all()

    def flush(self) -> None:
        """Wait until the queued records are written, for ``LOG_FLUSH_WAIT`` s at most."""
        with self._ready:
            self._ready.wait_for(lambda: not (self._lines or self._writing),
                                 LOG_FLUSH_WAIT)

    def _run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._lines)
                text = "".join(self._lines)
                self._lines.clear()
                self._queued = 0
                dropped, self._dropped = self._dropped, 0
                self._writing = True
            if dropped:
                text += self.format(logging.makeLogRecord({
                    "name": log.name, "levelno": logging.WARNING, "levelname": "WARNING",
                    "msg": "%d log records were left out: nobody read the log (a full "
                           "pipe or a paused terminal?)", "args": (dropped,)})) + "\n"
            self._write(text.encode(errors="backslashreplace"))
            with self._ready:
                self._writing = False
                self._ready.notify_all()

    def _write(self, data: bytes) -> None:
        try:
            fd = self._stream.fileno()
        except (OSError, ValueError, AttributeError):  # not a file (a test's StringIO)
            with contextlib.suppress(OSError, ValueError):
                self._stream.write(data.decode())
                self._stream.flush()
            return
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:  # a non-blocking descriptor: wait until it takes more
                select.select([], [fd], [])
            except OSError:  # closed, or its reader is gone: nowhere to write
                return


def setup_logging(level: str) -> None:
    handler: logging.Handler = (LogWriter(sys.stderr) if sys.stderr is not None
                                else logging.NullHandler())  # started with 2>&-
    handler.setFormatter(LineFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def raise_open_file_limit(connections: int) -> None:
    """Let the process hold one file descriptor per allowed connection, one per refused
    connection still open (``_connhost.REFUSED_MAX``), and some spare."""
    try:
        import resource
    except ImportError:  # not on Unix
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + REFUSED_MAX + 256
    target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < connections:
        log.warning("the system allows only %d open files, fewer than max_connections "
                    "(%d) needs; raise the limit (ulimit -n, LimitNOFILE=)", target,
                    connections)


def tune_garbage_collector() -> None:
    """Collect less often: a busy server allocates many short-lived objects.

    With the default thresholds the collector ran every few requests and, with
    hundreds of sessions alive, each run walked all of them (measured: 20-30 µs
    per request at 500 sessions, about 10 µs with these settings, for a few MB
    more memory). Objects alive after start-up (code, games, settings) are
    frozen: no collection needs to look at them again.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def accelerate(enabled: bool) -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """The event loop to run, and a line for the log once the server runs.

    uvloop's loop where installed (unless not ``enabled``), else None:
    asyncio's own. uvloop runs the same server with less work per loop
    pass; without it the server is the same, a little slower
    (docs/performance.md has the figures).
    """
    if not enabled:
        return None, "accelerator: off (--no-accelerate): asyncio's own event loop"
    try:
        import uvloop
    except ImportError:
        return None, "accelerator: none (pip install uvloop adds one; not needed)"
    return uvloop.new_event_loop, (f"accelerator: uvloop {uvloop.__version__} runs the event "
                                   "loop (--no-accelerate to run without)")


def has_terminal() -> bool:
    """Whether this process has a controlling terminal now (``/dev/tty`` opens).

    A terminal that hangs up (its window or ssh session closed) is taken from every
    process of its session before any of them gets the SIGHUP it causes: a server
    that had one at start and has none at a SIGHUP lost it so.
    """
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    os.close(fd)
    return True


class Hangup:
    """What a SIGHUP means: reload the TLS certificate (``systemctl reload``, certbot's
    deploy hook, ``kill -HUP``), or the terminal the server runs in closed.

    The second was all it meant until 2026-12-01 (the server stopped cleanly; before,
    it was killed on the spot), so a reload stopped the server instead. It is told
    apart by the controlling terminal (``has_terminal``): had at start, gone now.
    Then the server stops as before, unless SIGHUP was ignored at start (``nohup``),
    when it keeps running; and that hang-up is taken once: a later SIGHUP (the
    operator's, after logging out) reloads. A server without a terminal (systemd's)
    always reloads.

    Args:
        stop: set to stop the server (once set, a SIGHUP does nothing: no check of the
            certificate is begun on a server that stops).
        reload: reloads the certificate (``GameServer.reload_certificate``).
        ignored: SIGHUP was ignored when the server started.
    """

    def __init__(self, stop: asyncio.Event, reload: Callable[[], object],
                 ignored: bool) -> None:
        self.stop, self.reload, self.ignored = stop, reload, ignored
        self.terminal = has_terminal()

    def __call__(self) -> None:
        if self.stop.is_set():
            return
        if self.terminal and not has_terminal():
            self.terminal = False
            if not self.ignored:
                log.info("SIGHUP: the terminal the server runs in closed")
                self.stop.set()
                return
            log.info("SIGHUP: the terminal the server runs in closed; it keeps running, as "
                     "SIGHUP was ignored when it started (nohup)")
            return
        self.reload()


async def serve(settings: config.Settings, accelerator: str = "") -> None:
    """Run the server until SIGINT or SIGTERM (or SIGHUP from a closed terminal), then
    shut down cleanly; another SIGHUP reloads the TLS certificate (``Hangup``).

    ``accelerator`` is logged once the server runs (a failed start prints one line).
    """
    raise_open_file_limit(settings.max_connections)
    server = GameServer(settings)
    # Before the start: a SIGTERM that comes while the server starts stops it right after.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None:
        loop.add_signal_handler(hangup, Hangup(
            stop, server.reload_certificate,
            ignored=signal.getsignal(hangup) == signal.SIG_IGN))
    await server.start()
    if accelerator:
        log.info("%s", accelerator)
    tune_garbage_collector()
    await stop.wait()
    log.info("shutting down")
    await server.stop()


def main(argv: list[str] | None = None, prog: str = "gameserver") -> int:
    """Entry point of the ``gameserver`` command and of ``python -m gameserver``.

    Every start-up failure with a known cause is a ``config.StartupError``
    (or a ``GameLoadError``): one line without a traceback, exit status 2. A
    wrong setting is printed as ``gameserver: ...`` (there is no log yet); a
    failure while the server starts is one line of the log.
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        return _command(argv[0], argv[1:], f"{prog} {argv[0]}")
    args = build_parser(prog).parse_args(argv)
    try:
        settings = config.load(args)
    except config.StartupError as err:
        print(f"gameserver: {err}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    loop_factory, accelerator = accelerate(settings.accelerate)
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve(settings, accelerator))
    except (config.StartupError, registry.GameLoadError) as err:
        log.error("%s", err)
        return 2
    except OSError as err:  # a cause no part has named: say what the system said
        log.error("cannot start: %s", err)
        return 1
    return 0
