"""A browser's state held for its save, the browser gone before the save fails.

A state reply that shows a change waits for the store's commit
(``Session._saved``), and the view counts as having seen it at once; if the
save fails, the reply turns into an error and the mark is taken back, so that
the view's next ``state`` is not kept waiting for a change it never got. The
browser's carrier cancels the reply's ``Wait`` when its stream goes (a reload
replaces it). The save is made to fail the way tests/test_store.py does it:
another connection holds the SQLite file's write lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gameserver.store import writer
from gameserver.store.writer import SAVE_FAILED
from tests import wire
from tests.serverproc import ServerThread
from tests.web import play
from tests.web.seats import Stream, WebSeat, close_all


@pytest.fixture(autouse=True)
def _close_streams() -> Iterator[None]:
    yield
    close_all()


def ticket(server: ServerThread, key: tuple[str, str]) -> Any:
    """The session's ticket its replies wait for now (the latest retry of a failed one)."""
    assert server.server is not None
    session = server.call(lambda: server.server.lobby.sessions[key])
    def latest() -> Any:
        held = session._unsaved
        while held is not None and held.again is not None:
            held = held.again
        return held
    return server.call(latest)


class Held:
    """A server with a store whose write lock another connection holds; Echo session
    "held" with the browser seat ``ann``, whose move's save failed, so that the change
    stands unsaved: the state of ``first``, ann's stream, waits for the commit that
    writes it again (``retry``), the view marked as having seen it meanwhile. Session
    "other" (a game client) makes the next commits."""

    def __init__(self, db: Path) -> None:
        self.server = play.web_server(store=True, store_path=str(db))
        self.port = play.dashboard_port(self.server)
        self.ann = WebSeat(self.port, "Echo").join(session="held", players=1, name="ann")
        self.other = wire.Player(self.server.port, "Echo", session="other", players=1)
        assert self.other.join()["status"] == "ok"
        self.blocker: sqlite3.Connection | None = sqlite3.connect(db, isolation_level=None,
                                                                  timeout=5)
        self.blocker.execute("BEGIN IMMEDIATE")  # every commit fails (after 20 ms)
        assert self.ann.move(msg="kept") == {"status": "error", "message": SAVE_FAILED}
        self.first = self.stream()
        self.retry = wire.until(lambda: (t := ticket(self.server, ("Echo", "held")))
                                is not None and t.waiters and t,
                                "the state to wait for the retry")

    def stream(self) -> Stream:
        return Stream(self.port, "/api/play/state", self.ann.ids)

    def retry_fails(self) -> None:
        """The next commit (another session's move) writes the change again, and fails."""
        assert self.other.move(msg="fails") == {"status": "error", "message": SAVE_FAILED}
        assert self.server.call(lambda: (self.retry.done, self.retry.error)) == (
            True, SAVE_FAILED)

    def saved(self) -> None:
        """The lock is let go, and the next commit saves the change."""
        self.unlock()
        assert self.other.move(msg="saved")["status"] == "ok"

    def unlock(self) -> None:
        if self.blocker is not None:
            self.blocker.execute("ROLLBACK")
            self.blocker.close()
            self.blocker = None

    def close(self) -> None:
        self.unlock()
        self.server.stop()


@pytest.fixture
def held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Held]:
    monkeypatch.setattr(writer, "RETRY_INTERVAL", 3600)  # retried with the next commit only
    scene = Held(tmp_path / "store.sqlite3")
    yield scene
    scene.close()


def shows_the_change(stream: Stream) -> None:
    assert stream.next()[0] == "session"
    name, reply = stream.next()
    assert (name, reply["status"], reply["data"]["echo"]) == ("state", "ok", "kept")


@pytest.mark.parametrize("save", ["lands", "fails"])
def test_a_reload_while_the_seats_state_waits_for_its_save_gets_that_state(
        held: Held, save: str) -> None:
    """A stream replaced (a reload, another tab) while its state waited for the commit
    cancelled that state, which the view already counted as seen: the new stream, its
    seat's last state never shown, waited for the next change (for ever in a game
    waiting for this player), whether the save then landed or failed. Now the cancelled
    state gives back what the view counted as seen, and the new stream's own request
    gets it: shown once saved; if the save fails, the error (the page reconnects), and
    the next stream shows it once saved."""
    first = held.server.call(lambda: list(held.retry.waiters))  # the first stream's state
    reload = held.stream()  # the first one goes
    assert held.first.next() == ("replaced", {})
    # The new stream's state waits for the retry only once the first's is cancelled (a
    # few turns of the loop later); a retry made before that would leave it waiting for
    # the retry after, which nothing here makes.
    wire.until(lambda: held.server.call(
        lambda: any(w not in first and not w.cancelled for w in held.retry.waiters)),
        "the new stream's state to wait for the retry")
    if save == "fails":
        held.retry_fails()
        assert reload.next() == ("refused", {"status": "error", "message": SAVE_FAILED})
        reload = held.stream()  # the page reconnects
    held.saved()
    shows_the_change(reload)


@pytest.mark.parametrize("save", ["lands", "fails"])
def test_a_browser_gone_while_its_state_waits_for_its_save_gets_it_when_back(
        held: Held, save: str) -> None:
    """The browser closes its stream (no reload) while its state waits for the commit:
    the carrier cancels the state's Wait. The view never got that state, whether the
    save then lands or fails, so its mark is taken back when the Wait is cancelled
    (until stop 41 only when a failed save's reply was resumed, which a cancelled one
    never is: the view's next state waited for a change it never got)."""
    held.first.close()  # the browser goes
    wire.until(lambda: held.server.call(lambda: all(w.cancelled for w in held.retry.waiters)),
               "the state's Wait to be cancelled")
    if save == "fails":
        held.retry_fails()
    held.saved()
    shows_the_change(held.stream())  # the browser comes back
