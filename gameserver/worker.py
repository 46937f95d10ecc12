"""A worker process: runs the games of one source file for the server (the child side).

The server (``gameserver.workers``) starts it as a fresh interpreter
(``python -I -c ...``): it shares none of the server's memory (no keys) and
inherits no file descriptor but its standard streams (not the listening
socket, not the store). It moves its stdin and stdout, the pipes to the
server, to private descriptors at once; fd 0 then reads nothing and fd 1
writes where stderr does, to a pipe the server logs within bounds
(``_output``), so a game's ``print`` shows in the server's log.

Its life: read the hello (what to load, the limits); confine itself
(``_sandbox.confine``: limits, seccomp, Landlock) and report how (before any game
code runs, which could rewrite the report); only then import the game file,
so that even the file's module code runs confined; send the catalog (each
game class with its player range and documentation); then serve one
request at a time until the pipe closes. The messages are described in
``gameserver.workers``.

A change (a new game, a restored one, a move) is answered together with
what the server needs until the next change: whose turn it is, whether the
game is over, the states clients are expected to ask for (``wanted``), and,
where the server asks for it, the saved game (``CheckedGame.snapshot()``),
so that a state request costs the server no round trip and the game
survives the loss of this process. A new game is made from a seed the
server chose and comes with a checksum of its start instead of a copy
(``remake`` makes it again and checks that checksum); the server asks for a
saved copy every few moves (``isolated.SAVE_EVERY``) and keeps the moves
since, which a restore or remake plays again; a move that fails, or that is
not JSON, is always answered with a copy.

Every game method runs under a ``GameGuard`` without watchdog: the server
enforces the time limit by sending SIGINT (SIGUSR1 for a call it saw blocked, in a
``time.sleep``), which raises ``GameCallTimeout`` inside the game call running at
the time (and is ignored when it arrives between calls), and kills the worker if
that does not help. After each
request the worker checks that the game left no thread or child process
behind; if it did, it says so and the server replaces it.

(About 460 lines on purpose: ``Host``'s requests share its games, the states
too large to send along and the copies that failed.)
"""

from __future__ import annotations

import _thread
import importlib
import logging
import os
import signal
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _channel, _reply, _sandbox, registry, replaying
from .checked import CheckedGame, GameType, json_problem
from .game import AbstractGame, has_hidden_information, lists_legal_moves
from .guard import WAITED, GameCallTimeout, GameCodeError, GameGuard
from .protocol import encode_json, ok_data

MIRROR_MAX, STATE_MAX = _channel.MIRROR_MAX, _channel.STATE_MAX
_monotonic = time.monotonic
# The server's interrupt for a call it saw blocked, not running (``workers``), where it has one.
_WAITED_SIGNAL = getattr(signal, "SIGUSR1", None)
log = logging.getLogger("gameserver.worker")

View = tuple[int, bool]
SNAPSHOT_RETRY = 15  # changes without a snapshot after one failed


