"""A browser's play requests without a browser: the /api/play endpoints over http.client.

``WebSeat`` speaks exactly what play.js sends (POST, JSON body, the
``X-Gameserver-Play`` header), so the endpoint tests can check the rules
(who may join, whose key moves, what a seat sees) quickly and precisely;
the browser tests (test_play_browser.py) then play through the real pages.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

WAIT = 10.0  # seconds: only so a broken test fails instead of hanging
PLAY_HEADERS = {"Content-Type": "application/json", "X-Gameserver-Play": "1"}


def post(port: int, path: str, body: Any, headers: dict[str, str] | None = None,
         raw: bytes | None = None) -> tuple[int, Any]:
    """(status, decoded JSON body) of one POST; error statuses are returned."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request("POST", path, raw if raw is not None else json.dumps(body),
                     {**PLAY_HEADERS, **(headers or {})})
        reply = conn.getresponse()
        data = reply.read()
        return reply.status, json.loads(data) if data else None
    finally:
        conn.close()


def next_event(readline: Callable[[], bytes]) -> tuple[str, Any]:
    """The next server-sent event read with ``readline``, as (name, decoded data).

    Comments (pings) and ``retry`` lines are skipped; ("eof", None) when the
    stream has ended.
    """
    name, data = "message", None
    while True:
        line = readline().decode()
        if line == "":
            return "eof", None
        line = line.rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and data is not None:
            return name, data


OPEN: list[Stream] = []  # every stream not closed yet (close_all() ends a test cleanly)


def close_all() -> None:
    """Close every stream a test left open (an unclosed socket is a ResourceWarning)."""
    while OPEN:
        OPEN.pop().close()


class Stream:
    """An event stream from a POST (what play.js reads with fetch), read event by event."""

    def __init__(self, port: int, path: str, body: Any,
                 headers: dict[str, str] | None = None, source: str = "127.0.0.1") -> None:
        OPEN.append(self)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT,
                                               source_address=(source, 0))
        self.conn.request("POST", path, json.dumps(body), {**PLAY_HEADERS, **(headers or {})})
        self.reply = self.conn.getresponse()
        self.status = self.reply.status
        if self.status != 200:
            self.error = json.loads(self.reply.read())
            self.close()

    def next(self) -> tuple[str, Any]:
        """The next event as (name, decoded data); ("eof", None) once the stream ends."""
        return next_event(self.reply.fp.readline)

    def events(self) -> Iterator[tuple[str, Any]]:
        while (item := self.next())[0] != "eof":
            yield item

    def close(self) -> None:
        """Close the connection (the response holds the socket too: close both)."""
        self.reply.close()
        self.conn.close()
        if self in OPEN:
            OPEN.remove(self)


class WebSeat:
    """One browser's seat: joins through the join stream, then moves and reads its state."""

    def __init__(self, port: int, game: str) -> None:
        self.port = port
        self.game = game
        self.session = ""
        self.player_id = -1
        self.key = ""
        self.waiting: list[Any] = []  # the "waiting" events of the join stream
        self._joined = threading.Event()
        self.players: list[dict[str, Any]] = []  # from the stream's "session" event
        self._states: Stream | None = None
        self.join_stream: Stream | None = None

    def join(self, **body: Any) -> WebSeat:
        """Join and wait until seated (the session is full)."""
        self.start_join(**body)
        return self.finish_join()

    def start_join(self, **body: Any) -> Stream:
        body.setdefault("game", self.game)
        body.setdefault("name", "")
        stream = Stream(self.port, "/api/play/join", body)
        if stream.status != 200:
            raise PlayRefused(stream.status, stream.error["error"])
        self.join_stream = stream
        return stream

    def first_waiting(self) -> Any:
        """The first event of a join that waits (``waiting``: size, joined, invites)."""
        assert self.join_stream is not None
        name, data = self.join_stream.next()
        assert name == "waiting", (name, data)
        self.waiting.append(data)
        return data

    def finish_join(self) -> WebSeat:
        assert self.join_stream is not None
        for name, data in self.join_stream.events():
            if name == "waiting":
                self.waiting.append(data)
            elif name == "seated":
                self.session, self.player_id, self.key = (
                    data["session"], data["player_id"], data["key"])
                self.join_stream.close()
                return self
            else:
                self.join_stream.close()
                raise PlayRefused(200, data["message"])
        raise AssertionError("the join stream ended without a seat")

    @property
    def ids(self) -> dict[str, Any]:
        return {"game": self.game, "session": self.session, "player_id": self.player_id,
                "key": self.key}

    def move(self, **move: Any) -> dict[str, Any]:
        status, reply = post(self.port, "/api/play/move", {**self.ids, "move": move})
        assert status == 200, reply
        return reply

    def restart(self) -> dict[str, Any]:
        status, reply = post(self.port, "/api/play/restart", self.ids)
        assert status == 200, reply
        return reply

    def states(self) -> Stream:
        """This seat's stream (opened once; the same one on later calls)."""
        if self._states is None:
            self._states = Stream(self.port, "/api/play/state", self.ids)
            assert self._states.status == 200, self._states.error
        return self._states

    def state(self) -> dict[str, Any]:
        """The next state the seat's stream pushes (after the players, sent first)."""
        name, data = self.states().next()
        if name == "session":
            self.players = data["players"]
            name, data = self.states().next()
        assert name == "state", (name, data)
        assert data["status"] == "ok", data
        return data["data"]

    def close(self) -> None:
        for stream in (self._states, self.join_stream):
            if stream is not None:
                stream.close()


class PlayRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
