"""The files in deploy/ stay in step with the code they configure."""

from __future__ import annotations

import shlex
from pathlib import Path

from gameserver import cli, config

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


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
                       ("CapabilityBoundingSet", ""), ("User", "gameserver")]:
        assert unit[key] == [value], key


def test_example_config_is_valid() -> None:
    settings = config.Settings()
    config.apply_mapping(settings, config.read_toml(DEPLOY / "server.toml.example"),
                         source="server.toml.example")
    settings.check()
    assert settings.host == "0.0.0.0"


def test_unit_lets_game_workers_confine_themselves() -> None:
    # Workers call setrlimit and setpriority (@resources) and Landlock; a denied call
    # must fail with EPERM (logged by the server), never kill the worker with SIGSYS.
    lines = unit_settings()["SystemCallFilter"]
    denied = {name for line in lines if line.startswith("~") for name in line[1:].split()}
    allowed = {name for line in lines if not line.startswith("~") for name in line.split()}
    assert "@resources" not in denied and "@system-service" in allowed
    assert {"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"} <= allowed
    assert unit_settings()["SystemCallErrorNumber"] == ["EPERM"]
