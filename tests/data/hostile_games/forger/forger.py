"""Hostile: forges a reply on the worker's pipe to the server.

A one-player counter game. The attack, ``{"attack": true, "marker": path}``,
writes a message of its own to the server, in the right framing, holding a
pickle that runs ``os.system("touch <marker>")`` if the server unpickled it
(with ``"oversize": true``, only a header announcing a message of 4 GB);
with ``"stop": true`` it then stops its own process (SIGSTOP), so that a
test can have the server read it together with the replies before it.
Loaded from its own folder by tests/test_isolation_hostile.py and
tests/test_workers.py.
"""

import fcntl
import os
import pickle
import signal
import stat
import struct

from abstract_game import AbstractGame


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


def forge(marker, oversize=False):
    data = pickle.dumps(Payload(marker))
    frame = struct.pack("<I", 0xFFFFFFFF) if oversize else struct.pack("<I", len(data)) + data
    for fd in range(3, 64):
        try:
            is_pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
        except OSError:
            continue
        if is_pipe and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
            os.write(fd, frame)


class Forger(AbstractGame):
    def __init__(self, players):
        self.count = 0

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
        return {"count": self.count}

    def move(self, move, player_id):
        if move.get("attack"):
            forge(move["marker"], move.get("oversize", False))
            if move.get("stop"):
                os.kill(os.getpid(), signal.SIGSTOP)
        self.count += 1
