"""``Soon``: the loop's ``call_soon``, or right after a worker's replies while held.

Plain calls on a real event loop: what runs when is shown by the order in
which callbacks append to one list.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from gameserver._soon import Soon


def in_one_callback(body: object) -> list[str]:
    """Run ``body(loop, soon, ran)`` in one callback of a fresh loop, then let the loop run
    two more passes; returns what ran, in order."""
    ran: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def callback() -> None:
            body(loop, Soon(loop), ran)  # type: ignore[operator]
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
