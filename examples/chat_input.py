"""Chat, part 1 of 2: the input window. Sends every line you type.

A chat program has to do two things at once: wait for your typing and wait
for other people's messages. Instead of using threads, we split it into two
programs: this one sends, chat_output.py shows. chat_output.py uses the
observer mode: it watches this program's player (found by its name) and
receives exactly what this player would receive.

Everybody in the chat runs chat_input.py with the same --session and
--players; the session is started by the first of them and the chat begins
as soon as all players have joined. Then each person runs chat_output.py in a
second terminal with their own name:

    python3 examples/chat_input.py --name alice      # terminal 1
    python3 examples/chat_output.py --name alice     # terminal 2
    python3 examples/chat_input.py --name bob        # terminal 3
    python3 examples/chat_output.py --name bob       # terminal 4

With --players 1 you can chat alone (to try it out). Careful: starting
chat_input.py with --players once the session is full starts a new chat
under the same session name, and the old one ends.

Type your messages and press Enter; end with Ctrl-D (Ctrl-Z Enter on Windows).
"""

import argparse
import os
import sys

# Students keep game_server_api.py next to their script; here it is one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from game_server_api import GameServerAPI, GameServerError, IllegalMove  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description='Chat input: sends the lines you type.')
    parser.add_argument('--host', default='127.0.0.1', help='server address')
    parser.add_argument('--port', type=int, default=4711, help='server port')
    parser.add_argument('--session', default='chat', help='chat session name')
    parser.add_argument('--players', type=int, default=2, help='number of people in the chat')
    parser.add_argument('--name', help='your name (asked for if not given)')
    args = parser.parse_args()
    name = args.name or input('Your name: ').strip()
    if not name:
        parser.error('a name is needed: chat_output.py finds you by it')

    # The name is given twice: to the session (so chat_output.py can find us)
    # and to the Chat game (so it can show who wrote what).
    api = GameServerAPI(args.host, args.port, 'Chat', session=args.session,
                        players=args.players, name=name)
    print(f'Waiting until all {args.players} people have joined chat {args.session!r} ...')
    api.join()
    api.move(name=name)
    print(f'Joined. Start "python3 examples/chat_output.py --session {args.session} '
          f'--name {name}" to see the messages. Type a message and press Enter:')

    for line in sys.stdin:  # ends with Ctrl-D
        try:
            api.move(message=line.rstrip('\n'))
        except IllegalMove as error:
            print('Not sent:', error)


if __name__ == '__main__':
    try:
        main()
    except GameServerError as error:
        sys.exit(f'Error: {error}')
    except (EOFError, KeyboardInterrupt):
        sys.exit('\nBye!')
