"""Hostile: writes its worker's reply itself, a 2 MB pickle of two million empty sets.

A one-player counter game. The attack, ``{"attack": true}``, writes one
framed message on the pipe to the server: a list of 2,000,000 empty sets,
one byte each in the pickle, 216 bytes each once unpickled: 430 MB of
memory and seconds of the server's loop to build, for 2 MB sent (24 MB,
the largest message, would take 5 GB). Plain data, so refusing classes
does not stop it. Loaded from its own folder by tests/test_isolation_hostile.py.
"""

import fcntl
import os
import stat
import struct

from abstract_game import AbstractGame


def inflate():
    data = b"\x80\x04](" + b"\x8f" * 2_000_000 + b"e."
    for fd in range(3, 64):
        try:
            is_pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
        except OSError:
            continue
        if is_pipe and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
            view = memoryview(struct.pack("<I", len(data)) + data)
            while view:
                view = view[os.write(fd, view):]
            return


class Inflater(AbstractGame):
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
            inflate()
        self.count += 1
