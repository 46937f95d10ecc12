"""Plain TCP on raw non-blocking sockets, watched by the event loop directly.

Why not asyncio's transports: a classic client opens one connection per
request, and for such a short life asyncio's machinery (a transport object
per connection, protocol callbacks, ``call_soon`` for every state change,
two ``TimerHandle``s) cost several times what serving the request does.
Here a connection is one object: the loop calls it when its socket is
readable (``add_reader``), replies go out with ``socket.send`` directly, and
``add_writer`` is used only when the kernel's send buffer is full.

Deadlines are not timers either. Every deadline is ``connection_timeout``
from the moment it is set, so a dict kept in insertion order is also kept in
deadline order: setting one is a dict insert, clearing one a dict pop, and
a sweep every ``connection_timeout / 10`` (at most 1 s, at least 10 ms)
expires those that are due from the front. A deadline thus fires up to a
tenth of ``connection_timeout`` late, never early.
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import logging
import os
import socket
from typing import TYPE_CHECKING

from ._connection import BaseConnection

if TYPE_CHECKING:
    from .server import GameServer

log = logging.getLogger("gameserver.server")

# Bytes asked for per read. Not asyncio's 256 KiB: a buffer that large is above
# malloc's mmap threshold, so every read would map, shrink and unmap fresh memory
# (three system calls and a page fault; 8.6 against 0.8 µs per small read here).
RECV_SIZE = 64 * 1024
ACCEPTS_PER_WAKEUP = 1000  # then other ready callbacks get their turn
HELD_BURST = 32  # connections of a burst whose changes are committed together
ACCEPT_RETRY_DELAY = 0.1  # seconds to wait when out of file descriptors or memory
# accept() errors that mean "out of resources": pause accepting instead of spinning.
OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

# Rounds of the loop a connection beyond the limits waits for closes it has not seen yet
# (asyncio's transports, too, report a new connection two rounds after accepting it).
LIMIT_RECHECKS = 2

_HALF_CLOSE, _CLOSE = 1, 2  # what to do once the write buffer is empty


class RawConnection(BaseConnection):
    """A plain-TCP connection on a non-blocking socket."""

    __slots__ = ("_listener", "_sock", "_fd", "_out", "_after_flush", "_reading")

    def __init__(self, server: GameServer, listener: RawListener,
                 sock: _socket.socket) -> None:
        super().__init__(server)
        self._listener = listener
        self._sock: _socket.socket | None = sock  # None once closed
        self._fd = sock.fileno()
        self._out = bytearray()  # written, but not yet taken by the kernel
        self._after_flush = 0  # _HALF_CLOSE or _CLOSE once _out is sent
        self._reading = False  # registered with the loop's add_reader

    def start(self, address: str) -> None:
        """Serve the connection, just accepted from ``address``.

        Beyond the connection limits, the verdict waits for the loop's next
        rounds (``_recheck``): the loop may report a new connection before
        the closes that came before it, and a client that closes some
        connections and opens others must not be refused for the old ones.
        Nothing is read meanwhile.
        """
        self._opened(address)
        if self._refusal() is None:
            self._start_reading()
        else:
            self._listener.loop.call_soon(self._recheck, LIMIT_RECHECKS)

    def _recheck(self, rounds: int) -> None:
        if self._sock is None or self._closed:  # gone, or answered by a shutdown
            return
        refusal = self._refusal()
        if refusal is not None and rounds > 1:
            self._listener.loop.call_soon(self._recheck, rounds - 1)
            return
        if refusal is not None:
            self._refuse(refusal)
        self._start_reading()

    def _start_reading(self) -> None:
        """Read what has arrived, then let the loop call us when more does.

        A classic client sends its request right after connecting, so it has
        usually arrived by the time we accept: reading at once often serves
        and closes the connection before it is ever registered with the loop.
        """
        self._on_readable()
        if self._sock is not None and self._after_flush != _CLOSE:
            if not self._busy and not self._closed:  # the rest of the request is due
                self._set_deadline(self._server.settings.connection_timeout)
            self._listener.loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    # ------------------------------------------------------------ loop callbacks

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset by the client
            self._abort()
            return
        if data:
            self._received(data)
        else:  # the client closed its side: it is gone
            self._closed = True
            self._close()

    def _on_writable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sent = sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._abort()
            return
        del self._out[:sent]
        if self._out:
            return
        self._listener.loop.remove_writer(self._fd)
        if self._after_flush == _CLOSE:
            self._shut()
        elif self._after_flush == _HALF_CLOSE:
            self._shutdown_write()

    # ------------------------------------------------------------ the transport

    def _write(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            return
        if self._out:  # behind what is already waiting
            self._out += data
            return
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:  # reset by the client
            self._abort()
            return
        if sent < len(data):
            self._out += memoryview(data)[sent:]
            self._listener.loop.add_writer(self._fd, self._on_writable)

    def _close(self) -> None:
        if self._sock is None:
            return
        if not self._out:
            self._shut()
            return
        self._after_flush = _CLOSE
        self._stop_reading()
        self._set_deadline(self._server.settings.connection_timeout)

    def _can_half_close(self) -> bool:
        return True

    def _half_close(self) -> None:
        if self._sock is None:
            return
        if self._out:
            self._after_flush = self._after_flush or _HALF_CLOSE
        else:
            self._shutdown_write()

    def _abort(self) -> None:
        self._shut()

    def _set_deadline(self, seconds: float | None) -> None:
        deadlines = self._listener.deadlines
        deadlines.pop(self, None)
        if seconds is not None and self._sock is not None:
            deadlines[self] = self._listener.loop.time() + seconds

    # ------------------------------------------------------------ the socket

    def _shutdown_write(self) -> None:
        assert self._sock is not None
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:  # the client is gone already
            self._abort()

    def _stop_reading(self) -> None:
        if self._reading:
            self._listener.loop.remove_reader(self._fd)
            self._reading = False

    def _shut(self) -> None:
        """Close the socket now (what is not sent yet is dropped), once."""
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        self._stop_reading()
        if self._out:
            self._listener.loop.remove_writer(self._fd)
            self._out.clear()
        sock.close()
        self._gone()


class RawListener:
    """Listening sockets for plain TCP, the accept loop, and the deadline sweep.

    Args:
        server: the game server the connections belong to.
        loop: the running event loop.
    """

    def __init__(self, server: GameServer, loop: asyncio.AbstractEventLoop) -> None:
        self._server = server
        self.loop = loop
        self.sockets: list[socket.socket] = []
        # connection -> deadline (loop time), in insertion order = deadline order
        self.deadlines: dict[RawConnection, float] = {}
        timeout = server.settings.connection_timeout
        self._sweep_interval = max(0.01, min(1.0, timeout / 10))
        self._sweeper: asyncio.TimerHandle | None = None
        self._retry: asyncio.TimerHandle | None = None  # accepting again after EMFILE etc.
        self._accepting = False
        self._out_of_resources = False  # logged once per episode
        self._nodelay_per_socket: bool | None = None  # None: not checked yet (see _wrap)

    async def start(self, host: str, port: int, backlog: int) -> int:
        """Bind and listen as ``loop.create_server`` would; return the port.

        ``host`` is resolved like asyncio does it: every address it stands
        for gets a socket ("" means every interface, IPv4 and IPv6), IPv6
        sockets are IPv6 only, and ``SO_REUSEADDR`` is on.
        """
        infos = await self._resolve(host, port)
        sockets: list[socket.socket] = []
        try:
            for family, kind, proto, _, address in dict.fromkeys(infos):
                try:
                    sock = socket.socket(family, kind, proto)
                except OSError:  # a family this system does not support
                    continue
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    sock.bind(address)
                except OSError as err:
                    raise OSError(err.errno, f"error while attempting to bind on address "
                                  f"{address!r}: {str(err.strerror).lower()}") from None
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see _wrap
                sock.listen(backlog)
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
        """Accept what is waiting (at most ``ACCEPTS_PER_WAKEUP``), then serve it.

        Accepting everything first tells a burst from a single connection:
        a burst is served with the store's commits held, so one commit saves
        every change it makes instead of one commit each (``Store.held``).
        """
        accepted = self._accept_waiting(listening, kind)
        store = self._server.store
        if len(accepted) == 1 or store is None:
            self._start_all(accepted)
            return
        # In parts: the first reply of a part waits for the part's last request.
        for start in range(0, len(accepted), HELD_BURST):
            with store.held():
                self._start_all(accepted[start:start + HELD_BURST])

    def _start_all(self, accepted: list[tuple[_socket.socket, str]]) -> None:
        server = self._server
        for sock, address in accepted:
            RawConnection(server, self, sock).start(address)

    def _accept_waiting(self, listening: socket.socket,
                        kind: tuple[int, int, int]) -> list[tuple[_socket.socket, str]]:
        accepted: list[tuple[_socket.socket, str]] = []
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                fd, peer = listening._accept()  # the C-level accept: see _wrap
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

        ``socket.socket.accept`` would wrap it in a ``socket.socket``, whose
        Python-level constructor, properties (``family`` as an enum) and
        ``close`` cost more than serving a small request does. The C-level
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
        now = self.loop.time()
        deadlines = self.deadlines
        due = []
        for connection, deadline in deadlines.items():
            if deadline > now:
                break
            due.append(connection)
        for connection in due:
            if deadlines.get(connection, now + 1) <= now:  # not cleared or moved meanwhile
                del deadlines[connection]
                connection._timed_out()
