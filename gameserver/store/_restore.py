"""Bringing saved sessions back at start-up: newest snapshot, then replay of the logged moves.

Each saved session's game is loaded from its newest snapshot
(``GameType.restore``: allow-listed unpickling, the game's own random
generator included) and the moves logged after it are played again through
the game's checked calls. Every replayed move's verdict (accepted, the
rejection, or the error) must equal the logged one. If one differs, the game
does not play the same twice (it reads the clock, ``secrets`` or some other
outside state), the session cannot be brought back faithfully, and it is
not restored: the log names the session, the move and both verdicts, and
its clients get ``no such game session`` and start a new one. (Restoring it
as of its last snapshot would show the players a game that went back in
time without a word.) So is a session of a size its game no longer takes:
its file changed ``min_players()`` or ``max_players()`` since.

A session restored by replay gets a fresh snapshot in the same start, so
the next start does not replay the same moves again.

A game that runs in a worker process is restored and replayed there, never
in the server (``RemoteGameType.restore``); the load returns while that
runs. If a move diverges there, the lobby drops the session, the log says
why as above, and a client already waiting on it gets that reason. Its
fresh snapshot is taken at its next change.

Files of the first format (one pickle of the whole session per row, in the
table ``sessions``) are converted at the first start: each row is loaded
with the allow-list, brought back by ``Session.restore`` (which still reads
that format) and written as a session row and a snapshot.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .. import replaying
from .._timeouts import ForfeitedGame
from .._unpickle import Unpickler
from ..checked import CheckedGame, GameType
from ..session import NOT_LOADED, Session
from ._rows import (
    INSERT_GAME,
    INSERT_SNAPSHOT,
    ROW_OVERHEAD,
    SAVE_SESSION,
    SESSION_INFO,
    Live,
    Ops,
    Rows,
    first_views,
    session_row,
)

log = logging.getLogger("gameserver.store")


class Diverged(Exception):
    """A replayed move did not get the verdict that was logged."""


def load_sessions(db: sqlite3.Connection, rows: Rows, game_types: Mapping[str, GameType]
                  ) -> tuple[list[dict[str, Any]], dict[tuple[str, str], Live]]:
    """Restore every saved session of a game in ``game_types``.

    Returns:
        The sessions as ``Session.restore`` takes them (``"game"`` is the
        ``CheckedGame``, replayed), and the store's
        ``Live`` record of each, by (game name, token). Sessions of games not
        served now stay in the file for a later start.
    """
    _convert_first_format(db, rows, game_types)
    sessions, lives, ops = [], {}, Ops()
    row_infos: list[dict[str, Any]] = []  # each session's row, as read
    current = {(name, token): rest for name, token, *rest in db.execute(
        # The newest wins: a rewrite after a long outage may leave an older row flagged.
        "SELECT game, session, id, seed, views, info, bytes, ended FROM games "
        "WHERE current = 1 ORDER BY id")}
    for name, token, info_text in db.execute(
            "SELECT game, token, info FROM live_sessions").fetchall():
        if name not in game_types:
            log.error(NOT_LOADED, name, token, name, name)
            continue
        game_id, seed, views, game_info, stored, ended = current.get(
            (name, token), (0, None, None, "{}", None, None))
        live = Live(name, token, game_id=game_id)
        try:
            if not game_id:
                raise ValueError("the row of its current game is missing")
            row_info = json.loads(info_text)
            info = {**row_info, **json.loads(game_info)}
            data = _restore_one(db, live, info, game_types[name], seed, views, ended)
        except Exception as err:  # noqa: BLE001 - diverged, refused, damaged: skip it
            log.error("session %s/%s cannot be restored (%s); it is dropped", name, token, err)
            rows.forget(ops, live)
            continue
        rows.restored(live, stored)
        if live.snap_due and not game_types[name].remote:
            # Replayed: save the result, not to replay it again next time. (A game in a
            # worker is still being replayed there: it is saved at its next change.)
            rows.snapshot(ops, live, data["game"])
        sessions.append(data)
        lives[(name, token)] = live
        row_infos.append(row_info)
    _leave_out_downtime(db, ops, sessions, row_infos)
    _commit(db, ops)
    return sessions, lives


def _leave_out_downtime(db: sqlite3.Connection, ops: Ops, sessions: list[dict[str, Any]],
                        row_infos: list[dict[str, Any]]) -> None:
    """The time the server was down is nobody's inactivity: each restored session's last
    activity moves forward by it, in ``sessions`` and in its row (``ops``), so that a
    later restart does not count it again. What a session was idle before the stop
    still counts (``Lobby.tick``): one abandoned before the stop is not kept alive by it.

    When the server stopped: the time its last clean stop wrote (``Store.close``), or,
    after a crash, the newest change the file holds (a move, a game's end), which is no
    later than the crash: the time between them counts as downtime too.
    """
    known = [data["last_activity"] for data in sessions]
    for sql in ("SELECT at FROM server_stops",
                "SELECT ended FROM games WHERE ended IS NOT NULL ORDER BY ended DESC LIMIT 1"):
        row = db.execute(sql).fetchone()
        if row is not None:
            known.append(row[0])
    down = time.time() - max(known, default=time.time())
    if down <= 0:
        return  # (nothing restored; or the clock went back: nothing to leave out)
    for data, row_info in zip(sessions, row_infos, strict=True):
        data["last_activity"] += down
        row_info["last_activity"] = data["last_activity"]
        ops.add(SESSION_INFO, (json.dumps(row_info), data["game_name"], data["token"]), 512)


def _restore_one(db: sqlite3.Connection, live: Live, info: dict[str, Any],
                 game_type: GameType, seed: str | None, views: int | None,
                 ended: float | None) -> dict[str, Any]:
    size, players = info["size"], info["players"]
    if type(size) is not int or type(players) is not list or not 1 <= len(players) <= size:
        raise ValueError(f"its row is damaged: {len(players) if type(players) is list else '?'} "
                         f"players for {size!r} seats")
    problem = game_type.count_problem(size)
    if problem:  # min_players() or max_players() changed since: it would play on outside
        raise ValueError(f"its game's player range changed since it was saved: {problem}")
    snap = db.execute("SELECT seq, accepted, blob FROM game_snapshots WHERE game_id = ? "
                      "ORDER BY seq DESC LIMIT 1", (live.game_id,)).fetchone()
    blob = None
    if snap is not None:
        live.snap_seq, live.accepted, blob = snap
    elif seed is None:
        raise ValueError("its game has neither a snapshot nor a seed")
    live.seq, live.snap_bytes = live.snap_seq, len(blob or b"")
    moves = _LoggedMoves(db, live)
    game = saved_game(game_type, size, blob, seed, views, moves)
    live.snap_due = live.seq > live.snap_seq
    if info.get("forfeit"):  # the framework ended it: players ran out of time (timers.py)
        game = ForfeitedGame(game, info["forfeit"]["players"], info["forfeit"]["reason"])
    # Its end as recorded, first: a game in a worker is still being replayed there, and
    # says it is not over (a finished game restarted after the restore was then
    # dropped from the history as one restarted before its end). Without the history,
    # no end is recorded: the game says.
    live.ended = ended is not None or game.game_over()
    live.owed = tuple((p, observer) for p, observer in info["owed"])
    return {
        "format": 2, "game_name": live.game_name, "token": live.token, "size": size,
        "auto": info["auto"], "moves": info["moves_before"] + live.seq,
        "accepted_moves": info["accepted_before"] + live.accepted,
        "games_played": info["games_played"], "history_id": live.game_id,
        "game_moves": live.seq,
        "players": [tuple(p) for p in info["players"]], "created": info["created"],
        "last_activity": max(info["last_activity"], moves.last_time),
        "game": game,
        "final": info["final"], "owed": info["owed"]}


class _LoggedMoves:
    """The moves logged after the newest snapshot, read as they are replayed.

    Each one read advances ``live`` (its count, accepted moves, bytes
    logged since the snapshot); ``last_time`` is when the last one read was made.
    """

    def __init__(self, db: sqlite3.Connection, live: Live) -> None:
        self.live = live
        self.last_time = 0.0
        self._rows = db.execute("SELECT seq, player_id, move, verdict, time FROM game_moves "
                                "WHERE game_id = ? AND seq > ? ORDER BY seq",
                                (live.game_id, live.snap_seq))

    def __iter__(self) -> Iterator[replaying.LoggedMove]:
        live = self.live
        for seq, player_id, move, verdict, when in self._rows:
            if seq != live.seq + 1:
                raise ValueError(f"move {live.seq + 1} of its game is missing from the log")
            live.seq, self.last_time = seq, when
            live.accepted += verdict is None
            live.logged_since += len(move) + len(verdict or "") + ROW_OVERHEAD
            yield seq, player_id, json.loads(move), verdict


def saved_game(game_type: GameType, size: int, blob: bytes | None, seed: str | None,
               views: int | None,
               moves: Iterable[replaying.LoggedMove] = ()) -> CheckedGame:
    """The game a snapshot row holds (unpickled, or made again from its seed), then ``moves``.

    ``moves`` (number, player id, move, verdict as logged) are played again
    and each must get its logged verdict. A game in a worker process is
    restored (or made again from its seed; ``views`` is then the worker's
    checksum of its start) and replayed there: the returned game is still
    being built (``pending``), and a divergence fails that build with the
    same message.

    Raises:
        Diverged: made again, it does not show what it showed at first, or a
            move got another verdict.
        GameCodeError: it cannot be loaded or made.
    """
    if game_type.remote:  # made or replayed in the worker: a divergence fails the build
        if blob is not None:
            return game_type.restore(blob, size, list(moves))
        if seed is None or views is None:
            raise ValueError("its game runs in a worker process and has no saved copy")
        return game_type.remake(size, int(seed), views, list(moves))  # type: ignore[attr-defined]
    if blob is not None:
        game = game_type.restore(blob, size)
    else:
        game = game_type.new_game(size, int(seed or 0))
        if zlib.crc32(first_views(game, size).encode()) != views:
            raise Diverged(replaying.STARTS_DIFFERENTLY)
    problem = replaying.replay(game, moves)
    if problem:
        raise Diverged(problem)
    return game


def _commit(db: sqlite3.Connection, ops: Ops) -> None:
    if not ops.items:
        return
    db.execute("BEGIN")
    for sql, many in ops.items:
        db.executemany(sql, many)
    db.execute("COMMIT")


def _convert_first_format(db: sqlite3.Connection, rows: Rows,
                          game_types: Mapping[str, GameType]) -> None:
    """Rows of the first format (a pickled session each) become session rows and snapshots."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sessions'"
                  ).fetchone() is None:
        return
    ops = Ops()
    converted = 0
    for name, token, blob in db.execute("SELECT game, token, snapshot FROM sessions"):
        game_type = game_types.get(name)
        if game_type is None:
            log.error("session %s/%s (first format) is dropped: the game %s is not loaded",
                      name, token, name)
            continue
        try:
            data = game_type.call("unpickle", Unpickler([game_type.game_class]).load, blob)
            session = Session.restore(data, game_type)
            snapshot = session.snapshot()
        except Exception as err:  # noqa: BLE001 - class gone, refused, damaged, ...
            log.error("session %s/%s (first format) cannot be restored (%s); it is dropped",
                      name, token, err)
            continue
        # Its game goes on from here; its earlier moves stay in the old history tables.
        live = Live(name, token, game_id=rows.next_game_id, seq=snapshot["game_moves"],
                    snap_seq=snapshot["game_moves"])
        rows.next_game_id += 1
        ops.add(SAVE_SESSION, (name, token, session_row(session)))
        ops.add(INSERT_GAME, (live.game_id, name, token,
                              json.dumps([p[0] for p in snapshot["players"]]), time.time(),
                              "[]", None, None, rows.game_info(live, session), None))
        ops.add(INSERT_SNAPSHOT, (live.game_id, live.seq, 0, snapshot["game"]))
        converted += 1
    ops.add("DROP TABLE sessions", ())
    _commit(db, ops)
    log.info("converted %d saved session(s) from the first store format", converted)
