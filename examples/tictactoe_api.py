"""A tic-tac-toe class on top of GameServerAPI: no dictionaries, no player ids.

Instructors often give beginners a class like this one instead of
GameServerAPI itself. GameServerAPI speaks the language of the server
(``state['board']``, ``state['current']``, player ids, ``IllegalMove``);
``TicTacToeAPI`` speaks the language of the game (cells, X and O, whose turn
it is), so a first program needs nothing but calls and ``if``::

    from tictactoe_api import TicTacToeAPI

    game = TicTacToeAPI()            # the server on this computer
    game.join()                      # waits for an opponent
    while not game.over():
        if game.my_turn():
            game.place(game.free_cells()[0])
        else:
            game.wait()              # until the opponent has moved
    print(game.result())             # 'win', 'lose' or 'draw'

Write such a class for your own game the same way: one method per thing a
student wants to know or do, each a line or two on top of ``state()`` and
``move()``.

Run this file to watch two such programs play each other (start the server
first, then this in two terminals):

    python3 examples/tictactoe_api.py
"""

import argparse
import os
import sys

# Students keep game_server_api.py next to their script; here it is one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from game_server_api import GameServerAPI, GameServerError, IllegalMove  # noqa: E402

SYMBOLS = ('X', 'O')  # player 0 plays X, player 1 plays O
LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


class TicTacToeAPI:
    """One player's seat at a tic-tac-toe game on a game server.

    The cells are numbered 0 to 8::

        0 | 1 | 2
        3 | 4 | 5
        6 | 7 | 8

    Args:
        server: the server's address; the default is this computer.
        port: the server's port.
        session: a session name to meet a friend, or 'auto' for anybody.
        name: your name, so that others can watch you (optional).
    """

    def __init__(self, server='127.0.0.1', port=4711, session='auto', name=''):
        self._api = GameServerAPI(server, port, 'TicTacToe', session=session, players=2,
                                  name=name)
        self._me = None
        self._state = None

    def join(self):
        """Wait for an opponent; return your symbol, 'X' or 'O'."""
        self._me = self._api.join()
        self._state = self._api.state()
        return self.symbol()

    def symbol(self):
        """Your symbol: 'X' or 'O'."""
        return SYMBOLS[self._me]

    def board(self):
        """The board as a list of 9 strings: 'X', 'O' or ' ' (free)."""
        return [' ' if mark == -1 else SYMBOLS[mark] for mark in self._state['board']]

    def free_cells(self):
        """The numbers of the free cells, smallest first."""
        return [cell for cell, mark in enumerate(self.board()) if mark == ' ']

    def my_turn(self):
        """True if you may place your symbol now."""
        return self._me in self._state['current']

    def over(self):
        """True once the game has ended."""
        return self._state['gameover']

    def place(self, cell):
        """Put your symbol on a cell (0-8).

        Raises:
            ValueError: the cell is taken or does not exist, or it is not
                your turn; the message says which. Nothing has changed.
        """
        try:
            self._api.move(position=cell)
        except IllegalMove as error:
            raise ValueError(str(error).replace('game: ', '', 1)) from None
        except GameServerError as error:
            if 'not your turn' in str(error):
                raise ValueError('it is not your turn') from None
            raise
        self._state = self._api.state()  # returns at once: our move changed the board

    def wait(self):
        """Wait until the game changes (the opponent has moved, or the game ended)."""
        old = self._state
        while self._state == old:  # a rejected move counts as a change, but shows none
            self._state = self._api.state()

    def winner(self):
        """'X' or 'O' once somebody has three in a row, else None."""
        winner = self._state['winner']
        return None if winner is None else SYMBOLS[winner]

    def result(self):
        """'win', 'lose' or 'draw' once the game is over; None before."""
        if not self.over():
            return None
        if self.winner() is None:
            return 'draw'
        return 'win' if self.winner() == self.symbol() else 'lose'


# ---------------------------------------------------------------- a program that uses it


def choose(board, me):
    """Pick a cell: win if we can, else block the opponent, else the first free cell."""
    free = [cell for cell in range(9) if board[cell] == ' ']
    for who in (me, 'O' if me == 'X' else 'X'):  # first our lines, then theirs
        for cell in free:
            for line in LINES:
                others = [board[c] for c in line if c != cell]
                if cell in line and others == [who, who]:
                    return cell
    return free[0]


def show(board):
    print()
    for row in range(3):
        print(' ' + ' | '.join(board[3 * row:3 * row + 3]))
        if row < 2:
            print('---+---+---')


def main():
    parser = argparse.ArgumentParser(description='A tic-tac-toe program that plays by itself.')
    parser.add_argument('--host', default='127.0.0.1', help='server address')
    parser.add_argument('--port', type=int, default=4711, help='server port')
    parser.add_argument('--session', default='auto', help="session name ('auto': any)")
    args = parser.parse_args()

    game = TicTacToeAPI(args.host, args.port, args.session)
    print('Waiting for an opponent ...')
    print('I play', game.join())
    while not game.over():
        if game.my_turn():
            cell = choose(game.board(), game.symbol())
            print('I take cell', cell)
            game.place(cell)
        else:
            game.wait()
    show(game.board())
    print({'win': 'I win!', 'lose': 'I lose!', 'draw': 'Draw!'}[game.result()])


if __name__ == '__main__':
    try:
        main()
    except GameServerError as error:
        sys.exit(f'Error: {error}')
    except KeyboardInterrupt:
        sys.exit('\nBye!')
