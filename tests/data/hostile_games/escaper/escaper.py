"""Hostile: a move forks a child that leaves the worker's process group, to outlive it.

A one-player counter game. The attack, ``{"attack": true}``, forks a child
that calls ``os.setsid()`` (a session and process group of its own: the
server kills a worker's process group) and then lives for 60 s. Loaded from
its own folder by tests/test_isolation_hostile.py.
"""

import os
import time

from abstract_game import AbstractGame


class Escaper(AbstractGame):
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
        if move.get("attack") and os.fork() == 0:
            try:
                os.setsid()
            except OSError:
                pass
            time.sleep(60)
            os._exit(0)
        self.count += 1
