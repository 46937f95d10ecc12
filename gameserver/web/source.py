"""What the dashboard needs from the game server, and the one adapter that provides it.

The dashboard is a view of the server, not a part of it: it never sees the
``GameServer``. It is handed a ``DashboardSource`` (a Protocol: anything
with these methods will do) and reads everything through it. Every method
runs on the server's event loop, where the lobby lives, and must be quick.

``LobbySource`` is the adapter the server uses: it is the only code in
``gameserver/web`` that touches sessions and the lobby, so when their
insides change, this class is the one place to adapt.

Playing in the browser goes through ``handle``: the very requests a game
client sends (``protocol.Join``, ``Move``, ``StateWithMoves``, ``Restart``)
with the browser's address, so every rule of the game port (turns, keys,
consent, per-address caps, the overwrite rule, durability) applies
unchanged. A request that must wait comes back as a ``Wait``
(``gameserver.waits``); its carrier (``_carrier.settle``) resumes it with
``resume``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Protocol

from ..game import AbstractGame
from ..guard import GameCodeError
from ..protocol import Request
from ..waits import Outcome, Wait

SessionKey = tuple[str, str]  # (game name, session token)


class HistoryReader(Protocol):
    """The store's reading side. Its methods are called from worker threads."""

    def finished_games(self, game: str | None = None,
                       limit: int = 50) -> list[dict[str, Any]]: ...

    def finished_game(self, game_id: int, room: int | None = None) -> dict[str, Any] | None:
        """One finished game (``store.reader``); with ``room``, read no further than that
        many bytes of moves and states fit (``"no_room": True`` if they did not)."""


