"""The pages the store's own checkpoints wrote: a write of another among them is found.

The store notes the file's modification time and size after each checkpoint of its
own, and looks before the next (``_overwritten``). A backup copied over the file while
a checkpoint of the store's ran (after the look, before the note) was noted as the
checkpoint's own write, and missed: the file, pages of the backup and pages of the
server's log, was used on.

So after each of its checkpoints the store compares pages of the file with what they
must hold (``Pages.after``):

* pages the checkpoint copied (up to ``SAMPLE``, page 1 first: its header changes
  with most commits) against their frames in the log;
* pages that earlier checkpoints copied, and page 1 as the store opened the file (up to
  ``KEPT``, by checksum), which this checkpoint did not write, against what they held.

A copy that landed after the checkpoint wrote differs from its frames; one that landed
before it (the checkpoint then wrote its pages over the copy's) differs in the pages
written earlier, which a backup holds older. A page found otherwise is another's write:
the caller says the file was written over.

Where a page's expected content is not known for sure, nothing is concluded and what
was kept is forgotten: a checkpoint that found another's running (busy), the log started
over by the writer while the pages were read (its salt changed). A false alarm would
stop every save; a miss leaves the mtime look of the next pass.

The log's format and the index's (``-shm``) are SQLite's documented ones
(sqlite.org/fileformat2.html#walformat, sqlite.org/walformat.html): the log's header
(32 bytes, its salt at 16), each frame's header (24 bytes: the page number, then the
salt at 8), and in the index the salt of the log it describes (at 32) and the page
number of each frame (after the 136 bytes of headers, 4,062 of them in the first
32 KB block, 4,096 in each later one; in this machine's byte order).
"""

from __future__ import annotations

import contextlib
import os
import sys
import zlib

SAMPLE = 64  # pages of a checkpoint compared with their frames
KEPT = 256  # checksums kept of pages the checkpoints wrote
WAL_HEADER = 32
FRAME_HEADER = 24
INDEX_PAGES = 20  # in the index's header: the database's size in pages, after the log
INDEX_SALT = 32  # ... and the salt of the log it describes (8 bytes)
INDEX_HEADERS = 136
FIRST_BLOCK_FRAMES = 4062
BLOCK = 32768
BLOCK_FRAMES = 4096


