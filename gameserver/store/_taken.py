"""What a reader says when the store's files were taken away from a running server.

A host "freeing space" deletes the store file's ``-wal`` (or ``-shm``, or the file)
while the server runs. The server notices within a second and logs what it means
(``StoreFile.moved``), but a reader opened after that, the dashboard's in a new
thread or ``gameserver history`` in another process, met only SQLite's words:
``disk I/O error`` (the new, empty ``-wal`` it made under the old name holds none of
the frames the file's index counts), and ``history`` then asked whether the file was
a store file of this server at all. Worse, a reader that finds a side file missing
makes a new one: the server's look then read "replaced by another file", and readers
of another process used an index of their own that the server never updates.

A backup put back over the file while the server runs (``_overwritten``) is said so
too, before each read: read, its pages would mix with the old file's log.

So before it opens a connection, and once a read failed, a reader asks ``taken_away``:
if a server runs with the file (it holds its lock file's lock) and the file or a
side file is missing (or the ``-wal`` is empty, after a read failed: one a reader made),
it gets one line in plain words instead: what happened, and that restarting the server
(a clean stop, not ``kill -9``) is what makes the history readable and saves again,
and what is lost.
"""

from __future__ import annotations

import contextlib
import os

from . import _overwritten
from ._file import held, lock_path, read_pid

WAL_HEADER = 32  # bytes: a log shorter than its header holds no frame


def server_pid(path: str) -> int | None:
    """The process id of the server running with the store file ``path`` (0 if it wrote
    none yet), or None: no server runs with it.

    A running server holds the ``flock`` of its lock file, which the kernel drops as the
    process ends, ``kill -9`` included (``_file.held``). The pid written in the file is
    only read for the message: after a ``kill -9`` the lock file stays, and its pid may
    be another process's by then (pids are reused); it was trusted alone until
    2026-12-01, and a reader then said the file was taken away from a server long dead.
    """
    try:
        fd = os.open(lock_path(path), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not held(fd):
            return None
        return read_pid(fd) or 0  # (the server's own reading of it)
    finally:
        os.close(fd)


def taken_away(path: str, failed: bool = False) -> str | None:
    """Why the store file ``path`` cannot be read while its server runs, or None.

    Args:
        path: the store file (by any name: the server's lock is by its real path).
        failed: a read failed already; a ``-wal`` shorter than its header then counts
            as deleted too (a reader made it anew; a running server's log that is
            still empty fails no read).
    """
    path = os.path.realpath(path)
    pid = server_pid(path)
    if pid is None:
        return None
    server = f"the server (pid {pid}) was running with it" if pid else (
        "the server was running with it")
    if _overwritten.marked(lock_path(path)):
        return (f"the store file {path} was written over, or replaced, while {server} (a "
                f"backup put back?): that server saves nothing more to it, and the history "
                f"cannot be read until it is restarted (its log of the old file was moved "
                f"aside, so that it is never read into the new one). Restart the server to "
                f"use the file as it is now (its log says so too)")
    if not os.path.lexists(path):
        return (f"the store file {path} was deleted while {server}: the sessions and "
                f"history saved in it went with it, and that server saves nothing until it "
                f"is restarted (it then starts a new, empty file); its log says so too")
    for suffix in ("-wal", "-shm"):
        name = path + suffix
        size = None
        with contextlib.suppress(OSError):
            size = os.stat(name).st_size
        if size is None or (failed and suffix == "-wal" and size < WAL_HEADER):
            return (f"the store's side file {name} was deleted while {server} (to free "
                    f"space? SQLite needs it while the server runs): the history cannot be "
                    f"read, and nothing is saved, until that server is restarted. Restart it "
                    f"with a clean stop (not kill -9): what it saved until the deletion is "
                    f"then in {path}, the changes made after it are lost (its log says so "
                    f"too)")
    return None
