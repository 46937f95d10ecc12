"""Chat, part 2 of 2: the output window. Shows every message of a chat.

It watches the player with the given name in observer mode, so it receives
exactly what that player's chat_input.py would receive. See chat_input.py
for how to start a chat. Run it with the same session and name:

    python3 examples/chat_output.py --name alice

It may be started before chat_input.py: it waits until the chat has begun.
Stop it with Ctrl-C.
"""

import argparse
import os
import sys
import time

# Students keep game_server_api.py next to their script; here it is one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from game_server_api import GameServerAPI, GameServerError  # noqa: E402


def observe_when_ready(api, name, session, wait):
    """Start observing; while the chat has not begun yet, try again every second.

    The server has no request that waits for a session to start, so this is
    the one place where we ask again and again.
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
                print(f'Waiting for {name} to join chat {session!r} ({error}) ...', flush=True)
                told = True
            time.sleep(1)


def main():
    parser = argparse.ArgumentParser(description='Chat output: shows the messages.')
    parser.add_argument('--host', default='127.0.0.1', help='server address')
    parser.add_argument('--port', type=int, default=4711, help='server port')
    parser.add_argument('--session', default='chat', help='chat session name')
    parser.add_argument('--name', help='the name used with chat_input.py (asked if not given)')
    parser.add_argument('--wait', type=float, default=600,
                        help='give up after waiting this many seconds for the chat to begin')
    args = parser.parse_args()
    name = args.name or input('Name used with chat_input.py: ').strip()
    if not name:
        parser.error('a name is needed: the one given to chat_input.py')

    api = GameServerAPI(args.host, args.port, 'Chat', session=args.session, name=name)
    observe_when_ready(api, name, args.session, args.wait)
    print(f'Showing chat {args.session!r} as {name} sees it (Ctrl-C to stop).', flush=True)

    shown = 0  # how many messages we have printed already
    while True:
        messages = api.state()['messages']  # waits until there is something new
        for sender, text in messages[shown:]:
            print(f'{sender}: {text}', flush=True)
        shown = len(messages)


if __name__ == '__main__':
    try:
        main()
    except GameServerError as error:
        sys.exit(f'Error: {error}')
    except (EOFError, KeyboardInterrupt):
        sys.exit('\nBye!')
