"""Games in worker processes, behind the same methods as in-process games.

``RemoteGameType`` and ``RemoteGame`` implement ``GameType`` and
``CheckedGame`` (``gameserver.checked``) for a game that runs in a worker
process (``gameserver.workers``). Only what changes the game goes to the
worker — a new game, a restored one, a move — and returns a ``Call`` whose
answer comes later. The reply brings along what the server needs until the
next change (the *mirror*): whose turn it is, whether the game is over,
each player's state reply as ready-made bytes (within a size budget), and
the saved game. A ``state`` request is then answered from the mirror with
no round trip; a state that was not sent along (too large, or a variant
nobody asked for before, such as with ``legal_moves``) is fetched once and
sent along with every later change.

A new game is made from a seed the server chooses and is saved as that
seed, as a game in the server's process is: made again from it, it must
show its players what it showed at first (the worker checks a checksum of
its start; a game of more than ``START_VIEWS_MAX`` players, whose checksum
would ask that many states, is saved as a copy from the start instead). The
worker sends a saved copy of the game
(``CheckedGame.snapshot()``) every ``SAVE_EVERY`` moves, not with every
move: pickling the game and carrying the copy cost a TicTacToe move about a
quarter of its time in the worker. The server keeps the moves played since
the seed or the copy (``_since``), and counts both with its worker
(``Worker.keep``: at most ``workers.KEPT_MAX`` bytes for all its games, and
``workers.KEPT_TOTAL_MAX`` for those of every worker; a
game that would pass that ends, saying so); a game whose worker is replaced comes
back from them with those moves played again (the same rule as the
store's, in ``gameserver.replaying``). A move that fails in the game always comes with
a copy, so a move that broke halfway is never played again, and so does a
move the store cannot log as JSON; the store asks for a copy with the next
move when it wants one (``save_soon``).

A restored game is *built* by its restore and the replay of the moves
logged since (``gameserver.replaying``, in slices): until the last slice
answers, the mirror stays empty (no turn, no states: a client waits), and
only the saved copy after each slice is kept, to come back from if the
worker is replaced in between.

``placement.plan`` decides, from the settings, which games the server imports itself
(trusted: the bundled ones) and which sources run in workers;
``Isolation`` starts the workers and makes their game types.

(About 1,060 lines on purpose: ``RemoteGame``'s building, mirror, saved copy or seed,
fetches and loss share every field of one object; ``FetchedViews`` bounds what its
fetches keep; ``_checked`` is the one check of the states its players get, made
when a state is first read: ``_mirrored``.)
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _channel, _sandbox, protocol, registry, replaying, workers
from ._json import decode_json, may_be_infinite, scan_json
from ._randomness import new_seed
from ._soon import Soon
from ._stand_in import stand_in
from .checked import Call, CheckedGame, GameType, ViewPending, range_problem
from .guard import GameCodeError, GameGuard
from .workers import KeptBytes, Request, Source, Worker, WorkerSettings

log = logging.getLogger("gameserver.isolated")

View = tuple[int, bool]
SAVE_EVERY = 16  # moves between two saved copies sent along by the worker ...
SINCE_BYTES_MAX = 256 * 1024  # ... and at most this many bytes of moves kept since the last
TEXT_MAX = 64 * 1024  # characters kept of a catalog's description, documentation or error
# A rejection as JSON from a worker: its game's cut to ERROR_MAX characters (``checked.
# bounded_rejection``), each written as up to 12 (an escaped surrogate pair), and a note.
REJECTION_TEXT_MAX = 12 * _channel.ERROR_MAX + 200
# A timeout hook's move as JSON from a worker: as large as a client's move may be by default
# (``request_size_max``). Larger, it is not decoded: a reply may hold 24 MB of JSON, which
# the server would decode on its loop (``[{}, {}, ...]``: half a gigabyte, seconds).
TIMEOUT_MOVE_TEXT_MAX = 1_000_000
_OK_PREFIX = protocol.OK_HEAD + b"{"  # a state reply: its data is a dict
_DATA_AT = protocol.OK_HEAD_SIZE  # ... which begins here
# Bytes of a state reply up to which ``_checked`` decodes it: all that a change sends along
# (``MIRROR_MAX`` in all, ``worker.Host._mirror``); a larger one is fetched when asked.
VIEW_DECODED_MAX = _channel.MIRROR_MAX
# Bytes of the large states fetched from workers that the server keeps, for all of its
# games together (``FetchedViews``): a worker makes a 16 MB state for nothing ("x" * ...).
FETCHED_MAX = 256 * 1024 * 1024


def _view_shape(data: Any, legal_moves: bool) -> bool:
    """Whether ``data``, a state reply's data decoded, has the shape a worker's own
    ``CheckedGame.view`` gives it: a dict with a list under "current" and a bool under
    "gameover", and with ``legal_moves`` a list of move dicts (or None) under
    "legal_moves". A hostile game's worker may send ``{"status": "ok", "data": {}, "data":
    5, "x": {}}`` (a second "data" wins) or leave keys out: the server's own uses of a view
    (the turn timer, a forfeit, the dashboard, a tournament's result) failed with an
    internal error, and its players got what ``PROTOCOL.md`` does not allow
    (``_checked``)."""
    if (type(data) is not dict or type(data.get("current")) is not list
            or type(data.get("gameover")) is not bool):
        return False
    if not legal_moves:
        return True
    moves = data.get("legal_moves", 0)
    return moves is None or (type(moves) is list and all(type(m) is dict for m in moves))


# Bytes a decoded state takes per item (``decoded_size``): 16 MB of ``[{}, {}, ...`` take
# 415 MB decoded (an empty dict and its place in the list: 74 bytes), of ``[0, 0, ...`` 94 MB.
_DECODED_ITEM = 80


def decoded_size(reply: bytes) -> int:
    """About as many bytes as ``reply`` (a state reply) takes decoded, or more: its length
    and ``_DECODED_ITEM`` per comma (an item of a list or dict after the first)."""
    return len(reply) + _DECODED_ITEM * reply.count(b",")


class _Fetched:
    """One large state a game keeps (``FetchedViews``): its game (weakly), view and size;
    ``copy_only``: only the decoded copy of a state that comes along with changes (the
    state itself is counted with them: ``MIRROR_MAX``)."""

    __slots__ = ("game", "key", "size", "copy_only")

    def __init__(self, game: RemoteGame, key: View, size: int, copy_only: bool = False) -> None:
        self.game = weakref.ref(game)
        self.key = key
        self.size = size
        self.copy_only = copy_only


class FetchedViews:
    """The large states fetched from worker processes that the server keeps, in all.

    A state not sent along with changes (over ``MIRROR_MAX // 2``) is fetched
    when a client asks for it and kept by its game until the game's next change
    (for the player's observers, its hand-over at a restart, the dashboard).
    A worker makes such a state for nothing (``"x" * 16_000_000``), and each
    player of each session of its game has two (with and without legal
    moves): a client that asked them, then hung up without reading, made the
    server keep 16 MB each (200 one-player sessions from one address: 6.4
    GB). Together they are kept up to ``FETCHED_MAX`` bytes, with their
    decoded copies (for the dashboard, the turn timer: counted by
    ``decoded_size``, as a worker may make 16 MB that decode to 415 MB); past
    that the oldest are dropped, and fetched again if asked (the newest is
    kept however large). The session keeps no second reference
    (``Session._keep_reply``), so a dropped one is freed.

    The decoded copies of the small states, those sent along with every change
    (``MIRROR_MAX`` in all per game), are counted here too, alone, and dropped
    the same way (the state itself stays: decoded again if asked): a game's
    64 KB of ``[{}, {}, ...`` decode to about 1.7 MB, which every session the
    dashboard or a turn timer looked at kept uncounted until its next change
    (until 2026-12-01).
    """

    __slots__ = ("total", "_kept")

    def __init__(self) -> None:
        self.total = 0
        self._kept: OrderedDict[_Fetched, None] = OrderedDict()

    def keep(self, game: RemoteGame, key: View, size: int, copy_only: bool = False,
             ) -> _Fetched:
        """Count a state of ``size`` bytes that ``game`` now keeps for ``key`` (``copy_only``:
        only its decoded copy); drop the oldest kept while all take more than
        ``FETCHED_MAX``."""
        kept = _Fetched(game, key, 0, copy_only)
        self._kept[kept] = None
        self.grow(kept, size)
        return kept

    def grow(self, kept: _Fetched, size: int) -> None:
        """``kept``, still kept, now takes ``size`` bytes more (its decoded copy) and is
        the newest; drop the oldest others while all take more than ``FETCHED_MAX``."""
        self._kept.move_to_end(kept)
        kept.size += size
        self.total += size
        while self.total > FETCHED_MAX and len(self._kept) > 1:
            oldest = next(iter(self._kept))
            self.release(oldest)
            owner = oldest.game()
            if owner is not None:
                owner.drop_fetched(oldest)

    def release(self, kept: _Fetched) -> None:
        """``kept`` is kept no more (its game changed, or it was dropped)."""
        if kept in self._kept:
            del self._kept[kept]
            self.total -= kept.size


class Isolation:
    """The worker processes of one server, one per source.

    Args:
        settings: the limits every worker gets.
        guard: the server's guard (its error count includes worker failures).
    """

    def __init__(self, settings: WorkerSettings, guard: GameGuard) -> None:
        self.settings = settings
        self.guard = guard
        self.workers: list[Worker] = []
        self.fetched = FetchedViews()  # the large states their games keep, in all

    async def load(self, sources: list[Source], soon: Soon | None = None,
                   ) -> list[RemoteGameType]:
        """Start a worker per source; the game types they offer, in source order.

        A source that cannot be loaded is logged and skipped, like a broken
        game file in-process. ``soon``: the server's ``call_soon`` (see ``Worker``).
        """
        loop = asyncio.get_running_loop()
        everyone = KeptBytes()  # the saved games kept for all of them
        workers = [Worker(source, self.settings, loop, self.guard, soon, everyone)
                   for source in sources]
        catalogs = await asyncio.gather(*(worker.start() for worker in workers),
                                        return_exceptions=True)
        game_types: list[RemoteGameType] = []
        reported = False
        for worker, catalog in zip(workers, catalogs, strict=True):
            if not reported and worker.sandbox is not None:
                reported = True
                self._report(*worker.sandbox, sources)
            if isinstance(catalog, BaseException):
                log.error("game file skipped: %s: %s", worker.label, catalog)
                worker.close()
                continue
            entries = catalog[1]
            if not entries:
                worker.close()
                continue
            offered = [RemoteGameType(worker, entry, self.fetched) for entry in entries
                       if _entry_checked(worker, entry)]
            if offered:
                worker.on_catalog = functools.partial(
                    _recatalogued, worker, {game_type.name: game_type for game_type in offered})
                self.workers.append(worker)
                game_types += offered
            else:
                worker.close()
        return game_types

    def _report(self, abi: int, problems: list[str], sources: list[Source]) -> None:
        """Say once, at start-up, how far games are confined (never silently unsafe).

        ``abi`` and ``problems`` are what the first worker reported, before it
        imported its game file (whose code could rewrite a report sent after). The
        ABI is taken no higher than this kernel offers all the same.
        """
        offered = _sandbox.landlock_abi()
        if abi > offered:
            problems = [*problems, f"a worker reported Landlock ABI {abi}, but this kernel "
                                   f"offers {offered or 'none'}: a game may have rewritten the "
                                   "report; the kernel's answer is taken"]
            abi = offered
        for problem in problems:
            log.warning("game workers: %s", problem)
        if abi:
            log.info("game workers: sandboxed with Landlock ABI %d: games may read only "
                     "their own folder and Python's files, and write nowhere", abi)
            folders = {str(Path(where).parent) for kind, where in sources if kind == "file"}
            readable = [*folders, *_sandbox.python_paths()]
            for secret in self.settings.secrets:
                inside = [p for p in readable if _within(secret, p)]
                if inside:
                    log.warning("game workers can read %s, because it is inside %s; move it "
                                "elsewhere", secret, inside[0])
        else:
            log.warning("game workers are not sandboxed: a game can read every file the "
                        "server's user can read (the store with the players' keys, the TLS "
                        "key, the config), write where that user can, and signal the server; "
                        "run untrusted games only on Linux 5.13+ with Landlock (6.12+ for "
                        "signals), see docs/reliability.md")

    def retain(self, game_types: list[GameType]) -> None:
        """Stop the workers none of ``game_types`` runs in (games left out by the settings)."""
        used = {id(t.worker) for t in game_types if isinstance(t, RemoteGameType)}
        for worker in self.workers:
            if id(worker) not in used:
                worker.close()
        self.workers = [worker for worker in self.workers if id(worker) in used]

    def flush_drops(self) -> None:
        """Let every worker drop the games of the ended sessions (``Worker.flush_drops``)."""
        for worker in self.workers:
            worker.flush_drops()

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


def _entry_checked(worker: Worker, entry: tuple[Any, ...]) -> bool:
    """Whether a catalog entry's name and player range keep the rules of every game; if
    not, the game is refused as in-process (``registry.usable``): one log line says why
    and where.

    The worker checked them already, unless its game patched that check away.
    """
    problem = registry.name_problem(entry[0])
    if problem:
        log.error("game skipped: %s: %s", worker.label, problem)
        return False
    problem = range_problem(entry[1], entry[2])
    if problem:
        log.error("game %s skipped: %s: %s", entry[0], worker.label, problem)
    return not problem


def _recatalogued(worker: Worker, offered: dict[str, RemoteGameType],
                  catalog: tuple[Any, ...]) -> None:
    """A replacement worker imported its file again: a player range that changed there
    (the file was edited while the server ran) is the game's range from now on.

    Without it the server went on checking new sessions against the range the
    file had at start-up, while the worker built their games with the edited
    class: a tournament (always two players) kept starting games of a game
    that is now played by three, which a restart of the server then dropped
    (``store._restore``). New joins and the tournaments' next games are
    checked against the new range (``GameType.count_problem``); sessions
    already made play on. Only the ranges are taken; a game gone from the
    file fails in the worker, with its own message, and is ``unavailable`` (a
    tournament of it is then held, not voided game after game) until a later
    replacement finds it again.
    """
    defined = {entry[0] for entry in catalog[1]}
    for name, game_type in offered.items():
        gone = None if name in defined else "its file no longer defines it"
        if gone != game_type.gone:
            log.error("game %s: %s: %s", name, worker.label,
                      gone or "its file defines it again: it can be played again")
            game_type.gone = gone
    for entry in catalog[1]:
        game_type = offered.get(entry[0])
        if game_type is None or not _entry_checked(worker, entry):
            continue
        now, before = (entry[1], entry[2]), game_type.player_range()
        if now != before:
            log.warning("game %s: %s: its file now says %d to %d players (it said %d to %d): "
                        "new sessions are checked against that", game_type.name, worker.label,
                        *now, *before)
            game_type._range = now


def _cut(text: str) -> str:
    if len(text) <= TEXT_MAX:
        return text
    return f"{text[:TEXT_MAX]} ... (cut: {len(text)} characters, more than {TEXT_MAX})"


def _within(path: str, folder: str) -> bool:
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except OSError:
        return False


class RemoteGameType(GameType):
    """A game class that lives in a worker process (see ``GameType``).

    Its player range and texts come from the worker's catalog, so asking
    for them costs nothing. ``game_class`` stands in for the real class for
    code that looks at classes (the dashboard: hidden information, a
    renderer next to the game's file); it has no game methods.
    """

    remote = True  # its snapshots are opaque here: only a worker may unpickle them
    plain_states = True  # decoded from the worker's JSON

    def __init__(self, worker: Worker, entry: tuple[Any, ...], fetched: FetchedViews) -> None:
        name, low, high, description, documentation, error, hidden, moves = entry
        self.name = name
        self.guard = worker.guard
        self.hidden_information = hidden
        self.worker = worker
        self.fetched = fetched  # the large states fetched for the games of every worker
        self.source = worker.label
        self.game_class = stand_in(worker.source, name, hidden, documentation, moves)
        self._random_slots = ()
        self.gone: str | None = None  # its replacement worker's file lacks it (``_recatalogued``)
        self._range = (low, high)  # known: ``GameType.player_range`` only returns it
        # They go out with every discovery reply: a worker could claim megabytes.
        self._texts = (_cut(description or ""), _cut(documentation or ""),
                       None if error is None else _cut(error))

    @property
    def unavailable(self) -> str | None:  # type: ignore[override]
        return self.worker.broken or self.gone

    def description(self) -> str:
        if self._texts[2] is not None:
            raise GameCodeError(self._texts[2])
        return self._texts[0]

    def documentation(self) -> str:
        if self._texts[2] is not None:
            raise GameCodeError(self._texts[2])
        return self._texts[1]

    def new_game(self, players: int, seed: int | None = None) -> RemoteGame:
        """A game being built in the worker: its ``pending`` call ends when it is ready.

        It is made from a seed chosen here (unless given) and saved as that
        seed, as a game in the server's process is: the worker sends no copy
        of it until its ``SAVE_EVERY``-th move.
        """
        if seed is None:
            seed = new_seed()
        game = RemoteGame(self, players, seed)
        game.build(("new", game.gid, self.name, players, seed), "__init__")
        return game

    def remake(self, players: int, seed: int, start: int,
               moves: list[replaying.LoggedMove] | None = None) -> RemoteGame:
        """A game being made again in the worker from its seed, then ``moves`` replayed.

        ``start`` is the checksum of its start the worker sent when it first
        made it (``RemoteGame.saved_start``); a game that starts differently
        fails its build, as one whose moves get other verdicts does.
        """
        game = RemoteGame(self, players, seed, start)
        game.build(("remake", game.gid, self.name, players, seed, start), "__init__",
                   moves or [])
        return game

    def restore(self, blob: bytes, players: int | None = None,
                moves: list[replaying.LoggedMove] | None = None) -> RemoteGame:
        """A game being restored in the worker from ``CheckedGame.snapshot()``.

        ``moves`` (number, player id, move, verdict as the store logged it)
        are then played again there, in slices; the first that gets another
        verdict ends the build with an error saying so (``store._restore``).
        """
        game = RemoteGame(self, players or 0)
        game.build(("restore", game.gid, self.name, blob), "unpickle", moves or [])
        return game


class RemoteGame(CheckedGame):
    """A game in a worker process: questions answered from the mirror, changes by ``Call``.

    ``move`` returns a ``Call``; ``view_reply`` returns one for a state not
    in the mirror. A game whose worker failed without a saved copy of it is
    *lost*: every method raises the reason, and ``when_lost`` callbacks hear it.
    """

    __slots__ = ("gid", "_worker", "_build", "_turn", "_ended", "_views", "_unread",
                 "_verdict", "_decoded",
                 "_fetches", "_large", "_wanted", "_wanted_sent", "_players", "_start", "_blob",
                 "_since", "_since_bytes", "_save_next", "_moves", "_lost", "_on_lost",
                 "_timeout_moves", "__weakref__")

    type: RemoteGameType

    def __init__(self, game_type: RemoteGameType, players: int, seed: int | None = None,
                 start: int | None = None) -> None:
        super().__init__(game_type, None, None, seed)
        self._worker = worker = game_type.worker
        self.gid = worker.new_id()
        self._build: Call | None = Call()
        self._turn: list[int] | str = []
        self._ended: bool | str = False
        self._views: dict[View, bytes | str] = {}  # the states checked (``_mirrored``) ...
        self._unread: dict[View, bytes | str] = {}  # ... and those sent along, not yet
        # The last state checked: its bytes, with legal moves or not, and the verdict.
        self._verdict: tuple[bytes | str, bool, bytes | str] | None = None
        self._decoded: dict[View, dict[str, Any]] = {}
        self._fetches: dict[View, Call] = {}
        self._large: dict[View, _Fetched] = {}  # the large states fetched, and the decoded
        # copies of the others, as counted (``FetchedViews``)
        # The states sent along with changes: a join may ask for a million players.
        self._wanted = [(p, False) for p in range(min(players, _channel.START_VIEWS_MAX))]
        # How many of them the worker knows: a move sends the list only when it grew (None:
        # as before; -1: not known, as after a restore, which the requests queued before
        # it may follow with shorter lists).
        self._wanted_sent = -1
        self._players = players
        # Made from ``seed``: the checksum of its start, which a remake must match (the
        # worker sends it with the new game), and then the game is saved as its seed.
        self._start = start
        self._blob: bytes | None = None  # the last saved copy ...
        # ... (or None: the seed) and the moves played since (None: they cannot be
        # played again, nothing to come back from)
        self._since: list[replaying.LoggedMove] | None = None
        self._since_bytes = 0
        self._save_next = False  # the next move brings a copy (the store wants one)
        self._moves = 0  # moves played, to number the ones kept
        self._timeout_moves: dict[int, dict[str, Any] | None | str] = {}  # str: its error
        self._lost: str | None = None
        self._on_lost: Callable[[], Callable[[CheckedGame, str], None] | None] | None = None
        weakref.finalize(self, worker.forget, self.gid)

    @property
    def instance(self) -> Any:
        raise GameCodeError(f"framework: game {self.type.name} runs in a worker process: "
                            "its object is not in the server")

    @property
    def pending(self) -> Call | None:
        return self._build

    def when_lost(self, callback: Callable[[CheckedGame, str], None]) -> None:
        """``callback(game, reason)`` if the game is lost; held weakly if a bound method.

        Its object must allow weak references (a Session does): held strongly, it
        would keep its owner alive in a cycle with this game, and the worker's copy
        with it, until the garbage collector, which the server runs rarely, broke it.
        """
        if isinstance(callback, types.MethodType):
            self._on_lost = weakref.WeakMethod(callback)  # TypeError: see above
        else:
            self._on_lost = lambda: callback

    # ------------------------------------------------------------ building

    def build(self, message: tuple[Any, ...], method: str,
              moves: list[replaying.LoggedMove] | None = None) -> None:
        """Send a new, remade or restored game's request, then its ``moves`` to replay in
        slices; a slice may take the time limit per move in it. A failure in any ends the
        build."""
        parts = [(message, method, 0.0, [])] + [
            (("replay", self.gid, part), "move", self._worker.settings.time_limit * len(part),
             part) for part in replaying.slices(moves or [])]
        for i, (request, name, limit, replayed) in enumerate(parts):
            last = i == len(parts) - 1  # only its reply shows the game: states, turn, end
            answer = self._built if last else self._part_built
            if last:
                self._wanted_sent = len(self._wanted)
            self._worker.send(Request(
                _channel.encode((*request, self._wanted if last else [])), name,
                functools.partial(answer, replayed=replayed) if replayed else answer,
                self._not_built, game=self, builds=True, limit=limit, retries=1 if i else 0))

    def restore_request(self) -> Request | None:
        """The request that brings the game back in a new worker; None with nothing to
        come back from (no copy, and no seed with the checksum of its start).

        From the last copy, or made again from its seed (``remake``, which
        then sends a copy), with the moves since played again in the same
        request (which may take the time limit once per move). During a
        replay, from the copy or seed after the last slice answered, with the
        moves replayed since that brought no copy: the slices not answered
        yet are sent again after it, the last one ends the build.
        """
        if self._lost is not None or self._since is None:
            return None
        building = self._build is not None
        moves = self._since  # during a build: those replayed that brought no copy
        wanted = [] if building else self._wanted
        self._wanted_sent = -1  # (see ``__init__``)
        if self._blob is not None:
            message: tuple[Any, ...] = ("restore", self.gid, self.type.name, self._blob,
                                        wanted, moves)
        elif self.seed is not None and self._start is not None:
            # With a copy even without moves: a move that failed with the worker is logged
            # by the store, which must save the game with it (see ``workers._restore_later``).
            message = ("remake", self.gid, self.type.name, self._players, self.seed,
                       self._start, wanted, moves, True)
        else:
            return None
        return Request(_channel.encode(message), "unpickle" if self._blob else "__init__",
                       self._part_built if building else self._built, self._not_built,
                       game=self, builds=True,
                       limit=self._worker.settings.time_limit * (1 + len(moves)))

    def _part_built(self, reply: tuple[Any, ...],
                    replayed: list[replaying.LoggedMove] | None = None) -> None:
        """A part of a replay but the last ended: keep only what it brings to come back
        from (``_built_copy``).

        Whose turn it is and the states wait for the last part, so that
        nobody sees, or times, a game replayed halfway; a failure of the
        worker meanwhile brings the game back from this copy.
        """
        if self._build is None:  # an earlier part failed: the build has ended
            return
        if reply[0] is not None:
            self._not_built(reply[0])
            return
        self._built_copy(reply, replayed)
        if not self._counted():
            return
        self._worker.games[self.gid] = self

    def _built(self, reply: tuple[Any, ...],
               replayed: list[replaying.LoggedMove] | None = None) -> None:
        if self._lost is not None:  # the build failed in an earlier part
            return
        error = reply[0]
        if error is not None:
            self._not_built(error)
            return
        self._mirror(reply)
        self._built_copy(reply, replayed)
        if not self._counted():
            return
        self._worker.games[self.gid] = self
        build, self._build = self._build, None
        if build is not None:
            build.finish()

    def _built_copy(self, reply: tuple[Any, ...],
                    replayed: list[replaying.LoggedMove] | None = None) -> None:
        """Keep what a build's reply brings to come back from.

        A saved copy if it brings one. Else, for a game made from a seed: a
        new game's reply brings the checksum of its start (kept, with no
        moves since; a checksum that is not one leaves the game nothing to
        come back from), a remake's first reply starts the moves since
        afresh, and a later slice of moves replayed without a copy (the game
        cannot be pickled: ``replayed``) is added to the moves since the seed
        or last copy, within ``SINCE_BYTES_MAX``. A restored game (no seed)
        without a copy has nothing to come back from.
        """
        if reply[5] is not None or self.seed is None:
            self._kept(reply[5], asked=True)
        elif self._start is None:  # a new game
            start = reply[1]
            # From a worker a hostile game may control: "²" is a digit to isdigit(), not to int().
            if type(start) is str and len(start) <= 10 and start.isascii() and start.isdigit():
                self._start = int(start)
                self._blob, self._since, self._since_bytes = None, [], 0
            else:
                self._kept(None, asked=True)
        elif self._since is None:  # a remake's first reply
            self._blob, self._since, self._since_bytes = None, [], 0
        elif replayed:  # a slice replayed after it, with no copy (it cannot be pickled)
            size = sum(len(repr(move)) for move in replayed)
            if self._since_bytes + size > SINCE_BYTES_MAX:
                self._kept(None, asked=True)
            else:
                self._since += replayed
                self._since_bytes += size

    def _not_built(self, message: str) -> None:
        build, self._build = self._build, None
        if build is None:  # a restore in a new worker after a failure
            self.lose(message)
        else:
            self._lost = self._turn = self._ended = message
            self._worker.games.pop(self.gid, None)  # registered once part of it was replayed
            self._worker.keep(self.gid, 0)
            build.finish(error=message)

    def _counted(self) -> bool:
        """Count what the game keeps to come back from with its worker's games (``Worker.
        keep``). False if that would take them past ``workers.KEPT_MAX``: the game ends
        (its session with it), saying so."""
        size = ((len(self._blob) if self._blob is not None else 0)
                + (self._since_bytes if self._since is not None else 0))
        if self._worker.keep(self.gid, size):
            return True
        log.warning("game file %s: a session of %s ended: its saved game (%d KB) would take "
                    "what the server keeps of the file's games past %d MB, or of all game "
                    "files past %d MB", self._worker.label, self.type.name, size // 1024,
                    workers.KEPT_MAX // _channel.MB, workers.KEPT_TOTAL_MAX // _channel.MB)
        self._not_built(
            f"framework: game {self.type.name}: this session ended: the server keeps at most "
            f"{workers.KEPT_MAX // _channel.MB} MB of saved games (each game's copy and the "
            "moves since) for all sessions of this game's file, and "
            f"{workers.KEPT_TOTAL_MAX // _channel.MB} MB for those of all game files, and "
            f"this game's {size // 1024} KB would have passed that; start a new session (the "
            "other sessions keep playing)")
        return False

    def lose(self, reason: str | None = None) -> str:
        """The game is gone (its worker failed and it had no saved copy); tell who listens."""
        if self._lost is None:
            self._lost = reason or (
                f"framework: game {self.type.name}: the game was lost when its worker process "
                "failed: it had no saved copy to come back from (it is too large or cannot "
                "be pickled); start a new session")
            self._turn = self._ended = self._lost
            self._views, self._unread, self._decoded, self._verdict = {}, {}, {}, None
            self._release_large()
            self._worker.keep(self.gid, 0)  # no longer counted: it comes back no more
            fetches, self._fetches = self._fetches, {}
            for call in fetches.values():
                call.finish(error=self._lost)
            callback = self._on_lost() if self._on_lost is not None else None
            if callback is not None:
                callback(self, self._lost)
        return self._lost

    # ------------------------------------------------------------ changes

    def move(self, move: dict[str, Any], player_id: int) -> Call:
        """Send the move: the ``Call`` ends with the rejection (None: accepted) or the error."""
        if self._lost is not None:
            raise GameCodeError(self._lost)
        call = Call()
        since = self._since
        save = self._save_next or since is None or len(since) >= SAVE_EVERY - 1
        wanted: list[View] | None = self._wanted
        if len(wanted) == self._wanted_sent:  # the worker has them (pickled: 2,000
            wanted = None  # machine instructions here, as many there, for two views)
        else:
            self._wanted_sent = len(wanted)
        frame = _channel.encode(("move", self.gid, move, player_id, wanted, save))
        if not save and self._since_bytes + len(frame) > SINCE_BYTES_MAX:
            # Kept, it would take the moves since the copy past their bound (and a
            # restore's message, copy and moves, towards the channel's).
            save = True
            frame = _channel.encode(("move", self.gid, move, player_id, wanted, save))
        # Partials, not lambdas: no Python frame between the reply and ``_moved``.
        self._worker.send(Request(frame, "move", functools.partial(
            self._moved, call, player_id, move, save, len(frame)),
            functools.partial(call.finish, None), game=self))
        return call

    def _moved(self, call: Call, player_id: int, move: dict[str, Any], save: bool, size: int,
               reply: tuple[Any, ...]) -> None:
        if self._lost is not None:  # its restore failed after the move was sent: not played
            call.finish(error=self._lost)
            return
        error, text = reply[0], reply[1]
        rejection = None
        self._mirror(reply)  # accepted, rejected or failed, the game may have changed
        if text is not None and len(text) > REJECTION_TEXT_MAX:  # its worker's bound lifted
            error = self.type_error("move", f"sent a rejection of {len(text)} characters "
                                    f"from its worker, which cuts one at "
                                    f"{_channel.ERROR_MAX}").args[0]
            text = None
        elif text is not None:
            try:  # (as requests are: NaN, Infinity and 1e999 are no JSON to send on)
                rejection = decode_json(text)
            except (ValueError, RecursionError):  # from a worker a hostile game may control
                error = self.type_error("move", "sent a rejection that is not JSON").args[0]
        self._moves += 1
        logged = (self._moves, player_id, move, text)
        self._kept(reply[5], asked=save or error is not None, logged=logged,
                   size=size + len(text or ""))
        if not self._counted():
            rejection, error = None, self._lost
        call.finish(rejection, error)

    def _mirror(self, reply: tuple[Any, ...]) -> None:
        current, over = reply[2], reply[3]
        self._turn = [] if current is None else current
        self._ended = False if over is None else over
        # In the order of the states asked for (a prefix of ``_wanted``, which only grows);
        # None: not sent along. Each is checked when it is first read (``_mirrored``), not
        # here: most are never read before the next change (a player who does not ask, an
        # RL agent's opponent). What bounds the checks' work is counted here: at most
        # ``MIRROR_MAX`` bytes of distinct states per change (the players of a game often
        # see the same bytes: TicTacToe's both), a state past it refused at once.
        unread = {}
        last: Any = None
        room = _channel.MIRROR_MAX
        for key, view in zip(self._wanted, reply[4], strict=False):
            if view is not None:
                if view != last and type(view) is bytes:
                    last = view
                    room -= len(view)
                    if room < 0:
                        view = self._malformed()
                unread[key] = view
        self._unread = unread
        if self._views:
            self._views = {}
        if self._decoded:
            self._decoded = {}
        if self._large:
            self._release_large()
        if self._timeout_moves:
            self._timeout_moves = {}

    def _kept(self, snapshot: bytes | None, asked: bool,
              logged: replaying.LoggedMove | None = None, size: int = 0) -> None:
        """Keep the copy a change brought, or the move to play again after the last copy.

        A change that was to bring a copy and did not (the game cannot be
        pickled, or is too large) leaves the game without one until a later
        copy: lost if its worker fails meanwhile.
        """
        if snapshot is not None:
            self._blob, self._since, self._since_bytes = snapshot, [], 0
            self._save_next = False
        elif asked or self._since is None or logged is None:
            self._blob = self._since = None
        else:
            self._since.append(logged)
            self._since_bytes += size

    # ------------------------------------------------------------ the saved copy

    def save_soon(self) -> None:
        """Have the next move bring a saved copy (the store wants one; see ``snapshot``)."""
        self._save_next = True

    def saved_copy(self) -> tuple[bytes, list[replaying.LoggedMove]]:
        """The last saved copy and the moves played since; only where ``copy_is_behind``
        and the game is not saved as its seed (``saved_start``)."""
        assert self._blob is not None and self._since is not None
        return self._blob, list(self._since)

    def saved_start(self) -> tuple[int, int, list[replaying.LoggedMove]] | None:
        """The game as saved by its seed: the seed, the checksum of its start (see
        ``RemoteGameType.remake``) and the moves played since; None if it has a copy
        (or nothing to come back from)."""
        if (self._blob is not None or self._since is None or self.seed is None
                or self._start is None):
            return None
        return self.seed, self._start, list(self._since)

    @property
    def copy_is_behind(self) -> bool:
        """Whether ``snapshot`` would fail for want of a fresh copy: moves were played
        since the last, or the game has none yet (it is saved as its seed)."""
        return bool(self._since) or (self._blob is None and self._since is not None)

    def _mirrored(self, key: View) -> bytes | str | None:
        """The state reply at ``key`` in the mirror, checked (``_checked``), or the error
        that replaces it; None if the mirror has none.

        A state sent along is checked when first read, once per change; the verdict on
        the last one checked is kept, so players who see the same bytes, and a state
        unchanged by a move, are not checked again.
        """
        view = self._views.get(key)
        if view is None:
            view = self._unread.pop(key, None)
            if view is not None:
                verdict = self._verdict
                # (a state that passed with legal moves passes without them)
                if (verdict is not None and verdict[0] == view
                        and (verdict[1] is key[1] or (verdict[1] and verdict[2] is verdict[0]))):
                    view = verdict[2]
                else:
                    checked = self._checked(view, key[1])
                    self._verdict, view = (view, key[1], checked), checked
                self._views[key] = view
        return view

    def _checked(self, view: bytes | str, legal_moves: bool) -> bytes | str:
        """A state reply from the worker if it is one, as ``PROTOCOL.md`` has it; else the
        error that replaces it.

        It goes to the game's players as it is, and a hostile game controls its worker
        (it may write the pipe itself). Refused: a reply of more than
        ``VIEW_DECODED_MAX`` bytes (``_mirror`` refuses those past ``MIRROR_MAX`` in all
        for a change), and one that is not ``{"status": "ok", "data": ...}`` in UTF-8
        JSON (no NaN) with a view's data (``_view_shape``; ``legal_moves``: with them),
        checked by decoding it: about 60 bytecodes a state read. A number beyond the float
        range (``1e999``, valid JSON) is refused too: the quick decoding reads it as
        infinity, which the players got while the store and the dashboard, which decode
        it as requests are, logged the encoder's error for the same state (until stop
        49); a text that may hold one (``may_be_infinite``: a translate and three
        searches in C) is decoded again, the way that refuses it. A larger one (fetched)
        is checked by ``_checked_large``.
        """
        if type(view) is str:  # the error that replaces it
            return _channel.cut(view)  # type: ignore[no-any-return]
        if view.startswith(_OK_PREFIX) and view.endswith(b"}}") and len(view) <= VIEW_DECODED_MAX:
            try:
                text = view.decode()  # (strict: no lone surrogate; the head is ASCII)
                data, end = scan_json(text, _DATA_AT)
            except (StopIteration, ValueError, RecursionError):
                return self._malformed()
            # One value, then only the envelope's "}" (no copy of the data cut out first).
            if end == len(text) - 1 and _view_shape(data, legal_moves):
                if may_be_infinite(view):  # (read again, refusing what is infinite)
                    try:
                        decode_json(text)
                    except (ValueError, RecursionError) as err:
                        return self._malformed(f": {err}")
                return view
        return self._malformed()

    def _checked_large(self, view: bytes | str, legal_moves: bool) -> bytes | str:
        """``_checked`` for a fetched state reply, up to ``STATE_MAX``: one of more than
        ``VIEW_DECODED_MAX`` bytes is checked by its first and last bytes and as ASCII (all
        a worker's encoder writes) only, not decoded: 16 MB of ``[[], [], ...`` took the
        server's loop 1.7 s and 400 MB, as often as clients asked. (Not for a number
        beyond the float range either: looking for one took 0.1 s to 0.5 s of 16 MB.)"""
        if type(view) is str or len(view) <= VIEW_DECODED_MAX:
            return self._checked(view, legal_moves)
        # ``0 in``, not ``b"\0" in``: Python 3.11 tries a bytes operand as an int first.
        if (view.startswith(_OK_PREFIX) and view.endswith(b"}}") and len(view) <= _channel.
                STATE_MAX and view.isascii() and 0 not in view):
            return view
        return self._malformed()

    def _malformed(self, why: str = "") -> str:
        """The error for a state reply from the worker that is no state reply; ``why``
        ends it (a number beyond the float range: it would reach the players as
        infinity, and the store and dashboard, which refuse it, with an error)."""
        error = self.type_error("state", "came back malformed from the worker" + why)
        return error.args[0]  # type: ignore[no-any-return]

    # ------------------------------------------------------------ questions

    def game_over(self) -> bool:
        ended = self._ended
        if type(ended) is str:
            raise GameCodeError(ended)
        return ended  # type: ignore[return-value]

    def current(self) -> list[int]:
        turn = self._turn
        if type(turn) is str:
            raise GameCodeError(turn)
        return turn  # type: ignore[return-value]

    def view_reply(self, player_id: int, legal_moves: bool = False) -> bytes | Call:  # type: ignore[override]
        """The state reply from the mirror; a ``Call`` if it must be fetched first."""
        view = self._mirrored((player_id, legal_moves))
        if view is None:
            if self._lost is not None:
                raise GameCodeError(self._lost)
            return self._build or self._fetch((player_id, legal_moves))
        if type(view) is str:
            raise GameCodeError(view)
        return view  # type: ignore[return-value]

    def view(self, player_id: int, legal_moves: bool = False) -> dict[str, Any]:
        """The state as a dict (for the store's history and the dashboard)."""
        key = (player_id, legal_moves)
        decoded = self._decoded.get(key)
        if decoded is None:
            reply = self.view_reply(player_id, legal_moves)
            if isinstance(reply, Call):
                raise ViewPending(self.type_error("state", f"of player {player_id} is not known "
                                                  "yet (it is being fetched from the worker "
                                                  "process)").args[0])
            try:
                # Decoded as json.loads decodes bytes that start with "{" (``_checked``),
                # without its Python detection of the encoding.
                decoded = json.loads(reply.decode("utf-8", "surrogatepass"))["data"]
            except (ValueError, KeyError, TypeError, RecursionError):
                decoded = None
            if not _view_shape(decoded, legal_moves):
                raise self.type_error("state", "came back malformed from the worker")
            large = self._large.get(key)
            if large is not None:  # counted with its bytes (``FetchedViews``), and as newest
                self.type.fetched.grow(large, decoded_size(reply))
            else:  # a mirrored state's copy: counted alone (``FetchedViews``, ``_Fetched``)
                self._large[key] = self.type.fetched.keep(self, key, decoded_size(reply),
                                                          copy_only=True)
            self._decoded[key] = decoded
        return dict(decoded)  # type: ignore[arg-type]

    def view_text(self, player_id: int) -> str | None:
        """The JSON text of ``player_id``'s view (without legal moves) as the mirror's
        state reply carries it, for the store (``Session.view_text``); None where the
        mirror has no such reply, or its text is not JSON the store can log (no NaN,
        no lone surrogate): the store then asks ``view``, whose error it logs.

        The worker's checksum of a game's start is made of these same texts.
        """
        reply = self._mirrored((player_id, False))
        if type(reply) is not bytes:
            return None
        try:
            text = protocol.ok_data(reply)
            decode_json(text)  # from a worker a hostile game may control
        except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
            return None
        return text

    def state(self, player_id: int) -> dict[str, Any]:
        data = self.view(player_id)
        del data["current"], data["gameover"]
        return data

    def legal_moves(self, player_id: int) -> list[dict[str, Any]] | None:
        return self.view(player_id, legal_moves=True).get("legal_moves")  # type: ignore[no-any-return]

    def timeout_move(self, player_id: int) -> dict[str, Any] | None | Call:  # type: ignore[override]
        """The game's move for ``player_id``, out of time; a ``Call`` while the worker is asked.

        Asked once per player and change: the answer is kept until the game
        changes again (``_mirror``), when the timer asks again.
        """
        if self._lost is not None:
            raise GameCodeError(self._lost)
        answer = self._timeout_moves.get(player_id)
        if isinstance(answer, str):
            raise GameCodeError(answer)
        if player_id in self._timeout_moves:
            return answer
        call = Call()

        def answered(reply: tuple[Any, ...]) -> None:
            error, text = reply[0], reply[1]
            move = None
            if text is not None and len(text) > TIMEOUT_MOVE_TEXT_MAX:
                error = error or self.type_error(
                    "timeout_move", f"sent a move of {len(text)} characters from its worker, "
                    f"more than the {TIMEOUT_MOVE_TEXT_MAX} a move may have").args[0]
            elif text is not None:
                try:
                    move = decode_json(text)
                except (ValueError, RecursionError):
                    pass
            if error is None and move is not None and not isinstance(move, dict):
                error = self.type_error("timeout_move", "must return a move dict or None").args[0]
            self._timeout_moves[player_id] = error if error is not None else move
            call.finish()

        message = ("timeout_move", self.gid, player_id)
        self._worker.send(Request(_channel.encode(message), "timeout_move", answered,
                                  lambda error: answered((error, None)), game=self))
        return call

    def private_data(self, player_id: int) -> list[Any]:
        raise self.type_error("private_data", "is not available for games in worker processes")

    def snapshot(self) -> bytes:
        """The saved game sent along with the last change.

        Raises:
            GameCodeError: there is none (see the server log), none yet (a
                new game is saved as its seed), or moves were played since it
                was taken (``copy_is_behind``: ask with ``save_soon``).
        """
        since = self._since
        if self._blob is None and since is not None:
            raise self.type_error("pickle", "was not asked for yet: the game is saved as its "
                                  f"seed and the {len(since)} moves since")
        if self._blob is None:
            raise self.type_error("pickle", "failed, or made more than "
                                  f"{_channel.SNAPSHOT_MAX // 1024} KB (see the server log)")
        if since:
            raise self.type_error("pickle", f"was last sent {len(since)} moves ago")
        return self._blob

    # ------------------------------------------------------------ fetching

    def want(self, player_id: int, legal_moves: bool) -> None:
        """Have the worker send this view along with every change from now on, starting
        with the next (a move with state shows it: ``Session.move``). At most
        ``_channel.VIEWS_MAX`` views: a reply carries one state (or None) per view asked
        for, and one with more is refused as malformed; the others are fetched when asked."""
        wanted = self._wanted
        if (player_id, legal_moves) not in wanted and len(wanted) < _channel.VIEWS_MAX:
            wanted.append((player_id, legal_moves))

    def _fetch(self, key: View) -> Call:
        call = self._fetches.get(key)
        if call is None:
            call = self._fetches[key] = Call()
            message = ("view", self.gid, key[0], key[1])
            self._worker.send(Request(_channel.encode(message), "state",
                                      lambda reply: self._fetched(key, call, reply[4]),
                                      lambda error: self._fetched(key, call, [error]),
                                      game=self))
        return call

    def _fetched(self, key: View, call: Call, views: list[bytes | str | None]) -> None:
        if self._fetches.get(key) is call:
            del self._fetches[key]
        if self._lost is not None:  # (``view_reply`` says so)
            call.finish()
            return
        view = views[0] if views else None
        kept = self._views[key] = (
            self.type_error("state", "did not come back from the worker").args[0]
            if view is None else self._checked_large(view, key[1]))
        if len(kept) <= _channel.MIRROR_MAX // 2:
            self.want(*key)  # asked for once: sent along with every change
        elif type(kept) is bytes:  # kept until the next change, within FETCHED_MAX in all
            before = self._large.pop(key, None)
            if before is not None:
                self.type.fetched.release(before)
            self._large[key] = self.type.fetched.keep(self, key, len(kept))
        call.finish()

    def drop_fetched(self, kept: _Fetched) -> None:
        """Forget the large state ``kept`` (``FetchedViews`` needs the room): it is
        fetched again if asked."""
        if self._large.get(kept.key) is kept:
            del self._large[kept.key]
            if not kept.copy_only:  # (a mirrored state stays: it costs no round trip)
                self._views.pop(kept.key, None)
            self._decoded.pop(kept.key, None)

    def _release_large(self) -> None:
        fetched = self.type.fetched
        for kept in self._large.values():
            fetched.release(kept)
        self._large = {}
