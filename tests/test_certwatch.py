"""A server that runs for months (``_certwatch``): a renewed certificate on disk is served to
new connections, a coming expiry is warned of every day, a bad renewal is not taken.

Real servers with TLS on loopback ports, certificates made by the ``openssl`` command
(the README's) and swapped the way certbot does it: its live/ names are symbolic links,
pointed at the new files one after the other (certificate first, then key). The hourly
check is run at once by the test (``check_certificate``), and for the daily warnings the
watch's clock is set days ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import os
import shutil
import socket
import ssl
import subprocess
import time
import warnings as warnings_module
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gameserver import metrics
from gameserver import server as server_module
from gameserver.config import Settings, StartupError
from gameserver.server import GameServer
from tests.serverproc import ServerThread
from tests.wire import TERMINATOR, until

DATA = Path(__file__).parent / "data"
DAY = 86400.0

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="no openssl command (Debian: apt install openssl)")


def make_pair(folder: Path, days: int) -> tuple[Path, Path]:
    """A new self-signed certificate for localhost valid ``days`` days, and its key."""
    folder.mkdir(parents=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", str(days), "-subj", "/CN=localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def point(link: Path, target: Path) -> None:
    """Point the symbolic link ``link`` at ``target`` at once (as certbot renews live/)."""
    new = link.with_name(link.name + ".new")
    new.unlink(missing_ok=True)
    new.symlink_to(target)
    os.replace(new, link)


def served(port: int) -> str:
    """The SHA-256 of the certificate a new TLS connection to ``port`` gets."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def fingerprint(cert: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert.read_text())).hexdigest()


def live(tmp_path: Path, pair: tuple[Path, Path]) -> tuple[Path, Path]:
    """live/cert.pem and live/key.pem, links to ``pair``."""
    (tmp_path / "live").mkdir()
    links = tmp_path / "live" / "cert.pem", tmp_path / "live" / "key.pem"
    for link, target in zip(links, pair, strict=True):
        link.symlink_to(target)
    return links


def check(server: ServerThread) -> None:
    """The hourly check, now: the files are read on a thread; wait until it is done."""
    assert server.server is not None
    task = server.call(server.server.check_certificate)
    until(lambda: server.call(task.done), "the certificate check to end")
    server.call(task.result)  # (what it raised, raised here)


def warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and text in r.getMessage()]


def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart(
        tmp_path: Path, make_server: Callable[..., ServerThread],
        caplog: pytest.LogCaptureFixture) -> None:
    """The files were read once, at start: a certificate renewed on disk was served only
    after a restart, and clients that check it were refused from the old one's expiry on.
    Between certbot's two writes the pair does not match: that is not taken (the served
    context is not touched), and the complete pair is, at the next check."""
    old, new = make_pair(tmp_path / "1", 3650), make_pair(tmp_path / "2", 3650)
    cert, key = live(tmp_path, old)
    server = make_server(tls_cert=str(cert), tls_key=str(key))
    assert server.port is not None
    assert served(server.port) == fingerprint(old[0])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
            context.wrap_socket(raw) as before:  # open across the renewal
        with caplog.at_level(logging.INFO, "gameserver.server"):
            point(cert, new[0])  # certbot: the certificate first ...
            check(server)
            assert served(server.port) == fingerprint(old[0])
            assert warnings(caplog, "does not belong to the certificate")
            assert warnings(caplog, "new connections still get the certificate loaded before")
            point(key, new[1])  # ... then its key
            check(server)
        assert served(server.port) == fingerprint(new[0])
        assert any("reloaded, as it changed on disk" in r.getMessage() for r in caplog.records)
        before.sendall(b'{"type":"discover"}' + TERMINATOR)  # the open one still plays
        assert b'"status": "ok"' in before.recv(65536)
    check(server)  # nothing changed since: nothing happens
    assert served(server.port) == fingerprint(new[0])


