"""The store's files taken away while the server runs: what readers say, what is kept.

A host "freeing space" deletes the ``-wal``, the ``-shm`` or the store file itself while
the server runs (tests/test_store_file.py holds what the server then says and refuses).
Here: what the readers of the file say meanwhile (``gameserver history`` in another
process, the dashboard's reader in the server), the store's look right after a commit
that really failed (a full disk), that a clean stop copies into the file everything it
said was saved (a reader of another program open), and the stop's count of what was
saved. Real server processes, a real full disk (a small tmpfs, where this machine lets
the test mount one).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gameserver.store import _file, taken_away
from gameserver.store._batch import JOIN_FAILED, SAVE_GONE
from tests.serverproc import ROOT, ServerProcess, ServerThread
from tests.test_store_joins import fill, small_disk
from tests.wire import Player, until


def history(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gameserver", "history", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def finished_echo(port: int, session: str) -> Player:
    """A one-player Echo game played to its end (a finished game in the history)."""
    solo = Player(port, "Echo", session, 1)
    assert solo.join()["status"] == "ok"
    assert solo.move(msg="quit")["status"] == "ok"
    return solo


def side_file_line(name: str, path: Path, pid: int) -> str:
    return (f"cannot read: the store's side file {name} was deleted while the server (pid "
            f"{pid}) was running with it (to free space? SQLite needs it while the server "
            f"runs): the history cannot be read, and nothing is saved, until that server is "
            f"restarted. Restart it with a clean stop (not kill -9): what it saved until the "
            f"deletion is then in {path}, the changes made after it are lost (its log says "
            f"so too)\n")


@pytest.mark.parametrize("taken", ["wal", "shm", "file"])
def test_history_says_what_happened_to_files_deleted_while_the_server_runs(
        tmp_path: Path, taken: str) -> None:
    """``gameserver history`` while the ``-wal`` was deleted got SQLite's ``disk I/O
    error`` and then asked "is it a store file of this server?"; with the ``-shm``
    deleted it made a new one, an index the server never updates (and the server's
    look then read "replaced by another file"); with the file deleted it said "start
    the server first (it creates the file)", to a host whose server runs. Now each says
    what happened, what to do and what is lost, and makes no file."""
    path = tmp_path / "store.sqlite3"
    with ServerProcess("--store-path", str(path), "--no-web") as server:
        finished_echo(server.port, "before")
        assert history("--store-path", str(path)).returncode == 0
        name = str(path) if taken == "file" else f"{path}-{taken}"
        os.unlink(name)
        left = sorted(tmp_path.iterdir())
        result = history("--store-path", str(path))
        assert result.returncode == 1 and result.stdout == ""
        assert server.proc is not None
        pid = server.proc.pid
        if taken == "file":
            assert result.stderr == (
                f"cannot read: the store file {path} was deleted while the server (pid {pid}) "
                f"was running with it: the sessions and history saved in it went with it, and "
                f"that server saves nothing until it is restarted (it then starts a new, empty "
                f"file); its log says so too\n")
        else:
            assert result.stderr == side_file_line(name, path, pid)
        assert sorted(tmp_path.iterdir()) == left  # no file made in the deleted one's place
        until(lambda: "was deleted while the server ran" in server.log, "the server's look")
    assert "replaced by another file" not in server.log
    if taken == "file":
        return
    # What the line says: a clean restart reads again, with what was saved.
    listed = history("--store-path", str(path))
    assert listed.returncode == 0, listed.stderr
    assert "before" in listed.stdout


def test_ratings_says_what_happened_to_a_deleted_wal(tmp_path: Path) -> None:
    """``gameserver ratings`` reads the history too: it ended in a traceback."""
    path = tmp_path / "store.sqlite3"
    with ServerProcess("--store-path", str(path), "--no-web") as server:
        finished_echo(server.port, "before")
        os.unlink(f"{path}-wal")
        result = subprocess.run([sys.executable, "-m", "gameserver", "ratings", "--store-path",
                                 str(path)], cwd=ROOT, capture_output=True, text=True,
                                timeout=60)
        assert server.proc is not None
        assert result.returncode == 1
        assert result.stderr == "gameserver ratings: " + side_file_line(
            f"{path}-wal", path, server.proc.pid)


def test_history_made_a_new_wal_under_a_server_says_it_was_deleted(tmp_path: Path) -> None:
    """A reader of another program (an ``sqlite3`` shell, a ``history`` of before this
    check) made an empty ``-wal`` in the deleted one's place: every later read failed
    with ``disk I/O error`` (the file's index counts frames that only the deleted log
    holds). ``history`` says that the log was deleted; the server's look too (as it
    stops), not "replaced by another file".

    No checkpoint runs meanwhile (``unlooked``): one that copied the whole log into the
    file first left the reader nothing to miss, and it read the history (this test
    failed so in 2 runs of 2 on a loaded machine, 2026-12-01)."""
    path = tmp_path / "store.sqlite3"
    with ServerProcess("--store-path", str(path), "--no-web",
                       env=unlooked(tmp_path)) as server:
        finished_echo(server.port, "before")
        os.unlink(f"{path}-wal")
        Path(f"{path}-wal").touch(mode=0o600)  # what SQLite's reader made
        result = history("--store-path", str(path))
        assert server.proc is not None
        assert result.returncode == 1
        assert result.stderr == side_file_line(f"{path}-wal", path, server.proc.pid)
    assert f"side file {path}-wal was deleted while" in server.log
    assert "replaced by another file" not in server.log


def test_the_dashboards_history_says_what_happened_to_a_deleted_wal(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The dashboard's reader, in a thread that had not read before, got ``disk I/O
    error`` (logged at every request, its page "could not be read"). Its log line says
    what happened instead; the page still names no file (anyone may read it)."""
    path = tmp_path / "store.sqlite3"
    with ServerThread(store=True, store_path=str(path), web=True, web_port=0) as server:
        finished_echo(server.port, "before")
        os.unlink(f"{path}-wal")
        assert server.server is not None and server.server.dashboard is not None
        url = f"http://127.0.0.1:{server.server.dashboard.port}/api/history"
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(url, timeout=30)
        assert failed.value.code == 500
        body = failed.value.read().decode()
        assert str(tmp_path) not in body and "could not be read" in body
        failed.value.close()
    records = [r.getMessage() for r in caplog.records if r.name == "gameserver.web"]
    assert records == [f"dashboard: reading the history failed: "
                       f"{side_file_line(f'{path}-wal', path, os.getpid())[13:-1]}"]
    assert "disk I/O error" not in caplog.text


