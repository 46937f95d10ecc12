"""examples/chat_gui.py: two real chat windows on a virtual screen.

Bob's window is the example program itself, typed into with xdotool as a
person would. Alice's window is the example's ``ChatWindow`` opened in this
process on the same screen, so the test can read its widgets; its event loop
runs while the test waits. A message bob types must appear in alice's
window while alice is in the middle of typing her own line, which stays as
she left it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from game_server_api import GameServerAPI
from tests.gui.screen import Screen, keep
from tests.test_examples import Example, free_port, load_example

TIMEOUT = 60.0


@pytest.fixture
def alice_root(screen: Screen) -> Iterator[Any]:
    import tkinter as tk

    root = tk.Tk(screenName=screen.display)
    root.geometry("+0+0")
    yield root
    root.destroy()


def run_until(root: Any, condition: Callable[[], bool], what: str) -> None:
    """Run alice's window (its timers, its drawing) until ``condition`` holds.

    ``root`` may be any widget of the window (update() runs the whole program).
    """
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"alice's window never showed {what}"
        root.update()
        time.sleep(0.01)  # the window's own timer asks the server ten times a second


def test_a_message_typed_in_one_window_appears_in_the_other(server, screen: Screen,
                                                            alice_root: Any,
                                                            tmp_path: Path) -> None:
    chat_gui = load_example("chat_gui.py")
    session = f"chat-{uuid.uuid4().hex[:8]}"
    bob = Example("chat_gui.py", "--port", str(server.port), "--session", session, "--name",
                  "bob", env=screen.env)
    alice = GameServerAPI(server.host, server.port, "Chat", session, 2, name="alice")
    try:
        bob.wait_for(r"^Waiting until all 2 people have joined chat")
        with ThreadPoolExecutor(1) as pool:  # join waits until bob is in too
            pool.submit(chat_gui.join_chat, alice, "alice").result(timeout=TIMEOUT)
        bob.wait_for(r"^The chat begins\.$")
        window = chat_gui.ChatWindow(alice_root, alice, "alice", session)
        bob_window = screen.window(rf"^Chat '{session}': bob$")
        screen.move(bob_window, 420, 0)

        # Alice types half a line (key events, as from a keyboard) ...
        press(window.entry, *("space" if key == " " else key for key in "still typ"))
        run_until(alice_root, lambda: window.entry.get() == "still typ", "alice's typing")
        # ... while bob sends a message from his window.
        screen.type(bob_window, "hello alice", then="Return")
        run_until(alice_root, lambda: "bob: hello alice\n" in messages(window),
                  "bob's message")
        assert window.entry.get() == "still typ"  # her line is untouched

        def second_line_in_bobs_window() -> int:  # dark pixels where a 2nd line would be
            picture = screen.capture(bob_window)
            return picture.count(2, 20, 300, 12, lambda rgb: sum(rgb) < 200)

        assert second_line_in_bobs_window() == 0
        press(window.entry, "i", "n", "g", "Return")
        run_until(alice_root, lambda: "alice: still typing\n" in messages(window),
                  "her own message")
        assert messages(window) == "bob: hello alice\nalice: still typing\n\n"
        assert window.entry.get() == ""

        # Bob's window shows her message as a second line of text.
        deadline = time.monotonic() + TIMEOUT
        while second_line_in_bobs_window() == 0:
            assert time.monotonic() < deadline, "bob's window never showed a second line"
            time.sleep(0.05)
        alice_root.update()
        keep(screen.capture().crop(*screen.corner(bob_window)), "chat-gui.png", tmp_path)
    finally:
        bob.stop()
        alice.close()


def press(entry: Any, *keys: str) -> None:
    """Key presses in an entry line, through tkinter's own event generation."""
    run_until(entry, lambda: bool(entry.winfo_viewable()), "its entry line")
    entry.focus_force()  # key events go to the widget with the focus
    entry.update()
    for key in keys:
        entry.event_generate("<KeyPress>", keysym=key, when="tail")


def messages(window: Any) -> str:
    return window.messages.get("1.0", "end")


def test_without_a_server_it_says_how_to_start_one(screen: Screen) -> None:
    program = Example("chat_gui.py", "--port", str(free_port()), "--name", "ann",
                      env=screen.env)
    try:
        assert program.proc.wait(TIMEOUT) == 1
    finally:
        program.stop()
    assert "Error: api: unable to connect to 127.0.0.1" in program.text, program.text
