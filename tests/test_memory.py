"""The server's memory bound (``max_memory``), without a server."""

from __future__ import annotations

import os

from gameserver.memory import MB, memory_limit, resident_bytes, short_of_memory


def test_the_resident_memory_is_read_and_grows_with_what_the_process_holds() -> None:
    before = resident_bytes()
    assert before is not None and before > MB  # (Linux, where the tests run)
    held = bytearray(64 * MB)  # written: resident, not only reserved
    assert resident_bytes() >= before + 48 * MB
    del held


def test_the_limit_is_the_setting_or_half_the_machine() -> None:
    assert memory_limit(300) == 300 * MB
    machine = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert memory_limit(0) == machine // 2


def test_past_the_limit_the_reason_names_both_figures_and_the_setting() -> None:
    assert short_of_memory(0) is None  # no limit
    assert short_of_memory(1 << 50) is None
    why = short_of_memory(MB)
    assert why is not None and why.startswith("the server is short of memory (")
    assert "at most 1 MB: the max_memory setting); no new sessions until some end" in why
