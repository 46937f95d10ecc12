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
_held: list[int] = []  # descriptors whose locks hold checkpoints off until the process ends


def hold_off_checkpoints(file_fd: int) -> bool:
    """Keep every connection of this process from copying the log into the file open as
    ``file_fd`` as it closes (SQLite does when it finds itself the last one): a read lock
    on the bytes it takes, on an open file description of its own (an OFD lock: POSIX
    locks of this process would not stand in SQLite's way), until the process ends.
    False where the system has no OFD locks."""
    lock = getattr(fcntl, "F_OFD_SETLK", None)
    if lock is None or struct.calcsize("q") != 8:
        return False
    try:
        fd = os.open(f"/proc/self/fd/{file_fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.fcntl(fd, lock, struct.pack("hhqqi4x", fcntl.F_RDLCK, os.SEEK_SET,
                                          SHARED_FIRST, SHARED_SIZE, 0))
    except OSError:
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
