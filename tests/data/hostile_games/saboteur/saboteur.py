"""Hostile: sabotages its own worker's pipes, signals and timers from inside a move.

A one-player counter game: every move adds one to ``count``, except the
attack, ``{"attack": true, "how": <how>}``:

* ``"mute"``: points the worker's pipe to the server at ``/dev/null``
  (``dup2``), then returns: its reply, and every one after, goes nowhere;
* ``"deaf"``: closes the worker's pipe from the server, then returns: its
  reply goes out, and the worker ends when it reads the next request;
* ``"stubborn"``: ignores SIGINT, SIGTERM and SIGHUP, then loops forever;
* ``"alarm"``: sets an interval timer whose handler raises, every 0.5 ms,
  wherever the worker is (its replies halfway written too), then returns;
* ``"orphan"``: forks; the parent prints the child's id and exits (the
  worker's process ends), the child carries on as the worker, with its
  pipes, after a pause;
* ``"signal"``: sends ``sig`` to the process ``pid`` (another game file's worker);
* ``"peek"``: tries to read the memory of the process ``pid`` (another game
  file's worker, which holds its sessions' games: hidden boards, hands),
  through ``/proc/<pid>/mem`` and ``process_vm_readv``; ``state()`` then
  shows how each failed (``EFAULT`` from the latter: allowed, at an address
  not mapped).

Loaded from its own folder (or a copy next to another game) by
tests/test_isolation_sabotage.py.
"""

import ctypes
import errno
import fcntl
import os
import signal
import stat
import time

from abstract_game import AbstractGame


def pipe(mode):
    """The worker's pipe to (O_WRONLY) or from (O_RDONLY) the server."""
    for fd in range(3, 64):
        try:
            is_pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
        except OSError:
            continue
        if is_pipe and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == mode:
            return fd
    raise LookupError("no pipe")


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


def peek(pid):
    """How reading 16 bytes of process ``pid``'s memory failed, each way (or "read")."""
    found = {}
    try:
        with open(f"/proc/{pid}/mem", "rb") as mem:
            mem.read(1)
        found["mem"] = "read"
    except OSError as err:
        found["mem"] = type(err).__name__
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(16)
    local, remote = IoVec(ctypes.addressof(buffer), 16), IoVec(8, 16)
    got = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    found["vm"] = "read" if got >= 0 else errno.errorcode[ctypes.get_errno()]
    return found


def raise_now(signum, frame):
    raise KeyboardInterrupt("alarm")


class Saboteur(AbstractGame):
    def __init__(self, players):
        self.count = 0
        self.loot = None

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 1

    def current_player(self):
        return 0

    def game_over(self):
        return False

    def state(self, player_id):
        return {"count": self.count, "loot": self.loot}

    def move(self, move, player_id):
        how = move.get("attack") and move["how"]
        if how == "mute":
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, pipe(os.O_WRONLY))
        elif how == "deaf":
            os.close(pipe(os.O_RDONLY))
        elif how == "stubborn":
            for name in ("SIGINT", "SIGTERM", "SIGHUP"):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
            while True:
                pass
        elif how == "alarm":
            signal.signal(signal.SIGALRM, raise_now)
            signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
        elif how == "orphan":
            child = os.fork()
            if child:
                print("orphan", child, flush=True)  # (in the server's log)
                os._exit(0)
            time.sleep(2)  # the server notices its worker's end first
        elif how == "signal":
            os.kill(move["pid"], move["sig"])
        elif how == "peek":
            self.loot = peek(move["pid"])
        self.count += 1
