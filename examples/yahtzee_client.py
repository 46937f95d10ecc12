"""Play Yahtzee in the terminal: alone, or with up to 7 others.

Start the server (python3 -m gameserver), then:

    python3 examples/yahtzee_client.py                 # play alone
    python3 examples/yahtzee_client.py --players 3     # in three terminals

On your turn, type one of these commands:

    roll            roll all five dice again
    roll 1 3 5      roll only dice 1, 3 and 5 again
    score 7         add the dice's points to row 7 of your scorecard
    score Chance    (rows may also be given by name)
    cross 12        cross out row 12 (it scores 0)

You may roll twice per turn; scoring or crossing out ends your turn.
"""

import argparse
import os
import sys

# Students keep game_server_api.py next to their script; here it is one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from game_server_api import GameServerAPI, GameServerError, IllegalMove  # noqa: E402


def print_scorecard(scorecard):
    """Show the rows of the scorecard, numbered from 1, with the points so far."""
    print('\nYour scorecard:')
    for number, (category, points) in enumerate(scorecard.items(), start=1):
        print(f'{number:3}  {category:16}{"" if points is None else points:>4}')


def print_dice(dice):
    print('\nDice:  ' + '   '.join(f'[{d}]' for d in dice))
    print('        ' + '     '.join(str(n) for n in range(1, 6)))


def find_category(text, scorecard):
    """Turn a row number ('7') or a name ('chance') into a category name."""
    categories = list(scorecard)
    if text.isdigit() and 1 <= int(text) <= len(categories):
        return categories[int(text) - 1]
    for category in categories:
        if category.lower() == text.lower():
            return category
    return None


def play_turn(api, state):
    """Ask for commands until one of them is accepted by the game."""
    while True:
        words = input('\nroll [dice] / score ROW / cross ROW: ').split(maxsplit=1)
        command = words[0].lower() if words else ''
        argument = words[1] if len(words) > 1 else ''
        try:
            if command == 'roll':
                dice = [int(n) for n in argument.split()] or [1, 2, 3, 4, 5]
                if not all(1 <= n <= 5 for n in dice):
                    raise ValueError
                api.move(roll_dice=[n - 1 for n in dice])  # the game counts from 0
            elif command in ('score', 'cross'):
                category = find_category(argument, state['scorecard'])
                if category is None:
                    print('Which row? Give its number or its name, e.g.: score 13')
                    continue
                action = 'add points' if command == 'score' else 'cross out'
                api.move(score=action, category=category)
            else:
                print('Unknown command. Examples: roll / roll 1 3 / score 13 / cross 1')
                continue
            return
        except ValueError:
            print('Dice are numbered 1 to 5, e.g.: roll 2 4')
        except IllegalMove as error:
            print('Not allowed:', error)


def main():
    parser = argparse.ArgumentParser(description='Play Yahtzee in the terminal.')
    parser.add_argument('--host', default='127.0.0.1', help='server address')
    parser.add_argument('--port', type=int, default=4711, help='server port')
    parser.add_argument('--session', default='auto', help="session name ('auto': any)")
    parser.add_argument('--players', type=int, default=1, help='number of players, 1-8')
    args = parser.parse_args()

    api = GameServerAPI(args.host, args.port, 'Yahtzee', session=args.session,
                        players=args.players)
    print(f'Waiting for {args.players} player(s) ...')
    my_id = api.join()

    # First every player chooses a name (it appears in the ranking).
    while True:
        try:
            api.move(name=input('Your name: '))
            break
        except IllegalMove as error:
            print('Not allowed:', error)

    state = api.state()
    while not state['gameover']:
        if 'current_name' not in state:  # some players have not chosen their name yet
            print('Waiting for the other players to choose their names ...')
        elif my_id in state['current']:
            print_scorecard(state['scorecard'])
            print_dice(state['dice'])
            play_turn(api, state)
        else:
            print(f"{state['current_name']}'s turn ...")
        state = api.state()  # waits until something has changed

    print_scorecard(state['scorecard'])
    print('\nRanking:')
    ranking = sorted(state['ranking'].items(), key=lambda pair: pair[1], reverse=True)
    for place, (name, points) in enumerate(ranking, start=1):
        print(f'{place}. {name:16}{points:5}')


if __name__ == '__main__':
    try:
        main()
    except GameServerError as error:
        sys.exit(f'Error: {error}')
    except (EOFError, KeyboardInterrupt):
        sys.exit('\nBye!')
