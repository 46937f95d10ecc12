"""One worker process at the operating system's level: start it, kill it, say how it ended.

The worker is a fresh interpreter (``python -I``: no inherited memory, no
``PYTHON*`` variables, no user site-packages), in a session and process
group of its own (so that killing the group also ends what a game started,
and a Ctrl-C in the server's terminal does not reach it), with a minimal
environment (no secrets from the server's), its working directory in the
game's folder, and no open file but its standard streams, three pipes to
the server: stdin and stdout carry the messages, stderr what the game
prints (read by ``_output``: never the server's own stderr). Where Linux has
``pidfd_open`` (5.3), a descriptor tells the event loop the moment the
process ends, whatever it did with its pipes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
    import termios
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from gameserver.worker import main; main()")
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)  # where ``gameserver`` is
_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")


@dataclass(eq=False)
class Process:
    """A started worker process and its ends of the pipes (non-blocking)."""

    popen: subprocess.Popen[bytes]
    to_worker: int
    from_worker: int
    printed: int  # the pipe of the worker's stderr (what its game prints)
    pidfd: int | None  # readable once the process has ended (None: not on this system)
    ended: bool = False  # the pipe from the worker reached its end

    @property
    def pid(self) -> int:
        return self.popen.pid

    def kill(self) -> None:
        """Kill the process and whatever it started (its process group), unless reaped."""
        if self.popen.returncode is None:  # not reaped: its id still names its group
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def running(self) -> bool:
        """Whether the process has not ended (asked where a pidfd watches it: Linux). Its exit
        status is left to collect: until it is, the process's id, which names its group,
        cannot be reused (see ``kill``)."""
        if self.popen.returncode is not None:
            return False
        try:
            return os.waitid(os.P_PID, self.popen.pid,
                             os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False

    def unread(self) -> int | None:
        """How many bytes written to the worker are still in the pipe, unread (also once it
        has died); None where the system cannot tell."""
        if fcntl is None:
            return None
        try:
            return int.from_bytes(fcntl.ioctl(self.to_worker, termios.FIONREAD, bytes(4)),
                                  sys.byteorder, signed=True)
        except OSError:
            return None

    def close(self) -> None:
        """Kill it and close our ends of its pipes and its pidfd (stop watching them first)."""
        self.kill()
        if self.pidfd is not None:
            os.close(self.pidfd)
        for pipe in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                pipe.close()


def spawn(folder: str) -> Process:
    """Start ``python -m gameserver.worker``'s equivalent, working in ``folder``.

    Raises:
        OSError: the process cannot be started.
    """
    env = {name: os.environ[name] for name in _ENVIRONMENT if name in os.environ}
    popen = subprocess.Popen([sys.executable, "-I", "-c", _BOOT, PACKAGE_PARENT], cwd=folder,
                             env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, close_fds=True, start_new_session=True)
    assert popen.stdin is not None and popen.stdout is not None and popen.stderr is not None
    to_worker, from_worker = popen.stdin.fileno(), popen.stdout.fileno()
    printed = popen.stderr.fileno()
    for fd in (to_worker, from_worker, printed):
        os.set_blocking(fd, False)
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(popen.pid)
        except OSError:  # an old kernel: the end of the pipe tells instead
            pidfd = None
    return Process(popen, to_worker, from_worker, printed, pidfd)


def death(status: int | None) -> str:
    """How a worker process ended, in words."""
    if status is None:
        return "it stopped answering"
    if status < 0:
        name = signal.Signals(-status).name if -status in signal.valid_signals() else -status
        hint = {"SIGSEGV": " (a crash: a recursion too deep for the C stack?)",
                "SIGKILL": " (out of memory, or killed)",
                "SIGXCPU": " (it used up its CPU time)"}.get(str(name), "")
        return f"it was killed by signal {name}{hint}"
    return f"it exited with status {status} (os._exit() or sys.exit() in the game?)"
