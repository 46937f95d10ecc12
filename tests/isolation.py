"""Run a command as an unprivileged user, or in a network of its own.

Tests run as root in CI, where root may listen on any port and read any
file. To see what a real deployment sees, a command is run as ``nobody``
(``setpriv``, from util-linux), and commands that need the default ports
(4711, 8080) run in a private network namespace (``unshare --net``), where
those ports are always free and nothing can reach or disturb them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]

# Brings the loopback interface of a fresh network namespace up, then runs the command.
_LOOPBACK_UP = """
import fcntl, os, socket, struct, sys
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
with socket.socket() as s:
    request = struct.pack("16sH", b"lo", 0)
    flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, request)[:18])[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))
os.execvp(sys.argv[1], sys.argv[1:])
"""


def unprivileged() -> tuple[list[str], str]:
    """(prefix, reason): a command prefix that runs as a user without privileges.

    The prefix is empty when the tests already run as such a user. A
    non-empty reason means there is no way here; it says why.
    """
    if os.getuid() != 0:
        return [], ""
    if shutil.which("setpriv") is None:
        return [], "setpriv (util-linux) is missing, and the tests run as root"
    return NOBODY, ""


def python_for(prefix: list[str], candidates: tuple[str | None, ...] = (
        sys.executable, "/usr/bin/python3", shutil.which("python3"))) -> str | None:
    """A Python 3.11+ that runs properly with ``prefix`` (nobody may not read pyenv's)."""
    probe = "import sys, tomllib, asyncio, ssl; assert sys.version_info >= (3, 11)"
    for candidate in candidates:
        if not candidate or not Path(candidate).exists():
            continue
        done = subprocess.run([*prefix, candidate, "-I", "-c", probe], capture_output=True,
                              cwd="/", timeout=60)
        if done.returncode == 0:
            return candidate
    return None


@contextlib.contextmanager
def open_folder() -> Iterator[Path]:
    """A temporary folder that every user may reach (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="gameserver-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def readable_copy(folder: Path) -> Path:
    """Copy the ``gameserver`` package into ``folder`` so that every user may read it."""
    source = Path(__file__).resolve().parent.parent / "gameserver"
    shutil.copytree(source, folder / "gameserver", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


def private_network() -> tuple[list[str], str]:
    """(prefix, reason): a prefix that runs a command in a new network namespace.

    The namespace has its own loopback (brought up) and nothing else. The
    prefix is empty with a reason when this machine cannot make one.
    """
    if shutil.which("unshare") is None:
        return [], "unshare (util-linux) is missing"
    prefix = ["unshare", "--net", sys.executable, "-c", _LOOPBACK_UP]
    probe = subprocess.run([*prefix, sys.executable, "-c",
                            "import socket; socket.create_server(('127.0.0.1', 4711))"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        return [], f"cannot make a network namespace here: {probe.stderr.strip()[-200:]}"
    return prefix, ""


def join_network(pid: int) -> list[str]:
    """A prefix that runs a command in the network namespace of process ``pid``."""
    return ["nsenter", f"--net=/proc/{pid}/ns/net"]


_NO_WRITABLE_CODE = """
import ctypes, os, sys
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_MDWE) failed: " + os.strerror(ctypes.get_errno()))
os.execvp(sys.argv[1], sys.argv[1:])
"""


def memory_deny_write_execute() -> list[str]:
    """A prefix that forbids writable code memory, as systemd's MemoryDenyWriteExecute=.

    Empty where the kernel cannot do it (Linux before 6.3).
    """
    prefix = [sys.executable, "-c", _NO_WRITABLE_CODE]
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=60)
    return prefix if probe.returncode == 0 else []
