"""What happens when a turn's time is up: a move made for the player, or the game lost.

``gameserver.timers`` knows *when* time runs out; this module does what
follows, on the session (``Session.time_up`` calls ``end_turns``):

* a turn timeout with the action ``"move"``: the move the game's
  ``timeout_move`` hook names, else a random move of its ``legal_moves``
  (``random_choice``), made through the session like the player's own;
* a turn timeout with the action ``"forfeit"``, a game offering neither, and
  a chess clock run out: the player loses the game. The session's game is
  then wrapped in a ``ForfeitedGame``: it is over, nobody may move, and
  every view carries ``"forfeit": {"players": [...], "reason": ...}``
  (``gameserver.results`` reads it); the game object itself is left as it
  was.

A game in a worker process (``gameserver.isolated``) answers later: its
legal moves may have to be fetched, and a move made for a player takes a
round trip. Meanwhile the timer *waits* (``TurnTimer.waiting``: the
schedule leaves it alone), and the worker's answer carries on.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any

from .checked import Call
from .guard import GameCodeError
from .policy import choose_move
from .protocol import ProtocolError, framework_error

if TYPE_CHECKING:
    from .timers import TimedSession

log = logging.getLogger("gameserver.timers")


class ForfeitedGame:
    """A game the framework ended because players ran out of time; see the module docstring.

    It stands in for the session's ``CheckedGame`` (any object with its
    methods) and asks it only for the state.
    """

    __slots__ = ("inner", "forfeit")

    def __init__(self, inner: Any, players: list[int], reason: str) -> None:
        self.inner = inner
        self.forfeit = {"players": sorted(players), "reason": reason}

    @property
    def type(self) -> Any:
        return self.inner.type

    @property
    def instance(self) -> Any:
        return self.inner.instance

    def game_over(self) -> bool:
        return True

    def current(self) -> list[int]:
        return []

    def move(self, move: dict[str, Any], player_id: int) -> Any:
        raise framework_error("game has ended")

    def state(self, player_id: int) -> dict[str, Any]:
        return self.inner.state(player_id)

    def view_text(self, player_id: int) -> None:
        """None: the store asks ``view``, which adds the forfeit (the text a game in a
        worker process sent along has none; ``Session.view_text``)."""
        return None

    def view(self, player_id: int, legal_moves: bool = False) -> dict[str, Any]:
        data = dict(self.inner.state(player_id))
        data["current"] = []
        data["gameover"] = True
        data["forfeit"] = self.forfeit
        if legal_moves:
            data["legal_moves"] = []
        return data

    def view_reply(self, player_id: int, legal_moves: bool = False) -> bytes:
        return self.inner.reply_of(self.view(player_id, legal_moves))

    def reply_of(self, view: dict[str, Any]) -> bytes:
        return self.inner.reply_of(view)

    def legal_moves(self, player_id: int) -> list[dict[str, Any]]:
        return []

    def timeout_move(self, player_id: int) -> None:
        return None

    def private_data(self, player_id: int) -> list[Any]:
        return self.inner.private_data(player_id)

    def snapshot(self) -> bytes:
        return self.inner.snapshot()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # what else the game object offers (its seed, ...)


# ---------------------------------------------------------------- ending turns


def follow(session: TimedSession, mover: int | None = None, accepted: bool = False,
           new_game: bool = False) -> None:
    """After a change of ``session``: update its timer (call only when it has one).

    Args:
        mover: who made the move that changed it, if a move did.
        accepted: whether the game accepted that move.
        new_game: a game begins (the session became full, or restarted).
    """
    timer = session.timer
    assert timer is not None
    timer.waiting = False
    now = session.now()
    try:
        current = session.game.current()
    except GameCodeError:
        timer.stop()  # a game that cannot say whose turn it is cannot time anyone out
        return
    if new_game:
        timer.begin(now, current)
    else:
        timer.follow(now, current, mover, accepted)


def end_turns(session: TimedSession, now: float) -> None:
    """End the turn of every player of ``session`` whose time is up at ``now``."""
    timer = session.timer
    if timer is None or session.closed is not None or timer.waiting:
        return
    if now < timer.next_at:
        return
    follow(session)  # in step with whose turn it is now (a restore, a game changed behind us)
    due = timer.due(now)
    if not due:
        return
    lost = [player for player, reason in due if reason == "clock"]
    timed_out = [player for player, reason in due if reason == "turn"]
    if timer.spec.action == "forfeit":
        lost, timed_out = lost + timed_out, []
    for player in timed_out:
        made = _move_for(session, player)
        if made is None:  # a game worker is busy with it: the rest when it has answered
            timer.waiting = True
            return
        if not made:
            lost.append(player)
    if lost:
        reason = "game clock" if all(r == "clock" for p, r in due if p in lost) else "turn timeout"
        log.info("session %s/%s: player(s) %s ran out of time (%s) and lost the game",
                 session.game_name, session.token, sorted(lost), reason)
        session.forfeit(lost, reason)


def _move_for(session: TimedSession, player: int) -> bool | None:
    """Make a move for ``player``, whose turn timed out.

    Returns False if none could be made, None while a game in a worker
    process is busy with it (``session.time_up`` runs again when it is done).
    """
    game = session.game
    if player not in _current(session):
        return True  # an earlier timeout's move ended this player's turn already
    candidates: list[dict[str, Any]] = []
    failed = None
    try:
        chosen = game.timeout_move(player)
        if isinstance(chosen, Call):  # a game worker is asked; time_up runs again then
            chosen.then(lambda: time_up_again(session))
            return None
        if chosen is not None:
            candidates.append(chosen)
    except GameCodeError as err:
        failed = err
    legal = _legal_moves(session, player)
    if legal is None:  # asked again once they come: the hook's error is logged then, once
        return None
    if failed is not None:
        log.warning("session %s/%s: %s", session.game_name, session.token, failed)
    if legal:
        candidates.append(random_choice(session, player, legal))
    for move in candidates:
        if player not in _current(session):
            return True
        try:
            accepted = session.timed_move(player, move)
        except (ProtocolError, GameCodeError) as err:
            log.warning("session %s/%s: the move made for player %d on timeout failed: %s",
                        session.game_name, session.token, player, err)
            continue
        if accepted is None or accepted:
            return accepted
    return player not in _current(session)


def _legal_moves(session: TimedSession, player: int) -> list[dict[str, Any]] | None:
    """The player's legal moves ([] if none or unknown); None while a worker is asked for them.

    A game in a worker process (``gameserver.isolated``) knows them only
    once fetched; the fetch's end asks ``session.time_up`` again.
    """
    game = session.game
    if getattr(game.type, "remote", False):
        try:
            reply = game.view_reply(player, True)
        except GameCodeError:
            return []
        if isinstance(reply, Call):
            reply.then(lambda: time_up_again(session))
            return None
    try:
        return game.legal_moves(player) or []
    except GameCodeError as err:
        log.warning("session %s/%s: %s", session.game_name, session.token, err)
        return []


def time_up_again(session: TimedSession) -> None:
    """A game worker answered what the timer waited for (the legal moves asked for, a
    move in flight): end the turns that are still due."""
    if session.timer is not None:
        session.timer.waiting = False
        session.time_up()


def _current(session: TimedSession) -> list[int]:
    try:
        return session.game.current()
    except GameCodeError:
        return []


def random_choice(session: TimedSession, player: int,
                  moves: list[dict[str, Any]]) -> dict[str, Any]:
    """A random one of ``moves``, the same one whenever the same game reaches this point.

    Not drawn from the game's own generator: the move is recorded like any
    other, and a replay of the recorded moves must leave the game's random
    numbers exactly as they were in the game played. The seed names the
    session, the game in it, the move number and the player instead, and
    holds the player's key: until 2026-12-01 it held only what everybody
    sees, so the opponent of a slow or absent player worked out the move to
    be made for it and answered it (rock-paper-scissors: won every round).
    The key is the one secret of the seat the session keeps (and saves); only
    the seat's own program knows it, and it gains nothing by the forecast.
    """
    seed = (f"{session.game_name}/{session.token}/{session.games_played}/"
            f"{session.game_moves}/{player}/{session.players[player].key}")
    return choose_move(moves, random.Random(seed))
