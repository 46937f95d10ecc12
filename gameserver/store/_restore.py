"""Bringing saved sessions back at start-up: newest snapshot, then replay of the logged moves.

Each saved session's game is unpickled from its newest snapshot (with the
allow-list of ``_unpickle``) and the moves logged after it are played again
through the game, under guard. Every replayed move's verdict (accepted, the
rejection, or the error) must equal the logged one; if one differs, the game
does not behave the same when played again (it reads the clock, ``secrets``
or other outside state), the session cannot be brought back faithfully, and
it is not restored: the log says which session, which move and both
verdicts. Its clients get ``no such game session`` and start a new one.

A session restored by replay gets a fresh snapshot in the first commit, so
the next start does not replay the same moves again.

Files of the previous format (one pickle of the whole session per row, in
the table ``sessions``) are converted on the first start.
"""

from __future__ import annotations

import json
import logging
import pickle
import sqlite3
from collections.abc import Mapping
from typing import Any

from ..guard import GameCodeError, GameGuard
from ._rows import (
    INSERT_SNAPSHOT,
    ROW_OVERHEAD,
    SAVE_SESSION,
    Live,
    NotSaved,
    Ops,
    Rows,
    _info,
    _json_or_repr,
)
from ._unpickle import Unpickler

log = logging.getLogger("gameserver.store")


class Diverged(Exception):
    """A replayed move did not get the verdict that was logged."""


def load_sessions(db: sqlite3.Connection, rows: Rows, unpickler: Unpickler, guard: GameGuard,
                  games: Mapping[str, type]) -> tuple[list[dict[str, Any]], dict[Any, Live]]:
    """Restore every saved session of a game in ``games``.

    Returns:
        The sessions as ``Session.restore`` takes them, and the store's
        ``Live`` record of each, by (game name, token). Sessions of games not
        served now stay in the file for a later start.
    """
    _convert_old_format(db, rows, unpickler, guard, games)
    sessions, lives, ops = [], {}, Ops()
    for name, token, game_id, info_text, handover_blob in db.execute(
            "SELECT game, token, game_id, info, handover FROM live_sessions").fetchall():
        if name not in games:
            log.error("session %s/%s not restored: the game %s is not loaded", name, token,
                      name)
            continue
        live = Live(name, token, game_id=game_id)
        try:
            data = _restore_one(db, live, json.loads(info_text), handover_blob, unpickler,
                                guard, games[name])
        except Exception as err:  # noqa: BLE001 - diverged, refused, damaged: skip it
            log.error("session %s/%s cannot be restored (%s); it is dropped", name, token, err)
            rows.forget(ops, live)
            continue
        if live.snap_due:  # replayed: save the result, not to replay it again next time
            try:
                rows.snapshot(ops, live, data["game"])
            except NotSaved as err:
                log.warning("session %s/%s: %s (it is restored by replay again)", name,
                            token, err)
        sessions.append(data)
        lives[(name, token)] = live
    _commit(db, ops)
    return sessions, lives


