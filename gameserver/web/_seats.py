"""What the play endpoints remember: invite links, and each browser seat's last state.

Both are in memory only and bounded. ``Invites``: a link seats one player
once, in the session it was made for; at most ``INVITES_MAX`` links are
open at once, and at most ``INVITES_PER_ADDRESS`` of them made for one
address (the operator's excepted). A session that would go beyond either is
refused with a message saying why, instead of pushing out other people's
links (which once let one visitor use up the 10,000 links and lock everyone
else out). A link stops counting as soon as it cannot be used: spent, or
its session full (``filled``: the play endpoints call it when a join is
seated), or ended. ``Seats``: one stream per seat, and
the last reply each seat was sent, so that its next stream (a reload, a
reconnect) shows the current state at once. ``_play`` explains why.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..addresses import address_key
from ..players import secret_digest
from ._http import EventStream, HTTPError
from .source import DashboardSource

INVITES_MAX = 10_000  # open invite links kept at most
INVITES_PER_ADDRESS = 200  # open invite links made for one address, at most
# Why a link forgotten was forgotten, for its next use (410, not "not valid" and a throttle):
SPENT = ("this invite link was used already: each link seats one player, once. Ask for a "
         "new one")
ENDED = "the session of this invite link has ended"
FILLED = ("the session of this invite link has all its players: its game started without "
          "this seat. Ask for a new one")
SEATS_MAX = 10_000  # seats whose last reply is remembered, at most ...
SEATS_BYTES_MAX = 32 * 1024 * 1024  # ... and the bytes of those replies
REPLACED = b"event: replaced\ndata: {}\n\n"  # to a seat's stream when another takes over


# ---------------------------------------------------------------- invite links


@dataclass(slots=True)
class Invite:
    """One seat in one session, for whoever holds the link."""

    game: str
    token: str
    handle: Any  # the session it was made for: a new session of the same name is another
    owner: str = ""  # the address of the visitor who started the session ("": the operator)
    state: str = "open"  # open -> held (its holder waits to be seated) -> spent


class Invites:
    """The invite links of sessions started in the browser (in memory only).

    A link holds 128 random bits; only their SHA-256 is kept, so the links
    cannot be read back from the server's memory. A link seats one player
    once: while its holder waits for the session to fill it is *held* (a
    second use is refused), once its holder is seated it is *spent*, and if
    the holder leaves before that it is *open* again.
    """

    def __init__(self, source: DashboardSource, limit: int = INVITES_MAX,
                 per_address: int = INVITES_PER_ADDRESS) -> None:
        self._source = source
        self.limit = limit
        self.per_address = per_address
        self._invites: OrderedDict[bytes, Invite] = OrderedDict()
        self._owned: dict[str, set[bytes]] = {}  # address -> the links kept made for it
        self._of_session: dict[tuple[str, str], set[bytes]] = {}  # (game, token) -> links
        # Links forgotten, newest last, with why (SPENT, ...): at most ``limit`` of them.
        self._gone: OrderedDict[bytes, str] = OrderedDict()

    def make(self, game: str, token: str, handle: Any, count: int,
             owner: str = "") -> list[str]:
        """``count`` new links' secrets for ``game``/``token``, started from ``owner``.

        ``owner`` "" (the operator) has no cap of its own. Before refusing,
        the links nobody can use any more are forgotten (``_forget``).

        Raises:
            HTTPError: 429 if ``owner`` would hold more than ``per_address``
                open links, 503 if the server would hold more than ``limit``.
        """
        if count <= 0:
            return []
        owner = address_key(owner)  # an IPv6 client: its /64
        if owner and len(self._owned.get(owner, ())) + count > self.per_address:
            self._forget(self._owned.get(owner, set()), full_too=True)
            if len(self._owned.get(owner, ())) + count > self.per_address:
                raise HTTPError(
                    429, f"your address holds {len(self._owned.get(owner, ()))} open invite links "
                         f"(at most {self.per_address}, for the sessions started from it that "
                         "still wait for players): close some of those pages or let their "
                         "players join, then start this one again")
        if len(self._invites) + count > self.limit:
            self._forget(list(self._invites), full_too=False)
            if len(self._invites) + count > self.limit:
                raise HTTPError(
                    503, f"this server holds {len(self._invites)} open invite links, as many "
                         f"as it keeps ({self.limit}): try again in a few minutes, when some "
                         "sessions have filled or ended")
        made = []
        for _ in range(count):
            secret = secrets.token_urlsafe(16)  # 128 bits
            digest = secret_digest(secret)
            self._invites[digest] = Invite(game, token, handle, owner)
            if owner:
                self._owned.setdefault(owner, set()).add(digest)
            self._of_session.setdefault((game, token), set()).add(digest)
            made.append(secret)
        return made

    def filled(self, game: str, token: str) -> None:
        """Session ``game``/``token`` has all its players: none of its links seats anyone
        any more, so none counts towards the caps. A held one's holder was seated with
        the others (or is refused: the session is full): "used already"."""
        for digest in list(self._of_session.get((game, token), ())):
            invite = self._invites[digest]
            self._drop(digest, invite, FILLED if invite.state == "open" else SPENT)

    def _live(self, invite: Invite) -> bool:
        handle = self._source.session((invite.game, invite.token))
        return handle is invite.handle and self._source.mark(handle) is not None

    def _forget(self, digests: Iterable[bytes], full_too: bool) -> None:
        """Forget those of ``digests`` nobody can use: spent, or their session ended.

        ``full_too``: also the open ones of a session that is full (this asks
        the session's summary, once per session: done for one address's
        links only, at most ``per_address`` of them and one session's).
        """
        full: dict[int, bool] = {}
        for digest in list(digests):
            invite = self._invites[digest]
            dead = invite.state == "spent" or not self._live(invite)
            if not dead and full_too and invite.state == "open":
                key = id(invite.handle)
                if key not in full:
                    full[key] = bool(self._source.summary(invite.handle)["full"])
                dead = full[key]
            if dead:
                self._drop(digest, invite, SPENT if invite.state == "spent"
                           else FILLED if self._live(invite) else ENDED)

    def _drop(self, digest: bytes, invite: Invite, why: str) -> None:
        """Forget the link: it counts no more; its next use is told ``why`` (410)."""
        del self._invites[digest]
        if invite.owner:
            _discard(self._owned, invite.owner, digest)
        _discard(self._of_session, (invite.game, invite.token), digest)
        self._gone[digest] = why
        while len(self._gone) > self.limit:
            self._gone.popitem(last=False)

    def take(self, secret: str) -> Invite:
        """Hold the invite ``secret`` for a join; ``release`` or ``spend`` it after.

        Raises:
            HTTPError: the link is unknown (404), used up or its session
                over (410), or being used right now (409).
        """
        digest = secret_digest(secret)
        invite = self._invites.get(digest)
        if invite is None and digest in self._gone:
            raise HTTPError(410, self._gone[digest])
        if invite is None:
            raise HTTPError(404, "this invite link is not valid: check that it was copied "
                                 "whole, or ask for a new one")
        if invite.state == "spent":
            raise HTTPError(410, SPENT)
        if not self._live(invite):
            raise HTTPError(410, ENDED)
        if invite.state == "held":
            raise HTTPError(409, "someone is joining with this invite link right now")
        invite.state = "held"
        return invite

    @staticmethod
    def release(invite: Invite) -> None:
        if invite.state == "held":
            invite.state = "open"

    @staticmethod
    def spend(invite: Invite) -> None:
        invite.state = "spent"


def _discard(index: dict[Any, set[bytes]], key: Any, digest: bytes) -> None:
    """Take ``digest`` out of ``index[key]``, and the key out once its set is empty."""
    links = index[key]
    links.discard(digest)
    if not links:
        del index[key]


# ---------------------------------------------------------------- seats


SeatId = tuple[str, str, int, bytes]  # game, session, player id, SHA-256 of the key


@dataclass(slots=True, eq=False)
class Seat:
    """A player's view as the browser sees it: its last reply and the stream showing it."""

    seat_id: SeatId
    last: bytes | None = None  # None: the key has not proved itself (yet)
    task: asyncio.Task[Any] | None = None  # the stream showing the seat now
    stream: EventStream | None = None


class Seats:
    """The browser seats, bounded: ``limit`` seats and ``bytes_limit`` bytes of replies.

    A seat with an open stream is never forgotten (streams are bounded by
    the connection caps); the others go oldest first. A forgotten seat only
    loses its last reply: its next stream shows the next change. A seat
    counts once its key has proved itself (its first reply, ``remember``):
    a stream with a wrong key, which anyone may send, is refused and leaves
    nothing behind, so wrong keys cannot push out the real seats.
    """

    def __init__(self, limit: int = SEATS_MAX, bytes_limit: int = SEATS_BYTES_MAX) -> None:
        self.limit = limit
        self.bytes_limit = bytes_limit
        self._seats: OrderedDict[SeatId, Seat] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._seats)

    def take(self, seat_id: SeatId, stream: EventStream) -> Seat:
        """Show the seat on ``stream``; the stream that showed it before is told and ended."""
        seat = self._seats.get(seat_id)
        if seat is None:
            seat = self._seats[seat_id] = Seat(seat_id)
        self._seats.move_to_end(seat_id)
        if seat.task is not None and seat.stream is not None:
            seat.stream.send(REPLACED)
            seat.task.cancel()
        seat.task, seat.stream = asyncio.current_task(), stream
        return seat  # trimmed in remember(): a key that is wrong must not push others out

    def release(self, seat: Seat, stream: EventStream) -> None:
        if seat.stream is stream:
            seat.task = seat.stream = None
            if seat.last is None and self._seats.get(seat.seat_id) is seat:
                del self._seats[seat.seat_id]  # its key never proved itself

    def remember(self, seat: Seat, reply: bytes) -> None:
        self.bytes += len(reply) - len(seat.last or b"")
        seat.last = reply
        self._trim()

    def _trim(self) -> None:
        if len(self._seats) <= self.limit and self.bytes <= self.bytes_limit:
            return
        for seat_id, seat in list(self._seats.items()):
            if len(self._seats) <= self.limit and self.bytes <= self.bytes_limit:
                return
            if seat.task is None:
                self.bytes -= len(seat.last or b"")
                del self._seats[seat_id]
