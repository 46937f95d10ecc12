"""Bots for "play against the bot": the bundled random bot, inside the server, on the loop.

Why in the server and not as a subprocess (``python -m gameserver.bot``)?
A bot's whole work is one ``state`` (with legal moves) and one ``move`` per
turn: microseconds of the loop, the same as any client's requests. A
subprocess per bot would cost a Python interpreter (~20 MB and a quarter
of a second to start) for that, and a TCP connection. In the server a bot
is one asyncio task holding a ``Wait``: a few kilobytes. It still plays
through the lobby's own requests (``join``, ``state`` with legal moves,
``move``) with the address of the browser that asked for it, so every rule
and every per-address cap of the game port applies to it, and it uses the
random bot's policy (``gameserver.bot.choose_move``).

Bounds: at most ``limit`` bots play at once, and ``per_address`` for the
browsers of one address (settings ``web_bots`` and
``web_bots_per_address``). A bot ends when its session ends (timeout,
replaced, server stopping), when the browser that started it leaves before
the session is full, or after ``REJECTIONS_MAX`` rejected moves in a row (a
game whose ``legal_moves`` lists moves its ``move`` refuses).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Collection

from ..bot import choose_move
from ._carrier import ask, reply_of
from ._http import HTTPError
from .source import DashboardSource

log = logging.getLogger("gameserver.web")

PAUSE = 0.2  # seconds a bot waits before it moves, so that people see each move
REJECTIONS_MAX = 20  # rejected moves in a row after which a bot gives up


class Bots:
    """The bots playing now.

    Args:
        source: the server, through which the bots send their requests.
        limit: bots playing at once, at most (0: no bots).
        per_address: ... for the browsers of one client address.
    """

    def __init__(self, source: DashboardSource, limit: int, per_address: int) -> None:
        self._source = source
        self.limit = limit
        self.per_address = per_address
        self._of_address: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.pause = PAUSE

    @property
    def playing(self) -> int:
        return len(self._tasks)

    def check(self, client: str, count: int) -> None:
        """Raise ``HTTPError`` unless ``count`` more bots may play for ``client``."""
        if count <= 0:
            return
        if self.limit <= 0:
            raise HTTPError(403, "bots are switched off on this server (setting web_bots)")
        if len(self._tasks) + count > self.limit:
            raise HTTPError(503, f"too many bots are playing right now (at most {self.limit}); "
                                 "try again later", (("Retry-After", "30"),))
        if self._of_address.get(client, 0) + count > self.per_address:
            raise HTTPError(429, f"too many bots are playing for your address (at most "
                                 f"{self.per_address}); finish a game first")

    def start(self, game: str, token: str, client: str, names: Collection[str],
              count: int) -> list[asyncio.Task[None]]:
        """Seat ``count`` bots in ``game``/``token`` for ``client``; call ``check`` first.

        ``names`` are the names already taken in the session; the bots pick
        others ("bot", "bot 2", ...).
        """
        tasks = []
        taken = set(names)
        for _ in range(count):
            number = 1
            while (name := "bot" if number == 1 else f"bot {number}") in taken:
                number += 1
            taken.add(name)
            task = asyncio.get_running_loop().create_task(
                self._play(game, token, client, name, random.Random()))
            self._tasks.add(task)
            self._of_address[client] = self._of_address.get(client, 0) + 1
            task.add_done_callback(lambda done, address=client: self._ended(done, address))
            tasks.append(task)
        return tasks

    def _ended(self, task: asyncio.Task[None], client: str) -> None:
        self._tasks.discard(task)
        left = self._of_address.get(client, 0) - 1
        if left > 0:
            self._of_address[client] = left
        else:
            self._of_address.pop(client, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("a bot failed", exc_info=task.exception())

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def wait_closed(self, timeout: float) -> None:
        """After ``close()``: give the bots ``timeout`` seconds to end."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def _play(self, game: str, token: str, client: str, name: str,
                    rng: random.Random) -> None:
        source = self._source
        joined = reply_of(await ask(source, {"type": "join", "game": game, "session": token,
                                             "players": None, "name": name}, client))
        if joined["status"] != "ok":
            log.info("a bot could not join %s/%s: %s", game, token, joined.get("message"))
            return
        me, key = joined["data"]["player_id"], joined["data"]["key"]
        seat = {"game": game, "session": token, "player_id": me, "key": key}
        state_request = {"type": "state", **seat, "observer": False, "legal_moves": True}
        rejections = 0
        while True:
            reply = reply_of(await ask(source, state_request, client))
            if reply["status"] != "ok":  # the session ended
                return
            state = reply["data"]
            moves = state.get("legal_moves")
            if state.get("gameover") or me not in state.get("current", ()) or not moves:
                if moves is None and not state.get("gameover"):
                    log.info("a bot left %s/%s: the game does not list its moves", game, token)
                    return
                continue  # the next state request waits for a change
            await asyncio.sleep(self.pause)
            moved = reply_of(await ask(source, {"type": "move", **seat,
                                                "move": choose_move(moves, rng)}, client))
            # An error (the game ended meanwhile, a failed save) changes nothing: the next
            # state request tells what to do.
            rejections = rejections + 1 if moved["status"] == "illegalmove" else 0
            if rejections >= REJECTIONS_MAX:
                log.warning("a bot left %s/%s: %d of the moves %s listed as legal were "
                            "rejected in a row", game, token, rejections, game)
                return
