"""Settings: defaults, then the TOML file, then flags."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from gameserver import cli, config


def load(argv: list[str]) -> config.Settings:
    return config.load(cli.build_parser().parse_args(argv))


def test_defaults_match_the_protocol() -> None:
    settings = load([])
    assert (settings.host, settings.port) == ("127.0.0.1", 4711)
    assert settings.game_timeout == 1000
    assert settings.request_size_max == 1_000_000
    assert settings.connection_timeout == 60
    assert settings.bundled_games is True
    assert not settings.tls
    assert settings.web_renderers == "bundled"  # a game's own renderer is opt-in


def test_web_renderers_is_a_flag_and_a_config_file_key(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text('web_renderers = "all"\n')
    assert load(["--config", str(path)]).web_renderers == "all"
    assert load(["--web-renderers", "all"]).web_renderers == "all"
    assert load(["--config", str(path), "--web-renderers", "bundled"]).web_renderers == "bundled"


@pytest.mark.parametrize(("name", "flag"), [("web_trusted_proxies", "--web-trusted-proxy"),
                                           ("proxy_protocol_from", "--proxy-protocol-from")])
def test_trusted_proxies_are_a_flag_and_a_config_file_key(tmp_path: Path, name: str,
                                                          flag: str) -> None:
    """Opt-in (docs/dashboard.md, "Behind a proxy"; the README's "Behind a TCP proxy or
    load balancer"); a name or a network is refused: it would match no peer, and the
    operator would think the proxy trusted."""
    assert getattr(load([]), name) == []
    path = tmp_path / "server.toml"
    path.write_text(f'{name} = ["127.0.0.1", "::1"]\n')
    assert getattr(load(["--config", str(path)]), name) == ["127.0.0.1", "::1"]
    assert getattr(load([flag, "10.0.0.2", flag, "10.0.0.3"]), name) == ["10.0.0.2",
                                                                        "10.0.0.3"]
    for wrong in ("localhost", "10.0.0.0/8", ""):
        with pytest.raises(config.ConfigError, match=f"^{name}: {wrong!r} is not an IP address"):
            load([flag, wrong])


def test_file_overrides_defaults_and_flags_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    a, b, c = (tmp_path / name for name in "abc")
    for folder in (a, b, c):
        folder.mkdir()
    path.write_text('port = 5000\ngame_timeout = 30\nlog_level = "debug"\n'
                    f'games_dirs = ["{a}", "{b}"]\nbundled_games = false\n')
    settings = load(["--config", str(path), "--port", "6000", "--games-dir", str(c)])
    assert settings.port == 6000  # flag wins
    assert settings.game_timeout == 30.0  # from the file, int accepted for a float
    assert settings.log_level == "DEBUG"
    assert settings.games_dirs == [str(c)]  # a flag replaces the file's list
    assert settings.bundled_games is False
    assert load(["--config", str(path), "--bundled-games"]).bundled_games is True


@pytest.mark.parametrize("text, message", [
    ("prot = 1\n", r"unknown setting 'prot' \(did you mean 'port'\? known: host, port, "),
    ("zzz = 1\n", r"unknown setting 'zzz' \(known: host, port, "),
    # A hobby host's guesses: a [server] table, a text without quotes.
    ('[server]\nhost = "0.0.0.0"\n', r"unknown setting 'server' \(\[server\] is a table, "
                                      "and settings go at the top of the file, outside "
                                      "tables; known: host, "),
    ("host = 0.0.0.0\n", r"not valid TOML: Expected newline or end of document after a "
                         r"statement \(at line 1, column 11\); a text, a path or an address "
                         'goes in double quotes: host = "0.0.0.0"$'),
    ("tls_cert = /etc/cert.pem\n", "Invalid value .*; a text, a path or an address goes in "
                                   "double quotes"),
    ("port = 1\nport = 2\n", r"not valid TOML: Cannot overwrite a value \(at line 2, "
                             r"column 9\)$"),  # (no word of quotes where none are missing)
    ('port = "4711"\n', "setting 'port' must be a whole number"),
    ("games = 3\n", "setting 'games' must be a list of strings"),
    ("port = \n", "is not valid TOML"),
    ("port = 70000\n", "port must be between 0 and 65535"),
    ('tls_cert = "a.pem"\n', "TLS needs both tls_cert and tls_key"),
    ("game_timeout = 0\n", "game_timeout must be at least 0.1 seconds, not 0"),
    ('isolate_games = "some"\n', "isolate_games must be 'folder', 'all' or 'off'"),
    ('web_renderers = "some"\n', "web_renderers must be 'bundled' or 'all'"),
    # Every setting with a few values to choose is checked, in a file too (argparse checks
    # the command line's): the one loop over the settings' choices.
    ('overwrite = "x"\n', "overwrite must be 'anyone', 'players' or 'idle', not 'x'"),
    ('store_sync = "x"\n', "store_sync must be 'full' or 'normal', not 'x'"),
    ('web_play = "x"\n', "web_play must be 'off', 'invite' or 'open', not 'x'"),
    ('turn_timeout_action = "x"\n', "turn_timeout_action must be 'move' or 'forfeit'"),
    ('rated_games = "x"\n', "rated_games must be 'tournament' or 'named', not 'x'"),
    ('log_level = "loud"\n', "log_level must be 'DEBUG', 'INFO', 'WARNING' or 'ERROR', "
                             "not 'LOUD'"),
    ("worker_memory_limit = 64\n", "worker_memory_limit must be at least 128"),
    ("worker_cpu_limit = 0\n", "worker_cpu_limit must be at least 1"),
    ("history_max_bytes = 1000\n",
     "history_max_bytes must be at least 1048576 .1 MiB., not 1000; to keep no history"),
    ("web_stream_buffer_max_total = 1000\n",
     r"web_stream_buffer_max_total must be at least 1048576 \(1 MiB: two live pages' worth\)"),
    ("reply_buffer_max_per_address = 1000000\n",
     r"reply_buffer_max_per_address \(1000000\) must be at least reply_buffer_max"),
    ("reply_buffer_max_total = 8000000\n",
     r"reply_buffer_max_total \(8000000\) must be at least reply_buffer_max_per_address"),
])
def test_bad_config_files_are_explained(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match=message):
        load(["--config", str(path)])


HUGE_HEX = "0x" + "f" * 5000  # TOML's hexadecimal numbers have no length limit in Python


@pytest.mark.parametrize("text, message", [
    # "" listened on every network (0.0.0.0 and ::) and logged "listening on :4711"
    ('host = ""\n', r"^host is empty: write 127.0.0.1 \(this machine only\) or 0.0.0.0 "
                    r"\(every network\)$"),
    ('web_host = ""\n', r"^web_host is empty: write 127.0.0.1 "),
    # a NUL in a path was a ValueError traceback at start ("embedded null byte")
    ('store_path = "a\\u0000b"\n', r"setting 'store_path' must not hold a control character "
                                   r"\(a newline, a NUL, ...\), not 'a\\x00b'$"),
    ('web_token_file = "a\\u0000b"\n', "setting 'web_token_file' must not hold a control"),
    ('tls_cert = "c"\ntls_key = "a\\u0000b"\n', "setting 'tls_key' must not hold a control"),
    ('games_dirs = ["a\\nb"]\n', "setting 'games_dirs' must not hold a control"),
    ('[turn_timeouts]\n"Echo\\n" = 5\n', "setting 'turn_timeouts' must not hold a control"),
    # a whole number beyond a float's range, for seconds: an OverflowError traceback
    ("game_timeout = 1" + "0" * 400 + "\n", r"^game_timeout must be a number of seconds up "
                                            r"to .*, not inf$"),
    ("[game_clocks]\nEcho = -1" + "0" * 400 + "\n", r"^game_clocks.Echo must be 0 \(no limit\) "
                                                   r"or from 0.1 .*, not -inf$"),
    # a whole number of thousands of digits: a ValueError traceback
    ("port = 1" + "0" * 5000 + "\n", "has a number too long to read: is it the right file"),
    (f"port = {HUGE_HEX}\n", "setting 'port' is a number of thousands of digits$"),
    (f"games = [{HUGE_HEX}]\n", "setting 'games' is a number of thousands of digits$"),
    # lists in lists 10,000 deep: a RecursionError traceback
    ("games = " + "[" * 10_000 + "]" * 10_000 + "\n", "nests lists or tables too deeply "
                                                    "to read: is it the right file"),
])
def test_values_that_crashed_the_start_or_listened_everywhere_are_refused(
        tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "odd.toml"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match=message):
        load(["--config", str(path)])


def test_tls_files_and_games_folders_must_be_files_and_folders(tmp_path: Path) -> None:
    """A pipe given as a TLS file blocked the start for ever; a games folder that does
    not exist (or a file) started the server without its games: one line in the log,
    and every join of those games failed."""
    data = Path(__file__).parent / "data"
    cert, key = str(data / "localhost-cert.pem"), str(data / "localhost-key.pem")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for argv, message in [
        (["--tls-cert", str(fifo), "--tls-key", key], f"tls_cert {fifo} is not a regular "
         "file (a folder, a device, a pipe?): give the PEM file"),
        (["--tls-cert", cert, "--tls-key", str(tmp_path)], f"tls_key {tmp_path} is not a "
         "regular file"),
        (["--games-dir", str(tmp_path / "nope")], f"games folder {tmp_path / 'nope'} "
         "(games_dirs) does not exist or is not a folder: give the folder that holds the "
         "game files"),
        (["--games-dir", str(tmp_path), "--games-dir", str(fifo)], f"games folder {fifo} "),
    ]:
        with pytest.raises(config.ConfigError, match=f"^{re.escape(message)}"):
            load(argv)
    assert load(["--tls-cert", cert, "--tls-key", key, "--games-dir", str(tmp_path)]).tls
    assert load(["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", key]).tls  # named
    # when the server opens it ("does not exist", "cannot be read by user ...")


SECONDS = ("game_timeout", "join_timeout", "connection_timeout", "game_call_timeout",
           "game_import_timeout", "overwrite_idle", "turn_timeout", "game_clock",
           "session_timer_min")


@pytest.mark.parametrize("name", SECONDS)
@pytest.mark.parametrize("value", ["nan", "inf", "1e308", "1e10"])
def test_seconds_beyond_any_use_are_refused_by_name(tmp_path: Path, name: str,
                                                    value: str) -> None:
    """A time of ``nan`` was taken (no comparison is true of it: game_timeout = nan never
    timed a session out); one above ~9e9 s killed the game-call watchdog's thread with
    an OverflowError traceback at start, and no game call was stopped again."""
    path = tmp_path / "extreme.toml"
    path.write_text(f"{name} = {value}\n")
    shown = re.escape(f"{float(value):g}")
    with pytest.raises(config.ConfigError, match=rf"^{name} must be .*not {shown}$"):
        load(["--config", str(path)])
    flag = "--" + name.replace("_", "-")
    with pytest.raises(config.ConfigError, match=rf"^{name} must be .*not {shown}$"):
        load([flag, value])
    assert getattr(load([flag, "1e9", "--game-timeout", "1e9"]), name) == 1e9  # 31 years


@pytest.mark.parametrize("name", config.POSITIVE_SECONDS)
def test_timeouts_too_short_for_any_use_are_refused_by_name(tmp_path: Path, name: str) -> None:
    """1e-300 seconds was taken (only 0 and less were refused): a server that timed every
    connection, call or session out at once. The least is a tenth of a second, in the file
    and as a flag."""
    path = tmp_path / "tiny.toml"
    for value in ("1e-300", "0.09"):
        path.write_text(f"{name} = {value}\n")
        message = rf"^{name} must be at least 0.1 seconds, not {re.escape(f'{float(value):g}')}$"
        with pytest.raises(config.ConfigError, match=message):
            load(["--config", str(path)])
        with pytest.raises(config.ConfigError, match=message):
            load(["--" + name.replace("_", "-"), value])
    assert getattr(load(["--" + name.replace("_", "-"), "0.1"]), name) == 0.1


def test_a_log_level_is_read_in_any_case_as_a_flag_as_in_the_file(tmp_path: Path) -> None:
    """``log_level = "debug"`` was taken from the file, ``--log-level debug`` refused."""
    path = tmp_path / "server.toml"
    for value in ("debug", "Warning", "ERROR"):
        path.write_text(f'log_level = "{value}"\n')
        assert load(["--config", str(path)]).log_level == value.upper()
        assert load(["--log-level", value]).log_level == value.upper()
    with pytest.raises(SystemExit):
        load(["--log-level", "loud"])


def test_the_shortest_timer_a_starter_may_choose_is_a_setting_of_its_own() -> None:
    """``session_timer_min``: 5 s unless set; from 0.1 (any) up, in the file or as a
    flag; nan, inf and beyond 1e9 are refused with the other times (above)."""
    assert load([]).session_timer_min == 5.0
    assert load(["--session-timer-min", "0.1"]).session_timer_min == 0.1
    assert load(["--session-timer-min", "30"]).session_timer_min == 30.0
    for value in ("-5", "0", "0.05"):
        with pytest.raises(config.ConfigError, match=rf"^session_timer_min must be at least "
                           rf"0.1 seconds .the shortest timer there is: 0.1 lets a starter "
                           rf"choose any., not {value}$"):
            load(["--session-timer-min", value])


@pytest.mark.parametrize("name, top", [("worker_memory_limit", 1 << 30),
                                       ("worker_cpu_limit", 10**9)])
def test_worker_limits_beyond_what_the_system_takes_are_refused(name: str, top: int) -> None:
    """worker_memory_limit = 99999999999999999999 (MiB) was taken, and every worker died
    at start on an OverflowError from setrlimit: no game was offered, each skipped with
    "os._exit() or sys.exit() in the game?"."""
    flag = "--" + name.replace("_", "-")
    assert getattr(load([flag, str(top)]), name) == top
    for value in (top + 1, 99999999999999999999):
        with pytest.raises(config.ConfigError, match=rf"^{name} must be at most {top} "):
            load([flag, str(value)])


def test_missing_config_file_is_explained() -> None:
    with pytest.raises(config.ConfigError, match="config file /nope.toml does not exist"):
        load(["--config", "/nope.toml"])


def test_help_documents_every_setting(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    for flag in ("--host", "--port", "--game-timeout", "--join-timeout",
                 "--request-size-max", "--connection-timeout", "--game-call-timeout",
                 "--game-import-timeout",
                 "--tls-cert", "--tls-key", "--log-level", "--game", "--games-dir",
                 "--bundled-games", "--config", "--isolate-games", "--worker-memory-limit",
                 "--worker-cpu-limit"):
        assert flag in text


def test_the_timer_actions_a_setting_offers_are_the_timers_own() -> None:
    from gameserver import timers
    assert config._FIELDS["turn_timeout_action"].metadata["choices"] == timers.ACTIONS
