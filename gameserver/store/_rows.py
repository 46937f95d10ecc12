"""What each change of a session writes: the move log, snapshots, session rows, history.

Per move, one row: the move as JSON and the game's verdict (``None`` for
accepted, else the rejection or the error), keyed by the game's id and the
move's number. Nothing else is encoded per move: no player's state, no
pickle of the session.

A game is pickled (a *snapshot*, ``CheckedGame.snapshot``: the game and its
random generator) when it starts, and later only when the moves logged since
the last snapshot weigh at least as much as that snapshot (and at least
``SNAPSHOT_MIN_LOG``): a game's snapshots never take much more room than its
moves, and restoring a session replays at most about that many bytes of
moves after the newest snapshot. A snapshot larger than ``snapshot_max`` is
not taken (``Rows.snapshot_due`` estimates the size from the last snapshot
and the moves since, and a game the estimate finds too large is pickled to
see only once as many bytes of moves as ``snapshot_max``, or as its last
measured size, were logged): the game is then restored by replaying more
moves. If even its first snapshot is too large, the session is kept in
memory only. A game in a worker process is saved
the same way: its snapshot is the copy the worker sent along with its last
change, and a restart replays its moves in a worker (``_restore``).

The session row (``live_sessions``: players, keys, observer keys) is written
when the session becomes full or gets an observer. What belongs to the
current game (its seed, the session's counters, the hand-over owed after a
restart) is in the game's row (``games``, flagged ``current``), written when
the game starts and when a player collects the hand-over. So a restart
writes one new row and touches the previous one, and a move one row.

(About 600 lines on purpose: the statements of every table, the rows each
event writes and what they weigh in the history's bytes are kept together,
so that a change of the schema is made in one place.)
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .. import _session_disk, protocol
from .._json import json_or_repr
from .._timeouts import ForfeitedGame
from ..guard import GameCodeError
from . import _rating_base

log = logging.getLogger("gameserver.store")

SNAPSHOT_MIN_LOG = 4096  # bytes of moves logged before a snapshot is worth taking
# A game longer than this (a chat that goes on for weeks) keeps only its moves since its
# latest snapshot in the history, so that no game grows the file without bound.
HISTORY_MAX_MOVES = 10_000
ROW_OVERHEAD = 32  # bytes a move row costs besides its texts, roughly
PRUNE_EVERY = 100  # finished games kept beyond history_max_games before they are pruned
# Seconds before a prune is tried again after the file refused one (a trigger, a full
# disk), doubled at each refusal in a row, up to ``PRUNE_RETRY_MAX``: tried at every
# game that joined the history, a stuck prune cost a refused commit (rolled back, then
# written again owner by owner) and a log line per finished game.
PRUNE_RETRY = 1.0
PRUNE_RETRY_MAX = 600.0
GAME_ROW = 512  # bytes a game's row costs besides its views, roughly
KEPT_GAMES = "FROM games WHERE ended IS NOT NULL AND current IS NULL"  # the history's games

INSERT_MOVE = ("INSERT INTO game_moves (game_id, seq, player_id, move, verdict, time) "
               "VALUES (?, ?, ?, ?, ?, ?)")
INSERT_SNAPSHOT = ("INSERT OR REPLACE INTO game_snapshots (game_id, seq, accepted, blob) "
                   "VALUES (?, ?, ?, ?)")
INSERT_GAME = ("INSERT INTO games (id, game, session, players, started, initial_states, seed, "
               "views, current, info, own_timer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)")
NOT_CURRENT = "UPDATE games SET current = NULL, bytes = ? WHERE id = ?"
GAME_BYTES = "UPDATE games SET bytes = ? WHERE id = ?"
GAME_INFO = "UPDATE games SET info = ? WHERE id = ?"
SAVE_SESSION = "INSERT OR REPLACE INTO live_sessions (game, token, info) VALUES (?, ?, ?)"
SESSION_INFO = "UPDATE live_sessions SET info = ? WHERE game = ? AND token = ?"
DELETE_SESSION = "DELETE FROM live_sessions WHERE game = ? AND token = ?"
FINISH_GAME = "UPDATE games SET ended = ?, final_states = ?, moves = ? WHERE id = ?"
DROP_GAME = ("DELETE FROM game_moves WHERE game_id = ?",
             "DELETE FROM game_snapshots WHERE game_id = ?",
             "DELETE FROM games WHERE id = ?")
# A session's unfinished games flagged current: one, unless a rewrite of it was lost.
_UNFINISHED = ("SELECT id FROM games WHERE game = ? AND session = ? AND current = 1 "
               "AND ended IS NULL")
DROP_UNFINISHED = (f"DELETE FROM game_moves WHERE game_id IN ({_UNFINISHED})",
                   f"DELETE FROM game_snapshots WHERE game_id IN ({_UNFINISHED})",
                   _UNFINISHED.replace("SELECT id", "DELETE"))
TRIM_GAME = ("DELETE FROM game_moves WHERE game_id = ? AND seq <= ?",
             "DELETE FROM game_snapshots WHERE game_id = ? AND seq < ?")


class NotSaved(Exception):
    """This session's game cannot be saved; ``str(err)`` says why (for the log)."""


