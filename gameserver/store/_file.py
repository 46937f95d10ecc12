"""Opening the store file: checked, locked, and with the current schema.

Everything that can stop a server from using its store file is found here,
before the server listens, and reported as one ``StoreFileError`` line that
names the file, what is wrong and what to do:

* the folder is missing, read-only, or not writable by this user;
* the file, its folder or SQLite's side files (``-wal``, ``-shm``) are
  writable by other users or owned by another user: anyone who can write
  them can make the server load what they like (the file holds pickled
  game objects) or read the players' keys;
* (not refused, mended) the file or its side files are readable by other
  users: a backup made with ``sqlite3 FILE ".backup COPY"`` and put back
  has the mode of the user's umask (``-rw-r--r--``), and SQLite gives the
  side files the file's mode, so every local user could read every key.
  ``_keep_private`` takes those bits away and says so in the log;
* another running server uses the file: the lock file beside it
  (``<file>.lock``) is held with ``flock``, which the kernel releases when
  the holding process dies, ``kill -9`` included, so a lock is never stale;
  the database file itself is held so too, for a server that reaches it
  under another name (a hard link, whose lock file is another);
* the file is damaged (not an SQLite file, truncated, malformed pages), or its
  disk is full, or a write to it fails (a disk quota, ``ulimit -f``, a failing
  disk): neither is called damaged (moving the file aside loses its sessions);
* the file is another program's SQLite file (it has tables, none of them ours);
* a newer version of gameserver wrote it (its format number is above ours).

A failed open removes every file it created, so a start that fails leaves
the folder as it was. ``commit`` writes a batch's rows in one transaction on
the open file's connection (from the thread that owns it, see
``_writer_thread``), and writes nothing into a database another program put in
the file meanwhile (``.restore``: ``RESTORED``). ``StoreFile.moved`` tells, while the
server runs, that the file or its side files were deleted or replaced;
``written_over`` and ``after_checkpoint``, that another program wrote the file itself
(``_overwritten``, ``_pages``).

Why this module is longer than our ~450 lines: it is every check between a
path and a store the server may write, and each check's message; split, the
order they must run in (the lock before the header, the file's kind before
SQLite writes WAL mode into it) would be spread over modules.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import pwd
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from time import sleep
from typing import Any

from ..config import StartupError
from . import _overwritten
from ._checkpoint import WRITER_PRAGMAS
from ._pages import Pages, log_position, rewrote_all
from ._rows import GAME_ROW, ROW_OVERHEAD, Ops, Owner

SQLITE_MAGIC = b"SQLite format 3\x00"
WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")  # a write-ahead log's first bytes
SIDE_FILES = ("-wal", "-shm", "-journal")
SCHEMA_VERSION = 2
# Settings of the writer's connection. busy_timeout: commits run on the event loop;
# nothing of ours takes the write lock (WAL readers and checkpoints never do), so
# another process holds it: fail fast (the commit is retried) instead of stalling.
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA busy_timeout=20")

SCHEMA = """
CREATE TABLE IF NOT EXISTS live_sessions (
    game TEXT NOT NULL, token TEXT NOT NULL,
    info TEXT NOT NULL,  -- JSON: size, players and their keys, when it was created
    PRIMARY KEY (game, token));
CREATE TABLE IF NOT EXISTS games (
    id INTEGER PRIMARY KEY, game TEXT NOT NULL, session TEXT NOT NULL,
    players TEXT NOT NULL, started REAL NOT NULL, ended REAL, moves INTEGER NOT NULL DEFAULT 0,
    initial_states TEXT NOT NULL, final_states TEXT,
    seed TEXT, views INTEGER,  -- made again from seed; crc32 of initial views
    current INTEGER,  -- 1: the game its session plays now
    bytes INTEGER,  -- what its rows weigh in the history's bytes (_rows.Rows)
    info TEXT,  -- JSON: the session's counters and hand-over, during this game
    own_timer INTEGER);  -- 1: its starter chose its session's timer: not rated (ratings)
