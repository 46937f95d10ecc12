"""Hostile, or only careless: states and rejections nested thousands of levels deep, or
holding themselves.

A one-player counter. The move ``{"depth": n}`` makes ``state()`` return
lists nested ``n`` deep from then on; ``{"reject": n}`` rejects the move
with a dict holding lists nested ``n`` deep. Python's JSON encoder gives up
(RecursionError) past about a thousand levels: the player must get a
``framework:`` error naming the method, not an internal error, and a
worker must not be replaced for it. ``{"depth": -1}`` and ``{"reject": -1}``
do the same with a list that holds itself (a circular reference), and
``{"limit": n}`` sets the recursion limit of the process the game runs in
(a game that recurses deeply does, and may return a circular state then).
Loaded from its own folder by tests/test_isolation_hostile.py.
"""

import sys

from abstract_game import AbstractGame


def deep(levels):
    if levels < 0:
        looped = []
        looped.append(looped)
        return looped
    nested = []
    for _ in range(levels):
        nested = [nested]
    return nested


class Nested(AbstractGame):
    def __init__(self, players):
        self.count = 0
        self.depth = 0

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
        if self.depth:
            return {"count": self.count, "deep": deep(self.depth)}
        return {"count": self.count}

    def move(self, move, player_id):
        if "limit" in move:
            sys.setrecursionlimit(move["limit"])
        if "reject" in move:
            return {"error": "no", "deep": deep(move["reject"])}
        self.depth = move.get("depth", 0)
        self.count += 1
        return None
