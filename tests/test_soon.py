"""``Soon``: the loop's ``call_soon``, or right after a worker's replies while held.

Plain calls on a real event loop: what runs when is shown by the order in
which callbacks append to one list.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from gameserver import protocol
from gameserver._soon import Soon
from gameserver.checked import GameType
from gameserver.games.echo import Echo
from gameserver.guard import GameGuard
from gameserver.session import Session
from gameserver.store import Store
from gameserver.store.writer import SAVE_FAILED
from gameserver.waits import Wait


def in_one_callback(body: object) -> list[str]:
    """Run ``body(loop, soon, ran)`` in one callback of a fresh loop, then let the loop run
    two more passes; returns what ran, in order."""
    ran: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def callback() -> None:
            try:
                body(loop, Soon(loop), ran)  # type: ignore[operator]
            except BaseException as err:  # a failing body fails the test (it hung until
                done.set_exception(err)   # pytest's timeout: nothing set ``done``)
                return
            loop.call_soon(lambda: loop.call_soon(done.set_result, None))  # two passes on

        loop.call_soon(callback)
        await done

    asyncio.run(main())
    return ran


def test_unheld_it_is_the_loops_call_soon() -> None:
    def body(loop: asyncio.AbstractEventLoop, soon: Soon, ran: list[str]) -> None:
        soon(lambda: ran.append("soon"))
        ran.append("callback ends")

    assert in_one_callback(body) == ["callback ends", "soon"]


def test_held_callbacks_run_at_the_release_in_order_before_the_next_pass() -> None:
    def body(loop: asyncio.AbstractEventLoop, soon: Soon, ran: list[str]) -> None:
        loop.call_soon(lambda: ran.append("next pass"))
        assert soon.hold()
        soon(lambda: ran.append("commit"))  # the first change schedules the commit ...
        soon(lambda: ran.append("resume"))  # ... then its requester's resume
        ran.append("replies handled")
        soon.release()
        ran.append("callback ends")

    assert in_one_callback(body) == ["replies handled", "commit", "resume", "callback ends",
                                     "next pass"]


def test_what_held_callbacks_schedule_goes_to_the_loop() -> None:
    def body(loop: asyncio.AbstractEventLoop, soon: Soon, ran: list[str]) -> None:
        loop.call_soon(lambda: ran.append("next pass"))

        def again() -> None:
            ran.append("held")
            soon(lambda: ran.append("scheduled by it"))

        soon.hold()
        soon(again)
        soon.release()

    assert in_one_callback(body) == ["held", "next pass", "scheduled by it"]


def test_a_nested_hold_leaves_the_release_to_the_outer_one() -> None:
    def body(loop: asyncio.AbstractEventLoop, soon: Soon, ran: list[str]) -> None:
        assert soon.hold()
        assert not soon.hold()
        soon(lambda: ran.append("held"))
        ran.append("inner done")
        soon.release()

    assert in_one_callback(body) == ["inner done", "held"]


def test_a_failing_callback_is_logged_and_the_others_still_run(
        caplog: pytest.LogCaptureFixture) -> None:
    def body(loop: asyncio.AbstractEventLoop, soon: Soon, ran: list[str]) -> None:
        soon.hold()
        soon(lambda: 1 / 0)
        soon(lambda: ran.append("after"))
        soon.release()

    with caplog.at_level(logging.ERROR):
        assert in_one_callback(body) == ["after"]
    assert "ZeroDivisionError" in caplog.text


def test_an_interrupt_leaves_the_others_to_the_loop() -> None:
    ran: list[str] = []
    loop = asyncio.new_event_loop()
    try:
        soon = Soon(loop)
        soon.hold()

        def interrupted() -> None:
            raise KeyboardInterrupt

        soon(interrupted)
        soon(lambda: ran.append("later"))
        with pytest.raises(KeyboardInterrupt):
            soon.release()
        assert ran == []
        loop.run_until_complete(asyncio.sleep(0))
        assert ran == ["later"]
    finally:
        loop.close()


# ---------------------------------------------------------------- with the store
# A change made while held stands for a worker's reply (``workers.Worker._readable``
# holds the server's ``Soon`` around them): the session's reply waits for its commit
# however early the kept callbacks run.


async def echo_store(path: Path, sessions: int) -> tuple[Store, GameGuard, Soon, list[Session]]:
    """A store whose commits are scheduled with a ``Soon``; ``sessions`` one-player Echo
    sessions, started and saved."""
    loop = asyncio.get_running_loop()
    guard, soon = GameGuard(), Soon(loop)
    store = Store(str(path), {"Echo": GameType("Echo", Echo, guard)})
    store.start(loop, soon)
    started = [Session(store.games["Echo"], f"s{i}", 1, recorder=store)
               for i in range(sessions)]
    joins = []
    for session in started:
        session.add_player("")
        joins.append(session.join_reply(session.players[0], 1000))
    for _ in range(2):  # the next pass commits them
        await asyncio.sleep(0)
    assert not any(isinstance(join, Wait) and not join.woken for join in joins)
    return store, guard, soon, started


def moved(session: Session, msg: str) -> Wait:
    outcome = session.move(0, session.players[0].key, {"msg": msg})
    assert isinstance(outcome, Wait) and outcome.saving
    return outcome


def test_a_held_change_that_joins_a_batch_opened_earlier_in_the_pass_waits_for_its_commit(
        tmp_path: Path) -> None:
    """An in-process game's change opened the pass's batch (its commit scheduled for the
    next pass); a worker's reply then changes another session, held: nothing is
    committed at the release, and that reply waits for the next pass like the other."""
    async def play() -> list[tuple[str, bool, int]]:
        store, guard, soon, (in_process, in_worker) = await echo_store(tmp_path / "s.db", 2)
        seen: list[tuple[str, bool, int]] = []
        before = store.commits
        first = moved(in_process, "first")
        assert soon.hold()
        second = moved(in_worker, "second")
        soon(lambda: seen.append(("kept", second.woken, store.commits - before)))
        soon.release()
        seen.append(("released", second.woken, store.commits - before))
        await asyncio.sleep(0)  # the next pass: the commit of both
        seen.append(("next pass", second.woken, store.commits - before))
        assert first.woken and first.resume() == second.resume() == protocol.ok(None)
        store.close()
        guard.close()
        return seen

    assert asyncio.run(play()) == [("kept", False, 0), ("released", False, 0),
                                   ("next pass", True, 1)]


def test_a_commit_kept_until_the_release_that_fails_answers_its_replies_with_the_error(
        tmp_path: Path) -> None:
    """A worker's reply opens the batch; its commit, run at the release, fails (another
    process holds the write lock): the kept callbacks after it see the reply answered
    with the error, and the session's next reply waits for the retry."""
    path = tmp_path / "s.db"

    async def play() -> tuple[bytes | None, bool]:
        store, guard, soon, (session,) = await echo_store(path, 1)
        seen: list[bytes | None] = []
        blocker = sqlite3.connect(path, isolation_level=None, timeout=5)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            assert soon.hold()
            move = moved(session, "held")
            soon(lambda: seen.append(move.resume() if move.woken else None))
            soon.release()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        later = session.state(0, session.players[0].key, False)
        store.close()
        guard.close()
        return seen[0], isinstance(later, Wait) and later.saving

    reply, later_waits = asyncio.run(play())
    assert reply == protocol.error(SAVE_FAILED)
    assert later_waits  # no reply shows the change before a commit holds it
