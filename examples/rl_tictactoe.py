"""A machine that learns tic-tac-toe by playing thousands of games.

MENACE (Donald Michie, 1961) was built from 304 matchboxes, one for each
board position it could meet, each filled with coloured beads, one colour per
free cell. To move, it shakes the box of the current board and plays the cell
of a random bead. After a won game it adds beads of the colours it played
(good moves become more likely), after a lost game it takes them away.

Here the matchboxes are a dictionary, and MENACE plays through the server
against an opponent that moves at random. The opponent runs in a thread with
its own GameServerAPI in the same session. After each game MENACE calls
restart(), so both keep their seats. Both loop over ``api.states()``: the
server sends each new state as it comes, so neither asks for it. Every batch
of games it prints how often it won; watch the win rate climb:

    python3 examples/rl_tictactoe.py
    python3 examples/rl_tictactoe.py --batches 20 --batch-size 500
"""

import argparse
import os
import random
import sys
import threading

# Students keep game_server_api.py next to their script; here it is one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from game_server_api import GameServerAPI, GameServerError  # noqa: E402

# Beads added to every box MENACE used in a game, by outcome.
REWARD = {'win': 3, 'draw': 1, 'loss': -1}


def _rotate(cells):
    return tuple(cells[3 * (2 - col) + row] for row in range(3) for col in range(3))


def _mirror(cells):
    return tuple(cells[3 * row + 2 - col] for row in range(3) for col in range(3))


# The 8 ways to turn or flip a board. A board that is just another one turned
# around shares its matchbox, as in the original MENACE: far fewer boxes,
# so it learns faster. Symmetry s shows cell s[i] of the real board at cell i.
SYMMETRIES = []
_cells = tuple(range(9))
for _ in range(4):
    SYMMETRIES += [_cells, _mirror(_cells)]
    _cells = _rotate(_cells)


class Menace:
    """The matchbox learner: one box of beads for every board it has seen."""

    def __init__(self, rng, beads_per_cell=2):
        self.rng = rng
        self.beads_per_cell = beads_per_cell
        self.boxes = {}  # board -> list of 9 bead counts, one per cell
        self.used = []  # (board, cell) for every move of the current game

    def choose(self, board, me):
        """Pick a cell: a random bead from this board's box."""
        # The board as MENACE sees it: 'M' my marks, 'T' theirs, '.' free.
        seen = ''.join('.' if cell == -1 else 'M' if cell == me else 'T' for cell in board)
        # Of the 8 turned/flipped versions of the board, the box is labelled
        # with the alphabetically first one.
        key, symmetry = min((''.join(seen[i] for i in s), s) for s in SYMMETRIES)
        if key not in self.boxes:  # a new board: a new box with beads for every free cell
            self.boxes[key] = [self.beads_per_cell if mark == '.' else 0 for mark in key]
        cell = self.rng.choices(range(9), weights=self.boxes[key])[0]
        self.used.append((key, cell))
        return symmetry[cell]  # the same cell on the real board

    def learn(self, outcome):
        """Add or take away beads for every move of the game that just ended."""
        for key, cell in self.used:
            beads = self.boxes[key]
            beads[cell] = max(1, beads[cell] + REWARD[outcome])  # keep at least one bead
        self.used = []


def random_opponent(api, rng):
    """Play random moves forever (runs in a thread until the program ends)."""
    try:
        my_id = api.join()
    except GameServerError:
        return  # MENACE's join fails as well and reports the problem
    try:
        for state in api.states():  # each new state: MENACE moved, or restarted
            if not state['gameover'] and my_id in state['current']:
                free = [i for i, cell in enumerate(state['board']) if cell == -1]
                api.move(position=rng.choice(free))
    except GameServerError as error:
        print(f'Opponent stopped: {error}', flush=True)


def play_one_game(states, api, menace, my_id):
    """Play a game to the end and return 'win', 'draw' or 'loss'.

    ``states`` is ``api.states()``: each new state, as the server sends it.
    """
    for state in states:
        if state['gameover']:
            break
        if my_id in state['current']:
            api.move(position=menace.choose(state['board'], my_id))
    if state['winner'] is None:
        return 'draw'
    return 'win' if state['winner'] == my_id else 'loss'


def main():
    parser = argparse.ArgumentParser(description='MENACE learns tic-tac-toe.')
    parser.add_argument('--host', default='127.0.0.1', help='server address')
    parser.add_argument('--port', type=int, default=4711, help='server port')
    parser.add_argument('--session', default=f'menace-{os.getpid()}',
                        help='session name (default: one of its own)')
    parser.add_argument('--batches', type=int, default=10, help='number of batches')
    parser.add_argument('--batch-size', type=int, default=500, help='games per batch')
    parser.add_argument('--seed', type=int, help='random seed, to repeat a run exactly')
    parser.add_argument('--keep-alive', dest='keep_alive', action='store_true', default=True,
                        help='one connection for all requests (default; much faster)')
    parser.add_argument('--no-keep-alive', dest='keep_alive', action='store_false',
                        help='a new connection per request, like the classic module')
    args = parser.parse_args()
    rng = random.Random(args.seed)

    # Both join with players=2: whoever comes first starts the session.
    learner = GameServerAPI(args.host, args.port, 'TicTacToe', session=args.session,
                            players=2, keep_alive=args.keep_alive)
    opponent = GameServerAPI(args.host, args.port, 'TicTacToe', session=args.session,
                             players=2, keep_alive=args.keep_alive)
    threading.Thread(target=random_opponent, args=(opponent, random.Random(rng.random())),
                     daemon=True).start()  # daemon: it ends when the program ends
    my_id = learner.join()

    menace = Menace(rng)
    print(f'MENACE against a random player, {args.batches} batches of {args.batch_size} games')
    print('games   win  draw  loss  win rate')
    states = learner.states()
    for batch in range(1, args.batches + 1):
        counts = {'win': 0, 'draw': 0, 'loss': 0}
        for _ in range(args.batch_size):
            outcome = play_one_game(states, learner, menace, my_id)
            menace.learn(outcome)
            counts[outcome] += 1
            learner.restart()  # a new game, same players
        rates = {outcome: count / args.batch_size for outcome, count in counts.items()}
        bar = '#' * round(rates['win'] * 40)
        print(f"{batch * args.batch_size:5} {rates['win']:5.0%} {rates['draw']:5.0%} "
              f"{rates['loss']:5.0%}  {bar}", flush=True)
    print(f'MENACE filled {len(menace.boxes)} matchboxes.')
    learner.close()


if __name__ == '__main__':
    try:
        main()
    except GameServerError as error:
        sys.exit(f'Error: {error}')
    except KeyboardInterrupt:
        sys.exit('\nBye!')
