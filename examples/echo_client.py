"""The smallest client: send what you type to the Echo game, print what comes back.

Start the server (python3 -m gameserver), then:

    python3 examples/echo_client.py

Echo is a one-player "game" that stores the last message it was sent. It is
the quickest way to check that your computer reaches the server and to see
each step of a client: join, move, state. Two messages are special: "error"
is rejected on purpose (so you see what a rejected move looks like) and
"quit" ends the game.
"""

import argparse
import os
import sys

# Students keep game_server_api.py next to their script; here it is one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from game_server_api import GameServerAPI, GameServerError, IllegalMove  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description='Send messages to the Echo game.')
    parser.add_argument('--host', default='127.0.0.1', help='server address')
    parser.add_argument('--port', type=int, default=4711, help='server port')
    args = parser.parse_args()

    api = GameServerAPI(args.host, args.port, 'Echo', players=1)
    api.join()  # Echo has one player: we start at once
    print('Joined. Type a message and press Enter ("quit" ends, "error" is rejected):')

    state = api.state()
    while not state['gameover']:
        message = input('> ')  # EOFError at the end of the input (Ctrl-D)
        try:
            api.move(msg=message)
        except IllegalMove as error:
            print('Rejected:', error)
        state = api.state()  # returns at once: our move changed the state
        print('The server has:', state['echo'])
    print('Game over.')


if __name__ == '__main__':
    try:
        main()
    except GameServerError as error:
        sys.exit(f'Error: {error}')
    except (EOFError, KeyboardInterrupt):
        sys.exit('\nBye!')
