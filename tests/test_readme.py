"""The README's and docs/protocol.md's commands, run as written.

A newcomer types the README's commands on a fresh machine: ``python3``
(stock Debian has no ``python``), port 4711, the repository folder as the
working directory. These tests do the same, in a copy of the repository's
code (the server writes its store into the working directory) and in a
network namespace of its own (``tests.test_examples.DefaultServer``), so the
default ports are free. The second command (a virtual environment, the test
tools, the tests) is what ``.ci/run`` runs: checked by comparing the two.
"""

from __future__ import annotations

import grp
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from game_server_api import GameServerAPI
from tests.serverproc import ServerThread, free_port
from tests.test_examples import TICTACTOE_INPUT, DefaultServer, check_tictactoe_outputs
from tests.test_server import HOST, encode
from tests.wire import until

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
TIMEOUT = 120.0
DATA = ROOT / "tests" / "data"


def connectable(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=TIMEOUT).close()
    except ConnectionRefusedError:
        return False
    return True


def code_blocks(text: str, language: str = "") -> list[str]:
    """The fenced code blocks of a Markdown text (of one language, if given)."""
    return [block for lang, block in re.findall(r"^ *```(\w*)\n(.*?)^ *```", text,
                                                re.MULTILINE | re.DOTALL)
            if not language or lang == language]


def commands(block: str) -> list[str]:
    """The commands of a shell block, without their comments."""
    return [line.split("  #")[0].strip() for line in block.splitlines()
            if line.strip() and not line.startswith("#")]


def python3() -> str:
    """``python3`` as the README says it, if it is a Python 3.11+ here."""
    found = shutil.which("python3")
    if found is None:
        pytest.skip("no python3 on the PATH")
    probe = subprocess.run([found, "-c", "import sys; print(sys.version_info >= (3, 11))"],
                           capture_output=True, text=True, timeout=TIMEOUT)
    if probe.stdout.strip() != "True":
        pytest.skip(f"python3 on the PATH ({found}) is older than 3.11")
    return found


def fresh_copy(folder: Path) -> Path:
    """The repository's code, as a clone has it (without caches)."""
    for name in ("gameserver", "examples"):
        shutil.copytree(ROOT / name, folder / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "game_server_api.py", folder)
    return folder


class Newcomer:
    """The README's first command, running in a fresh copy of the code."""

    def __init__(self, copy: Path) -> None:
        first = commands(code_blocks(README)[0])[0]
        assert first == "python3 -m gameserver"
        self.copy = copy
        self.server = DefaultServer(copy, [python3(), *shlex.split(first)[1:]],
                                    until="dashboard on", env={"PATH": "/usr/bin:/bin"})

    def run(self, command: str, stdin: str | None = None) -> subprocess.Popen[str]:
        """A README command (``python3 ...``) next to the server, as a newcomer types it."""
        argv = shlex.split(command)
        assert argv[0] == "python3", command
        return subprocess.Popen([*self.server.prefix, python3(), *argv[1:],
                                 *self.server.args], cwd=self.copy, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Newcomer]:
    running = Newcomer(fresh_copy(tmp_path_factory.mktemp("fresh")))
    yield running
    running.server.stop()


def test_the_first_command_starts_the_server_as_the_quick_start_shows(newcomer) -> None:
    shown = code_blocks(README[README.index("## Quick start"):])[0].splitlines()
    server = newcomer.server
    log = [re.sub(r"^\S+ \S+ INFO +\S+: ", "", line) for line in server.log.splitlines()]
    for line in shown:
        if server.args and ("4711" in line or "8080" in line):
            continue  # no network namespace here: a free port instead
        assert line.strip() in log, f"{line!r} not in the server's output:\n{server.log}"
    assert (newcomer.copy / "gameserver.sqlite3").exists()


