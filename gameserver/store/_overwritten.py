"""A store file written over while its server runs: no mix of the two is ever written.

Hosts back the store up with sqlite3's ``.backup`` while the server runs, and put a
backup back while it is stopped (deploy/gameserver.service says how). Put back while it
ran (``cp backup.sqlite3 gameserver.sqlite3``: the same file, written over), the server's
write-ahead log (``-wal``) and its index (``-shm``) still described the old file, and
nothing noticed: each checkpoint copied the old file's newest pages into the copy,
readers read pages of both, and the next start replayed the old log into it. Each made
of the copy a file of neither (its rows, or its pages, of two files).

So the store notes the file's modification time and size after each write of its own
into it (checkpoints: commits go to the log, and nothing else of the server writes the
file itself) and looks before each checkpoint (``Store._may_copy``). Once another
wrote it:

* nothing more is saved (replies say ``SAVE_GONE``), no checkpoint runs, and the
  log is not copied in as the store closes;
* SQLite's own copy, as its last connection to the file closes, is held off
  (``hold_off_checkpoints``: Linux);
* the log and its index are moved aside (``-wal.overwritten``, ``-shm.overwritten``), so
  that neither readers nor the next start, after a crash too, take them for the copy's;
* the lock file says so (``MARK``, its second line), and readers say it (``_taken``).

The copy is then the store file: a restart uses it as it is. A store file replaced by
another under its name (``mv``, ``install``: a new file, ``StoreFile.moved``) has its
side files moved aside too: they are the old file's.

A checkpoint that another program runs (``sqlite3 games.db "PRAGMA wal_checkpoint"``)
writes the file too, and the look took it for a backup put back: the server stopped
saving for an innocent command. So no other program's checkpoint runs while the server
does (``CheckpointGuard``): the store holds SQLite's checkpoint lock in the ``-shm``
itself, and lets it go only around its own checkpoints, so that the file is written by
the server alone and any other write of it is another's. The other program's checkpoint
returns "busy" (``1|-1|-1``) and copies nothing; the server's own checkpoints copy the
log every second. A write that lands while the store's own checkpoint runs (the look came before,
the note after) is found by the pages the checkpoint wrote and those of earlier ones
(``_pages``).

Both locks are open file description (OFD) locks: Linux. Elsewhere (``OFD`` false) the
store says at its start what it cannot do (``NO_OFD``): another program's checkpoint is
then taken for a backup put back, and SQLite's copy as the server closes is not held
off after one (the line that says the file was written over says to stop the server
with ``kill -9``, which copies nothing).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct

MARK = b"overwritten\n"  # the lock file's second line, after the server's pid
ASIDE = ".overwritten"  # added to the names of the side files moved aside
# SQLite's locks on a database file (os_unix.c): a connection that closes takes the
# byte range of SHARED locks for writing, to know it is the last one, and only then
# copies the log into the file.
SHARED_FIRST = 0x40000000 + 2
SHARED_SIZE = 510
# SQLite's checkpoint lock, a byte of the -shm (sqlite.org/walformat.html: WAL_CKPT_LOCK,
# offset 121): every checkpoint takes it for writing, whatever its mode.
CHECKPOINT_LOCK = 121
# Whether this system has open file description locks (Linux; tests set it False).
OFD = getattr(fcntl, "F_OFD_SETLK", None) is not None and struct.calcsize("q") == 8
NO_OFD = ("this system has no open file description locks (F_OFD_SETLK, Linux only): the "
          "store cannot keep other programs from running a checkpoint on {path} while the "
          "server runs (one, as sqlite3 {path} \"PRAGMA wal_checkpoint\", is then taken for "
          "a backup put back, and the server stops saving until a restart), nor SQLite from "
          "copying its log into a backup put back over the file as the server stops; leave "
          "checkpoints to the server, and put backups back only while it is stopped")
_held: list[int] = []  # descriptors whose locks hold checkpoints off until the process ends


def _ofd_lock(fd: int, kind: int, start: int, size: int, wait: bool = False) -> bool:
    """An OFD lock (``kind``: F_RDLCK or F_UNLCK) on bytes ``start``..+``size`` of ``fd``;
    False if another holds a conflicting one (or the system has none)."""
    if not OFD:
        return False
    command = fcntl.F_OFD_SETLKW if wait else fcntl.F_OFD_SETLK  # type: ignore[attr-defined]
    try:
        fcntl.fcntl(fd, command, struct.pack("hhqqi4x", kind, os.SEEK_SET, start, size, 0))
    except OSError:
        return False
    return True


class CheckpointGuard:
    """Keeps every other program's checkpoint of the store file out while the server runs:
    a read lock on SQLite's checkpoint lock byte in the ``-shm`` (open as ``shm_fd``, a
    descriptor of the store's own), which a checkpoint must take for writing.

    An OFD lock conflicts with SQLite's locks of this process too: the store lets it go
    for its own checkpoints (``let_ours_run``) and takes it back after them
    (``refuse_again``: waits for a checkpoint of another program that began in between,
    so that what it wrote is done before the store notes the file as its own)."""

    def __init__(self, shm_fd: int) -> None:
        self.shm_fd = shm_fd
        self.held = False

    def refuse(self) -> bool:
        """Take the lock (at the start); False if the system has no OFD locks, or another
        program's checkpoint holds SQLite's lock now (then ``refuse_again`` waits)."""
        self.held = _ofd_lock(self.shm_fd, fcntl.F_RDLCK, CHECKPOINT_LOCK, 1)
        return self.held

    def let_ours_run(self) -> None:
        """Let go, just before a checkpoint of the store's own."""
        if self.held:
            self.held = not _ofd_lock(self.shm_fd, fcntl.F_UNLCK, CHECKPOINT_LOCK, 1)

    def refuse_again(self) -> None:
        """Take the lock back after the store's own checkpoint (waits for another program's
        that began in between: SQLite's busy wait bounds it)."""
        if OFD and not self.held:
            self.held = _ofd_lock(self.shm_fd, fcntl.F_RDLCK, CHECKPOINT_LOCK, 1, wait=True)