class ForwardingHandler(logging.Handler):
    """Keeps log records until the next reply carries them to the server (bounded)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[int, str, str]] = []
        self.dropped = 0
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) >= _channel.LOG_RECORDS_MAX:
            self.dropped += 1
            return
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 - a game's broken log call
            text = str(record.msg)
        self.records.append((record.levelno, record.name, text[:_channel.LOG_TEXT_MAX]))

    def take(self) -> list[tuple[int, str, str]]:
        records, self.records = self.records, []
        if self.dropped:
            records.append((logging.WARNING, "gameserver.worker",
                            f"{self.dropped} more log records of the game were dropped"))
            self.dropped = 0
        return records


class Host:
    """The games of one source, served one request at a time.

    Args:
        hello: the server's first message (see ``gameserver.workers``).
    """

    def __init__(self, hello: dict[str, Any], channel_out: int) -> None:
        self.channel_out = channel_out
        self.time_limit: float = hello["time_limit"]
        self.guard = GameGuard(self.time_limit, watchdog=False)
        self.types: dict[str, GameType] = {}
        self.games: dict[int, CheckedGame] = {}
        self.unsaved: dict[int, int] = {}  # games whose snapshot failed: changes until a retry
        self.big: dict[int, set[View]] = {}  # states too large to send along: sent when asked
        self.wanted: dict[int, list[View]] = {}  # the states each game sends along (its last
        # request's: a move says None when they are the same)
        self.started = 0.0  # when the request being served arrived
        self.retire = False  # the CPU limit's warning came
        self.logs = ForwardingHandler()
        self.operations: dict[str, Callable[..., tuple[Any, ...]]] = {
            "new": self._new, "remake": self._remake, "restore": self._restore,
            "move": self._move, "view": self._view, "timeout_move": self._timeout_move,
            "replay": self._replay}

    # ------------------------------------------------------------ start

    def load(self, source: tuple[str, str]) -> list[tuple[Any, ...]]:
        """Import the source; one catalog entry per usable game class."""
        kind, where = source
        try:
            classes = (registry.load_file(Path(where)) if kind == "file"
                       else _module_classes(where))
        except registry.GameLoadError as err:
            log.error("game file skipped: %s", err)
            return []
        leftovers = _leftovers()
        if leftovers is not None:  # every request would fail: better not offer the file
            log.error("game file skipped: %s: importing it %s", where, leftovers)
            return []
        entries = []
        for game_class in classes:
            game_type = GameType(game_class.__name__, game_class, self.guard)
            self.types[game_type.name] = game_type
            low, high = game_type.player_range()
            try:
                texts: tuple[str | None, ...] = (game_type.description(),
                                                 game_type.documentation(), None)
            except GameCodeError as err:
                texts = (None, None, str(err))
            entries.append((game_type.name, low, high, *texts,
                            has_hidden_information(game_class), lists_legal_moves(game_class)))
        return entries

    def on_interrupt(self, signum: int, frame: Any) -> None:
        """SIGINT from the server: the request ran too long; stop the game call running now.

        First tells the server which method that is (in case the game
        swallows the interruption and the server must kill us). Ignored
        between game calls, and by a request that has not run half the
        limit (an interrupt meant for the request before it).
        """
        method = self.guard.method
        if method is not None and time.monotonic() - self.started >= self.time_limit / 2:
            _write(self.channel_out, _channel.encode(("note", method)))
            if signum == _WAITED_SIGNAL:  # the server saw the call blocked (``workers``)
                raise GameCallTimeout(WAITED)
            raise GameCallTimeout

    def on_cpu_limit(self, signum: int, frame: Any) -> None:
        self.retire = True

    # ------------------------------------------------------------ requests

    def handle(self, message: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """Serve one request; its reply (None: no reply is due)."""
        self.started = _monotonic()
        op = message[0]
        gid = message[1]
        if op == "drop":
            self.games.pop(gid, None)
            self.unsaved.pop(gid, None)
            self.big.pop(gid, None)
            self.wanted.pop(gid, None)
            return None
        if gid not in self.games and op in ("move", "view", "timeout_move"):
            # Its restore here failed; the server sent this before it heard so.
            return ("framework: the game is gone from its worker process", None, None, None,
                    [], None, None, self.retire, self.logs.take())
        try:
            if op == "move" and len(message) == 6:  # (the usual request: a call, not ``*``)
                reply = self._move(gid, message[2], message[3], message[4], message[5])
            else:
                reply = self.operations[op](gid, *message[2:])
        except Exception as err:  # noqa: BLE001 - out of memory outside a game call, ...
            # This process can no longer vouch for the game: it asks to be replaced, and
            # the server brings the game back from its copy, as it was before the request.
            log.exception("worker: %s failed", op)
            return (None, None, None, None, [], None,
                    f"failed in its worker process, outside the game's code "
                    f"({type(err).__name__})", self.retire, self.logs.take())
        return reply + (_leftovers(), self.retire, self.logs.take())

    def _new(self, gid: int, name: str, players: int, seed: int, wanted: list[View],
             save: bool = False, checked: bool = False) -> tuple[Any, ...]:
        """A new game, made from the ``seed`` the server chose. It comes with no saved copy
        (unless ``save``): it is saved as that seed, and the reply's result is the
        checksum of its start (``_start_checksum``), which a ``remake`` checks. With more
        than ``START_VIEWS_MAX`` players (a join may ask a million) it comes with a copy
        instead, unless ``checked`` (a remake): the checksum asks every player's state."""
        copied = players > _channel.START_VIEWS_MAX and not checked
        reply = self._built(gid, name, lambda game_type: game_type.new_game(players, seed),
                            wanted, save=save or copied)
        if reply[0] is not None or copied:
            return reply
        checksum = self._start_checksum(self.games[gid], players,
                                        dict(zip(wanted, reply[4], strict=False)))
        return (None, str(checksum), *reply[2:])

    def _remake(self, gid: int, name: str, players: int, seed: int, checksum: int,
                wanted: list[View], moves: list[replaying.LoggedMove] | None = None,
                save: bool = False) -> tuple[Any, ...]:
        """Make a game again from its seed, check that it starts as it did, then play
        again the ``moves`` made since (a copy of the game comes with the reply then,
        and without moves if ``save``: the server brings the game back after a
        failure, and the store may need a copy to save a failed move with)."""
        reply = self._new(gid, name, players, seed, wanted if not moves else [],
                          save=save and not moves, checked=True)
        if reply[0] is not None:
            return reply
        if reply[1] != str(checksum):
            del self.games[gid]
            return (f"framework: game {name}: {replaying.STARTS_DIFFERENTLY}", None, None,
                    None, [], None)
        if not moves:
            return reply
        return self._replay(gid, moves, wanted)

    def _start_checksum(self, game: CheckedGame, players: int,
                        views: dict[View, bytes | str | None]) -> int:
        """A checksum of what each player sees of a new game (errors included).

        Computed here both when the game is first made and when it is made
        again, from the same state replies, so that it says whether the game
        starts the same twice; ``views``: the replies the mirror made already (None:
        not made, too large to send along).
        It is the store's for a game in the server's process (the CRC-32 of
        ``store._rows.first_views``), so that a game saved by one comes back
        in the other (a server restarted with another ``isolate_games``).
        """
        texts = []
        for player_id in range(players):
            view = views.get((player_id, False))
            if view is None:
                view = self._view_of(game, player_id, False)[0]
            texts.append(ok_data(view) if type(view) is bytes
                         else encode_json({"error": view}))
        return zlib.crc32(f"[{', '.join(texts)}]".encode())

    def _restore(self, gid: int, name: str, blob: bytes, wanted: list[View],
                 moves: list[replaying.LoggedMove] | None = None) -> tuple[Any, ...]:
        """Load a saved copy, then play again the ``moves`` made since it was taken."""
        reply = self._built(gid, name, lambda game_type: game_type.restore(blob),
                            wanted if not moves else [])
        if reply[0] is not None or not moves:
            return reply
        return self._replay(gid, moves, wanted)

    def _built(self, gid: int, name: str, build: Any, wanted: list[View], save: bool = True,
               ) -> tuple[Any, ...]:
        game_type = self.types.get(name)
        if game_type is None:
            return (f"framework: game {name}: the game's file no longer defines it", None,
                    None, None, [], None)
        try:
            game = build(game_type)
        except GameCodeError as err:
            return (str(err), None, None, None, [], None)
        self.games[gid] = game
        return (None, None, *self._mirror(gid, game, wanted, save=save))

    def _move(self, gid: int, move: dict[str, Any], player_id: int,
              wanted: list[View] | None, save: bool = True) -> tuple[Any, ...]:
        """Play a move; a saved copy comes along if ``save``, if the move failed (a move
        that failed halfway could not be played again faithfully), or if the store
        cannot log it as JSON (a number too large, read as infinity: it logs the
        move's repr, which cannot be played again either)."""
        game = self.games[gid]
        error = rejection = None
        if not save and not _flat_json(move):
            try:
                encode_json(move)  # before the game can change it
            except (TypeError, ValueError):
                save = True
        try:
            result = game.move(move, player_id)  # a rejection it returns is JSON (checked)
            rejection = None if result is None else encode_json(result)
        except GameCodeError as err:
            error = str(err)
        return (error, rejection) + self._mirror(
            gid, game, self.wanted[gid] if wanted is None else wanted, save or error is not None)

    def _replay(self, gid: int, moves: list[replaying.LoggedMove],
                wanted: list[View]) -> tuple[Any, ...]:
        """Play logged moves again (a restore or remake); each must get the verdict logged."""
        game = self.games.get(gid)
        if game is None:  # its replay failed in an earlier slice: nothing to do
            return (None, None, None, None, [], None)
        problem = replaying.replay(game, moves)
        if problem:
            del self.games[gid]
            return (f"framework: game {game.type.name}: {problem}", None, None, None, [], None)
        return (None, None, *self._mirror(gid, game, wanted))

    def _view(self, gid: int, player_id: int, legal_moves: bool) -> tuple[Any, ...]:
        game = self.games[gid]
        view, size = self._view_of(game, player_id, legal_moves)
        if size <= _channel.MIRROR_MAX // 2:
            self.big.get(gid, set()).discard((player_id, legal_moves))
        return (None, None, None, None, [view], None)

    def _timeout_move(self, gid: int, player_id: int) -> tuple[Any, ...]:
        """The game's move for a player out of time (its hook), as JSON; None if it has none."""
        game = self.games[gid]
        try:
            move = game.timeout_move(player_id)
            problem = "" if move is None else json_problem(move)  # (in-process: played as is)
            if problem:
                raise game.type_error("timeout_move", f"returned a move that cannot be sent "
                                      f"as JSON ({problem})")
        except GameCodeError as err:
            return (str(err), None, None, None, [], None)
        return (None, None if move is None else encode_json(move), None, None, [], None)

    # ------------------------------------------------------------ what the server keeps

    def _mirror(self, gid: int, game: CheckedGame, wanted: list[View], save: bool = True,
                ) -> tuple[Any, Any, list[bytes | str | None], bytes | None]:
        """Whose turn, game over, the wanted states and, if ``save``, the saved game.

        The states come in the order of ``wanted`` (the server knows which is which: it
        takes no player id from here), each a state reply (bytes), the error that
        replaces it (str), or None: not sent along, past ``MIRROR_MAX`` in all (then
        never again: it is made when a client asks for it, see ``_view``). ``wanted`` is
        kept for the game's next move, which may send None for it."""
        self.wanted[gid] = wanted
        try:
            over: bool | str = game.game_over()
        except GameCodeError as err:
            over = str(err)
        try:
            current: list[int] | str = game.current()
        except GameCodeError as err:
            current = str(err)
        views = []
        room = MIRROR_MAX
        big = self.big.get(gid)
        for key in wanted:
            if big is not None and key in big:
                views.append(None)
                continue
            view, size = self._view_of(game, key[0], key[1])
            if size <= room:
                views.append(view)
                room -= size
            else:  # from now on computed only when a client asks for it
                views.append(None)
                self.big.setdefault(gid, set()).add(key)
        return current, over, views, self._snapshot(gid, game) if save else None

    def _view_of(self, game: CheckedGame, player_id: int, legal_moves: bool,
                 ) -> tuple[bytes | str, int]:
        """One state reply, or the error message that replaces it; and the reply's size."""
        try:
            reply = game.view_reply(player_id, legal_moves)
        except GameCodeError as err:
            return str(err), 0
        except Exception as err:  # noqa: BLE001 - MemoryError, RecursionError in encoding
            return game.type_error("state", f"could not be sent ({type(err).__name__})").args[0], 0
        if len(reply) > STATE_MAX:
            return game.type_error("state", f"returned {len(reply) / _channel.MB:.0f} MB, more "
                                   f"than the {_channel.STATE_MAX // _channel.MB} MB a game "
                                   "may send from a worker process").args[0], len(reply)
        return reply, len(reply)

    def _snapshot(self, gid: int, game: CheckedGame) -> bytes | None:
        """The saved game, if it can be had and is small enough for the server to keep.

        A game that could not be saved is tried again only every
        ``SNAPSHOT_RETRY`` changes (its failure is logged each time).
        """
        skip = self.unsaved.get(gid, 0)
        if skip:
            self.unsaved[gid] = skip - 1
            return None
        try:
            blob = game.snapshot()
        except GameCodeError:
            self.unsaved[gid] = SNAPSHOT_RETRY
            return None
        if len(blob) > _channel.SNAPSHOT_MAX:
            log.warning("game %s: a saved game takes %d KB, more than the %d KB the server "
                        "keeps; if its worker process fails, the session ends",
                        game.type.name, len(blob) // 1024, _channel.SNAPSHOT_MAX // 1024)
            self.unsaved[gid] = SNAPSHOT_RETRY
            return None
        self.unsaved.pop(gid, None)
        return blob


def _module_classes(module_name: str) -> list[type[AbstractGame]]:
    """The usable game classes a bundled module defines (isolate_games = "all")."""
    module = importlib.import_module(module_name)
    return [game_class for game_class in registry.game_classes(module)
            if registry.usable(game_class, module.__file__ or module_name)]


# Whole numbers with fewer digits than any limit Python may set on their conversion to
# text (``sys.set_int_max_str_digits``: 640 at least, which a game may set in its worker).
_INT_SAFE = 10 ** 600
_SCALARS = frozenset({str, bool, type(None)})


def _flat_json(move: Any) -> bool:
    """Whether ``move`` is certainly JSON without encoding it: a dict of text keys, each
    value text, a boolean, None or a whole number of at most 600 digits (the usual move,
    ``{"position": 4}``: encoding it, the check ``_move`` made of every move, costs about
    6,000 machine instructions, this about 2,300). False: maybe not JSON (a float, which
    may be infinite; a list, a dict), for the encoder to say."""
    if type(move) is not dict:
        return False
    for key, value in move.items():
        if type(key) is not str:
            return False
        kind = type(value)
        if kind is int:
            if not -_INT_SAFE < value < _INT_SAFE:
                return False
        elif kind not in _SCALARS:
            return False
    return True


_threads: Callable[[], int] | None = getattr(_thread, "_count", None)  # (not in every Python)


def _leftovers() -> str | None:
    """What the game left running after its call: a thread or a child process.

    ``waitpid`` sees the children of every thread, even one that has just
    ended (the kernel hands its children to a live thread only as it exits).
    Reading ``/proc/self/task/<tid>/children`` from a kept descriptor costs
    less (0.4 µs, against 0.9 µs, most of it making the ``ChildProcessError``
    that says there is none) but lists one thread's children: it missed the
    child of a thread that had ended just before.
    """
    if (_threads() if _threads is not None else threading.active_count() - 1) > 0:
        return "started a thread, which games must not do (it would keep running)"
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return None
    return "started a child process, which games must not do"


def _private_streams() -> tuple[int, int]:
    """Move the pipes off fds 0 and 1; a game's prints go to stderr, its input is empty."""
    channel_in, channel_out = os.dup(0), os.dup(1)  # not inherited by child processes
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    return channel_in, channel_out


def _write(fd: int, data: bytes) -> None:
    written = os.write(fd, data)  # (a reply is one write but for one past the pipe's room)
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view):]


