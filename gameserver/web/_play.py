"""Playing in the browser: the ``/api/play/...`` endpoints.

Theory of operation
-------------------
A browser plays exactly like a game client: every step is one of the
lobby's own requests, sent with the browser's address (``_carrier``), so
turns, keys, consent, per-address caps, the overwrite rule and durability
apply unchanged. The browser holds its seat's key (in ``localStorage``) and
sends it in the body of each request, never in an address. A body is
read as the game port reads a request: UTF-8, JSON, then the server's
``max_json_depth`` over the whole body (keys the lobby does not use
included), before any of it goes into a lobby request; what that refuses
gets the game port's words (as a ``move``'s or ``restart``'s reply, or a
400 for a stream).

* ``join`` (an event stream): a ``join`` request. While the session fills,
  the stream says so (``waiting``: who has joined; for the session's
  creator also its invite links); once full, ``seated`` carries the player
  id and key. A browser that goes away while waiting gives its seat back
  (its ``Wait`` is cancelled), as a game client does.
* ``state`` (an event stream): a standing ``state`` request (with legal
  moves) for the seat's view, asked again after each reply. The lobby's
  per-view versions decide what is new, so no change is lost, none is sent
  twice, and the restart hand-over arrives as it does for any client. One
  stream per seat: a second one (another tab, a reload) takes over and the
  first is told ``replaced``; the state request the first had on its way is
  cancelled, and a reply it held for its save gives back what the view counted
  as seen (``session._SavedReply.cancel``), so the second's asks again and gets
  it. The last reply of each seat is remembered
  (``Seats``) and sent first by the next stream of that seat: a reload, or
  a reply lost with a broken connection, then shows the current state at
  once although the view has already "seen" it.
* ``move`` and ``restart``: one request each; the reply is the lobby's
  reply, as the game port sends it.
* ``open``: the sessions waiting for players (``discover``'s list).

Who may do what (docs/dashboard.md, "Playing in the browser"): the seat's
key is the authority to move, as on the game port. Starting sessions and
joining them by name is for visitors who ``may_create``; anyone else takes
a seat only with an invite link (``Invites``): 128 random bits, one seat,
used once. Every endpoint refuses requests from other sites
(``check_same_origin``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from .. import protocol
from .._json import decode_json
from ..protocol import ProtocolError
from ..waits import Wait
from . import _http
from ._auth import OPERATOR, Throttle
from ._bots import Bots
from ._carrier import ask, decode, is_ok, reply_of, settle
from ._http import STREAM_PING, EventStream, HTTPError, Request, Response, json_response
from ._seats import Invites, SeatId, Seats
from ._streams import SessionFeed
from .source import DashboardSource

log = logging.getLogger("gameserver.web")

OFF, INVITE, OPEN = "off", "invite", "open"  # the setting web_play
OPEN_MAX = 200  # sessions listed by "open"
NEW_SESSION_PREFIX = "web-"  # sessions started without a name get web-<8 hex digits>
HEADER = "x-gameserver-play"  # a custom header: a page elsewhere cannot send it unasked


def event(name: str, data: bytes) -> bytes:
    """One server-sent event; ``data`` is JSON (which never holds a raw line break)."""
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def reply_event(name: str, reply: bytes) -> bytes:
    """A reply as the event ``name``; or, if too large for one, ``too_large`` saying so.

    A state over ``STREAM_BUFFER_MAX`` (512 KiB) would get the stream
    dropped, and the page, reconnecting, would be sent it again forever; the
    note (``{"bytes", "max"}``) lets the page say why it shows nothing.
    """
    message = event(name, reply)
    if EventStream.fits(message):
        return message
    return event("too_large", json.dumps({"bytes": len(reply),
                                          "max": _http.STREAM_BUFFER_MAX}).encode())


def check_same_origin(request: Request) -> None:
    """Refuse a play request that another site's page could have made (CSRF).

    A play request is a ``POST`` with a JSON body and the header
    ``X-Gameserver-Play``. A page on another site cannot send that header
    or that content type without asking first (a CORS preflight, which this
    server never grants), and where the browser names the page's origin
    (``Origin``, ``Sec-Fetch-Site``) it must be this server.
    """
    if request.method != "POST":
        raise HTTPError(405, "play requests are POST requests", (("Allow", "POST"),))
    headers = request.headers
    if headers.get(HEADER) != "1":
        raise HTTPError(403, f"a play request needs the header {HEADER.title()}: 1")
    request.refuse_other_sites("a play request", "requests from other sites are refused")


def _body(request: Request, max_depth: int) -> dict[str, Any]:
    """The request's JSON body, read as the game port reads a request.

    Its depth is checked whole, before any of its keys is put into a lobby
    request (``max_depth``: the server's ``max_json_depth``): a key the
    request type does not use counts, as it does on the game port.

    Raises:
        HTTPError: 400: not UTF-8, not JSON, or not an object.
        ProtocolError: nested deeper than ``max_depth`` (``protocol.check_depth``),
            or too deeply for JSON to decode: the game port's refusal of it.
    """
    raw = request.body or b"{}"
    try:  # read as the game port reads requests: 1e999 (Infinity) is refused too
        body = decode_json(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise HTTPError(400, "the request body is not JSON (not UTF-8 text)") from None
    except RecursionError as err:  # nested about 1,000 levels: the game port's words
        raise protocol.server_error(
            f"request is not valid JSON ({protocol.not_json_words(err)})") from None
    except ValueError as err:  # (the game port's words for what is wrong)
        raise HTTPError(400, f"the request body is not JSON ({protocol.not_json_words(err)})"
                        ) from None
    protocol.check_depth(raw, body, max_depth)
    if not isinstance(body, dict):
        raise HTTPError(400, "the request body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, default: str = "") -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise HTTPError(400, f"{name} must be a string")
    return value


# ---------------------------------------------------------------- the endpoints


class Play:
    """Answers ``/api/play/...``. Runs on the loop.

    Args:
        source: the server.
        feed: wakes streams when a session changes (for "who has joined").
        mode: the setting ``web_play``: ``off``, ``invite`` or ``open``.
        bots: the in-process bots.
        token: whether the dashboard has an access token.
        stopping: whether the dashboard is shutting down.
        max_json_depth: the server's setting: a browser's requests are as deep as a
            game client's may be.
    """

    def __init__(self, source: DashboardSource, feed: SessionFeed, mode: str, bots: Bots,
                 token: bool, stopping: Callable[[], bool], max_json_depth: int) -> None:
        self.source = source
        self.depth = max_json_depth
        self.feed = feed
        self.mode = mode
        self.bots = bots
        self.token = token
        self.invites = Invites(source)
        self.seats = Seats()
        self.throttle = Throttle()  # wrong invite links, per address
        self._stopping = stopping

    def may_create(self, level: str) -> bool:
        """Whether this visitor may start sessions and join them by name.

        The operator may; without a token every visitor of the localhost
        dashboard may (they can do as much on the game port); with a token,
        others only when ``web_play`` is ``open``.
        """
        if self.mode == OFF:
            return False
        return self.mode == OPEN or level == OPERATOR or not self.token

    def config(self, level: str) -> dict[str, Any]:
        return {"mode": self.mode, "create": self.may_create(level),
                "bots": self.bots.limit > 0 and self.may_create(level)}

    async def handle(self, parts: list[str], request: Request,
                     level: str) -> Response | EventStream:
        if self.mode == OFF:
            raise HTTPError(404, "playing in the browser is switched off on this server "
                                 "(setting web_play)")
        check_same_origin(request)
        try:
            body = _body(request, self.depth)
        except ProtocolError as err:  # as the game port refuses it
            if parts in (["move"], ["restart"]):  # their reply is the lobby's reply
                return Response(200, err.reply(), "application/json")
            raise HTTPError(400, str(err)) from None
        client = request.client
        match parts:
            case ["join"]:
                return self._join(body, client, level)
            case ["state"]:
                return self._state(body, client)
            case ["move"]:
                return await self._one("move", body, client, ("move",))
            case ["restart"]:
                return await self._one("restart", body, client, ())
            case ["open"]:
                if not self.may_create(level):
                    raise HTTPError(403, "only the dashboard's operator may list sessions here")
                sessions, more = self.source.open_sessions(OPEN_MAX)
                return json_response({"sessions": sessions, "more": more})
        raise HTTPError(404, "no such play endpoint")

    async def _one(self, kind: str, body: dict[str, Any], client: str,
                   extra: tuple[str, ...]) -> Response:
        fields = {name: body.get(name) for name in ("game", "session", "player_id", "key",
                                                     *extra) if name in body}
        return Response(200, await ask(self.source, {"type": kind, **fields}, client,
                                         self.depth),
                        "application/json")

    # ------------------------------------------------------------ join

    def _join(self, body: dict[str, Any], client: str, level: str) -> EventStream:
        name = _text(body, "name")
        secret = body.get("invite")
        invite = None
        if secret is not None:
            if not isinstance(secret, str):
                raise HTTPError(400, "invite must be a string")
            try:  # first: a real link seats its holder even if a NAT neighbour guesses
                invite = self.invites.take(secret)
            except HTTPError as err:
                if err.status == 404:  # only unknown links count, and get 429 beyond
                    self.throttle.refuse(client, "invite links")
                    self.throttle.failed(client)
                raise
            game, token, players, bots = invite.game, invite.token, None, 0
        else:
            if not self.may_create(level):
                raise HTTPError(403, "joining needs an invite link: ask the player who "
                                     "started the session for one")
            game = _text(body, "game")
            token = _text(body, "session") or NEW_SESSION_PREFIX + secrets.token_hex(4)
            players = body.get("players")
            bots = body.get("bots", 0)
            if type(bots) is not int or bots < 0:
                raise HTTPError(400, "bots must be a whole number, 0 or more")
            if bots and (type(players) is not int or bots >= players or token == "auto"):
                raise HTTPError(400, "bots join a new named session: give players, more "
                                     "than bots")
            self.bots.check(client, bots)
        try:
            request = decode({"type": "join", "game": game, "session": token,
                              "players": players, "name": name}, self.depth)
        except ProtocolError as err:
            if invite is not None:
                self.invites.release(invite)
            raise HTTPError(400, str(err)) from None

        async def run(stream: EventStream) -> None:
            seated = False
            bots_started: list[asyncio.Task[None]] = []
            try:
                outcome = self.source.handle(request, client)
                handle = self.source.session((game, token))
                if (isinstance(outcome, Wait) and not outcome.woken and handle is not None
                        and not self.source.summary(handle)["full"]):  # waits for players
                    try:
                        bots_started = self._first_joiner(
                            stream, game, token, handle, client,
                            invite is None and players is not None, bots, level == OPERATOR)
                    except HTTPError as err:  # too many links or bots: the session ends
                        outcome.cancel()
                        stream.send(event("refused", json.dumps(
                            {"status": "error", "message": f"framework: {err}"}).encode()))
                        return
                    reply = await self._waiting(stream, game, token, outcome)
                else:  # seated at once, or an auto session (whose token comes with the seat)
                    reply = await settle(self.source, outcome)
                if reply is None:
                    return
                answer = reply_of(reply)
                seated = answer["status"] == "ok"
                if seated and invite is not None:
                    self.invites.spend(invite)
                if seated:  # the session is full: its links (if any) seat nobody now
                    self.invites.filled(game, token)
                    answer["data"]["game"] = game
                    stream.send(event("seated", json.dumps(answer["data"]).encode()))
                else:
                    stream.send(event("refused", reply))
            finally:
                if invite is not None:
                    self.invites.release(invite)
                if not seated:
                    for task in bots_started:
                        task.cancel()

        return EventStream(run)

    def _first_joiner(self, stream: EventStream, game: str, token: str, handle: Any,
                      client: str, creating: bool, bots: int,
                      operator: bool) -> list[asyncio.Task[None]]:
        """Send the first ``waiting`` event; the session's creator also gets invites and bots.

        Raises:
            HTTPError: the invite links this session needs are more than its
                creator's address, or the server, may hold, or its bots too many.
        """
        summary = self.source.summary(handle)
        names = [p["name"] for p in summary["players"]]
        info: dict[str, Any] = {"game": game, "session": token, "size": summary["size"],
                                "joined": len(names), "names": names}
        tasks: list[asyncio.Task[None]] = []
        if creating and len(names) == 1:  # it started the session
            # Again, nothing awaited until they count: joins arriving together all passed _join's
            self.bots.check(client, bots)  # HTTPError: too many bots
            free = summary["size"] - 1 - bots
            secrets_ = self.invites.make(game, token, handle, free,
                                         "" if operator else client)  # HTTPError: too many
            tasks = self.bots.start(game, token, client, names, bots)
            info["invites"] = [
                f"/play/{quote(game, safe='')}/{quote(token, safe='')}#invite={secret}"
                for secret in secrets_]
            info["bots"] = len(tasks)
        stream.send(event("waiting", json.dumps(info).encode()))
        return tasks

    async def _waiting(self, stream: EventStream, game: str, token: str,
                       wait: Wait) -> bytes | None:
        """Wait for the join; tell the page who joins meanwhile. None: the page is gone."""
        joining = asyncio.ensure_future(settle(self.source, wait))
        try:
            with self.feed.watching((game, token)) as change:
                while True:
                    changed = change()
                    woken = asyncio.ensure_future(changed.wait())
                    try:
                        done, _ = await asyncio.wait((joining, woken), timeout=STREAM_PING,
                                                     return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        woken.cancel()
                    if joining in done:
                        return joining.result()
                    if changed.is_set():
                        handle = self.source.session((game, token))
                        if handle is not None and self.source.mark(handle) is not None:
                            names = [p["name"] for p in self.source.summary(handle)["players"]]
                            if not stream.send(event("waiting", json.dumps(
                                    {"joined": len(names), "names": names}).encode())):
                                return None
                    elif not stream.ping_due():
                        return None
        finally:
            joining.cancel()

    # ------------------------------------------------------------ the seat's stream

    def _state(self, body: dict[str, Any], client: str) -> EventStream:
        fields = {"type": "state", "game": body.get("game"), "session": body.get("session"),
                  "player_id": body.get("player_id"), "key": body.get("key"),
                  "observer": False, "legal_moves": True}
        try:
            decode(fields, self.depth)
        except ProtocolError as err:
            raise HTTPError(400, str(err)) from None
        digest = hashlib.sha256(str(fields["key"]).encode("utf-8", "surrogatepass")).digest()
        seat_id: SeatId = (fields["game"], fields["session"], fields["player_id"], digest)

        async def run(stream: EventStream) -> None:
            seat = self.seats.take(seat_id, stream)
            introduced = False

            def introduce() -> bool:
                """Who plays (names are public), once the key has proved itself."""
                nonlocal introduced
                introduced = True
                handle = self.source.session((fields["game"], fields["session"]))
                if handle is None:
                    return True
                players = self.source.summary(handle)["players"]
                return stream.send(event("session", json.dumps({"players": players}).encode()))

            try:
                if seat.last is not None and not (introduce() and stream.send(
                        reply_event("state", seat.last))):
                    return
                while not self._stopping():
                    asking = asyncio.ensure_future(ask(self.source, fields, client, self.depth))
                    try:
                        reply = await self._answer(stream, asking)
                    finally:
                        asking.cancel()
                        if asking.done() and not asking.cancelled() and (
                                asking.exception() is None and is_ok(asking.result())):
                            # Answered as this stream was replaced (a reload): the view
                            # counts it as seen, so the next stream starts with it.
                            self.seats.remember(seat, asking.result())
                    if reply is None:
                        return
                    ok = is_ok(reply)
                    if ok:
                        self.seats.remember(seat, reply)
                        if not introduced and not introduce():
                            return
                    if not stream.send(reply_event("state" if ok else "refused", reply)) or not ok:
                        return
            finally:
                self.seats.release(seat, stream)

        return EventStream(run)

    @staticmethod
    async def _answer(stream: EventStream, asking: asyncio.Future[bytes]) -> bytes | None:
        """The reply ``asking`` gives, pinging the stream meanwhile; None if it is gone."""
        while True:
            done, _ = await asyncio.wait((asking,), timeout=STREAM_PING)
            if done:
                return asking.result()
            if not stream.ping_due():
                return None


__all__ = ["INVITE", "OFF", "OPEN", "Play", "check_same_origin"]
