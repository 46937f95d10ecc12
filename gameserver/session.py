"""One game session: its players, keys, game and who has seen what.

Why this module is longer than our ~450 lines: every rule here (joining,
moves, waiting, subscriptions, the hand-over, calls into worker processes,
turn timers) reads and changes the same few fields — ``version``,
``_waits``, ``_view_waits``, ``_seen``,
the game in flight — and the promise that no change is lost or shown twice
can only be checked by reading them together. What does not touch them
lives elsewhere: keys (``players.py``), the session as data
(``_session_disk.py``), game calls (``checked.py``), timers (``timers.py``,
``_timeouts.py``), the dashboard's summaries (``web/source.py``).

Theory of operation
-------------------
Every change to the session (a move that reached the game, accepted or
rejected; a restart) bumps ``version``. Each *view* — a player ``(id, False)``
or the observers of a player ``(id, True)`` — remembers the version its last
``state`` reply showed. A ``state`` request returns at once when the two
differ and otherwise waits for the next change, so whether to wait is one
comparison and no wake-up can be lost between the check and the wait.

Waiting is data (``gameserver.waits.Wait``): a request that must wait comes
back as a ``Wait`` kept in ``_waits`` (joins) or ``_view_waits`` (states,
by view); every change wakes the joins and the views that have not seen it
(``close`` wakes everything), and their carriers simply ask again. A
subscription (``feed``, the push extension) is such a ``state`` asked
again and again by its connection, with the key checked once. A closed
session (replaced, timed out, server shutting down) answers every question
with the reason it was closed. Nothing here touches sockets, futures or timers, so the rules
are tested with plain calls.

Seats: until the session is full, a joiner whose client goes away gives its
seat back (its ``Wait`` is cancelled); ids are handed out only once the
session is full, in join order.

On a restart of a finished game, every other view is owed the old game's
final state once (the *hand-over*), so each client sees how the old game
ended before it sees the new one. "Every other view" includes the observer
view of every player, even one nobody has opened yet (PROTOCOL.md, restart).
The hand-over is kept as each player's final view of the old game, as the
encoded reply that hands it over (the old game itself is not kept).

Memory: a finished game's state is held once, by the game. Its encoded
views are not kept beyond the reply when they are large (``KEPT_FINISHED``):
until a restart, up to ``game_timeout``, every view's reply and its variant
with legal moves would each be one more copy of the state, for replies each
view asks for once.

Every call into game code goes through the session's ``CheckedGame``; its
failures become ``GameCodeError`` for the request at hand and never break
the session object.

Games in worker processes (``gameserver.isolated``): building the game, a
move and a restart's new game answer with a ``Call`` that ends later. The
session then keeps that call as ``_change``: the requester gets a ``Wait``;
whatever the call's end brings (the move's bookkeeping, the new game) is
done when it ends, even if the requester has gone (``_changing``); and
until then every other move or restart waits and is then served as if it
had just arrived. Questions (state, whose turn) are answered meanwhile from
the game as it was before the change, which is consistent with
``version``. While the first game is being built, changes to record (the
session becoming full) and every reply wait for it; if the build fails,
the session closes with the game's error, which the waiting replies get. A game
whose worker failed without a saved copy is lost: the session closes with
the reason. In-process games never return a ``Call``, so none of this costs
them more than a type check.

A session may have a turn timer (``timer``, see ``gameserver.timers``):
after every change the session tells it who moved, and the lobby calls
``time_up`` when a deadline passes. Without a timer none of that runs.
"""

from __future__ import annotations

import functools
import logging
import time
import typing
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from . import _session_disk, _timeouts, protocol, timers
from ._json import decode_json
from .checked import Call, CheckedGame, GameType, ViewPending
from .guard import GameCodeError
from .players import LEFT, Player, check_key, keys_match, new_key, secret_digest
from .protocol import ProtocolError, framework_error
from .waits import Feed, Outcome, Wait

__all__ = ["Feed", "Outcome", "Player", "Recorder", "SaveBatch", "Session", "View", "Wait"]

log = logging.getLogger("gameserver.session")

# The log's line for a saved session whose game this start does not offer (the store's
# load and the lobby's restore alone; args: game, token, game, game). An operator read it
# as a session lost: it stays in the store file for a start that offers the game again.
# (Its idle time runs on meanwhile: docs/reliability.md, "Durability".)
NOT_LOADED = ("session %s/%s not restored: the game %s is not loaded; it stays saved, idle, "
              "for a start that offers %s (with the --games-dir of its file, without a "
              "--game that leaves it out)")

View = _session_disk.View  # (player id, observer?)
# An empty set that costs no memory (CPython's empty frozenset is one object): what a
# session holds where nothing waits or nothing is owed, most of the time.
_NONE: frozenset[Any] = frozenset()
# The largest encoded view of a finished game kept for the next request of it (bytes).
# Larger ones are encoded again when asked (once per view; the game ended): kept, each
# would be one more copy of the state until a restart (stop 34: a 900 KB Echo state was
# held three times, by the game, the store's log of the end and the legal-moves reply).
KEPT_FINISHED = 16384


def _view_index(view: View) -> int:
    """Where a view is in a session's per-view lists: player * 2 + observer.

    Lists, not dicts keyed by view: a session holds three such tables, and a
    dict with one entry costs 224 bytes where a list for a one-player
    session costs 72 (bench/waiters.py: 10,000 sessions, one view each).
    """
    return view[0] * 2 + view[1]


class SaveBatch(typing.Protocol):
    """A group of changes being written to disk (see ``gameserver.store``)."""

    done: bool
    error: str | None
    waiters: list[Wait]
    again: SaveBatch | None  # failed: the batch that writes its changes again (None: never)
    unwaited: bool  # a reply showing its changes went out before it was saved
    crowded: bool  # so many changes wait for this save that every reply waits for it

    def wait(self, waiter: Wait) -> None:
        """Wake ``waiter`` when the batch is saved (and have it saved soon)."""


class Recorder(typing.Protocol):
    """Where a session reports its acknowledged changes (the durable store)."""

    def changed(self, session: Session, event: str, **detail: Any) -> SaveBatch | None:
        """Record ``event`` ("start", "move", "restart", "observe", "collected", "forfeit");
        the batch to wait for."""

    def moved(self, session: Session, player_id: int, move: dict[str, Any],
              rejection: Any) -> SaveBatch | None:
        """``changed(session, "move", player_id=..., move=..., rejection=...)``."""

    def forget(self, session: Session) -> None:
        """The session ended: its saved state goes."""

    def game_id(self, session: Session) -> int:
        """The history's id of the session's current game (for replay links), 0 if none."""


