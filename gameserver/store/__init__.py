"""The durable store: sessions survive a restart, finished games are kept.

One SQLite file per server (``--store-path``), in three parts, each a module
of one job:

* ``writer.Store``: the server's writer. Every acknowledged change is
  committed before its reply, all changes of one event-loop pass in one
  commit (``writer``); per move it writes one row, the move and its
  verdict, and it pickles a game only now and then (``_rows``). Commits
  that would hold the loop up go to a thread (``_writer_thread``); closing
  writes or reports what the stopping loop left (``_closing``). At start-up
  it brings the saved sessions back: newest snapshot, then replay of the
  moves logged after it (``_restore``).
* ``reader.HistoryReader``: finished games for the ``history`` command and
  the dashboard, read-only, from any thread, while the server writes; a file
  whose ``-wal``, ``-shm`` or self was deleted meanwhile is said as that
  (``_taken``).
* ``replay.GameReplayer``: rebuilds what each player saw after each move of
  a recorded game, for the dashboard's replays.

``_file`` checks, locks and opens the file (one server per file; no file
another user can write; a damaged file stops the start with one line; a file
written over while the server runs, a backup put back, is never mixed with
the old file's log: ``_overwritten``, also while a checkpoint of the store's runs:
``_pages``; another program's checkpoint is refused; a database put in through
SQLite stops the saves: ``commit``), and
``_unpickle`` loads snapshots with an allow-list, so a crafted row cannot
run code. ``ServerRows`` owns rows of the server's own that others add to a
commit (``_sidetables``). docs/reliability.md states the guarantees and bounds.
"""

from ._file import StoreFileError
from ._rows import ServerRows
from ._taken import taken_away
from .reader import HistoryReader, StoreTakenAway
from .replay import GameReplayer
from .writer import Store

__all__ = ["GameReplayer", "HistoryReader", "ServerRows", "Store", "StoreFileError",
           "StoreTakenAway", "taken_away"]