def test_a_renewal_that_is_expired_or_no_certificate_is_not_taken(
        tmp_path: Path, make_server: Callable[..., ServerThread],
        caplog: pytest.LogCaptureFixture) -> None:
    old = make_pair(tmp_path / "1", 3650)
    cert, key = live(tmp_path, old)
    server = make_server(tls_cert=str(cert), tls_key=str(key))
    assert server.port is not None
    with caplog.at_level(logging.INFO, "gameserver.server"):
        point(cert, DATA / "expired-cert.pem")
        point(key, DATA / "expired-key.pem")
        check(server)
        check(server)  # the same refused pair: warned of once
        assert len(warnings(caplog, "the new certificate is not valid now")) == 1
        assert served(server.port) == fingerprint(old[0])
        (tmp_path / "junk.pem").write_text("not a certificate\n")
        point(cert, tmp_path / "junk.pem")
        check(server)
        assert warnings(caplog, "is not a PEM certificate")
        assert served(server.port) == fingerprint(old[0])
        point(cert, old[0])
        point(key, old[1])
        check(server)  # back to the pair served: nothing to take
    assert served(server.port) == fingerprint(old[0])


def test_a_coming_expiry_is_warned_of_every_day_and_shown_in_the_metrics(
        tmp_path: Path, make_server: Callable[..., ServerThread],
        caplog: pytest.LogCaptureFixture) -> None:
    """Warned of at start only: a server started with months to go said nothing more."""
    cert, key = make_pair(tmp_path / "1", 5)
    with caplog.at_level(logging.WARNING, "gameserver.server"):
        server = make_server(tls_cert=str(cert), tls_key=str(key))
        assert len(warnings(caplog, "(in 5 days)")) == 1  # at start, as before
        watch = server.server.certificates if server.server is not None else None
        assert watch is not None and watch.dates is not None
        start = time.time()
        watch.clock = lambda: start + 3600  # an hour later: not again
        check(server)
        assert len(warnings(caplog, "TLS certificate")) == 1
        watch.clock = lambda: start + DAY + 3600  # a day later: again
        check(server)
        assert len(warnings(caplog, "(in 4 days)")) == 1
        watch.clock = lambda: start + 6 * DAY
        check(server)
        assert warnings(caplog, "expired on")
    text = server.call(metrics.prometheus_text, server.server)
    assert f"gameserver_tls_certificate_expiry_seconds {watch.dates[1]:.0f}\n" in text
    assert watch.dates[1] - start == pytest.approx(5 * DAY, abs=120)


def test_a_renewal_not_valid_yet_is_taken_once_it_is(
        tmp_path: Path, make_server: Callable[..., ServerThread],
        caplog: pytest.LogCaptureFixture) -> None:
    """A pair whose certificate is not valid yet (made where the clock is ahead, or this
    machine's is behind) was refused for good: its files do not change again, so it was
    never taken, and the old certificate was served past its expiry. It is tried again
    at each check, warned of once, and taken once it is valid."""
    old, new = make_pair(tmp_path / "1", 3650), make_pair(tmp_path / "2", 3650)
    cert, key = live(tmp_path, old)
    server = make_server(tls_cert=str(cert), tls_key=str(key))
    assert server.port is not None and server.server is not None
    watch = server.server.certificates
    assert watch is not None
    with caplog.at_level(logging.INFO, "gameserver.server"):
        watch.clock = lambda: time.time() - DAY  # this machine's clock, a day behind
        point(cert, new[0])
        point(key, new[1])
        check(server)
        check(server)  # warned of once
        assert len(warnings(caplog, "the new certificate is not valid now")) == 1
        assert served(server.port) == fingerprint(old[0])
        watch.clock = time.time  # the day has come (or the clock was set right)
        check(server)
    assert served(server.port) == fingerprint(new[0])


def reads_any_file(folder: Path) -> bool:
    """Whether this process reads a file whatever its mode (root, CAP_DAC_OVERRIDE)."""
    locked = folder / "locked"
    locked.write_text("")
    locked.chmod(0)
    try:
        locked.open().close()
    except PermissionError:
        return False
    return True


