"""Play any game in the terminal: shows your state, asks for your move.

Good for trying out a game you just wrote, before it has a client of its own:

    python3 examples/any_game_client.py --game MyRace

Without --players it starts (or joins) a session with as few players as the
game allows. Players get their ids in the order they join: whoever joins
first is player 0. Give --port (and --host) if the server does not run on
this computer's port 4711.

A move is typed as key=value pairs, the same keywords you would pass to
api.move(...). A value is read as JSON, or as you would write it in Python;
anything else is one word of text:

    add=3
    play=8H suit=S
    roll_dice=[0, 2, 4]
    code=["red", "blue", "red"]
    name="Ada Lovelace"

Type 'moves' to see the legal moves (if the game lists them), 'help' for the
game's rules, 'quit' to stop. After a game, type 'restart' to play again.
"""

import argparse
import ast
import json
import os
import re
import sys

# Students keep game_server_api.py next to their script; here it is one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from game_server_api import GameServerAPI, GameServerError, IllegalMove  # noqa: E402

KEY = re.compile(r'([A-Za-z_]\w*)=')


def parse_move(text):
    """Turn 'a=1 b=[1, 2] c="two words" d=text' into a dict; None if it is not key=value."""
    move = {}
    rest = text.strip()
    while rest:
        match = KEY.match(rest)
        if not match:
            return None
        value, rest = read_value(rest[match.end():])
        move[match.group(1)] = value
        rest = rest.lstrip()
    return move


def read_value(text):
    """The value at the start of ``text``, and the text after it."""
    if not text or text[0].isspace():
        return '', text  # "name=" with nothing after it: empty text
    try:
        value, end = json.JSONDecoder().raw_decode(text)
        if end == len(text) or text[end].isspace():
            return value, text[end:]
    except ValueError:
        pass
    # Python's way of writing it: ['red', 'blue'], 'two words', True, None.
    ends = [m.start() for m in re.finditer(r'\s', text)] + [len(text)]
    for end in ends:
        try:
            value = ast.literal_eval(text[:end])
            json.dumps(value)  # only what can be sent (no sets)
            return value, text[end:]
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
    word = text.split()[0]
    return word, text[len(word):]


def show_move(move):
    """A move dict as it is typed here: {'code': ['red']} → code=["red"]."""
    return ' '.join('{}={}'.format(key, json.dumps(value)) for key, value in move.items())


def example_move(state, documentation):
    """An example move of this game, from its legal moves or else from its rules."""
    if state.get('legal_moves'):
        return show_move(state['legal_moves'][0])
    # Rules often show a call such as move(add=2): take its keywords.
    for call in re.findall(r'move\(([^()]+)\)', documentation or ''):
        try:
            tree = ast.parse('f({})'.format(call), mode='eval').body
        except SyntaxError:
            continue
        if tree.keywords and not tree.args:
            source = 'f({})'.format(call)
            return ' '.join('{}={}'.format(
                kw.arg, ' '.join(ast.get_source_segment(source, kw.value).split()))
                for kw in tree.keywords)
    return 'key=value'


def find_game(api, name):
    """The server's description of game ``name`` (min_players, documentation, ...), or {}.

    {} also for a game the server does not offer: the join then gets the server's own
    "no such game", which lists its games and, when a file in its games folder meant to
    offer this one failed to load, says so and where its author finds why.
    """
    try:
        games = api.discover()['games']
    except GameServerError:
        return {}  # a classic server cannot list its games
    return next((game for game in games if game['name'] == name), {})


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
                        help="players in a new session (default: the game's minimum)")
    parser.add_argument('--name', default='')
    args = parser.parse_args()

    try:
        game = find_game(GameServerAPI(args.host, args.port, args.game), args.game)
        players = args.players or game.get('min_players')
        api = GameServerAPI(args.host, args.port, args.game, args.session, players, args.name)
        print('Joining {} ... (the game starts when all players are there)'.format(args.game))
        me = api.join()
        state = api.state(legal_moves=True)
        example = None
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
            if example is None:  # the first time: say how moves are typed
                example = example_move(state, game.get('documentation'))
                print("Type your move as key=value pairs, for example: {}  ('moves' lists "
                      "the legal moves, 'help' shows the rules)".format(example))
            text = input('Your move: ').strip()
            if text == 'quit':
                return
            if text == 'moves':
                moves = state.get('legal_moves')
                print('  ' + ('\n  '.join(show_move(m) for m in moves) if moves is not None
                              else 'this game does not list its moves'))
                continue
            if text == 'help':
                print(game.get('documentation') or 'The server has no rules for this game.')
                continue
            move = parse_move(text)
            if not move:
                print('Type the move as key=value pairs, for example: {}  (text with '
                      'spaces goes in quotes: name="Ada Lovelace")'.format(
                          example_move(state, game.get('documentation'))))
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
