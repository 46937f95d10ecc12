"""Tabular Q-learning learns tic-tac-toe against the random bot, through gameserver.rl.

The learner keeps a table of values: for every board it has seen (as the
numbers of the game's rl_observation) and every move, how good that move
turned out to be. It mostly plays the best move it knows, sometimes a random
one to find better moves, and after each of its moves nudges the value of
the previous move towards what followed (the reward at the end of the game:
+1 win, -1 loss, 0 draw).

It plays through ``gameserver.rl.aec_env`` (a PettingZoo environment) against
the bundled bot's random policy, taking seat 0 and seat 1 in turn, and is
measured with ``gameserver.rl.evaluate`` before training and after every
``--every`` games. The learning curve is printed as a table and, if
matplotlib is installed, saved as a picture:

    python3 examples/rl_qlearning.py                       # 20,000 games, about 10 seconds
    python3 examples/rl_qlearning.py --plot curve.png      # where to save the picture
    python3 examples/rl_qlearning.py --server 127.0.0.1:4711   # on a server (see the dashboard)

Needs the optional packages: pip install -e '.[rl]' in the repository's folder
(and matplotlib for the picture).
"""

import argparse
import os
import random
import sys

import numpy as np

# Run from the repository without installing it.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gameserver.rl import GameError, RandomAgent, aec_env, evaluate  # noqa: E402

GAME = "TicTacToe"


class QLearner:
    """A table of move values, one row of numbers per board seen."""

    def __init__(self, actions, seed, alpha=0.3, gamma=0.95, epsilon=0.1):
        self.actions = actions  # how many moves the game has (len(rl_moves))
        self.rng = random.Random(seed)
        self.alpha = alpha  # how far one update moves a value
        self.gamma = gamma  # what a reward one move later is worth now
        self.epsilon = epsilon  # how often to try a random move while learning
        self.table = {}  # board (as bytes) -> value of each move

    def values(self, observation):
        key = observation.tobytes()
        if key not in self.table:
            self.table[key] = np.zeros(self.actions)
        return self.table[key]

    def best(self, observation, action_mask):
        """The legal move with the highest value (ties broken at random)."""
        values = self.values(observation)
        legal = np.flatnonzero(action_mask)
        top = legal[values[legal] == values[legal].max()]
        return int(top[self.rng.randrange(len(top))])

    def explore(self, observation, action_mask):
        """While learning: usually the best move, sometimes a random legal one."""
        if self.rng.random() < self.epsilon:
            legal = np.flatnonzero(action_mask)
            return int(legal[self.rng.randrange(len(legal))])
        return self.best(observation, action_mask)

    def learn(self, before, action, reward, after, after_mask, game_over):
        """Move the value of ``action`` on board ``before`` towards what followed."""
        target = reward
        if not game_over:
            target += self.gamma * self.values(after)[np.flatnonzero(after_mask)].max()
        values = self.values(before)
        values[action] += self.alpha * (target - values[action])


def train(learner, env, games, first_game, opponent):
    """Play ``games`` games, the learner in seat 0 and seat 1 in turn."""
    for number in range(first_game, first_game + games):
        env.reset()
        me = f"player_{number % 2}"
        previous = None  # (board, action) of the learner's last move
        for agent in env.agent_iter():
            observation, reward, done, truncated, _ = env.last()
            board, mask = observation["observation"], observation["action_mask"]
            if agent != me:
                env.step(None if done or truncated else opponent(board, mask))
                continue
            if previous is not None:
                learner.learn(*previous, reward, board, mask, done or truncated)
            if done or truncated:
                env.step(None)  # the game is over: PettingZoo's last step for this agent
                continue
            action = learner.explore(board, mask)
            previous = (board, action)
            env.step(action)


def server_address(text):
    """``HOST:PORT`` (``:PORT`` for this computer) as ``(host, port)``."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write HOST:PORT, e.g. 127.0.0.1:4711")
    return host or "127.0.0.1", int(port)


def save_plot(curve, path):
    """Save the learning curve as a picture; False if matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")  # draw into a file, no window
    import matplotlib.pyplot as plt

    games = [point[0] for point in curve]
    figure, axes = plt.subplots(figsize=(7, 4))
    for column, label, colour in ((1, "won", "tab:green"), (2, "drawn", "tab:gray"),
                                  (3, "lost", "tab:red")):
        axes.plot(games, [100 * point[column] for point in curve], marker="o",
                  label=label, color=colour)
    axes.set_xlabel("games played while learning")
    axes.set_ylabel("% of evaluation games")
    axes.set_ylim(0, 100)
    axes.set_title("Q-learning at tic-tac-toe against the random bot")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=20000, help="games to learn from")
    parser.add_argument("--every", type=int, default=2000,
                        help="evaluate after every this many games")
    parser.add_argument("--eval-games", type=int, default=1000,
                        help="games per evaluation against the random bot")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same run)")
    parser.add_argument("--plot", default="rl_learning_curve.png",
                        help="where to save the picture (needs matplotlib)")
    parser.add_argument("--server", type=server_address, metavar="HOST:PORT",
                        help="play on this server instead of in this process")
    args = parser.parse_args()
    try:
        learn(args)
    except GameError as err:  # e.g. no server at --server: the reason, not a traceback
        sys.exit(f"rl_qlearning.py: {err}")


def learn(args):
    """Train and evaluate as ``args`` say; print the curve; save its picture."""
    env = aec_env(GAME, server=args.server)
    env.reset(seed=args.seed)  # seeds every later game of this environment too
    learner = QLearner(env.action_space("player_0").n, args.seed)
    opponent = RandomAgent(args.seed + 1)

    def measure():
        result = evaluate(learner.best, "random", GAME, args.eval_games, seed=args.seed + 2,
                          server=args.server, names=("q-learner", "random"))
        overall = result.overall
        return (overall.win_rate, overall.draws / overall.games,
                overall.losses / overall.games, result)

    print(f"Q-learning at {GAME} against the random bot: {args.games} games, "
          f"evaluated on {args.eval_games} games every {args.every}")
    print("games   won  drawn  lost")
    curve = []
    played = 0
    while True:
        won, drawn, lost, result = measure()
        curve.append((played, won, drawn, lost))
        print(f"{played:5}  {won:5.1%} {drawn:5.1%} {lost:5.1%}  {'#' * round(won * 40)}",
              flush=True)
        if played >= args.games:
            break
        batch = min(args.every, args.games - played)
        train(learner, env, batch, played, opponent)
        played += batch
    env.close()
    print(f"The learner knows {len(learner.table)} boards.")
    print(f"untrained win rate: {curve[0][1]:.1%}")
    print(f"trained win rate: {curve[-1][1]:.1%}")
    print(result)
    if save_plot(curve, args.plot):
        print(f"learning curve saved as {args.plot}")
    else:
        print("matplotlib is not installed: no picture, the table above is the curve")


if __name__ == "__main__":
    main()
