"""Talking to the server with raw sockets, byte for byte, as a classic client does."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

TERMINATOR = b"EOT\x00"
TIMEOUT = 30.0  # generous: only to avoid hanging forever


def until(condition: Callable[[], Any], what: str, within: float = TIMEOUT) -> Any:
    """Poll ``condition()`` until it is true and return its value: an event, not a time
    (``within`` seconds only turn a hang into a failure naming ``what``)."""
    deadline = time.monotonic() + within
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not {what} after {within:g} s"
        time.sleep(0.005)
    return value


def send_raw(port: int, payload: bytes, host: str = "127.0.0.1",
             tls: ssl.SSLContext | None = None, timeout: float = TIMEOUT) -> bytes:
    """Send ``payload`` as is on a fresh connection and return every byte until EOF."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        conn = tls.wrap_socket(sock, server_hostname=host) if tls else sock
        with conn:
            conn.sendall(payload)
            chunks = []
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)


def request(port: int, data: Any, **kwargs: Any) -> dict[str, Any]:
    """Send one JSON request the classic way and return the decoded reply."""
    return json.loads(send_raw(port, json.dumps(data).encode() + TERMINATOR, **kwargs))


class Player:
    """A minimal raw-protocol client for one seat, to drive tests tersely."""

    def __init__(self, port: int, game: str, session: str = "auto",
                 players: int | None = None, name: str = "") -> None:
        self.port = port
        self.game = game
        self.session = session
        self.players = players
        self.name = name
        self.player_id: int | None = None
        self.key: str | None = None
        self.observer = False

    def join(self) -> dict[str, Any]:
        reply = request(self.port, {"type": "join", "game": self.game, "session": self.session,
                                    "players": self.players, "name": self.name})
        if reply["status"] == "ok":
            self.player_id = reply["data"]["player_id"]
            self.key = reply["data"]["key"]
            self.session = reply["data"]["session"]
        return reply

    def observe(self) -> dict[str, Any]:
        reply = request(self.port, {"type": "observe", "game": self.game,
                                    "session": self.session, "name": self.name})
        if reply["status"] == "ok":
            self.player_id = reply["data"]["player_id"]
            self.key = reply["data"]["key"]
            self.observer = True
        return reply

    def move(self, **move: Any) -> dict[str, Any]:
        return request(self.port, {"type": "move", "game": self.game, "session": self.session,
                                   "player_id": self.player_id, "key": self.key, "move": move})

    def state(self) -> dict[str, Any]:
        return request(self.port, {"type": "state", "game": self.game, "session": self.session,
                                   "player_id": self.player_id, "key": self.key,
                                   "observer": self.observer})

    def restart(self) -> dict[str, Any]:
        return request(self.port, {"type": "restart", "game": self.game,
                                   "session": self.session, "player_id": self.player_id,
                                   "key": self.key})
