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
random bot's policy (``gameserver.policy.choose_move``). A bot moves only
when its turn comes, so bots never make more requests than the people
they play against give them turns.

Bounds. A bot *plays* while its game runs: at most ``limit`` bots play at
once, and ``per_address`` for the browsers of one address (settings
``web_bots`` and ``web_bots_per_address``); beyond that a new one is
refused. A bot whose game is over *waits* for a restart (and then plays
again) for ``IDLE`` seconds; at most ``limit`` bots wait like that, the
oldest leaving first. A waiting bot whose game restarts plays again without
asking the caps (leaving would stall that game): with restarts, up to
``2 * limit`` bots play. A bot ends when its session ends (timeout, replaced,
server stopping), when the browser that started it leaves before the
session is full, after ``REJECTIONS_MAX`` rejected moves in a row (a
game whose ``legal_moves`` lists moves its ``move`` refuses), or when
the server refuses its requests as requests: a move nested deeper than the
setting ``max_json_depth`` never reaches the lobby, nothing changes, and the
bot's next state would wait for ever, the bot counted as playing. A bot
draws its move again from the legal moves the server takes, and leaves,
saying why in the log, when it takes none of them (of ``DRAWS_MAX`` drawn).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Collection
from typing import Any

from ..addresses import address_key
from ..policy import choose_move
from ..protocol import ProtocolError, Request
from ._carrier import decode, reply_of, settle
from ._http import HTTPError
from .source import DashboardSource

log = logging.getLogger("gameserver.web")

PAUSE = 0.2  # seconds a bot waits before it moves, so that people see each move
IDLE = 300.0  # seconds a bot whose game is over waits for a restart
REJECTIONS_MAX = 20  # rejected moves in a row after which a bot gives up
DRAWS_MAX = 64  # moves a bot draws on one turn, at most, when the server refuses them

Bot = asyncio.Task[None]


