"""Hostile: writes messages of its own among its worker's, each of the wrong kind.

A one-player counter game. Its worker's replies to requests have a layout
of their own (``gameserver._reply``: a payload starting with ``R``); the
other messages are pickles of plain data, which only the hello's report and
catalog, and a note that a call is being interrupted, may be. The attack,
``{"attack": true, "kind": <kind>}``, writes before its worker's own reply:

* ``catalog``: a catalog (a pickle) where a reply is due;
* ``pickled``: a reply as a pickle (as replies were until stop 41);
* ``notes``: two notes for one call;
* ``extra``: a reply of its own (the move's error, ``forged``): its
  worker's reply then answers no request.

With a file ``at_import`` next to it, it writes a reply (``R``) while its
worker imports it, before the catalog. Loaded from its own folder (or a
copy) by tests/test_isolation_hostile.py.
"""

import fcntl
import os
import stat
from pathlib import Path

from abstract_game import AbstractGame

from gameserver import _channel, _reply

MESSAGES = {
    "catalog": _channel.encode(("catalog", [], [])),
    "pickled": _channel.encode((None, None, [0], False, [], None, None, False, [])),
    "notes": _channel.encode(("note", "move")) * 2,
    "extra": _reply.encode(("forged", None, [0], False, [], None, None, False, [])),
}


def write(data):
    for fd in range(3, 64):
        try:
            is_pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
        except OSError:
            continue
        if is_pipe and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            return


if Path(__file__).with_name("at_import").exists():
    write(MESSAGES["extra"])


class Framer(AbstractGame):
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
            write(MESSAGES[move["kind"]])
        self.count += 1