class DashboardSource(Protocol):
    """Everything the dashboard reads from the game server (on the event loop)."""

    def sessions(self) -> Iterable[tuple[SessionKey, Any]]:
        """Every session as ``(key, handle)``; the handle is passed back to the methods below."""

    def session(self, key: SessionKey) -> Any:
        """The handle of one session, or None."""

    def mark(self, handle: Any) -> Hashable:
        """Changes whenever what ``summary`` or ``views`` show may have changed.

        None when the session has ended (it is then shown nowhere). Must be
        cheap: it is read for every session on each refresh of the lobby.
        """

    def activity(self, handle: Any) -> tuple[float, int]:
        """``(last request, Unix seconds; requests waiting now)``: these change without the mark."""

    def summary(self, handle: Any) -> dict[str, Any]:
        """``session_summary(handle)``: players, whose turn, moves, no keys."""

    def views(self, handle: Any) -> list[dict[str, Any]]:
        """What each player would get from ``state()`` now (hidden information included),
        as JSON data; ``{"error": ...}`` where it cannot be had. Asking may change the
        mark (a game's failure found: ``Session.game_failed``): ask before ``summary``."""

    def game_classes(self) -> Mapping[str, type[AbstractGame]]: ...

    def game_list(self) -> list[dict[str, Any]]:
        """The games offered, as ``discover`` lists them."""

    def history(self) -> HistoryReader | None:
        """The finished games' reader, or None when the store is off."""

    def metrics_text(self) -> str:
        """The Prometheus text of ``/metrics``."""

    def store_health(self) -> dict[str, Any] | None:
        """The store's health (``{"status": "ok" | "degraded", ...}``), or None."""

    def competition(self) -> Any:
        """The tournaments (``gameserver.tournament_hall.TournamentHall``), or None."""

    def game_files(self) -> dict[str, Any]:
        """Each game file: its games, or why none loaded; each game: its game-code errors
        (``gameserver._load_notes.LoadNotes.report``)."""

    def handle(self, request: Request, client: str) -> Outcome:
        """Serve a game request from ``client`` (an address) exactly as the game port does.

        Returns the reply's bytes (the wire protocol's JSON) or a ``Wait``.
        Never raises: errors are error replies.
        """

    def resume(self, wait: Wait) -> Outcome:
        """Ask again for a ``Wait`` that was woken: the reply, or another ``Wait``."""

    def open_sessions(self, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """The first ``limit`` sessions waiting for players, as ``discover`` lists them,
        and whether there are more."""


class LobbySource:
    """The ``DashboardSource`` of a running server: its lobby, store and metrics.

    Args:
        lobby: the server's lobby (its ``sessions`` by ``(game, token)``,
            ``games`` and ``game_list()``).
        history: the store's history reader, or None.
        metrics_text: renders ``/metrics``.
        store_health: returns the store's health dict, or None when the
            store has no such report (or is off).
        competition: the server's tournaments, or None.
        game_files: returns the game files and the games' errors (``game_files``);
            None: no game files, no errors counted.
    """

    def __init__(self, lobby: Any, history: HistoryReader | None,
                 metrics_text: Callable[[], str],
                 store_health: Callable[[], dict[str, Any]] | None = None,
                 competition: Any = None,
                 game_files: Callable[[], dict[str, Any]] | None = None) -> None:
        self._competition = competition
        self._game_files = game_files
        self._lobby = lobby
        self._history = history
        self._metrics_text = metrics_text
        self._store_health = store_health
        self._wall_offset = time.time() - time.monotonic()

    def sessions(self) -> Iterable[tuple[SessionKey, Any]]:
        self._wall_offset = time.time() - time.monotonic()
        return list(self._lobby.sessions.items())

    def session(self, key: SessionKey) -> Any:
        self._wall_offset = time.time() - time.monotonic()
        return self._lobby.sessions.get(key)

    def mark(self, handle: Any) -> Hashable:
        if handle.closed is not None:
            return None
        players = handle.players
        observed = [p for p in players if p.observer_key] if players else players
        # ``noted``: what changes without a change of version (a game's failure recorded,
        # a state of a game in a worker process fetched for the session's page).
        return (id(handle), handle.version, len(players), len(observed), handle.noted)

    def activity(self, handle: Any) -> tuple[float, int]:
        # last_activity is time.monotonic() of the session's last request; the offset
        # between the two clocks is read once per call of sessions().
        return handle.last_activity + self._wall_offset, handle.waiting

    def summary(self, handle: Any) -> dict[str, Any]:
        return session_summary(handle)

    def views(self, handle: Any) -> list[dict[str, Any]]:
        views = []
        for player_id in range(len(handle.players)):
            try:
                views.append(handle.shown_view(player_id))
            except GameCodeError as err:  # an error box (a failure: in the lobby too)
                views.append({"error": str(err)})
        return views

    def game_classes(self) -> Mapping[str, type[AbstractGame]]:
        return dict(self._lobby.games)

    def game_list(self) -> list[dict[str, Any]]:
        return list(self._lobby.game_list())

    def history(self) -> HistoryReader | None:
        return self._history

    def metrics_text(self) -> str:
        return self._metrics_text()

    def store_health(self) -> dict[str, Any] | None:
        return self._store_health() if self._store_health is not None else None

    def competition(self) -> Any:
        return self._competition

    def game_files(self) -> dict[str, Any]:
        if self._game_files is None:
            return {"files": [], "games": [{"name": name, "file": None, "errors": 0}
                                           for name in sorted(self._lobby.games)]}
        return self._game_files()

    def handle(self, request: Request, client: str) -> Outcome:
        return self._lobby.handle(request, client)  # type: ignore[no-any-return]

    def resume(self, wait: Wait) -> Outcome:
        return self._lobby.call(wait.resume)  # type: ignore[no-any-return]

    def open_sessions(self, limit: int) -> tuple[list[dict[str, Any]], bool]:
        sessions, rest = self._lobby.open_sessions_page(limit=limit)
        return list(sessions), rest is not None


def session_summary(session: Any) -> dict[str, Any]:
    """A session for dashboards: who plays, whose turn, how busy; never a key.

    Game calls that fail show up as ``"error"``: whose turn it is or whether the game is
    over, asked now, else the last failure in the game's code (``Session.game_failure``:
    a move, a state asked for by a client, the session's page or the store, a restart,
    until the game accepts a move again or a restart replaces it). A state is asked for
    only when someone wants it, never to fill this in.
    """
    now_wall, now = time.time(), session.now()
    summary: dict[str, Any] = {
        "game": session.game_name, "session": session.token, "auto": session.auto,
        "players": [{"id": i, "name": p.name} for i, p in enumerate(session.players)],
        "size": session.size, "full": session.full, "moves": session.moves,
        "accepted_moves": session.accepted_moves,
        "games_played": session.games_played,
        "started": now_wall - (now - session.created),
        "last_activity": now_wall - (now - session.last_activity),
        "observed": [i for i, p in enumerate(session.players) if p.observer_key],
        "waiting": session.waiting, "current": [], "gameover": False,
    }
    failure = session.game_failure
    if failure is not None:
        summary["error"] = failure
    if session.full:
        try:
            summary["gameover"] = session.game.game_over()
            summary["current"] = session.game.current()
        except GameCodeError as err:
            summary["error"] = str(err)
    if session.timer is not None:
        summary["timer"] = session.timer.summary(now, now_wall)
    return summary

