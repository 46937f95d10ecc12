"""Play tic-tac-toe in the terminal against another terminal.

Start the server (python3 -m gameserver), then run this in two terminals:

    python3 examples/tictactoe_client.py

The two clients are paired automatically. To play in a session of your own
(and let others watch you with tictactoe_observer.py), give it a name:

    python3 examples/tictactoe_client.py --session table1 --name alice
    python3 examples/tictactoe_client.py --session table1 --name bob
"""

import argparse
import os
import sys

# Students keep game_server_api.py next to their script; here it is one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from game_server_api import GameServerAPI, GameServerError, IllegalMove  # noqa: E402

SYMBOLS = ('X', 'O')  # player 0 plays X, player 1 plays O


def print_board(board):
    """Show the board; free cells show their position number (0-8)."""
    cells = [str(i) if mark == -1 else SYMBOLS[mark] for i, mark in enumerate(board)]
    print()
    for row in range(3):
        print(' ' + ' | '.join(cells[3 * row:3 * row + 3]))
        if row < 2:
            print('---+---+---')
    print()


def ask_position():
    """Ask until the user types a whole number (the game checks the rest)."""
    while True:
        text = input('Your move, position 0-8: ')  # EOFError if the input ends
        try:
            return int(text)
        except ValueError:
            print('Please type a number from 0 to 8.')


def main():
    parser = argparse.ArgumentParser(description='Play tic-tac-toe against another terminal.')
    parser.add_argument('--host', default='127.0.0.1', help='server address')
    parser.add_argument('--port', type=int, default=4711, help='server port')
    parser.add_argument('--session', default='auto', help="session name ('auto': any)")
    parser.add_argument('--name', default='', help='your name, so that others can watch you')
    args = parser.parse_args()

    api = GameServerAPI(args.host, args.port, 'TicTacToe', session=args.session,
                        players=2, name=args.name)
    print('Waiting for an opponent ...')
    my_id = api.join()  # returns once both players are there
    print('You are', SYMBOLS[my_id])

    state = api.state()
    while not state['gameover']:
        print_board(state['board'])
        if my_id in state['current']:
            while True:  # ask again until the game accepts the move
                try:
                    api.move(position=ask_position())
                    break
                except IllegalMove as error:
                    print('Not allowed:', error)
        else:
            print("Opponent's turn ...")
        state = api.state()  # waits until the board has changed

    print_board(state['board'])
    if state['winner'] is None:
        print('Draw!')
    elif state['winner'] == my_id:
        print('You win!')
    else:
        print('You lose!')


if __name__ == '__main__':
    try:
        main()
    except GameServerError as error:
        sys.exit(f'Error: {error}')
    except (EOFError, KeyboardInterrupt):
        sys.exit('\nBye!')