class Bots:
    """The bots in the server, playing or waiting for a restart.

    Args:
        source: the server, through which the bots send their requests.
        limit: bots playing at once, at most (0: no bots); as many may wait.
        per_address: bots playing at once for the browsers of one address.
        max_json_depth: the server's setting, which the bots' requests meet too.
    """

    def __init__(self, source: DashboardSource, limit: int, per_address: int,
                 max_json_depth: int) -> None:
        self._source = source
        self._depth = max_json_depth
        self.limit = limit
        self.per_address = per_address
        self.pause = PAUSE
        self.idle_seconds = IDLE
        self._playing: dict[Bot, str] = {}  # bot -> the address it plays for
        self._waiting: OrderedDict[Bot, str] = OrderedDict()  # game over: oldest first
        self._of_address: dict[str, int] = {}  # bots playing, per address (address_key)

    @property
    def playing(self) -> int:
        return len(self._playing)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def check(self, client: str, count: int) -> None:
        """Raise ``HTTPError`` unless ``count`` more bots may play for ``client``."""
        if count <= 0:
            return
        if self.limit <= 0:
            raise HTTPError(403, "bots are switched off on this server (setting web_bots)")
        if len(self._playing) + count > self.limit:
            raise HTTPError(503, f"too many bots are playing right now (at most {self.limit}); "
                                 "try again later", (("Retry-After", "30"),))
        if self._of_address.get(address_key(client), 0) + count > self.per_address:
            raise HTTPError(429, f"too many bots are playing for your address (at most "
                                 f"{self.per_address}); finish a game first")

    def start(self, game: str, token: str, client: str, names: Collection[str],
              count: int) -> list[Bot]:
        """Seat ``count`` bots in ``game``/``token`` for ``client``; call ``check`` first.

        ``names`` are the names already taken in the session; the bots pick
        others ("bot", "bot 2", ...).
        """
        bots = []
        taken = set(names)
        for _ in range(count):
            number = 1
            while (name := "bot" if number == 1 else f"bot {number}") in taken:
                number += 1
            taken.add(name)
            bot = asyncio.get_running_loop().create_task(
                self._play(game, token, client, name, random.Random()))
            self._plays(bot, client)
            bot.add_done_callback(self._ended)
            bots.append(bot)
        return bots

    # ------------------------------------------------------------ playing or waiting

    def _plays(self, bot: Bot, client: str) -> None:
        if bot in self._playing:
            return
        self._waiting.pop(bot, None)
        self._playing[bot] = client
        counted_as = address_key(client)
        self._of_address[counted_as] = self._of_address.get(counted_as, 0) + 1

    def _stops_playing(self, bot: Bot) -> str | None:
        client = self._playing.pop(bot, None)
        if client is not None:
            counted_as = address_key(client)
            left = self._of_address[counted_as] - 1
            if left:
                self._of_address[counted_as] = left
            else:
                del self._of_address[counted_as]
        return client

    def _waits(self, bot: Bot) -> None:
        """The bot's game is over: it waits for a restart, the oldest waiting bot may go."""
        client = self._stops_playing(bot)
        if client is None:
            return
        self._waiting[bot] = client
        while len(self._waiting) > max(1, self.limit):
            oldest, _ = self._waiting.popitem(last=False)
            oldest.cancel()

    def _ended(self, bot: Bot) -> None:
        self._stops_playing(bot)
        self._waiting.pop(bot, None)
        if not bot.cancelled() and bot.exception() is not None:
            log.error("a bot failed", exc_info=bot.exception())

    def close(self) -> None:
        for bot in [*self._playing, *self._waiting]:
            bot.cancel()

    async def wait_closed(self, timeout: float) -> None:
        """After ``close()``: give the bots ``timeout`` seconds to end."""
        bots = [*self._playing, *self._waiting]
        if bots:
            await asyncio.wait(bots, timeout=timeout)

    # ------------------------------------------------------------ one bot

    @staticmethod
    def _move_request(seat: dict[str, Any], moves: list[dict[str, Any]], rng: random.Random,
                      depth: int) -> Request | str:
        """The request of a move drawn from ``moves`` that the server takes as a request;
        if it takes none of them, why it refused the last.

        A move nested deeper than ``max_json_depth`` is refused before the lobby
        sees it: nothing changes, so its state would wait for ever. Such moves
        are drawn again from the others, ``DRAWS_MAX`` at most: a game (student
        code) listing thousands of them must not cost the loop a decode each.
        The first is the policy's; the others are the rest in a random order
        (one shuffle): taking each refused move out of the list by equality
        walked every move before it, for each draw.
        """
        move = choose_move(moves, rng)
        try:
            return decode({"type": "move", **seat, "move": move}, depth)
        except ProtocolError as err:
            refused = str(err)
        others = [other for other in moves if other is not move]
        rng.shuffle(others)
        for move in others[:DRAWS_MAX - 1]:
            try:
                return decode({"type": "move", **seat, "move": move}, depth)
            except ProtocolError as err:
                refused = str(err)
        return refused

    async def _play(self, game: str, token: str, client: str, name: str,
                    rng: random.Random) -> None:
        source, depth = self._source, self._depth
        bot = asyncio.current_task()
        assert bot is not None

        def request_of(fields: dict[str, Any]) -> Request | None:
            """The request ``fields`` describe; None, logged, if the server refuses it as
            a request (it would refuse every later one alike)."""
            try:
                return decode(fields, depth)
            except ProtocolError as err:
                log.warning("a bot left %s/%s: the server refuses its %s request: %s",
                            game, token, fields["type"], err)
                return None

        async def ask(request: Request) -> dict[str, Any]:
            return reply_of(await settle(source, source.handle(request, client)))

        join = request_of({"type": "join", "game": game, "session": token, "players": None,
                           "name": name})
        if join is None:
            return
        joined = await ask(join)
        if joined["status"] != "ok":
            log.info("a bot could not join %s/%s: %s", game, token, joined.get("message"))
            return
        me, key = joined["data"]["player_id"], joined["data"]["key"]
        seat = {"game": game, "session": token, "player_id": me, "key": key}
        state_request = request_of({"type": "state", **seat, "observer": False,
                                    "legal_moves": True})
        if state_request is None:
            return
        rejections = 0
        over = False
        while True:
            try:
                async with asyncio.timeout(self.idle_seconds if over else None):
                    reply = await ask(state_request)
            except TimeoutError:
                log.info("a bot left %s/%s: nobody restarted the game", game, token)
                return
            if reply["status"] != "ok":  # the session ended
                return
            state = reply["data"]
            over = bool(state.get("gameover"))
            if over:
                self._waits(bot)
                continue
            self._plays(bot, client)
            moves = state.get("legal_moves")
            if me not in state.get("current", ()) or not moves:
                if moves is None:
                    log.info("a bot left %s/%s: the game does not list its moves", game, token)
                    return
                continue  # the next state request waits for a change
            await asyncio.sleep(self.pause)
            move = self._move_request(seat, moves, rng, depth)
            if isinstance(move, str):
                log.warning("a bot left %s/%s: the server refuses the moves %s lists as "
                            "legal now as requests (the last: %s)", game, token, game, move)
                return
            moved = await ask(move)
            # An error is no rejection (the game ended meanwhile; a failed save, whose move
            # stands unsaved): the next state request tells what to do.
            rejections = rejections + 1 if moved["status"] == "illegalmove" else 0
            if rejections >= REJECTIONS_MAX:
                log.warning("a bot left %s/%s: %d of the moves %s listed as legal were "
                            "rejected in a row", game, token, rejections, game)
                return
