"""``python -m gameserver`` exactly as a user runs it: startup, logs, shutdown."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import termios
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from game_server_api import GameServerAPI, GameServerError
from gameserver import cli
from gameserver.config import CONFIG_MAX
from tests import isolation
from tests.serverproc import ROOT, ServerProcess
from tests.test_certwatch import fingerprint, make_pair, served
from tests.test_game_server_api import python38
from tests.wire import TIMEOUT, Player, request, until

DATA = Path(__file__).parent / "data"


def test_server_starts_with_defaults_logs_and_serves() -> None:
    with ServerProcess() as server:
        player = Player(server.port, "Echo", "cli", 1)
        assert player.join()["status"] == "ok"
        assert player.move(msg="hello")["status"] == "ok"
        assert player.state()["data"]["echo"] == "hello"
    log = server.log
    startup = next(line for line in log.splitlines() if "listening on" in line)
    assert "(TLS off), games: " in startup
    assert all(game in startup for game in ("Chat", "Echo", "TicTacToe", "Yahtzee"))
    assert "session Echo/cli started for 1 players" in log
    assert player.key not in log  # keys are secrets


def test_a_client_cannot_write_a_line_of_the_log() -> None:
    """A session name is logged; its newline began a line that read as a record of its
    own, and an ANSI escape went to the operator's terminal as it was."""
    forged = "2026-01-01 00:00:00,000 ERROR   gameserver.lobby: forged"
    with ServerProcess() as server:
        player = Player(server.port, "Echo", f"x\n{forged}\x1b[2J\r", 1)
        assert player.join()["status"] == "ok"
        assert server.wait_for_log("started for 1 players")
    lines = server.log.splitlines()
    assert not any(line.startswith(forged[:10]) for line in lines)
    assert f"    {forged}\\x1b[2J\\r started for 1 players" in lines
    assert "\x1b" not in server.log and "\r" not in server.log


def test_a_game_error_quoting_a_huge_move_is_logged_cut(tmp_path: Path) -> None:
    """A student's game raises ``ValueError(f"... not {steps}")``: with a move of 500 KB
    the whole move went to the log at every request (the reply was cut already)."""
    shutil.copy(DATA / "students" / "raises_value_error.py", tmp_path)
    with ServerProcess("--games-dir", str(tmp_path), "--isolate-games", "off") as server:
        player = Player(server.port, "DiceRace", "big", 1)
        assert player.join()["status"] == "ok"
        reply = player.move(steps="x" * 500_000 + "END")
        assert reply["status"] == "error" and len(reply["message"]) < 300, reply
        assert server.wait_for_log("characters left out")
    assert len(server.log) < 50_000, len(server.log)
    assert "ValueError: steps must be 1 to 6, not xxx" in server.log
    assert "xxxEND" in server.log  # the end of a traceback is kept: the error's message


def in_a_terminal(ignore_hangup: bool = False) -> tuple[int, int, Callable[[], None]]:
    """A terminal for a server to run in: the master end of a new pseudo-terminal (close
    it: the terminal hangs up, as when its window or ssh session closes), the other end
    (close it once the server started), and the ``preexec_fn`` that makes that end the
    server's controlling terminal (a session of its own, as a login shell's;
    ``ignore_hangup``: as ``nohup`` starts it)."""
    master, slave = os.openpty()

    def preexec() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        if ignore_hangup:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)

    return master, slave, preexec


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "terminal closed"])
def test_signal_answers_blocked_clients_and_exits_zero(how: str) -> None:
    """The terminal (an ssh session) the server was started from closed: its SIGHUP
    killed the server on the spot, no client got an answer, nothing pending was saved.
    (Another SIGHUP reloads the certificate: see below.)"""
    master, slave, preexec = in_a_terminal() if how == "terminal closed" else (-1, -1, None)
    # DEBUG logs every request, so the test can see both reached the server.
    server = ServerProcess("--log-level", "DEBUG", preexec_fn=preexec).start()
    if slave >= 0:
        os.close(slave)  # (the server's, as its terminal)
    replies: dict[str, dict] = {}
    waiting_joiner = Player(server.port, "TicTacToe", "half", 2)  # needs a 2nd player
    echo = Player(server.port, "Echo", "solo", 1)
    assert echo.join()["status"] == "ok"
    assert echo.state()["status"] == "ok"  # the next state blocks until a change

    threads = [
        threading.Thread(target=lambda: replies.update(join=waiting_joiner.join())),
        threading.Thread(target=lambda: replies.update(state=echo.state())),
    ]
    for thread in threads:
        thread.start()
    assert server.wait_for_log("started for 2 players")
    assert server.wait_for_log("request State(", count=2)

    assert server.proc is not None
    if how == "terminal closed":
        os.close(master)  # the kernel hangs the terminal up: SIGHUP
    else:
        server.proc.send_signal(getattr(signal, how))
    assert server.proc.wait(TIMEOUT) == 0
    assert server.stop() == 0
    for thread in threads:
        thread.join(30)
    shutdown = {"status": "error", "message": "server: server is shutting down"}
    assert replies == {"join": shutdown, "state": shutdown}
    assert "gameserver stopped" in server.log
    assert echo.key not in server.log  # not even at DEBUG level
    if how == "terminal closed":
        assert "SIGHUP: the terminal the server runs in closed" in server.log


