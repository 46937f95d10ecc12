"""The dashboard's access token: its length, where it comes from, and guessing it."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from gameserver import config
from gameserver.config import ConfigError, Settings
from gameserver.web import _auth
from tests.serverproc import ROOT, ServerProcess
from tests.web import play
from tests.web.test_endpoints import fetch

TOKEN = "a-long-enough-secret-for-tests"


def load(*flags: str, environ: dict[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    settings = Settings()
    for name, value in vars(parser.parse_args(list(flags))).items():
        if value is not None and name != "config":
            setattr(settings, name, value)
    config.read_web_token(settings, environ or {})
    settings.check()
    return settings


# ---------------------------------------------------------------- rules, no server


def test_a_short_token_is_refused_with_how_to_make_one() -> None:
    with pytest.raises(ConfigError, match="12 characters long; it must have at least 16") as err:
        load("--web-token", "twelve-chars")
    assert "secrets.token_urlsafe" in str(err.value)
    assert load("--web-token", "x" * 16).web_token == "x" * 16


def test_the_token_comes_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.touch(mode=0o600)
    path.write_text(TOKEN + "\n")
    assert load("--web-token-file", str(path)).web_token == TOKEN
    path.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        load("--web-token-file", str(path))
    with pytest.raises(ConfigError, match="cannot read the dashboard's token file"):
        load("--web-token-file", str(tmp_path / "missing"))
    path.write_text(TOKEN)
    with pytest.raises(ConfigError, match="not both"):
        load("--web-token-file", str(path), "--web-token", TOKEN)
    # A device or a pipe is no token file (/dev/zero was read until memory ran out).
    with pytest.raises(ConfigError, match="token file /dev/zero: it is not a regular file"):
        load("--web-token-file", "/dev/zero")
    path.write_text(TOKEN + "\n" + "x" * 100_000)  # only the start of a file is read
    assert load("--web-token-file", str(path)).web_token == TOKEN
    path.write_text("x" * 100_000)
    with pytest.raises(ConfigError, match=r"its first line \(the token\) is longer than 4096"):
        load("--web-token-file", str(path))


def test_the_token_comes_from_the_environment_when_no_setting_gives_one() -> None:
    assert load(environ={config.WEB_TOKEN_ENV: TOKEN}).web_token == TOKEN
    assert load("--web-token", "y" * 20, environ={config.WEB_TOKEN_ENV: TOKEN}).web_token == (
        "y" * 20)
    with pytest.raises(ConfigError, match="at least 16"):
        load(environ={config.WEB_TOKEN_ENV: "short"})


def test_failed_attempts_empty_a_bucket_that_refills() -> None:
    throttle = _auth.Throttle(burst=3, interval=60.0, addresses=2)
    for _ in range(3):
        assert throttle.wait("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    assert 0 < throttle.wait("10.0.0.1") <= 60.0
    assert throttle.wait("10.0.0.2") == 0  # another address is not affected
    throttle.failed("10.0.0.2")
    throttle.failed("10.0.0.3")  # a third address: the oldest is forgotten (memory bound)
    assert throttle.wait("10.0.0.1") == 0


def test_failed_attempts_of_one_ipv6_host_share_the_bucket_of_its_64() -> None:
    """Each address of a /64 had a full bucket: one IPv6 host guessed without a bound."""
    throttle = _auth.Throttle(burst=3, interval=60.0)
    for n in range(3):
        throttle.failed(f"2001:db8::{n + 1}")
    assert 0 < throttle.wait("2001:db8::ffff") <= 60.0  # was 0: a fresh bucket
    assert throttle.wait("2001:db8:0:1::1") == 0  # another /64


# ---------------------------------------------------------------- across the wire


def test_guessing_is_throttled_per_address() -> None:
    """Wrong guesses were once answered ~1,600 times a second, without end."""
    server = play.web_server(web_token=TOKEN)
    try:
        logged_in = play.operator_cookie(server, TOKEN)  # the operator's browser, before
        codes = [fetch(server, "/api/games", headers={"Authorization": f"Bearer guess-{n}"})[0]
                 for n in range(_auth.GUESS_BURST + 3)]
        assert codes[:_auth.GUESS_BURST] == [401] * _auth.GUESS_BURST
        assert codes[_auth.GUESS_BURST:] == [429] * 3
        # Throttled, even the right token is not tried (the answer must tell nothing) ...
        status, headers, body = fetch(server, "/api/games",
                                      headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 429 and int(headers["Retry-After"]) >= 1
        assert "too many wrong access tokens" in json.loads(body)["error"]
        # ... and a request without any token still gets the form, not 429.
        assert fetch(server, "/")[0] == 401
        assert fetch(server, "/healthz")[0] == 200
        # The operator's browser, logged in before, is not locked out by someone sharing
        # its address (a NAT, the TLS proxy in front): its cookie, 256 bits nobody can make
        # or guess, is no guess worth throttling. It was 429 with the guesser's.
        assert fetch(server, "/api/games", headers=logged_in)[0] == 200
        status, headers, _ = fetch(server, "/?token=" + TOKEN, headers=logged_in)
        assert status == 303 and headers["Location"] == "/"  # the token out of the address
    finally:
        server.stop()


def test_a_cookie_made_from_a_guess_of_the_token_is_no_way_past_the_throttle() -> None:
    """The cookie was HMAC(key=token, a constant): anyone could make the cookie of a guess,
    and the right cookie was let in while the address was throttled, so a weak token was
    guessed through cookies as fast as they could be sent (200 for the right one, 429 for
    the others). Its key is now random for each run: such a cookie is no credential at all."""
    server = play.web_server(web_token=TOKEN)
    try:
        for n in range(_auth.GUESS_BURST + 1):
            fetch(server, "/api/games", headers={"Authorization": f"Bearer guess-{n}"})
        made = hmac.new(TOKEN.encode(), b"gameserver dashboard cookie",
                        hashlib.sha256).hexdigest()  # the right guess, as a cookie
        cookie = {"Cookie": f"{_auth.COOKIE}={made}"}
        status, _, body = fetch(server, "/api/sessions", headers=cookie)
        assert status == 401 and "access token required" in json.loads(body)["error"]
        status, _, page = fetch(server, "/", headers=cookie)
        assert status == 401 and b'name="token"' in page  # the login form, as without one
    finally:
        server.stop()


def test_the_same_wrong_token_again_is_counted_once() -> None:
    """A stale bookmark or a script with an old token, behind the operator's NAT, locked
    the operator out for good (one wrong token every 2 s). Sent again, a wrong token is
    no new guess: 401 at once, even while the address is throttled, and counted once."""
    server = play.web_server(web_token=TOKEN)
    assert server.server is not None
    server.server.dashboard.gate.throttle.interval = 3600.0  # no refill while the test runs
    stale = {"Authorization": "Bearer the-token-of-last-term"}
    try:
        codes = {fetch(server, "/api/games", headers=stale)[0]
                 for _ in range(3 * _auth.GUESS_BURST)}
        assert codes == {401}
        assert fetch(server, "/api/games", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
        codes = [fetch(server, "/api/games", headers={"Authorization": f"Bearer guess-{n}"})[0]
                 for n in range(_auth.GUESS_BURST)]  # a guesser: throttled as before
        assert codes == [401] * (_auth.GUESS_BURST - 1) + [429]  # (the stale one counted)
        last = _auth.GUESS_BURST - 2  # its last wrong guess, counted: again, a 401
        assert fetch(server, "/api/games",
                     headers={"Authorization": f"Bearer guess-{last}"})[0] == 401
        assert fetch(server, "/api/games", headers={"Authorization": "Bearer new"})[0] == 429
    finally:
        server.stop()


def test_every_guess_is_compared_as_a_digest_of_fixed_size(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """compare_digest(given, token) takes a time that follows the token's length, and
    answers at once when the lengths differ: the time of wrong guesses told the length of
    the operator's token. Each comparison is of two 32-byte digests now, whatever is sent."""
    compared: list[tuple[int, int]] = []
    compare = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((len(a), len(b)))
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    server = play.web_server(web_token=TOKEN)
    try:
        for guess in ("z", "z" * (len(TOKEN) + 7), "\u00e9" * 3):
            assert fetch(server, "/api/games",
                         headers={"Authorization": f"Bearer {guess}"})[0] == 401
        assert fetch(server, "/api/sessions", headers={"Cookie": f"{_auth.COOKIE}=abc"})[0] == 401
        assert fetch(server, "/api/games", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    finally:
        server.stop()
    assert len(compared) >= 5 and set(compared) == {(32, 32)}, compared


def test_the_cookie_is_found_in_one_pass_over_the_header() -> None:
    """http.cookies (Python < 3.11.10) is quadratic on backslashes: 16 KiB of them held
    the loop a third of a second per request (from anyone, before the token is checked),
    and this megabyte for many minutes. The parse is done in a thread: it must finish."""
    value = _auth.cookie_value(TOKEN, b"a key")
    assert _auth._cookie(f"a=1; {_auth.COOKIE}={value}; b=2") == value
    assert _auth._cookie(f"{_auth.COOKIE}x=1") is None and _auth._cookie("a=1") is None
    hostile = f'{_auth.COOKIE}="' + "\\" * 500_000 + '"'
    done = threading.Event()
    parser = threading.Thread(target=lambda: (_auth._cookie(hostile), done.set()),
                              daemon=True)
    parser.start()
    assert done.wait(play.WAIT), "the parse of a hostile Cookie header did not end"


def test_a_token_from_a_file_stays_out_of_the_process_list(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    with ServerProcess("--web", "--web-token-file", str(path), "--log-level", "INFO") as server:
        assert server.proc is not None
        cmdline = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes()
        assert TOKEN.encode() not in cmdline
        assert server.wait_for_log("dashboard on ")
        port = int(re.search(r"dashboard on http://127\.0\.0\.1:(\d+)/", server.log)[1])
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/games",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=play.WAIT) as reply:
            assert reply.status == 200


def start_refused(*flags: str) -> str:
    """The one line of a start that must fail (a server that starts fails the test)."""
    try:
        done = subprocess.run([sys.executable, "-m", "gameserver", "--no-store", "--port", "0",
                               "--web-port", "0", *flags], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
    except subprocess.TimeoutExpired as err:
        raise AssertionError(f"the server started:\n{err.stderr!r}") from None
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.splitlines()
    return line


@pytest.mark.parametrize("where", ["token file", "config file"])
def test_a_token_every_local_user_may_read_stops_the_start(tmp_path: Path,
                                                           where: str) -> None:
    """The attack of a local user on a shared machine: the host made the token file (or
    put web_token in the config file) without the README's chmod 600, so with the usual
    umask it was -rw-r--r--; the server read it as it was, and anyone there could read
    the token and watch every player's hidden cards as the operator."""
    path = tmp_path / ("token" if where == "token file" else "server.toml")
    path.write_text(TOKEN + "\n" if where == "token file" else f'web_token = "{TOKEN}"\n')
    path.chmod(0o644)
    flags = ("--web-token-file" if where == "token file" else "--config", str(path))
    line = start_refused(*flags)
    what = "the dashboard's token file" if where == "token file" else "the config file"
    holds = "" if where == "token file" else "holds the dashboard's token (web_token), and "
    assert line.endswith(f"{what} {path} {holds}is readable by every user of this machine "
                         "(-rw-r--r--): whoever reads the token sees every player's hidden "
                         f"cards on the dashboard; chmod o-r {path} (chmod 600, or 640 with "
                         "the server's group)"), line
    path.chmod(0o640)  # deploy/server.toml.example: the server's group may read it
    with ServerProcess(*flags, "--web") as server:
        assert server.wait_for_log("dashboard on ")
    if where == "config file":  # a config file without the token is no secret
        path.write_text("game_timeout = 500\n")
        path.chmod(0o644)
        with ServerProcess(*flags, "--web"):
            pass


def test_a_short_token_stops_the_start_with_one_line() -> None:
    done = subprocess.run([sys.executable, "-m", "gameserver", "--no-store", "--port", "0",
                           "--web-port", "0", "--web-token", "short"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "at least 16" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