class Session:
    """A running session of one game under one token.

    Args:
        game_type: the game, behind checked calls.
        token: the session token (``auto-<n>`` for auto-join sessions).
        size: the number of players the session waits for.
        auto: whether this is an auto-join session (no observers, no names).
        recorder: where acknowledged changes are saved (None: nowhere).
        game: the game to play (None: a new one).
        clock: seconds, monotonic; tests may pass their own.

    Raises:
        GameCodeError: the game's constructor failed.
    """

    # Slots: a server holds one Session per session (10,000 and more). With over 30
    # attributes, CPython 3.11 stops sharing an instance dict's keys, and each
    # session's dict cost ~1.8 KB more (bench/waiters.py: 10,100 blocked clients
    # went from 66.9 to 97.6-103 MiB as attributes were added). ``__weakref__``: a game
    # in a worker process holds ``_lost`` weakly (``RemoteGame.when_lost``).
    __slots__ = ("_change", "_clock", "_ending_turns", "_final", "_handed_at", "_noting",
                 "_over_told",
                 "_owed", "_replies", "_seen", "_unrecorded", "_unsaved", "_view_waits",
                 "_waits", "__weakref__", "accepted_moves", "auto", "closed", "created", "game",
                 "game_error", "game_moves", "game_name", "game_type", "games_played",
                 "join_deadline", "last_activity", "max_moves", "moves", "noted", "own_timer",
                 "owner", "players", "recorder", "size", "timer", "token", "version",
                 "when_abandoned", "when_over", "when_timer")

    def __init__(self, game_type: GameType, token: str, size: int, *, auto: bool = False,
                 recorder: Recorder | None = None, game: CheckedGame | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.game_type = game_type
        self.game_name = game_type.name
        self.token = token
        self.size = size
        self.auto = auto
        self.recorder = recorder
        self._clock = clock
        self._unsaved: SaveBatch | None = None
        self.game = game if game is not None else game_type.new_game(size)
        self.players: list[Player] = []
        self.version = 0
        self.moves = 0  # moves that reached the game, since the session started
        self.accepted_moves = 0  # ... of them accepted by the game
        # The last move or state that failed in the game's code (an exception, its time
        # limit, a wrong value), and accepted_moves then (``game_failed``; shown while it
        # stands: ``game_failure``).
        self.game_error: tuple[str, int] | None = None
        # Counts the changes of what the dashboard shows of the session that are no change
        # of ``version``: a game's failure recorded, a state it asked for known (``shown_view``).
        # Part of the session's mark (``web.source``), which the lobby and live pages compare.
        self.noted = 0
        self._noting: set[Call] | None = None  # the fetches a look waits for (``shown_view``)
        self.game_moves = 0  # moves that reached the game, since the current game started
        self.games_played = 1
        self.closed: ProtocolError | None = None
        self.created = self.last_activity = clock()
        self.join_deadline: float | None = None  # the lobby ends it then, unless full
        self.when_abandoned: Callable[[Session], None] | None = None  # every joiner left
        self.owner = ""  # the client address that started it (for per-address limits)
        self.timer: timers.TurnTimer | None = None  # the turn timer; None: no time limit
        # Its starter chose its timer (not the configured one): its games are not rated.
        self.own_timer = False
        self.when_timer: Callable[[Session], None] | None = None  # its deadlines changed
        self.when_over: Callable[[Session], None] | None = None  # a game ended (once per game)
        self.max_moves = 0  # accepted moves after which the game not over is a draw (0: never)
        self._over_told = False  # when_over was called for the current game
        self._ending_turns = False
        # By view (_view_index): the version its last state reply showed; -1: none yet.
        # Made once the session is full (``_views_ready``): a stranger picks ``size``, up to
        # the game's ``max_players``, and nobody asks a state before.
        self._seen: list[int] = []
        # Hand-over: final views, as encoded ok-replies (str: the error they gave); an empty
        # tuple until a finished game restarts.
        self._final: Sequence[bytes | str] = ()
        self._owed: set[View] | frozenset[View] = _NONE  # views owed the hand-over
        # The version the restart that made the hand-over gave (0: none since the start):
        # an observer's ``state`` that waited from before it is handed the end too
        # (``_state_for``), though another waiting on that view took the view's.
        self._handed_at = 0
        self._waits: set[Wait] | frozenset[Wait] = _NONE  # joins: woken at every change
        # States, woken when their view changed, by view (_view_index): None, one Wait, or
        # a set of them (a view rarely has two: a set for each waiting client would be 216
        # bytes more of each). An empty tuple until a state first waits.
        self._view_waits: list[_StateWait | set[_StateWait] | None] | tuple[()] = ()
        # Encoded states of this version, at player * 2 + legal moves (see _view_reply);
        # an empty tuple until one is encoded.
        self._replies: list[bytes | None] | tuple[()] = ()
        self._change: Call | None = None  # a game in a worker process changing (see top)
        # Changes waiting for the first game to be built (see the top); mostly none.
        self._unrecorded: Sequence[tuple[str, dict[str, Any]]] = ()
        if game_type.remote:  # only a game in a worker process can be lost, or unbuilt yet
            self.game.when_lost(self._lost)
            build = self.game.pending
            if build is not None:
                self._change = build
                build.then(self._built)

    # ------------------------------------------------------------ joining

    @property
    def full(self) -> bool:
        return len(self.players) >= self.size

    def add_player(self, name: str, address: str = "") -> Player:
        """Seat a new player joining from ``address``; once full, wake the joiners.

        Raises:
            ProtocolError: ``name`` is non-empty and already used here, or looks
                like a name used here (``players.looks``).
        """
        self.touch()
        if name and any(p.name == name for p in self.players):
            raise framework_error("name already in use")
        player = Player(name, address=address)
        shown = player.shown
        if shown and any(p.shown == shown for p in self.players):  # (ASCII spaces: as before)
            raise framework_error(
                "name already in use: it looks like the name of a player here (it differs "
                "only in width, spaces or invisible characters); pick another name")
        self.players.append(player)
        if self.full:
            self._views_ready()
            self.join_deadline = None
            self._record("start")  # joins are acknowledged once the session is full
            self._wake()
            self._followed(new_game=True)
        return player

    def join_reply(self, player: Player, request_size_max: int,
                   timer: bool = False) -> Outcome:
        """The join reply for ``player``, or a ``Wait`` until the session is full.

        Cancelling that ``Wait`` (the joiner's client went away) gives the
        seat back; when no joiner is left, ``when_abandoned`` is called.
        With ``timer`` (the joiner used the timer extension) the reply also
        says the session's turn timer, under ``"timer"``.
        """
        if self.closed is not None:
            return self.closed.reply()
        if not self.full:
            def leave(wait: Wait) -> None:
                if wait in self._waits:
                    self._waits.remove(wait)  # type: ignore[union-attr]
                self._leave(player)

            return self._wait(lambda: self.join_reply(player, request_size_max, timer), leave)
        data = {"player_id": self.players.index(player), "key": player.key,
                "session": self.token, "request_size_max": request_size_max}
        if timer:
            data["timer"] = self.timer.spec.describe() if self.timer is not None else None
        return self._saved(protocol.ok(data))

    def _views_ready(self) -> None:
        """The session is full: its views may be asked for from now on."""
        self._seen = [-1] * (2 * self.size)

    def _leave(self, player: Player) -> None:
        if self.full or self.closed is not None or player not in self.players:
            return
        self.players.remove(player)
        log.info("session %s/%s: a joiner left before the session was full (%d of %d "
                 "seats taken)", self.game_name, self.token, len(self.players), self.size)
        if not self.players and self.when_abandoned is not None:
            self.when_abandoned(self)

    # ------------------------------------------------------------ requests

    def move(self, player_id: int, key: str, move: dict[str, Any], with_state: bool = False,
             legal_moves: bool = False, state_of: tuple[int, str] | None = None,
             wait_for_save: bool = True, final_state: bool = False) -> Outcome:
        """Pass one move to the game, after the checks in protocol order.

        With ``with_state`` (an extension) the reply also carries the mover's
        new state under ``"state"`` (with its legal moves if ``legal_moves``),
        and the mover's view counts as having seen it, as after a ``state``.
        ``state_of`` (player id, key) shows that player's state instead: a
        client that holds several seats (a learning loop playing itself)
        gets the state of the seat it moves next; its key is checked first.
        ``wait_for_save`` False (an extension) sends the reply before the move
        is saved (``_saved``). ``final_state`` (an extension): if the move ends
        the game, the reply also carries the mover's own final state, under
        ``"final_state"``, where the state it carries is another player's (a
        learning loop playing itself then needs no ``state`` request at the end).
        """
        # (No lambdas here: a closure would make a cell of every argument, every move.)
        self.last_activity = self._clock()  # (touch, inline)
        if self._change is not None:
            return self._after(self._change, functools.partial(
                self.move, player_id, key, move, with_state, legal_moves, state_of,
                wait_for_save, final_state))
        if self.timer is not None and self.timer.next_at <= self._clock():
            self.time_up()  # a deadline passed a moment ago ends that turn first
            if self._change is not None:  # ... with a move a game worker makes now
                return self._after(self._change, functools.partial(
                    self.move, player_id, key, move, with_state, legal_moves, state_of,
                    wait_for_save, final_state))
        game = self.game
        if game.game_over():
            return self._refused("game has ended")
        check_key(self.players, player_id, key, observer=False)
        shown = player_id  # whose state a move with state shows
        if state_of is not None:
            shown = state_of[0]
            check_key(self.players, shown, state_of[1], observer=False)
        if player_id not in game.current():
            return self._refused("not your turn")
        if with_state and self.game_type.remote:  # the worker sends that view with the move
            game.want(shown, legal_moves)  # type: ignore[attr-defined] # (a RemoteGame)
        # Accepted, rejected or failed, the game may have recorded something.
        try:
            # A copy: a game that changes the dict it gets must not change what is logged.
            rejection = game.move(dict(move), player_id)
        except GameCodeError as err:
            self.game_failed(err)
            self._moved(player_id, move, str(err))
            raise
        if isinstance(rejection, Call):  # a game in a worker process: the answer comes later
            return self._changing(rejection, functools.partial(
                self._remote_move_done, player_id, move, rejection,
                (shown, legal_moves) if with_state else None, wait_for_save,
                player_id if final_state else None))
        self._moved(player_id, move, rejection, wake=False)
        return self._move_reply(rejection, (shown, legal_moves) if with_state else None,
                                wait_for_save, player_id if final_state else None)

    def _refused(self, message: str) -> Outcome:
        """A move refused for what the game is now (it has ended, it is not the mover's
        turn): the refusal shows the changes that made it so, which may not be saved yet
        (another client's move that did not wait for its save), so it waits for them
        (``_saved``); with nothing unsaved it is raised, as every other refusal."""
        batch = self._unsaved
        if batch is None or (batch.done and not batch.error):  # nothing unsaved: at once
            raise framework_error(message)
        return self._saved(framework_error(message).reply())

    def _move_reply(self, rejection: Any, shown: tuple[int, bool] | None,
                    wait: bool = True, mover: int | None = None) -> Outcome:
        """The reply to a move just recorded (``_moved(wake=False)``), once saved (at once
        if not ``wait``).

        ``shown``: the (player id, legal moves) whose state the reply
        carries, or None. Without it at hand (the game's ``state`` fails,
        or a game in a worker process did not send that view along with
        its move: it is too large) the reply comes without it. ``mover``:
        the player whose final state the reply also carries if the game is
        over now (``move``'s ``final_state``), or None.
        """
        reply = protocol.OK_NULL if rejection is None else protocol.illegal_move(rejection)
        final: tuple[View, ...] = ()  # the mover's view, if the reply shows it its end
        if mover is not None and (shown is None or shown[0] != mover):
            reply, final = self._with_final_state(reply, mover, shown is not None and shown[1])
        outcome = self._saved_showing(reply, shown, wait, final)
        # Only now: the view shown in the reply is not woken for this move.
        self._wake()
        return outcome

    def _with_final_state(self, reply: bytes, mover: int,
                          legal_moves: bool) -> tuple[bytes, tuple[View, ...]]:
        """``reply`` with the mover's final state under "final_state", and the mover's view
        (which then counts as having seen it), if the game is over and that state at hand;
        else ``reply`` unchanged and no view."""
        state = self._at_hand(mover, legal_moves) if self._over() else None
        if state is None:
            return reply, ()
        return protocol.with_state(reply, state, b"final_state"), ((mover, False),)

    def _at_hand(self, player_id: int, legal_moves: bool) -> bytes | None:
        """``player_id``'s state as an ok-reply (``_view_reply``) if it can be had now; None
        if the game's ``state`` fails (the change stands; the next ``state`` brings the
        error) or a game in a worker process has not sent that view along."""
        try:
            state = self._view_reply(player_id, legal_moves)
        except GameCodeError:
            return None
        return state if isinstance(state, bytes) else None

    def _saved_showing(self, reply: bytes, shown: tuple[int, bool] | None,
                       wait: bool = True, also: tuple[View, ...] = ()) -> Outcome:
        """``reply`` once saved (at once if not ``wait``), carrying the state of ``shown``
        (player id, legal moves) where it is at hand, that player's view then counting as
        having seen it. Not at hand: the game's ``state`` fails (the change stands; the
        error comes with the next ``state``), or a game in a worker process has not sent
        that view along. ``also``: other views ``reply`` shows the current state of."""
        if shown is not None:
            try:  # (``_at_hand``, inline: every move with state comes this way)
                state = self._view_reply(*shown)
            except GameCodeError:
                state = None
            if isinstance(state, bytes):  # (else a Call: the worker sends the view later)
                return self._saved(protocol.with_state(reply, state), (shown[0], False),
                                   wait=wait, also=also)
        if also:
            return self._saved(reply, also[0], wait=wait, also=also[1:])
        return self._saved(reply, wait=wait)

    def state(self, player_id: int, key: str, observer: bool,
              legal_moves: bool = False, timer: bool = False,
              wait_for_save: bool = True) -> Outcome:
        """The state for one view: at once if it changed, else a ``Wait``.

        With ``legal_moves`` (an extension) the reply also lists the moves
        the player may make now, under ``"legal_moves"``; with ``timer``
        (an extension) the turn timer, under ``"timer"``. ``wait_for_save``
        False (an extension): a state at hand goes out even if it shows a
        change not yet saved (``_saved``); one that waits for a change waits
        for its save too.
        """
        self.last_activity = self._clock()  # (touch, inline)
        check_key(self.players, player_id, key, observer)
        return self._state_for((player_id, observer), legal_moves, timer, wait_for_save)

    def _seat_state_for(self, view: View, legal_moves: bool, timer: bool,
                        wait: bool = True, since: int | None = None) -> Outcome:
        """``_state_for`` for a request whose key was checked before (a subscription's
        next state, a woken ``state``, one whose state a game worker was asked for): none
        for a player who left meanwhile (``leave``: its key works no more, nor what was
        opened with it). An observer key stays good."""
        if not view[1] and self.players[view[0]].left:
            raise framework_error(LEFT)
        return self._state_for(view, legal_moves, timer, wait, since)

    def _state_for(self, view: View, legal_moves: bool, timer: bool = False,
                   wait: bool = True, since: int | None = None) -> Outcome:
        """``since``: the version a woken ``_StateWait`` waited from. Its request gets the
        change it waited for even if another request of the same view took it first:
        every observer of a player shares that view (PROTOCOL.md), and until 2026-12-01
        of two observers waiting, only the first to ask again got the change; the other
        waited for the next one, and for the game's end until ``game_timeout``. Any
        stranger watching a player so took the final state from the player's own display.
        """
        if self.closed is not None:
            return self.closed.reply()
        if view in self._owed:
            self._owed.remove(view)  # type: ignore[union-attr]
            if not view[1]:  # a player's (an observer may be shown it again after a crash)
                self._record("collected")
            # Leave _seen alone: the new game's state is due right after this.
            return self._saved(self._handover_reply(view[0], legal_moves, timer), owed=view,
                               wait=wait)
        if view[1] and since is not None and since < self._handed_at and self._final:
            # Waited on an observer view from before the restart, whose hand-over another
            # observer's request took: the restart is the change this one waited for too,
            # and the old game's end is what that change shows. Until 2026-12-01 it got
            # the new game's state and never saw how the game ended.
            return self._saved(self._handover_reply(view[0], legal_moves, timer), wait=wait)
        index = view[0] * 2 + view[1]  # (_view_index, inline)
        if self._seen[index] == self.version and (since is None or since == self.version):
            blocked = _StateWait(self, view, legal_moves, timer, self.version)
            view_waits = self._view_waits
            if not view_waits:
                view_waits = self._view_waits = [None] * (2 * self.size)
            waiting = view_waits[index]
            if waiting is None:
                view_waits[index] = blocked
            elif isinstance(waiting, set):
                waiting.add(blocked)
            else:
                view_waits[index] = {waiting, blocked}
            return blocked
        reply = self._view_reply(view[0], legal_moves)
        if isinstance(reply, Call):  # a game in a worker process: the state comes later
            return self._after(reply, functools.partial(self._seat_state_for, view, legal_moves,
                                                        timer, wait, since))
        if timer:  # the view as a dict (now known), with the timer added
            data = self.game.view(view[0], legal_moves)
            data["timer"] = (self.timer.client_info(self._clock())
                             if self.timer is not None else None)
            reply = self.game.reply_of(data)
        return self._saved(reply, view, wait=wait)

    def shown_view(self, player_id: int) -> dict[str, Any]:
        """``player_id``'s state as a dict, as its client gets it, for the dashboard's
        session page.

        The server calls a game's ``state()`` when someone asks, never on its own;
        this page asks for every player's. It is the reply a client gets (encoded once
        per change, whoever asks: a game that prints in ``state()`` prints once per
        change, not at every look), so a failure it meets, a state that is not JSON
        too, is recorded (``game_failed``) and shows in the lobby as one a client's
        request met does. A state of a game in a worker process not known yet is
        fetched: once it is, ``noted`` changes (once, however many looks waited for it),
        and the page is sent it.

        Raises:
            GameCodeError: the game's ``state()`` failed, or returned no JSON; or
                (``ViewPending``, no failure) a game in a worker process has not sent
                that state yet.
        """
        reply = self._view_reply(player_id, False)  # (records a failure)
        if isinstance(reply, bytes) and not self.game_type.remote:
            return decode_json(protocol.ok_data(reply))  # type: ignore[no-any-return]
        if isinstance(reply, Call):  # noted when it comes: once, however many looks wait
            noting = self._noting
            if noting is None:
                noting = self._noting = set()
            if reply not in noting:
                noting.add(reply)
                reply.then(lambda: self._note(reply))
        try:  # (a worker's state is decoded once; not known yet: ViewPending)
            return self.game.view(player_id)
        except ViewPending:
            raise
        except GameCodeError as err:
            self.game_failed(err)
            raise

    def game_failed(self, err: GameCodeError) -> None:
        """Record that the game's code failed (it raised, ran out of time, or returned a
        wrong value), for a request or a look (the dashboard's page, the store's log of
        a game's first and last views, a restart's new game or its hand-over of the
        old game's end): the lobby shows it (``game_failure``) until the game accepts
        a move again, or a restart replaces the game. The first failure since the last
        accepted move changes ``noted``; later ones do not, so a look that fails again
        each time (the page looks at every change of ``noted``) makes no change to look
        at again."""
        before = self.game_error
        self.game_error = (str(err), self.accepted_moves)
        if before is None or before[1] != self.accepted_moves:
            self.noted += 1

    @property
    def game_failure(self) -> str | None:
        """The game's last failure (``game_failed``) while it stands: until the game
        accepts a move, or a restart replaces the game; None if there is none."""
        failed = self.game_error
        return failed[0] if failed is not None and failed[1] == self.accepted_moves else None

    def _note(self, fetched: Call) -> None:
        """A state a look waited for has come (``fetched`` ended): the page shows it."""
        if self._noting is not None:
            self._noting.discard(fetched)
        self.noted += 1

    def view_text(self, player_id: int) -> str:
        """``player_id``'s view as JSON, as its ``state`` reply carries it.

        For the store, which logs what the players see when a game starts and
        ends: the reply is encoded once per version, and the players' ``state``
        requests that follow find it ready. The game is asked once, whatever
        happens. For a game in a worker process, the text of the reply the
        worker sent along, where it is known to be JSON the store can log
        (else its ``view``, encoded). A failure is recorded (``game_failed``),
        as a client's request records it.

        Raises:
            GameCodeError: the game's ``state()`` failed (``ViewPending``: a game in a
                worker process has not sent that state yet; no failure).
            TypeError, ValueError, RecursionError: the view is not JSON (in the json
                module's words, as the store logs such a view whichever way it got it).
        """
        if self.game_type.remote:
            text: str | None = self.game.view_text(player_id)  # type: ignore[attr-defined]
            if text is not None:
                return text
            try:
                view = self.game.view(player_id)
            except ViewPending:
                raise
            except GameCodeError as err:
                self.game_failed(err)
                raise
            return protocol.encode_json(view)
        try:
            return protocol.ok_data(self._view_reply(player_id, False))  # type: ignore[arg-type]
        except GameCodeError as err:  # not JSON: raise in the json module's words
            if isinstance(err.__cause__, (TypeError, ValueError, RecursionError)):
                raise err.__cause__ from None
            raise

    def _view_reply(self, player_id: int, legal_moves: bool) -> bytes | Call:
        """``player_id``'s state as an ok-reply: encoded once per version, whoever asks.

        A player and its observers, a ``state`` and a push, a move's reply
        and the opponent's ``state`` all share one encoding per change. A
        game in a worker process may answer with a ``Call`` (not kept).

        Raises:
            GameCodeError: the game's ``state()`` (or ``legal_moves()``) failed, or its
                state is not JSON: recorded (``game_failed``), as a failed move is.
        """
        key = player_id * 2 + legal_moves  # an int, not a tuple: nothing to allocate
        replies = self._replies
        reply: bytes | Call | None = None
        try:  # (costs nothing until it catches)
            if replies:
                reply = replies[key]
                # With legal moves, from the reply without them where that is at hand (the
                # store encoded it for a game's start or end): spliced, not encoded again.
                if reply is None and legal_moves and (plain := replies[key - 1]) is not None:
                    reply = self.game.legal_reply(player_id, plain)
                    if reply is not None:
                        self._keep_reply(key, reply)
            if reply is None:
                reply = self.game.view_reply(player_id, legal_moves)
                if isinstance(reply, Call):
                    return reply
                if len(reply) <= KEPT_FINISHED:  # (_keep_reply, inline for the usual case)
                    if not replies:
                        replies = self._replies = [None] * (2 * self.size)
                    replies[key] = reply
                else:
                    self._keep_reply(key, reply)
        except GameCodeError as err:  # shown on the dashboard, as a move's failure is
            self.game_failed(err)
            raise
        return reply

    def _keep_reply(self, key: int, reply: bytes) -> None:
        """Keep an encoded state until the next version (see ``_view_reply``); a large one
        of a finished game is not kept (``KEPT_FINISHED``), nor one of a game in a worker
        process: its game keeps it, within a bound for all (``isolated.FetchedViews``)."""
        if len(reply) > KEPT_FINISHED and (self.game_type.remote or self._over()):
            return
        replies = self._replies
        if not replies:
            replies = self._replies = [None] * (2 * self.size)
        replies[key] = reply

    def _over(self) -> bool:
        """Whether the current game has ended (False if the game cannot say)."""
        try:
            return self.game.game_over()
        except GameCodeError:
            return False

    def feed(self, player_id: int, key: str, observer: bool, legal_moves: bool = False,
             timer: bool = False) -> Feed:
        """A subscription to one view: a call that gives its next state, as ``state`` would.

        The key is checked once, here. Each call of the returned function is a
        ``state`` request of the view without the key check (and without
        counting as activity): the state at once if the view has not seen
        it, else a ``Wait`` for the next change; the session's error once it
        is closed. The carrier (a connection) calls it again after each state.
        """
        self.touch()
        check_key(self.players, player_id, key, observer)
        view = (player_id, observer)
        return lambda: self._seat_state_for(view, legal_moves, timer)

    def observe(self, name: str, code: str | None = None,
                consent_needed: bool = False) -> Outcome:
        """Hand out the read-only observer key of the player called ``name``.

        ``code`` is the player's observer code (see ``observer_code``): with
        it, the request is that player's consent. ``consent_needed`` (a game
        with hidden information, under the default rules) refuses a request
        without it.
        """
        self.touch()
        if self.auto:
            raise framework_error("observer mode not available for auto-join sessions")
        if not self.full:
            raise framework_error("game has not yet started")
        for player_id, player in enumerate(self.players):
            if name and player.name == name:
                if code is not None:
                    if player.observer_key is None or not keys_match(code, player.observer_key):
                        raise framework_error(
                            f"wrong observer code for {name}: ask {name}'s own program for "
                            "it again (observer_code())")
                elif consent_needed:
                    raise framework_error(
                        f"{self.game_name} has hidden information: only {name} may let a "
                        f"program watch them. {name}'s program gets an observer code with "
                        "observer_code() and hands it to the watching program, which passes "
                        "it to observe(code=...)")
                if player.observer_key is None:
                    player.observer_key = new_key()
                    self._record("observe")
                return self._saved(protocol.ok({"player_id": player_id,
                                                "key": player.observer_key}))
        raise framework_error("no such player")

    def observer_code(self, player_id: int, key: str) -> Outcome:
        """The code with which ``player_id`` lets its own second program watch it.

        It is the player's observer key: whoever has it can read the
        player's view (and nothing else), so the player hands it only to a
        program of its own.
        """
        self.touch()
        check_key(self.players, player_id, key, observer=False)
        player = self.players[player_id]
        if player.observer_key is None:
            player.observer_key = new_key()
            self._record("observe")
        return self._saved(protocol.ok({"player_id": player_id,
                                        "code": player.observer_key}))

    def leave(self, player_id: int, key: str) -> bool:
        """``player_id`` gives up its seat for good (the leave extension); whether every
        seat has now left (the lobby then ends the session).

        Its key is replaced by one nobody knows, so it works no more, for anyone
        (a second connection of the player, a copy an attacker read): nothing
        else changes. The game goes on for the others; the seat's turns are
        nobody's to make (a turn timer, if any, makes them); its observer code
        still lets a watcher read. A later request with the old key (leaving
        twice too) gets ``invalid key: this player left the game session``; any
        other wrong key the plain ``invalid key``, so a guesser learns nothing.
        Not saved itself: after a restart of the server the seat counts as not
        left, with the key the session's row was last saved with (its old one,
        unless a new game or an observer code wrote the row after the leave).

        Raises:
            ProtocolError: ``invalid key`` (also an observer key's).
        """
        check_key(self.players, player_id, key, observer=False)
        self.touch()
        player = self.players[player_id]
        player.former_key = secret_digest(player.key)  # (as told: check_key); it left
        player.key = new_key()
        return all(seat.left for seat in self.players)

    def restart(self, player_id: int, key: str, with_state: bool = False,
                legal_moves: bool = False, wait_for_save: bool = True,
                states_of: tuple[tuple[int, str], ...] = ()) -> Outcome:
        """Replace the game with a fresh one; ids, keys and names stay.

        With ``with_state`` (an extension) the reply also carries the
        restarter's state of the new game, as a move's does (``move``);
        ``wait_for_save`` as a move's. ``states_of`` (an extension, with
        ``with_state``): other players (id, key) whose new states the reply
        carries too, under ``"states"`` in that order; their keys are checked
        first, and their views are not handed the finished game's end (the
        restarter, who holds their keys, chose so: a learning loop playing
        every seat has been shown it already).
        """
        self.touch()
        if self._change is not None:
            return self._after(self._change, lambda: self.restart(
                player_id, key, with_state, legal_moves, wait_for_save, states_of))
        check_key(self.players, player_id, key, observer=False)
        for other, other_key in states_of:
            check_key(self.players, other, other_key, observer=False)
        others = tuple(other for other, _ in states_of) if with_state else ()
        if player_id in others or len(set(others)) < len(others):  # (a state each, once)
            raise framework_error("with_states_of must name other players of the session "
                                  "than the restarter, each once")
        try:
            new_game = self.game_type.new_game(self.size)
        except GameCodeError as err:  # (the old game plays on)
            self.game_failed(err)
            raise
        build = new_game.pending
        shown = (player_id, legal_moves) if with_state else None
        if build is not None:  # a game in a worker process: ready later
            return self._changing(build, lambda: self._restart_reply(
                self._restarted(player_id, new_game, build, others, legal_moves), shown,
                wait_for_save, others))
        return self._restart_reply(self._restarted(player_id, new_game, None, others,
                                                   legal_moves), shown, wait_for_save, others)

    def _restart_reply(self, reply: bytes, shown: tuple[int, bool] | None,
                       wait: bool = True, others: tuple[int, ...] = ()) -> Outcome:
        """The reply to a restart, once saved (at once if not ``wait``); with ``shown``
        (player id, legal moves) and the restart done, carrying that player's new state
        where it is at hand and the player's view is not owed the old game's end (which its
        next ``state`` returns); and the new states of ``others`` (``restart``'s
        ``states_of``), each where at hand (else null: that view stays unseen)."""
        if shown is not None and (reply != protocol.OK_NULL or (shown[0], False) in self._owed
                                  or self.players[shown[0]].left):  # (left: see _with_states)
            shown = None
        if others and shown is not None:
            state = self._at_hand(*shown)
            if state is None:  # no "states" either (nor waived: _restarted)
                return self._saved(reply, wait=wait)
            reply, also = self._with_states(reply, others, shown[1])
            return self._saved(protocol.with_state(reply, state), (shown[0], False),
                               wait=wait, also=also)
        return self._saved_showing(reply, shown, wait)

    def _with_states(self, reply: bytes, others: tuple[int, ...],
                     legal_moves: bool) -> tuple[bytes, tuple[View, ...]]:
        """``reply`` with the states of ``others`` under "states" (null where one is not at
        hand), and the views shown."""
        states, shown = [], []
        for other in others:
            # A seat that left while a game worker made the new game is shown nothing of
            # it: its key, checked when the restart came, works no more (``leave``).
            state = None if self.players[other].left else self._at_hand(other, legal_moves)
            if state is not None:
                states.append(state[len(protocol.OK_HEAD):-1])
                shown.append((other, False))
            else:
                states.append(b"null")
        listed = protocol.OK_HEAD + b"[" + b", ".join(states) + b"]}"
        return protocol.with_state(reply, listed, b"states"), tuple(shown)

    def _restarted(self, player_id: int, new_game: CheckedGame, build: Call | None = None,
                   waived: tuple[int, ...] = (), legal_moves: bool = False) -> bytes:
        """Put ``new_game`` in place of the old one; the restart's reply. ``waived``: the
        players whose views are not handed the finished game's end (``states_of``), if
        the restarter's new state (with ``legal_moves``) is at hand to show them with."""
        if self.closed is not None:
            return self.closed.reply()
        if build is not None and build.error is not None:  # (the old game plays on)
            self.game_failed(GameCodeError(build.error))
            return protocol.error(build.error)
        old_game = self.game
        try:
            old_over = old_game.game_over()
        except GameCodeError:
            old_over = False
        # Hand-overs not yet collected stay owed (a second restart must not hide how
        # the finished game ended); a newly finished game replaces them.
        handover_failed = None
        if old_over:  # its end, as the replies of its last version (encoded once)
            replies = self._replies
            self._final = [(replies[p * 2] if replies and replies[p * 2] is not None
                            else _session_disk.final_reply(old_game, p))
                           for p in range(self.size)]
            self._owed = ({(p, True) for p in range(self.size)}
                          | {(p, False) for p in range(self.size) if p != player_id})
            handover_failed = next((f for f in self._final if isinstance(f, str)), None)
        self.game = new_game
        # The failure shown was the old game's (it stood until a move was accepted): gone
        # with it. One in the hand-over is what players' next ``state`` gets: shown.
        self.game_error = None
        if handover_failed is not None:
            self.game_failed(GameCodeError(handover_failed))
        new_game.when_lost(self._lost)
        self.games_played += 1
        self.game_moves = 0
        self._bump()  # first: the store logs the new game's state from the replies' encoding
        if old_over:
            self._handed_at = self.version
        if (waived and self._owed and (player_id, False) not in self._owed
                and self._at_hand(player_id, legal_moves) is not None):
            # (A restarter owed an earlier end, or without its state, gets no states.)
            self._owed = {view for view in self._owed if view[1] or view[0] not in waived}
        # Woken first: the resumes of the views waiting (a subscription's push, a blocked
        # ``state``) are scheduled before the commit the restart's record schedules, so a
        # view handed the old game's end here records its collection in that commit
        # (not in one of its own, a loop pass later), and its reply goes out with it.
        self._wake()
        self._record("restart")
        self._over_told = False
        self._followed(new_game=True)
        return protocol.ok(None)

    def _handover_reply(self, player_id: int, legal_moves: bool, timer: bool = False) -> bytes:
        final = self._final[player_id]
        if isinstance(final, str):
            return protocol.error(final)
        # The old game is over: nobody may move in it, and no time runs in it.
        if legal_moves or timer:
            return _session_disk.over_for_good(final, legal_moves, timer)
        return final

    # ------------------------------------------------------------ turn timers

    def now(self) -> float:
        """The session's clock (monotonic seconds)."""
        return self._clock()

    def time_up(self) -> None:
        """End the turns whose time is up (the lobby calls this at the timer's deadline)."""
        if self.timer is None or self._ending_turns:
            return
        change = self._change
        if change is not None:  # a move made in time is in a game worker: its end decides
            self.timer.waiting = True
            change.then(lambda: _timeouts.time_up_again(self))
            return
        self._ending_turns = True
        try:
            _timeouts.end_turns(self, self._clock())
        finally:
            self._ending_turns = False
        if self.when_timer is not None:
            self.when_timer(self)

    def timed_move(self, player_id: int, move: dict[str, Any]) -> bool | None:
        """Make ``move`` for ``player_id``, whose time ran out; whether the game accepted it.

        It goes the way of the player's own moves (recorded, replayed,
        waking everyone); it is not the player's sign of life. None: a game in a
        worker process is making it (its end updates the timer, as any
        move's does).

        Raises:
            ProtocolError: the move could not be made (the game has ended, ...).
            GameCodeError: the game's ``move`` failed.
        """
        accepted = self.accepted_moves
        active = self.last_activity  # a move made for nobody is no sign of life
        try:
            self.move(player_id, self.players[player_id].key, move)
        finally:
            self.last_activity = active
        if self._change is not None:
            return None
        return self.accepted_moves > accepted

    def forfeit(self, players: list[int], reason: str) -> None:
        """End the current game: ``players`` lose it (they ran out of time)."""
        self.game = _timeouts.ForfeitedGame(self.game, players, reason)
        self._bump()  # first: the store logs the end from the replies' encoding
        self._record("forfeit", players=sorted(players), reason=reason)
        self._wake()
        self._followed()

    def _followed(self, mover: int | None = None, accepted: bool = False,
                  new_game: bool = False) -> None:
        """After a change: the turn timer and the game-over callback, where there are any."""
        if self.timer is not None:
            _timeouts.follow(self, mover, accepted, new_game)
            if self.when_timer is not None:
                self.when_timer(self)
        if self.when_over is not None and not self._over_told:
            try:
                over = self.game.game_over()
            except GameCodeError:
                return
            if over:
                self._over_told = True
                self.when_over(self)

    # ------------------------------------------------------------ games in worker processes

    def _after(self, call: Call, resume: Callable[[], Outcome]) -> Wait:
        """A ``Wait`` woken when ``call`` ends; then ``resume()``, unless the session closed."""
        wait = Wait(lambda: self.closed.reply() if self.closed is not None else resume())
        call.then(wait.wake)
        return wait

    def _changing(self, call: Call, finish: Callable[[], Outcome]) -> Wait:
        """Hold other changes until ``call`` ends; then ``finish()`` does the bookkeeping.

        ``finish`` runs when the call ends, even if the requester has gone,
        and gives what the requester gets (a reply held until saved:
        ``_saved``).
        """
        self._change = call
        wait = _Changed(self, finish)
        call.then(wait.ended)
        return wait

    def _remote_move_done(self, player_id: int, move: dict[str, Any], call: Call,
                          shown: tuple[int, bool] | None, wait: bool,
                          mover: int | None) -> Outcome:
        if self.closed is not None:  # replaced or timed out meanwhile: nothing to record
            return self.closed.reply()
        try:
            rejection = call.result()
        except GameCodeError as err:
            self.game_failed(err)
            self._moved(player_id, move, str(err))
            return self._saved(protocol.error(str(err)))
        self._moved(player_id, move, rejection, wake=False)
        # A seat that left while the worker played the move is shown nothing of it: its
        # key, checked when the move came, works no more (``leave``), for anyone.
        if shown is not None and self.players[shown[0]].left:
            shown = None
        if mover is not None and self.players[mover].left:
            mover = None
        return self._move_reply(rejection, shown, wait, mover)

    def _built(self) -> None:
        """The first game is ready (or failed): record what waited for it."""
        build, self._change = self._change, None
        records, self._unrecorded = self._unrecorded, ()
        if build is not None and build.error is not None:
            self.close(ProtocolError(build.error))
            return
        for event, detail in records:
            self._record(event, **detail)
        if self.full:  # whose turn it is is known only now
            self._followed(new_game=True)

    def _lost(self, game: CheckedGame, reason: str) -> None:
        """The game is gone (its worker failed without a copy to come back from, or its
        file no longer loads): the session ends, and its saved rows go at once.

        Kept until the idle timeout ended it, a restart in between brought the session
        back (replayed from its moves, or once the file loads again) after its players
        were told it had ended, and after a tournament counted its game void. A session
        closed already (the server stopping: ``Lobby.close`` first) keeps them."""
        if game is self.game and self.closed is None:
            self.close(ProtocolError(reason))
            if self.recorder is not None and self.full:
                self.recorder.forget(self)

    # ------------------------------------------------------------ waiting

    def _wait(self, resume: Callable[[], Outcome],
              on_cancel: Callable[[Wait], None] | None = None) -> Wait:
        """A ``Wait`` woken at the next change or when the session closes."""
        waits = self._waits
        if waits is _NONE:
            waits = self._waits = set()
        wait = Wait(resume, on_cancel or waits.discard)
        waits.add(wait)
        return wait

    def _forget_state_wait(self, wait: _StateWait, view: View) -> None:
        """Its client went away: the state ``wait`` of ``view`` is woken no more."""
        view_waits = self._view_waits
        if not view_waits:
            return
        index = _view_index(view)
        waiting = view_waits[index]
        if waiting is wait:
            view_waits[index] = None
        elif isinstance(waiting, set):
            waiting.discard(wait)

    @property
    def waiting(self) -> int:
        """Requests currently waiting on this session."""
        return len(self._waits) + sum(len(waiting) if isinstance(waiting, set) else 1
                                      for waiting in self._view_waits if waiting is not None)

    @property
    def seat_waiting(self) -> bool:
        """Whether a seat still in the game waits on it now (a ``state`` of its own view, a
        subscription's, a browser's stream): its player is there, if quiet (``overwrite``).
        An observer's wait does not count: anyone may watch a game without hidden
        information, and a watcher is no player to protect."""
        players = self.players
        return any(waiting is not None and not index % 2 and not players[index // 2].left
                   for index, waiting in enumerate(self._view_waits))

    def _bump(self) -> None:
        self.version += 1
        self._replies = ()

    def _wake(self) -> None:
        """Wake what waits: the joins, and the states of every view with news.

        A view that has seen the current version (a mover whose reply shows
        its own move) stays asleep: waking it would only make it wait again.
        """
        waits, self._waits = self._waits, _NONE
        for wait in waits:
            wait.wake()
        view_waits = self._view_waits
        if view_waits:
            seen, version, owed = self._seen, self.version, self._owed
            everyone = self.closed is not None
            for index, waiting in enumerate(view_waits):
                if waiting is None:
                    continue
                if (everyone or seen[index] != version
                        or (owed and (index // 2, bool(index % 2)) in owed)):
                    view_waits[index] = None
                    if isinstance(waiting, set):
                        for wait in waiting:
                            wait.wake()
                    else:
                        waiting.wake()

    def close(self, reason: ProtocolError) -> None:
        """End the session; everyone waiting, and every later request, gets ``reason``."""
        if self.closed is None:
            self.closed = reason
            self.join_deadline = None
            self._wake()

    def touch(self) -> None:
        self.last_activity = self._clock()

    # ------------------------------------------------------------ durability

    def _moved(self, player_id: int, move: dict[str, Any], rejection: Any,
               wake: bool = True) -> None:
        """Count and record a move that reached the game; a new version.

        ``wake=False``: the caller wakes the waiting views once its reply has
        marked what the mover saw (a move with state).
        """
        self.moves += 1
        self.game_moves += 1
        if rejection is None:
            self.accepted_moves += 1
        # First (_bump, inline): the store logs the new state from the replies' encoding.
        self.version += 1
        self._replies = ()
        recorder = self.recorder
        if recorder is None:
            pass
        elif self.game.pending is not None:  # (see _record)
            self._record("move", player_id=player_id, move=move, rejection=rejection)
        else:  # what _record does, the short way: this is every step's change
            try:
                batch = recorder.moved(self, player_id, move, rejection)
            except Exception:
                self._recording_failed("move")
            else:
                if batch is not None:
                    self._unsaved = batch
        if wake:
            self._wake()
        if self.timer is not None or self.when_over is not None:  # (else _followed does nothing)
            self._followed(player_id, rejection is None)
        if rejection is None and 0 < self.max_moves <= self.accepted_moves:
            self._limit_reached()

    def _limit_reached(self) -> None:
        """``max_moves`` accepted moves: a game that its last one did not end is a draw.

        Ended as a forfeit that nobody lost (``"forfeit": {"players": [],
        "reason": ...}`` in every view: ``gameserver.results`` reads a draw).
        Tournaments set ``max_moves`` (their sessions play one game, so the
        session's accepted moves are the game's).
        """
        try:
            if self.game.game_over():
                return
        except GameCodeError:
            return
        self.forfeit([], f"the game did not end within {self.max_moves} moves "
                         "(the move limit)")

    def _record(self, event: str, **detail: Any) -> None:
        if self.recorder is None:
            return
        if self.game.pending is not None:  # the store reads the game: record once it is built
            self._unrecorded = [*self._unrecorded, (event, detail)]  # a few, at most
            return
        try:
            batch = self.recorder.changed(self, event, **detail)
        except Exception:
            self._recording_failed(event)
            return
        if batch is not None:
            self._unsaved = batch

    def _recording_failed(self, event: str) -> None:
        """Log why: saving must never break the request that made the change."""
        log.exception("session %s/%s: recording %s failed", self.game_name, self.token, event)

    def saved(self, reply: bytes) -> Outcome:
        """``reply`` (made elsewhere, e.g. a tournament's seat) once this session is saved.

        Nothing that could show a change may leave before the change is on
        disk; a reply that hands out a key to the session is such a reply.
        """
        return self._saved(reply)

    def _saved(self, reply: bytes, view: View | None = None,
               owed: View | None = None, wait: bool = True,
               also: tuple[View, ...] = ()) -> Outcome:
        """``reply``, held back until every change of this session it may show is saved.

        ``view``, when given, is the view whose state ``reply`` shows: it is
        marked as having seen the current version at once, so that no other
        request of the view (an observer's, a subscription's) is given the
        same version while this reply waits for the save. If the save fails,
        the reply turns into an error and the mark is taken back (the next
        ``state`` of that view must not wait for a change it never saw).
        ``owed``, when given, is the view whose hand-over ``reply`` is: if the
        save fails, the view is owed it again. ``also``: more views ``reply``
        shows the current state of (a move's ``final_state``, a restart's
        ``states_of``), marked and taken back as ``view``.

        After a failed save the changes are written again with a later
        commit (``SaveBatch.again``): until it lands, every reply waits for it
        (and gets the error if it fails too), so that no reply shows a change
        a crash could still lose.

        Not ``wait`` (a move, restart or state with ``"wait_for_save": false``, the
        choice of a learning loop that wants its next state sooner than the
        disk): ``reply`` at once, as if saved, and the batch is marked so that
        the store may group its commit with the next few milliseconds' (no
        reply waits for it). Only that reply goes early: every other one that
        shows the change still waits for it (and hurries the commit), and a
        failed save is not reported to this requester (the change is written
        again with the next commit, docs/reliability.md). A crowded batch
        (``SaveBatch.crowded``: a slow commit let it grow) makes it wait too.
        """
        if self._change is not None and self.game.pending is not None:
            # The first game is being built (see the top): no reply before it is.
            return self._after(self._change,
                               lambda: self._saved(reply, view, owed, wait, also))
        batch = self._unsaved
        if batch is not None:  # (else nothing is unsaved, or there is no store)
            if batch.done and batch.error:
                while batch.again is not None and batch.error:  # the retries, to the latest
                    batch = batch.again
                self._unsaved = batch
            if batch.done:
                self._unsaved = None
                if batch.error:
                    if owed is not None:
                        self._owe_again(owed)
                    return protocol.error(batch.error)
            elif wait or batch.crowded:
                saved_reply = _SavedReply(self, reply, batch, view, owed)
                for other in also:
                    saved_reply.also(other)
                batch.wait(saved_reply)
                return saved_reply
            else:  # at once, unsaved, by the client's choice
                batch.unwaited = True
        if view is not None:
            self._seen[view[0] * 2 + view[1]] = self.version  # (_view_index, inline)
            for other in also:
                self._seen[_view_index(other)] = self.version
        return reply

    def _owe_again(self, view: View) -> None:
        """The reply that handed ``view`` the last game's end failed (its save did):
        the view is owed it again, and a player's is saved so (with the next commit)."""
        if self._owed is _NONE:
            self._owed = set()
        self._owed.add(view)  # type: ignore[union-attr]
        if not view[1]:
            self._record("collected")  # the owed views changed (back)
        self._wake()  # whoever waits on that view may have it now

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to bring this session back (``gameserver._session_disk``).

        Raises:
            GameCodeError: the game cannot be saved (see ``CheckedGame.snapshot``).
        """
        return _session_disk.snapshot(self)

    @classmethod
    def restore(cls, data: dict[str, Any], game_type: GameType,
                recorder: Recorder | None = None,
                clock: Callable[[], float] = time.monotonic) -> Session:
        """Rebuild a session from ``snapshot()`` (see ``gameserver._session_disk``).

        Raises:
            GameCodeError: the saved game cannot be loaded.
        """
        session = typing.cast(Session,
                              _session_disk.restore(cls, data, game_type, recorder, clock))
        if session.full:
            session._views_ready()
        return session

    @property
    def handover(self) -> tuple[Sequence[bytes | str], AbstractSet[View]]:
        """The hand-over: each player's final view of the last finished game, as the
        encoded ok-reply that hands it over (a str: the error it gave), and the views
        still owed it."""
        return self._final, self._owed

    @handover.setter
    def handover(self, value: tuple[Sequence[bytes | dict[str, Any] | str],
                                    AbstractSet[View]]) -> None:
        """Set from replies, or from views as data (as the store saves them)."""
        final, owed = value
        self._final = [_session_disk.final_encoded(view) for view in final] if final else ()
        self._owed = set(owed) if owed else _NONE


class _Changed(Wait):
    """A request waiting for its change in a worker process (``Session._changing``): when
    the call ends, ``ended`` does the bookkeeping (even if the requester has gone), then
    wakes it. One slotted object and one callback of the call, not a list, a closure and
    two lambdas around a ``Wait`` (one for each move)."""

    __slots__ = ("_session", "_finish", "_outcome")

    def __init__(self, session: Session, finish: Callable[[], Outcome]) -> None:
        super().__init__(None)
        self._session = session
        self._finish = finish
        self._outcome: Outcome | None = None

    def ended(self) -> None:
        self._session._change = None
        try:
            self._outcome = self._finish()
        finally:  # woken even if that failed (a bug of ours, logged by the call): see resume
            self.wake()

    def resume(self) -> Outcome:
        """What ``finish`` gave, unless the session closed meanwhile."""
        closed = self._session.closed
        if closed is not None:
            return closed.reply()
        if self._outcome is None:
            raise RuntimeError("the change's bookkeeping failed (see the server log)")
        return self._outcome


class _SavedReply(Wait):
    """A reply held back until ``batch`` is saved (``Session._saved``); one slotted
    object, not a closure over eight cells around a ``Wait`` (one for each move)."""

    __slots__ = ("_session", "_reply", "_batch", "_view", "_index", "_version", "_before",
                 "_owed", "_final", "_also", "_resumed")

    def __init__(self, session: Session, reply: bytes, batch: SaveBatch, view: View | None,
                 owed: View | None) -> None:
        super().__init__(None, saving=True, size=len(reply))
        self._session = session
        self._reply = reply
        self._batch = batch
        self._view = view
        self._owed = owed
        if owed is not None:  # the ended game whose end it hands (see ``_take_back``)
            self._final = session._final
        self._also: list[tuple[int, int]] | None = None  # more views' (index, mark before)
        self._resumed = False
        if view is not None:  # seen at once: see ``Session._saved``
            seen = session._seen
            index = self._index = _view_index(view)
            self._version = version = session.version
            self._before = seen[index]
            seen[index] = version

    def also(self, view: View) -> None:
        """The reply shows ``view`` the current state too (after a ``view``): marked the same."""
        seen = self._session._seen
        index = _view_index(view)
        if self._also is None:
            self._also = []
        self._also.append((index, seen[index]))
        seen[index] = self._version

    def resume(self) -> Outcome:
        """The reply, or the error of its failed save (the views' marks taken back)."""
        self._resumed = True
        error = self._batch.error
        if not error:
            return self._reply
        self._take_back()
        return protocol.error(error)

    def cancel(self) -> None:
        """The client went before it got the reply: its views did not see it (whether
        the save lands or fails), so their marks are taken back: the view's next state
        does not wait for a change it never got. A hand-over it carried is not owed
        again: it is lost with its connection, as any reply in flight is (and its
        collection is saved; a reset seen only when the reply is written loses it the
        same way)."""
        if self.cancelled or self._resumed:
            return
        super().cancel()
        self._take_back(gone=True)

    def _take_back(self, gone: bool = False) -> None:
        """Undo what the reply counted as seen: the views' marks (unless a later reply
        moved them on); and, where its save failed (not ``gone``), the hand-over it
        carried, unless a later game has ended and been restarted since (a carrier may
        resume a woken reply long after: a client that reads nothing): the view is then
        owed that game's end, or was handed it, or restarted it; owed again, it would
        get that end twice."""
        session, view, owed = self._session, self._view, self._owed
        if view is not None and session._seen[self._index] == self._version:
            session._seen[self._index] = self._before
            session._wake()  # whoever waits on that view may have it now
        for index, before in self._also or ():
            if session._seen[index] == self._version:
                session._seen[index] = before
                session._wake()
        if owed is not None and not gone and session._final is self._final:
            session._owe_again(owed)


class _StateWait(Wait):
    """A ``state`` (or a subscription's next state) waiting for its view to change.

    There is one for every blocked client, so it is one slotted object: a
    ``Wait`` around ``functools.partial(session._state_for, ...)`` and the
    session's bound cancel method were five objects, about 300 bytes more
    a client (bench/waiters.py).
    """

    __slots__ = ("_session", "_player_id", "_observer", "_legal_moves", "_timer", "_since")

    def __init__(self, session: Session, view: View, legal_moves: bool, timer: bool,
                 since: int) -> None:
        super().__init__(None)
        self._session = session
        self._since = since  # the version it waits to pass
        self._player_id, self._observer = view
        self._legal_moves = legal_moves
        self._timer = timer

    def resume(self) -> Outcome:
        """The view's state, asked again (as ``Session.state`` would, without the key);
        none for a player who left meanwhile (``leave``: its key works no more)."""
        return self._session._seat_state_for((self._player_id, self._observer),
                                             self._legal_moves, self._timer, since=self._since)

    def cancel(self) -> None:
        """The client went away: the session forgets this wait at once."""
        if not self.cancelled:
            super().cancel()
            self._session._forget_state_wait(self, (self._player_id, self._observer))