def unlooked(folder: Path) -> dict[str, str]:
    """The environment of a server whose checkpoint thread sleeps an hour between passes
    (``_checkpoint.INTERVAL``, set as Python starts, by a ``sitecustomize`` module in
    ``folder``): the store's look each second, made before each pass, does not come
    before the look a test holds (after a failed commit, as the store closes)."""
    site = folder / "unlooked"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "from gameserver.store import _checkpoint\n_checkpoint.INTERVAL = 3600.0\n")
    return {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}


def test_a_commit_that_fails_after_the_file_was_deleted_is_told_as_gone_at_once(
        tmp_path: Path) -> None:
    """The store looks whether its file is still there every second, and right after a
    commit that fails: a failure that comes of the file being taken away is then told
    as that (``SAVE_GONE``: nothing is saved until a restart), not as one a retry mends
    (``SAVE_FAILED``, "saved again with the next change"). A commit into a deleted file
    succeeds (the space stays taken until the server closes it); here the disk is full
    too, so the commit fails for real. The store's look each second is put off
    (``unlooked``): when it came first, this test passed without the look after a
    failed commit."""
    disk = tmp_path / "disk"
    with small_disk(disk, "1m"):
        path = disk / "store.sqlite3"
        with ServerProcess("--store-path", str(path), "--no-web",
                           env=unlooked(tmp_path)) as server:
            player = Player(server.port, "Echo", "kept", 1)
            assert player.join()["status"] == "ok"
            assert player.move(msg="saved")["status"] == "ok"
            fill(disk / "filler")
            os.unlink(path)  # (its pages stay taken: the server holds it open)
            # Larger than the log's free pages: the commit must grow the log, and cannot.
            reply = player.move(msg="x" * 200_000)
            assert reply == {"status": "error", "message": SAVE_GONE}, reply
            assert Player(server.port, "Echo", "new", 1).join()["message"] == JOIN_FAILED
    assert "saving to" not in server.log, server.log  # not "failed ... written again"
    assert server.log.count("ERROR   gameserver.store: ") == 1, server.log
    assert f"ERROR   gameserver.store: the store file {path} was deleted while" in server.log