def test_a_server_started_with_nohup_keeps_running_when_its_terminal_closes() -> None:
    """... and a SIGHUP after that (the operator's, logged out) is a reload, as any other
    SIGHUP of a server without a terminal."""
    master, slave, preexec = in_a_terminal(ignore_hangup=True)
    with ServerProcess(preexec_fn=preexec) as server:
        assert server.proc is not None
        os.close(slave)
        os.close(master)
        assert server.wait_for_log("it keeps running, as SIGHUP was ignored when it "
                                   "started (nohup)")
        assert Player(server.port, "Echo", "after-hangup", 1).join()["status"] == "ok"
        server.proc.send_signal(signal.SIGHUP)
        assert server.wait_for_log("reload asked for (SIGHUP): TLS is off")
        assert Player(server.port, "Echo", "after-reload", 1).join()["status"] == "ok"
        assert server.proc.poll() is None


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_sighup_reloads_the_certificate_for_new_connections_and_keeps_games(
        tmp_path: Path) -> None:
    """certbot renews, its deploy hook runs ``systemctl reload`` (SIGHUP): the server
    stopped, dropping every game. Now new connections get the new certificate, one open
    keeps its own (a kept-alive player goes on playing, checking the old certificate),
    a pair that cannot be used leaves the served one and the log says why, and a SIGHUP
    with nothing changed says so."""
    old, new, third = (make_pair(tmp_path / name, 3650) for name in ("1", "2", "3"))
    live = tmp_path / "etc"
    live.mkdir()
    cert, key = live / "cert.pem", live / "key.pem"

    def install(source: Path, target: Path) -> None:  # (as install(1) does: a new file)
        shutil.copy(source, target.with_suffix(".new"))
        os.replace(target.with_suffix(".new"), target)

    install(old[0], cert)
    install(old[1], key)
    with ServerProcess("--tls-cert", str(cert), "--tls-key", str(key)) as server:
        assert server.proc is not None
        assert served(server.port) == fingerprint(old[0])
        api = GameServerAPI("localhost", server.port, "Echo", players=1, keep_alive=True)
        api.enable_tls(str(old[0]))  # checks the old certificate: a new connection fails
        api.join()
        kept = list(api._idle)

        def reload(count: int, text: str) -> None:
            server.proc.send_signal(signal.SIGHUP)
            assert server.wait_for_log(text, count), server.log
            assert server.proc.poll() is None

        install(new[0], cert)
        install(new[1], key)
        reload(1, "reloaded, as asked for (SIGHUP)")
        assert served(server.port) == fingerprint(new[0])
        api.move(msg="across the reload")
        assert api.state()["echo"] == "across the reload" and api._idle == kept
        install(third[0], cert)  # its key not yet: they do not match
        reload(1, "reload asked for (SIGHUP), and the certificate or key file cannot be used")
        assert "new connections still get the certificate loaded before" in server.log
        assert served(server.port) == fingerprint(new[0])
        reload(2, "reload asked for (SIGHUP), and the certificate or key file cannot be used")
        install(third[1], key)
        reload(2, "reloaded, as asked for (SIGHUP)")
        assert served(server.port) == fingerprint(third[0])
        reload(1, "reload asked for (SIGHUP): the certificate and key files have not changed")
        assert served(server.port) == fingerprint(third[0])
        api.move(msg="still")
        assert api.state()["echo"] == "still" and api._idle == kept
        api.close()
    assert "gameserver stopped" in server.log


