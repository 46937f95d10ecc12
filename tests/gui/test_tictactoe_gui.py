"""examples/tictactoe_gui.py: a real window on a virtual screen, played by mouse clicks.

The test plays the opponent itself through game_server_api. Each click in
the window must arrive at the server as a move (the opponent's state shows
it); each move of the opponent must appear in the window (its title says
whose turn it is, and a screenshot shows the marks in their colours).
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from game_server_api import GameServerAPI
from tests.gui.screen import Picture, Screen, keep
from tests.test_examples import Example, free_port

CELL = 100  # pixels per cell, as in the example
TIMEOUT = 60.0


def center(cell: int) -> tuple[int, int]:
    return (cell % 3) * CELL + CELL // 2, (cell // 3) * CELL + CELL // 2


def blue(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return b > 150 and r < 100


def red(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return r > 150 and g < 100 and b < 100


def marks(picture: Picture) -> list[str]:
    """What the screenshot shows in each cell: 'X' (blue), 'O' (red) or ' '."""
    shown = []
    for cell in range(9):
        left, top = (cell % 3) * CELL + 10, (cell // 3) * CELL + 10
        has_blue = picture.count(left, top, CELL - 20, CELL - 20, blue) > 50
        has_red = picture.count(left, top, CELL - 20, CELL - 20, red) > 50
        assert not (has_blue and has_red), f"cell {cell} shows both marks"
        shown.append("X" if has_blue else "O" if has_red else " ")
    return shown


def test_clicks_become_moves_and_the_opponents_moves_appear(server, screen: Screen,
                                                            tmp_path: Path) -> None:
    session = f"gui-{uuid.uuid4().hex[:8]}"
    window_program = Example("tictactoe_gui.py", "--port", str(server.port), "--session",
                             session, "--name", "clicker", env=screen.env)
    opponent = GameServerAPI(server.host, server.port, "TicTacToe", session, 2)
    pool = ThreadPoolExecutor(1)  # the opponent's calls that wait, with a time limit

    def opponent_state() -> dict:
        return pool.submit(opponent.state).result(timeout=TIMEOUT)

    try:
        window_program.wait_for(r"^Waiting for an opponent")
        opponent_id = pool.submit(opponent.join).result(timeout=TIMEOUT)
        me = 1 - opponent_id
        symbol = "XO"[me]
        window_program.wait_for(rf"^The game begins: you are {symbol}$")
        window = screen.window(r"^Tic-tac-toe")
        window_turn = me in opponent_state()["current"]

        # The window takes the top row; the opponent 4, 3 and 8, and never wins.
        window_cells, opponent_cells = [0, 1, 2], [4, 3, 8]
        tried_waiting = tried_taken = False
        while window_cells:
            if window_turn:
                screen.wait_for_title(window, "your turn|Not allowed")
                if not tried_taken and 4 not in opponent_cells:
                    screen.click(window, *center(4))  # taken: the game's message is shown
                    screen.wait_for_title(window, "Not allowed: game: position 4 is already "
                                                  "taken")
                    tried_taken = True
                    # A rejected move is a change too (the contract): the opponent sees it.
                    assert opponent_state()["board"][4] == opponent_id
                cell = window_cells.pop(0)
                screen.click(window, *center(cell))
                final = opponent_state()  # returns once the click has changed the board
                assert final["board"][cell] == me, final
            else:
                screen.wait_for_title(window, f"^Tic-tac-toe: You are {symbol}: "
                                              "opponent's turn$")
                if not tried_waiting:
                    screen.click(window, *center(5))  # not our turn: the window says so
                    screen.wait_for_title(window, "Wait, it is your opponent's turn")
                    tried_waiting = True
                opponent.move(position=opponent_cells.pop(0))
                opponent_state()  # our own move's change
            window_turn = not window_turn

        screen.wait_for_title(window, "^Tic-tac-toe: You win!$")
        assert final["gameover"] and final["winner"] == me
        picture = screen.capture(window)
        keep(picture, "tictactoe-gui.png", tmp_path)
        assert marks(picture) == [" " if mark == -1 else "XO"[mark] for mark in final["board"]]
        assert marks(picture)[:3] == [symbol] * 3
    finally:
        window_program.stop()
        opponent.close()
        pool.shutdown(wait=False, cancel_futures=True)


def test_without_a_server_it_says_how_to_start_one(screen: Screen) -> None:
    program = Example("tictactoe_gui.py", "--port", str(free_port()), env=screen.env)
    try:
        assert program.proc.wait(TIMEOUT) == 1
    finally:
        program.stop()
    assert re.search(r"^Error: api: unable to connect to 127\.0\.0\.1:\d+: connection refused; "
                     r"is the server running\? Start it first: python3 -m gameserver",
                     program.text, re.MULTILINE), program.text