def _restore_one(db: sqlite3.Connection, live: Live, info: dict[str, Any],
                 handover_blob: bytes | None, unpickler: Unpickler, guard: GameGuard,
                 game_class: type) -> dict[str, Any]:
    name = live.game_name
    snap = db.execute("SELECT seq, blob FROM game_snapshots WHERE game_id = ? "
                      "ORDER BY seq DESC LIMIT 1", (live.game_id,)).fetchone()
    if snap is None:
        raise ValueError("its game has no snapshot")
    live.snap_seq, blob = snap
    live.snap_bytes = len(blob)
    game = guard.call(name, "unpickle", unpickler.load, blob)
    if not isinstance(game, game_class):
        raise ValueError(f"the snapshot holds a {type(game).__name__}, not a {name}")
    live.seq = live.snap_seq
    last_move = 0.0
    for seq, player_id, move, verdict, when in db.execute(
            "SELECT seq, player_id, move, verdict, time FROM game_moves "
            "WHERE game_id = ? AND seq > ? ORDER BY seq", (live.game_id, live.snap_seq)):
        if seq != live.seq + 1:
            raise ValueError(f"move {live.seq + 1} of its game is missing from the log")
        again = replay_move(guard, name, game, json.loads(move), player_id)
        if again != verdict:
            raise Diverged(
                f"move {seq} gave {again or 'ok'} when played again, not {verdict or 'ok'} "
                "as logged: the game does not play the same twice (does it read the clock "
                "or use secrets?)")
        live.seq, last_move = seq, when
        live.logged_since += len(move) + len(verdict or "") + ROW_OVERHEAD
    live.snap_due = live.seq > live.snap_seq
    live.ended = _game_over(guard, name, game)
    handover: dict[tuple[int, bool], Any] = {}
    if handover_blob is not None and info["handover"]:
        owed = guard.call(name, "unpickle", unpickler.load, handover_blob)
        handover = {(p, o): owed[(p, o)] for p, o in info["handover"]}
    live.handover = tuple(handover)
    return {
        "format": 2, "game_name": name, "token": live.token, "size": info["size"],
        "auto": info["auto"], "moves": info["moves_before"] + live.seq,
        "games_played": info["games_played"], "history_id": 0, "game_moves": live.seq,
        "players": [tuple(p) for p in info["players"]], "created": info["created"],
        "last_activity": max(info["last_activity"], last_move),
        "game": game, "handover": handover}


def replay_move(guard: GameGuard, name: str, game: Any, move: Any,
                player_id: int) -> str | None:
    """Play ``move`` again; its verdict as logged (None: accepted; JSON text otherwise)."""
    try:
        result = guard.call(name, "move", game.move, move, player_id)
    except GameCodeError as err:
        return _json_or_repr(str(err))
    return None if not result else _json_or_repr(result)


def _game_over(guard: GameGuard, name: str, game: Any) -> bool:
    try:
        return bool(guard.call(name, "game_over", game.game_over))
    except GameCodeError:
        return False


def _commit(db: sqlite3.Connection, ops: Ops) -> None:
    if not ops.items:
        return
    db.execute("BEGIN")
    for sql, many in ops.items:
        db.executemany(sql, many)
    db.execute("COMMIT")


def _convert_old_format(db: sqlite3.Connection, rows: Rows, unpickler: Unpickler,
                        guard: GameGuard, games: Mapping[str, type]) -> None:
    """Rows of the first format (a pickled session each) become session rows and snapshots."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sessions'"
                  ).fetchone() is None:
        return
    ops = Ops()
    converted = 0
    for name, token, blob in db.execute("SELECT game, token, snapshot FROM sessions"):
        if name not in games:
            log.error("session %s/%s (older format) is dropped: the game %s is not loaded",
                      name, token, name)
            continue
        try:
            data = guard.call(name, "unpickle", unpickler.load, blob)
            live = Live(name, token, game_id=data["history_id"] or rows.next_game_id,
                        seq=data["game_moves"], handover=tuple(data["handover"]))
            if not data["history_id"]:
                rows.next_game_id += 1
            game_blob = pickle.dumps(data["game"], pickle.HIGHEST_PROTOCOL)
            handover = (pickle.dumps(data["handover"], pickle.HIGHEST_PROTOCOL)
                        if data["handover"] else None)
        except Exception as err:  # noqa: BLE001 - class gone, refused, damaged, ...
            log.error("session %s/%s (older format) cannot be restored (%s); it is dropped",
                      name, token, err)
            continue
        ops.add(INSERT_SNAPSHOT, (live.game_id, live.seq, game_blob))
        ops.add(SAVE_SESSION, (name, token, live.game_id, _info(data, live), handover))
        converted += 1
    ops.add("DROP TABLE sessions", ())
    _commit(db, ops)
    log.info("converted %d saved session(s) from the older store format", converted)
