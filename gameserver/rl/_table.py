"""What the environments play on: a *table*, one session whose seats the env drives.

Two tables share one small interface, so every environment runs in-process
and over the network alike:

* ``LocalTable`` (``_local.py``): the game in this process, through the
  server's own session code.
* ``RemoteTable`` (``_remote.py``): a session on a real server, over one
  keep-alive connection shared by all the tables of an environment.

A table's operations, as methods and as *ops* (tuples) for ``run``:

* ``("start", seed, hint)``: a new game (the first one: seat everybody).
* ``("view", seat)`` -> ``View``: what ``seat`` sees now, with its legal moves.
* ``("move", seat, move, hint)`` -> the game's rejection, or None.
* ``("wait", seat)`` -> ``View``: the seat's view after the next change made
  by another client (network tables with seats played elsewhere only).

``hint`` names the seat whose view will be wanted next: a network table asks
for it in the same write as the move (one round trip instead of two).
Environment steps are written as generators that yield ops and receive their
results; ``run(gen)`` drives one, and a network link drives the steps of many
sessions at once (a vector env), batching their requests into one write.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Protocol

import numpy as np

Op = tuple[Any, ...]
Step = Generator[Op, Any, Any]


class GameError(RuntimeError):
    """The game, the server or the session failed; the message says what happened."""


def failed(what: str, err: Exception) -> str:
    """The error of a step after ``what`` (a step, a reset, an observation) failed with
    ``err``.

    Why a step may not go on after a failed one: the game's state is not known here. A
    step that failed on the network (a connection lost, a server that stopped) may have
    had its move made or not, and a server that was killed has lost the moves it had not
    saved yet (a step does not wait for the disk; docs/rl.md); a step cut short by an
    error (an opponent's policy that chose an illegal action, a game that rejected a move
    its ``legal_moves`` listed) left its turn half played. Stepping on, an env played on
    from views the server no longer showed: an AEC env said "action 0 is not legal now
    (legal: [])" at every step, a gym env took a fresh view without its turn for an
    illegal action, a loss."""
    return (f"call reset() first: the last {what} failed ({err}), so the game's state is "
            "not known here (the move may have been made or not, and a server that was "
            "killed has lost the moves it had not yet saved); reset() starts a new game")


class View:
    """One seat's state as that player receives it, plus its legal moves.

    ``observation`` and ``mask`` are filled by the environment once (numpy
    arrays) and reused until the state changes.
    """

    __slots__ = ("state", "legal", "current", "gameover", "observation", "mask")

    def __init__(self, state: dict[str, Any], legal: list[Any] | None) -> None:
        self.state = state
        self.legal = legal
        self.current: list[int] = state["current"]  # (read once: the state is not changed)
        self.gameover: bool = state["gameover"]
        self.observation: np.ndarray | None = None
        self.mask: np.ndarray | None = None


class Table(Protocol):
    """A session of ``players`` seats; see the module docstring."""

    players: int
    names: list[str]
    controlled: list[int]  # the seats this table moves; the others are played elsewhere

    def start(self, seed: int | None, hint: int) -> None: ...

    def view(self, seat: int) -> View: ...

    def move(self, seat: int, move: dict[str, Any], hint: int | None) -> Any: ...

    def wait(self, seat: int) -> View: ...

    def run(self, step: Step) -> Any: ...

    def close(self) -> None: ...


def run_ops(table: Table, step: Step) -> Any:
    """Drive ``step`` by calling the table's methods for each op; its return value."""
    calls = {"start": table.start, "view": table.view, "move": table.move,
             "wait": table.wait}
    send = step.send
    result: Any = None
    try:
        while True:
            op = send(result)
            result = calls[op[0]](*op[1:])
    except StopIteration as stop:
        return stop.value
