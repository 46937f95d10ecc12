"""Busy: a well-behaved test game for games in worker processes.

Players: 1 or 2, taking turns in id order. Move ``{"burn": seconds}`` keeps
the CPU busy that long by the clock (a wall-clock deadline, as the server's time
limit is: on a loaded machine a move still takes that long, not many times it);
``{"cpu": seconds}`` keeps it busy until the process has used that much CPU time;
``{"until": name}`` keeps it busy until a file ``name`` is next to this one;
``{"say": text}`` prints the text (a game's prints go to the server's log);
``{"end": true}`` ends the game; ``{"bad": true}`` is rejected with
``["bad move", 1]``; ``{"taint": ...}`` changes the move it is given to one that
is not JSON (infinity) and is not recorded. Every other move is recorded.
``legal_moves`` lists ``{"end": true}`` and ``{"say": "hi"}``.
``{"fail_late": seconds}`` sleeps that long, then raises ``Late``, whose message
sends this process SIGINT, as the server's interrupt at the time limit would
come while the failure is described.
"""

import os
import signal
import time

from abstract_game import AbstractGame


class Late(Exception):
    def __str__(self):
        os.kill(os.getpid(), signal.SIGINT)  # as the server's, at the time limit
        time.sleep(0.05)  # (the handler runs here)
        return "late"


class Busy(AbstractGame):
    """A game that burns CPU, prints and records its moves, for tests."""

    def __init__(self, players):
        self.players = players
        self.turn = 0
        self.log = []
        self.over = False

    @staticmethod
    def min_players():
        return 1

    @staticmethod
    def max_players():
        return 2

    def current_player(self):
        return self.turn

    def game_over(self):
        return self.over

    def state(self, player_id):
        return {"you": player_id, "log": self.log}

    def legal_moves(self, player_id):
        return [{"end": True}, {"say": "hi"}]

    def move(self, move, player_id):
        if "taint" in move:  # (its worker's copy of the move: the server's is as sent)
            move["taint"] = float("inf")
            return None
        if move.get("bad"):
            return ["bad move", 1]
        if "fail_late" in move:
            time.sleep(move["fail_late"])
            raise Late
        if "burn" in move:
            deadline = time.monotonic() + move["burn"]
            while time.monotonic() < deadline:
                pass
        if "cpu" in move:
            deadline = time.process_time() + move["cpu"]
            while time.process_time() < deadline:
                pass
        if "until" in move:
            while not os.path.exists(os.path.join(os.path.dirname(__file__), move["until"])):
                pass
        if "say" in move:
            print("Busy says", move["say"])
        self.log.append(move)
        self.over = bool(move.get("end"))
        self.turn = (self.turn + 1) % self.players
        return None


class Broken(AbstractGame):
    """A game whose constructor fails."""

    def __init__(self, players):
        raise ValueError("no board today")

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
        return {}

    def move(self, move, player_id):
        return None