def test_classic_game_file_loads_unchanged_from_a_games_dir() -> None:
    with ServerProcess("--games-dir", str(DATA / "classic_games")) as server:
        player = Player(server.port, "CoinGuess", "c", 1)
        assert player.join()["status"] == "ok"
        assert player.move(guess="edge") == {
            "status": "illegalmove", "message": "game: guess must be heads or tails"}
        assert player.move(guess="heads")["status"] == "ok"
        assert player.state()["data"] == {"guesses": [[0, "heads"]], "current": [0],
                                          "gameover": False}
    assert "game CoinGuess loaded from" in server.log


def test_only_selected_games_are_offered() -> None:
    with ServerProcess("--game", "TicTacToe") as server:
        reply = request(server.port, {"type": "join", "game": "Echo", "session": "x",
                                      "players": 1, "name": ""})
    assert reply["message"] == "framework: no such game: 'Echo' (available: TicTacToe)"


def run_failing(*args: str, cwd: Path, prefix: tuple[str, ...] = (),
                python: str = sys.executable,
                code: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m gameserver ARGS`` that is expected to fail at start.

    It runs in ``cwd`` (a tmp_path: a server that gets far enough to open its
    store must not leave a file in the checkout), importing the package from
    ``code`` (this checkout, or a copy that an unprivileged user may read).
    """
    env = {**os.environ, "PYTHONPATH": str(code)}
    return subprocess.run([*prefix, python, "-m", "gameserver", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed start printed (and nothing else: no traceback).

    A wrong setting is printed before there is a log; a failure while the
    server starts is a line of the log: its time stamp and level are cut off.
    """
    assert result.returncode == 2, result
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = re.sub(r"^\d{4}-\d\d-\d\d [\d:,]+ ERROR +", "", lines[0])
    assert line.startswith("gameserver: "), result.stderr
    return line


def test_bad_settings_exit_with_a_clear_message(tmp_path: Path) -> None:
    assert "port must be between 0 and 65535" in one_line(
        run_failing("--port", "99999", cwd=tmp_path))


def test_the_same_port_for_the_server_and_its_dashboard_is_refused(tmp_path: Path) -> None:
    """It started without the dashboard (an ERROR line in the log): the server took the
    port first, the dashboard's listening failed."""
    assert one_line(run_failing("--port", "47123", "--web-port", "47123", cwd=tmp_path)) == (
        "gameserver: port and web_port are both 47123: the game server and the dashboard "
        "need a port each (set --web-port to another port, 0 for a free one, or use "
        "--no-web)")


def test_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(run_failing("--port", str(port), "--no-web", cwd=tmp_path))
    assert line == (f"gameserver: port {port} is already in use on 127.0.0.1: is another "
                    "gameserver (or another program) running? Stop it, or pick another port "
                    "with --port")


def test_an_address_of_another_machine_is_named(tmp_path: Path) -> None:
    line = one_line(run_failing("--host", "192.0.2.1", "--port", "0", "--no-web",
                                cwd=tmp_path))  # TEST-NET-1: never an address of ours
    assert line.startswith("gameserver: cannot listen on 192.0.2.1: it is not an address of "
                           "this machine")


def test_a_low_port_without_permission_is_named() -> None:
    """As a user without privileges (``nobody`` when the tests run as root)."""
    user, reason = isolation.unprivileged()
    network, no_network = isolation.private_network()
    if reason or (no_network and os.getuid() == 0):
        pytest.skip(f"cannot run the server without privileges here: {reason or no_network}")
    python = isolation.python_for(user)
    if python is None:
        pytest.skip("no Python 3.11 that an unprivileged user may run")
    # In a network namespace of its own, low ports are privileged whatever this
    # machine's net.ipv4.ip_unprivileged_port_start says.
    with isolation.open_folder() as folder:
        code = isolation.readable_copy(folder)
        result = run_failing("--port", "80", "--no-web", "--no-store", cwd=code, code=code,
                             prefix=(*network, *user), python=python)
    assert one_line(result).startswith(
        "gameserver: no permission to listen on port 80: ports below 1024 are for the "
        "system administrator (user ")
    assert "pick a port from 1024 up with --port (the default is 4711)" in result.stderr


def test_missing_tls_file_is_named(tmp_path: Path, tls_pair: tuple[str, str]) -> None:
    line = one_line(run_failing("--port", "0", "--no-web", "--tls-cert", tls_pair[0],
                                "--tls-key", "/nope.key", cwd=tmp_path))
    assert line == ("gameserver: TLS key file /nope.key does not exist (--tls-key); make a "
                    "certificate and key with the openssl command in the README")


def test_unreadable_tls_file_is_named(tls_pair: tuple[str, str]) -> None:
    user, reason = isolation.unprivileged()
    if reason:
        pytest.skip(f"cannot run the server without privileges here: {reason}")
    python = isolation.python_for(user)
    if python is None:
        pytest.skip("no Python 3.11 that an unprivileged user may run")
    with isolation.open_folder() as folder:
        isolation.readable_copy(folder)
        cert, key = folder / "cert.pem", folder / "key.pem"
        cert.write_bytes(Path(tls_pair[0]).read_bytes())
        cert.chmod(0o644)
        key.write_bytes(Path(tls_pair[1]).read_bytes())
        key.chmod(0o600 if os.getuid() == 0 else 0o000)  # root's alone, or nobody's
        line = one_line(run_failing("--port", "0", "--no-web", "--no-store", "--tls-cert",
                                    str(cert), "--tls-key", str(key), cwd=folder, code=folder,
                                    prefix=tuple(user), python=python))
    assert line.startswith(f"gameserver: TLS key file {key} cannot be read by user ")
    assert line.endswith("that runs the server: give that user read access (e.g. chgrp and "
                         "chmod 640)")


@pytest.mark.parametrize(("pair", "expected"), [
    (("localhost-key.pem", "localhost-key.pem"),
     "TLS certificate file {cert} is not a PEM certificate"),
    (("localhost-cert.pem", "other-key.pem"),
     "TLS key {key} does not belong to the certificate {cert}: give the key that was made "
     "with this certificate"),
])
def test_wrong_tls_files_are_named(tmp_path: Path, pair: tuple[str, str], expected: str) -> None:
    cert, key = (str(DATA / name) for name in pair)
    line = one_line(run_failing("--port", "0", "--no-web", "--tls-cert", cert, "--tls-key",
                                key, cwd=tmp_path))
    assert line.startswith("gameserver: " + expected.format(cert=cert, key=key)), line


def test_an_expired_certificate_is_named_at_start(tls_pair: tuple[str, str]) -> None:
    """OpenSSL serves an expired certificate without a word: clients that check it were
    refused (their error says "certificate has expired"), and the server's log said nothing,
    not even of the handshakes that failed (those are logged at DEBUG)."""
    cert, key = str(DATA / "expired-cert.pem"), str(DATA / "expired-key.pem")
    with ServerProcess("--no-web", "--tls-cert", cert, "--tls-key", key) as server:
        assert (f"WARNING gameserver.server: TLS certificate {cert} expired on 2021-01-01: "
                "clients that check it (enable_tls('cert.pem')) refuse to connect; put a "
                "renewed certificate in its place") in server.log
        client = GameServerAPI("localhost", server.port, "Echo", players=1)
        client.enable_tls(cert)
        with pytest.raises(GameServerError, match="certificate has expired"):
            client.join()
        # A client that only encrypts does not check dates: the server still serves it.
        client = GameServerAPI("localhost", server.port, "Echo", players=1)
        client.enable_tls()
        client.join()
        client.close()
    with ServerProcess("--no-web", "--tls-cert", tls_pair[0], "--tls-key", tls_pair[1]) as good:
        pass
    assert "WARNING" not in good.log


def test_config_file_errors_are_named_with_the_line(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text('port = 4711\nhost = 0.0.0.0\n')  # the address needs quotes
    assert one_line(run_failing("--config", str(config), cwd=tmp_path)) == (
        f"gameserver: config file {config} is not valid TOML: Expected newline or end of "
        "document after a statement (at line 2, column 11); a text, a path or an address "
        'goes in double quotes: host = "0.0.0.0"')
    assert one_line(run_failing("--config", str(tmp_path / "nope.toml"), cwd=tmp_path)) == (
        f"gameserver: config file {tmp_path / 'nope.toml'} does not exist")
    assert one_line(run_failing("--config", str(tmp_path), cwd=tmp_path)) == (
        f"gameserver: config file {tmp_path} cannot be read: is a directory")
    config.write_text('port = "4711"\n')
    assert one_line(run_failing("--config", str(config), cwd=tmp_path)) == (
        f"gameserver: {config}: setting 'port' must be a whole number, not '4711'")
    # /dev/zero read as a config file took all the memory there was (MemoryError, a
    # traceback); a FIFO nobody writes to blocked the start for ever
    config.write_text("# " + "x" * CONFIG_MAX + "\n")
    assert one_line(run_failing("--config", str(config), cwd=tmp_path)) == (
        f"gameserver: config file {config} is longer than {CONFIG_MAX} bytes: is it the "
        "right file?")
    os.mkfifo(tmp_path / "fifo")
    for path in (Path("/dev/zero"), tmp_path / "fifo"):
        assert one_line(run_failing("--config", str(path), cwd=tmp_path)) == (
            f"gameserver: config file {path} is not a regular file (a device, a pipe?): "
            "give a TOML file")


GAMES = ("Battleship, Chat, ConnectFour, CrazyEights, Echo, Nim, NumberRace, "
         "RockPaperScissors, SecretCode, TicTacToe, Yahtzee")


@pytest.mark.parametrize(("text", "expected"), [
    # it listened on every network (0.0.0.0 and ::), and said "listening on :PORT"
    ('host = ""\n', "host is empty: write 127.0.0.1 (this machine only) or 0.0.0.0 (every "
                    "network)"),
    # the start blocked for ever, reading the pipe
    ('tls_cert = "{tmp}/fifo"\ntls_key = "{tmp}/fifo"\n',
     "tls_cert {tmp}/fifo is not a regular file (a folder, a device, a pipe?): give the PEM "
     "file"),
    # it started without the folder's games (an ERROR line); their joins failed
    ('games_dirs = ["{tmp}/gmaes"]\n', "games folder {tmp}/gmaes (games_dirs) does not exist "
     "or is not a folder: give the folder that holds the game files"),
    # tracebacks: "embedded null byte" (ValueError), "int too large to convert to float"
    ('store = true\nstore_path = "{tmp}/a\\u0000b"\n', "{tmp}/server.toml: setting "
     "'store_path' must not hold a control character (a newline, a NUL, ...), not "
     "'{tmp}/a\\x00b'"),
    ("game_timeout = 1" + "0" * 400 + "\n", "game_timeout must be a number of seconds up to "
     "1,000,000,000 (about 31 years), not inf"),
    # it started: every connection timed out at once
    ("connection_timeout = 1e-300\n", "connection_timeout must be at least 0.1 seconds, "
     "not 1e-300"),
    # 20 spaces: a "token" of blanks, accepted
    ('web_token = "                    "\n', "the dashboard's access token is only "
     "blanks: give a token of at least 16 characters (make one with: python3 -c \"import "
     "secrets; print(secrets.token_urlsafe(24))\")"),
])
def test_settings_that_misbehaved_at_start_are_one_line(tmp_path: Path, text: str,
                                                        expected: str) -> None:
    os.mkfifo(tmp_path / "fifo")
    config = tmp_path / "server.toml"
    config.write_text(text.replace("{tmp}", str(tmp_path)))
    line = one_line(run_failing("--config", str(config), "--port", "0", "--no-web",
                                cwd=tmp_path))
    assert line == "gameserver: " + expected.replace("{tmp}", str(tmp_path))


def test_a_timer_for_a_game_the_server_lacks_is_said_and_the_server_starts(
        tmp_path: Path) -> None:
    """A misspelt ``[turn_timeouts]`` entry set no timer for anyone, and nothing said so.
    Said now, at start; not refused: the name may be a student's game whose file failed
    to load, which must not keep the class's server from starting."""
    config = tmp_path / "server.toml"
    config.write_text("[turn_timeouts]\nYahtze = 30\n")
    with ServerProcess("--config", str(config), cwd=tmp_path) as server:
        assert Player(server.port, "Echo", "timers", 1).join()["status"] == "ok"
    assert ("ERROR   gameserver.server: turn_timeouts names a game this server does not "
            f"have: 'Yahtze' (its games: {GAMES}); it sets no timer: write a game's class "
            "name") in server.log


def old_pythons() -> list[str]:
    """Interpreters older than 3.11 on this machine (pyenv's, Debian's, PATH)."""
    candidates = {python38()}
    candidates.update(str(path) for path in
                      Path.home().glob(".pyenv/versions/[23].*/bin/python"))
    candidates.update(shutil.which(f"python3.{minor}") for minor in range(6, 11))
    found = []
    for candidate in sorted(c for c in candidates if c):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info < (3, 11))"],
                               capture_output=True, text=True, timeout=60)
        if probe.stdout.strip() == "True":
            found.append(candidate)
    return found