def test_a_renewal_the_server_could_not_read_is_taken_once_it_may(
        tmp_path: Path, make_server: Callable[..., ServerThread],
        caplog: pytest.LogCaptureFixture) -> None:
    """certbot's archive/ keys are root's: the renewed pair cannot be read, and is
    refused. The operator then lets the server's user read it (chmod, chgrp), which
    changes neither the files' contents nor their modification times: the pair was
    never tried again, until the next renewal, months later."""
    if reads_any_file(tmp_path):  # (as root: setpriv --bounding-set=-dac_override,...)
        pytest.skip("this process reads any file, whatever its mode (root)")
    old, new = make_pair(tmp_path / "1", 3650), make_pair(tmp_path / "2", 3650)
    cert, key = live(tmp_path, old)
    server = make_server(tls_cert=str(cert), tls_key=str(key))
    assert server.port is not None
    with caplog.at_level(logging.INFO, "gameserver.server"):
        new[1].chmod(0)
        point(cert, new[0])
        point(key, new[1])
        check(server)
        assert warnings(caplog, "cannot be read by user")
        assert served(server.port) == fingerprint(old[0])
        new[1].chmod(0o600)  # the operator's fix
        check(server)
    assert served(server.port) == fingerprint(new[0])


def test_a_refused_pair_is_tried_again_after_a_change_of_its_mode_alone(
        tmp_path: Path, make_server: Callable[..., ServerThread],
        caplog: pytest.LogCaptureFixture) -> None:
    """The test above as root, which reads any file: a refused pair (here a certificate
    with the old key) is not tried again while its files stay as they are, and is once a
    chmod changed them, which changes neither contents nor modification times."""
    old, new = make_pair(tmp_path / "1", 3650), make_pair(tmp_path / "2", 3650)
    cert, key = live(tmp_path, old)
    server = make_server(tls_cert=str(cert), tls_key=str(key))
    with caplog.at_level(logging.INFO, "gameserver.server"):
        point(cert, new[0])  # the new certificate, the old key: refused
        check(server)
        check(server)
        assert len(warnings(caplog, "cannot be used")) == 1
        old[1].chmod(0o640)
        check(server)
        assert len(warnings(caplog, "cannot be used")) == 2
    assert served(server.port) == fingerprint(old[0])


def hanging(tmp_path: Path, make_server: Callable[..., ServerThread],
            pair: tuple[Path, Path]) -> tuple[ServerThread, Path, Path, Path]:
    """A server of ``pair`` (live/ links) whose certificate link then points at a FIFO
    that nobody writes: a check's read hangs there until ``release``. Returns the
    server, the two links and the FIFO."""
    cert, key = live(tmp_path, pair)
    server = make_server(tls_cert=str(cert), tls_key=str(key))
    assert server.port is not None and server.server is not None
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)
    point(cert, fifo)
    return server, cert, key, fifo


def release(fifo: Path) -> None:
    """A writer comes and goes: a read's open of ``fifo`` returns, and reads nothing."""
    with contextlib.suppress(OSError):  # (no reader: the check did not start)
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_the_files_are_read_off_the_loop_which_serves_while_a_read_hangs(
        tmp_path: Path, make_server: Callable[..., ServerThread],
        caplog: pytest.LogCaptureFixture) -> None:
    """A changed pair was read (and made into a context) on the event loop: a file that
    does not answer (a dead network disk; here a FIFO that nobody writes) held the loop,
    and every game with it. Now the files are read on a thread: the server serves (a new
    TLS connection, its handshake and request) while the read hangs, and what was read
    is judged once it ends (not a certificate: refused, the old one still served)."""
    old = make_pair(tmp_path / "1", 3650)
    server, cert, key, fifo = hanging(tmp_path, make_server, old)
    with caplog.at_level(logging.INFO, "gameserver.server"):
        try:
            task = server.call(server.server.check_certificate)
            assert served(server.port) == fingerprint(old[0])  # the loop is free
            assert not server.call(task.done)  # (the read still hangs)
        finally:
            release(fifo)
        until(lambda: server.call(task.done), "the certificate check to end")
        server.call(task.result)
        assert warnings(caplog, "is not a PEM certificate")
    assert served(server.port) == fingerprint(old[0])


