"""Play tic-tac-toe in a window: click a cell to place your mark.

Start the server (python3 -m gameserver), then run this twice:

    python3 examples/tictactoe_gui.py

The two windows are paired automatically (or meet in a named session with
--session). The terminal says when the program waits for an opponent; the
window opens once the game begins.

Why tkinter and not pygame: tkinter comes with Python (on Windows and macOS
with the installer from python.org; on Debian and Ubuntu it is the package
python3-tk), so there is nothing to install, and it calls your functions when
something happens (a click, a timer) instead of asking you to write the
loop that redraws the screen 60 times a second. pygame is the better choice
for games with movement; a board game needs a canvas, a click and a timer.

A window must never wait: while a program waits in ``api.state()``, its
window cannot redraw or react to clicks. So this program asks
``api.poll()`` ten times a second, from a tkinter timer (``after``): the
server sends each new state as it happens, and poll() returns one that has
arrived, else None, and never waits. No threads needed.
"""

import argparse
import os
import sys

try:
    import tkinter as tk
except ImportError:  # Debian and Ubuntu ship tkinter separately
    sys.exit('This program needs tkinter. On Debian or Ubuntu: sudo apt install python3-tk')

# Students keep game_server_api.py next to their script; here it is one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from game_server_api import GameServerAPI, GameServerError, IllegalMove  # noqa: E402

SYMBOLS = ('X', 'O')  # player 0 plays X, player 1 plays O
COLORS = ('#1f5fbf', '#c8322d')  # X blue, O red
CELL = 100  # pixels per cell
CHECK_EVERY = 100  # milliseconds between two looks for news from the server


class TicTacToeWindow:
    """The board in a window: draws the state, turns clicks into moves."""

    def __init__(self, root, api, my_id):
        self.root = root
        self.api = api
        self.me = my_id
        self.state = None
        root.title('Tic-tac-toe')
        self.canvas = tk.Canvas(root, width=3 * CELL, height=3 * CELL, background='white',
                                highlightthickness=0)
        self.canvas.pack()
        self.status = tk.Label(root, text='Starting ...', font=('Helvetica', 14), pady=6,
                               wraplength=3 * CELL)  # long messages wrap: the board stays put
        self.status.pack(fill='x')
        self.canvas.bind('<Button-1>', self.clicked)
        self.draw()
        self.check_for_news()

    def check_for_news(self):
        """Show the new state if the server has sent one; look again in a moment."""
        try:
            state = self.api.poll()
        except GameServerError as error:
            self.show_status(f'Error: {error}')
            self.root.after(10 * CHECK_EVERY, self.check_for_news)  # try again, calmly
            return
        # A rejected move counts as a change too, so the same board may come
        # again: then keep the message about the rejection on the screen.
        if state is not None and state != self.state:
            self.state = state
            self.draw()
            self.show_status(self.describe())
        self.root.after(CHECK_EVERY, self.check_for_news)

    def clicked(self, event):
        """A click on the board: place a mark on that cell, if it is our turn."""
        if self.state is None or self.state['gameover']:
            return
        if self.me not in self.state['current']:
            self.show_status("Wait, it is your opponent's turn.")
            return
        cell = 3 * (event.y // CELL) + event.x // CELL
        try:
            self.api.move(position=cell)  # the new board comes with the next poll()
        except IllegalMove as error:
            self.show_status(f'Not allowed: {error}')
        except GameServerError as error:
            self.show_status(f'Error: {error}')

    def describe(self):
        """One line about the game: whose turn it is, or how it ended."""
        me = SYMBOLS[self.me]
        if not self.state['gameover']:
            if self.me in self.state['current']:
                return f'You are {me}: your turn'
            return f"You are {me}: opponent's turn"
        winner = self.state['winner']
        if winner is None:
            return 'Draw!'
        return 'You win!' if winner == self.me else 'You lose!'

    def show_status(self, text):
        self.status.config(text=text)
        self.root.title(f'Tic-tac-toe: {text}')

    def draw(self):
        """Draw the grid and every mark: X as a blue cross, O as a red ring."""
        self.canvas.delete('all')
        for i in (1, 2):
            self.canvas.create_line(i * CELL, 0, i * CELL, 3 * CELL, width=3)
            self.canvas.create_line(0, i * CELL, 3 * CELL, i * CELL, width=3)
        board = self.state['board'] if self.state else [-1] * 9
        for cell, mark in enumerate(board):
            x, y = (cell % 3) * CELL, (cell // 3) * CELL
            pad = CELL // 5
            if mark == 0:
                self.canvas.create_line(x + pad, y + pad, x + CELL - pad, y + CELL - pad,
                                        width=8, fill=COLORS[0])
                self.canvas.create_line(x + CELL - pad, y + pad, x + pad, y + CELL - pad,
                                        width=8, fill=COLORS[0])
            elif mark == 1:
                self.canvas.create_oval(x + pad, y + pad, x + CELL - pad, y + CELL - pad,
                                        width=8, outline=COLORS[1])


def open_window():
    """The main window, or a clear message if there is no screen to show it on."""
    try:
        return tk.Tk()
    except tk.TclError as error:  # e.g. on a server without a screen
        sys.exit(f'Cannot open a window: {error}')


def main():
    parser = argparse.ArgumentParser(description='Play tic-tac-toe in a window.')
    parser.add_argument('--host', default='127.0.0.1', help='server address')
    parser.add_argument('--port', type=int, default=4711, help='server port')
    parser.add_argument('--session', default='auto', help="session name ('auto': any)")
    parser.add_argument('--name', default='', help='your name, so that others can watch you')
    args = parser.parse_args()

    root = open_window()
    root.withdraw()  # hidden until the game begins: a window must not wait in join()
    api = GameServerAPI(args.host, args.port, 'TicTacToe', session=args.session,
                        players=2, name=args.name)
    print('Waiting for an opponent ...', flush=True)
    my_id = api.join()
    print('The game begins: you are', SYMBOLS[my_id], flush=True)
    TicTacToeWindow(root, api, my_id)
    root.deiconify()
    root.mainloop()  # runs until the window is closed
    api.close()


if __name__ == '__main__':
    try:
        main()
    except GameServerError as error:
        sys.exit(f'Error: {error}')
    except KeyboardInterrupt:
        sys.exit('\nBye!')