def test_a_python_older_than_3_11_gets_one_line(tmp_path: Path) -> None:
    pythons = old_pythons()
    if not pythons:
        pytest.skip("no Python older than 3.11 on this machine ($PYTHON38, pyenv, PATH)")
    for python in pythons:
        line = one_line(run_failing("--port", "0", cwd=tmp_path, python=python))
        assert line.startswith("gameserver: needs Python 3.11 or newer; this is Python "), line
        assert line.endswith("Install a newer Python and start the server with it, e.g. "
                             "python3.11 -m gameserver")
    assert list(tmp_path.iterdir()) == []


def test_help_names_the_command_as_it_was_typed(tmp_path: Path) -> None:
    console = subprocess.run(  # what pip's generated `gameserver` script does
        [sys.executable, "-c", "import sys; from gameserver.cli import main; sys.exit(main())",
         "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert console.stdout.startswith("usage: gameserver [-h]"), console.stdout
    assert "'gameserver check GAME_FILE'" in console.stdout
    module = run_failing("--help", cwd=tmp_path)
    python = Path(sys.executable).name
    assert module.stdout.startswith(f"usage: {python} -m gameserver [-h]"), module.stdout
    installed = Path(sys.executable).parent / "gameserver"
    if installed.exists():  # pip install -e . made the real command
        real = subprocess.run([str(installed), "--help"], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)
        assert real.stdout.startswith("usage: gameserver [-h]"), real.stdout


def test_the_accelerator_runs_where_installed_and_can_be_turned_off() -> None:
    factory, line = cli.accelerate(False)
    assert factory is None and "--no-accelerate" in line
    factory, line = cli.accelerate(True)
    try:
        import uvloop
    except ImportError:
        assert factory is None and "pip install uvloop" in line
    else:
        assert factory is uvloop.new_event_loop and "uvloop" in line


def test_a_log_nobody_reads_does_not_stop_the_server(tmp_path: Path) -> None:
    """The server started with its stderr a pipe nobody reads (a launcher script's
    ``Popen(stderr=PIPE)``, a terminal paused with Ctrl-S): once the pipe was full, the
    next log line blocked the event loop, and every client waited for ever. Now the
    log is written by a thread of its own; what does not fit in its buffer is left out
    and counted, and the count is logged once the reader reads again."""
    import fcntl

    from tests.serverproc import free_port

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)  # full after ~30 lines
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gameserver", "--port", str(port), "--no-web", "--no-store",
         "--max-sessions-per-address", "1000"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=write_end)
    os.close(write_end)
    try:
        until(lambda: _connectable(port), "listening")
        for n in range(300):  # each logs "session Echo/... started": ~35 KB in all
            assert Player(port, "Echo", f"unread-{n:03}-" + "x" * 40, 1).join()[
                "status"] == "ok"
        proc.send_signal(signal.SIGINT)
        with os.fdopen(read_end, "rb") as log:
            read_end = -1
            text = log.read().decode()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if read_end >= 0:
            os.close(read_end)
    started = re.findall(r"session Echo/unread-(\d+)-x+ started", text)
    assert started == [f"{n:03}" for n in range(300)], text  # all of it, in order
    assert text.rstrip().endswith("gameserver stopped"), text


