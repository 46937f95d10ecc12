"""Watch a tic-tac-toe game live, from the point of view of one player.

The player must have joined a named session with a name, for example:

    python3 examples/tictactoe_client.py --session table1 --name alice
    python3 examples/tictactoe_client.py --session table1 --name bob

Then, in a third terminal (these are also the defaults):

    python3 examples/tictactoe_observer.py --session table1 --name alice

The observer prints the board after every change until the game is over. It
may be started first: it waits until the game has begun.
"""

import argparse
import os
import sys
import time

# Students keep game_server_api.py next to their script; here it is one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from game_server_api import GameServerAPI, GameServerError  # noqa: E402

SYMBOLS = ('X', 'O')  # player 0 plays X, player 1 plays O


def print_board(board):
    """Show the board; free cells show their position number (0-8)."""
    cells = [str(i) if mark == -1 else SYMBOLS[mark] for i, mark in enumerate(board)]
    print()
    for row in range(3):
        print(' ' + ' | '.join(cells[3 * row:3 * row + 3]))
        if row < 2:
            print('---+---+---')
    print(flush=True)


def observe_when_ready(api, wait):
    """Start observing; until the game has begun, try again every second.

    The server has no request that waits for a game to begin, so this is the
    one place where we ask again and again.
    """
    deadline = time.monotonic() + wait
    told = False  # have we told the user that we wait?
    while True:
        try:
            return api.observe()
        except GameServerError as error:
            # 'api:' errors (e.g. no server) will not go away by waiting.
            if str(error).startswith('api:') or time.monotonic() > deadline:
                raise
            if not told:
                print(f'Waiting for the game to begin ({error}) ...', flush=True)
                told = True
            time.sleep(1)


def main():
    parser = argparse.ArgumentParser(description="Watch a player's tic-tac-toe game.")
    parser.add_argument('--host', default='127.0.0.1', help='server address')
    parser.add_argument('--port', type=int, default=4711, help='server port')
    parser.add_argument('--session', default='table1', help='session of the game')
    parser.add_argument('--name', default='alice', help='name of the player to watch')
    parser.add_argument('--wait', type=float, default=600,
                        help='give up after waiting this many seconds for the game to begin')
    args = parser.parse_args()

    api = GameServerAPI(args.host, args.port, 'TicTacToe', session=args.session,
                        name=args.name)
    watched = observe_when_ready(api, args.wait)
    print(f'Watching {args.name}, who plays {SYMBOLS[watched]}.', flush=True)

    state = api.state()
    while not state['gameover']:
        print_board(state['board'])
        if watched in state['current']:
            print(f"{args.name}'s turn ...", flush=True)
        else:
            print(f"{args.name}'s opponent's turn ...", flush=True)
        state = api.state()  # waits until the board has changed

    print_board(state['board'])
    if state['winner'] is None:
        print('Game over: draw.')
    elif state['winner'] == watched:
        print(f'Game over: {args.name} ({SYMBOLS[watched]}) wins.')
    else:
        print(f'Game over: {args.name} ({SYMBOLS[watched]}) loses.')


if __name__ == '__main__':
    try:
        main()
    except GameServerError as error:
        sys.exit(f'Error: {error}')
    except KeyboardInterrupt:
        sys.exit('\nBye!')
