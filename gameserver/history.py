"""``python -m gameserver history``: list finished games, or print one game's moves.

    python -m gameserver history                  # the 20 most recent games
    python -m gameserver history --game Nim       # only Nim
    python -m gameserver history 42               # every move of game 42

Reads the store file the server writes (``--store-path``, default
``gameserver.sqlite3``), read-only; the server may keep running meanwhile.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from .config import Settings
from .results import display_name, outcome, printable
from .store import HistoryReader, StoreTakenAway, taken_away

# What SQLite says of a file that is not a database of its own, or one it cannot make
# sense of: only then is the file's kind in question (a locked or unreadable file is not).
NOT_OURS = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT", "SQLITE_ERROR"})


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _players(record: dict[str, Any]) -> str:
    return ", ".join(display_name(name, i) for i, name in enumerate(record["players"]))


def _moves(record: dict[str, Any]) -> str:
    """'1 move', '9 moves (2 rejected)': the count, never the moves themselves."""
    count = record["moves"]
    rejected = sum(1 for step in record["steps"] if step["rejection"] is not None)
    text = f"{count} move" + ("" if count == 1 else "s")
    return text + (f" ({rejected} rejected)" if rejected else "")


def _result(record: dict[str, Any]) -> str:
    """The outcome in words, exactly as the dashboard's history says it."""
    return str(outcome(record)["text"])


def list_games(store: HistoryReader, game: str | None, limit: int) -> None:
    records = store.finished_games(game, limit)
    if not records:
        print("no finished games yet" + (f" of {game}" if game else ""))
        return
    print(f"{'id':>6}  {'ended':19}  {'game':14} {'session':14} {'moves':>5}  "
          "players / result")
    for r in records:  # names and session names are the players': printable() (escapes)
        print(printable(f"{r['id']:>6}  {_when(r['ended'])}  {r['game'][:14]:14} "
                        f"{r['session'][:14]:14} {r['moves']:>5}  {_players(r)}: "
                        f"{_result(r)}"))


def show_game(store: HistoryReader, game_id: int, prog: str = "gameserver history") -> bool:
    record = store.finished_game(game_id)
    if record is None:
        print(f"no finished game with id {game_id} (list them with: {prog})", file=sys.stderr)
        return False
    duration = record["ended"] - record["started"]
    print(printable(f"game {record['id']}: {record['game']} in session {record['session']}, "
                    f"{_players(record)}"))
    print(printable(f"started {_when(record['started'])}, took {duration:.1f} s, "
                    f"{_moves(record)}, {_result(record)}"))
    for move in record["steps"]:
        verdict = ("" if move["rejection"] is None
                   else f"   rejected: {json.dumps(move['rejection'])}")
        print(f"{move['seq']:>4}. player {move['player_id']}: {json.dumps(move['move'])}"
              f"{verdict}")
    if record.get("moves_note"):
        print(f"({record['moves_note']})")
    print("final state (player 0): " + json.dumps(record["final_states"][0]
                                                   if record["final_states"] else None))
    return True


def main(argv: list[str] | None = None, prog: str = "gameserver history") -> int:
    parser = argparse.ArgumentParser(prog=prog,
                                     description="List finished games or show one of them.")
    parser.add_argument("game_id", nargs="?", type=int, help="show the moves of this game")
    parser.add_argument("--store-path", default=Settings().store_path,
                        help="the server's store file (default: %(default)s)")
    parser.add_argument("--game", help="list only games of this name")
    parser.add_argument("--limit", type=int, default=20, help="games to list (default 20)")
    args = parser.parse_args(argv)
    if not Path(args.store_path).exists():
        taken = taken_away(args.store_path)  # (deleted while a server runs with it?)
        if taken is not None:
            print(f"cannot read: {taken}", file=sys.stderr)
            return 1
        print(f"no store file {args.store_path}: start the server first (it creates the "
              "file), or pass --store-path", file=sys.stderr)
        return 1
    store = HistoryReader(args.store_path)
    try:
        if args.game_id is not None:
            return 0 if show_game(store, args.game_id, prog) else 1
        list_games(store, args.game, args.limit)
        return 0
    except StoreTakenAway as err:
        print(f"cannot read: {err}", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as err:
        # (Not SQLite's file, or a damaged one: the question; else what it said.)
        question = (": is it a store file of this server?"
                    if getattr(err, "sqlite_errorname", "") in NOT_OURS else "")
        print(f"cannot read the store file {args.store_path} ({err}){question}",
              file=sys.stderr)
        return 1
    finally:
        store.close()
