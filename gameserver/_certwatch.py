"""The TLS certificate of a server that runs for months: renewed on disk, taken without a restart.

At start the server loads the certificate and key (``startup.tls_context``)
and warns if the certificate is out of its dates or soon will be. A server
that runs for months outlives its certificate: certbot (or the operator)
puts a renewed one in place of the files, and nothing read them again, so
clients that check the certificate were refused from its expiry on, while
the log said nothing more. ``CertificateWatch`` looks at them every
``CHECK_INTERVAL`` seconds (``read``, then ``take``: the server's timer):

* **A changed pair is loaded for new connections.** The files' identity
  (inode, size, modification and change times of each, following symbolic links as
  certbot's live/ folder has them) is compared with the one loaded. When it
  changed, a whole new context is made from the files, checked as at start,
  and only if that works, and its certificate is valid now, does it replace
  the served one: a half-written pair (certbot writes the certificate and
  then the key; between the two they do not match) or a worse one never
  replaces a working certificate. ``load_cert_chain`` on the served context
  instead would leave it half-changed when the key fails (OpenSSL drops the
  old key as soon as the new certificate does not match it). Connections
  open keep the certificate of their handshake; a refused pair is warned of
  once, and tried again as soon as the files change again (one whose
  certificate is not valid yet: at each check, taken once it is).
* **SIGHUP (``systemctl reload``) looks at once** (``force``): the check
  above, run now instead of within the hour, and its outcome always logged
  (taken; refused, and why; the files unchanged), where the hourly check
  says a refused pair once. certbot's deploy hook (README) reloads so: the
  renewed certificate is served from that moment, no game is dropped, and a
  bad one leaves the old one served, the log saying why.
* **A coming expiry is warned of every day** (``WARN_INTERVAL``), not only
  at start: from ``startup.EXPIRY_WARNING_DAYS`` before it (certbot renews 30
  days before, so a warning means its renewal failed).

Reading the files runs on a thread (``read``): a ``stat`` of the two each
hour, and when they changed, reading them and making a context (about a
millisecond for an EC key, but a file on a slow or hung disk could hold the
loop, and every game with it, for as long as it takes; until 2026-11-30 all
of it ran on the loop). What was read is judged on the loop (``take``),
where the served context is replaced and the warnings said. The first check
is scheduled once the server listens (``GameServer``): a server whose listen
failed leaves none behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import ssl
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from . import startup
from .config import StartupError

log = logging.getLogger("gameserver.server")

CHECK_INTERVAL = 3600.0  # seconds between two looks at the certificate and key files
WARN_INTERVAL = 86400.0  # seconds between two warnings of the same certificate's dates

# (inode, size, mtime_ns, ctime_ns) of each file. The change time too: a chmod or chown
# changes it alone, and a pair refused as the server could not read it (certbot's archive/
# keys are root's) must be tried again once the operator lets it (it was not, until the
# files changed again: the next renewal, months later).
_Stamp = tuple[tuple[int, int, int, int], ...]


class Read(NamedTuple):
    """A changed pair as ``CertificateWatch.read`` found it on disk, for ``take``."""

    stamp: _Stamp  # the files' identity when they were read
    context: ssl.SSLContext | StartupError  # made of them, or why it could not be
    dates: tuple[float, float] | None  # the certificate's (not before, not after)
    chain: str | None = None  # ``startup.chain_warning`` of the certificate file


class CertificateWatch:
    """The served TLS context, and the files it came from, looked at again by ``read``
    (on a thread) and ``take`` (on the loop).

    Args:
        cert: the certificate file (``--tls-cert``).
        key: the key file (``--tls-key``).
        context: the context made from them at start.
        clock: Unix seconds now (tests pass their own, to be weeks later).
    """

    def __init__(self, cert: str, key: str, context: ssl.SSLContext,
                 clock: Callable[[], float] = time.time) -> None:
        self.cert = cert
        self.key = key
        self.context = context  # what new connections get
        self.clock = clock
        self.dates = startup.certificate_dates(cert)  # the served certificate's
        self.reloads = 0  # pairs taken from disk since the start
        self._loaded = self._stamp()
        self._refused: _Stamp | None = None  # a changed pair that could not be used
        self._early: _Stamp | None = None  # a changed pair not valid yet, warned of
        self._warned = -math.inf  # when the last warning of the dates was logged

    def warn_now(self) -> None:
        """Log the served certificate's dates if they are a problem (at start: at once), and
        a file without the chain its certificate needs (``startup.chain_warning``)."""
        self._warned = -math.inf
        self._warn(self.clock())
        chain = startup.chain_warning(self.cert)
        if chain is not None:
            log.warning("%s", chain)

    async def look(self, force: bool = False) -> ssl.SSLContext:
        """``read`` on a thread, then ``take``: the context new connections get from now on.

        ``force``: asked for (SIGHUP), not the hourly check: a pair refused before is
        judged again, and the outcome is logged whatever it is.

        A daemon thread of its own (one an hour), not an executor's: those are joined
        when the process exits, and a read hung on a dead network disk would then hold
        the server's exit too.
        """
        loop = asyncio.get_running_loop()
        found: asyncio.Future[Read | None] = loop.create_future()

        def settle(read: Read | None, error: BaseException | None) -> None:
            if found.done():  # (cancelled: the server stops)
                return
            if error is not None:
                found.set_exception(error)
            else:
                found.set_result(read)

        def run() -> None:
            read, error = None, None
            try:
                read = self.read(force)
            except BaseException as err:  # noqa: BLE001 - raised on the loop
                error = err
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server stopped
                loop.call_soon_threadsafe(settle, read, error)

        threading.Thread(target=run, name="certificate-check", daemon=True).start()
        return self.take(await found, force)

    def read(self, force: bool = False) -> Read | None:
        """On a thread: the pair from disk if it changed since it was loaded (and is not
        one refused before, unless ``force``), made into a context; else None. Changes
        nothing: ``take`` (on the loop) decides."""
        stamp = self._stamp()
        if stamp == self._loaded or (stamp == self._refused and not force):
            return None
        try:
            context: ssl.SSLContext | StartupError = startup.tls_context(self.cert, self.key)
        except StartupError as err:
            return Read(stamp, err, None)
        return Read(stamp, context, startup.certificate_dates(self.cert),
                    startup.chain_warning(self.cert))

    def take(self, read: Read | None, force: bool = False) -> ssl.SSLContext:
        """On the loop: take a pair ``read`` from disk if it can be used; warn of the
        dates (daily). ``force``: as ``look`` says.

        Returns the context new connections get from now on (a new one after a
        reload, else the same).
        """
        now = self.clock()
        if read is not None and read.stamp != self._loaded and (
                force or read.stamp != self._refused):
            self._reload(read, now, force)
        elif force:
            log.info("TLS: reload asked for (SIGHUP): the certificate and key files have not "
                     "changed since they were loaded; new connections get the same "
                     "certificate%s", self._until(self.dates))
        self._warn(now)
        return self.context

    def _reload(self, read: Read, now: float, force: bool = False) -> None:
        keeping = "new connections still get the certificate loaded before"
        stamp, context, dates, chain = read
        if isinstance(context, StartupError):
            self._refused = stamp
            log.warning("TLS: %s cannot be used (%s); %s",
                        "reload asked for (SIGHUP), and the certificate or key file"
                        if force else "the certificate or key file changed but", context,
                        keeping)
            return
        if dates is not None and not dates[0] <= now < dates[1]:
            # One not valid yet (made on a machine whose clock is ahead, or this one's is
            # behind) is tried again at each check until it is: refused for good, it was
            # never taken, as its files do not change again, and the old one was served
            # past its expiry. Warned of once all the same.
            early = now < dates[0]
            if not early:
                self._refused = stamp
            elif stamp == self._early and not force:
                return
            else:
                self._early = stamp
            log.warning("TLS: the certificate file %s changed, but the new certificate is "
                        "not valid now (%s); %s%s", self.cert,
                        startup.certificate_warning(self.cert, now, dates), keeping,
                        " (it is taken at the first hourly check once it is)" if early
                        else "")
            return
        self.context, self.dates, self._loaded, self._refused = context, dates, stamp, None
        self.reloads += 1
        self._warned = -math.inf  # a new certificate: its own warning, if it has one
        log.info("TLS: certificate %s reloaded, as %s%s: new connections get it "
                 "(connections open keep theirs)", self.cert,
                 "asked for (SIGHUP)" if force else "it changed on disk", self._until(dates))
        if chain is not None:
            log.warning("%s", chain)

    @staticmethod
    def _until(dates: tuple[float, float] | None) -> str:
        return "" if dates is None else time.strftime(" (valid until %Y-%m-%d)",
                                                      time.gmtime(dates[1]))

    def _warn(self, now: float) -> None:
        if now - self._warned < WARN_INTERVAL or self.dates is None:
            return
        warning = startup.certificate_warning(self.cert, now, self.dates)
        if warning is not None:
            self._warned = now
            log.warning("%s", warning)

    def _stamp(self) -> _Stamp:
        stamps = []
        for path in (self.cert, self.key):
            try:
                found = os.stat(path)
            except OSError:  # moved away for a moment: compared as changed, then refused
                stamps.append((0, 0, 0, 0))
                continue
            stamps.append((found.st_ino, found.st_size, found.st_mtime_ns,
                           found.st_ctime_ns))
        return tuple(stamps)