@dataclass(eq=False, slots=True)
class Live:
    """What the store knows of one saved session (keyed by game name and token)."""

    game_name: str
    token: str
    session: Any = None  # the Session; None until a restored session reports a change
    game_id: int = 0  # the current game's id in the history and the move log
    seq: int = 0  # moves logged in the current game
    accepted: int = 0  # ... of them accepted by the game
    snap_seq: int = 0  # the newest snapshot's move number ...
    snap_bytes: int = 0  # ... and size
    logged_since: int = 0  # bytes of moves logged after the newest snapshot
    snap_due: bool = False  # a snapshot is needed at the next commit, whatever its cost
    oversize: bool = False  # the game is larger than snapshot_max (logged once)
    tried_at: int = 0  # logged_since when the game was last found larger than snapshot_max
    unpicklable: bool = False  # the game cannot be pickled: saved as its moves only
    ended: bool = False  # the current game's end is recorded
    owed: tuple[tuple[int, bool], ...] = ()  # views owed the hand-over, as saved
    memory_only: bool = False
    # Bytes of the game's rows the history counts (``Rows.live_bytes``): its row and
    # snapshots, and its moves up to the newest snapshot (those since are in
    # ``logged_since``); ``row_bytes`` of them are its row.
    stored: int = 0
    row_bytes: int = 0
    # Once the session ended: the owner of its deletes (``Store._forget_apart``).
    gone: Live | None = None


class ServerRows:
    """The owner of a piece of the server's own rows (``Ops.by``): the history's prune,
    one side-table statement (a turn timer, a tournament event), the stop time.

    One each, not one for all: a commit that fails for good writes each owner's rows
    apart (``_file.commit``), so that the file refusing a timer's row leaves out that
    row alone, not the prune and the tournament events of the same commit.
    ``refused``, if given, is called on the loop with the file's error when the rows
    are left out, instead of the store's log line: it takes back what making them
    counted, and says what it has to (a prune: ``Rows.prune_refused``). ``written``, if
    set (a prune's only: ``Store._pruned``), is called on the loop once they are written.
    """

    __slots__ = ("what", "refused", "written")

    def __init__(self, what: str, refused: Callable[[str], None] | None = None) -> None:
        self.what = what
        self.refused = refused
        self.written: Callable[[], None] | None = None


# Whose rows: a session's (its ``Live``), the server's, or None (rows added before an
# owner was named: the server's too).
Owner = Live | ServerRows | None


class Ops:
    """SQL statements in order; consecutive runs of one statement become one executemany.

    Each row has an owner: the session (its ``Live``) whose change made it, or one
    ``ServerRows`` of the server's (None: rows added before any owner was named).
    The writer names it before adding rows (``by``); ``commit`` needs it only when a
    commit fails for a reason that stays (``_file.commit``): it then writes each
    owner's rows apart, so that rows the file refuses keep nobody else's out.

    (Not a dataclass: one is made for every commit, and a default factory costs.)
    """

    __slots__ = ("items", "size", "count", "changes", "owners", "refused")

    def __init__(self) -> None:
        self.items: list[tuple[str, list[tuple[Any, ...]]]] = []
        self.size = 0  # rough bytes, for the retry bound
        self.count = 0  # rows
        self.changes = 0  # sessions' changes the rows record (``Store._ticket``), for the log
        # (first row, owner) where the owner changes (or is named again: a mark may repeat
        # the one before it); the rows before the first: None's. A list from the start:
        # ``Store.moved`` appends to it directly (``by``, inline).
        self.owners: list[tuple[int, Owner]] = []
        # Set by a commit that wrote the owners apart: those whose rows it refused, and
        # why (``_file.commit``).
        self.refused: dict[Owner, str] | None = None

    def add(self, sql: str, params: tuple[Any, ...], size: int = 64) -> None:
        items = self.items
        if items and items[-1][0] is sql:
            items[-1][1].append(params)
        else:
            items.append((sql, [params]))
        self.size += size
        self.count += 1

    def by(self, owner: Owner) -> None:
        """The rows added from now on are ``owner``'s (until another is named)."""
        owners = self.owners
        if not owners or owners[-1][1] is not owner:
            owners.append((self.count, owner))

    def extend(self, other: Ops) -> None:
        base = self.count
        for sql, many in other.items:
            if self.items and self.items[-1][0] is sql:
                self.items[-1][1].extend(many)
            else:
                self.items.append((sql, list(many)))
        if other.owners:
            if other.owners[0][0] > 0:  # its first rows are the server's
                self.by(None)
            for start, owner in other.owners:
                self.count = base + start
                self.by(owner)
        elif other.count:
            self.by(None)
        self.count = base + other.count
        self.size += other.size
        self.changes += other.changes

    def by_owner(self) -> list[tuple[Owner, list[tuple[str, tuple[Any, ...]]]]]:
        """Each owner's rows, in order (owners in the order they first add one)."""
        marks = iter(self.owners)
        mark = next(marks, None)
        owner: Owner = None
        rows: dict[Owner, list[tuple[str, tuple[Any, ...]]]] = {}
        row = 0
        for sql, many in self.items:
            for params in many:
                while mark is not None and mark[0] <= row:
                    owner = mark[1]
                    mark = next(marks, None)
                rows.setdefault(owner, []).append((sql, params))
                row += 1
        return list(rows.items())


