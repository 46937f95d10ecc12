"""The guardian: a small process that leaves this process's sessions once it has died.

Why: a seat belongs to its key, not to a connection (a classic client opens one per
request), so the server frees no seat when a client's connections close. A process that
ends without Python's exit hooks (killed by a signal, ``kill -9``; ``os._exit``, as a
``multiprocessing`` child ends; a crash of Python itself) sent no ``leave``, and its
sessions stayed until idle for the server's ``game_timeout`` (1,000 s by default),
counted against its address's ``max_sessions_per_address``.

How: at the first full join of a process (``hold``), it starts ``python -I -S -c
SCRIPT`` (standard library only) in a session of its own, reading a pipe whose one
writing end this process holds. The process tells it each table's ``leave`` requests
(``hold``) and when they are done with (``drop``: left, or the server lost the session).
When the pipe's end closes, which the kernel does when this process dies however it dies
(and at its clean exit), the guardian sends the leaves it still holds, each server's in
one write, and ends (within ``GUARDIAN_LIFE`` seconds however the servers answer).

What a caller must know:

* Writes to the pipe never block and take no lock (``__del__`` may call ``drop``): each
  message is one ``os.write`` of at most ``PIPE_BUF`` bytes on a non-blocking pipe, which
  the kernel writes whole or not at all. One that cannot be written (a pipe full: a
  guardian stopped) is lost: a lost ``hold`` leaves that table unguarded, a lost ``drop``
  makes the guardian send a leave once more, which the server refuses (the key left).
* A child forked from this process does not hold the pipe (``os.register_at_fork``): the
  guardian then sees this process's death even while such a child runs on.
* None on Windows, and none for a table with a TLS context of the caller's own (a
  self-signed certificate: the guardian cannot be handed the context); ``tls=True`` is
  guarded (the system's certificates). If it cannot be started, the envs work as
  without it.
* The guardian holds at most ``HELD_MAX`` tables' leaves; holds beyond are ignored.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import sys
import threading
from typing import Any

# Seconds the guardian lives after this process's end, at most (a server that does not
# answer, a name server that does not: ``signal.alarm`` ends it).
GUARDIAN_LIFE = 30
HELD_MAX = 100_000  # tables whose leaves the guardian holds, at most
_PIPE_BUF = getattr(select, "PIPE_BUF", 512)  # bytes a pipe writes whole (POSIX: >= 512)

# Run by ``python -I -S -c``: ignores the signals of a terminal's Ctrl-C and hang-up (it
# has a session of its own where it can, and this where it cannot), reads messages until
# the pipe's end, then leaves what it holds.
SCRIPT = r"""
import json, signal, socket, ssl, sys, time
for name in ("SIGINT", "SIGHUP", "SIGTSTP"):
    if hasattr(signal, name):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
HELD_MAX, LIFE = int(sys.argv[1]), int(sys.argv[2])
held = {}
for line in sys.stdin.buffer:
    try:
        kind, number, *rest = json.loads(line)
    except (ValueError, TypeError):
        continue
    if kind == "drop":
        held.pop(number, None)
    elif kind == "hold" and (number in held or len(held) < HELD_MAX):
        held.setdefault(number, []).append(rest)
if hasattr(signal, "alarm"):
    signal.alarm(LIFE)
servers = {}
for seats in held.values():
    for host, port, tls, payload in seats:
        servers.setdefault((host, port, tls), []).append(payload.encode())
deadline = time.monotonic() + LIFE
for (host, port, tls), payloads in servers.items():
    try:
        sock = socket.create_connection((host, port), max(deadline - time.monotonic(), 0.1))
        if tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        with sock:
            sock.sendall(b"".join(payloads))
            replies, tail = len(payloads), b""
            while replies > 0:
                sock.settimeout(max(deadline - time.monotonic(), 0.1))
                chunk = sock.recv(65536)
                if not chunk:
                    break
                seen = tail + chunk
                replies -= seen.count(b"EOT\x00")
                tail = seen[-3:]
    except (OSError, ValueError):
        pass
"""

_lock = threading.Lock()  # starting one (``_start``); never taken by ``hold`` or ``drop``
_fd: int | None = None  # this process's end of the pipe (None: no guardian)
guardian_pid: int | None = None  # the guardian's process id (this process's: ``_pid``)
_pid: int | None = None  # the process that started it (a forked child starts its own)
_numbers = itertools.count(1)  # the guardian's names of tables' leaves


def hold(host: str, port: int, tls: Any, payloads: list[bytes]) -> int | None:
    """Have the guardian leave with ``payloads`` (a table's ``leave`` requests, each
    ended by the terminator) if this process dies before ``drop``; the number to pass
    to ``drop``, or None: not guarded (see the module's docstring)."""
    if tls not in (False, True) or not payloads:
        return None
    fd = _fd if _pid == os.getpid() else _start()
    if fd is None:
        return None
    number = next(_numbers)
    for payload in payloads:
        _send(fd, ["hold", number, host, port, tls, payload.decode()])
    return number


def drop(number: int | None) -> None:
    """The guardian need not leave with the requests of ``number`` (from ``hold``): they
    were sent, or are of no use (a session the server lost). Never blocks."""
    if number is not None and _fd is not None and _pid == os.getpid():
        _send(_fd, ["drop", number])


def _send(fd: int, message: list[Any]) -> None:
    """Write ``message`` as one line, whole or not at all (see the module's docstring)."""
    line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
    if len(line) > _PIPE_BUF:
        return  # (a session name of kilobytes: not guarded)
    try:
        os.write(fd, line)
    except OSError:  # (full: lost; the guardian gone: BrokenPipeError, no more tries)
        pass


def _start() -> int | None:
    """Start this process's guardian (once; a forked child's own); its pipe's end."""
    global _fd, _pid, guardian_pid
    with _lock:
        if _pid == os.getpid():
            return _fd
        _fd, _pid = None, os.getpid()  # (tried once per process, whatever happens)
        if not hasattr(os, "posix_spawn") or not sys.executable:
            return None
        read, write = os.pipe()  # (not inherited by what this process runs)
        try:
            os.set_blocking(write, False)
            # (its output goes nowhere: it must not hold the caller's pipes open, which a
            # program that runs this one reads to their end)
            actions = [(os.POSIX_SPAWN_DUP2, read, 0),
                       *((os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2))]
            args = [sys.executable, "-I", "-S", "-c", SCRIPT, str(HELD_MAX),
                    str(GUARDIAN_LIFE)]
            try:
                spawned = os.posix_spawn(sys.executable, args, os.environ,
                                         file_actions=actions, setsid=True)
            except NotImplementedError:  # (no session of its own here: signals ignored)
                spawned = os.posix_spawn(sys.executable, args, os.environ,
                                         file_actions=actions)
        except OSError:
            os.close(write)
            return None
        finally:
            os.close(read)
        _fd, guardian_pid = write, spawned
        return write


def _forked() -> None:
    """In a forked child: let go of the parent's pipe, so that the parent's guardian sees
    the parent's death (a child's own envs start a guardian of their own)."""
    global _fd
    fd, _fd = _fd, None
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)
