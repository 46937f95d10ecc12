"""The files in deploy/ stay in step with the code they configure, and the unit starts.

There is no systemd to run the unit here (tests run in containers), so
``test_unit_starts_as_shipped`` does what the unit tells systemd to do, in a
folder that stands for the file system: its ExecStart, as its user (nobody),
in its working directory, with its environment and umask, the example config
installed as the unit's comments say, the code folder read-only, in a
network namespace of its own (so the config's port 4711 is free).
``systemd-analyze verify`` checks the unit's syntax where it is installed.
"""

from __future__ import annotations

import inspect
import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from gameserver import cli, config, workers
from gameserver.server import GameServer
from gameserver.store import writer
from tests import isolation

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
TIMEOUT = 60.0


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / "gameserver.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_unit_runs_the_server_with_flags_the_cli_accepts() -> None:
    command = shlex.split(unit_settings()["ExecStart"][0])
    assert command[1:3] == ["-m", "gameserver"]
    args = cli.build_parser().parse_args(command[3:])
    assert args.config == "/etc/gameserver/server.toml"


def test_unit_is_hardened() -> None:
    unit = unit_settings()
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                       ("MemoryDenyWriteExecute", "yes"), ("CapabilityBoundingSet", ""),
                       ("User", "gameserver"), ("StateDirectory", "gameserver"),
                       ("WorkingDirectory", "/var/lib/gameserver")]:
        assert unit[key] == [value], key


def test_unit_lets_game_workers_confine_themselves() -> None:
    # Workers call setrlimit and setpriority (@resources) and Landlock; a denied call
    # must fail with EPERM (logged by the server), never kill the worker with SIGSYS.
    lines = unit_settings()["SystemCallFilter"]
    denied = {name for line in lines if line.startswith("~") for name in line[1:].split()}
    allowed = {name for line in lines if not line.startswith("~") for name in line.split()}
    assert "@resources" not in denied and "@system-service" in allowed
    assert {"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"} <= allowed
    assert unit_settings()["SystemCallErrorNumber"] == ["EPERM"]


def test_unit_waits_for_the_stop_as_long_as_the_server_may_take() -> None:
    """The unit had TimeoutStopSec=10 while the store waits up to 30 s for its writer as
    it stops (a slow disk): systemd then killed it mid-write, the store's last commit and
    its line saying what was saved lost. The unit gives the stop's parts their most: the
    clients' grace, one game worker, the store's close (``CLOSE_MAX``)."""
    stop = float(unit_settings()["TimeoutStopSec"][0])
    grace = inspect.signature(GameServer.stop).parameters["grace"].default
    assert stop >= grace + workers.KILLED_WAIT + writer.CLOSE_MAX
    comment = (DEPLOY / "gameserver.service").read_text()
    assert f"clients {grace:g} s, each game worker {workers.KILLED_WAIT:g} s" in comment
    assert f"store up to {writer.CLOSE_MAX:g} s" in comment


def test_unit_reloads_with_the_signal_that_reloads_the_certificate() -> None:
    """``systemctl reload`` (certbot's deploy hook) had no ExecReload to run, and SIGHUP
    stopped the server; now it reloads the certificate (``cli.Hangup``), and the unit
    sends it (``start_as_the_unit_says`` checks that the server goes on)."""
    assert reload_signal() == signal.SIGHUP


def reload_signal() -> signal.Signals:
    command = shlex.split(unit_settings()["ExecReload"][0])
    assert command[0] == "/bin/kill" and command[2] == "$MAINPID", command
    return signal.Signals[f"SIG{command[1].removeprefix('-')}"]


def test_unit_comments_describe_the_present() -> None:
    text = (DEPLOY / "gameserver.service").read_text()
    assert "later" not in text.lower()  # e.g. "for a later SQLite store"


def test_example_config_is_valid_and_keeps_the_store_in_the_state_directory() -> None:
    settings = config.Settings()
    config.apply_mapping(settings, config.read_toml(DEPLOY / "server.toml.example"),
                         source="server.toml.example")
    settings.check()
    assert settings.host == "0.0.0.0"
    state = "/var/lib/gameserver"
    assert unit_settings()["WorkingDirectory"] == [state]
    assert Path(settings.store_path).parent == Path(state)


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI"):  # .ci/run installs systemd: missing is a failure there
            pytest.fail("systemd-analyze is missing; .ci/run installs it (apt-get install "
                        "systemd)")
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    unit = tmp_path / "gameserver.service"
    shutil.copy(DEPLOY / "gameserver.service", unit)
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=TIMEOUT)
    # verify exits 0 after mere warnings (an unknown key, a misspelt system call group):
    # here any remark about the unit is a failure.
    remarks = [line for line in (done.stdout + done.stderr).splitlines()
               if "gameserver.service" in line]
    assert done.returncode == 0 and remarks == [], done.stdout + done.stderr