class Rows:
    """Turns session changes into SQL (``Ops``).

    The history's bytes are counted as rows are written, never by reading
    them: each game's rows (``Live.stored``, grown at its snapshots, not per
    move) while it is played, and as it joins the history its total, written
    in its row (``games.bytes``), which a prune takes off again.

    Args:
        history: keep finished games (else the log is trimmed at each snapshot).
        snapshot_max: the largest snapshot taken, in bytes.
        next_game_id: the first free game id.
        kept: finished games the history holds already (counted at open).
        kept_bytes: their bytes (``games.bytes``, summed at open).
        max_games: finished games kept (``history_max_games``).
        max_bytes: bytes of the history (``history_max_bytes``): finished games and
            the games in play (see ``snapshot`` and ``prune``).
    """

    def __init__(self, history: bool, snapshot_max: int, next_game_id: int,
                 kept: int = 0, kept_bytes: int = 0, max_games: int = 100_000,
                 max_bytes: int = 2**30) -> None:
        self.history = history
        self.snapshot_max = snapshot_max
        self.next_game_id = next_game_id
        # Finished games kept in the history (ended, no longer current), from ``kept``
        # on, and their bytes: the writer prunes the oldest beyond the limits.
        self.kept = kept
        self.kept_bytes = kept_bytes
        self.live_bytes = 0  # the games in play: the sum of their ``Live.stored``
        self.max_games = max_games
        self.max_bytes = max_bytes
        self.prune_due = False  # beyond a limit: ``prune`` at the next commit ...
        self.prune_after = 0.0  # ... from this ``time.monotonic()`` on (``prune_refused``)
        self.prune_refusals = 0  # prunes refused since the last one written
        self._prune_sent = False  # a prune went out since the last refusal
        # The games in play found larger than snapshot_max at their last snapshot, by
        # session: their moves since their newest snapshot are kept, and not counted
        # (``oversize_over_budget``).
        self._oversize: dict[tuple[str, str], Live] = {}
        self._check_limits()

    # ------------------------------------------------------------ events

    def start(self, ops: Ops, live: Live, session: Any) -> None:
        """The session became full (or restarted): a new game, its first snapshot, its row.

        A game made by ``GameType.new_game`` is saved as its seed (it is made
        again from it) and a checksum of what the players see at first (to
        notice a game that starts differently when made again); others are
        pickled. For a game in a worker process, the worker made that
        checksum (``RemoteGame.saved_start``).

        Raises:
            NotSaved: the game cannot be pickled, restored, or is too large.
        """
        game = session.game
        made = _made_from_seed(game)
        seed: str | None = None
        checksum: int | None = None  # the worker's; the store makes one in its process
        if made is not None and not made[2]:  # made again from its seed: no moves yet
            seed, checksum = str(made[0]), made[1]
        else:  # see _restore.saved_game
            blob = _pickled(game)
            if len(blob) > self.snapshot_max:
                raise NotSaved(f"its game is {len(blob)} bytes as saved, more than "
                               f"store_snapshot_max ({self.snapshot_max})")
        if not live.game_id:  # a new session: its row (a restart leaves it as it is)
            ops.add(SAVE_SESSION, (live.game_name, live.token, session_row(session)), 512)
        elif not live.ended or not self.history:
            self._drop(ops, live)  # a game restarted before its end is not kept
        else:
            self._keep(ops, live)
        live.game_id, self.next_game_id = self.next_game_id, self.next_game_id + 1
        self._oversize.pop((live.game_name, live.token), None)  # its moves went with it
        live.seq = live.accepted = live.snap_seq = live.logged_since = live.tried_at = 0
        live.ended = live.snap_due = False
        views = first_views(game, session.size, session.view_text)
        if checksum is None:
            checksum = zlib.crc32(views.encode())
        ops.add(INSERT_GAME, (live.game_id, live.game_name, live.token,
                              _json([player.name for player in session.players]),
                              time.time(), views if self.history else "[]", seed,
                              checksum, self.game_info(live, session),
                              1 if session.own_timer else None), 512 + len(views))
        live.snap_bytes = 0
        if seed is None:
            live.snap_bytes = len(blob)
            ops.add(INSERT_SNAPSHOT, (live.game_id, 0, 0, blob), len(blob))
        live.row_bytes = GAME_ROW + len(views)  # (inline: per game) counted in the history
        live.stored = live.row_bytes + live.snap_bytes
        self.live_bytes += live.stored

    def rewrite(self, ops: Ops, live: Live, session: Any) -> None:
        """Write the session afresh, as if nothing of it had been written since its start.

        For when rows of it were lost (see ``writer._rewrite_afresh``): its
        row, and its game as it is now, pickled, as a new game that goes on
        from the current move (its history is missing what was lost). A game
        in a worker process is written as its last copy, or its seed, and the
        moves since.

        Raises:
            NotSaved: the game cannot be pickled, restored, or is too large.
        """
        made = _made_from_seed(session.game)
        seed: str | None = None
        checksum: int | None = None
        if made is None or made[1] is None:  # pickled (in a worker: its copy)
            blob, since = _copy_and_moves(session.game)
        else:  # in a worker, saved as its seed
            blob, since, seed, checksum = b"", made[2], str(made[0]), made[1]
        if len(blob) > self.snapshot_max:
            raise NotSaved(f"its game is {len(blob)} bytes as saved, more than "
                           f"store_snapshot_max ({self.snapshot_max})")
        ops.add(SAVE_SESSION, (live.game_name, live.token, session_row(session)), 512)
        if live.game_id and live.ended and self.history:
            self._keep(ops, live)
        elif live.game_id:
            self._drop(ops, live)
        for sql in DROP_UNFINISHED:  # left by an earlier rewrite whose rows were lost too
            ops.add(sql, (live.game_name, live.token))
        live.game_id, self.next_game_id = self.next_game_id, self.next_game_id + 1
        base = live.seq - len(since)  # the copy's move (0: the seed's); the moves since follow
        live.snap_seq, live.snap_bytes, live.logged_since = base, len(blob), 0
        live.tried_at = 0
        live.snap_due = False
        views = first_views(session.game, session.size, session.view_text)
        now = time.time()
        ops.add(INSERT_GAME, (live.game_id, live.game_name, live.token,
                              _json([player.name for player in session.players]),
                              now, views if self.history else "[]", seed, checksum,
                              self.game_info(live, session),
                              1 if session.own_timer else None), 512 + len(views))
        accepted = live.accepted - sum(verdict is None for *_, verdict in since)
        if blob:
            ops.add(INSERT_SNAPSHOT, (live.game_id, base, accepted, blob), len(blob))
        live.row_bytes = GAME_ROW + len(views)
        live.stored = live.row_bytes + len(blob)
        self.live_bytes += live.stored
        for seq, (_, player_id, move, verdict) in enumerate(since, base + 1):
            _log_move(ops, live, seq, player_id, json_or_repr(move), verdict, now)

    def observed(self, ops: Ops, live: Live, session: Any) -> None:
        """A player got an observer key: rewrite the session row."""
        ops.add(SESSION_INFO, (session_row(session), live.game_name, live.token), 512)

    def collected(self, ops: Ops, live: Live, session: Any) -> None:
        """A player collected the hand-over: rewrite the game's row, unless it says so already.

        Observers' collections are not written on their own (they come along
        with the next rewrite): after a crash an observer may be shown the last
        game's end once more.
        """
        if tuple(sorted(session.handover[1])) != live.owed:
            ops.add(GAME_INFO, (self.game_info(live, session), live.game_id), 512)

    def move(self, ops: Ops, live: Live, session: Any, player_id: int, move: Any,
             verdict: Any) -> None:
        """One move reached the game: log it; record the game's end if it ended."""
        now = time.time()
        try:
            text = _json(move)
        except (TypeError, ValueError):  # a number too large for JSON (1e400 read as inf)
            text = _json(repr(move))
            live.snap_due = True  # logged as its repr: it could not be played again
        if verdict is None:  # (first: what most moves find)
            verdict_text = None
            live.accepted += 1
        else:
            verdict_text = json_or_repr(verdict)
            if isinstance(verdict, str) and verdict.startswith("framework: game "):
                # The game failed (or was interrupted) mid-move: never replay that.
                live.snap_due = True
        seq = live.seq = live.seq + 1
        _log_move(ops, live, seq, player_id, text, verdict_text, now)
        if not live.ended:
            try:
                over = session.game.game_over()
            except GameCodeError:
                over = False
            if over:
                self._finish(ops, live, session, now)

    def forfeit(self, ops: Ops, live: Live, session: Any) -> None:
        """The framework ended the game (players ran out of time): record how, and the end.

        The forfeit is kept in the game's row (``info``), so that a restore
        ends the replayed game the same way.
        """
        ops.add(GAME_INFO, (self.game_info(live, session), live.game_id), 512)
        if not live.ended:
            self._finish(ops, live, session, time.time())

    def _finish(self, ops: Ops, live: Live, session: Any, now: float) -> None:
        live.ended = True
        if self.history:
            views = first_views(session.game, session.size, session.view_text)
            ops.add(FINISH_GAME, (now, views, live.seq, live.game_id), 256)
            live.stored += len(views)  # (inline: per game; checked as it is kept)
            self.live_bytes += len(views)

    def forget(self, ops: Ops, live: Live) -> None:
        """The session ended: its row goes, and its game unless finished and kept."""
        ops.add(DELETE_SESSION, (live.game_name, live.token))
        self._oversize.pop((live.game_name, live.token), None)
        if live.game_id and (not live.ended or not self.history):
            self._drop(ops, live)
        elif live.game_id:
            self._keep(ops, live)

    def prune(self, ops: Ops, oldest: Iterable[tuple[int, int | None, float]]
              ) -> tuple[str, tuple[Any, ...]] | None:
        """Delete the oldest finished games: past ``max_games`` by ``PRUNE_EVERY``, down
        to it; past ``max_bytes``, until the history (with the games in play) is back
        under 15/16 of it (so that a prune runs once per 1/16 of the budget at most).

        ``oldest``: the finished games, oldest first (by end time, as the history
        and the ratings order them), as (id, bytes, ended), read from the file as
        committed (the ops go first in the next commit, before the batch's: they
        delete exactly the games read). It is read only as far as the games deleted
        (``OFFSET`` from the newest read the whole history: 15 ms against 0.4 ms
        per 100 games at 100,000).

        Returns:
            The query of the games deleted (``SELECT id ...``) and its parameters,
            for the ratings they leave (``_rating_base``); None if none is.
        """
        self.prune_due = False
        games = self.kept - self.max_games if self.kept - self.max_games >= PRUNE_EVERY else 0
        over = self.kept_bytes + self.live_bytes - self.max_bytes
        if over > 0:
            over += self.max_bytes // 16
        count = freed = 0
        last = None
        for game_id, size, ended in oldest:
            if count >= games and freed >= over:
                break
            last = (ended, ended, game_id)
            count += 1
            freed += size or 0
        if last is None:
            return None
        self.kept -= count
        self.kept_bytes -= freed
        doomed = f"SELECT id {KEPT_GAMES} AND (ended < ? OR ended = ? AND id <= ?)"
        for sql in (f"DELETE FROM game_moves WHERE game_id IN ({doomed})",
                    f"DELETE FROM game_snapshots WHERE game_id IN ({doomed})",
                    # (a deleted tournament's game: rated by the base from now on)
                    f"DELETE FROM rated_games WHERE history_id IN ({doomed})",
                    f"DELETE FROM games WHERE id IN ({doomed})"):
            ops.add(sql, last)
        return doomed, last

    def prune_refused(self, games: int, size: int, why: str) -> None:
        """A prune (``prune``) of ``games`` games of ``size`` bytes was left out of its
        commit (the file refused it), or could not read the games (``pruned``): they
        are counted again, and it is tried again with the first commit after
        ``PRUNE_RETRY`` seconds, twice as long after each refusal in a row (up to
        ``PRUNE_RETRY_MAX``), not at once: the file would refuse it at every commit.
        Logged at the first refusal of a run; the next prune written says how many
        there were (``pruning``)."""
        self.kept += games
        self.kept_bytes += size
        self.prune_refusals += 1
        self._prune_sent = False
        wait = min(PRUNE_RETRY_MAX, PRUNE_RETRY * 2 ** min(self.prune_refusals - 1, 30))
        self.prune_after = time.monotonic() + wait
        self.prune_due = True
        if self.prune_refusals == 1:
            log.error("the history could not be pruned (%s): its oldest games stay; "
                      "tried again in %g s, then less and less often (up to every %g s), "
                      "and the refusals until then are counted, not logged", why, wait,
                      PRUNE_RETRY_MAX)

    def pruning(self) -> None:
        """A prune is made (``pruned``): the last one, if any, was written (none refused
        it since it went out), and ends a run of refusals, said with their count."""
        if self._prune_sent and self.prune_refusals:
            log.warning("the history is pruned again, after %d refused prunes",
                        self.prune_refusals)
            self.prune_refusals = 0
        self._prune_sent = True

    def left_out(self, live: Live, rows: Iterable[tuple[str, tuple[Any, ...]]]) -> bool:
        """``live``'s ``rows`` were left out of their commit (the file refused them): the
        games they moved into the history (``_keep``) leave its counts again.

        Returns:
            Whether they held the end of ``live``'s current game (``_finish``), and not
            its move into the history: the file does not have the end, so the game is
            not the history's to keep.
        """
        ended = kept = False
        for sql, params in rows:
            if sql == NOT_CURRENT:
                if not (live.session is None and not live.ended
                        and params[1] == live.game_id):  # else counted out by ``unkeep``
                    self.kept -= 1
                    self.kept_bytes -= params[0]
                kept = kept or params[1] == live.game_id
            elif sql == FINISH_GAME and params[-1] == live.game_id:
                ended = True
        return ended and not kept

    def left_current(self, ops: Ops, live: Live,
                     rows: list[tuple[str, tuple[Any, ...]]]) -> None:
        """``live``'s ``rows`` were left out (the file refused them), and its session ends
        (``Store._refuse``): if they held a restart's (or a rewrite's) move of its
        previous game out of current (``_keep``, ``_drop``), that game is still flagged
        current in the file, of a session that is no more, and nothing would ever clear
        it (listed as finished, never counted or pruned). It joins the history now if
        the file has its end (counted again: ``left_out`` took it out), else it goes.
        Its rows are the server's own (``ServerRows``): refused again, they are left
        out, and counted out again."""
        ended = {params[-1] for sql, params in rows if sql == FINISH_GAME}
        for sql, params in rows:
            if sql == NOT_CURRENT and params[1] != live.game_id and params[1] not in ended:
                size, game_id = params
                ops.by(ServerRows(f"{live.game_name}/{live.token}'s game {game_id} joining "
                                  "the history", functools.partial(self._not_kept, size)))
                ops.add(NOT_CURRENT, params)
                self.kept += 1
                self.kept_bytes += size
            elif ((sql == NOT_CURRENT and params[1] in ended)
                  or (sql == DROP_GAME[2] and params[0] != live.game_id)):
                ops.by(ServerRows(f"{live.game_name}/{live.token}'s game {params[-1]}'s "
                                  "deletes"))
                drop_game(ops, params[-1])

    def _not_kept(self, size: int, why: str) -> None:
        """The rows of ``left_current`` that move a game into the history were refused."""
        log.error("a finished game could not be moved into the history (%s): it stays "
                  "flagged current in the store file, and is not pruned", why)
        self.kept -= 1
        self.kept_bytes -= size

    def unkeep(self, ops: Ops, live: Live) -> None:
        """The end of ``live``'s game was left out of its commit (``left_out``) after its
        session had ended and, taken for finished, the game joined the history
        (``forget``, ``_keep``): in the file it is then neither current nor finished,
        and counted. Its rows go, and it leaves the counts (once: the row that flagged
        it kept, left out too, is not taken out again).

        That row is its deletes' (``live.gone``, which ``forget`` gave it only as
        ``ended``): they are marked not ``ended``, which ``left_out`` reads. A mark on
        them, not a set of game ids here: the deletes written (the usual case), an
        id stayed in such a set for good, one more at every such refusal.
        """
        drop_game(ops, live.game_id)
        self.kept -= 1
        self.kept_bytes -= live.stored + live.logged_since  # as ``_keep`` counted it
        if live.gone is not None:
            live.gone.ended = False

    def _keep(self, ops: Ops, live: Live) -> None:
        """A finished game is no longer its session's current one: it joins the history,
        with its bytes."""
        size = live.stored + live.logged_since
        ops.add(NOT_CURRENT, (size, live.game_id))
        self.live_bytes -= live.stored
        live.stored = 0
        kept = self.kept = self.kept + 1
        kept_bytes = self.kept_bytes = self.kept_bytes + size
        if (kept - self.max_games >= PRUNE_EVERY  # (``_check_limits``, inline: per game)
                or kept_bytes + self.live_bytes > self.max_bytes):
            self.prune_due = True

    def _drop(self, ops: Ops, live: Live) -> None:
        """The game is not kept: its rows go, and leave the count."""
        drop_game(ops, live.game_id)
        self.live_bytes -= live.stored
        live.stored = 0

    def _count(self, live: Live, size: int) -> None:
        """``size`` more bytes of rows of ``live``'s game (``size`` < 0: fewer)."""
        live.stored += size
        self.live_bytes += size
        if size > 0:
            self._check_limits()

    def restored(self, live: Live, stored: int | None) -> None:
        """A game in play, as the last start left it: count its rows (``games.bytes``;
        None, from an older file or a game without a snapshot since: its row and newest
        snapshot)."""
        live.row_bytes = GAME_ROW
        self._count(live, stored if stored else GAME_ROW + live.snap_bytes)

    def _check_limits(self) -> None:
        if self.kept and (self.kept - self.max_games >= PRUNE_EVERY
                          or self.kept_bytes + self.live_bytes > self.max_bytes):
            self.prune_due = True

    # ------------------------------------------------------------ snapshots

    def snapshot_due(self, live: Live) -> bool:
        """Whether to pickle this session's game now (see the module docstring)."""
        if not (live.snap_due or live.logged_since >= max(live.snap_bytes, SNAPSHOT_MIN_LOG)):
            return False  # (first: what most changes find, a commit of each change)
        if live.memory_only or live.unpicklable or live.session is None:
            return False
        if (live.snap_bytes + live.logged_since > self.snapshot_max
                and live.logged_since - live.tried_at < max(live.snap_bytes,
                                                            self.snapshot_max)):
            # Perhaps too large (a game that keeps what it is sent): pickled to see only
            # once as many bytes of moves were logged as snapshot_max, or as it weighed.
            # Never again, as before: a game that holds only its last large move (Echo)
            # kept every later move, and replayed them all at a restart.
            return False
        return True

    def snapshot(self, ops: Ops, live: Live, game: Any = None) -> None:
        """Save the game (default: the session's) as it is now, after move ``live.seq``.

        A game that cannot be pickled (or unpickled) is saved as its moves only
        from then on: a restart makes it again from the snapshot it has and
        replays every move since.
        """
        game = live.session.game if game is None else game
        if getattr(game, "copy_is_behind", False):
            # A game in a worker process sends a copy every few moves: ask for one with
            # its next move, and save that (the moves since are logged meanwhile).
            game.save_soon()
            live.snap_due = True
            return
        live.snap_due = False
        try:
            blob = _pickled(game)
        except NotSaved as err:
            live.unpicklable = True
            log.warning("session %s/%s: %s; it is saved as its moves only (a restart "
                        "replays them from move %d)", live.game_name, live.token, err,
                        live.snap_seq)
            return
        if len(blob) > self.snapshot_max:
            live.snap_bytes = len(blob)  # later estimates start from the real size
            live.tried_at = live.logged_since
            self._too_large(live)
            self._oversize[(live.game_name, live.token)] = live
            return
        ops.add(INSERT_SNAPSHOT, (live.game_id, live.seq, live.accepted, blob), len(blob))
        if (not self.history or live.seq > HISTORY_MAX_MOVES
                or self.live_bytes > self.max_bytes // 2):
            # Only what a restore needs is kept: this snapshot, the moves after it.
            ops.add(TRIM_GAME[0], (live.game_id, live.seq))
            ops.add(TRIM_GAME[1], (live.game_id, live.seq))
            self._count(live, live.row_bytes + len(blob) - live.stored)
        else:
            self._count(live, live.logged_since + len(blob))
        if self.history:  # (a restart counts the game from here: ``restored``)
            ops.add(GAME_BYTES, (live.stored, live.game_id))
        live.snap_seq, live.snap_bytes, live.logged_since = live.seq, len(blob), 0
        live.tried_at, live.oversize = 0, False
        self._oversize.pop((live.game_name, live.token), None)

    def oversize_over_budget(self, live: Live) -> int:
        """The bytes of moves the games too large to snapshot keep, if ``live`` is one of
        them and together they pass half of ``max_bytes`` (else 0): the writer then
        keeps ``live``'s session in memory only.

        Such a game keeps every move since its newest snapshot (a restore replays
        them), uncounted by the history's bytes, which cannot trim them. Until
        2026-12-01 nothing bounded them: one Echo session sent lists of floats
        (1 MB of JSON, 1.8 MB pickled) and grew the file by a megabyte a move,
        past any ``history_max_bytes``. Half: what the games in play may weigh
        before they too keep only what a restore needs.
        """
        if self._oversize.get((live.game_name, live.token)) is not live:
            return 0
        kept = sum(each.logged_since for each in self._oversize.values())
        return kept if kept > self.max_bytes // 2 else 0

    def _too_large(self, live: Live) -> None:
        if not live.oversize:
            live.oversize = True
            log.warning("session %s/%s: its game is larger than store_snapshot_max (%d "
                        "bytes), so it is saved as its moves only; a restart replays them "
                        "from move %d", live.game_name, live.token, self.snapshot_max,
                        live.snap_seq)

    @staticmethod
    def game_info(live: Live, session: Any) -> str:
        """The current game's part of ``session`` (its ``games.info``), as JSON.

        Written when the game starts, again each time a player collects the
        hand-over, and at a forfeit: its final views, the largest part, are the
        hand-over's encoded replies, cut (``final_text``), not encoded again
        and not kept (the session holds them: a second copy of a large state
        until the next restart, stop 34).
        """
        final, owed = session.handover
        moves_before = session.moves - session.game_moves
        accepted_before = session.accepted_moves - live.accepted
        forfeited = isinstance(session.game, ForfeitedGame)
        live.owed = tuple(sorted(tuple(view) for view in owed)) if owed else ()
        if not (final or owed or moves_before or accepted_before
                or session.games_played != 1 or forfeited):
            return FIRST_GAME_INFO  # a new session's first game starts so
        info = {"moves_before": moves_before, "accepted_before": accepted_before,
                "games_played": session.games_played,
                "owed": [list(view) for view in live.owed] if live.owed else []}
        if forfeited:
            info["forfeit"] = dict(session.game.forfeit)
        return f'{_json(info)[:-1]}, "final": {final_text(final)}}}'


# ``Rows.game_info`` of a new session's first game, as it would encode it.
FIRST_GAME_INFO = ('{"moves_before": 0, "accepted_before": 0, "games_played": 1, "owed": [], '
                   '"final": []}')


def final_text(final: Iterable[bytes | str]) -> str:
    """The hand-over's final views (``Session.handover``: replies, or error messages) as
    the JSON list of the views (an error as ``"message"``), as ``_json`` would write it."""
    return _json_list([protocol.ok_data(view) if type(view) is bytes else _json(view)
                       for view in final])


def session_row(session: Any) -> str:
    """The session row's JSON: what lasts from game to game (size, players and keys,
    times), made from ``session`` directly (not from a whole snapshot, which asks the
    game: every new session writes one)."""
    return _json(_session_disk.lasting(session))


def pruned(db: sqlite3.Connection, rows: Rows, rated: Callable[[], set[int]],
           forget: Callable[[list[int]], None] | None = None) -> tuple[Ops, ServerRows | None]:
    """The deletes of the history's oldest games beyond its limits (``Rows.prune``),
    read from ``db`` as committed (the writer's connection, with no commit in flight),
    and the ratings they leave, folded into the base (``_rating_base``; ``rated``: the
    history ids of the tournament games); and the owner of those rows (None: no game is
    deleted), whose ``written`` calls ``forget`` with the ids of the games deleted."""
    ops = Ops()
    # The prune's rows and the ratings they fold have an owner of their own: left out
    # (the file refused them), the games they delete are counted again.
    owner = ServerRows("the history's pruning")
    ops.by(owner)
    before = rows.kept, rows.kept_bytes
    rows.pruning()
    cursor = None
    try:
        cursor = db.execute(f"SELECT id, bytes, ended {KEPT_GAMES} ORDER BY ended, id")
        doomed = rows.prune(ops, cursor)
        cursor.close()  # at once: an open read would hold the log back
        if doomed is None:
            return ops, None
        owner.refused = functools.partial(rows.prune_refused, before[0] - rows.kept,
                                          before[1] - rows.kept_bytes)
        if forget is not None:
            ids = [game_id for (game_id,) in db.execute(*doomed)]
            owner.written = functools.partial(forget, ids)
        folded = Ops()
        folded.by(owner)
        _rating_base.fold(db, folded, *doomed, rated)
        folded.extend(ops)  # (the same commit: what is deleted is folded)
        return folded, owner
    except sqlite3.Error as err:  # (a read: nothing is changed; tried again later)
        rows.kept, rows.kept_bytes = before
        rows.prune_refused(0, 0, str(err))
        return Ops(), None
    finally:
        if cursor is not None:
            cursor.close()


def drop_game(ops: Ops, game_id: int) -> None:
    for sql in DROP_GAME:
        ops.add(sql, (game_id,))


def _pickled(game: Any) -> bytes:
    """``game.snapshot()``, refused if the next start could not load it (``_unpickle``).

    Raises:
        NotSaved: it cannot be pickled, or not unpickled with the allow-list.
    """
    try:
        blob: bytes = game.snapshot()
    except GameCodeError as err:
        raise NotSaved(f"its game cannot be saved ({err})") from None
    game_type = game.type
    if game_type.remote:  # made in a worker process, loaded only by one: never checked here
        return blob
    try:
        problem = game_type.call("unpickle", game_type.unpickler.check, blob)
    except GameCodeError as err:
        problem = str(err)
    if problem:
        raise NotSaved(f"its game cannot be restored: {problem}")
    return blob


def _log_move(ops: Ops, live: Live, seq: int, player_id: int, text: str,
              verdict_text: str | None, now: float) -> None:
    """A move's row (its text and verdict as JSON), counted towards the next snapshot."""
    size = len(text) + len(verdict_text or "") + ROW_OVERHEAD
    ops.add(INSERT_MOVE, (live.game_id, seq, player_id, text, verdict_text, now), size)
    live.logged_since += size


def _made_from_seed(game: Any) -> tuple[int, int | None, list[Any]] | None:
    """How ``game`` can be made again from its seed: (seed, checksum of its start, moves
    since); None if it cannot (it was restored, has a newer copy, or has nothing to
    come back from).

    In the server's process the store makes the checksum, and moves are logged
    after it. A game in a worker process has the worker's checksum, until the
    worker sends a copy (``RemoteGame.saved_start``).
    """
    if not game.type.remote:
        return None if game.seed is None else (game.seed, None, [])
    saved_start = getattr(game, "saved_start", None)
    return saved_start() if saved_start is not None else None


def _copy_and_moves(game: Any) -> tuple[bytes, list[Any]]:
    """The game's saved copy and the moves played since it (none but in a worker process).

    Raises:
        NotSaved: see ``_pickled``.
    """
    saved_copy = getattr(game, "saved_copy", None)
    if saved_copy is None or not game.copy_is_behind:
        return _pickled(game), []
    return saved_copy()


def first_views(game: Any, size: int,
                view_text: Callable[[int], str | None] | None = None) -> str:
    """What each player sees of ``game``, as one JSON list (failures become errors).

    ``view_text`` (``Session.view_text``) gives a view as its ``state`` reply
    carries it, so that it is encoded once per change; where it gives None
    (a game in a worker process), the view is asked for here. Either way the
    game is asked once per player and the text is the same, errors included:
    the checksum of a game's first views must not depend on the path.
    """
    texts = []
    for player_id in range(size):
        try:
            text = view_text(player_id) if view_text is not None else None
            if text is None:
                text = _json(game.view(player_id))
        except (GameCodeError, TypeError, ValueError, RecursionError) as err:
            text = _json({"error": str(err)})
        texts.append(text)
    return _json_list(texts)


# ``_json(value)``: JSON text, as on the wire (no NaN); raises TypeError/ValueError otherwise.
_json = protocol.encode_json


def _json_list(texts: list[str]) -> str:
    """The JSON list of values already encoded, as ``_json`` would write it."""
    return "[" + ", ".join(texts) + "]"