def test_the_quick_start_clients_play_as_written(newcomer) -> None:
    quick_start = README[README.index("## Quick start"):README.index("## Writing a client")]
    client = commands(code_blocks(quick_start, "sh")[0])[0]
    assert client == "python3 examples/tictactoe_client.py"
    players = [newcomer.run(client) for _ in range(2)]
    for player in players:  # both type at once: each waits for the other's moves
        assert player.stdin is not None
        player.stdin.write(TICTACTOE_INPUT)
        player.stdin.close()
    outputs = []
    for player in players:
        assert player.stdout is not None
        outputs.append(player.stdout.read())  # until it ends
        player.stdout.close()
        assert player.wait(TIMEOUT) == 0, outputs[-1]
    check_tictactoe_outputs(outputs)

    bot_command = re.search(r"`(python3 -m gameserver\.bot TicTacToe)`", quick_start).group(1)
    bot = newcomer.run(bot_command)
    me = newcomer.run(client)
    out = me.communicate(TICTACTOE_INPUT, timeout=TIMEOUT)[0]
    bot_out = bot.communicate(timeout=TIMEOUT)[0]
    assert out.rstrip().splitlines()[-1] in ("You win!", "You lose!", "Draw!"), out
    assert "bot: game 1 over: " in bot_out and bot.returncode == 0, bot_out


