"""The store's writer: every change of a loop pass in one commit, replies after it.

Theory of operation
-------------------
Sessions report each acknowledged change (a session becoming full, a move,
a restart, a new observer, a player collecting the last game's end) to
``Store.changed`` on the event-loop thread.
The store turns it into rows (``_rows``) and returns the session's
*ticket* in the open batch; the session holds its reply back until the
ticket is done (``Session._saved``), so **no reply reveals a change that a
crash could still lose**.

The first change of a loop pass opens a batch and schedules ``_flush`` with
``call_soon``: it runs at the start of the next pass, before any new
request is read, so every change made in one pass of the event loop,
whatever connection it came from, shares one commit (group commit). A
change made by a worker's reply (a game in a worker process) that opens the
batch has it committed right after that read of the worker's replies
instead, ahead of the replies waiting for it (``gameserver._soon``): one
pass sooner, with the changes of the pass so far.
``_flush`` takes the snapshots that are due, then commits: with
``sync="normal"`` right there on the loop (a commit that only hands pages
to the operating system takes microseconds), unless it is larger than
``LARGE_COMMIT``; with ``sync="full"``, and for large commits, in the
writer thread, which writes while the loop goes on collecting the next
batch (one transaction in flight at a time, so they land in order).
Checkpoints run in a thread of their own (``_checkpoint``); when the log has
grown past its limit, one commit goes to the writer thread, which checkpoints
right after it so that the log can start over.

A failed commit (full disk, a locked file) fails every ticket of the batch;
its rows are kept and written again, before anything newer, with the next
commit and at least every ``RETRY_INTERVAL`` seconds until one succeeds
(``health()`` says "degraded" meanwhile). A failed ticket points to the
ticket of that retry (``Ticket.again``, the same one through the failed
retries no reply waits for): the session's later replies wait for it
(``Session._saved``). A session whose start was in the
failed batch is closed instead: each of its joiners gets ``JOIN_FAILED``,
nobody holds a key to it, and it is not written later. If the rows waiting
for a retry grow beyond ``RETRY_MAX_BYTES``, they are dropped and each
session they touched is written afresh (its row, and its game pickled as a
new game row) at the next commit; the history of those games misses moves.

A file deleted or replaced while the server runs (``StoreFile.moved``, looked at
every second by the checkpoint thread and after each failed commit: ``_watch``) is
a failure no retry mends either: from then on every commit fails at once, its rows
are dropped and its tickets answered ``SAVE_GONE`` (no ``again``) until a restart
(``_lost_for_good``; docs/reliability.md says why the store does not reopen it).

A commit that fails for a reason no retry mends (the file refuses a row: a
constraint, a value SQLite cannot take) is written again at once with each
session's rows apart (``_file.commit``; the rows' owners: ``Ops.by``): the
others are saved, and each session whose rows were refused ends
(``_refuse``): retried, they would have held every later change back. The
server's own rows each have an owner of their own (``ServerRows``: a prune,
a timer's or a tournament's row, the stop time), so a refusal leaves out
only what was refused.

A batch whose changes were all answered before their save by the client's
choice (``"wait_for_save": false``), and that no reply waits for, is put off
for up to ``PUT_OFF`` seconds (``_flush``): the changes of the moments after
it join it, until a reply starts waiting for it (``Ticket.wait`` hurries it),
it reaches ``LARGE_COMMIT``, or the store closes.

While a commit is in flight, the open batch gathers the changes made meanwhile. Past
``OPEN_BATCH_MAX`` bytes, a reply that waits for it is no longer one its connection
holds while serving on (``_held.py``) but one it waits for (``_wait_unheld``): each
connection then adds at most one change to the batch until it is committed.

Two jobs live apart: the writer thread (``_writer_thread``: it owns the
connection while a batch is in flight) and what ``close`` does with what is
left (``_closing``: the commit the stopping loop did not release, a writer
thread that still writes).

Why this module is longer than our ~450 lines: a batch's life (opened, put
off, committed on the loop or in the writer thread, released, retried after a
failure) is one state machine over the same few fields (``_batch``,
``_in_flight``, ``_backlog``, ``_retry_tickets``); split, each part would
reach into the others' state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._soon import Soon
from ..checked import GameType
from ..protocol import ProtocolError
from ..waits import Wait
from . import _overwritten
from ._batch import (
    JOIN_FAILED,
    SAVE_FAILED,
    SAVE_GONE,
    SAVE_LOST,
    SAVE_REFUSED,
    Batch,
    Key,
    Ticket,
    outcome,
)
from ._checkpoint import Checkpointer
from ._closing import WRITER_WAIT, in_flight_left, leave_to_writer
from ._file import RESTORED, StoreFile, commit, open_store, rolled_back, writes_at_start
from ._restore import load_sessions
from ._rows import DELETE_SESSION, KEPT_GAMES, Live, NotSaved, Ops, Rows, ServerRows, pruned
from ._writer_thread import WriterThread

log = logging.getLogger("gameserver.store")

__all__ = ["JOIN_FAILED", "SAVE_FAILED", "Store"]

RETRY_INTERVAL = 1.0  # seconds between attempts to write rows a failed commit left
RETRY_MAX_BYTES = 32 * 2**20  # rows kept for a retry; beyond, sessions are rewritten afresh
DEFAULT_SNAPSHOT_MAX = 2**20
DEFAULT_HISTORY_MAX_BYTES = 2**30
LARGE_COMMIT = 64 * 1024  # bytes: a commit this large is written by the writer thread
# Seconds a commit that no reply waits for may be put off, to group it with the next ones
# (only changes whose replies went out unsaved by choice: ``"wait_for_save": false``).
PUT_OFF = 0.01
# Bytes of changes in the open batch beyond which even replies that asked not to wait for
# their save wait (``Ticket.crowded``): while a commit is slow (the writer thread's, a
# disk that stalls) the open batch grows, and a client whose replies do not wait would
# add to it without end; waiting, its replies are held, and held replies are bounded.
UNWAITED_MAX = 2**20
# Bytes of changes in the open batch, while a commit is in flight, beyond which a reply
# that waits for that batch is no longer held (``_held.py``, which counts a reply's bytes,
# not its change's: 100 KB moves with tiny replies filled 700 MB per connection): its
# connection waits for the commit, serving nothing more (``_wait_unheld``).
OPEN_BATCH_MAX = 8 * 2**20
SAVE_STOP = "INSERT OR REPLACE INTO server_stops (id, at) VALUES (1, ?)"
CLOSE_CHECKPOINT_WAIT_MS = 1000  # for readers mid-read, as the store copies its log in
# Seconds ``close`` may wait, at most, for others (its threads, a reader's read): what a
# service manager must give the whole stop, and more (deploy/gameserver.service).
CLOSE_MAX = WRITER_WAIT + CLOSE_CHECKPOINT_WAIT_MS / 1000


class Store:
    """SQLite persistence for one server; see the module docstring.

    Nothing touches the disk until ``open()``.

    Args:
        path: the database file (created if missing).
        games: the games served (their sessions are restored; others stay in the file).
        history: whether to keep finished games and their moves.
        history_max_games: finished games to keep; the oldest are pruned.
        history_max_bytes: bytes the history may take (finished games, and the
            games in play); the oldest finished games are pruned (``Rows.prune``).
        sync: "normal" or "full" (see docs/reliability.md).
        snapshot_max: the largest game snapshot written, in bytes.
    """

    def __init__(self, path: str, games: Mapping[str, GameType], history: bool = True,
                 history_max_games: int = 100_000, sync: str = "normal",
                 snapshot_max: int = DEFAULT_SNAPSHOT_MAX,
                 history_max_bytes: int = DEFAULT_HISTORY_MAX_BYTES) -> None:
        self.path = path
        self.sync = "NORMAL" if sync == "normal" else "FULL"
        self.history = history
        self.history_max_games = history_max_games
        self.history_max_bytes = history_max_bytes
        self.games = dict(games)
        self._snapshot_max = snapshot_max
        # The history ids of the tournament games (the server's ``TournamentHall``), for
        # the ratings of the games pruned (``_rating_base``).
        self.rated_games: Callable[[], set[int]] = set
        # Told the history ids of the games a prune deleted, once its commit is written
        # (the server's: they leave ``TournamentHall.deleted_rated``).
        self.forget_rated: Callable[[list[int]], None] | None = None
        self._pruning: ServerRows | None = None  # a prune's rows not written yet (_release)
        self._file: StoreFile | None = None
        self.rows: Rows | None = None
        self._live: dict[tuple[str, str], Live] = {}
        self._batch: Batch | None = None
        self._in_flight: Batch | None = None  # the batch the writer thread commits
        self._backlog = Ops()  # rows of failed commits, written first next time
        self._backlog_lives: dict[tuple[str, str], Live] = {}
        self._retry_tickets: dict[Key, Ticket] = {}  # for the next commit
        self._retry: asyncio.TimerHandle | None = None
        self._put_off: asyncio.TimerHandle | None = None  # commits the put-off batch
        self._writer: WriterThread | None = None
        self._checkpointer: Checkpointer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._soon: Soon | None = None
        # Counters, for benchmarks, metrics and health().
        self.commits = 0
        self.batches = 0
        # Changes recorded (counted as their batch is taken for a commit, ``_flush``), and
        # of those, the ones committed: all their rows (``saved_changes``), or all but
        # those of the sessions whose rows the file refused (``partly_saved``). The rest
        # were not saved (a failed commit dropped, a start that failed, the stop).
        self.changes = 0
        self.saved_changes = 0
        self.partly_saved = 0
        self.failed_saves = 0
        self.refused_saves = 0  # sessions (or server rows) whose rows the file refused
        self._failing_since: float | None = None
        self._last_error: str | None = None
        self._gone: str | None = None  # the file was deleted or replaced (``_watch``)
        self._file_gone = False  # ... the file itself, not a side file
        self._written_over = False  # another wrote the file itself (``_may_copy``)
        self._watching = threading.Lock()  # (the checkpoint thread's look, or the loop's)

    # ------------------------------------------------------------ life cycle

    def open(self) -> None:
        """Check, lock and open the file (see ``_file``).

        Raises:
            StoreFileError: one line saying what is wrong and what to do.
        """
        self._file = open_store(self.path, self.sync)
        self.path = self._file.path
        if not _overwritten.OFD:  # (degraded: said once, at the start)
            log.warning("%s", _overwritten.NO_OFD.format(path=self.path))
        next_id = (self._file.db.execute("SELECT MAX(id) FROM games").fetchone()[0] or 0) + 1
        kept, kept_bytes = self._file.db.execute(
            f"SELECT COUNT(*), TOTAL(bytes) {KEPT_GAMES}").fetchone()
        self.rows = Rows(self.history, self._snapshot_max, next_id, kept, int(kept_bytes),
                         self.history_max_games, self.history_max_bytes)

    def abandon(self) -> None:
        """The server did not start after ``open()``: close, and delete the files it made."""
        if self._file is not None:
            self._file.close(remove_created=True)
            self._file = None

    def load_sessions(self) -> list[dict[str, Any]]:
        """The saved sessions, ready for ``Session.restore`` (see ``_restore``).

        Raises:
            StoreFileError: another program holds the write lock the restore
                needs (to snapshot games with moves since their last snapshot).
        """
        assert self.rows is not None, "Store.open() was not called"
        with writes_at_start(self.path, self.db):  # snapshots of games with moves since
            sessions, lives = load_sessions(self.db, self.rows, self.games)
        assert self._file is not None
        self._file.note_schema()  # (a file of the first format had its old table dropped)
        self._live.update(lives)
        return sessions

    @property
    def db(self) -> sqlite3.Connection:
        assert self._file is not None, "Store.open() was not called"
        return self._file.db

    def start(self, loop: asyncio.AbstractEventLoop, soon: Soon | None = None) -> None:
        """Accept changes from ``loop`` from now on. ``soon`` schedules the commits (the
        server's runs them right after a worker's replies when those made the changes,
        ``gameserver._soon``; default: one of its own, the loop's ``call_soon``)."""
        if self._file is None:
            self.open()
        self._loop = loop
        self._soon = soon or Soon(loop)
        self._start_writer()
        self._checkpointer = Checkpointer(self.path, self._watch, self._may_copy,
                                          self._copied)
        self._checkpointer.start()

    def _start_writer(self) -> WriterThread:
        """A writer thread (at the start, and in place of one that died:
        ``_replace_dead_writer``)."""
        assert self._loop is not None
        writer = self._writer = WriterThread(self._loop, self._commit, self._catch_up,
                                             self._landed)
        writer.start()
        return writer

    def _replace_dead_writer(self) -> WriterThread | None:
        """The writer thread, a new one if it died (``WriterThread._died``): first the
        connection is rolled back, since it may have died inside the transaction.

        For the loop, before sending a batch (``_flush``: it died between two commits)
        and once a batch landed (``_landed``: it died in that commit); ``close`` rolls
        back too, but starts no other. None once the store closed."""
        writer = self._writer
        if writer is not None and writer.dead:
            rolled_back(self.db)
            writer = self._start_writer()
        return writer

    def _watch(self) -> None:
        """Is the file still there? (the checkpoint thread asks every second; a failed
        commit and ``close`` too). Once it is not, one line says so, for good."""
        file = self._file
        if self._gone is None and file is not None:
            with self._watching:
                gone = file.moved() if self._gone is None else None
                if gone is not None:
                    log.error("%s", gone)
                    self._file_gone = file.main_gone
                    self._gone = gone

    def _may_copy(self) -> bool:
        """Whether a checkpoint may copy the log into the file: not once another wrote the
        file over (a backup put back while the server runs: ``_overwritten``), which one
        line says, for good. Before each checkpoint (the checkpoint thread's, the writer
        thread's catch-up, the close's), one at a time: each notes what it wrote
        (``_copied``), so that only another's write is found."""
        file = self._file
        if self._written_over or file is None:
            return False
        line = file.written_over()
        if line is None:
            file.before_checkpoint()
            return True
        self._found_written_over(line)
        return False

    def _found_written_over(self, line: str) -> None:
        with self._watching:
            self._written_over = True
            log.error("%s", line)
            if self._gone is None:  # (no other line: the rest of the story is this one's)
                self._gone = line

    def _copied(self, frames: int, copied: int) -> None:
        """After a checkpoint of the store's own (its answer: the log's ``frames``, and of
        them those ``copied`` into the file; -1 if it did not run): the file is noted as
        its write, unless a page of it says another wrote it meanwhile
        (``StoreFile.after_checkpoint``)."""
        file = self._file
        if file is not None and not self._written_over:
            line = file.after_checkpoint(frames, copied)
            if line is not None:
                self._found_written_over(line)

    def close(self) -> None:
        """Write what is pending (once more, if it failed: a commit the writer thread
        failed that the stopping loop did not release too), stop the writer, unlock.

        Every ticket still open is answered with how its last commit ended, and the
        replies waiting for it are woken (not ``now``: their carriers resume them in a
        later pass, if the loop runs one). Make no change after this: it is not written."""
        if self._retry is not None:
            self._retry.cancel()
        if self._put_off is not None:
            self._put_off.cancel()
        deadline = time.monotonic() + WRITER_WAIT  # (for both threads: ``CLOSE_MAX``)
        # A checkpoint still copying (a disk hung past the wait) writes the file: a look
        # for another's write would take it for one (``_may_copy``), and no checkpoint of
        # the close's may run beside it.
        copying = False
        if self._checkpointer is not None:
            copying = not self._checkpointer.close(WRITER_WAIT)
            self._checkpointer = None
        self._watch()  # a file deleted since the last look takes no last commit
        if self._writer is not None:
            ended = self._writer.stop(max(0.0, deadline - time.monotonic()))
            if self._writer.dead and self._file is not None:  # (``_replace_dead_writer``)
                rolled_back(self.db)
            self._writer = None
            if not ended:  # the connection is the writer's until it ends (see ``_closing``)
                batch, self._batch = self._batch, None
                if batch is not None:
                    self.changes += batch.ops.changes
                in_flight, self._in_flight = self._in_flight, None
                leave_to_writer(batch, in_flight, self._take_backlog(), self._retry_tickets)
                self._file = None  # (``_landed`` does nothing now)
                return
        if not copying:  # written over: no last commit either
            self._may_copy()
        in_flight, self._in_flight = self._in_flight, None
        gone = Ops()  # the rows of sessions ended for rows the file refused (``_refuse``)
        ops, left = in_flight_left(
            in_flight, self._drop_starts,
            lambda landed, its_ops: self._refuse(its_ops, landed.starts, gone))
        # Each ticket with the sessions its batch touched: answered by its session's
        # outcome, not its name's (``_batch.outcome``).
        touched = in_flight.touched if in_flight is not None else {}
        tickets = [(key, ticket, touched) for key, ticket in left]
        ops.extend(self._take_backlog())
        batch, self._batch = self._batch, None
        starts: list[Live] = []
        if batch is not None:
            self.changes += batch.ops.changes
            self._take_snapshots(batch)
            ops.extend(batch.ops)
            tickets.extend((key, ticket, batch.touched) for key, ticket in batch.tickets.items())
            starts.extend(batch.starts)
        # After the batch: its rows of a session ended (changes it made meanwhile) would
        # go in after its deletes, and leave its moves behind without their game.
        ops.extend(gone)
        if self._file is not None:  # a restart leaves the downtime out (``_restore``)
            ops.by(ServerRows("the stop time"))
            ops.add(SAVE_STOP, (time.time(),))
        error = self._commit(ops) if ops.items else None
        if error is not None and self._gone is None:  # (gone: its line said what is lost)
            log.error("changes made just before the server stopped could not be saved (%s)",
                      error)
        refused: dict[Key, str] = {}
        if ops.refused:
            gone = Ops()  # (the first went with this commit)
            refused = self._refuse(ops, starts, gone)
            if gone.items and (self._commit(gone) is not None or gone.refused):
                # (refused: the rows left out are those deletes, said by nobody else)
                log.error("the sessions ended as the server stopped are still in the store "
                          "file: a restart may bring them back")
        tickets.extend((key, ticket, self._backlog_lives)
                       for key, ticket in self._retry_tickets.items())
        for key, ticket, touched in tickets:  # (failed: nothing writes them again)
            ticket.answer(outcome(refused, key, touched) or (error and SAVE_LOST))
        if self._file is not None:
            if copying:
                log.warning("a checkpoint of %s still runs as the store closes (a slow "
                            "disk?): the log stays beside the file; keep the two together",
                            self.path)
            else:
                self._copy_log_in()
            self._file.close()
            self._file = None
            self._say_closed()

    def _copy_log_in(self) -> None:
        """As the store closes: copy the whole log into the file (a TRUNCATE checkpoint).

        SQLite does so itself as the last connection to the file closes, but not while a
        reader's stays open (the dashboard's, in its threads; another program's): the log
        then stayed beside the file. Its ``-wal`` deleted meanwhile, what the server saved
        since the last checkpoint went with the process (measured: every move of the
        second before the store looked, with a dashboard's history read once); and a
        host who copies the file alone after a clean stop copied it without them.
        """
        assert self._file is not None
        if not self._may_copy():  # written over: copied in, the old log would mix in
            return
        db = self._file.db
        try:
            db.execute(f"PRAGMA busy_timeout={CLOSE_CHECKPOINT_WAIT_MS}")  # (a reader's read)
            busy, frames, copied = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as err:
            busy, frames, copied, why = 1, -1, -1, str(err)
        else:
            why = "another program reads it" if busy else ""
        if not busy and copied == frames:
            return
        if self._gone is not None and not self._file_gone:
            log.error("the changes saved in the second before the store's side file was "
                      "deleted could not all be copied into %s (%s): they are lost", self.path,
                      why)
        elif self._gone is None:
            log.warning("the store's log could not be copied into %s as it closed (%s): it "
                        "stays in %s-wal, which the next start copies in; to copy the store "
                        "elsewhere meanwhile, copy both files", self.path, why, self.path)

    def _say_closed(self) -> None:
        """The stop's line: how many of the changes recorded were saved (and where)."""
        recorded, saved, partly = self.changes, self.saved_changes, self.partly_saved
        lost = recorded - saved - partly
        if not lost and not partly and not self._file_gone and not self._written_over:
            log.info("store closed: all %d changes saved, in %d commits", recorded,
                     self.commits)
            return
        line = (f"store closed: {saved} of {recorded} changes saved, in {self.commits} "
                f"commits; {lost} not saved (see the errors above)")
        if partly:
            line += (f"; {partly} in commits saved but for the rows of sessions the file "
                     f"refused (see above)")
        if self._file_gone:
            line += "; what was saved went with the store file (deleted or replaced: see above)"
        elif self._written_over:
            line += "; the store file was written over (see above)"
        log.warning("%s", line)

    def health(self) -> dict[str, Any]:
        """``{"status": "ok" | "degraded", "failed_saves", "unsaved_bytes", "since", "error"}``.

        "degraded" while changes wait for a retry after a failed commit, and for good
        once the file was deleted or replaced (``_lost_for_good``);
        ``since`` is when the failures began (Unix time), ``error`` the last one.
        """
        return {"status": "degraded" if self._failing_since is not None else "ok",
                "failed_saves": self.failed_saves, "unsaved_bytes": self._backlog.size,
                "since": self._failing_since, "error": self._last_error}

    # ------------------------------------------------------------ recording (loop thread)

    def changed(self, session: Any, event: str, **detail: Any) -> Ticket | None:
        """Record one acknowledged change of ``session``; returns the ticket to wait for."""
        key = (session.game_name, session.token)
        live = self._live.get(key)
        if live is None or (live.session is not session and live.session is not None):
            if event != "start":
                return None  # not saved: a session that was never full, or memory-only
            if live is not None and not live.memory_only:  # replaced, never forgotten
                assert self.rows is not None
                ops = self._open_batch().ops
                ops.by(live)
                self.rows.forget(ops, live)
            live = self._live[key] = Live(session.game_name, session.token, session)
        elif live.session is None:
            live.session = session  # restored: its first change since the restart
        if live.memory_only:
            return None
        batch = self._open_batch()
        batch.ops.by(live)
        assert self.rows is not None
        try:
            if event == "move":
                self.rows.move(batch.ops, live, session, detail["player_id"], detail["move"],
                               detail["rejection"])
            elif event in ("start", "restart"):
                self.rows.start(batch.ops, live, session)
                if event == "start":
                    if batch.starts:
                        batch.starts.append(live)  # type: ignore[union-attr]
                    else:
                        batch.starts = [live]
            elif event == "forfeit":  # players ran out of time: the game ends (timers.py)
                self.rows.forfeit(batch.ops, live, session)
            elif event == "collected":  # a player was handed the last game's end
                self.rows.collected(batch.ops, live, session)
            else:
                self.rows.observed(batch.ops, live, session)
        except NotSaved as err:
            self._memory_only(batch.ops, live, str(err))
            return None
        return self._ticket(batch, key, live)

    def moved(self, session: Any, player_id: int, move: Any, rejection: Any) -> Ticket | None:
        """``changed(session, "move", ...)``, the short way: the change of every step."""
        key = (session.game_name, session.token)
        live = self._live.get(key)
        if live is None or live.session is not session or live.memory_only:
            return self.changed(session, "move", player_id=player_id, move=move,
                                rejection=rejection)
        batch = self._batch or self._open_batch()
        ops = batch.ops
        ops.owners.append((ops.count, live))  # (``ops.by(live)``, inline: every move)
        assert self.rows is not None
        self.rows.move(ops, live, session, player_id, move, rejection)  # never NotSaved
        return self._ticket(batch, key, live)

    def _ticket(self, batch: Batch, key: tuple[str, str], live: Live) -> Ticket:
        """``live``'s ticket in ``batch``, which holds one more of its changes."""
        batch.touched[key] = live
        batch.ops.changes += 1
        ticket = batch.tickets.get(key)
        if ticket is None:
            ticket = batch.tickets[key] = Ticket()
            if batch.put_off:
                ticket.hurry = self._hurry
        if batch.ops.size >= LARGE_COMMIT:
            if batch.put_off:
                self._hurry()
            if batch.ops.size >= UNWAITED_MAX:
                ticket.crowded = True
                if batch.ops.size >= OPEN_BATCH_MAX and self._in_flight is not None:
                    if batch.full:
                        ticket.hurry = _wait_unheld
                    else:  # (every ticket once, then each new one)
                        batch.full = True
                        for each in batch.tickets.values():
                            each.hurry = _wait_unheld
        return ticket

    def game_id(self, session: Any) -> int:
        """The history's id of ``session``'s current game, 0 if none (a replay link)."""
        live = self._live.get((session.game_name, session.token))
        return live.game_id if live is not None else 0

    def forget(self, session: Any) -> None:
        """The session ended: delete its row, and its game unless finished and kept."""
        key = (session.game_name, session.token)
        live = self._live.get(key)
        if live is None or live.session not in (session, None):
            return
        del self._live[key]
        if live.memory_only:
            return
        batch = self._open_batch()
        batch.touched.pop(key, None)
        ticket = batch.tickets.pop(key, None)  # its changes': keyed by it too (see ``Key``)
        if ticket is not None:
            batch.tickets[(*key, live)] = ticket
        self._forget_apart(batch.ops, live)

    def _forget_apart(self, ops: Ops, live: Live) -> None:
        """``live``'s session ended: its deletes, owned apart from its rows (by a copy of
        it, without its session) so that its last changes, refused in the same commit,
        do not roll them back with them (``_file.commit``): the session stayed in the
        file, and a restart brought it back as it was before."""
        deletes = live.gone = dataclasses.replace(live, session=None)
        ops.by(deletes)
        assert self.rows is not None
        self.rows.forget(ops, deletes)

    def _memory_only(self, ops: Ops, live: Live, why: str) -> None:
        log.error("session %s/%s is kept in memory only: %s", live.game_name, live.token, why)
        live.memory_only = True
        assert self.rows is not None
        self.rows.forget(ops, live)

    def _open_batch(self) -> Batch:
        batch = self._batch
        if batch is None:
            batch = self._batch = Batch()
            assert self._soon is not None, "Store.start() was not called"
            if self._in_flight is None:
                self._soon.call(self._flush)
        return batch

    # ------------------------------------------------------------ committing

    def _flush(self) -> None:
        """Start of the next loop pass: snapshots, then commit (or hand to the writer).

        A batch that no reply waits for, whose replies went out unsaved by choice
        (``Batch.may_wait``), is put off for ``PUT_OFF`` seconds, or until a reply
        waits for it (``Ticket.wait``) or it grows to ``LARGE_COMMIT``: the changes of
        the moments after it join it, so that a learning loop's steps share a commit.
        """
        if self._in_flight is not None:
            return  # FULL: sent when the batch in flight is released
        batch = self._batch
        backlog = self._backlog
        if batch is None:
            if not backlog.items and not self._retry_tickets:
                return  # taken already: a commit that landed flushed this pass's changes
            batch = Batch()  # a retry with nothing new
        elif (not batch.put_off and batch.may_wait() and self.sync == "NORMAL"
              and not backlog.items and not self._retry_tickets
              and batch.ops.size < LARGE_COMMIT):
            self._put_off_commit(batch)
            return
        else:
            self._batch = None
        if self._put_off is not None:
            self._put_off.cancel()
            self._put_off = None
        if self._retry_tickets:  # this commit writes the failed ones' rows (or afresh)
            batch.retries, self._retry_tickets = self._retry_tickets, {}
        self.changes += batch.ops.changes
        rows = self.rows
        assert rows is not None
        ops = batch.ops
        self._take_snapshots(batch)
        if backlog.items:  # rows of failed commits go first
            ops = self._take_backlog()
            ops.extend(batch.ops)
        elif rows.prune_due and (not rows.prune_refusals
                                 or time.monotonic() >= rows.prune_after):
            # (Else nothing to prune, or a refused prune waits: ``Rows.prune_refused``.)
            # First: see ``Rows.prune``; no commit in flight, none waits for a retry.
            ops, self._pruning = pruned(self.db, rows, self.rated_games, self.forget_rated)
            ops.extend(batch.ops)
        self.batches += 1
        checkpointer = self._checkpointer
        catch_up = checkpointer is not None and checkpointer.committing(ops.size)
        if self.sync == "NORMAL" and ops.size < LARGE_COMMIT and not catch_up:
            self._release(batch, ops, self._commit(ops))
        else:  # wait for the disk, write much, or let the log start over: in the writer thread
            self._in_flight = batch
            writer = self._replace_dead_writer()
            assert writer is not None
            writer.send(batch, ops, catch_up)

    def _put_off_ended(self) -> None:
        """The moment a batch was put off for has passed: commit it (``_flush``)."""
        self._put_off = None  # (fired: nothing to cancel)
        self._flush()

    def _put_off_commit(self, batch: Batch) -> None:
        """Leave ``batch`` open a moment (see ``_flush``)."""
        batch.put_off = True
        for ticket in batch.tickets.values():
            ticket.hurry = self._hurry
        assert self._loop is not None
        self._put_off = self._loop.call_later(PUT_OFF, self._put_off_ended)

    def _hurry(self, _waiter: Wait | None = None) -> None:
        """A reply waits for the put-off batch (or it grew large): commit it in a moment."""
        batch = self._batch
        if batch is not None and batch.put_off:
            batch.put_off = False  # (one flush scheduled; the next ``_flush`` commits it)
            for ticket in batch.tickets.values():
                ticket.hurry = None
            assert self._soon is not None
            self._soon.call(self._flush)

    def _take_snapshots(self, batch: Batch) -> None:
        assert self.rows is not None
        for live in batch.touched.values():
            if self.rows.snapshot_due(live):
                batch.ops.by(live)
                self.rows.snapshot(batch.ops, live)
                kept = self.rows.oversize_over_budget(live)
                if kept:
                    self._memory_only(batch.ops, live, (
                        f"its game is larger than store_snapshot_max, so its moves are "
                        f"kept, and those of such games ({kept} bytes) pass half of "
                        f"history_max_bytes ({self.rows.max_bytes})"))

    def _take_backlog(self) -> Ops:
        ops, self._backlog = self._backlog, Ops()
        return ops

    def _commit(self, ops: Ops) -> str | None:
        """Write ``ops`` in one transaction; returns an error message or None."""
        if self._gone is not None:  # written, it would be lost: fail, as a full disk does
            return self._gone
        file = self._file
        assert file is not None, "Store.open() was not called"
        error = commit(file.db, ops, file)
        if error is RESTORED:
            error = self._restored()
        if error is None:
            self.commits += 1
            if ops.refused:
                self.partly_saved += ops.changes
            else:
                self.saved_changes += ops.changes
        return error

    def _restored(self) -> str:
        """Another program put a database into the file through SQLite (``_file.commit``):
        one line says so; nothing more is saved (``_gone``) until a restart. The file is
        whole (SQLite wrote it): checkpoints go on copying its log into it."""
        line = (f"the store file {self.path} was changed by another program while the "
                f"server ran: its schema version is not the one the server wrote (a backup "
                f"put back through SQLite, as sqlite3 {self.path} \".restore backup.sqlite3\" "
                f"or the backup API does, or a VACUUM): nothing more is saved to it, so that "
                f"the server's sessions are not mixed into what it holds now; restart the "
                f"server to use the file as it is. The changes from now until the restart "
                f"are lost")
        with self._watching:
            if self._gone is None:
                log.error("%s", line)
                self._gone = line
            return self._gone

    def _release(self, batch: Batch, ops: Ops, error: str | None) -> None:
        """The commit of ``batch`` (and the backlog before it) ended: answer its tickets."""
        if error is None:
            if self._pruning is not None:
                self._pruned(ops)
            if self._failing_since is not None:  # (set by every failure, with the rest)
                log.warning("the store saves again (after %.1f s of failures)",
                            time.time() - self._failing_since)
                self._failing_since = self._last_error = None
                self._backlog_lives.clear()
            if ops.refused:  # a session's rows the file refused: it ends, the rest is saved
                refused = self._refuse(ops, batch.starts)
                for key, ticket in batch.every_ticket():
                    ticket.answer(outcome(refused, key, batch.touched), True)
                return
            for _, ticket in batch.every_ticket():
                ticket.answer(None, True)  # a reply that waited for it may go out now
            return
        self._failed(batch, ops, error)
        started = {(live.game_name, live.token) for live in batch.starts}
        retried = batch.retries
        gone = self._gone is not None  # (``_failed`` looked): nothing is written again
        for key, ticket in batch.every_ticket():
            if key in started:  # closed: nothing is written again
                ticket.answer(JOIN_FAILED, now=True)
            elif gone:
                ticket.answer(SAVE_GONE, now=True)
            elif retried is not None and retried.get(key) is ticket and not ticket.waiters:
                # No reply waits for this retry: it stands for the next one too (see
                # ``Ticket.again``: a chain of them would grow while the disk fails).
                self._retry_tickets[key] = ticket
            else:  # written again later: the session's replies wait for it
                ticket.again = self._retry_tickets.setdefault(key, Ticket())
                ticket.answer(SAVE_FAILED, now=True)

    def _pruned(self, ops: Ops) -> None:
        """A commit was written, the first since a prune was made (``_pruning``): it held
        the prune's rows (its own, or the backlog's that went first) unless they were
        dropped since (``_rewrite_afresh``). Those the file took: ``ServerRows.written``."""
        owner, self._pruning = self._pruning, None
        if (owner is not None and owner.written is not None
                and not (ops.refused and owner in ops.refused)
                and any(named is owner for _, named in ops.owners)):
            owner.written()

    def _refuse(self, ops: Ops, starts: Iterable[Live],
                gone: Ops | None = None) -> dict[Key, str]:
        """A commit left out the rows the file refused (``ops.refused``, see ``_file.commit``)
        and saved the rest: the sessions whose rows they were end.

        Their rows would be refused again at every retry, and held every later change
        back with them; dropped while the session plays on, its later moves would be
        saved after a hole. So each ends, with one log line that names it and the
        error: its waiting replies and later requests get ``SAVE_REFUSED`` (its joiners
        ``JOIN_FAILED``, if the commit started it: ``starts``), and its rows in the file
        are deleted with the next commit (``gone``: in these ops instead, as the store
        closes), so that a restart does not bring back the game as it was before. A
        session that had ended already gets ``SAVE_REFUSED`` for the changes left out.
        Rows of the server's own (``ServerRows``: a prune, a timer, a tournament event)
        are left out with a log line, and what making them counted is taken back.

        What the history counts follows what the file has (``Rows.left_out``): a game
        whose end was left out is not kept, but dropped with its session.

        Returns:
            What the tickets of each session ended are answered, keyed by its name and
            ``Live`` (a current one's by its name too): for ``_batch.outcome``.
        """
        answers: dict[Key, str] = {}
        starts = set(starts)
        rows = self.rows
        assert ops.refused is not None and rows is not None
        rows_of = dict(ops.by_owner())  # (a refusal is rare: the rows are grouped again)
        for owner, why in ops.refused.items():
            self.refused_saves += 1
            if not isinstance(owner, Live):
                if owner is not None and owner.refused is not None:
                    owner.refused(why)  # (a prune: logged once per run of refusals)
                    continue
                log.error("rows of the server's own (%s) could not be saved (%s): they are "
                          "left out, and the other changes of the same commit saved",
                          owner.what[:80] if owner is not None else "unnamed", why)
                continue
            end_left_out = rows.left_out(owner, rows_of[owner])
            key = (owner.game_name, owner.token)
            current = self._live.get(key) is owner
            if not current and owner not in starts:  # ended already: its last rows
                if owner.session is None:  # its deletes (``_forget_apart``) ...
                    if any(sql == DELETE_SESSION for sql, _ in rows_of[owner]):
                        log.error("session %s/%s, ended already, could not be deleted from "
                                  "the store (%s); a restart may bring it back", *key, why)
                    else:  # ... or only the drop of its game ``unkeep`` added to them
                        log.error("session %s/%s had ended: its game %d, whose end could "
                                  "not be saved, could not be deleted either (%s); it stays "
                                  "in the store file, neither current nor finished, outside "
                                  "the history", *key, owner.game_id, why)
                    continue
                # Changes it made before it ended; its deletes are apart.
                log.error("session %s/%s, ended already: its last changes could not "
                          "be saved (%s), and are left out", *key, why)
                deletes = owner.gone
                if deletes is None or deletes not in ops.refused:  # (else: as it was)
                    ended_ops = gone if gone is not None else self._open_batch().ops
                    rows.left_current(ended_ops, owner, rows_of[owner])
                    if end_left_out and deletes is not None:
                        # Its deletes took the game, unfinished in the file, for finished
                        # and kept it: it goes, with them (refused with them if they are
                        # to be written yet; refused, they kept the session as it was).
                        ended_ops.by(deletes)
                        rows.unkeep(ended_ops, owner)
                answers[(*key, owner)] = SAVE_REFUSED  # (not by its name: a new one's)
                continue
            reason = JOIN_FAILED if owner in starts else SAVE_REFUSED
            log.error("session %s/%s is ended: its changes could not be saved (%s); the "
                      "other changes of the same commit are saved", *key, why)
            answers[key] = answers[(*key, owner)] = reason
            if current:
                del self._live[key]
                for tickets in ((self._batch.tickets if self._batch is not None else {}),
                                self._retry_tickets):
                    later = tickets.pop(key, None)  # (its changes made since)
                    if later is not None:
                        later.answer(reason, now=True)
                if gone is None:  # its rows go: a restart brings back none of it
                    batch = self._open_batch()
                    batch.touched.pop(key, None)
                    gone_ops = batch.ops
                else:
                    gone_ops = gone
                if end_left_out:  # not in the file: the game is dropped, not kept
                    owner.ended = False
                self._forget_apart(gone_ops, owner)
                rows.left_current(gone_ops, owner, rows_of[owner])
            if owner.session is not None:
                owner.session.close(ProtocolError(reason))
        return answers

    def _failed(self, batch: Batch, ops: Ops, error: str) -> None:
        self.failed_saves += 1
        # A commit that failed because the file went, before the checkpoint thread looked
        # (once a second), is told as that, not as a failure a retry mends.
        self._watch()
        if self._gone is not None:
            self._lost_for_good(batch, ops)
            return
        if self._failing_since is None:
            self._failing_since = time.time()
            log.error("saving to %s failed (%s); the changes are kept in memory and written "
                      "again with the next change and every %g s", self.path, error,
                      RETRY_INTERVAL)
        elif error != self._last_error:  # /healthz shows no error's text: the log has each
            log.error("saving to %s still fails, now with %s", self.path, error)
        self._last_error = error
        self._drop_starts(batch, ops)
        self._backlog = ops
        self._backlog_lives.update(batch.touched)
        if ops.size > RETRY_MAX_BYTES:
            self._rewrite_afresh()
        if self._retry is None and self._loop is not None:
            self._retry = self._loop.call_later(RETRY_INTERVAL, self._retry_now)

    def _lost_for_good(self, batch: Batch, ops: Ops) -> None:
        """The file was deleted or replaced (``_watch``, which logged it): nothing is
        written again until a restart, so the rows of ``batch`` are dropped, not kept for
        a retry (which would fail for ever, its tickets promising a later save), and so
        are those of earlier failed commits (this commit carried them, and their tickets:
        ``_release`` answers them all ``SAVE_GONE``). ``health()`` says "degraded"."""
        if self._failing_since is None:
            self._failing_since = time.time()
        self._last_error = self._gone
        self._drop_starts(batch, ops)
        self._backlog = Ops()
        self._backlog_lives.clear()

    def _drop_starts(self, batch: Batch, ops: Ops) -> None:
        """``batch`` failed: nobody gets a key to a session it started, so the session is
        closed and forgotten (``ops``, written again later, delete what they insert)."""
        for live in batch.starts:
            if self._live.get((live.game_name, live.token)) is live:
                del self._live[(live.game_name, live.token)]
            assert self.rows is not None
            ops.by(live)
            self.rows.forget(ops, live)
            ops.changes -= 1  # (not saved, whatever the retry of its rows does)
            live.session.close(ProtocolError(JOIN_FAILED))

    def _retry_now(self) -> None:
        self._retry = None
        if self._batch is None and self._in_flight is None and (self._backlog.items
                                                                or self._retry_tickets):
            self._flush()  # else the batch on its way carries the backlog

    def _rewrite_afresh(self) -> None:
        """The backlog is too large to keep: drop it, rewrite each session it touched."""
        log.error("the store has failed for a while; %d bytes of unsaved rows are dropped and "
                  "the sessions they touched are saved afresh (their games' history will miss "
                  "moves)", self._backlog.size)
        self._backlog = Ops()
        assert self.rows is not None
        batch = self._open_batch()
        for key, live in self._backlog_lives.items():
            if self._live.get(key) is not live or live.memory_only or live.session is None:
                continue
            batch.ops.by(live)
            try:
                self.rows.rewrite(batch.ops, live, live.session)
            except NotSaved as err:
                self._memory_only(batch.ops, live, str(err))
                continue
            batch.touched[key] = live  # if this batch fails too, it is rewritten again
        self._backlog_lives.clear()

    # ------------------------------------------------------------ writer thread

    def _catch_up(self) -> None:
        """In the writer thread, right after its commit: a checkpoint lets the log start over."""
        if self._checkpointer is not None:
            self._checkpointer.catch_up(self.db)

    def _landed(self, batch: Batch, ops: Ops, error: str | None) -> None:
        if self._file is None:  # closed meanwhile: ``close`` wrote or reported it
            return
        self._in_flight = None
        self._replace_dead_writer()
        self._release(batch, ops, error)
        if self._batch is not None:  # (a failed one's rows: with it, or at the retry's time)
            self._flush()


def _wait_unheld(waiter: Wait) -> None:
    """A reply waits for a batch past ``OPEN_BATCH_MAX``: not as one held while its
    connection serves on (``Wait.saving``), but as one its connection waits for, reading
    no more than ``request_size_max`` meanwhile; so each connection adds at most one
    change to the batch until it is committed (docs/reliability.md)."""
    waiter.saving = False