def test_a_clean_stop_copies_in_what_was_saved_though_the_wal_is_gone(tmp_path: Path) -> None:
    """The ``-wal`` deleted while another program reads the file (an ``sqlite3`` shell
    left open, a backup tool): SQLite copies the log into the file as its last
    connection closes, but the reader kept the server's from being the last, so every
    change saved since the last checkpoint went with the deleted log (here: the moves
    of the moment before the store looked, and the server's stop). The store now
    copies the log in itself as it closes, whoever else reads.

    The store's look each second is put off (``unlooked``): falling between the deletion
    and the stop, its checkpoint copied the moves in already, and this test passed
    without the copy at the stop."""
    path = tmp_path / "store.sqlite3"
    server = ServerProcess("--store-path", str(path), "--no-web",
                           env=unlooked(tmp_path)).start()
    player = Player(server.port, "Echo", "kept", 1)
    assert player.join()["status"] == "ok"
    assert player.move(msg="first")["status"] == "ok"
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as reader:
        assert reader.execute("SELECT COUNT(*) FROM live_sessions").fetchone() == (1,)
        os.unlink(f"{path}-wal")
        for message in ("a", "b", "c"):
            assert player.move(msg=message)["status"] == "ok"
        assert server.stop() == 0
    assert "could not all be copied" not in server.log
    assert f"side file {path}-wal was deleted" in server.log  # (the look as it stopped)
    with ServerProcess("--store-path", str(path), "--no-web") as again:
        player.port = again.port
        state = player.state()
        assert state.get("data", {}).get("echo") == "c", state


def test_a_clean_stop_leaves_the_file_whole_beside_a_reader(tmp_path: Path) -> None:
    """A host stops the server and copies the store file (its backup) while another
    program still reads it: the log, which SQLite copies in only as the last connection
    closes, stayed beside the file, and the copy missed the changes in it."""
    path = tmp_path / "store.sqlite3"
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(ServerProcess("--store-path", str(path), "--no-web"))
        finished_echo(server.port, "first")
        reader = stack.enter_context(contextlib.closing(
            sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)))
        reader.execute("SELECT COUNT(*) FROM games").fetchone()
        finished_echo(server.port, "second")
        assert server.stop() == 0
        copy = tmp_path / "copy.sqlite3"
        copy.write_bytes(path.read_bytes())  # the file alone
    with contextlib.closing(sqlite3.connect(copy)) as db:
        assert [s for (s,) in db.execute("SELECT session FROM games ORDER BY id")] == [
            "first", "second"]


def store_closed(log: str) -> str:
    """The store's line as the server stopped, without its time stamp and level."""
    [line] = [line for line in log.splitlines() if "store closed:" in line]
    return line.split("gameserver.store: ", 1)[1]


def test_the_stop_says_how_many_changes_were_saved(tmp_path: Path) -> None:
    """``store closed: N changes saved`` counted the changes recorded, saved or not
    (with the ``-wal`` deleted, every change answered SAVE_GONE was counted saved)."""
    path = tmp_path / "store.sqlite3"
    with ServerProcess("--store-path", str(path), "--no-web") as server:
        player = Player(server.port, "Echo", "kept", 1)
        assert player.join()["status"] == "ok"
        for n in range(4):
            assert player.move(msg=str(n))["status"] == "ok"
    assert "INFO    gameserver.store: store closed: all 5 changes saved, in " in server.log

    with ServerProcess("--store-path", str(path), "--no-web") as server:
        player.port = server.port
        assert player.move(msg="saved")["status"] == "ok"
        os.unlink(f"{path}-wal")
        acknowledged, refused = ["saved"], 0

        def gone() -> bool:
            nonlocal refused
            message = f"move {len(acknowledged) + refused}"
            reply = player.move(msg=message)
            if reply["status"] == "ok":
                acknowledged.append(message)
                return False
            assert reply["message"] == SAVE_GONE
            refused += 1
            return True

        until(gone, "a save refused")
        assert player.move(msg="lost")["message"] == SAVE_GONE
        assert Player(server.port, "Echo", "new", 1).join()["message"] == JOIN_FAILED
    lost = refused + 2  # the moves answered SAVE_GONE, and the join
    recorded = len(acknowledged) + lost
    line = store_closed(server.log)
    assert line.startswith(f"store closed: {len(acknowledged)} of {recorded} changes saved, "
                           f"in "), line
    assert line.endswith(f" commits; {lost} not saved (see the errors above)"), line
    assert f"WARNING gameserver.store: {line}" in server.log
    with ServerProcess("--store-path", str(path), "--no-web") as server:  # what it said
        player.port = server.port
        assert player.state()["data"]["echo"] == acknowledged[-1]


