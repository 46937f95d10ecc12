"""What a worker prints, logged within bounds: real pipes, a real event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import tracemalloc

import pytest

from gameserver import _output
from gameserver._output import LINE_MAX, LINES_BURST, Output


def printed(data: bytes, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The messages logged for ``data`` written to a pipe, then the pipe's end."""
    caplog.set_level(logging.INFO, logger="gameserver.game")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        read, write = os.pipe()
        os.set_blocking(read, False)
        output = Output(loop, "g.py")
        output.watch(read)
        os.write(write, data)
        os.close(write)
        deadline = loop.time() + 30  # a bound that turns a hang into a failure
        while output._fd is not None:  # read to the pipe's end, on the loop
            assert loop.time() < deadline
            await asyncio.sleep(0.001)
        output.stop()
        os.close(read)

    asyncio.run(main())
    return [r.getMessage() for r in caplog.records if r.name == "gameserver.game"]


def test_lines_are_logged_with_their_file_and_the_last_one_without_its_newline(
        caplog: pytest.LogCaptureFixture) -> None:
    assert printed(b"one\r\ntwo\n\xffthree", caplog) == [
        "game file g.py: one", "game file g.py: two", "game file g.py: \ufffdthree"]


def test_a_long_line_is_cut(caplog: pytest.LogCaptureFixture) -> None:
    (message,) = printed(b"y" * (LINE_MAX + 10) + b"\n", caplog)
    assert message == "game file g.py: " + "y" * LINE_MAX + "... (10 more characters)"


def test_lines_beyond_the_burst_are_counted_not_logged(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_output, "LINES_PER_SECOND", 0)  # no refill: counts are exact
    messages = printed(b"z\n" * (LINES_BURST + 500), caplog)
    assert messages[:-1] == ["game file g.py: z"] * LINES_BURST
    assert messages[-1] == ("game file g.py: 500 more lines it printed were not logged "
                            "(more than 0 a second)")


def test_lines_past_the_budget_are_counted_without_a_step_each(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A game printing short lines: each 64 KB read was split into all its lines, and the
    loop took a Python step for each line past the budget too (3.7 ms of the event loop per
    read of newlines, about 100 such reads a second per game file: the tokens refill 100 a
    second). Now only the lines the budget has room for are split off; the rest are counted
    (bytes.count). Seen here as the memory the split takes (tracemalloc, deterministic):
    21,845 lines of 'xy' were 21,845 bytes objects and a list of them."""
    monkeypatch.setattr(_output, "LINES_PER_SECOND", 0)  # no refill: counts are exact
    monkeypatch.setattr(_output, "LINES_BURST", 10)
    caplog.set_level(logging.INFO, logger="gameserver.game")
    data = b"xy\n" * 21_845  # 65,535 bytes: one read
    loop = asyncio.new_event_loop()
    try:
        output = Output(loop, "g.py")
        tracemalloc.start()
        try:
            output.feed(data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        output._report()
    finally:
        loop.close()
    assert peak < 300_000  # bytes; 1,134,367 when every line was split off (131,553 now)
    messages = [r.getMessage() for r in caplog.records if r.name == "gameserver.game"]
    assert messages == ["game file g.py: xy"] * 10 + [
        "game file g.py: 21835 more lines it printed were not logged (more than 0 a second)"]
