"""Listening for plain TCP: sockets, the accept loop and the deadline sweep of raw connections.

Accepting reads every connection waiting in the kernel's queue at once
(up to ``ACCEPTS_PER_WAKEUP``) and serves them in the same pass of the event
loop, so that a burst's changes share one commit of the store. Running out
of file descriptors pauses accepting (logged once) instead of spinning.

Accepting uses ``socket.socket._accept``, CPython's C-level accept, which
hands back a file descriptor without building a Python socket object. It is
private: a self-check at start-up tries it once, and where a Python version
changed it the public ``accept`` is used instead (one log line says so).

Deadlines are not timers. Every deadline is ``connection_timeout`` from the
moment it is set, so a dict kept in insertion order is also kept in
deadline order, and a sweep every ``connection_timeout / 10`` (at most 1 s,
at least 10 ms) expires those that are due from the front. A deadline thus
fires up to a tenth of ``connection_timeout`` late, never early. So do the
short deadlines (a refused connection's drain and close, a proxy's PROXY
header: ``_connection.short_deadline``), in a dict of their own for the same
reason; one left behind by a connection that moved on to another state is
dropped.
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import functools
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from ._connhost import ConnectionHost
from ._connstate import CLOSING, DRAINING, HEADER
from ._json import private_api_problem
from ._rawconn import Deadlines, RawConnection

log = logging.getLogger("gameserver.server")

ACCEPTS_PER_WAKEUP = 1000  # then other ready callbacks get their turn
ACCEPT_RETRY_DELAY = 0.1  # seconds to wait when out of file descriptors or memory
# accept() errors that mean "out of resources": pause accepting instead of spinning.
OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

Accept = Callable[[socket.socket], tuple[int, Any]]  # listening socket -> (fd, peer address)


class RawListener:
    """Listening sockets for plain TCP, the accept loop, and the deadline sweep.

    Args:
        host: what connections need from the server.
        loop: the running event loop.
    """

    def __init__(self, host: ConnectionHost, loop: asyncio.AbstractEventLoop) -> None:
        self._host = host
        self.loop = loop
        self.sockets: list[socket.socket] = []
        self.deadlines: Deadlines = {}
        self.short: Deadlines = {}  # the short ones (HEADER's, DRAINING's)
        timeout = host.settings.connection_timeout
        self._sweep_interval = max(0.01, min(1.0, timeout / 10))
        self._sweeper: asyncio.TimerHandle | None = None
        self._retry: asyncio.TimerHandle | None = None  # accepting again after EMFILE etc.
        self._accepting = False
        self._out_of_resources = False  # logged once per episode
        self._nodelay_per_socket: bool | None = None  # None: not checked yet (see _wrap)
        self._accept_fd: Accept = _public_accept

    async def start(self, host: str, port: int, backlog: int) -> int:
        """Bind and listen as ``loop.create_server`` would; return the port.

        ``host`` is resolved like asyncio does it: every address it stands
        for gets a socket ("" means every interface, IPv4 and IPv6), made by
        ``socket.create_server`` (``SO_REUSEADDR`` on, IPv6 sockets IPv6 only).
        """
        infos = await self._resolve(host, port)
        self._accept_fd, problem = fast_accept()
        if problem:
            log.warning("%s", problem)
        sockets: list[socket.socket] = []
        try:
            for family, _, _, _, address in dict.fromkeys(infos):
                try:
                    sock = socket.create_server(address, family=family, backlog=backlog)
                except OSError as err:
                    if err.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
                        continue  # a family this system does not support
                    raise
                sockets.append(sock)
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see _wrap
            if not sockets:
                raise OSError(f"no address to listen on for {host!r}")
            self.sockets = sockets
            self._start_accepting()  # NotImplementedError: a loop without add_reader
        except BaseException:
            self._pause_accepting()
            for sock in sockets:
                sock.close()
            self.sockets = []
            raise
        self._sweeper = self.loop.call_later(self._sweep_interval, self._sweep)
        return sockets[0].getsockname()[1]

    async def _resolve(self, host: str, port: int) -> list[tuple]:
        """getaddrinfo for listening; a numeric host is resolved without a thread."""
        node = host or None  # "": every interface
        flags = socket.AI_PASSIVE
        try:
            infos = socket.getaddrinfo(node, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                                       flags | socket.AI_NUMERICHOST)
        except socket.gaierror:  # a name: resolving may take a while, so not on the loop
            infos = await self.loop.getaddrinfo(node, port, family=socket.AF_UNSPEC,
                                                type=socket.SOCK_STREAM, flags=flags)
        if not infos:
            raise OSError(f"getaddrinfo({host!r}) returned empty list")
        return infos

    def stop_accepting(self) -> None:
        """Close the listening sockets; open connections go on."""
        self._pause_accepting()
        for sock in self.sockets:
            sock.close()
        self.sockets = []

    def close(self) -> None:
        """Stop the deadline sweep (after every connection is closed)."""
        self.stop_accepting()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    # ------------------------------------------------------------ accepting

    def _start_accepting(self) -> None:
        self._retry = None
        if not self._accepting and self.sockets:
            for sock in self.sockets:
                # What accepted sockets are, as plain ints (see _wrap).
                kind = (int(sock.family), int(sock.type), sock.proto)
                self.loop.add_reader(sock.fileno(), self._accept, sock, kind)
            self._accepting = True

    def _pause_accepting(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._accepting:
            for sock in self.sockets:
                self.loop.remove_reader(sock.fileno())
            self._accepting = False

    def _accept(self, listening: socket.socket, kind: tuple[int, int, int]) -> None:
        """Accept what is waiting (at most ``ACCEPTS_PER_WAKEUP``), then serve it."""
        self._start_all(self._accept_waiting(listening, kind))

    def _start_all(self, accepted: list[tuple[_socket.socket, str]]) -> None:
        host, loop, deadlines, short = self._host, self.loop, self.deadlines, self.short
        for sock, address in accepted:
            RawConnection(host, loop, deadlines, short, sock).start(address)

    def _accept_waiting(self, listening: socket.socket,
                        kind: tuple[int, int, int]) -> list[tuple[_socket.socket, str]]:
        accepted: list[tuple[_socket.socket, str]] = []
        accept = self._accept_fd
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                fd, peer = accept(listening)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionAbortedError:  # the client gave up while queued
                continue
            except OSError as err:
                if err.errno in OUT_OF_RESOURCES:
                    # The connections wait in the kernel's queue until we have room.
                    if not self._out_of_resources:
                        self._out_of_resources = True
                        log.error("cannot accept connections: %s; retrying every %.1f s "
                                  "(raise the open-file limit, or lower max_connections)",
                                  err, ACCEPT_RETRY_DELAY)
                    self._pause_accepting()
                    self._retry = self.loop.call_later(ACCEPT_RETRY_DELAY,
                                                       self._start_accepting)
                    return accepted
                log.warning("accept failed: %s", err)
                break
            sock = self._wrap(fd, kind)
            if sock is not None:  # else the client is gone already
                accepted.append((sock, peer[0] if isinstance(peer, tuple) else str(peer)))
        if self._out_of_resources:  # a whole round without running out
            self._out_of_resources = False
            log.info("accepting connections again")
        return accepted

    def _wrap(self, fd: int, kind: tuple[int, int, int]) -> _socket.socket | None:
        """The accepted ``fd`` as a non-blocking socket object; None if it failed.

        A ``socket.socket`` (what ``accept`` makes) has a Python-level
        constructor, properties (``family`` as an enum) and ``close`` that
        cost more than serving a small request does. The C-level
        ``_socket.socket`` underneath has every method a connection uses.
        ``TCP_NODELAY`` is set on the listening socket, which Linux passes
        on to accepted sockets; where it is not passed on (checked once),
        each accepted socket gets it.
        """
        try:
            sock = _socket.socket(*kind, fd)
        except OSError:
            os.close(fd)
            return None
        try:
            sock.setblocking(False)
            if self._nodelay_per_socket is None:
                self._nodelay_per_socket = not sock.getsockopt(socket.IPPROTO_TCP,
                                                               socket.TCP_NODELAY)
            if self._nodelay_per_socket:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            sock.close()
            return None
        return sock

    # ------------------------------------------------------------ deadlines

    def _sweep(self) -> None:
        """Expire the deadlines that are due (they are at the front)."""
        self._sweeper = self.loop.call_later(self._sweep_interval, self._sweep)
        now = time.monotonic()  # (the clock of the deadlines: see ``_rawconn``)
        for deadlines, short in ((self.deadlines, False), (self.short, True)):
            due = []
            for connection, deadline in deadlines.items():
                if deadline > now:
                    break
                due.append(connection)
            for connection in due:
                if deadlines.get(connection, now + 1) <= now:  # not cleared or moved meanwhile
                    del deadlines[connection]
                    if not short or _short_due(connection):
                        connection._timed_out()


def _short_due(connection: RawConnection) -> bool:
    """Whether a short deadline is ``connection``'s now, not one left behind as it moved
    on (from HEADER to READING): HEADER's, DRAINING's, and CLOSING's after either
    (``BaseConnection._hang_up``)."""
    state = connection.state
    return (state is DRAINING or state is HEADER
            or state is CLOSING and bool(connection._until))


# ---------------------------------------------------------------- accepting, fast or public


def _public_accept(listening: socket.socket) -> tuple[int, Any]:
    """``accept`` through the public API: the new socket's descriptor and the peer."""
    sock, peer = listening.accept()
    return sock.detach(), peer


@functools.cache
def fast_accept() -> tuple[Accept, str | None]:
    """The C-level accept if it works as expected here, else the public one and why.

    Checked once per process, on a connection to a throwaway loopback listener.
    """
    private = getattr(_socket.socket, "_accept", None)

    def works() -> bool:
        assert private is not None
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(5.0)
            with socket.create_connection(listener.getsockname(), timeout=5.0):
                fd, peer = private(listener)
                if type(fd) is not int:
                    return False
                os.close(fd)
                return isinstance(peer, tuple)

    problem = private_api_problem("socket.socket._accept", "connections are accepted with "
                                  "the public socket API", works)
    if problem:
        return _public_accept, problem
    return private, None  # type: ignore[return-value]