def test_a_server_killed_is_not_taken_for_running_by_its_reused_pid(tmp_path: Path) -> None:
    """After ``kill -9`` the lock file stays with the dead server's pid, which the system
    may give another process. Readers took that process for the server: the store file,
    moved aside after the crash, was said "deleted while the server (pid N) was running
    with it". A server runs while it holds the lock file's lock, whatever pid it names."""
    path = tmp_path / "store.sqlite3"
    server = ServerProcess("--store-path", str(path), "--no-web").start()
    finished_echo(server.port, "before")
    assert server.proc is not None
    server.proc.send_signal(signal.SIGKILL)
    assert server.proc.wait(30) == -signal.SIGKILL
    server.stop()
    lock = Path(f"{path}.lock")
    assert lock.exists()  # left by the killed server
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]) as other:
        try:
            lock.write_text(f"{other.pid}\n")  # its pid, reused by another process
            path.rename(tmp_path / "aside.sqlite3")
            result = history("--store-path", str(path))
            assert result.returncode == 1
            assert result.stderr.startswith(f"no store file {path}: start the server first")
            assert taken_away(str(path)) is None
        finally:
            other.kill()
    # A running server is still found: by its lock, not by the pid it wrote.
    with ServerProcess("--store-path", str(tmp_path / "aside.sqlite3"), "--no-web") as server:
        aside = tmp_path / "aside.sqlite3"
        Path(f"{aside}.lock").write_text("")  # (emptied: it names no pid)
        os.unlink(f"{aside}-wal")
        assert taken_away(str(aside)) == (
            f"the store's side file {aside}-wal was deleted while the server was running "
            f"with it (to free space? SQLite needs it while the server runs): the history "
            f"cannot be read, and nothing is saved, until that server is restarted. "
            f"Restart it with a clean stop (not kill -9): what it saved until the deletion "
            f"is then in {aside}, the changes made after it are lost (its log says so too)")


def test_a_server_starting_while_a_reader_looks_for_one_waits_the_look_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader looks for a running server by taking the lock file's lock, shared, for a
    moment (``_file.held``): a server starting in that moment waits it out, and is not
    refused as if another server ran."""
    path = tmp_path / "store.sqlite3"
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)  # the reader's look, as the server starts
    waits: list[float] = []

    def look_ends(seconds: float) -> None:
        waits.append(seconds)
        fcntl.flock(fd, fcntl.LOCK_UN)

    monkeypatch.setattr(_file, "sleep", look_ends)
    try:
        _file.open_store(str(path), "NORMAL").close()
    finally:
        os.close(fd)
    assert waits == [0.01]


def backed_up(path: Path, to: Path) -> list[str]:
    """A backup of the store file, as sqlite3's ``.backup`` makes one; its rows."""
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as live, \
            contextlib.closing(sqlite3.connect(to)) as copy:
        live.backup(copy)
    return rows_of(to)