def test_the_client_under_writing_a_client_plays_as_written(newcomer) -> None:
    """The README's first client, copied into two files next to the client module: both
    play one game to its end (a taken cell is an ``IllegalMove`` it prints and goes on)."""
    section = README[README.index("## Writing a client"):]
    client = code_blocks(section, "python")[0]
    if newcomer.server.args:
        client = client.replace("port=4711", f"port={newcomer.server.args[1]}")
    (newcomer.copy / "my_client.py").write_text(client)
    players = [subprocess.Popen([*newcomer.server.prefix, python3(), "my_client.py"],
                                cwd=newcomer.copy, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(2)]
    for player in players:  # every cell in turn: the taken ones are refused
        assert player.stdin is not None
        player.stdin.write("".join(f"{cell}\n" for cell in range(9)) * 2)
        player.stdin.close()
    for player in players:
        assert player.stdout is not None
        out = player.stdout.read()
        player.stdout.close()
        assert player.wait(TIMEOUT) == 0, out
        assert re.search(r"winner: (0|1|None)$", out.strip()), out
        assert "not allowed: game: " in out, out  # a taken cell, printed as the loop says


def test_the_protocol_example_prints_what_the_page_says(newcomer) -> None:
    page = (ROOT / "docs" / "protocol.md").read_text()
    blocks = code_blocks(page)
    example = code_blocks(page, "python")[0]
    printed = blocks[blocks.index(example) + 1]  # the block after "prints"
    if newcomer.server.args:
        example = example.replace("4711", newcomer.server.args[1])
    done = subprocess.run([*newcomer.server.prefix, python3(), "-c", example],
                          cwd=newcomer.copy, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == printed


def test_the_second_command_is_what_ci_runs() -> None:
    second = commands(code_blocks(README)[0])[1]
    assert second == ('python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && '
                      ".venv/bin/python -m pytest -n auto")
    ci = [shlex.split(line) for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.startswith(("python3", ".venv/"))]
    quiet = {"--quiet", "--disable-pip-version-check", "-q"}
    ci_commands = [[word for word in line if word not in quiet] for line in ci]
    for part in second.split(" && "):
        assert shlex.split(part) in ci_commands, (part, ci_commands)


def test_the_lan_recipe_serves_students_and_a_dashboard_with_a_token(tmp_path: Path) -> None:
    section = README[README.index("### Running it for a class on a LAN"):]
    lines = commands(code_blocks(section, "sh")[0])
    assert lines[-1].startswith("python3 -m gameserver --host 0.0.0.0 --web-host 0.0.0.0 ")
    home = tmp_path / "home"
    home.mkdir()
    copy = fresh_copy(tmp_path / "fresh")
    env = {"PATH": str(Path(python3()).parent) + ":/usr/bin:/bin", "HOME": str(home)}
    for line in lines[:-1]:  # make the token file
        subprocess.run(["sh", "-c", line], cwd=copy, env=env, check=True, timeout=TIMEOUT)
    token = (home / ".gameserver-token").read_text().strip()
    assert len(token) >= 16 and (home / ".gameserver-token").stat().st_mode & 0o777 == 0o600
    argv = [word.replace("~", str(home)) for word in shlex.split(lines[-1])]
    server = DefaultServer(copy, [python3(), *argv[1:]], until="dashboard on", env=env)
    try:
        if not server.args:  # in its own network: the default ports, every address
            assert "listening on 0.0.0.0:4711 (TLS off)" in server.log
            assert "dashboard on http://0.0.0.0:8080/" in server.log
        port = server.args[1] if server.args else "4711"
        web_port = (re.search(r"dashboard on http://[\d.]+:(\d+)/", server.log).group(1))
        student = ("import sys; sys.path.insert(0, '.'); from game_server_api import "
                   f"GameServerAPI; api = GameServerAPI('127.0.0.1', {port}, 'Echo', "
                   "players=1); api.join(); api.move(msg='hi'); print(api.state()['echo'])")
        teacher = ("import sys, urllib.request, urllib.error\n"
                   f"url = 'http://127.0.0.1:{web_port}/'\n"
                   "try:\n    urllib.request.urlopen(url)\n"
                   "except urllib.error.HTTPError as err:\n    print(err.code)\n"
                   "request = urllib.request.Request(url, headers={'Authorization': "
                   "'Bearer ' + sys.argv[1]})\n"
                   "print(urllib.request.urlopen(request).status)\n")
        for code, args, expected in ((student, [], "hi\n"), (teacher, [token], "401\n200\n")):
            done = subprocess.run([*server.prefix, python3(), "-c", code, *args], cwd=copy,
                                  capture_output=True, text=True, timeout=TIMEOUT)
            assert done.stdout == expected, done.stdout + done.stderr
    finally:
        server.stop()


def test_the_tls_recipe_makes_a_certificate_a_student_can_check(tmp_path: Path) -> None:
    """The README's two TLS commands as written (an EC key), then a student's client that
    checks the certificate (``enable_tls("cert.pem")``) plays."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command (Debian: apt install openssl)")
    section = README[README.index("### TLS"):]
    make_cert, start = commands(code_blocks(section, "sh")[0])
    assert start == "python3 -m gameserver --tls-cert cert.pem --tls-key key.pem"
    copy = fresh_copy(tmp_path / "fresh")
    subprocess.run(["sh", "-c", make_cert], cwd=copy, check=True, timeout=TIMEOUT,
                   capture_output=True)
    assert "BEGIN PRIVATE KEY" in (copy / "key.pem").read_text()
    server = DefaultServer(copy, [python3(), *shlex.split(start)[1:]])
    try:
        assert "(TLS on)" in server.log, server.log
        port = server.args[1] if server.args else "4711"
        student = ("import sys; sys.path.insert(0, '.'); from game_server_api import "
                   f"GameServerAPI; api = GameServerAPI('localhost', {port}, 'Echo', "
                   "players=1); api.enable_tls('cert.pem'); api.join(); api.move(msg='hi'); "
                   "print(api.state()['echo'])")
        done = subprocess.run([*server.prefix, python3(), "-c", student], cwd=copy,
                              capture_output=True, text=True, timeout=TIMEOUT)
        assert done.stdout == "hi\n", done.stdout + done.stderr
    finally:
        server.stop()


def test_links_stay_inside_the_repository() -> None:
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:|#", target):
                continue  # a web address or an anchor
            path = (page.parent / target.split("#")[0]).resolve()
            assert path.is_relative_to(ROOT), f"{page.name} links outside: {target}"
            assert path.exists(), f"{page.name} links to a missing file: {target}"


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces
    as hyphens, a repeated one numbered (``-1``, ``-2``); headings in code blocks are none."""
    anchors: set[str] = set()
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (heading := re.match(r"#{1,6} (.+)", line)):
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            anchor, number = slug, 0
            while anchor in anchors:
                number += 1
                anchor = f"{slug}-{number}"
            anchors.add(anchor)
    return anchors


def test_heading_anchors_follow_githubs_rules() -> None:
    page = ("# A title\n## Stop 46: `x.py --tables N`, 473b23f\n"
            "```sh\n# no heading\n```\n# A title\n")
    assert heading_anchors(page) == {"a-title", "stop-46-xpy---tables-n-473b23f", "a-title-1"}


def test_links_to_a_heading_find_it() -> None:
    """A link to ``#anchor`` (of the same page or another) names a heading that exists:
    a renamed heading left the open targets' link on a missing anchor for a stop."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    anchors = {page.resolve(): heading_anchors(page.read_text()) for page in pages}
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]*#[^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, anchor = target.split("#", 1)
            linked = (page.parent / path).resolve() if path else page.resolve()
            if linked in anchors:
                assert anchor in anchors[linked], f"{page.name} links to a missing {target}"


def test_every_example_is_in_the_readme() -> None:
    for example in sorted((ROOT / "examples").glob("*.py")):
        assert f"`{example.name}" in README, f"{example.name} is not in the README's list"


def test_python_is_spelt_python3_in_the_readmes_commands() -> None:
    for block in code_blocks(README, "sh"):
        for line in commands(block):
            assert not re.match(r"python\b(?!3)", line), line  # stock Debian has no python


# What students and instructors type, as the guides and the examples spell it: a
# command with ``python`` is "command not found" on stock Debian and Ubuntu.
TYPED = re.compile(r"(?<![\w/.])python (?:-m (?:gameserver|pytest)|examples/)")


def test_python_is_spelt_python3_where_students_and_instructors_read_it() -> None:
    pages = [ROOT / "docs" / name for name in ("first-game.md", "dashboard.md",
                                                "tournaments.md", "rl.md")]
    sources = [*sorted((ROOT / "examples").glob("*.py")), ROOT / "game_server_api.py",
               *sorted((ROOT / "gameserver" / "games").glob("*.py")),
               *sorted((ROOT / "gameserver" / "web" / "static").glob("*.js"))]
    for path in [ROOT / "README.md", *pages, *sources]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not TYPED.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"


def test_no_page_or_message_says_to_install_gameserver_from_pypi() -> None:
    """``pip install 'gameserver[rl]'`` fetched a stranger's package: the ``gameserver`` on
    PyPI is another project (2011), so it installed that, and not this project's extras."""
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "examples").glob("*.py")),
             *sorted((ROOT / "gameserver").rglob("*.py"))]
    for path in paths:
        if path.name == "performance.md":
            continue  # a measurement record, written as it was run
        text = path.read_text()
        assert not re.search(r"install\W+gameserver\[", text), path.relative_to(ROOT)


