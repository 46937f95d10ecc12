"""What a worker prints, logged within bounds: real pipes, a real event loop."""

from __future__ import annotations

import asyncio
import logging
import os

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