def test_a_reload_asked_for_while_a_check_reads_is_done_after_it(
        tmp_path: Path, make_server: Callable[..., ServerThread],
        caplog: pytest.LogCaptureFixture) -> None:
    """SIGHUP (``reload_certificate``) while the hourly check still reads (it may have
    read the files before certbot changed them: here it hangs on a FIFO it took for the
    certificate) looks again once that check ends, not an hour later; and says so."""
    old, new = make_pair(tmp_path / "1", 3650), make_pair(tmp_path / "2", 3650)
    server, cert, key, fifo = hanging(tmp_path, make_server, old)
    with caplog.at_level(logging.INFO, "gameserver.server"):
        try:
            task = server.call(server.server.check_certificate)
            assert served(server.port) == fingerprint(old[0])
            point(cert, new[0])  # the renewal, while the read hangs
            point(key, new[1])
            assert server.call(server.server.reload_certificate) is task  # (one task)
        finally:
            release(fifo)
        until(lambda: server.call(task.done), "the certificate check to end")
        server.call(task.result)
        assert warnings(caplog, "is not a PEM certificate")  # the first look's
        assert any("reloaded, as asked for (SIGHUP)" in r.getMessage()
                   for r in caplog.records)
    assert served(server.port) == fingerprint(new[0])


def test_a_reload_with_tls_off_says_there_is_nothing_to_reload(
        make_server: Callable[..., ServerThread], caplog: pytest.LogCaptureFixture) -> None:
    server = make_server()
    assert server.server is not None
    with caplog.at_level(logging.INFO, "gameserver.server"):
        assert server.call(server.server.reload_certificate) is None
    assert any("TLS is off, no certificate to reload" in r.getMessage()
               for r in caplog.records)


def test_a_reload_asked_for_while_the_server_starts_is_done_once_it_listens(
        tls_pair: tuple[str, str], caplog: pytest.LogCaptureFixture) -> None:
    """A SIGHUP while the games load (before the files are read) or while the server
    listens (after): not lost, nor run on a server without a loop; done once it listens."""
    settings = Settings(port=0, tls_cert=tls_pair[0], tls_key=tls_pair[1], web=False,
                        store=False)

    async def main() -> None:
        server = GameServer(settings)
        assert server.reload_certificate() is None  # (not started: later)
        await server.start()
        try:
            task = server._certificate_task
            assert task is not None
            await task
        finally:
            await server.stop()

    with caplog.at_level(logging.INFO, "gameserver.server"):
        asyncio.run(main())
    assert any("reload asked for (SIGHUP): the certificate and key files have not changed"
               in r.getMessage() for r in caplog.records)


