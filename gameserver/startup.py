"""Start-up failures that name their real cause: the listening port and the TLS files.

Each function turns what the operating system or OpenSSL reports into a
``StartupError`` whose message is one line: what went wrong, with the file or
port, and what to do. The command line prints it without a traceback.
"""

from __future__ import annotations

import errno
import getpass
import os
import socket
import ssl
import time

from .config import StartupError

__all__ = ["certificate_dates", "certificate_warning", "chain_warning", "listen_error",
           "tls_context"]

EXPIRY_WARNING_DAYS = 14  # a certificate that expires sooner than this is warned of at start


def listen_error(err: OSError, host: str, port: int) -> StartupError:
    """The reason the server cannot listen on ``host``:``port``, as a StartupError."""
    where = f"{host}:{port}"
    if isinstance(err, socket.gaierror):
        return StartupError(f"cannot listen on {host!r}: no such host name or address "
                            f"({err.strerror}); use an address of this machine, 0.0.0.0 for "
                            "every network or 127.0.0.1 for this machine only (--host)")
    if err.errno == errno.EADDRINUSE:
        return StartupError(f"port {port} is already in use on {host}: is another gameserver "
                            "(or another program) running? Stop it, or pick another port "
                            "with --port")
    if err.errno == errno.EACCES:
        if 0 < port < 1024:
            return StartupError(
                f"no permission to listen on port {port}: ports below 1024 are for the "
                f"system administrator (user {_user()} may not use them); pick a port from "
                "1024 up with --port (the default is 4711)")
        return StartupError(f"no permission to listen on {where} (user {_user()}); is a "
                            "security policy or firewall rule in the way?")
    if err.errno == errno.EADDRNOTAVAIL:
        return StartupError(f"cannot listen on {host}: it is not an address of this machine; "
                            "use 0.0.0.0 for every network or 127.0.0.1 for this machine "
                            "only (--host)")
    return StartupError(f"cannot listen on {where}: {_reason(err)}")


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """The server's TLS context, or a StartupError naming the file that is wrong and why."""
    for what, flag, path in (("certificate", "--tls-cert", cert), ("key", "--tls-key", key)):
        try:
            with open(path, "rb") as file:
                head = file.read(100_000)
        except FileNotFoundError:
            raise StartupError(f"TLS {what} file {path} does not exist ({flag}); make a "
                               "certificate and key with the openssl command in the "
                               "README") from None
        except PermissionError:
            raise StartupError(f"TLS {what} file {path} cannot be read by user {_user()} "
                               "that runs the server: give that user read access "
                               f"(e.g. chgrp and chmod 640)") from None
        except OSError as err:
            raise StartupError(f"TLS {what} file {path} cannot be read: "
                               f"{_reason(err)}") from None
        marker = b"CERTIFICATE-----" if what == "certificate" else b"PRIVATE KEY-----"
        if marker not in head:
            raise StartupError(f"TLS {what} file {path} is not a PEM {what} (it has no "
                               f"'-----BEGIN ...{marker.decode()}' line); {flag} needs the "
                               f"{what} in PEM format")
    def no_passphrase() -> str:  # OpenSSL would otherwise ask for it on the terminal
        raise StartupError(f"TLS key {key} is protected by a passphrase; the server needs a "
                           "key without one (openssl pkey -in KEY -out NEW_KEY writes one)")

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # A renegotiation the client starts would run a whole handshake inside a read, on
    # the event loop (``_handshakes.py``): OpenSSL 3 refuses it by default, 1.1 did not.
    context.options |= ssl.OP_NO_RENEGOTIATION
    try:
        context.load_cert_chain(cert, key, password=no_passphrase)
    except ssl.SSLError as err:
        if err.reason == "KEY_VALUES_MISMATCH":
            raise StartupError(f"TLS key {key} does not belong to the certificate {cert}: "
                               "give the key that was made with this certificate") from None
        raise StartupError(f"TLS certificate {cert} and key {key} cannot be used: "
                           f"{_reason(err)}") from None
    return context


