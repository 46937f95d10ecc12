"""The server's memory bound (``max_memory``), without a server."""

from __future__ import annotations

import os

from gameserver import memory
from gameserver.memory import FLOOR_MAX, MB, Backstop, memory_limit, resident_bytes


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
    backstop = Backstop()
    assert backstop.short(0, alone=False) is None  # no limit
    assert backstop.short(1 << 50, alone=False) is None
    why = backstop.short(MB, alone=False)
    assert why is not None and why.startswith("the server is short of memory (")
    assert "at most 1 MB: the max_memory setting); no new sessions until some end" in why


def test_what_the_process_holds_with_no_session_is_not_charged_to_sessions() -> None:
    """With no session the process may hold past the limit (memory its allocators keep
    after big sessions ended): a session starts then, whatever it holds, and what it
    holds becomes the floor the next sessions are judged by, not the limit. Held past
    the floor, they are refused again; the floor counts up to FLOOR_MAX times the limit,
    and a process back within the limit with no session has none."""
    backstop = Backstop()
    assert backstop.short(MB, alone=True) is None  # (the process holds more than 1 MB)
    floor = backstop.floor
    assert floor == FLOOR_MAX * MB  # (counted up to twice the limit)
    if memory._trim is not None:  # (what malloc keeps is returned before the floor is read:
        memory._trim(0)  # a trim the ballast's check makes cannot take it under the floor)
    backstop.floor = held = (resident_bytes() or 0) + 16 * MB  # (room for what it allocates)
    assert backstop.short(MB, alone=False) is None  # within the floor
    ballast = bytearray(64 * MB)  # (resident: written)
    why = backstop.short(MB, alone=False)
    assert why is not None and f"at most {held // MB} MB: the max_memory setting" in why
    del ballast
    assert backstop.short(1 << 50, alone=True) is None
    assert backstop.floor == 0