class Pages:
    """Checks the store file (open as ``file_fd``) after each checkpoint of the store's
    own; see the module docstring. Called one at a time (the checkpoints are)."""

    def __init__(self, path: str, file_fd: int, shm_fd: int, page_size: int) -> None:
        self.path = path
        self._file_fd = file_fd
        self._shm_fd = shm_fd
        self.page_size = self._size = page_size
        self._kept: dict[int, int] = {}  # page number: crc32 of what it holds
        self._salt = b""  # the log's, as the checkpoint began
        self._log = b""  # the salt of the log whose frames ``_done`` counts
        self._done = 0  # frames of that log compared (or not comparable)
        page = self._page(1)
        if page is not None:
            self._kept[1] = zlib.crc32(page)

    def before(self) -> None:
        """Just before a checkpoint of the store's own: which log it copies from."""
        self._salt = self._index_salt()

    def after(self, frames: int, copied: int) -> bool:
        """After it: False if a page of the file is not what a checkpoint of the store's
        put there (another program wrote the file). ``frames``, ``copied``: the frames of
        the log, and of them those copied into the file, as the checkpoint said (-1: it
        did not run)."""
        if copied < 0 or self._index_salt() != self._salt or not self._salt:
            self._forget()  # (another's checkpoint ran, or the log started over)
            return True
        if self._salt != self._log:
            self._log, self._done = self._salt, 0
        latest = self._written(self._done, frames)
        if latest is None:
            self._forget()
            return True
        # A checkpoint copies a page only if its newest frame is among those it copies (a
        # reader's snapshot holds the others back): the page waits for the next one.
        written = {number: frame for number, frame in latest.items() if frame <= copied}
        self._done = max(self._done, copied)
        pages = self._pages()  # (a checkpoint leaves out pages past the end: a shrink)
        sample = sorted(((number, frame) for number, frame in written.items()
                         if number <= pages), key=lambda item: (item[0] != 1, -item[1]))
        compared: dict[int, int] = {}
        try:
            log = os.open(self.path + "-wal", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._forget()
            return True
        try:
            for number, frame in sample[:SAMPLE]:
                page = self._frame(log, frame, number)
                if page is None:
                    self._forget()
                    return True
                if self._page(number) != page:
                    if self._index_salt() != self._salt:  # (read as the log started over)
                        self._forget()
                        return True
                    return False
                compared[number] = zlib.crc32(page)
        finally:
            os.close(log)  # (SQLite locks no byte of the log: this drops none of its locks)
        if self._index_salt() != self._salt:
            self._forget()
            return True
        for number in [*self._kept]:
            if number in latest:
                del self._kept[number]  # (written anew: compared above, or not known)
                continue
            page = self._page(number) if number <= pages else None
            if page is None:  # (past the end: a file made shorter; its last look says)
                del self._kept[number]
            elif zlib.crc32(page) != self._kept[number]:
                return False
        self._kept.update(compared)
        while len(self._kept) > KEPT:
            del self._kept[next(iter(self._kept))]
        return True

    def _forget(self) -> None:
        self._kept.clear()
        self._done = 0
        self._log = b""

    def _index_salt(self) -> bytes:
        try:
            return os.pread(self._shm_fd, 8, INDEX_SALT)
        except OSError:
            return b""

    def _pages(self) -> int:
        try:
            return int.from_bytes(os.pread(self._shm_fd, 4, INDEX_PAGES), sys.byteorder)
        except OSError:
            return 0

    def _written(self, start: int, end: int) -> dict[int, int] | None:
        """The pages that frames ``start`` + 1 .. ``end`` of the log hold, each with its
        last frame among them (from the index); None if it cannot be read."""
        written: dict[int, int] = {}
        frame = start + 1
        while frame <= end:
            if frame <= FIRST_BLOCK_FRAMES:
                offset, left = INDEX_HEADERS + (frame - 1) * 4, FIRST_BLOCK_FRAMES - frame + 1
            else:
                block, at = divmod(frame - FIRST_BLOCK_FRAMES - 1, BLOCK_FRAMES)
                offset, left = (block + 1) * BLOCK + at * 4, BLOCK_FRAMES - at
            count = min(left, end - frame + 1)
            try:
                numbers = os.pread(self._shm_fd, count * 4, offset)
            except OSError:
                return None
            if len(numbers) != count * 4:
                return None
            for number in memoryview(numbers).cast("I"):
                written[number] = frame
                frame += 1
        return written

    def _frame(self, log: int, frame: int, number: int) -> bytes | None:
        """The page that frame ``frame`` of the log (open as ``log``) holds, if it is page
        ``number`` of the log the checkpoint copied from (else it started over meanwhile)."""
        offset = WAL_HEADER + (frame - 1) * (FRAME_HEADER + self._size)
        try:
            data = os.pread(log, FRAME_HEADER + self._size, offset)
        except OSError:
            return None
        if (len(data) != FRAME_HEADER + self._size
                or int.from_bytes(data[:4], "big") != number or data[8:16] != self._salt):
            return None
        return data[FRAME_HEADER:]

    def _page(self, number: int) -> bytes | None:
        with contextlib.suppress(OSError):
            page = os.pread(self._file_fd, self._size, (number - 1) * self._size)
            if len(page) == self._size:
                return page
        return None



def log_position(shm_fd: int) -> tuple[bytes, int]:
    """Where the log ends now (its salt, and its frames), as its index (``shm_fd``) says."""
    try:
        header = os.pread(shm_fd, INDEX_SALT + 8, 0)
    except OSError:
        return b"", 0
    return header[INDEX_SALT:], int.from_bytes(header[16:20], sys.byteorder)


def rewrote_all(path: str, shm_fd: int, page_size: int, since: tuple[bytes, int]) -> bool:
    """Whether a transaction of the log after position ``since`` (``log_position``) wrote
    every page of the database: a whole database put in through SQLite (``.restore``, the
    backup API, a VACUUM), not another program's schema statement (a trigger, an index),
    which writes a few. (Each frame's header says its page; a transaction's last frame,
    the database's size in pages.) The server's own transactions never write them all."""
    salt, end = log_position(shm_fd)
    frame = since[1] + 1 if since[0] == salt else 1
    pages: set[int] = set()
    try:
        log = os.open(path + "-wal", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        while frame <= end:
            header = os.pread(log, FRAME_HEADER, WAL_HEADER
                              + (frame - 1) * (FRAME_HEADER + page_size))
            if len(header) < FRAME_HEADER or header[8:16] != salt:
                return False
            pages.add(int.from_bytes(header[:4], "big"))
            size = int.from_bytes(header[4:8], "big")
            if size:  # (the last frame of a transaction)
                if sum(1 for number in pages if number <= size) >= size:
                    return True
                pages.clear()
            frame += 1
    except OSError:
        return False
    finally:
        os.close(log)
    return False