def main() -> None:
    """Serve the server on stdin/stdout until it closes the pipe."""
    channel_in, channel_out = _private_streams()
    reader = open(channel_in, "rb", buffering=64 * 1024)  # noqa: SIM115 - lives as long as we do
    message = _channel.read_message(reader)
    if message is None:
        return
    hello = message[1]
    host = Host(hello, channel_out)
    logging.basicConfig(level=hello["log_level"], handlers=[host.logs], force=True)
    signal.signal(signal.SIGINT, host.on_interrupt)
    if _WAITED_SIGNAL is not None:
        signal.signal(_WAITED_SIGNAL, host.on_interrupt)
    if hasattr(signal, "SIGXCPU"):
        signal.signal(signal.SIGXCPU, host.on_cpu_limit)
    abi, problems = _sandbox.confine(hello["memory_mb"], hello["cpu_seconds"],
                                     hello["readable"], hello["parent"])
    # Sent before the game file is imported: its code, which controls this process from
    # then on, could rewrite the report (claim a sandbox it lacks), not unsend it.
    _write(channel_out, _channel.encode(("sandbox", abi, problems)))
    catalog = host.load(hello["source"])
    _write(channel_out, _channel.encode(("catalog", catalog, host.logs.take())))
    while True:
        message = _channel.read_message(reader)
        if message is None:
            return
        reply = host.handle(message)
        if reply is not None:
            _write(channel_out, _reply.encode(reply))


if __name__ == "__main__":
    main()