def certificate_dates(cert: str) -> tuple[float, float] | None:
    """``(not before, not after)`` of the PEM certificate ``cert``, as Unix seconds.

    None when the file cannot be read as one, or this Python cannot read the dates (a
    private function of ``ssl``; a certificate is only ever parsed in C).
    """
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    try:
        fields = decode(cert) if decode is not None else {}
        return (ssl.cert_time_to_seconds(fields["notBefore"]),
                ssl.cert_time_to_seconds(fields["notAfter"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def certificate_warning(cert: str, now: float | None = None,
                        dates: tuple[float, float] | None = None) -> str | None:
    """Why clients that check the server's certificate refuse it (or will soon), or None.

    OpenSSL serves an expired certificate without a word, and only a client that
    checks it (``enable_tls("cert.pem")``) refuses it, with its own error, while the
    server's log said nothing of it (a handshake that fails is logged at DEBUG only).
    The server still starts: clients that only encrypt (``enable_tls()``) do not check
    dates. ``now``: Unix seconds (tests). ``dates``: the served certificate's
    (``certificate_dates``), when the file may hold another by now; else the file's are
    read: call it after ``tls_context`` has read the file. None also when the dates
    cannot be read.
    """
    dates = dates or certificate_dates(cert)
    if dates is None:
        return None
    not_before, not_after = dates
    now = time.time() if now is None else now
    day = time.strftime("%Y-%m-%d", time.gmtime(not_after))
    renew = ("put a renewed certificate in its place (the openssl command in the README; "
             "certbot renews by itself): the server takes it within an hour")
    if now >= not_after:
        return (f"TLS certificate {cert} expired on {day}: clients that check it "
                f"(enable_tls('cert.pem')) refuse to connect; {renew}")
    if now < not_before:
        return (f"TLS certificate {cert} is not valid before "
                f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(not_before))} UTC (is this "
                "machine's clock right?): clients that check it refuse to connect until then")
    days = (not_after - now) / 86400
    if days < EXPIRY_WARNING_DAYS:
        return (f"TLS certificate {cert} expires on {day} (in {days:.0f} days): clients that "
                f"check it will refuse to connect from then on; {renew}")
    return None


def chain_warning(cert: str) -> str | None:
    """Why clients that check the server's certificate against the authorities they know
    refuse it, though it is valid: the file holds it alone, and another (a certificate
    authority's intermediate) issued it. Else None (a self-signed certificate, which its
    clients are handed, or a file with the chain; or one that cannot be read).

    The server serves what the file holds; a client then has no way from the server's
    certificate to the authority it trusts, and refuses it ("unable to get local issuer
    certificate"), while the server's log said nothing. certbot's live/ folder has
    both files: ``cert.pem`` (the certificate alone) next to ``fullchain.pem``.
    """
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    try:
        with open(cert, "rb") as file:
            certificates = file.read(1_000_000).count(b"-----BEGIN CERTIFICATE-----")
        fields = decode(cert) if decode is not None else {}
        issuer, subject = fields["issuer"], fields["subject"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if issuer == subject or certificates != 1:
        return None
    names = [value for part in issuer for key, value in part if key == "commonName"]
    by = f"'{names[0]}'" if names else "another certificate"
    return (f"TLS certificate {cert} holds the server's certificate alone, issued by {by}, "
            "without the chain of certificates that links it to an authority clients "
            "trust: clients that check it refuse to connect (unable to get local issuer "
            f"certificate) unless they trust {by} itself; give the file with the chain as "
            "tls_cert (certbot: fullchain.pem, not cert.pem)")


def _reason(err: OSError) -> str:
    if isinstance(err, ssl.SSLError) and err.reason:
        return str(err.reason).lower().replace("_", " ")
    return str(err.strerror).lower() if err.strerror else str(err)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a user id without a name (in some containers)
        return f"with id {os.getuid()}"
