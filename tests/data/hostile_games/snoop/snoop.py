"""Hostile: looks for what is not its own (keys, the server's files, open descriptors).

A one-player counter game. The attack, ``{"attack": true, "paths": [...],
"port": N}``, gathers loot that ``state()`` then shows:

* ``keys``: every string in the worker's memory that looks like a player's
  key (32 hex digits), found by walking every object ``gc`` knows;
* ``objects``: how many objects that walk saw;
* ``read``: for each of ``paths`` and the server's ``/proc`` files, "read"
  or the error that stopped it;
* ``connect``: "connected" to 127.0.0.1:``port``, or the error;
* ``fds``: each open file descriptor with its kind.

Loaded from its own folder by tests/test_isolation_hostile.py.
"""

import gc
import os
import re
import socket
import stat

from abstract_game import AbstractGame

KEY = re.compile(r"[0-9a-f]{32}\Z")
KINDS = {stat.S_IFSOCK: "socket", stat.S_IFIFO: "pipe", stat.S_IFREG: "file",
         stat.S_IFCHR: "device", stat.S_IFDIR: "folder"}


def strings_in(thing):
    if isinstance(thing, dict):
        return [*thing.keys(), *thing.values()]
    if isinstance(thing, (list, tuple, set, frozenset)):
        return list(thing)
    return list(getattr(thing, "__dict__", {}).values())


def loot(paths, port):
    objects = gc.get_objects()
    keys = sorted({s for thing in objects for s in strings_in(thing)
                   if isinstance(s, str) and KEY.match(s)})
    read = {}
    server = os.getppid()
    for path in [*paths, f"/proc/{server}/environ", f"/proc/{server}/cmdline",
                 f"/proc/{server}/mem"]:
        try:
            with open(path, "rb") as file:
                file.read(100)
            read[path] = "read"
        except OSError as err:
            read[path] = type(err).__name__
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        connect = "connected"
    except OSError as err:
        connect = type(err).__name__
    fds = {}
    for fd in range(256):
        try:
            fds[str(fd)] = KINDS.get(stat.S_IFMT(os.fstat(fd).st_mode), "other")
        except OSError:
            pass
    return {"keys": keys, "objects": len(objects), "read": read, "connect": connect,
            "fds": fds}


class Snoop(AbstractGame):
    def __init__(self, players):
        self.count = 0
        self.loot = {}

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
        return {"count": self.count, **self.loot}

    def move(self, move, player_id):
        if move.get("attack"):
            self.loot = loot(move.get("paths", []), move.get("port", 1))
        self.count += 1
