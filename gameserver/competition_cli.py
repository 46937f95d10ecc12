"""``python -m gameserver tournament ...`` and ``python -m gameserver ratings``.

    python -m gameserver tournament create final --game TicTacToe --best-of 2
    python -m gameserver tournament start final
    python -m gameserver tournament list
    python -m gameserver tournament show final
    python -m gameserver tournament export final > final.csv     # --games: every game
    python -m gameserver tournament cancel final
    python -m gameserver ratings --game TicTacToe

The tournament commands talk to the running server's dashboard, as a
browser with the access token would: ``--url`` (default: the dashboard of
``--config``, else http://127.0.0.1:8080/) and the token from
``--token-file``, the ``GAMESERVER_WEB_TOKEN`` environment variable or the
config file's ``web_token_file``. Creating, starting, cancelling and
deleting need the token: only a server with one has an operator. ``list``,
``show`` and ``export`` also read a stopped server's store file
(``--store-path``). ``ratings`` computes the Elo ratings from the store
file's history, exactly as the dashboard does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from . import config, ratings
from .results import printable
from .tournament import MAX_MOVES_DEFAULT, Tournament
from .tournament_store import games_csv, load, load_rated, rated_games, rebuild, standings_csv

TIMEOUT = 30.0  # seconds for one request to the dashboard


class CommandError(Exception):
    """Ends the command with this one-line message (exit status 1)."""


def main(argv: list[str] | None = None, prog: str = "gameserver tournament") -> int:
    """``python -m gameserver tournament ...``; ``prog`` is how the user started it."""
    args = _tournament_parser(prog).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CommandError as err:
        print(f"gameserver tournament: {err}", file=sys.stderr)
        return 1


def ratings_main(argv: list[str] | None = None, prog: str = "gameserver ratings") -> int:
    """``python -m gameserver ratings``: Elo ratings computed from a store file's history."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Compute the Elo ratings from the finished games in the store file, as "
                    "the dashboard shows them (tournament games count; with --named, also "
                    "every game whose players all have names).")
    parser.add_argument("--store-path", default=config.Settings().store_path)
    parser.add_argument("--game", help="only this game")
    parser.add_argument("--named", action="store_true",
                        help="count every game of named players (the rated_games=named rule)")
    parser.add_argument("--games", type=int, default=100_000,
                        help="newest finished games to count (default %(default)s)")
    args = parser.parse_args(argv)
    from .store import HistoryReader, StoreTakenAway, taken_away
    if not Path(args.store_path).exists():
        taken = taken_away(args.store_path)  # (deleted while a server runs with it?)
        print(f"gameserver ratings: cannot read: {taken}" if taken else
              f"gameserver ratings: no store file {args.store_path} (pass --store-path)",
              file=sys.stderr)
        return 1
    try:
        base, records = HistoryReader(args.store_path).rating_inputs(args.named, args.game,
                                                                     args.games)
    except StoreTakenAway as err:  # (its -wal or -shm deleted while a server runs with it)
        print(f"gameserver ratings: cannot read: {err}", file=sys.stderr)
        return 1
    rated = load_rated(args.store_path)  # the games of deleted tournaments
    for saved in load(args.store_path):
        rated |= rated_games(rebuild(saved))
    tables = ratings.compute(ratings.chronological(records), ratings.rule(rated, args.named),
                             base)
    board = ratings.board(tables)
    if not board:
        print("no rated games yet")
    for game, rows in board.items():
        print(f"{game}:")
        print(f"  {'#':>3}  {'player':24} {'rating':>7} {'games':>6}  won-drawn-lost")
        for place, row in enumerate(rows, 1):
            print(f"  {place:>3}  {printable(row['name'])[:24]:24} {row['rating']:>7.0f} "
                  f"{row['games']:>6}  {row['wins']}-{row['draws']}-{row['losses']}")
    return 0