def hold_off_checkpoints(file_fd: int) -> bool:
    """Keep every connection of this process from copying the log into the file open as
    ``file_fd`` as it closes (SQLite does when it finds itself the last one): a read lock
    on the bytes it takes, on an open file description of its own (an OFD lock: POSIX
    locks of this process would not stand in SQLite's way), until the process ends.
    False where the system has no OFD locks."""
    if not OFD:
        return False
    try:
        fd = os.open(f"/proc/self/fd/{file_fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    if not _ofd_lock(fd, fcntl.F_RDLCK, SHARED_FIRST, SHARED_SIZE):
        os.close(fd)
        return False
    _held.append(fd)
    return True


def set_aside(path: str, ours: dict[str, tuple[int, int]]) -> None:
    """Move the store file's ``-wal`` and ``-shm`` aside, those still the ones the server
    opened (``ours``: (device, inode) by suffix): they are another file's now. (Side
    files that came with a new file, a folder of a stopped server's put in place of
    the running one's, are that file's: they stay.)"""
    for suffix, opened in ours.items():
        with contextlib.suppress(OSError):
            info = os.stat(path + suffix)
            if (info.st_dev, info.st_ino) == opened:
                os.replace(path + suffix, path + suffix + ASIDE)


def mark(lock_fd: int) -> None:
    """Say in the lock file (open as ``lock_fd``) that the file was written over."""
    with contextlib.suppress(OSError):
        head = os.pread(lock_fd, 64, 0)
        end = head.find(b"\n")
        if end < 0:  # (no pid line: a line of none before it)
            os.pwrite(lock_fd, b"\n" + MARK, len(head))
        else:
            os.pwrite(lock_fd, MARK, end + 1)


def marked(lock_file: str) -> bool:
    """Whether the lock file ``lock_file`` says its store file was written over."""
    try:
        fd = os.open(lock_file, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return os.pread(fd, 64, 0).split(b"\n")[1:2] == [MARK.strip()]
    except OSError:
        return False
    finally:
        os.close(fd)
