"""A bot that plays any game that lists its legal moves, by picking one at random.

    python3 -m gameserver.bot TicTacToe                 # one opponent, auto-join
    python3 -m gameserver.bot ConnectFour --seats 2     # plays both sides itself
    python3 -m gameserver.bot Nim --session table1 --players 2 --games 10
    python3 -m gameserver.bot TicTacToe --tournament final --name randy

Instant opponents for a new game in class, and a baseline for learning
agents. The bot talks to the server through ``game_server_api`` like any
student client, asking for the legal moves with each state (an extension
that classic servers do not have). It says in a few lines what it does:
which session it joined as which player, and how each game ended. Ctrl-C
stops it with "Bye!". The dashboard's "play against the bot" runs the same
policy (``choose_move``) inside the server (``gameserver/web/_bots.py``).
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
from collections.abc import Callable
from typing import Any

from .policy import choose_move

try:
    from game_server_api import GameServerAPI, GameServerError, IllegalMove
except ImportError:  # pragma: no cover - only when run outside the repository
    sys.exit("gameserver.bot needs game_server_api.py: run it from the repository folder, "
             "or install the project with 'pip install .'")


class Bot:
    """One seat at the table, played at random.

    Args:
        api: a constructed (not yet joined) ``GameServerAPI``.
        games: how many games to play in this session before stopping.
        rng: the source of random choices.
        restarter: whether this seat starts the next game after one ends.
    """

    def __init__(self, api: GameServerAPI, game: str, games: int, rng: random.Random,
                 restarter: bool, say: Callable[[str], None] = print) -> None:
        self.api = api
        self.game = game
        self.games = games
        self.rng = rng
        self.restarter = restarter
        self.say = say
        self.results: list[dict[str, Any]] = []
        self.moves = 0

    def run(self) -> None:
        """Join, then play until ``games`` games have ended."""
        me = self.api.join()
        self.say(f"joined {self.game} session {self.api._session} as player {me}")
        seen_end = False  # after a restart the old final state may come once more
        while len(self.results) < self.games:
            state = self.api.state(legal_moves=True)
            if state["gameover"]:
                if not seen_end:
                    seen_end = True
                    self.results.append(state)
                    if self.restarter:  # one seat reports, for everybody
                        self.say(f"game {len(self.results)} over: {outcome(state)}")
                    if self.restarter and len(self.results) < self.games:
                        self.api.restart()
                continue
            seen_end = False
            self.turn(me, state)

    def turn(self, me: int, state: dict[str, Any]) -> None:
        """Make a random legal move if it is our turn in ``state``."""
        if me not in state["current"]:
            return
        moves = state.get("legal_moves")
        if moves is None:
            raise GameServerError(
                f"{self.game} does not list its legal moves, so the bot cannot play "
                "it (the game needs a legal_moves method)")
        try:
            self.api.move(**choose_move(moves, self.rng))
            self.moves += 1
        except IllegalMove as err:  # the game's legal_moves was wrong: say so, go on
            self.say(f"the game rejected a move it listed as legal: {err}")
        except GameServerError as err:  # too late: the time for the move ran out
            if "not your turn" not in str(err) and "game has ended" not in str(err):
                raise

    def play_tournament(self) -> str:
        """Take part in a tournament: play every game we are seated in, until the end.

        Only classic calls (and the legal moves with each state): join, play
        the game to its end, join again. The tournament says it is over by
        refusing the join; that message (our place) is returned.
        """
        while True:
            try:
                me = self.api.join()
            except GameServerError as err:
                if " is over" in str(err) or "was cancelled" in str(err):
                    return str(err)
                raise
            state = self.api.state(legal_moves=True)
            while not state["gameover"]:
                self.turn(me, state)
                state = self.api.state(legal_moves=True)
            self.results.append(state)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m gameserver.bot",
        description="Play any game that lists its legal moves, choosing at random.")
    parser.add_argument("game", help="the game's class name, e.g. TicTacToe")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4711)
    parser.add_argument("--session", default="auto",
                        help="session name, or 'auto' to be paired (default)")
    parser.add_argument("--players", type=int,
                        help="players in a new session (default: the game's minimum, at "
                             "least as many as --seats)")
    parser.add_argument("--seats", type=int, default=1,
                        help="how many of the players this bot plays itself (default 1)")
    parser.add_argument("--games", type=int, default=1, help="games to play (default 1)")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    parser.add_argument("--tournament", metavar="NAME",
                        help="take part in this tournament (joins tournament-NAME) until it ends")
    parser.add_argument("--name", default="",
                        help="player name (needed for --tournament; NAME#PASSWORD keeps it yours)")
    args = parser.parse_args(argv)
    try:
        return play(args)
    except KeyboardInterrupt:
        say("stopped (Ctrl-C). Bye!")
        return 130


def play(args: argparse.Namespace) -> int:
    """Join with every seat, play the games, report; the exit status."""
    rng = random.Random(args.seed)

    def connect(players: int | None) -> GameServerAPI:
        api = GameServerAPI(args.host, args.port, args.game, args.session, players,
                            keep_alive=True)
        if args.tls:
            api.enable_tls()
        return api

    players = args.players
    if args.tournament:
        return _tournament(args, rng)
    try:
        if players is None:
            players = max(args.seats, _min_players(connect(None), args.game))
        bots = [Bot(connect(players), args.game, args.games, random.Random(rng.random()),
                    restarter=seat == 0, say=say) for seat in range(args.seats)]
        others = players - args.seats
        seats = ("1 player, played by this bot" if players == 1 else
                 f"{players} players, {args.seats} of them played by this bot")
        say(f"{args.game} in session {args.session!r}, {seats}"
            + (f"; waiting for {others} more to join ..." if others > 0 else ""))
        errors = _run_all(bots)
    except GameServerError as err:
        say(str(err), error=True)
        return 1
    if errors:
        say(str(errors[0]), error=True)
        return 1
    say(f"played {len(bots[0].results)} game(s) of {args.game}, "
        f"{sum(b.moves for b in bots)} moves by {len(bots)} seat(s)")
    return 0


def _tournament(args: argparse.Namespace, rng: random.Random) -> int:
    if not args.name:
        say("--tournament needs --name (the name to register and play under)", error=True)
        return 1
    api = GameServerAPI(args.host, args.port, args.game, f"tournament-{args.tournament}",
                        name=args.name, keep_alive=True)
    if args.tls:
        api.enable_tls()
    bot = Bot(api, args.game, 0, rng, restarter=False, say=say)
    try:
        say(bot.play_tournament())
    except (GameServerError, IllegalMove) as err:
        say(str(err), error=True)
        return 1
    finally:
        api.close()
    say(f"played {len(bot.results)} game(s), {bot.moves} moves")
    return 0


_say_lock = threading.Lock()  # the seats' threads speak one whole line at a time


def say(text: str, error: bool = False) -> None:
    """One line of the bot's report (errors to stderr)."""
    stream = sys.stderr if error else sys.stdout
    with _say_lock:
        stream.write(f"bot: {text}\n")
        stream.flush()


def outcome(state: dict[str, Any]) -> str:
    """How a game ended, in words, from its final state."""
    if "winner" in state:
        return "a draw" if state["winner"] is None else f"player {state['winner']} won"
    found = {key: state[key] for key in ("ranking", "score", "scores") if key in state}
    return ", ".join(f"{key} {value}" for key, value in found.items()) or "the game ended"


def _min_players(api: GameServerAPI, game: str) -> int:
    """The fewest players ``game`` takes, as the server's discovery lists it.

    ``api`` (no players given) is closed before this returns. For a game the server does
    not offer, the server's own "no such game" is raised (from a join, which it refuses
    before it seats anyone): besides its games it says when a file of its games folder
    meant to offer this one failed to load, and where its author finds why.
    """
    try:
        for entry in api.discover()["games"]:
            if entry["name"] == game:
                if "min_players" not in entry:  # its player range failed: the error instead
                    raise GameServerError(f"game {game}: {entry.get('error', 'no player range')}")
                return int(entry["min_players"])
        api.join()
    finally:
        api.close()
    raise GameServerError(f"the server lists no game called {game!r}, but joined it")


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