CREATE TABLE IF NOT EXISTS game_moves (
    game_id INTEGER NOT NULL, seq INTEGER NOT NULL, player_id INTEGER NOT NULL,
    move TEXT NOT NULL, verdict TEXT, time REAL NOT NULL,
    PRIMARY KEY (game_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS game_snapshots (
    game_id INTEGER NOT NULL, seq INTEGER NOT NULL,  -- the game after move seq
    accepted INTEGER NOT NULL,  -- moves of the game accepted until then
    blob BLOB NOT NULL,  -- CheckedGame.snapshot()
    PRIMARY KEY (game_id, seq));
CREATE TABLE IF NOT EXISTS rating_base (  -- what pruned games left of the ratings
    named INTEGER NOT NULL, game TEXT NOT NULL, name TEXT NOT NULL,  -- (_rating_base)
    games INTEGER NOT NULL, rating TEXT NOT NULL,  -- JSON: ratings.as_json
    PRIMARY KEY (named, game, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS server_stops (  -- when the server last stopped cleanly
    id INTEGER PRIMARY KEY CHECK (id = 1), at REAL NOT NULL);  -- Unix seconds
CREATE TABLE IF NOT EXISTS rated_games (  -- games of deleted tournaments: still rated
    history_id INTEGER PRIMARY KEY, tournament TEXT NOT NULL);  -- (tournament_store)
"""
# A deleted tournament's games stay rated while the history keeps them; pruned, their
# ratings are in ``rating_base``, and their rows went with them (``Rows.prune``). Files
# before 2026-12-01 kept every row for good (one per game of every tournament deleted),
# and a game id the history gave again after its games were all pruned was rated.
FORGET_PRUNED_RATED = "DELETE FROM rated_games WHERE history_id NOT IN (SELECT id FROM games)"


# Finished games by end time (the history's newest first). Partial: a game's row enters
# it once, when it ends; a full index would also move its entry out of the NULLs, a
# second page written by most commits that end a game (files before 2026-11 had that).
ENDED_INDEX = "CREATE INDEX games_ended ON games (ended) WHERE ended IS NOT NULL"


# What each finished game of a file from before history_max_bytes weighs, as ``_rows``
# counts it (the texts of its moves and views, its snapshots, and their overheads).
WEIGH_KEPT_GAMES = f"""
UPDATE games SET bytes = {GAME_ROW} + LENGTH(CAST(initial_states AS BLOB))
    + IFNULL(LENGTH(CAST(final_states AS BLOB)), 0)
    + IFNULL((SELECT SUM(LENGTH(CAST(move AS BLOB)) + IFNULL(LENGTH(CAST(verdict AS BLOB)), 0)
                         + {ROW_OVERHEAD}) FROM game_moves WHERE game_id = games.id), 0)
    + IFNULL((SELECT SUM(LENGTH(blob)) FROM game_snapshots WHERE game_id = games.id), 0)
WHERE ended IS NOT NULL AND current IS NULL"""


class StoreFileError(StartupError):
    """The store file cannot be used; ``str(err)`` says why and what to do."""


FIX = "pick another file with --store-path, or run without saving with --no-store"
log = logging.getLogger("gameserver.store")


@dataclass
class StoreFile:
    """An open, checked and locked store file.

    ``db`` is the writer's connection; ``close()`` closes it and releases
    the lock.
    """

    path: str
    db: sqlite3.Connection
    lock_fd: int
    created: list[str] = field(default_factory=list)  # files this open created
    file_fd: int = -1  # the database file itself, locked too (see _lock_file)
    side_files: dict[str, tuple[int, int]] = field(default_factory=dict)  # -wal, -shm
    main_gone = False  # ``moved`` found the file itself gone, not a side file
    written: tuple[int, int] = (0, 0)  # its (mtime_ns, size) after our last write to it
    shm_fd: int = -1  # the -shm, the store's own descriptor (``guard``, ``pages``)
    # Other programs' checkpoints kept out (None: no OFD locks here, ``_overwritten``),
    # and the pages the store's checkpoints wrote (``_pages``).
    guard: _overwritten.CheckpointGuard | None = None
    pages: Pages | None = None
    schema: int = 0  # the file's schema version, as the server last wrote or read it
    log_mark: tuple[bytes, int] = (b"", 0)  # where the log ended then (``_pages``)

    def note_schema(self) -> None:
        """The file's schema version now is the server's (its start, its own statements,
        another program's schema statement): noted, with where the log ends."""
        self.schema = self.db.execute("PRAGMA schema_version").fetchone()[0]
        if self.shm_fd >= 0:
            self.log_mark = log_position(self.shm_fd)

    def rewritten(self) -> bool:
        """Whether another program put a whole database into the file since the schema
        version was noted (``_pages.rewrote_all``)."""
        if self.shm_fd < 0 or self.pages is None:
            return True  # (not known: taken for one, rather than mixing the two)
        return rewrote_all(self.path, self.shm_fd, self.pages.page_size, self.log_mark)

    def note_written(self) -> None:
        """After a write of the server's own into the file (a checkpoint): what it is now."""
        if self.file_fd >= 0:
            info = os.fstat(self.file_fd)
            self.written = (info.st_mtime_ns, info.st_size)

    def written_over(self) -> str | None:
        """Whether another wrote the file since ``note_written`` (a backup copied over it):
        then its side files are moved aside, SQLite's checkpoint as it closes held off,
        the lock file marked (``_overwritten``), and one line for the operator returned,
        saying what happened, what to do and what is lost. (Once: the caller's.)"""
        if self.file_fd < 0:
            return None
        info = os.fstat(self.file_fd)
        if (info.st_mtime_ns, info.st_size) == self.written:
            return None
        return self._found_written_over(
            "the changes saved since the last checkpoint before it, and those from now "
            "until the restart, are lost")

    def before_checkpoint(self) -> None:
        """Just before a checkpoint of the server's own (after ``written_over`` found
        none): let it take SQLite's lock that keeps others' out, note the log it copies."""
        if self.pages is not None:
            self.pages.before()
        if self.guard is not None:
            self.guard.let_ours_run()

    def after_checkpoint(self, frames: int, copied: int) -> str | None:
        """Just after it (its answer: the log's ``frames``, and of them those ``copied``
        into the file; -1 if it did not run): others' checkpoints kept out again, and the
        file noted as the server's write; or, if a page of it is not what the checkpoints
        wrote (a backup copied over it meanwhile), the line of ``written_over``."""
        if self.guard is not None:
            self.guard.refuse_again()
        info = os.fstat(self.file_fd)
        if (info.st_mtime_ns, info.st_size) == self.written:
            return None  # (nothing wrote the file, the checkpoint neither: most idle passes)
        if self.pages is not None and not self.pages.after(frames, copied):
            return self._found_written_over(
                "it was written over while the server copied its log into it, so the file "
                "may hold pages of both: put the backup back again while the server is "
                "stopped. The changes from now until the restart are lost")
        self.note_written()
        return None

    def _found_written_over(self, lost: str) -> str:
        held = _overwritten.hold_off_checkpoints(self.file_fd)
        _overwritten.set_aside(self.path, self.side_files)
        _overwritten.mark(self.lock_fd)
        line = (f"the store file {self.path} was written over while the server ran (a backup "
                f"copied over it? put one back only while the server is stopped): nothing "
                f"more is saved to it, and the server's log of the old file is moved aside "
                f"({self.path}-wal{_overwritten.ASIDE}) so that it is never copied into the "
                f"new one; restart the server to use the file as it is now. {lost[0].upper()}"
                f"{lost[1:]}")
        if not held:
            line += ("; this system cannot keep SQLite from copying the old log into the "
                     "file as the server's connections close (no open file description "
                     "locks): stop the server with kill -9 (SIGKILL), not a clean stop")
        return line

    def moved(self) -> str | None:
        """Why the file the server writes is no longer the one at ``path``, or None: one
        line for the operator, saying what happened, what to do, and what is lost.

        Deleted, or its folder deleted or replaced: SQLite went on writing to the
        files it held open, which nobody could find again, and every save said it
        succeeded (a deleted ``-wal`` lost all written since the last checkpoint).
        The store then saves nothing more (``Store._commit``). A side file gone
        (``-wal``, ``-shm``: a host "freeing space") leaves what was saved in the file:
        the connections that hold the deleted log open copy it in (each checkpoint,
        and the last one as the store closes). The main file gone takes it all.
        """
        names = {self.path: _identity(os.fstat(self.file_fd)) if self.file_fd >= 0
                 else None}
        names.update((self.path + suffix, seen) for suffix, seen in self.side_files.items())
        for name, seen in names.items():
            try:
                info = os.stat(name)
            except OSError:
                now = size = None
            else:
                now, size = _identity(info), info.st_size
            if seen is None or now == seen:
                continue
            # (An empty side file in its place is one that a reader of the file made anew.)
            deleted = now is None or (name != self.path and size == 0)
            what = "deleted" if deleted else "replaced by another file"
            if name != self.path:
                return (f"the store's side file {name} was {what} while the server ran (to "
                        f"free space? SQLite needs it while the server runs): nothing can "
                        f"be saved any more; restart the server to save again. What was "
                        f"saved until now stays in {self.path}; the changes made from now "
                        f"until the restart are lost")
            self.main_gone = True
            if not deleted:  # (its side files are the old file's: not for the new one)
                _overwritten.set_aside(self.path, self.side_files)
                _overwritten.mark(self.lock_fd)
            return (f"the store file {name} was {what} while the server ran (its folder "
                    f"removed?): nothing can be saved any more; restart the server to save "
                    f"again. The sessions and history saved in it went with it, and the "
                    f"changes made from now until the restart are lost too")
        return None

    def close(self, remove_created: bool = False) -> None:
        """Close the connection and release the lock; delete what the open created, if asked."""
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        if remove_created:
            for name in self.created:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
        if self.file_fd >= 0:
            os.close(self.file_fd)
        if self.shm_fd >= 0:  # (after the connection: it drops this process's locks on it)
            os.close(self.shm_fd)
        _unlock(self.path, self.lock_fd)


def _unlock(path: str, lock_fd: int) -> None:
    # Remove the lock file while holding the lock: a server waiting for it sees
    # that the file it locked is gone and tries again (see _lock).
    with contextlib.suppress(FileNotFoundError):
        os.unlink(lock_path(path))
    os.close(lock_fd)


def lock_path(path: str) -> str:
    return path + ".lock"


def open_store(path: str, sync: str = "NORMAL") -> StoreFile:
    """Check, lock and open the store file ``path`` (created if missing).

    Raises:
        StoreFileError: one line naming the file, the problem and the fix.
    """
    path = os.path.realpath(path)  # a symlink must not dodge the lock
    _check_folder(path, os.path.dirname(path))
    ours = (path, *(path + suffix for suffix in SIDE_FILES))
    before = {name for name in (*ours, lock_path(path)) if os.path.lexists(name)}
    for name in sorted(before):
        _check_owned(name, "file")
    lock_fd = _lock(path)
    db: sqlite3.Connection | None = None
    file_fd = -1
    try:
        _keep_private(before)  # before SQLite opens: it makes the side files like the file
        _check_header(path)
        _check_side_files(path)
        file_fd = _lock_file(path)
        db = _connect(path, sync)
        _check_content(path, db)
        _update_schema(path, db)
    except BaseException:
        if db is not None:
            db.close()
        if file_fd >= 0:
            os.close(file_fd)
        for name in ours:
            if name not in before:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
        _unlock(path, lock_fd)
        raise
    sides = {}
    for suffix in ("-wal", "-shm"):  # the writer's connection holds them open from now on
        with contextlib.suppress(OSError):
            sides[suffix] = _identity(os.stat(path + suffix))
    opened = StoreFile(path, db, lock_fd, [name for name in ours if name not in before],
                       file_fd, sides)
    _watch_checkpoints(opened)
    opened.note_schema()
    opened.note_written()
    return opened


def _watch_checkpoints(opened: StoreFile) -> None:
    """Keep other programs' checkpoints out of the file from now on, and start noting the
    pages the server's write (``_overwritten``, ``_pages``): on the store's own descriptor
    of the -shm the writer's connection made, kept until the store closes."""
    shm = opened.path + "-shm"
    try:
        fd = os.open(shm, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    if _identity(os.fstat(fd)) != opened.side_files.get("-shm"):
        os.close(fd)  # (not the one SQLite opened: no locks of ours on it yet)
        return
    opened.shm_fd = fd
    if _overwritten.OFD:
        guard = opened.guard = _overwritten.CheckpointGuard(fd)
        if not guard.refuse():  # another program's checkpoint runs now: let it end
            guard.refuse_again()
    size = opened.db.execute("PRAGMA page_size").fetchone()[0]
    opened.pages = Pages(opened.path, opened.file_fd, fd, size)


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _update_schema(path: str, db: sqlite3.Connection) -> None:
    """Bring the file to the current schema (nothing is written if it has it)."""
    with writes_at_start(path, db):
        db.executescript(SCHEMA)
        if db.execute(FORGET_PRUNED_RATED.replace("DELETE", "SELECT 1", 1) + " LIMIT 1"
                      ).fetchone():  # (else no write: another program may hold the lock)
            db.execute(FORGET_PRUNED_RATED)
        _add_new_columns(db)
        _index_ended_games(db)
        if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextlib.contextmanager
def writes_at_start(path: str, db: sqlite3.Connection) -> Iterator[None]:
    """Writes the start makes (the schema, restored sessions' snapshots): a write lock
    another program holds, a full disk or a write that fails is one line, not a traceback.

    Raises:
        StoreFileError: another program holds the file's write lock (an
            ``sqlite3`` shell in a transaction, say), the disk is full, or the file
            cannot be written (``_damaged_or_full``).
    """
    try:
        yield
    except sqlite3.OperationalError as err:
        unwritable = _full(path, err) or _cannot_write(err)
        if not (unwritable or _locked(err)):
            raise
        with contextlib.suppress(sqlite3.Error):
            if db.in_transaction:
                db.execute("ROLLBACK")
        raise (_damaged_or_full(path, err) if unwritable
               else _locked_by_another_program(path)) from None


def _locked(err: sqlite3.Error) -> bool:
    return "locked" in str(err) or "busy" in str(err)


def _locked_by_another_program(path: str) -> StoreFileError:
    return StoreFileError(
        f"the store file {path} is locked by another program (an sqlite3 shell with a "
        f"transaction open?): let it finish, then start again; or {FIX}")


def _add_new_columns(db: sqlite3.Connection) -> None:
    """Columns a file of the first format lacks in tables it shares with this one,
    ``own_timer``, which files before 2026-11-29 lack, and ``bytes``, which files before
    ``history_max_bytes`` lack."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(games)")}
    for name, kind in (("seed", "TEXT"), ("views", "INTEGER"), ("current", "INTEGER"),
                       ("info", "TEXT"), ("own_timer", "INTEGER")):
        if name not in columns:
            db.execute(f"ALTER TABLE games ADD COLUMN {name} {kind}")
    if "bytes" not in columns:  # (once, together) weigh the finished games it holds
        db.execute("BEGIN")
        db.execute("ALTER TABLE games ADD COLUMN bytes INTEGER")
        db.execute(WEIGH_KEPT_GAMES)
        db.execute("COMMIT")


def _index_ended_games(db: sqlite3.Connection) -> None:
    """Create the ended-games index, or make a full one of an older file partial."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = "
                     "'games_ended'").fetchone()
    if row is not None and row[0] == ENDED_INDEX:
        return
    db.execute("BEGIN")
    if row is not None:
        db.execute("DROP INDEX games_ended")
    db.execute(ENDED_INDEX)
    db.execute("COMMIT")


def _connect(path: str, sync: str) -> sqlite3.Connection:
    _create_private(path)
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.DatabaseError as err:
        raise _damaged(path, str(err)) from None
    try:
        _check_ours(path, db)  # first: WAL mode is written into the file's header
        _check_version(path, db)
        for pragma in (*PRAGMAS, *WRITER_PRAGMAS):
            db.execute(pragma)
        db.execute(f"PRAGMA synchronous={sync}")
    except sqlite3.DatabaseError as err:
        db.close()
        if _locked(err):  # healthy, but in use: moving it aside would lose its sessions
            raise _locked_by_another_program(path) from None
        raise _damaged_or_full(path, err) from None
    except BaseException:
        db.close()
        raise
    return db


def _create_private(path: str) -> None:
    """Create the file readable by its owner only: it holds the players' keys.

    SQLite creates its -wal and -shm files with the same permissions.
    """
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o600))
    except OSError as err:
        if _full(path, err):
            raise _disk_full(path) from None
        raise StoreFileError(f"cannot create the store file {path}: {err.strerror}; "
                             f"{FIX}") from None


def _check_folder(path: str, folder: str) -> None:
    try:
        is_folder = stat.S_ISDIR(os.stat(folder).st_mode)
    except FileNotFoundError:
        raise StoreFileError(f"the folder of the store file {path} does not exist: create it "
                             f"(mkdir -p {folder}), or {FIX}") from None
    except PermissionError:
        raise StoreFileError(f"the folder of the store file {path} cannot be reached by this "
                             f"user (uid {os.geteuid()}): permission denied on a folder "
                             f"above it; {FIX}") from None
    if not is_folder:
        raise StoreFileError(f"the folder of the store file {path} is not a folder; {FIX}")
    if os.path.isdir(path):
        raise StoreFileError(f"the store file {path} is a folder; {FIX}")
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        raise StoreFileError(f"the store file {path} is on a read-only file system; "
                             f"{FIX}")
    if not os.access(folder, os.W_OK | os.X_OK,
                     effective_ids=os.access in os.supports_effective_ids):
        raise StoreFileError(f"the folder of the store file {path} is not writable by this "
                             f"user (uid {os.geteuid()}): let it write there (chown/chmod "
                             f"{folder}), or {FIX}")
    _check_owned(folder, "folder")


def _check_owned(name: str, what: str) -> None:
    """Refuse a file or folder that another user owns or may write to."""
    info = os.lstat(name)
    if what == "file" and not stat.S_ISREG(info.st_mode):
        raise StoreFileError(f"the store file {name} is not a regular file (a link, a "
                             "device?); remove it, or " + FIX)
    me = os.geteuid()
    # The folder may belong to root (a system folder this user may write to);
    # the files must be this user's own.
    owners = (me, 0) if what == "folder" else (me,)
    if info.st_uid not in owners:
        # (A backup copied back as root is the usual case: say the command that fixes it.)
        raise StoreFileError(
            f"the store {what} {name} belongs to another user (uid {info.st_uid}, this "
            f"server runs as uid {me}): anyone who can change it can make the server run "
            f"their code; if it is yours to use (a copy put back as root, say), give it to "
            f"this server's user (chown {_user_name(me)} {name}), or {FIX}")
    if info.st_mode & 0o022:
        mode = stat.filemode(info.st_mode)
        raise StoreFileError(
            f"the store {what} {name} is writable by other users ({mode}): anyone who can "
            f"change it can make the server run their code; chmod go-w {name}, or "
            + FIX)


def _keep_private(names: set[str]) -> None:
    """Make the store's files that others may read (checked: ours, regular, written by
    nobody else) readable by this user only: they hold the players' keys.

    Mended rather than refused: the usual cause is the host's own backup put back
    (``sqlite3 FILE ".backup COPY"`` makes COPY ``-rw-r--r--`` under the common umask,
    and ``mv`` or ``cp`` keep that), and a start refused for it helps nobody. Until
    2026-12-01 such a file was used as it was, and SQLite made its ``-wal`` and
    ``-shm`` as readable: every local user could read every player's key and observer
    code, and act in any seat. The lock file holds a pid only, and is left as it is.
    """
    for name in sorted(names):
        if name.endswith(".lock"):
            continue
        mode = stat.S_IMODE(os.lstat(name).st_mode)
        if mode & 0o077:
            try:
                os.chmod(name, mode & 0o700)
            except OSError as err:
                raise StoreFileError(
                    f"the store file {name} is readable by other users "
                    f"({stat.filemode(stat.S_IFREG | mode)}) and cannot be made private "
                    f"({err.strerror}): it holds the players' keys; chmod 600 {name}, or "
                    + FIX) from None
            log.warning("the store file %s was readable by other users (%s): it holds the "
                        "players' keys, so it is now readable by this server's user only "
                        "(chmod 600; a backup made with sqlite3's .backup has the mode of "
                        "the umask: make it with umask 077)", name,
                        stat.filemode(stat.S_IFREG | mode))


def _user_name(uid: int) -> str:
    """The name of user ``uid`` for a command line, or the number (``chown`` takes it too)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # (a uid without a name, in a container)
        return str(uid)


BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)  # a flock another holds
# Tries of the lock, 10 ms apart: a reader's look for a running server holds it shared
# for a moment (``held``), and a server starting then took that reader for a server.
LOCK_TRIES = 20


def _lock(path: str) -> int:
    """Take the store's lock, or raise naming the server that holds it."""
    name = lock_path(path)
    tries = LOCK_TRIES
    while True:
        try:
            fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as err:
            raise StoreFileError(f"cannot create the lock file {name}: {err.strerror}; "
                                 + FIX) from None
        if os.pread(fd, len(SQLITE_MAGIC), 0) == SQLITE_MAGIC:  # (emptied below, it was lost)
            os.close(fd)
            raise _named_after(path, name)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = read_pid(fd)
            os.close(fd)
            if err.errno not in BUSY:
                raise StoreFileError(f"cannot lock {name}: {err.strerror}; "
                                     + FIX) from None
            tries -= 1
            if tries > 0:
                sleep(0.01)
                continue
            who = f"(pid {holder})" if holder else "(pid unknown)"
            raise StoreFileError(
                f"the store file {path} is in use by another running server {who}: stop "
                f"that server, or {FIX}") from None
        # The holder before us may have removed the file while we waited for it.
        try:
            same = os.stat(name).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        _check_owned(name, "file")
    except StoreFileError:
        os.close(fd)
        raise
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as err:  # the lock file was left behind, and the message named no file
        _unlock(path, fd)
        if _full(path, err):
            raise _disk_full(path) from None
        raise StoreFileError(f"cannot write the lock file {name}: {err.strerror}; "
                             + FIX) from None
    return fd


def _lock_file(path: str) -> int:
    """Lock the database file itself (``flock``, which SQLite's own locks never meet).

    The lock file is found by the database's name; under another name of the same file
    (a hard link) a second server took its own lock file, and both wrote the database,
    each through a write-ahead log of its own: that breaks the file. So did a second
    server after the first one's lock file was deleted (a host tidying up the folder).
    """
    try:  # created here if missing, as ``_create_private`` would (readable by its owner)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as err:
        raise StoreFileError(f"cannot open the store file {path}: {err.strerror}; "
                             f"{FIX}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        links = os.fstat(fd).st_nlink
        os.close(fd)
        if err.errno not in BUSY:
            raise StoreFileError(f"cannot lock {path}: {err.strerror}; " + FIX) from None
        if links > 1:
            raise StoreFileError(
                f"the store file {path} is in use by another running server, under another "
                f"name of the same file (a hard link): stop that server, or {FIX}") from None
        # (One name: the lock file of the server that holds it was deleted, a host tidying
        # up the folder; this start made a new one, which it removes.)
        raise StoreFileError(
            f"the store file {path} is in use by another running server, whose lock file "
            f"{lock_path(path)} was deleted while it ran: stop that server, or {FIX}"
            ) from None
    return fd


def held(fd: int) -> bool:
    """Whether a running server holds the lock of the lock file open as ``fd``.

    A shared ``flock``, taken at once if nobody holds the lock and dropped again; a
    server starting just then waits that moment out (``LOCK_TRIES``)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as err:
        return err.errno in BUSY
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def read_pid(fd: int) -> int | None:
    """The process id a server wrote into its lock file (open as ``fd``), or None."""
    try:  # (its first line: a second may follow, ``_overwritten.MARK``)
        text = os.pread(fd, 32, 0).decode("ascii").split("\n", 1)[0].strip()
        return int(text) if text else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _damaged(path: str, problem: str) -> StoreFileError:
    return StoreFileError(
        f"the store file {path} is damaged ({problem}): move it aside (mv {path} "
        f"{path}.damaged) and start again with a new one, or {FIX}")


def _damaged_or_full(path: str, err: sqlite3.Error) -> StoreFileError:
    """A sound file on a full disk, or one the server may not grow, is not damaged:
    moving it aside, as that message says, would lose its saved sessions."""
    if _full(path, err):
        return _disk_full(path)
    if _cannot_write(err):
        return StoreFileError(
            f"the store file {path} cannot be written ({err}, {err.sqlite_errorname}): is "
            f"it over its owner's disk quota (quota -s), past the server's file-size limit "
            f"(ulimit -f), or is the disk failing? it is not damaged: fix that, then start "
            f"again; or {FIX}")
    return _damaged(path, str(err))


# What SQLite says when a write fails with neither ENOSPC nor a lock: over a disk quota
# (EDQUOT), past RLIMIT_FSIZE (EFBIG), a failing disk (EIO). All read "disk I/O error".
WRITE_ERRORS = frozenset({"SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_DIR_FSYNC",
                          "SQLITE_IOERR_TRUNCATE", "SQLITE_IOERR_SHMSIZE"})


def _cannot_write(err: sqlite3.Error) -> bool:
    return getattr(err, "sqlite_errorname", "") in WRITE_ERRORS


NO_SPACE = 2**20  # bytes free on the store's file system below which it counts as full


def _full(path: str, err: Exception) -> bool:
    """Did ``err`` (on the store file ``path``) come of a full disk?"""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if "disk is full" in str(err):
        return True
    try:  # SQLite says "disk I/O error" when it cannot grow its shared-memory file
        info = os.statvfs(os.path.dirname(path))
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < NO_SPACE


def _disk_full(path: str) -> StoreFileError:
    return StoreFileError(f"the disk of the store file {path} is full: free some space there "
                          f"(df -h {os.path.dirname(path)}), then start again; or {FIX}")


def _head(name: str) -> bytes:
    """The first bytes of the store file or side file ``name`` (none if it is missing)."""
    try:
        with open(name, "rb") as file:
            return file.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return b""
    except OSError as err:
        raise StoreFileError(f"cannot read the store file {name}: {err.strerror}; "
                             + FIX) from None


def _check_header(path: str) -> None:
    head = _head(path)
    if head[:4] in WAL_MAGIC:  # (moved aside, as ``_damaged`` says, it lost that log)
        raise StoreFileError(
            f"the store file {path} is SQLite's write-ahead log of another database (a "
            f"store file's -wal, beside it?), not a store file: leave it where it is; {FIX}")
    if head and head != SQLITE_MAGIC:
        raise _damaged(path, "it does not start like an SQLite file")


def _check_side_files(path: str) -> None:
    """Refuse a file whose ``-wal``, ``-shm`` or ``-journal`` name is another database's
    (two stores in one folder, one named after the other's side file: ``games`` and
    ``games-wal``). SQLite took that database for the file's log or index, wrote over
    it and deleted it: the other store was gone."""
    for suffix in SIDE_FILES:
        if _head(path + suffix) == SQLITE_MAGIC:
            raise _named_after(path, path + suffix)


def _named_after(path: str, name: str) -> StoreFileError:
    return StoreFileError(
        f"{name}, where SQLite keeps a part of the store file {path} (its log, its index, "
        f"its lock), is a database file itself (another store file, named so?): opened, "
        f"it would be written over; rename one of them, or {FIX}")


def _check_content(path: str, db: sqlite3.Connection) -> None:
    """Read every page once (a quick check, ~0.1 s per 100 MB): a damaged file stops here."""
    try:
        problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as err:
        raise _damaged_or_full(path, err) from None
    if problems != ["ok"]:
        raise _damaged(path, "; ".join(problems)[:200])


# Columns of tables only a store of ours has: any format's games, the first's sessions.
OUR_COLUMNS = {"games": {"game", "session", "players", "started"},
               "sessions": {"game", "token", "snapshot"}}


def _check_ours(path: str, db: sqlite3.Connection) -> None:
    """Refuse another program's SQLite file before anything is written to it: the schema
    was added to it, and a ``games`` table of its own was given four columns.

    A file is ours if it is empty or has our ``live_sessions`` table, or a ``games``
    or ``sessions`` table with our columns (the first format had no
    ``live_sessions``). Tables of ours added later (a side table) do not make a file
    another program's."""
    tables = {row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")}
    if not tables or "live_sessions" in tables:
        return
    for table in tables & OUR_COLUMNS.keys():
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if OUR_COLUMNS[table] <= columns:
            return
    raise StoreFileError(
        f"the store file {path} is not a gameserver store: it holds a table of another "
        f"program ({', '.join(sorted(tables)[:5])}); {FIX}")


def _check_version(path: str, db: sqlite3.Connection) -> None:
    """Refuse a file a newer version of gameserver wrote, before anything is written to it.

    Opened, it got this version's format number over the newer one's (so the newer
    server, started again, took it for an old file), and this version wrote rows whose
    meaning may have changed. Older formats are brought up to date (``_update_schema``).
    """
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreFileError(
            f"the store file {path} was written by a newer version of gameserver (store "
            f"format {version}; this version knows formats up to {SCHEMA_VERSION}): start "
            f"that version again, or {FIX}")


# Errors of a commit that a retry would meet again, whatever the disk does: a row the
# file refuses (a constraint: a key already there, a trigger another program added), a
# value SQLite cannot take (a str that is not UTF-8 text, an int beyond 64 bits: raised
# by binding, they would leave the transaction open and the commit's replies unanswered),
# a text or blob too large. Others (a full disk, a lock, I/O, a damaged page; and misuse
# of the connection, ``ProgrammingError``: a closed one would refuse every row, and end
# every session) fail every row alike, and pass.
REFUSED = (sqlite3.IntegrityError, sqlite3.DataError, ValueError, OverflowError)


class _Restored(Exception):
    """The file's schema version is not the one the server last wrote (``commit``)."""


# ``commit``'s answer when another program put a whole database into the file through
# SQLite while the server ran (``.restore``, the backup API, a VACUUM): each bumps the
# schema version, which nothing of the server's changes but its own schema statements.
RESTORED = "the store file was changed by another program"
SCHEMA_STATEMENTS = ("CREATE", "ALTER", "DROP")


def commit(db: sqlite3.Connection, ops: Ops, file: StoreFile | None = None) -> str | None:
    """Write ``ops`` in one transaction on ``db``; an error message (rolled back) or None.

    A commit that fails for a reason that stays (``REFUSED``) is written again at once,
    each owner's rows apart (``Ops.by_owner``; ``_commit_apart``), so that one session's
    rows cannot keep every later change out: None is returned, and ``ops.refused`` names
    the owners whose rows were left out, and why.

    With ``file`` (the store's), nothing is written into a database another program put
    in the file meanwhile: ``RESTORED`` is returned (rolled back) if, inside the
    transaction, its schema version is not ``file.schema``, which each commit of schema
    statements updates. (Inside it: a restore cannot land between the look and the rows.)
    """
    items = ops.items
    try:
        if file is None and len(items) == 1 and len(items[0][1]) == 1:  # SQLite's own
            db.execute(items[0][0], items[0][1][0])
        else:
            db.execute("BEGIN")
            _same_schema(db, file)
            for sql, many in items:
                if len(many) == 1:
                    db.execute(sql, many[0])
                else:
                    db.executemany(sql, many)
            _commit_noting_schema(db, file, ops)
        return None
    except _Restored:
        rolled_back(db)
        return RESTORED
    except REFUSED:
        rolled_back(db)
        return _commit_apart(db, ops, file)
    except sqlite3.Error as err:
        rolled_back(db)
        return _error(err)
    except Exception as err:  # not SQLite's: memory ran out binding a row, a bug of ours
        # Failed as a full disk fails (kept, retried), not raised: raised, it ended the
        # writer thread (or ``_flush`` on the loop), and every reply waiting for this
        # commit or a later one waited for ever. (``Store._failed`` logs it.)
        rolled_back(db)
        return _error(err)


def _same_schema(db: sqlite3.Connection, file: StoreFile | None) -> None:
    """Inside the transaction: raise ``_Restored`` if another program put a whole database
    into the file since the server last wrote (``StoreFile.rewritten``). Another program's
    schema statement (a trigger added) is noted: the rows are the server's still."""
    if file is not None and db.execute("PRAGMA schema_version").fetchone()[0] != file.schema:
        if file.rewritten():
            raise _Restored
        file.note_schema()


def _commit_noting_schema(db: sqlite3.Connection, file: StoreFile | None, ops: Ops) -> None:
    """COMMIT; the schema version the server's own schema statements in ``ops`` made is
    noted (``commit``)."""
    schema = None
    if file is not None and any(sql.startswith(SCHEMA_STATEMENTS) for sql, _ in ops.items):
        schema = db.execute("PRAGMA schema_version").fetchone()[0]
    db.execute("COMMIT")
    if schema is not None and file is not None:
        file.schema = schema  # (its log position stays: the frames since are the server's)


def _commit_apart(db: sqlite3.Connection, ops: Ops, file: StoreFile | None = None
                  ) -> str | None:
    """``ops`` again in one transaction, each owner's rows in a savepoint of their own:
    those the file refuses are rolled back (``ops.refused``), the others committed.

    Returns None, or the error of a failure that is not one owner's rows' (the disk
    failed meanwhile: nothing is written, and the whole is retried as usual).
    """
    refused: dict[Owner, str] = {}
    owners = ops.by_owner()
    try:
        while not _written_apart(db, owners, refused, file, ops):
            pass  # a refusal rolled back the whole transaction: again without that owner
    except _Restored:
        rolled_back(db)
        return RESTORED
    except Exception as err:  # the disk's, not a row's (nor SQLite's: see ``commit``)
        rolled_back(db)
        return _error(err)
    if refused:  # (none: they failed only together, yet wrote apart: all are written)
        ops.refused = refused
    return None


def _written_apart(db: sqlite3.Connection,
                   owners: list[tuple[Owner, list[tuple[str, tuple[Any, ...]]]]],
                   refused: dict[Owner, str], file: StoreFile | None, ops: Ops) -> bool:
    """One try of ``_commit_apart``: False if a refusal ended the whole transaction (a
    trigger's ``RAISE(ROLLBACK)``: no savepoint is left to roll back to), its owner
    added to ``refused``; each try leaves out one owner more, so the tries end."""
    db.execute("BEGIN")
    _same_schema(db, file)
    for owner, rows in owners:
        if owner in refused:
            continue
        db.execute("SAVEPOINT owner")
        try:
            for sql, params in rows:
                db.execute(sql, params)
        except REFUSED as err:
            refused[owner] = _error(err)
            if not db.in_transaction:
                return False
            db.execute("ROLLBACK TO owner")
        db.execute("RELEASE owner")
    _commit_noting_schema(db, file, ops)
    return True


def rolled_back(db: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        if db.in_transaction:
            db.execute("ROLLBACK")


def _error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"
