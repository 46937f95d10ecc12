"""Play any game in the terminal: shows your state, asks for your move.

Good for trying out a game you just wrote, before it has a client of its own:

    python examples/any_game_client.py --game MyRace --players 2

A move is typed as key=value pairs, the same keywords you would pass to
api.move(...). Values are read as JSON when they can be (3, true, [1, 2],
"text"), otherwise as text:

    add=3
    position=4
    play=8H suit=S
    roll_dice=[0,2,4]

Type a blank line to wait for the others, 'moves' to see the legal moves (if
the game lists them), 'restart' after a game to play again, 'quit' to stop.
"""

import argparse
import json
import os
import sys

# Students keep game_server_api.py next to their script; here it is one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from game_server_api import GameServerAPI, GameServerError, IllegalMove  # noqa: E402


def parse_move(text):
    """Turn 'a=1 b=text' into {'a': 1, 'b': 'text'}; None if it is not key=value."""
    move = {}
    for part in text.split():
        key, sep, value = part.partition('=')
        if not sep or not key:
            return None
        try:
            move[key] = json.loads(value)
        except ValueError:
            move[key] = value  # not JSON: plain text
    return move


def show(state, me):
    """Print the game's part of the state, then whose turn it is."""
    for key, value in state.items():
        if key not in ('current', 'gameover', 'legal_moves'):
            print('  {}: {}'.format(key, json.dumps(value)))
    if state['gameover']:
        print('The game is over.')
    elif me in state['current']:
        print('Your turn (you are player {}).'.format(me))
    else:
        print('Waiting for player(s) {} ...'.format(state['current']))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--game', required=True, help='the game class name, e.g. MyRace')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=4711)
    parser.add_argument('--session', default='auto')
    parser.add_argument('--players', type=int, default=None,
                        help='number of players, to start a new session')
    parser.add_argument('--name', default='')
    args = parser.parse_args()

    api = GameServerAPI(args.host, args.port, args.game, args.session, args.players,
                        args.name)
    try:
        print('Joining {} ... (the game starts when all players are there)'.format(args.game))
        me = api.join()
        state = api.state(legal_moves=True)
        while True:
            show(state, me)
            if state['gameover'] or me not in state['current']:
                if state['gameover']:
                    answer = input("Type 'restart' to play again, anything else to stop: ")
                    if answer.strip() != 'restart':
                        return
                    api.restart()
                state = api.state(legal_moves=True)  # waits until something changes
                continue
            text = input('Your move (key=value ...): ').strip()
            if text == 'quit':
                return
            if text == 'moves':
                print('  legal moves: {}'.format(json.dumps(state.get('legal_moves'))))
                continue
            move = parse_move(text)
            if move is None:
                print("Type the move as key=value pairs, for example: add=3")
                continue
            try:
                api.move(**move)
            except IllegalMove as error:
                print('Not allowed: {}'.format(error))
                continue
            state = api.state(legal_moves=True)
    except GameServerError as error:
        print('Error: {}'.format(error))
        sys.exit(1)
    except (EOFError, KeyboardInterrupt):
        print()


if __name__ == '__main__':
    main()
