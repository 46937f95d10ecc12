"""The store file: one server per file, no file others can write, damage stops the start.

Across the wire: real server processes on the same file, ``kill -9``, a
port already taken. Without sockets: ``open_store`` on folders and files
set up to be wrong (as root here, so other owners and a read-only mount can
be made; what needs a mount is skipped where mounting is not allowed).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import pwd
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gameserver.store._batch import JOIN_FAILED, SAVE_GONE
from gameserver.store._file import ENDED_INDEX, StoreFileError, commit, open_store
from gameserver.store._rows import DELETE_SESSION, SAVE_SESSION, Live, Ops
from gameserver.store.reader import HistoryReader
from tests.serverproc import ROOT, ServerProcess
from tests.wire import Player, until

NOBODY = 65534


def start_fails(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m gameserver ARGS`` that must exit without starting."""
    return subprocess.run([sys.executable, "-m", "gameserver", "--port", "0", "--no-web",
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single log line a failed start prints, without its time stamp."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.splitlines()
    return line.split(" ERROR   gameserver: ", 1)[1]


# ---------------------------------------------------------------- one server per file


def test_a_second_server_on_the_same_file_refuses_to_start(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite3"
    with ServerProcess("--store-path", str(db)) as first:
        player = Player(first.port, "Echo", "mine", 1)
        assert player.join()["status"] == "ok"
        files = sorted(tmp_path.iterdir())
        assert first.proc is not None
        line = one_line(start_fails("--store-path", str(db)))
        assert line == (f"the store file {db} is in use by another running server (pid "
                        f"{first.proc.pid}): stop that server, or pick another file with "
                        "--store-path, or run without saving with --no-store")
        # Through another path to the same file, too.
        link = tmp_path / "link.sqlite3"
        link.symlink_to(db)
        assert "is in use by another running server" in one_line(
            start_fails("--store-path", str(link)))
        link.unlink()
        assert sorted(tmp_path.iterdir()) == files
        assert player.move(msg="still mine")["status"] == "ok"  # the first saves as before


def test_the_lock_dies_with_a_killed_server(tmp_path: Path) -> None:
    db = str(tmp_path / "store.sqlite3")
    first = ServerProcess("--store-path", db).start()
    player = Player(first.port, "Echo", "e", 1)
    assert player.join()["status"] == "ok"
    assert player.move(msg="before")["status"] == "ok"
    assert first.proc is not None
    first.proc.kill()  # no chance to remove its lock file
    first.stop()
    assert Path(db + ".lock").exists()
    with ServerProcess("--store-path", db) as second:
        player.port = second.port
        assert player.state()["data"]["echo"] == "before"
        # The server handles SIGTERM once it has started its dashboard too.
        assert second.wait_for_log("dashboard on")
    assert not Path(db + ".lock").exists(), second.log  # a clean stop removes it


def test_a_failed_start_leaves_no_new_store_file(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "gameserver", "--port", str(port), "--no-web",
             "--store-path", str(tmp_path / "new.sqlite3")],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- folders


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "store.sqlite3"
    assert one_line(start_fails("--store-path", str(path))) == (
        f"the folder of the store file {path} does not exist: create it (mkdir -p "
        f"{path.parent}), or pick another file with --store-path, or run without saving "
        "with --no-store")
    assert list(tmp_path.iterdir()) == []


@contextlib.contextmanager
def mounted_read_only(folder: Path) -> Iterator[None]:
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_folder_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    with mounted_read_only(folder):
        path = folder / "store.sqlite3"
        assert one_line(start_fails("--store-path", str(path))) == (
            f"the store file {path} is on a read-only file system; pick another file with "
            "--store-path, or run without saving with --no-store")


@contextlib.contextmanager
def as_user(uid: int) -> Iterator[None]:
    """Run this thread's file checks as another user (the tests run as root)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)


@contextlib.contextmanager
def reachable(folder: Path) -> Iterator[None]:
    """Let other users pass through ``folder`` and the folders above it, for a while."""
    modes = {p: p.stat().st_mode & 0o7777 for p in (folder, *folder.parents)}
    for path, mode in modes.items():
        path.chmod(mode | 0o011)
    try:
        yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def test_a_folder_this_user_cannot_reach_or_write_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o755)  # root's; "nobody" may look, not write
    with as_user(NOBODY), pytest.raises(StoreFileError) as refused:
        open_store(str(folder / "store.sqlite3"))
    assert str(refused.value).startswith(
        f"the folder of the store file {folder}/store.sqlite3 cannot be reached by this user "
        f"(uid {NOBODY}): permission denied on a folder above it; pick another file")
    with reachable(tmp_path), as_user(NOBODY), pytest.raises(StoreFileError) as refused:
        open_store(str(folder / "store.sqlite3"))
    assert str(refused.value) == (
        f"the folder of the store file {folder}/store.sqlite3 is not writable by this user "
        f"(uid {NOBODY}): let it write there (chown/chmod {folder}), or pick another file "
        "with --store-path, or run without saving with --no-store")


# ---------------------------------------------------------------- other users


def test_a_file_others_may_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    open_store(str(path)).close()
    path.chmod(0o666)
    line = one_line(start_fails("--store-path", str(path)))
    assert line.startswith(f"the store file {path} is writable by other users (-rw-rw-rw-): "
                           "anyone who can change it can make the server run their code; "
                           f"chmod go-w {path}, or pick another file")


def test_a_folder_others_may_write_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o1777)  # like /tmp: others could plant the -wal file
    with pytest.raises(StoreFileError, match=r"the store folder .*/shared is writable by "
                                             r"other users \(drwxrwxrwt\)"):
        open_store(str(folder / "store.sqlite3"))
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("name", ["store.sqlite3", "store.sqlite3-wal", "store.sqlite3.lock"])
def test_a_file_of_another_user_is_refused(tmp_path: Path, name: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another user")
    planted = tmp_path / name
    planted.write_bytes(b"")
    planted.chmod(0o600)
    os.chown(planted, NOBODY, NOBODY)
    with pytest.raises(StoreFileError) as refused:
        open_store(str(tmp_path / "store.sqlite3"))
    assert str(refused.value).startswith(
        f"the store file {planted} belongs to another user (uid {NOBODY}, this server runs "
        "as uid 0): anyone who can change it can make the server run their code")
    # Who restores a backup as root gets this for the service's user: the fix, spelt out.
    assert f"if it is yours to use (a copy put back as root, say), give it to this server's "\
           f"user (chown root {planted}), or pick another file" in str(refused.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_backup_put_back_as_root_is_refused_saying_the_chown(tmp_path: Path) -> None:
    """The service runs as its own user; its operator copies a backup back as root (a
    new file: root's). The start is refused, and the line gives the command to fix it."""
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    os.chown(folder, NOBODY, NOBODY)
    path = folder / "gameserver.sqlite3"
    open_store(str(tmp_path / "backup.sqlite3")).close()
    shutil.copy(tmp_path / "backup.sqlite3", path)  # as root: root's file
    with reachable(tmp_path), as_user(NOBODY), pytest.raises(StoreFileError) as refused:
        open_store(str(path))
    name = pwd.getpwuid(NOBODY).pw_name
    assert f"give it to this server's user (chown {name} {path}), or pick" in str(
        refused.value)
    os.chown(path, NOBODY, NOBODY)  # as it says
    with reachable(tmp_path), as_user(NOBODY):
        open_store(str(path)).close()


def test_a_backup_readable_by_others_put_back_is_made_private_at_start(
        tmp_path: Path) -> None:
    """The attack of a local user: the host backs the store up as the docs said (SQLite's
    backup; the copy gets the umask's mode, -rw-r--r--) and puts it back. The server used
    it so, and SQLite made its -wal and -shm as readable: any user of the machine read
    the players' keys there and moved for them. Now the start makes them private."""
    path = saved_store(tmp_path)
    copy = tmp_path.parent / f"{tmp_path.name}-backup.sqlite3"
    umask = os.umask(0o022)
    try:
        with contextlib.closing(sqlite3.connect(path)) as live, \
                contextlib.closing(sqlite3.connect(copy)) as backup:
            live.backup(backup)
    finally:
        os.umask(umask)
    assert copy.stat().st_mode & 0o777 == 0o644
    for old in tmp_path.iterdir():  # as deploy/gameserver.service says, then mv
        old.unlink()
    copy.rename(path)
    with ServerProcess("--store-path", str(path)) as server:
        assert Player(server.port, "Echo", "after", 1).join()["status"] == "ok"  # -wal
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert [f.stat().st_mode & 0o777 for f in files] == [0o600] * 3
        assert (f"the store file {path} was readable by other users (-rw-r--r--): it holds "
                "the players' keys, so it is now readable by this server's user only"
                in server.log)
        with reachable(tmp_path), as_user(NOBODY):
            for name in files:
                with pytest.raises(PermissionError):
                    name.read_bytes()


# ---------------------------------------------------------------- damage


def saved_store(tmp_path: Path) -> Path:
    """A store file with a saved session and a few hundred KB of history."""
    path = tmp_path / "store.sqlite3"
    with ServerProcess("--store-path", str(path)) as server:
        chat = Player(server.port, "Chat", "room", 1)
        assert chat.join()["status"] == "ok"
        assert chat.move(name="ann")["status"] == "ok"
        for n in range(40):
            assert chat.move(message=f"{n} " + "x" * 10_000)["status"] == "ok"
    return path


def test_a_clobbered_header_stops_the_start_in_one_line(tmp_path: Path) -> None:
    path = saved_store(tmp_path)
    with path.open("r+b") as file:
        file.write(b"this is not what it was")
    assert one_line(start_fails("--store-path", str(path))) == (
        f"the store file {path} is damaged (it does not start like an SQLite file): move it "
        f"aside (mv {path} {path}.damaged) and start again with a new one, or pick another "
        "file with --store-path, or run without saving with --no-store")


def test_a_truncated_file_stops_the_start_in_one_line(tmp_path: Path) -> None:
    path = saved_store(tmp_path)
    size = path.stat().st_size
    assert size > 100_000
    os.truncate(path, size // 2)
    line = one_line(start_fails("--store-path", str(path)))
    assert line.startswith(f"the store file {path} is damaged (")
    assert f"move it aside (mv {path} {path}.damaged)" in line
    assert not Path(f"{path}.lock").exists()


@pytest.mark.parametrize("tables, named", [
    ("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)", "notes"),
    ("CREATE TABLE games (id INTEGER PRIMARY KEY, title TEXT, score INTEGER)", "games"),
])
def test_a_file_of_another_program_is_refused_and_left_as_it_was(
        tmp_path: Path, tables: str, named: str) -> None:
    """--store-path pointed at another program's SQLite file: the server added its
    tables to it and ran; with a table of its own named ``games`` there, it added four
    columns to that table, then stopped with a traceback."""
    path = tmp_path / "theirs.db"
    with contextlib.closing(sqlite3.connect(path)) as raw, raw:
        raw.execute(tables)
        raw.execute(f"INSERT INTO {named.split()[0]} VALUES (1, 'mine'"
                    + (", 3)" if named == "games" else ")"))
    path.chmod(0o600)
    before = path.read_bytes()
    assert one_line(start_fails("--store-path", str(path))) == (
        f"the store file {path} is not a gameserver store: it holds a table of another "
        f"program ({named}); pick another file with --store-path, or run without saving "
        "with --no-store")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.db"]


# ---------------------------------------------------------------- crafted rows


def test_a_file_of_a_newer_version_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """A server downgraded after a newer one wrote the file (a class server rolled
    back): it opened the file, wrote its own schema version over the newer one, and
    played on with a format it does not know; the newer server, started again,
    then took the file for an old one."""
    path = saved_store(tmp_path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 99")
    before = path.read_bytes()
    assert one_line(start_fails("--store-path", str(path))) == (
        f"the store file {path} was written by a newer version of gameserver (store "
        "format 99; this version knows formats up to 2): start that version again, or "
        "pick another file with --store-path, or run without saving with --no-store")
    assert path.read_bytes() == before
    assert not Path(f"{path}.lock").exists()


class RunsAShellCommand:
    """What an attacker writes into the file: unpickling it runs ``touch``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_snapshot_runs_no_code(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite3"
    with ServerProcess("--store-path", str(db)) as server:
        player = Player(server.port, "Echo", "e", 1)
        assert player.join()["status"] == "ok"
    marker = tmp_path / "PWNED"
    with contextlib.closing(sqlite3.connect(db)) as raw, raw:
        assert raw.execute("INSERT INTO game_snapshots (game_id, seq, accepted, blob) "
                           "SELECT id, 0, 0, ? FROM games WHERE current = 1",
                           (pickle.dumps(RunsAShellCommand(marker)),)).rowcount == 1
    with ServerProcess("--store-path", str(db)) as again:
        player.port = again.port
        assert player.state()["message"] == "framework: no such game session"
    assert not marker.exists()
    assert "session Echo/e cannot be restored" in again.log
    assert "Refused: posix.system" in again.log


def test_a_session_row_with_more_players_than_seats_is_not_restored(tmp_path: Path) -> None:
    """Only a damaged (or edited) file has one: the session is dropped, saying why, and the
    server serves the others. (It was restored with a player beyond its seats, whose
    per-view lists are sized by the seats.)"""
    db = tmp_path / "store.sqlite3"
    with ServerProcess("--store-path", str(db)) as server:
        damaged, kept = Player(server.port, "Echo", "e", 1), Player(server.port, "Echo", "k", 1)
        assert damaged.join()["status"] == "ok" and kept.join()["status"] == "ok"
    with contextlib.closing(sqlite3.connect(db)) as raw, raw:
        info = json.loads(raw.execute("SELECT info FROM live_sessions WHERE token = 'e'"
                                      ).fetchone()[0])
        info["players"] = info["players"] * 2
        raw.execute("UPDATE live_sessions SET info = ? WHERE token = 'e'", (json.dumps(info),))
    with ServerProcess("--store-path", str(db)) as again:
        damaged.port = kept.port = again.port
        assert damaged.state()["message"] == "framework: no such game session"
        assert kept.state()["status"] == "ok"
    assert ("session Echo/e cannot be restored (its row is damaged: 2 players for 1 seats)"
            in again.log)


def test_a_crafted_row_of_the_older_format_runs_no_code(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite3"
    marker = tmp_path / "PWNED"
    with contextlib.closing(sqlite3.connect(db)) as raw, raw:
        raw.execute("CREATE TABLE sessions (game TEXT NOT NULL, token TEXT NOT NULL, "
                    "snapshot BLOB NOT NULL, PRIMARY KEY (game, token))")
        raw.execute("INSERT INTO sessions VALUES ('Echo', 'e', ?)",
                    (pickle.dumps(RunsAShellCommand(marker)),))
    db.chmod(0o600)
    with ServerProcess("--store-path", str(db)) as server:
        assert Player(server.port, "Echo", "x", 1).join()["status"] == "ok"
    assert not marker.exists()
    assert "session Echo/e (first format) cannot be restored" in server.log


# ---------------------------------------------------------------- schema


LOCKED = ("is locked by another program (an sqlite3 shell with a transaction open?): let "
          "it finish, then start again; or pick another file with --store-path, or run "
          "without saving with --no-store")


def test_an_older_file_gets_the_partial_index_of_ended_games(tmp_path: Path) -> None:
    """Files made before 2026-11 index every game's end, NULL included: each game's end
    then wrote two index pages. Opening one makes the index partial; the history
    still lists the newest first, through the index."""
    path = tmp_path / "store.sqlite3"
    open_store(str(path)).close()
    with contextlib.closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("DROP INDEX games_ended")
        raw.execute("CREATE INDEX games_ended ON games (ended)")  # as older files have it
        for game_id, ended in ((1, 30.0), (2, 10.0), (3, None), (4, 20.0)):
            raw.execute("INSERT INTO games (id, game, session, players, started, ended, "
                        "initial_states) VALUES (?, 'Echo', 's', '[]', 0, ?, '[]')",
                        (game_id, ended))
    open_store(str(path)).close()
    with contextlib.closing(sqlite3.connect(path)) as raw:
        assert raw.execute("SELECT sql FROM sqlite_master WHERE name = 'games_ended'"
                           ).fetchall() == [(ENDED_INDEX,)]
        plan = raw.execute("EXPLAIN QUERY PLAN SELECT * FROM games WHERE ended IS NOT NULL "
                           "ORDER BY ended DESC, id DESC LIMIT 50").fetchall()
        assert "USING INDEX games_ended" in str(plan)
    assert [game["id"] for game in HistoryReader(str(path)).finished_games()] == [1, 4, 2]


def test_a_file_another_program_holds_locked_stops_a_conversion_in_one_line(
        tmp_path: Path) -> None:
    """An older file needs its index converted; an sqlite3 shell holds the write lock."""
    path = tmp_path / "store.sqlite3"
    open_store(str(path)).close()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("DROP INDEX games_ended")
        raw.execute("CREATE INDEX games_ended ON games (ended)")  # as older files have it
        raw.execute("BEGIN IMMEDIATE")
        assert one_line(start_fails("--store-path", str(path))) == f"the store file {path} {LOCKED}"
        raw.execute("ROLLBACK")
    open_store(str(path)).close()  # once it is free: converted
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as raw:
        assert raw.execute("SELECT sql FROM sqlite_master WHERE name = 'games_ended'"
                           ).fetchall() == [(ENDED_INDEX,)]
        raw.execute("BEGIN IMMEDIATE")
        open_store(str(path)).close()  # nothing to convert: opening writes nothing
        raw.execute("ROLLBACK")


def test_a_locked_file_with_a_game_in_progress_stops_the_start_in_one_line(
        tmp_path: Path) -> None:
    """Restoring snapshots a game with moves since its last snapshot: that needs the lock."""
    path = tmp_path / "store.sqlite3"
    with ServerProcess("--store-path", str(path)) as server:
        echo = Player(server.port, "Echo", "e", 1)
        assert echo.join()["status"] == "ok"
        assert echo.move(msg="hello")["status"] == "ok"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("BEGIN IMMEDIATE")
        assert one_line(start_fails("--store-path", str(path))) == f"the store file {path} {LOCKED}"
        raw.execute("ROLLBACK")
    with ServerProcess("--store-path", str(path)) as again:  # free again: nothing was lost
        echo.port = again.port
        assert echo.state()["data"]["echo"] == "hello"


def test_a_healthy_file_in_use_is_not_called_damaged(tmp_path: Path) -> None:
    """Another program switched it to a rollback journal and holds a transaction."""
    path = tmp_path / "store.sqlite3"
    open_store(str(path)).close()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("PRAGMA journal_mode=DELETE")
        raw.execute("BEGIN IMMEDIATE")
        assert one_line(start_fails("--store-path", str(path))) == f"the store file {path} {LOCKED}"
        raw.execute("ROLLBACK")


@pytest.mark.parametrize("bad", ["s\ud800", 2**70])  # not UTF-8 text; beyond 64 bits
def test_a_value_sqlite_cannot_take_leaves_its_owners_rows_out_and_no_transaction_open(
        tmp_path: Path, bad: object) -> None:
    """Such a value raised out of ``commit`` (only ``sqlite3.Error`` was caught): the
    transaction stayed open, the commit's replies were never answered (the writer thread
    died of it) and the next commit failed (``cannot start a transaction within a
    transaction``).

    Such a value fails again at every retry: its owner's rows are left out (all of
    them: they are written together or not at all), the other owners' written
    (tests/test_store_refused.py)."""
    path = str(tmp_path / "store.sqlite3")
    open_store(path).close()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        ops = Ops()
        ops.by(Live("Echo", "other"))
        ops.add(SAVE_SESSION, ("Echo", "other", "{}"))
        owner = Live("Echo", "bad")
        ops.by(owner)
        ops.add(SAVE_SESSION, ("Echo", "good", "{}"))
        ops.add(DELETE_SESSION, ("Echo", "gone"))
        ops.add(SAVE_SESSION, ("Echo", bad, "{}"))
        assert commit(db, ops) is None
        assert ops.refused is not None and list(ops.refused) == [owner]
        assert ops.refused[owner].startswith(("UnicodeEncodeError", "OverflowError"))
        assert not db.in_transaction
        # The owner's rows rolled back, the other's saved.
        assert db.execute("SELECT token FROM live_sessions").fetchall() == [("other",)]
        fine = Ops()
        fine.add(SAVE_SESSION, ("Echo", "good", "{}"))
        assert commit(db, fine) is None
        assert db.execute("SELECT token FROM live_sessions ORDER BY token").fetchall() == [
            ("good",), ("other",)]


def test_a_second_server_on_another_name_of_the_same_file_refuses_to_start(
        tmp_path: Path) -> None:
    """A hard link is another name of the same file: the second server took the lock file
    beside that name and started, and both wrote the database, each through a write-ahead
    log of its own."""
    (tmp_path / "a").mkdir(mode=0o700)
    (tmp_path / "b").mkdir(mode=0o700)
    db = tmp_path / "a" / "store.sqlite3"
    with ServerProcess("--store-path", str(db)) as first:
        player = Player(first.port, "Echo", "mine", 1)
        assert player.join()["status"] == "ok"
        other = tmp_path / "b" / "store.sqlite3"
        os.link(db, other)
        line = one_line(start_fails("--store-path", str(other)))
        assert line == (f"the store file {other} is in use by another running server, under "
                        "another name of the same file (a hard link): stop that server, or "
                        "pick another file with --store-path, or run without saving with "
                        "--no-store")
        assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["store.sqlite3"]
        assert player.move(msg="still mine")["status"] == "ok"


def test_a_second_server_after_the_first_ones_lock_file_was_deleted_refuses_to_start(
        tmp_path: Path) -> None:
    """A host tidying up the folder deletes ``store.sqlite3.lock`` while the server runs:
    a second server then took a new lock file, and only the lock on the file itself kept
    it out, with a message about a hard link there was not. It says what happened."""
    db = tmp_path / "store.sqlite3"
    with ServerProcess("--store-path", str(db)) as first:
        player = Player(first.port, "Echo", "mine", 1)
        assert player.join()["status"] == "ok"
        os.unlink(f"{db}.lock")
        files = sorted(tmp_path.iterdir())
        line = one_line(start_fails("--store-path", str(db)))
        assert line == (f"the store file {db} is in use by another running server, whose lock "
                        f"file {db}.lock was deleted while it ran: stop that server, or pick "
                        "another file with --store-path, or run without saving with "
                        "--no-store")
        assert sorted(tmp_path.iterdir()) == files  # (the lock file it made is gone too)
        assert player.move(msg="still mine")["status"] == "ok"


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal", ".lock"])
def test_a_store_named_after_another_stores_side_file_is_left_alone(
        tmp_path: Path, suffix: str) -> None:
    """Two servers in one folder, one store named after the other's side file (``games``
    and ``games-wal``): the second took the first's database for its own log, index or
    lock file, wrote over it and deleted it (its lock file: emptied it, once the first
    had stopped). Now the second refuses to start, and the first keeps its sessions."""
    db = tmp_path / "games"
    other = tmp_path / f"games{suffix}"
    first = ServerProcess("--store-path", str(other)).start()
    player = Player(first.port, "Echo", "mine", 1)
    assert player.join()["status"] == "ok"
    assert player.move(msg="kept")["status"] == "ok"
    line = (f"{other}, where SQLite keeps a part of the store file {db} (its log, its index, "
            f"its lock), is a database file itself (another store file, named so?): opened, "
            f"it would be written over; rename one of them, or pick another file with "
            f"--store-path, or run without saving with --no-store")
    if suffix != ".lock":  # (running, the first holds that file's lock: refused so already)
        assert one_line(start_fails("--store-path", str(db))) == line
    first.stop()
    assert one_line(start_fails("--store-path", str(db))) == line
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name]
    with ServerProcess("--store-path", str(other)) as again:
        player.port = again.port
        assert player.state()["data"]["echo"] == "kept"


def test_a_store_named_as_another_stores_log_is_not_called_damaged(tmp_path: Path) -> None:
    """``--store-path games-wal`` beside a running ``games``: the log was called a damaged
    store file, to be moved aside, which would lose what it holds."""
    db = tmp_path / "games"
    with ServerProcess("--store-path", str(db)) as server:
        player = Player(server.port, "Echo", "mine", 1)
        assert player.join()["status"] == "ok"
        line = one_line(start_fails("--store-path", f"{db}-wal"))
        assert line == (f"the store file {db}-wal is SQLite's write-ahead log of another "
                        f"database (a store file's -wal, beside it?), not a store file: leave "
                        f"it where it is; pick another file with --store-path, or run without "
                        f"saving with --no-store")
        assert player.move(msg="still mine")["status"] == "ok"


# ---------------------------------------------------------------- the file taken away


@pytest.mark.parametrize("taken", ["folder", "wal", "shm", "replaced"])
def test_a_store_file_taken_away_while_the_server_runs_fails_every_save(
        tmp_path: Path, taken: str) -> None:
    """The store's folder deleted (or replaced by a new one, or its ``-wal`` or ``-shm``
    deleted, as a host "freeing space" would) while the server ran: SQLite wrote on to
    the files it held open, which nobody could find again, and every save said it
    succeeded (``store closed: 6 changes saved``); after a restart the sessions were
    gone. Now the store looks every second: from then on every save fails, and one
    line of the log says why, what to do and what is lost.

    Until 2026-12-01 every reply said ``it is saved again with the next change``, and the
    log that the changes were kept in memory and written again every second: false until
    a restart, which the player was never told would undo the change."""
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    path = folder / "games.sqlite3"
    with ServerProcess("--store-path", str(path)) as server:
        player = Player(server.port, "Echo", "kept", 1)
        assert player.join()["status"] == "ok"
        assert player.move(msg="saved")["status"] == "ok"
        if taken in ("wal", "shm"):
            os.unlink(f"{path}-{taken}")
        else:
            for name in folder.iterdir():
                name.unlink()
            folder.rmdir()
            if taken == "replaced":
                folder.mkdir(mode=0o700)
                path.write_bytes(b"")
        acknowledged = ["saved"]

        def failing() -> bool:  # (a move saved in the second before the store looked is
            message = f"move {len(acknowledged)}"  # ... saved: after the restart too)
            if player.move(msg=message)["status"] == "ok":
                acknowledged.append(message)
                return False
            return True

        until(failing, "a save failing")
        gone = {"status": "error", "message": SAVE_GONE}
        assert player.move(msg="lost")["message"] == SAVE_GONE
        assert player.state() == gone  # it shows the unsaved move: it says so, not it
        # No join is started while nothing can be saved (its players would get keys to a
        # session a restart does not know).
        assert Player(server.port, "Echo", "new", 1).join()["message"] == JOIN_FAILED
        assert player.move(msg="lost")["message"] == SAVE_GONE
    if taken in ("wal", "shm"):
        name, what = f"{path}-{taken}", "deleted"
        line = (f"the store's side file {name} was {what} while the server ran (to free "
                f"space? SQLite needs it while the server runs): nothing can be saved any "
                f"more; restart the server to save again. What was saved until now stays in "
                f"{path}; the changes made from now until the restart are lost")
    else:
        what = "replaced by another file" if taken == "replaced" else "deleted"
        line = (f"the store file {path} was {what} while the server ran (its folder "
                f"removed?): nothing can be saved any more; restart the server to save "
                f"again. The sessions and history saved in it went with it, and the "
                f"changes made from now until the restart are lost too")
    assert server.log.count("ERROR   gameserver.store: ") == 1, server.log  # that one line
    assert f"ERROR   gameserver.store: {line}\n" in server.log
    if taken not in ("wal", "shm"):
        return
    # What the line says: what was saved before is there after the restart, and nothing
    # of the changes refused (nor the join) comes back.
    with ServerProcess("--store-path", str(path)) as again:
        player.port = again.port
        assert player.state()["data"]["echo"] == acknowledged[-1]
        assert Player(again.port, "Echo", "new", 1).join()["status"] == "ok"  # not there
        assert player.move(msg="saved again")["status"] == "ok"


# ---------------------------------------------------------------- a full disk at start


def test_a_full_disk_at_start_is_named_and_no_file_is_called_damaged(tmp_path: Path) -> None:
    """A full disk at start gave a traceback (``database or disk is full``), ``cannot
    start: [Errno 28]`` with the lock file left behind, or, for a store holding saved
    sessions, ``the store file is damaged: move it aside and start again with a new
    one``: following that advice lost every saved session of a sound file."""
    from tests.test_store_joins import fill, small_disk

    disk = tmp_path / "disk"
    with small_disk(disk, "256k"):
        path = disk / "store.sqlite3"
        with ServerProcess("--store-path", str(path)) as server:
            assert Player(server.port, "Echo", "kept", 1).join()["status"] == "ok"
        saved = path.read_bytes()
        fill(disk / "filler")
        full = (f"the disk of the store file {path} is full: free some space there (df -h "
                f"{disk}), then start again; or pick another file with --store-path, or run "
                "without saving with --no-store")
        assert one_line(start_fails("--store-path", str(path))) == full
        assert path.read_bytes() == saved
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "store.sqlite3"]
        new = disk / "new.sqlite3"
        assert one_line(start_fails("--store-path", str(new))) == full.replace(
            str(path), str(new))
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "store.sqlite3"]


@pytest.mark.parametrize("limit", [4096, 65536])
def test_a_file_the_server_may_not_grow_at_start_is_named_and_not_called_damaged(
        tmp_path: Path, limit: int) -> None:
    """Over a disk quota (a shared machine of a school) or past the process's file-size
    limit (``ulimit -f``, simulated here: RLIMIT_FSIZE), a write fails with EDQUOT or
    EFBIG, which SQLite reports as ``disk I/O error``, not as a full disk. A sound file
    with a game in progress (its start writes a snapshot) was then called damaged
    ("move it aside": that loses its sessions), or the start stopped with a
    traceback."""
    path = tmp_path / "store.sqlite3"
    server = ServerProcess("--store-path", str(path)).start()
    chat = Player(server.port, "Chat", "room", 1)
    assert chat.join()["status"] == "ok"
    assert chat.move(name="ann")["status"] == "ok"
    for n in range(40):
        assert chat.move(message=f"{n} " + "x" * 10_000)["status"] == "ok"
    for n in range(5):  # moves since the last snapshot: the start writes one
        assert chat.move(message=str(n))["status"] == "ok"
    seen = chat.state()["data"]
    assert server.proc is not None
    server.proc.kill()
    server.stop()

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    result = subprocess.run([sys.executable, "-m", "gameserver", "--port", "0", "--no-web",
                             "--store-path", str(path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, preexec_fn=small_files)
    line = one_line(result)
    assert line.startswith(f"the store file {path} cannot be written (disk I/O error, "), line
    assert "over its owner's disk quota" in line and "it is not damaged" in line
    with ServerProcess("--store-path", str(path)) as again:  # the limit gone: all is there
        chat.port = again.port
        assert chat.state()["data"] == seen
