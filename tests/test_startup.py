"""gameserver.startup: each cause of a failed start gets its own one-line message.

The command line and the real sockets are tested in tests/test_cli.py; here
the translation itself, with real files and real socket errors.
"""

from __future__ import annotations

import errno
import socket
import ssl
from pathlib import Path

import pytest

from gameserver import startup
from gameserver.config import StartupError

DATA = Path(__file__).parent / "data"


def test_a_key_with_a_passphrase_is_named_instead_of_asking_on_the_terminal() -> None:
    cert, key = DATA / "passphrase-cert.pem", DATA / "passphrase-key.pem"
    with pytest.raises(StartupError) as caught:
        startup.tls_context(str(cert), str(key))
    assert str(caught.value) == (
        f"TLS key {key} is protected by a passphrase; the server needs a key without one "
        "(openssl pkey -in KEY -out NEW_KEY writes one)")


def test_a_good_pair_gives_a_server_context(tls_pair: tuple[str, str]) -> None:
    context = startup.tls_context(*tls_pair)
    assert isinstance(context, ssl.SSLContext)
    # a renegotiation started by the client would compute a handshake on the event loop
    assert context.options & ssl.OP_NO_RENEGOTIATION


def test_a_folder_instead_of_a_file_is_named(tmp_path: Path, tls_pair: tuple[str, str]) -> None:
    with pytest.raises(StartupError, match=f"^TLS key file {tmp_path} cannot be read: is a "
                                           "directory$"):
        startup.tls_context(tls_pair[0], str(tmp_path))


def real_error(host: str, port: int) -> OSError:
    """The error binding a real socket to (host, port) gives."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as err:
            return err
    raise AssertionError(f"binding {host}:{port} worked")


def test_each_listening_error_has_its_own_message() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        in_use = startup.listen_error(real_error("127.0.0.1", port), "127.0.0.1", port)
    assert str(in_use).startswith(f"port {port} is already in use on 127.0.0.1")
    foreign = startup.listen_error(real_error("192.0.2.1", 0), "192.0.2.1", 4711)
    assert str(foreign).startswith("cannot listen on 192.0.2.1: it is not an address of this "
                                   "machine")
    low = startup.listen_error(OSError(errno.EACCES, "Permission denied"), "0.0.0.0", 80)
    assert str(low).startswith("no permission to listen on port 80: ports below 1024")
    high = startup.listen_error(OSError(errno.EACCES, "Permission denied"), "0.0.0.0", 8000)
    assert str(high).startswith("no permission to listen on 0.0.0.0:8000 (user ")
    unknown = startup.listen_error(socket.gaierror(-2, "Name or service not known"),
                                   "no-such-host.invalid", 4711)
    assert str(unknown).startswith("cannot listen on 'no-such-host.invalid': no such host "
                                   "name or address (Name or service not known)")
    other = startup.listen_error(OSError(errno.ENOBUFS, "No buffer space available"),
                                 "127.0.0.1", 4711)
    assert str(other) == "cannot listen on 127.0.0.1:4711: no buffer space available"


def test_a_certificate_out_of_its_dates_is_warned_of(tls_pair: tuple[str, str]) -> None:
    """The dates of tests/data/expired-cert.pem: 2020-01-01 to 2021-01-01."""
    cert = str(DATA / "expired-cert.pem")
    day = 86400.0
    new_year_2021 = ssl.cert_time_to_seconds("Jan  1 00:00:00 2021 GMT")
    assert "expired on 2021-01-01" in (startup.certificate_warning(cert) or "")
    assert "expires on 2021-01-01 (in 10 days)" in (
        startup.certificate_warning(cert, now=new_year_2021 - 10 * day) or "")
    assert startup.certificate_warning(cert, now=new_year_2021 - 100 * day) is None
    assert "is not valid before 2020-01-01 00:00 UTC" in (
        startup.certificate_warning(cert, now=new_year_2021 - 400 * day) or "")
    assert startup.certificate_warning(tls_pair[0]) is None  # valid for a century
    assert startup.certificate_warning(str(DATA / "no-such.pem")) is None