def test_what_the_log_cannot_hold_is_counted_once_it_is_read() -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # a descriptor left non-blocking by the launcher
    with os.fdopen(write_end, "w") as stream, os.fdopen(read_end, "rb") as pipe:
        writer = cli.LogWriter(stream, limit=3000)
        writer.setFormatter(cli.LineFormatter("%(levelname)s %(name)s: %(message)s"))
        record = {"name": "gameserver.lobby", "levelno": 20, "levelname": "INFO"}
        for n in range(5000):  # the pipe holds 64 KiB, the queue 3,000 characters
            writer.emit(logging.makeLogRecord({**record, "msg": f"record {n:04} " + "x" * 20}))
        kept: list[int] = []
        dropped: list[int] = []
        text = ""
        while len(kept) + sum(dropped) < 5000:  # every record written or counted
            text += pipe.read1(65536).decode()
            *lines, text = text.split("\n")
            kept += [int(line.split()[3]) for line in lines if line.startswith("INFO")]
            warnings = [line for line in lines if not line.startswith("INFO")]
            assert all(re.fullmatch(r"WARNING gameserver: \d+ log records were left out: "
                                    r"nobody read the log \(a full pipe or a paused "
                                    r"terminal\?\)", line) for line in warnings), warnings
            dropped += [int(line.split()[2]) for line in warnings]
        writer.flush()
    assert kept == sorted(kept) and dropped and len(kept) > 100


def _connectable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError:
        return False
    return True