def test_unit_starts_as_shipped() -> None:
    user, reason = isolation.unprivileged()
    network, no_network = isolation.private_network()
    if reason or no_network:
        pytest.skip(f"cannot play the unit's part here: {reason or no_network}")
    with isolation.open_folder() as folder:
        start_as_the_unit_says(folder / "root", user, network)


def start_as_the_unit_says(root: Path, user: list[str], network: list[str]) -> None:
    """``root`` stands for /: install there, start, stop, look what was written."""
    unit = unit_settings()
    places = {"/opt/gameserver": root / "opt/gameserver",
              "/etc/gameserver": root / "etc/gameserver",
              "/var/lib/gameserver": root / "var/lib/gameserver"}

    def here(text: str) -> str:
        for real, standin in places.items():
            text = text.replace(real, str(standin))
        return text

    # Install as the unit's comments say: the code, the example config.
    places["/opt/gameserver"].mkdir(parents=True)
    isolation.readable_copy(places["/opt/gameserver"])
    places["/etc/gameserver"].mkdir(parents=True)
    (places["/etc/gameserver"] / "server.toml").write_text(
        here((DEPLOY / "server.toml.example").read_text()))
    state = places["/var/lib/gameserver"]
    state.parent.mkdir(parents=True)
    for folder in (root, root / "opt", root / "etc", places["/etc/gameserver"], root / "var",
                   root / "var/lib"):
        folder.chmod(0o755)  # read-only for the service's user, like /opt under ProtectSystem
    (places["/etc/gameserver"] / "server.toml").chmod(0o644)
    # StateDirectory=: systemd makes it, owned by the service's user, mode 0700.
    state.mkdir(mode=0o700)
    if os.getuid() == 0:
        os.chown(state, 65534, 65534)

    command = shlex.split(here(unit["ExecStart"][0]))
    # The unit's /usr/bin/python3, where it is a 3.11+ that nobody may run; else another.
    python = isolation.python_for(user, (command[0],)) or isolation.python_for(user)
    if python is None:
        pytest.skip("no Python 3.11 that an unprivileged user may run")
    command[0] = python
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    for line in unit.get("Environment", []):
        env.update(pair.split("=", 1) for pair in shlex.split(here(line)))
    umask = int(unit["UMask"][0], 8)
    before = sorted(p for p in root.rglob("*") if state not in p.parents)
    server = subprocess.Popen(
        [*network, *isolation.memory_deny_write_execute(), *user, *command],
        cwd=here(unit["WorkingDirectory"][0]), env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, preexec_fn=lambda: os.umask(umask))
    assert server.stdout is not None
    log = []
    try:
        for line in server.stdout:  # until the last line of the start (or a failure)
            log.append(line)
            if "dashboard" in line or "Traceback" in line:
                break
        text = "".join(log)
        assert re.search(r"listening on 0\.0\.0\.0:4711 \(TLS off\)", text), text
        assert f"sessions and history saved in {state}/gameserver.sqlite3" in text, text
        assert "dashboard on http://127.0.0.1:8080/" in text, text
        server.send_signal(reload_signal())  # systemctl reload: the server goes on
        for line in server.stdout:
            log.append(line)
            if "reload asked for" in line or "Traceback" in line:
                break
        assert "TLS is off, no certificate to reload" in log[-1], "".join(log)
        assert server.poll() is None
        server.send_signal(getattr(signal, unit["KillSignal"][0]))
        rest, _ = server.communicate(timeout=float(unit["TimeoutStopSec"][0]))
        assert server.returncode == 0, text + rest
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(TIMEOUT)
        server.stdout.close()
    # Written: the store, in the state directory, for the service's user alone.
    assert sorted(p for p in root.rglob("*") if state not in p.parents) == before
    store = state / "gameserver.sqlite3"
    assert store.exists() and store.stat().st_mode & 0o777 == 0o600
