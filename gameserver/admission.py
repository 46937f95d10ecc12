"""Who may start, wait in and replace sessions: the lobby's guard against floods.

A flood must not fill the server for everyone else (docs/reliability.md,
"Floods: the arithmetic"), and a stranger must not end someone's running
game by reusing its public name. The lobby asks ``Admission`` before it
starts a session, seats a joiner who will wait, or replaces a running
session; ``Admission`` keeps the per-address counts that answer it:

* new sessions per minute per address (a token bucket, ``RateLimit``);
* sessions started from one address that exist at once;
* joins from one address that wait for their session to fill (only those
  still connected: a cancelled or woken wait no longer counts);
* who may replace a running session (the ``overwrite`` setting).

No I/O, no timers: counts change with the calls below, and time comes from
the clock the lobby passes in.

``RateLimit`` and ``WrongGuesses`` also throttle who guesses secrets: the
tournament hall's passwords, and (``WrongGuesses``) the dashboard's token.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from .addresses import address_key
from .guard import GameCodeError
from .players import secret_digest
from .protocol import framework_error
from .waits import Wait

if TYPE_CHECKING:
    from .session import Session

__all__ = ["Admission", "AdmissionLimits", "RateLimit", "WrongGuesses"]

DIGEST_SIZE = 32  # bytes of a guess's digest (``secret_digest``: SHA-256)
# How the refusal of a start beyond ``new_sessions_per_minute`` begins (after
# "framework: "): the RL env (``rl._remote.RATE_LIMITED``) joins again after a pause
# when it reads it, so it is one text, imported there.
NEW_SESSIONS_REFUSED = "too many new sessions from your address"
SESSIONS_REFUSED = "too many sessions started from your address"  # (at once: the RL env
# imports it, to tell its user to close envs, which leaves their sessions)


class AdmissionLimits(Protocol):
    """The settings ``Admission`` applies (``gameserver.lobby.LobbyLimits`` has them)."""

    @property
    def new_sessions_per_minute(self) -> int: ...
    @property
    def max_sessions_per_address(self) -> int: ...
    @property
    def max_waiting_joins_per_address(self) -> int: ...
    @property
    def overwrite(self) -> str: ...  # anyone, players or idle
    @property
    def overwrite_idle(self) -> float: ...


class RateLimit:
    """A token bucket per client address: ``per_minute`` events, refilled steadily."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._full = float(per_minute)  # tokens in a full bucket
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, time)

    def allow(self, address: str, peek: bool = False) -> bool:
        """Whether ``address`` may have one more event now; it is counted unless ``peek``."""
        now = time.monotonic()
        bucket = self._buckets.get(address)
        if bucket is None:  # none, or dropped when it was full again
            tokens = self._full
        else:
            tokens, then = bucket
            tokens = min(self._full, tokens + (now - then) * self.per_minute / 60)
        if tokens < 1:
            self._buckets[address] = (tokens, now)
            return False
        if not peek:
            self._buckets[address] = (tokens - 1, now)
        return True

    def forget_idle(self) -> None:
        """Drop the buckets that are full again (they hold no information)."""
        now = time.monotonic()
        self._buckets = {a: (t, then) for a, (t, then) in self._buckets.items()
                         if t + (now - then) * self.per_minute / 60 < self.per_minute}


class WrongGuesses:
    """The last wrong guesses of each address (``address_key``), as digests: a guess
    repeated is no new guess.

    A stale script that repeats one wrong secret (an old token, a mistyped
    tournament password) learns nothing new at each try; counted each time
    against a throttle, it kept its whole address (a class's NAT) locked out
    for as long as it ran. So a throttle counts a wrong guess once: ``tried``
    says whether an address made it lately (answer it as wrong, uncounted and
    unthrottled: that tells nothing new either), ``add`` remembers it. A
    guesser trying different secrets is counted at each. Bounded: the last
    ``remembered`` guesses of at most ``addresses`` addresses (the one least
    lately wrong is forgotten first), 32 bytes each.
    """

    def __init__(self, remembered: int, addresses: int = 10_000) -> None:
        self.remembered = remembered
        self.addresses = addresses
        self._tried: OrderedDict[str, bytes] = OrderedDict()  # address -> digests, joined

    def tried(self, address: str, guesses: Iterable[str]) -> bool:
        """Whether every one of ``guesses`` is a wrong guess ``address`` made lately."""
        tried = self._tried.get(address_key(address))
        return tried is not None and all(_holds(tried, secret_digest(guess))
                                         for guess in guesses)

    def add(self, address: str, guesses: Iterable[str]) -> None:
        """Remember ``guesses``, wrong, as the latest of ``address``."""
        key = address_key(address)
        tried = self._tried.get(key, b"") + b"".join(map(secret_digest, guesses))
        self._tried[key] = tried[-DIGEST_SIZE * self.remembered:]
        self._tried.move_to_end(key)
        while len(self._tried) > self.addresses:
            self._tried.popitem(last=False)


def _holds(tried: bytes, digest: bytes) -> bool:
    return any(tried[at:at + DIGEST_SIZE] == digest for at in range(0, len(tried), DIGEST_SIZE))