def test_a_server_whose_listen_fails_leaves_no_certificate_check_behind(
        tls_pair: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The hourly check was scheduled before listening: a start that failed to listen
    (the port taken) left it on the loop, where it ran an hour later on a server that
    never started (an AssertionError in the loop's log). Now it is scheduled once the
    server listens; nothing is left behind, not even a ResourceWarning (the game workers,
    started before listening, were left running: "subprocess ... is still running")."""
    monkeypatch.setattr(server_module, "CHECK_INTERVAL", 0.01)
    errors: list[dict[str, Any]] = []
    gc.collect()  # (what earlier tests left is not this test's)
    with socket.create_server(("127.0.0.1", 0)) as taken, \
            warnings_module.catch_warnings(record=True) as caught:
        warnings_module.simplefilter("always", ResourceWarning)
        settings = Settings(port=taken.getsockname()[1], tls_cert=tls_pair[0],
                            tls_key=tls_pair[1], web=False, store=False,
                            games_dirs=[str(DATA / "games")])  # (its worker, isolated)
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(lambda _, context: errors.append(context))
        try:
            server = GameServer(settings)
            with pytest.raises(StartupError, match="address already in use|in use"):
                loop.run_until_complete(server.start())
            loop.run_until_complete(asyncio.sleep(0.2))  # twenty check intervals
        finally:
            loop.close()
        del server
        gc.collect()
    assert errors == []
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def make_issued(folder: Path) -> tuple[Path, Path, Path, Path]:
    """A certificate for localhost issued by an intermediate of a root of the test's own
    (as Let's Encrypt's are), in certbot's live/ files: the certificate alone
    (cert.pem), with the intermediate after it (fullchain.pem), its key; and the root's
    certificate, which a client trusts (as its system's)."""
    folder.mkdir(parents=True)
    run = lambda *args: subprocess.run(["openssl", *args], check=True,  # noqa: E731
                                       capture_output=True, timeout=60, cwd=folder)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "root.key", "-out", "root.pem", "-days", "30",
        "-subj", "/CN=Test Root X1")
    run("req", *ec, "-keyout", "ca.key", "-out", "ca.csr", "-subj", "/CN=Test Authority R1")
    (folder / "ca.ext").write_text("basicConstraints=critical,CA:true,pathlen:0\n"
                                   "keyUsage=critical,keyCertSign,cRLSign\n")
    run("x509", "-req", "-in", "ca.csr", "-CA", "root.pem", "-CAkey", "root.key",
        "-CAcreateserial", "-out", "ca.pem", "-days", "30", "-extfile", "ca.ext")
    run("req", *ec, "-keyout", "privkey.pem", "-out", "leaf.csr", "-subj", "/CN=localhost")
    (folder / "leaf.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "cert.pem", "-days", "30", "-extfile", "leaf.ext")
    (folder / "fullchain.pem").write_text((folder / "cert.pem").read_text()
                                          + (folder / "ca.pem").read_text())
    return (folder / "cert.pem", folder / "fullchain.pem", folder / "privkey.pem",
            folder / "root.pem")


def test_a_certificate_without_its_chain_is_named_at_start_and_at_a_renewal(
        tmp_path: Path, make_server: Callable[..., ServerThread],
        caplog: pytest.LogCaptureFixture) -> None:
    """certbot's live/ folder has cert.pem (the certificate alone) next to fullchain.pem;
    given the first, the server served it without a word, and every client that checks
    it against the authorities it trusts refused it ("unable to get local issuer
    certificate", which the client module words as a wrong file given to enable_tls).
    Now the log says so, at start and when such a file is taken at a renewal; a file with
    the chain, or a self-signed certificate, is not warned of."""
    alone, full, key, authority = make_issued(tmp_path / "le")
    trusting = ssl.create_default_context(cafile=str(authority))
    for cert, works in ((alone, False), (full, True)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, "gameserver.server"):
            server = make_server(tls_cert=str(cert), tls_key=str(key))
        said = warnings(caplog, "without the chain of certificates")
        assert bool(said) is not works, said
        if said:
            assert "give the file with the chain as tls_cert (certbot: fullchain.pem, not " \
                "cert.pem)" in said[0] and "'Test Authority R1'" in said[0], said
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
                    trusting.wrap_socket(raw, server_hostname="localhost"):
                checked = True
        except ssl.SSLCertVerificationError:
            checked = False
        assert checked is works  # (what the warning is about)
    link, key_link = live(tmp_path, (full, key))
    caplog.clear()
    with caplog.at_level(logging.INFO, "gameserver.server"):
        server = make_server(tls_cert=str(link), tls_key=str(key_link))
        assert not warnings(caplog, "without the chain")
        point(link, alone)  # a renewal hook that copies the wrong file
        check(server)
    assert any("reloaded, as it changed on disk" in r.getMessage() for r in caplog.records)
    assert warnings(caplog, "without the chain of certificates")
    caplog.clear()
    self_signed = make_pair(tmp_path / "self", 30)
    with caplog.at_level(logging.WARNING, "gameserver.server"):
        make_server(tls_cert=str(self_signed[0]), tls_key=str(self_signed[1]))
    assert not warnings(caplog, "without the chain")
