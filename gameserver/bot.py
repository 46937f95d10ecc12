"""A bot that plays any game that lists its legal moves, by picking one at random.

    python -m gameserver.bot TicTacToe                 # one opponent, auto-join
    python -m gameserver.bot ConnectFour --seats 2     # plays both sides itself
    python -m gameserver.bot Nim --session table1 --players 2 --games 10

Instant opponents for a new game in class, and a baseline for learning
agents. The bot talks to the server through ``game_server_api`` like any
student client, asking for the legal moves with each state (an extension
that classic servers do not have). The dashboard's "play against the bot"
runs the same policy (``choose_move``) inside the server
(``gameserver/web/_bots.py``).
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
from typing import Any

try:
    from game_server_api import GameServerAPI, GameServerError, IllegalMove
except ImportError:  # pragma: no cover - only when run outside the repository
    sys.exit("gameserver.bot needs game_server_api.py: run it from the repository folder, "
             "or install the project with 'pip install .'")


def choose_move(moves: list[dict[str, Any]], rng: random.Random) -> dict[str, Any]:
    """The bot's policy: one of the legal moves, at random."""
    return rng.choice(moves)


class Bot:
    """One seat at the table, played at random.

    Args:
        api: a constructed (not yet joined) ``GameServerAPI``.
        games: how many games to play in this session before stopping.
        rng: the source of random choices.
        restarter: whether this seat starts the next game after one ends.
    """

    def __init__(self, api: GameServerAPI, game: str, games: int, rng: random.Random,
                 restarter: bool) -> None:
        self.api = api
        self.game = game
        self.games = games
        self.rng = rng
        self.restarter = restarter
        self.results: list[dict[str, Any]] = []
        self.moves = 0

    def run(self) -> None:
        """Join, then play until ``games`` games have ended."""
        me = self.api.join()
        seen_end = False  # after a restart the old final state may come once more
        while len(self.results) < self.games:
            state = self.api.state(legal_moves=True)
            if state["gameover"]:
                if not seen_end:
                    seen_end = True
                    self.results.append(state)
                    if self.restarter and len(self.results) < self.games:
                        self.api.restart()
                continue
            seen_end = False
            if me not in state["current"]:
                continue
            moves = state.get("legal_moves")
            if moves is None:
                raise GameServerError(
                    f"{self.game} does not list its legal moves, so the bot cannot play "
                    "it (the game needs a legal_moves method)")
            try:
                self.api.move(**choose_move(moves, self.rng))
                self.moves += 1
            except IllegalMove as err:  # the game's legal_moves was wrong: say so, go on
                print(f"bot: the game rejected a move it listed as legal: {err}",
                      file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gameserver.bot",
        description="Play any game that lists its legal moves, choosing at random.")
    parser.add_argument("game", help="the game's class name, e.g. TicTacToe")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4711)
    parser.add_argument("--session", default="auto",
                        help="session name, or 'auto' to be paired (default)")
    parser.add_argument("--players", type=int,
                        help="players in a new session (default: the game's minimum)")
    parser.add_argument("--seats", type=int, default=1,
                        help="how many of the players this bot plays itself (default 1)")
    parser.add_argument("--games", type=int, default=1, help="games to play (default 1)")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    players = args.players
    try:
        if players is None:
            players = _min_players(args.host, args.port, args.game)
        bots = []
        for seat in range(args.seats):
            api = GameServerAPI(args.host, args.port, args.game, args.session, players,
                                keep_alive=True)
            if args.tls:
                api.enable_tls()
            bots.append(Bot(api, args.game, args.games, random.Random(rng.random()),
                            restarter=seat == 0))
        errors = _run_all(bots)
    except GameServerError as err:
        print(f"bot: {err}", file=sys.stderr)
        return 1
    if errors:
        print(f"bot: {errors[0]}", file=sys.stderr)
        return 1
    for number, state in enumerate(bots[0].results, 1):
        outcome = {k: v for k, v in state.items() if k in ("winner", "ranking", "score")}
        print(f"game {number} over: {outcome or state}")
    print(f"played {len(bots[0].results)} game(s) of {args.game}, "
          f"{sum(b.moves for b in bots)} moves by {len(bots)} seat(s)")
    return 0


def _min_players(host: str, port: int, game: str) -> int:
    games = GameServerAPI(host, port, game).discover()["games"]
    for entry in games:
        if entry["name"] == game:
            return int(entry["min_players"])
    raise GameServerError(f"the server has no game called {game!r} (it has: "
                          + ", ".join(g["name"] for g in games) + ")")


def _run_all(bots: list[Bot]) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(bot: Bot) -> None:
        try:
            bot.run()
        except (GameServerError, IllegalMove) as err:
            errors.append(err)
        finally:
            bot.api.close()

    threads = [threading.Thread(target=run, args=(bot,), daemon=True) for bot in bots]
    for thread in threads:
        thread.start()
    # If one seat fails, the others may wait forever for its move: stop at once.
    while not errors:
        alive = next((t for t in threads if t.is_alive()), None)
        if alive is None:
            break
        alive.join(0.1)
    return errors


if __name__ == "__main__":
    sys.exit(main())