def test_the_nginx_block_passes_each_player_to_the_server_as_itself(
        tmp_path: Path, make_server: Callable[..., ServerThread]) -> None:
    """The README's nginx `stream` block and server.toml lines, as written (nginx given
    free ports): players connecting through nginx from two addresses each count as
    themselves (one connection each allowed here: the second of one address is refused,
    the other address's served), and a TLS client plays through it."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if nginx is None:
        if os.environ.get("CI"):  # .ci/run installs it: missing is a failure there
            pytest.fail("nginx is missing; .ci/run installs it (nginx-light "
                        "libnginx-mod-stream)")
        pytest.skip("no nginx here (Debian: apt install nginx libnginx-mod-stream)")
    section = README[README.index("### Behind a TCP proxy"):README.index("### As a system")]
    settings = tomllib.loads(code_blocks(section, "toml")[0])
    assert settings == {"proxy_protocol_from": ["127.0.0.1"], "port": 4712}
    [block] = code_blocks(section, "nginx")
    assert "listen 4711;" in block and "proxy_pass 127.0.0.1:4712;" in block
    cert, key = str(DATA / "localhost-cert.pem"), str(DATA / "localhost-key.pem")
    for tls in (False, True):
        server = make_server(proxy_protocol_from=settings["proxy_protocol_from"],
                             max_connections_per_address=1,
                             **({"tls_cert": cert, "tls_key": key} if tls else {}))
        port = free_port()
        conf = tmp_path / f"nginx-{tls}.conf"
        module = Path("/usr/lib/nginx/modules/ngx_stream_module.so")  # (Debian's)
        conf.write_text((f"load_module {module};\n" if module.exists() else "")
                        + f"pid {tmp_path}/nginx.pid;\nevents {{}}\n"
                        + block.replace("listen 4711;", f"listen 127.0.0.1:{port};")
                        .replace("127.0.0.1:4712", f"127.0.0.1:{server.port}"))
        proxy = subprocess.Popen([nginx, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                                  "-c", str(conf), "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            until(lambda: connectable(port) or proxy.poll() is not None,  # noqa: B023
                  "nginx listens")
            assert proxy.poll() is None, (tmp_path / "error.log").read_text()
            if tls:
                student = GameServerAPI("localhost", port, "Echo", "auto", 1, "ann")
                student.enable_tls(cert)
                student.join()
                student.move(msg="through nginx")
                assert student.state()["echo"] == "through nginx"
                continue
            with socket.create_connection((HOST, port), timeout=TIMEOUT,
                                          source_address=("127.0.0.2", 0)) as held:
                held.sendall(encode({"type": "discover", "keep_alive": True}))
                assert b'"status": "ok"' in held.recv(65536)
                for source, expected in (("127.0.0.3", '"status": "ok"'),
                                         ("127.0.0.2", "too many connections from your")):
                    with socket.create_connection((HOST, port), timeout=TIMEOUT,
                                                  source_address=(source, 0)) as sock:
                        sock.sendall(encode({"type": "discover"}))
                        reply = b"".join(iter(lambda: sock.recv(65536), b""))  # noqa: B023
                    assert expected in reply.decode(), (source, reply)
        finally:
            proxy.terminate()
            proxy.wait(TIMEOUT)


def test_the_lets_encrypt_hook_copies_a_pair_the_service_can_read_and_serve(
        tmp_path: Path, make_server: Callable[..., ServerThread],
        caplog: pytest.LogCaptureFixture) -> None:
    """The README's deploy hook, as written but for its folders and group (the test's):
    certbot's live/ files of a certificate issued by an intermediate become the two files
    the example config names, readable by the group alone, and a server serves them
    without a warning (the chain is there: fullchain.pem, not cert.pem)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command (Debian: apt install openssl)")
    from tests.test_certwatch import make_issued

    section = README[README.index("### TLS"):README.index("### Behind a TCP proxy")]
    hook = next(block for block in code_blocks(section, "sh")
                if "RENEWED_LINEAGE" in block)
    assert hook.startswith("#!/bin/sh\n") and "-g gameserver" in hook
    example = (ROOT / "deploy" / "server.toml.example").read_text()
    assert '# tls_cert = "/etc/gameserver/cert.pem"' in example
    assert '# tls_key = "/etc/gameserver/key.pem"' in example
    _, full, _, _ = make_issued(tmp_path / "live")
    copies = tmp_path / "etc-gameserver"
    copies.mkdir()
    script = tmp_path / "hook"
    group = grp.getgrgid(os.getgid()).gr_name
    # Its last line has the running server take the copies (SIGHUP, the unit's
    # ExecReload: tests/test_cli.py); here it says it ran, after the copies.
    reload = "systemctl try-reload-or-restart gameserver"
    assert hook.rstrip().endswith(reload), hook
    said = tmp_path / "said"
    script.write_text(hook.replace("-g gameserver", f"-g {group}")
                      .replace("/etc/gameserver/", f"{copies}/")
                      .replace(reload, f'ls "{copies}" > "{said}"'))
    script.chmod(0o755)
    subprocess.run([str(script)], env={"PATH": "/usr/bin:/bin",
                                       "RENEWED_LINEAGE": str(full.parent)},
                   check=True, timeout=TIMEOUT)
    assert said.read_text().split() == ["cert.pem", "key.pem"]
    cert, key = copies / "cert.pem", copies / "key.pem"
    assert cert.read_text() == full.read_text()
    assert cert.stat().st_mode & 0o777 == key.stat().st_mode & 0o777 == 0o640
    with caplog.at_level(logging.WARNING, "gameserver.server"):
        make_server(tls_cert=str(cert), tls_key=str(key))
    assert not [r for r in caplog.records if "TLS" in r.getMessage()], caplog.text