def _tournament_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Create and run tournaments on a running server (see docs/tournaments.md).")
    _where(parser, after_command=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = commands.add_parser("create", help="create a tournament (open for registration)")
    create.add_argument("name", help="letters, digits, - and _ (players join tournament-NAME)")
    create.add_argument("--game", required=True, help="the game's class name, e.g. TicTacToe")
    create.add_argument("--format", choices=("round-robin", "swiss"), default="round-robin")
    create.add_argument("--best-of", type=int, default=1,
                        help="games per match, seats alternating (default 1)")
    create.add_argument("--rounds", type=int, default=0,
                        help="Swiss: rounds to play (default: enough to find a winner)")
    create.add_argument("--turn-timeout", type=float, default=10.0,
                        help="seconds per move; running out loses the game (default 10)")
    create.add_argument("--game-clock", type=float, default=0.0,
                        help="seconds per player for a whole game (default: no clock)")
    create.add_argument("--start-with", type=int, default=0,
                        help="start by itself once this many have registered (default: "
                             "start it yourself with 'start')")
    create.add_argument("--max-participants", type=int, default=256)
    create.add_argument("--max-moves", type=int, default=MAX_MOVES_DEFAULT,
                        help="moves after which a game that has not ended is a draw "
                             "(default 1000; 0: no limit, only with --game-clock)")
    create.set_defaults(run=_create)
    for action, words in (("start", "close registration and play"),
                          ("cancel", "stop it (running games count for nothing)"),
                          ("delete", "forget a finished or cancelled tournament")):
        sub = commands.add_parser(action, help=words)
        sub.add_argument("name")
        sub.set_defaults(run=_action, action=action)
    listing = commands.add_parser("list", help="every tournament in a line")
    listing.add_argument("--store-path", help="read this store file instead of a running server")
    listing.set_defaults(run=_list)
    show = commands.add_parser("show", help="standings and rounds")
    show.add_argument("name")
    show.add_argument("--store-path", help="read this store file instead of a running server")
    show.set_defaults(run=_show)
    export = commands.add_parser("export", help="standings (or --games: every game) as CSV")
    export.add_argument("name")
    export.add_argument("--games", action="store_true", help="every game instead of standings")
    export.add_argument("--output", "-o", help="write to this file (default: standard output)")
    export.add_argument("--store-path", help="read this store file instead of a running server")
    export.set_defaults(run=_export)
    for command in commands.choices.values():
        _where(command, after_command=True)
    return parser


def _where(parser: argparse.ArgumentParser, after_command: bool) -> None:
    """--config, --url and --token-file, before the command or after it.

    People add the token where they are when the server asks for it, at the end
    (``tournament list --token-file token.txt``), which argparse refused as an
    unrecognized argument. After the command, a flag left out keeps the value given
    before it (``SUPPRESS``: the subcommand sets no default of its own).
    """
    default = argparse.SUPPRESS if after_command else None
    parser.add_argument("--config", metavar="FILE", default=default,
                        help="the server's config file (for its dashboard address and token)")
    parser.add_argument("--url", default=default,
                        help="the dashboard's address (default: from --config, "
                             "else http://127.0.0.1:8080/)")
    parser.add_argument("--token-file", default=default,
                        help="file whose first line is the dashboard's access token")


# ---------------------------------------------------------------- commands


def _create(args: argparse.Namespace) -> None:
    settings = {"name": args.name, "game": args.game, "format": args.format,
                "best_of": args.best_of, "rounds": args.rounds,
                "turn_timeout": args.turn_timeout, "game_clock": args.game_clock,
                "start_with": args.start_with, "max_participants": args.max_participants,
                "max_moves": args.max_moves}
    made = _request(args, "/api/tournaments", settings)
    print(f"tournament {made['name']} created: players join the session "
          f"tournament-{made['name']} of {args.game} with their name")


def _action(args: argparse.Namespace) -> None:
    done = _request(args, f"/api/tournaments/{_quoted(args.name)}/{args.action}", {})
    print(f"tournament {args.name}: {done['state']}")


def _list(args: argparse.Namespace) -> None:
    if args.store_path:
        rows = [_summary(rebuild(saved)) for saved in _saved(args.store_path)]
    else:
        rows = _request(args, "/api/tournaments")["tournaments"]
    if not rows:
        print("no tournaments")
    for row in rows:
        print(f"{row['name']:20} {row['game']:16} {row['format']:12} {row['state']:12} "
              f"{row['participants']:>4} participants")


def _show(args: argparse.Namespace) -> None:
    data = (_tournament(args.store_path, args.name).describe() if args.store_path
            else _request(args, f"/api/tournaments/{_quoted(args.name)}"))
    s = data["settings"]
    print(f"tournament {s['name']}: {s['game']}, {s['format']}, best of {s['best_of']}, "
          f"{s['turn_timeout']:g} s per move"
          + (f", a draw after {s['max_moves']} moves" if s.get("max_moves") else "")
          + f", {data['state']}")
    if data["state"] == "registering":
        names = ", ".join(printable(p["name"]) for p in data["participants"])
        print("registered: " + (names or "nobody"))
        return
    print(f"{'#':>3}  {'participant':24} {'points':>6} {'tiebreak':>8} {'games':>5}  "
          "won-drawn-lost  lost on time / absent")
    for row in data["standings"]:
        gone = " (withdrawn)" if row["withdrawn"] else ""
        print(f"{row['place']:>3}  {printable(row['name'])[:24]:24} {row['points']:>6g} "
              f"{row['tiebreak']:>8g} {row['games']:>5}  {row['wins']}-{row['draws']}-"
              f"{row['losses']:<10} {row['lost_on_time']} / {row['lost_absent']}{gone}")


def _export(args: argparse.Namespace) -> None:
    if args.store_path:
        tournament = _tournament(args.store_path, args.name)
        text = games_csv(tournament) if args.games else standings_csv(tournament)
    else:
        which = "games.csv" if args.games else "standings.csv"
        text = _request(args, f"/api/tournaments/{_quoted(args.name)}/{which}", raw=True)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


# ---------------------------------------------------------------- the store file


def _saved(path: str) -> list[Any]:
    if not Path(path).exists():
        raise CommandError(f"no store file {path}")
    return load(path)


def _tournament(path: str, name: str) -> Tournament:
    for saved in _saved(path):
        if saved.settings.name == name:
            return rebuild(saved)
    raise CommandError(f"there is no tournament {name!r} in {path}")


def _summary(tournament: Tournament) -> dict[str, Any]:
    s = tournament.settings
    return {"name": s.name, "game": s.game, "format": s.format, "state": tournament.state,
            "participants": len(tournament.participants)}


# ---------------------------------------------------------------- the dashboard


def _request(args: argparse.Namespace, path: str, body: dict[str, Any] | None = None,
             raw: bool = False) -> Any:
    """GET (or, with ``body``, POST) ``path`` on the dashboard; its JSON (or text)."""
    base, token = _dashboard(args)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base.rstrip("/") + path, data, headers,
                                     method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:
            text = reply.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        raise CommandError(_refusal(err, bool(token))) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise CommandError(f"cannot reach the dashboard at {base} ({reason}): is the server "
                           "running with its dashboard? (--url, or --config with its file)"
                           ) from None
    return text if raw else json.loads(text)


def _refusal(err: urllib.error.HTTPError, had_token: bool) -> str:
    try:
        message = json.loads(err.read())["error"]
    except (ValueError, KeyError, TypeError):
        message = f"{err.code} {err.reason}"
    if err.code == 403 and not had_token:
        message += (" (only the operator may: start the server with an access token "
                    "(--web-token-file) and give this command the same token)")
    elif err.code == 401:
        message += " (give the dashboard's token: --token-file, or GAMESERVER_WEB_TOKEN)"
    return message


def _dashboard(args: argparse.Namespace) -> tuple[str, str]:
    """The dashboard's address and the access token ("" for none)."""
    settings = config.Settings()
    if args.config:
        config.apply_mapping(settings, config.read_toml(Path(args.config)), args.config)
    url = args.url or f"http://{_host(settings.web_host)}:{settings.web_port}/"
    token = ""
    if args.token_file:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError) as err:
            raise CommandError(f"cannot read the token file {args.token_file}: {err}") from None
    else:
        try:
            config.read_web_token(settings, os.environ)
        except config.ConfigError as err:
            raise CommandError(str(err)) from None
        token = settings.web_token
    return url, token


def _host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _quoted(name: str) -> str:
    return urllib.request.quote(name, safe="")
