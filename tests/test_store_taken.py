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

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.serverproc import ROOT, ServerProcess, ServerThread
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


def test_history_made_a_new_wal_under_a_server_says_it_was_deleted(tmp_path: Path) -> None:
    """A reader of another program (an ``sqlite3`` shell, a ``history`` of before this
    check) made an empty ``-wal`` in the deleted one's place: every later read failed
    with ``disk I/O error`` (the file's index counts frames that only the deleted log
    holds). ``history`` says that the log was deleted; the server's look too, not
    "replaced by another file"."""
    path = tmp_path / "store.sqlite3"
    with ServerProcess("--store-path", str(path), "--no-web") as server:
        finished_echo(server.port, "before")
        os.unlink(f"{path}-wal")
        Path(f"{path}-wal").touch(mode=0o600)  # what SQLite's reader made
        result = history("--store-path", str(path))
        assert server.proc is not None
        assert result.returncode == 1
        assert result.stderr == side_file_line(f"{path}-wal", path, server.proc.pid)
        until(lambda: f"side file {path}-wal was deleted while" in server.log,
              "the server's look")
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