class Admission:
    """The per-address limits and the overwrite rule of one lobby.

    Args:
        limits: the lobby's settings (the per-address caps, ``overwrite``).
        clock: seconds, monotonic (the lobby's).
    """

    def __init__(self, limits: AdmissionLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self.clock = clock
        self._new_sessions = RateLimit(limits.new_sessions_per_minute)
        self._sessions_of: dict[str, int] = {}  # client address -> sessions it started
        self._waiting_of: dict[str, set[Wait]] = {}  # client address -> its joins waiting

    # ------------------------------------------------------------ sessions

    def check_start(self, client: str, players: int) -> None:
        """Refuse a new session of ``players`` from ``client`` beyond the limits.

        Counts it against the per-minute rate when it passes.

        Raises:
            ProtocolError: a ``framework:`` error saying which limit and what to do.
        """
        client = address_key(client)
        most = self.limits.max_sessions_per_address
        if self._sessions_of.get(client, 0) >= most:
            raise framework_error(
                f"{SESSIONS_REFUSED} (at most {most} at once); "
                "finish or leave some first")
        if players > 1:  # its first joiner will wait
            self.check_waiting(client)
        if not self._new_sessions.allow(client):
            raise framework_error(
                f"{NEW_SESSIONS_REFUSED} (at most "
                f"{self.limits.new_sessions_per_minute} a minute); wait a little, or join an "
                "existing session")

    def started(self, session: Session) -> None:
        """``session`` now counts against its ``owner``'s address."""
        owner = address_key(session.owner)
        self._sessions_of[owner] = self._sessions_of.get(owner, 0) + 1

    def ended(self, session: Session) -> None:
        """``session`` is gone: it counts no more."""
        owner = address_key(session.owner)
        left = self._sessions_of.get(owner, 0) - 1
        if left > 0:
            self._sessions_of[owner] = left
        else:
            self._sessions_of.pop(owner, None)

    def forget_idle(self) -> None:
        """Drop what no longer limits anybody (called by the lobby's tick).

        A waiting join that was woken (its session filled or ended) counts no
        more; it is dropped here, so that neither it nor its session stays
        in memory for an address that never joins again.
        """
        self._new_sessions.forget_idle()
        for client, waits in list(self._waiting_of.items()):
            waits -= {wait for wait in waits if wait.woken or wait.cancelled}
            if not waits:
                del self._waiting_of[client]

    # ------------------------------------------------------------ waiting joins

    def check_waiting(self, client: str) -> None:
        """Refuse one more waiting join from ``client`` beyond the cap.

        Raises:
            ProtocolError: ``framework: too many joins from your address ...``.
        """
        cap = self.limits.max_waiting_joins_per_address
        client = address_key(client)
        waits = self._waiting_of.get(client)
        if waits is None or len(waits) < cap:
            return
        waits -= {wait for wait in waits if wait.woken or wait.cancelled}  # started or gone
        if not waits:
            del self._waiting_of[client]
        elif len(waits) >= cap:
            raise framework_error(
                f"too many joins from your address are waiting for players (at most {cap}); "
                "close clients that wait, or let their games start first")

    def count_waiting(self, client: str, wait: Wait) -> None:
        """Count ``wait`` against ``client`` until it is woken or cancelled."""
        client = address_key(client)
        self._waiting_of.setdefault(client, set()).add(wait)
        on_cancel = wait.on_cancel

        def cancelled(cancelled_wait: Wait) -> None:
            waits = self._waiting_of.get(client)
            if waits is not None:
                waits.discard(cancelled_wait)
                if not waits:
                    del self._waiting_of[client]
            if on_cancel is not None:
                on_cancel(cancelled_wait)

        wait.on_cancel = cancelled

    # ------------------------------------------------------------ overwriting

    def check_replaceable(self, session: Session, client: str) -> None:
        """Refuse to replace a running session, unless the overwrite setting allows it.

        Raises:
            ProtocolError: ``framework: game session S is in use: ...``.
        """
        rule = self.limits.overwrite
        if rule == "anyone":
            return
        try:
            if session.game.game_over():
                return
        except GameCodeError:
            return  # a broken game is no game to protect
        idle = self.clock() - session.last_activity
        # A seat waiting for the others is no idle session: its player is there, and its
        # opponent may be thinking (a person types a move; until 2026-12-01 a minute of
        # thought let anyone who knew the session's name replace the game under both).
        if idle >= self.limits.overwrite_idle and not session.seat_waiting:
            return
        # A seat that left (``Session.leave``) is no player any more: its machine may not
        # end the game of those who stayed, which a leave cannot (docs/protocol.md).
        if rule == "players" and any(p.address == client and not p.left
                                     for p in session.players):
            return
        who = "" if rule == "idle" else ", or by a client on the machine of one of its players"
        raise framework_error(
            f"game session {session.token} is in use: a running game is replaced only once "
            f"it is over or after {self.limits.overwrite_idle:g} s without requests while "
            f"none of its players waits in it{who} "
            f"(the server's overwrite setting is '{rule}'); pick another session name, or "
            "try again later")
