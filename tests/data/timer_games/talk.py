"""Games for the turn-timer tests: one with a timeout hook, one without legal moves, one broken."""

from __future__ import annotations

import time
from typing import Any

from gameserver.game import AbstractGame


class Talk(AbstractGame):
    """Two players take turns saying a word, or passing; the game ends after 6 turns.

    Moves: ``{"say": word}`` or ``{"pass": true}``. Its ``timeout_move`` passes.
    Saying "slowly" takes 0.8 s.
    """

    def __init__(self, players: int) -> None:
        self.log: list[list[Any]] = []
        self.turn = 0

    @staticmethod
    def min_players() -> int:
        return 2

    @staticmethod
    def max_players() -> int:
        return 2

    def current_player(self) -> int | list[int]:
        return [] if self.game_over() else self.turn

    def move(self, move: dict[str, Any], player_id: int) -> str | None:
        if move.get("say") == "slowly":  # longer than the tests' turns
            time.sleep(0.8)
        if move.get("pass") is True:
            self.log.append([player_id, "pass"])
        elif isinstance(move.get("say"), str):
            self.log.append([player_id, move["say"]])
        else:
            return "say a word or pass"
        self.turn = 1 - self.turn
        return None

    def game_over(self) -> bool:
        return len(self.log) >= 6

    def state(self, player_id: int) -> dict[str, Any]:
        return {"log": self.log}

    def legal_moves(self, player_id: int) -> list[dict[str, Any]]:
        return [{"say": "hello"}, {"say": "bye"}, {"pass": True}]

    def timeout_move(self, player_id: int) -> dict[str, Any] | None:
        return {"pass": True}


class Silent(Talk):
    """Like Talk, but without legal moves or a timeout hook: a timeout loses the game."""

    def legal_moves(self, player_id: int) -> None:
        return None

    def timeout_move(self, player_id: int) -> None:
        return None

    def state(self, player_id: int) -> dict[str, Any]:
        return {"log": self.log, "winner": None}


class BadHook(Talk):
    """A timeout hook that fails; the server falls back to a random legal move."""

    def timeout_move(self, player_id: int) -> Any:
        raise RuntimeError("the hook is broken")


class WrongHook(Talk):
    """A timeout hook that returns a move the game itself rejects."""

    def timeout_move(self, player_id: int) -> Any:
        return {"shout": "!"}


class OffByOne(Talk):
    """A student's bug: after the first move, current_player() names player 2 of 2 (ids
    run 0 and 1), a seat nobody sits in."""

    def current_player(self) -> int | list[int]:
        return [] if self.game_over() else (2 if self.log else 0)