def rows_of(path: Path) -> list[str]:
    """Every row of a store file (checked whole first)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return list(db.iterdump())


def test_a_backup_copied_over_the_running_servers_file_is_left_as_it_was(
        tmp_path: Path) -> None:
    """A host put a backup back while the server ran (``cp backup store``: the same file,
    written over). The server's log of the old file then went into it: checkpoints
    copied the old file's newest pages into the copy, and so did the store's close (and
    a start after a crash). Now no checkpoint copies anything into a file written over,
    the log is moved aside, and the stop leaves the backup as it was. No checkpoint
    runs before the stop here (``unlooked``): the store's last look finds it."""
    path, backup = tmp_path / "store.sqlite3", tmp_path / "backup.sqlite3"
    with ServerProcess("--store-path", str(path), "--no-web",
                       env=unlooked(tmp_path)) as server:
        finished_echo(server.port, "before")
        kept = backed_up(path, backup)
        player = Player(server.port, "Echo", "after", 1)
        assert player.join()["status"] == "ok"
        for n in range(3):
            assert player.move(msg=f"after {n}")["status"] == "ok"
        shutil.copyfile(backup, path)  # written over in place, as cp does
    assert (f"ERROR   gameserver.store: the store file {path} was written over while the "
            f"server ran" in server.log), server.log
    assert "store closed: " in server.log and "the store file was written over" in server.log
    assert rows_of(path) == kept  # the backup, not a mix of it and the old file's log
    assert Path(f"{path}-wal.overwritten").exists()  # (the old file's log, moved aside)
    with ServerProcess("--store-path", str(path), "--no-web") as server:  # as it is now
        listed = history("--store-path", str(path))
        assert "before" in listed.stdout and "after" not in listed.stdout
        player.port = server.port
        assert player.state()["status"] == "error"  # the session of after the backup


def test_a_backup_copied_over_the_running_servers_file_is_said_so(tmp_path: Path) -> None:
    """Found within a second (before the next checkpoint): nothing more is saved (a join
    fails, a save is SAVE_GONE), and ``gameserver history`` says what happened instead
    of reading pages of both files."""
    path, backup = tmp_path / "store.sqlite3", tmp_path / "backup.sqlite3"
    with ServerProcess("--store-path", str(path), "--no-web") as server:
        started = path.stat().st_mtime_ns
        solo = Player(server.port, "Echo", "solo", 1)
        assert solo.join()["status"] == "ok"
        finished_echo(server.port, "before")
        # (A checkpoint copied them in: none runs while the file is written over.)
        until(lambda: path.stat().st_mtime_ns != started, "a checkpoint")
        backed_up(path, backup)
        shutil.copyfile(backup, path)
        until(lambda: "was written over while the server ran" in server.log,
              "the store's look")
        assert solo.move(msg="lost")["message"] == SAVE_GONE
        assert Player(server.port, "Echo", "new", 1).join()["message"] == JOIN_FAILED
        result = history("--store-path", str(path))
        assert server.proc is not None
        assert result.returncode == 1
        assert result.stderr == (
            f"cannot read: the store file {path} was written over, or replaced, while the "
            f"server (pid {server.proc.pid}) was running with it (a backup put back?): that "
            f"server saves nothing more to it, and the history cannot be read until it is "
            f"restarted (its log of the old file was moved aside, so that it is never read "
            f"into the new one). Restart the server to use the file as it is now (its log "
            f"says so too)\n")
    assert server.log.count("ERROR   gameserver.store: ") == 1, server.log
    listed = history("--store-path", str(path))  # stopped: the file as it is
    assert listed.returncode == 0 and "before" in listed.stdout, listed.stderr


def test_a_backup_moved_in_place_of_the_running_servers_file_survives_a_crash(
        tmp_path: Path) -> None:
    """``mv backup store`` while the server runs: a new file under the name, beside the
    old file's ``-wal`` and ``-shm``. The server stops saving (as for a file deleted);
    but after a ``kill -9`` the next start took the old log for the new file's and
    replayed it into the backup. The old file's side files are moved aside as the store
    finds the file replaced, so the backup starts as it was."""
    path, backup = tmp_path / "store.sqlite3", tmp_path / "backup.sqlite3"
    server = ServerProcess("--store-path", str(path), "--no-web").start()
    try:
        finished_echo(server.port, "before")
        kept = backed_up(path, backup)
        player = Player(server.port, "Echo", "after", 1)
        assert player.join()["status"] == "ok"
        assert player.move(msg="after")["status"] == "ok"
        os.replace(backup, path)
        until(lambda: "was replaced by another file while the server ran" in server.log,
              "the store's look")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(30)
    finally:
        server.stop()
    assert rows_of(path) == kept  # (not the old log replayed into it)
    assert Path(f"{path}-wal.overwritten").exists()
