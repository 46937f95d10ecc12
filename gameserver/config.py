"""Server settings: defaults in code, overridden by a TOML file, overridden by flags.

``Settings`` is the single source of truth: each field's default, type and
help text generate both the keys accepted in the config file and the
command-line flags (``game_timeout`` in the file is ``--game-timeout`` on the
command line), so ``python -m gameserver --help`` documents every setting.

Why this module is longer than our ~450 lines: it is that one table, every
setting with its default, help and checks, and the reading of the files that
fill it (the config file, the dashboard's token file); split, a setting's
declaration and its checks would live apart.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import ipaddress
import math
import os
import re
import stat
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._import_limit import IMPORT_TIMEOUT
from .protocol import MAX_JSON_DEPTH

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
WEB_TOKEN_ENV = "GAMESERVER_WEB_TOKEN"  # the dashboard's token, when no setting gives one
WEB_TOKEN_MIN = 16  # characters
HISTORY_MIN_BYTES = 2**20  # history_max_bytes at least (a few large games)
WEB_STREAMS_MIN_BYTES = 2**20  # web_stream_buffer_max_total at least: two streams' worth


class StartupError(Exception):
    """The server cannot start. ``str(err)`` is one line: the cause and the fix.

    Every part that can stop the start (settings, the store, the listening
    port, TLS files) raises a subclass; the command line prints the message
    alone, without a traceback, and exits with status 2.
    """


# Settings in seconds, and the most any may be: a time beyond any use. A greater one
# overflowed where it is used (a thread's wait takes ~9.2e9 s at most).
SECONDS_SETTINGS = ("game_timeout", "join_timeout", "connection_timeout",
                    "game_call_timeout", "game_import_timeout", "overwrite_idle",
                    "turn_timeout", "game_clock", "session_timer_min")
SECONDS_MAX = 1e9
# The least the timeouts below may be (1e-300 was taken): a tenth of a second, as for a
# turn's timer (timers.MIN_SECONDS); less is no time a server can keep to, or anyone meant.
POSITIVE_SECONDS = ("game_timeout", "join_timeout", "connection_timeout",
                    "game_call_timeout", "game_import_timeout", "overwrite_idle")
SECONDS_MIN = 0.1
CONFIG_MAX = 1_000_000  # bytes of a config file
TOKEN_FILE_MAX = 4096  # bytes of the dashboard's token file read (the token: its first line)
# A text of a config file (a path, a host, a token, a game's name) holds none of these: a
# NUL in a path was a ValueError traceback at start, a newline split a message in two.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
INT_BITS_MAX = 13_000  # a file's whole numbers: more (TOML's 0x...) cannot even be printed


class ConfigError(StartupError):
    """A setting is wrong; the message says which and how to fix it."""


def _setting(default: Any, help: str, **extra: Any) -> Any:
    metadata = {"help": help, **extra}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(slots=True)
class Settings:
    """Every setting of the server, with its default."""

    host: str = _setting("127.0.0.1", "address to listen on (0.0.0.0 for every network)")
    port: int = _setting(4711, "TCP port to listen on (0 picks a free one)")
    game_timeout: float = _setting(
        1000.0, "seconds without any request after which a session is removed")
    join_timeout: float = _setting(
        1000.0, "seconds a new session waits for all its players before it is removed")
    request_size_max: int = _setting(1_000_000, "largest request accepted, in bytes")
    connection_timeout: float = _setting(
        60.0, "seconds a client has to send its whole request")
    game_call_timeout: float = _setting(
        5.0, "seconds one call into game code may run before it is interrupted")
    game_import_timeout: float = _setting(
        IMPORT_TIMEOUT, "seconds a game file's import (its top level and class bodies) may "
        "run, in a worker or in the server; at least twice game_call_timeout (the same "
        "rule as python -m gameserver check's --import-timeout)")
    isolate_games: str = _setting(
        "folder", "run game code in worker processes the server can kill: folder (the games "
        "from --games-dir), all (bundled games too) or off (all in the server process)",
        choices=("folder", "all", "off"))
    worker_memory_limit: int = _setting(
        512, "MiB of memory (address space) each game worker process may use")
    worker_cpu_limit: int = _setting(
        3600, "CPU seconds a game worker process may use; then it is replaced (its sessions "
        "move to a new one)")
    tls_cert: str = _setting("", "TLS certificate file (PEM); with --tls-key, serve TLS only")
    tls_key: str = _setting("", "TLS private key file (PEM)")
    tls_handshakes_max: int = _setting(
        64, "most TLS handshake steps handed to the server's handshake threads at once; "
        "beyond, new ones wait their turn (taken in turn by client address)")
    tls_handshakes_per_address: int = _setting(
        8, "most TLS handshakes from one client address running or waiting for a handshake "
        "thread at once; beyond, a new connection is closed")
    log_level: str = _setting(
        "INFO", "DEBUG, INFO, WARNING or ERROR, in any case (DEBUG logs every request)",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"), upper=True)
    games: list[str] = _setting(
        [], "offer only these games (by class name); default: every game found",
        flag_name="--game")
    games_dirs: list[str] = _setting(
        [], "also load games from every .py file in this folder (repeatable)",
        flag_name="--games-dir")
    bundled_games: bool = _setting(True, "offer the games that ship with the server")
    max_connections: int = _setting(20_000, "most client connections open at once")
    max_connections_per_address: int = _setting(
        2_000, "most connections open at once from one client address")
    proxy_protocol_from: list[str] = _setting(
        [], "IP address of a TCP proxy in front of the game port that sends the PROXY "
        "protocol (nginx stream's proxy_protocol on, HAProxy's send-proxy; repeatable): a "
        "connection from it must begin with a PROXY header (v1 or v2) and counts as the "
        "client it names, for every per-address limit and the log; from anyone else a "
        "header is refused. Default: none (off)", flag_name="--proxy-protocol-from")
    max_sessions: int = _setting(20_000, "most sessions at once")
    max_memory: int = _setting(
        0, "MB of memory the server may hold before it starts no new session (0: half "
        "the machine's memory)")
    new_sessions_per_minute: int = _setting(
        1_200, "most new sessions one client address may start per minute")
    max_sessions_per_address: int = _setting(
        200, "most sessions started from one client address that exist at once")
    max_waiting_joins_per_address: int = _setting(
        10, "most joins from one client address waiting at once for their session to fill")
    observer_consent: bool = _setting(
        True, "games with hidden information: watching a player needs that player's "
        "observer code (--no-observer-consent: anyone may watch, the classic rule)")
    overwrite: str = _setting(
        "players", "when a join with players replaces a running session of the same name: "
        "anyone (the classic rule), players (its game is over, it is idle for "
        "overwrite_idle seconds, or the joiner comes from the address of one of its "
        "players) or idle (only over or idle; for servers on the internet)",
        choices=("anyone", "players", "idle"))
    overwrite_idle: float = _setting(
        60.0, "seconds without requests after which a running session may be replaced "
        "(while none of its players waits in it)")
    max_name_length: int = _setting(
        100, "longest game name, session name or player name, in characters")
    max_json_depth: int = _setting(MAX_JSON_DEPTH,
                                   "deepest nesting of lists and objects in a request")
    turn_timeout: float = _setting(
        0.0, "seconds each player has for a move; when they run out the server ends the turn "
        "(see turn_timeout_action). 0: no limit")
    game_clock: float = _setting(
        0.0, "chess clock: seconds each player has for all their moves of one game together; "
        "a player whose clock runs out loses the game. 0: no clock")
    turn_timeout_action: str = _setting(
        "move", "what a turn timeout does: move (the game's timeout_move, else a random legal "
        "move, else the player loses the game) or forfeit (the player loses the game)",
        choices=("move", "forfeit"))
    turn_timeouts: dict[str, float] = _setting(
        {}, "per game, instead of turn_timeout: GAME=SECONDS, repeatable (in the config file "
        "a [turn_timeouts] table); 0 switches the timer off for that game",
        flag_name="--turn-timeout-for")
    game_clocks: dict[str, float] = _setting(
        {}, "per game, instead of game_clock: GAME=SECONDS, repeatable (in the config file a "
        "[game_clocks] table)", flag_name="--game-clock-for")
    session_timer_min: float = _setting(
        5.0, "shortest turn_timeout or game_clock a client may choose when it starts a "
        "session that others join (0, no timer, is always allowed; the joiners have no say, "
        "and a classic client is not told); at most game_timeout counts. 0.1: any")
    rated_games: str = _setting(
        "tournament", "which finished games change the players' Elo ratings: tournament "
        "(tournament games only) or named (also every other game whose players all have "
        "names)", choices=("tournament", "named"))
    reply_buffer_max: int = _setting(
        4 * 1024 * 1024, "bytes of replies a client may leave unread before the server stops "
        "reading its requests (until it reads)")
    reply_buffer_max_per_address: int = _setting(
        64 * 1024 * 1024, "bytes of replies the connections of one client address may leave "
        "unread together before those of them with replies unread stop being served (until "
        "it reads); at least reply_buffer_max")
    reply_buffer_max_total: int = _setting(
        256 * 1024 * 1024, "bytes of replies all clients together may leave unread before "
        "connections with replies unread stop being served (until they read); at least "
        "reply_buffer_max_per_address")
    accelerate: bool = _setting(
        True, "run the event loop on uvloop where installed (pip install uvloop); "
        "--no-accelerate: the standard library only")
    store: bool = _setting(
        True, "save sessions and finished games in an SQLite file (--no-store: memory only)")
    store_path: str = _setting("gameserver.sqlite3", "the SQLite file of the store")
    store_sync: str = _setting(
        "normal", "full: a change is on the disk before its reply (survives power loss); "
        "normal: in the operating system before its reply (survives kill -9 and server "
        "crashes, not power loss; faster)", choices=("full", "normal"))
    store_snapshot_max: int = _setting(
        1_048_576, "largest game snapshot the store writes, in bytes; a larger game is "
        "saved as its moves only (restored by replaying them)")
    history: bool = _setting(True, "keep the move log of every game (for replays)")
    history_max_games: int = _setting(
        100_000, "finished games kept in the history; the oldest are deleted")
    history_max_bytes: int = _setting(
        2**30, "bytes the history may take in the store file (finished games, and the moves "
        "of games in play); beyond, the oldest finished games are deleted, and past half of "
        "it the games in play keep only their moves since their newest snapshot")
    web: bool = _setting(True, "serve the web dashboard (lobby, spectating, history)")
    web_host: str = _setting(
        "127.0.0.1", "address of the web dashboard; other than localhost needs --web-token")
    web_port: int = _setting(8080, "TCP port of the web dashboard (0 picks a free one)")
    web_token: str = _setting(
        "", "access token the dashboard requires, 16 characters or more (needed to listen "
        "beyond localhost); better --web-token-file or the GAMESERVER_WEB_TOKEN environment "
        "variable: a flag shows in the process list")
    web_token_file: str = _setting(
        "", "file whose first line is the dashboard's access token (keep it chmod 600)")
    web_max_connections: int = _setting(512, "most dashboard connections open at once")
    web_max_connections_per_address: int = _setting(
        32, "most dashboard connections open at once from one client address")
    web_stream_buffer_max_total: int = _setting(
        64 * 2**20, "bytes the dashboard's live pages (event streams) may leave unread "
        "together, at least 1048576 (1 MiB); beyond, the streams with the most unread are "
        "closed (each may leave 512 KiB)")
    web_play: str = _setting(
        "invite", "playing in the browser: off; invite (sessions are started by the "
        "dashboard's operator, or by anyone when the dashboard has no token; others join "
        "with an invite link); open (anyone who reaches the dashboard may start and join "
        "sessions)", choices=("off", "invite", "open"))
    web_renderers: str = _setting(
        "bundled", "renderers the dashboard serves: bundled (only the server's own; a game "
        "from --games-dir or --game is shown as a JSON tree); all (also a game's own "
        "<ClassName>.js next to its file, run in a sandboxed frame: it sees the states the "
        "page shows, may ask for the viewer's legal moves and nothing else; see "
        "docs/dashboard.md for what it can still do)", choices=("bundled", "all"))
    web_bots: int = _setting(50, "most bots playing in the server at once (0: no bots)")
    web_bots_per_address: int = _setting(
        5, "most bots playing at once for the browsers of one client address")
    web_trusted_proxies: list[str] = _setting(
        [], "IP address of a proxy in front of the dashboard (nginx, Caddy; repeatable): a "
        "request from it counts as the client that the rightmost entry of its "
        "X-Forwarded-For names, for the dashboard's per-address bounds and logs",
        flag_name="--web-trusted-proxy")

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert or self.tls_key)

    def check(self) -> None:
        """Raise ConfigError for values that cannot work."""
        for name in ("port", "web_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ConfigError(f"{name} must be between 0 and 65535, "
                                  f"not {getattr(self, name)}")
        if self.web and self.web_port != 0 and self.web_port == self.port:
            raise ConfigError(
                f"port and web_port are both {self.port}: the game server and the dashboard "
                "need a port each (set --web-port to another port, 0 for a free one, or use "
                "--no-web)")
        for name in ("host", "web_host") if self.web else ("host",):
            if not getattr(self, name):  # "" listened on every network, and said ":4711"
                raise ConfigError(f"{name} is empty: write 127.0.0.1 (this machine only) or "
                                  "0.0.0.0 (every network)")
        if self.web and self.web_host not in LOCAL_HOSTS and not self.web_token:
            raise ConfigError(
                f"the dashboard would listen on {self.web_host}, beyond this machine, "
                "without an access token: set --web-token-file FILE (or keep "
                "--web-host 127.0.0.1, or use --no-web)")
        if self.web_token and not self.web_token.strip():  # 16 spaces guard nothing
            raise ConfigError("the dashboard's access token is only blanks: give a token of "
                              f"at least {WEB_TOKEN_MIN} characters (make one with: python3 -c "
                              "\"import secrets; print(secrets.token_urlsafe(24))\")")
        if self.web_token and len(self.web_token) < WEB_TOKEN_MIN:
            raise ConfigError(
                f"the dashboard's access token is {len(self.web_token)} characters long; it "
                f"must have at least {WEB_TOKEN_MIN} (make one with: python3 -c \"import "
                "secrets; print(secrets.token_urlsafe(24))\")")
        for name in SECONDS_SETTINGS:  # nan passes every check below (no comparison holds)
            if not -SECONDS_MAX <= getattr(self, name) <= SECONDS_MAX:
                raise ConfigError(f"{name} must be a number of seconds up to {SECONDS_MAX:,.0f} "
                                  f"(about 31 years), not {getattr(self, name):g}")
        for name in POSITIVE_SECONDS:
            if getattr(self, name) < SECONDS_MIN:
                raise ConfigError(f"{name} must be at least {SECONDS_MIN:g} seconds, not "
                                  f"{getattr(self, name):g}")
        self._check_timers()
        for name in ("max_connections", "max_connections_per_address", "max_sessions",
                     "web_max_connections", "web_max_connections_per_address",
                     "new_sessions_per_minute", "max_sessions_per_address",
                     "max_waiting_joins_per_address", "max_name_length", "max_json_depth",
                     "history_max_games", "store_snapshot_max", "tls_handshakes_max",
                     "tls_handshakes_per_address"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.web_stream_buffer_max_total < WEB_STREAMS_MIN_BYTES:
            raise ConfigError(
                f"web_stream_buffer_max_total must be at least {WEB_STREAMS_MIN_BYTES} (1 MiB: "
                f"two live pages' worth), not {self.web_stream_buffer_max_total}")
        if self.history_max_bytes < HISTORY_MIN_BYTES:
            raise ConfigError(
                f"history_max_bytes must be at least {HISTORY_MIN_BYTES} (1 MiB), not "
                f"{self.history_max_bytes}; to keep no history at all, use --no-history")
        if self.request_size_max < 64:
            raise ConfigError("request_size_max must be at least 64 bytes")
        if self.reply_buffer_max < 4096:
            raise ConfigError("reply_buffer_max must be at least 4096 bytes")
        if self.reply_buffer_max_per_address < self.reply_buffer_max:
            raise ConfigError(
                f"reply_buffer_max_per_address ({self.reply_buffer_max_per_address}) must be "
                f"at least reply_buffer_max ({self.reply_buffer_max}): one connection may "
                "leave that much unread")
        if self.reply_buffer_max_total < self.reply_buffer_max_per_address:
            raise ConfigError(
                f"reply_buffer_max_total ({self.reply_buffer_max_total}) must be at least "
                f"reply_buffer_max_per_address ({self.reply_buffer_max_per_address})")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("TLS needs both tls_cert and tls_key (make a pair with the "
                              "openssl command in the README)")
        self._check_paths()
        for setting in dataclasses.fields(self):  # the settings with a few values to choose
            choices = setting.metadata.get("choices")
            value = getattr(self, setting.name)
            if setting.metadata.get("upper"):  # read in any case (its flag: add_arguments)
                value = value.upper()
                setattr(self, setting.name, value)
            if choices is not None and value not in choices:
                quoted = [repr(choice) for choice in choices]
                raise ConfigError(f"{setting.name} must be {', '.join(quoted[:-1])} or "
                                  f"{quoted[-1]}, not {value!r}")
        if self.worker_memory_limit < 128:
            raise ConfigError("worker_memory_limit must be at least 128 (MiB): Python itself "
                              "needs some")
        if self.worker_cpu_limit < 1:
            raise ConfigError("worker_cpu_limit must be at least 1 (second)")
        # the system's limits (setrlimit) take 63 bits: beyond them every worker died at start
        for name, top, unit in (("worker_memory_limit", 1 << 30, "MiB: a pebibyte"),
                                ("worker_cpu_limit", 10**9, "seconds: about 31 years")):
            if getattr(self, name) > top:
                raise ConfigError(f"{name} must be at most {top} ({unit}), not "
                                  f"{getattr(self, name)}")
        for name in ("web_bots", "web_bots_per_address", "max_memory"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more")
        for name, who in (("web_trusted_proxies", "the dashboard"),
                          ("proxy_protocol_from", "the game port")):
            for proxy in getattr(self, name):
                try:
                    ipaddress.ip_address(proxy)
                except ValueError:  # a name or a network would be trusted as nothing at all
                    raise ConfigError(f"{name}: {proxy!r} is not an IP address (give the "
                                      f"proxy's own address, as {who} sees it connect, e.g. "
                                      "127.0.0.1)") from None

    def _check_paths(self) -> None:
        """The TLS files and the games folders: a pipe given as a TLS file blocked the
        start for ever; a games folder that does not exist started the server without
        its games (one line in the log; the players' joins failed). A TLS file that is
        missing or unreadable is named when the server opens it."""
        for name in ("tls_cert", "tls_key"):
            path = getattr(self, name)
            try:
                regular = not path or stat.S_ISREG(os.stat(path).st_mode)
            except OSError:
                continue
            if not regular:
                raise ConfigError(f"{name} {path} is not a regular file (a folder, a device, "
                                  "a pipe?): give the PEM file")
        from .registry import games_folder_problem
        for folder in self.games_dirs:
            problem = games_folder_problem(folder)
            if problem is not None:
                raise ConfigError(problem)

    def _check_timers(self) -> None:
        from .timers import MIN_SECONDS
        values = [("turn_timeout", self.turn_timeout), ("game_clock", self.game_clock)]
        values += [(f"turn_timeouts.{game}", v) for game, v in self.turn_timeouts.items()]
        values += [(f"game_clocks.{game}", v) for game, v in self.game_clocks.items()]
        for name, value in values:
            if value != 0 and not MIN_SECONDS <= value <= self.game_timeout:
                raise ConfigError(f"{name} must be 0 (no limit) or from {MIN_SECONDS:g} to "
                                  f"game_timeout ({self.game_timeout:g}) seconds, not {value:g}")
        if not MIN_SECONDS <= self.session_timer_min:  # (at most: SECONDS_MAX, checked)
            raise ConfigError(f"session_timer_min must be at least {MIN_SECONDS:g} seconds "
                              f"(the shortest timer there is: {MIN_SECONDS:g} lets a starter "
                              f"choose any), not {self.session_timer_min:g}")


def unknown_game_names(settings: Settings, found: Iterable[str]) -> list[str]:
    """What to log about a per-game setting naming a game the server did not find
    (``found``): a misspelt ``[turn_timeouts]`` entry set no timer for anyone, and
    nothing said so. Said, not refused: the game may be a student's whose file failed
    to load (logged above it), which must not keep the server from starting."""
    found = sorted(found)
    return [f"{name} names a game this server does not have: {game!r} (its games: "
            f"{', '.join(found) or 'none'}); it sets no timer: write a game's class name"
            for name in ("turn_timeouts", "game_clocks") for game in getattr(settings, name)
            if game not in found]


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list[str]": list,
          "dict[str, float]": dict}


def _flag(f: dataclasses.Field[Any]) -> str:
    return f.metadata.get("flag_name", "--" + f.name.replace("_", "-"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting (plus ``--config``) to ``parser``.

    Every flag defaults to None so that ``load`` can tell which were given.
    """
    parser.add_argument("--config", metavar="FILE",
                        help="read settings from this TOML file (flags override it)")
    for f in _FIELDS.values():
        kind = _TYPES[str(f.type)]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f"{f.metadata['help']} (default: {default!r})"
        if kind is bool:
            parser.add_argument(_flag(f), dest=f.name, default=None,
                                action=argparse.BooleanOptionalAction, help=help_text)
        elif kind is list:
            parser.add_argument(_flag(f), dest=f.name, default=None, action="append",
                                metavar=f.name.rstrip("s").upper(), help=help_text)
        elif kind is dict:
            parser.add_argument(_flag(f), dest=f.name, default=None, action="append",
                                type=_name_and_seconds, metavar="GAME=SECONDS", help=help_text)
        else:  # (a setting read in any case in the file is read so here too)
            parser.add_argument(_flag(f), dest=f.name, default=None,
                                type=str.upper if f.metadata.get("upper") else kind,
                                choices=f.metadata.get("choices"), help=help_text)


def load(args: argparse.Namespace) -> Settings:
    """Build the settings from defaults, the ``--config`` file, then flags.

    Raises:
        ConfigError: unreadable file, unknown key, wrong type or bad value.
    """
    settings = Settings()
    if getattr(args, "config", None):
        apply_mapping(settings, read_toml(Path(args.config)), source=args.config)
        if settings.web_token.strip():  # (blanks are refused as no token, below)
            _not_for_everyone(Path(args.config), "the config file", "holds the dashboard's "
                              "token (web_token), and ")
    for name in _FIELDS:
        value = getattr(args, name, None)
        if value is not None:
            if _TYPES[str(_FIELDS[name].type)] is dict:  # pairs from the command line
                value = {**getattr(settings, name), **dict(value)}
            setattr(settings, name, value)
    read_web_token(settings, os.environ)
    settings.check()
    return settings


def read_web_token(settings: Settings, environ: Mapping[str, str]) -> None:
    """Fill ``settings.web_token`` from ``web_token_file`` or the environment.

    A token given on the command line shows in ``/proc/PID/cmdline`` and
    ``ps`` to every local user; a file (``chmod 600``) or the environment
    variable ``GAMESERVER_WEB_TOKEN`` does not. The environment counts only
    when no setting gives a token.

    Raises:
        ConfigError: both a token and a token file are set, or the file
            cannot be read or is empty.
    """
    path = settings.web_token_file
    if path:
        if settings.web_token:
            raise ConfigError("set the dashboard's token once: web_token or web_token_file, "
                              "not both")
        try:
            if not stat.S_ISREG(Path(path).stat().st_mode):  # a device, a pipe: not read
                raise OSError("it is not a regular file (a device, a pipe?)")
            _not_for_everyone(Path(path), "the dashboard's token file")
            with open(path, "rb") as file:  # the token is short: /dev/zero took all memory
                first = file.read(TOKEN_FILE_MAX + 1).split(b"\n", 1)[0]
            if len(first) > TOKEN_FILE_MAX:
                raise OSError(f"its first line (the token) is longer than {TOKEN_FILE_MAX} bytes")
            lines = first.decode("utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read the dashboard's token file {path}: "
                              f"{getattr(err, 'strerror', None) or err}") from None
        settings.web_token = lines[0].strip() if lines else ""
        if not settings.web_token:
            raise ConfigError(f"the dashboard's token file {path} is empty: put the token "
                              "on its first line")
    elif not settings.web_token:
        settings.web_token = environ.get(WEB_TOKEN_ENV, "").strip()


def _not_for_everyone(path: Path, what: str, holds: str = "") -> None:
    """Refuse a file of the dashboard's token that every user of the machine may read.

    Whoever reads the token is the operator: every player's hidden cards and
    ships, live, and the tournaments' buttons. The README says ``chmod 600``,
    deploy/server.toml.example ``chmod 640`` with the server's group, so only
    a file readable by *others* is refused (until 2026-12-01 it was read as
    it was: a host who skipped the chmod under the usual umask, -rw-r--r--,
    handed the token to every local user of a shared machine).

    Raises:
        ConfigError: the file is readable by others.
    """
    with contextlib.suppress(OSError):  # (a file that cannot be looked at: read below)
        mode = path.stat().st_mode
        if mode & stat.S_IROTH:
            raise ConfigError(
                f"{what} {path} {holds}is readable by every user of this machine "
                f"({stat.filemode(mode)}): whoever reads the token sees every player's "
                f"hidden cards on the dashboard; chmod o-r {path} (chmod 600, or 640 with "
                "the server's group)")


def read_toml(path: Path) -> dict[str, Any]:
    """The settings of the TOML file ``path``: a regular file of ``CONFIG_MAX`` bytes at
    most (``/dev/zero`` took all the memory there was; a FIFO blocked the start)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode) and not path.is_dir():  # (a folder: below)
            raise ConfigError(f"config file {path} is not a regular file (a device, a "
                              "pipe?): give a TOML file")
        with path.open("rb") as file:
            text = file.read(CONFIG_MAX + 1)
        if len(text) > CONFIG_MAX:
            raise ConfigError(f"config file {path} is longer than {CONFIG_MAX} bytes: is it "
                              "the right file?")
        return tomllib.loads(text.decode())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:  # the message names the line and column
        # Mostly a text without its quotes (host = 0.0.0.0): TOML's words do not say so.
        unquoted = str(err).startswith(("Invalid value", "Expected newline or end"))
        raise ConfigError(f"config file {path} is not valid TOML: {err}" + (
            '; a text, a path or an address goes in double quotes: host = "0.0.0.0"'
            if unquoted else "")) from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except ValueError:  # a whole number of more than 4,300 digits: Python's limit
        raise ConfigError(f"config file {path} has a number too long to read: is it the "
                          "right file?") from None
    except RecursionError:  # lists in lists (or tables) some 500 deep: a traceback
        raise ConfigError(f"config file {path} nests lists or tables too deeply to read: is "
                          "it the right file?") from None
    except OSError as err:  # a folder, no permission, ...
        raise ConfigError(f"config file {path} cannot be read: "
                          f"{str(err.strerror or err).lower()}") from None


def apply_mapping(settings: Settings, values: dict[str, Any], source: str) -> None:
    """Copy settings from a parsed config file into ``settings``, checking each."""
    for name, value in values.items():
        f = _FIELDS.get(name.replace("-", "_"))
        if f is None:
            hint = ""
            if isinstance(value, dict):  # ([server] host = ...: the two tables map games)
                hint = f"[{name}] is a table, and settings go at the top of the file, " \
                    "outside tables; "
            near = difflib.get_close_matches(name.replace("-", "_"), _FIELDS, n=1)
            hint += f"did you mean '{near[0]}'? " if near else ""
            raise ConfigError(f"{source}: unknown setting '{name}' ({hint}known: "
                              + ", ".join(_FIELDS) + ")")
        kind = _TYPES[str(f.type)]
        if _too_long(value):
            raise ConfigError(f"{source}: setting '{name}' is a number of thousands of digits")
        if kind is float and type(value) is int:
            value = _seconds(value)
        if kind is list:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif kind is dict:
            ok = isinstance(value, dict) and all(
                type(v) in (int, float) for v in value.values())
            value = {str(k): _seconds(v) for k, v in value.items()} if ok else value
        else:
            ok = type(value) is kind
        if not ok:
            expected = {str: "a string", int: "a whole number", float: "a number",
                        bool: "true or false", list: "a list of strings",
                        dict: "a table of game names and seconds"}[kind]
            raise ConfigError(f"{source}: setting '{name}' must be {expected}, "
                              f"not {value!r}")
        texts = [value] if kind is str else list(value) if kind in (list, dict) else []
        if any(_CONTROL.search(text) for text in texts):  # (a dict's: its games' names)
            raise ConfigError(f"{source}: setting '{name}' must not hold a control character "
                              f"(a newline, a NUL, ...), not {value!r}")
        setattr(settings, f.name, value)


def _too_long(value: Any) -> bool:
    """A whole number of more than ``INT_BITS_MAX`` bits, in ``value`` or in a list or a
    table in it: a message quoting it was a ValueError traceback (Python prints whole
    numbers of up to 4,300 digits; a file's ``0xfff...`` has no limit)."""
    if isinstance(value, (list, dict)):
        return any(map(_too_long, value.values() if isinstance(value, dict) else value))
    return type(value) is int and value.bit_length() > INT_BITS_MAX


def _seconds(value: float) -> float:
    """A number of the file as a float; a whole number beyond a float's range (it was an
    OverflowError traceback) is infinity, which the checks refuse by the setting's name."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _name_and_seconds(text: str) -> tuple[str, float]:
    """``GAME=SECONDS`` from the command line."""
    name, sep, seconds = text.partition("=")
    try:
        value = float(seconds)
    except ValueError:
        value = -1.0
    if not sep or not name or not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected GAME=SECONDS (e.g. Yahtzee=30), not {text!r}")
    return name, value
