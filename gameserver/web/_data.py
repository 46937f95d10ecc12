"""What the dashboard shows, as JSON-ready dicts; no HTTP here.

Two kinds of functions:

* ``games_list``, ``describe`` and ``session_data`` read the server through
  its ``DashboardSource``. They run on the server's event loop, because the
  lobby belongs to it; ``views_shown`` is the spectator rule for hidden
  information.
* ``history_entry``, ``leaderboard`` and ``replay`` turn records of the
  store into what the pages need. They are pure functions of those records
  and run in the history's worker threads.

Nothing here ever returns a key: session summaries and player views are
built by ``Session`` without them, and the store records none.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..game import AbstractGame, has_hidden_information, lists_legal_moves
from ..results import outcome
from .source import DashboardSource, SessionKey

STUCK_AFTER_MAX = 60.0  # seconds without requests after which a running session is "stuck"
BUNDLED, ALL = "bundled", "all"  # the setting web_renderers: whose renderers are served
RAISED = re.compile(r"\(\) raised \w+")  # "framework: game G: state() raised KeyError"
WITHHELD = " (its message is withheld: this game has hidden information; the server's log has it)"


def stuck_after(game_timeout: float) -> float:
    """Seconds of silence after which a running session is flagged as stuck.

    A minute, or a quarter of the game timeout when that is shorter, so a
    session is flagged well before the server removes it.
    """
    return min(STUCK_AFTER_MAX, game_timeout / 4)


def renderer_file(game_class: type[AbstractGame]) -> Path | None:
    """The author's renderer for a game: ``<ClassName>.js`` next to the game's file."""
    try:
        source = inspect.getsourcefile(game_class)
    except (TypeError, OSError):
        return None
    if source is None:
        return None
    path = Path(source).with_name(f"{game_class.__name__}.js")
    return path if path.is_file() else None


# ---------------------------------------------------------------- live (on the loop)


def games_list(source: DashboardSource, renderers: str = BUNDLED) -> list[dict[str, Any]]:
    """Every game offered, with its hidden-information flag and renderer. On the loop.

    A game's own renderer (``renderer_file``) is listed only with ``renderers``
    ``all``: the URL of the sandboxed frame document it draws in (``_routes``).
    The bundled games' renderers are in ``static/renderers.js`` and need no URL.
    """
    classes = source.game_classes()
    games = source.game_list()
    for game in games:
        game_class = classes[game["name"]]
        game["hidden_information"] = has_hidden_information(game_class)
        game["legal_moves"] = lists_legal_moves(game_class)
        game["renderer"] = (f"/renderers/{game['name']}.html" if renderers == ALL
                            and renderer_file(game_class) is not None else None)
    return games


def views_shown(game_class: type[AbstractGame] | None, summary: Mapping[str, Any] | None,
                operator: bool) -> bool:
    """Whether a visitor may see the players' views of a session now.

    The operator always may. Anyone else may for games without hidden
    information, and for a game with hidden information only once it is
    over (then its replay shows every view anyway): while it runs, they get
    the public view, which is the session's summary (players, whose turn,
    moves) and nothing a player receives in ``state()``. ``summary`` None:
    whether they are shown whatever the summary says.
    """
    if operator or not has_hidden_information(game_class):  # None (unknown): hidden
        return True
    return summary is not None and bool(summary.get("full") and summary.get("gameover")
                                        and "error" not in summary)


def withhold_error(summary: dict[str, Any], game_class: type[AbstractGame] | None,
                   operator: bool) -> None:
    """Cut the game's error in ``summary`` to the call and the exception's type, for a
    visitor who is not the operator, in a game with hidden information.

    An exception's message quotes what the game's code was working on: a
    ``state(1)`` that parses its player's cards fails with ``invalid literal
    for int() with base 10: 'K'`` (player 1 holds a King). Until 2026-12-01 the
    lobby and the session's public view showed it whole to every spectator, the
    opponent on a shared machine's localhost dashboard included. The operator,
    and every visitor of a game without secrets (who sees its views anyway),
    get it whole; other errors (a time limit, a wrong type returned) quote no
    game data and stay as they are.
    """
    error = summary.get("error")
    if operator or not isinstance(error, str) or not has_hidden_information(game_class):
        return
    raised = RAISED.search(error)
    if raised is not None and raised.end() < len(error):
        summary["error"] = error[:raised.end()] + WITHHELD


def describe(source: DashboardSource, handle: Any, stuck_seconds: float,
             now: float) -> dict[str, Any]:
    """A session's summary with the lobby's flags (waiting, stuck, finished)."""
    summary = source.summary(handle)
    summary["last_activity"], summary["waiting"] = source.activity(handle)
    error = "error" in summary
    full, over = bool(summary.get("full")), bool(summary.get("gameover"))
    running = full and not over and not error
    summary["stuck"] = running and now - summary["last_activity"] >= stuck_seconds
    summary["waiting_for_players"] = not full
    summary["finished"] = full and over and not error
    return summary


def session_data(source: DashboardSource, key: SessionKey, player: int | None,
                 operator: bool, stuck_seconds: float) -> dict[str, Any] | None:
    """One session: its summary and the views the visitor may see. On the loop.

    Args:
        key: ``(game, token)``.
        player: only this player's view (what that player receives), or
            None for every player's view.
        operator: whether the visitor is the operator (``views_shown``).

    Returns:
        ``{"now", "summary", "views"}`` or, with ``player``, ``{"now",
        "summary", "player", "view"}``; None when there is no such session.
        ``view`` is None when that player has not joined yet. When the views
        are withheld (hidden information), ``"hidden": true`` and ``views``
        is empty / ``view`` is None.
    """
    handle = source.session(key)
    if handle is None or source.mark(handle) is None:
        return None
    now = time.time()
    game_class = source.game_classes().get(key[0])
    views: list[dict[str, Any]] | None = None
    if views_shown(game_class, None, operator):
        # First: asking for a state may find the game failing, which the summary then
        # says (``Session.game_failed``), as the lobby does from now on.
        views = source.views(handle)
    summary = describe(source, handle, stuck_seconds, now)
    withhold_error(summary, game_class, operator)
    data: dict[str, Any] = {"now": now, "summary": summary}
    if views is None and views_shown(game_class, summary, operator):
        # A spectator of a finished game with hidden information. A failure met here
        # is in the summary of the next look, which the session's mark brings at once.
        views = source.views(handle)
    if views is None:
        data["hidden"] = True
        views = []
    if player is None:
        data["views"] = views
        return data
    data["player"] = player
    data["view"] = views[player] if 0 <= player < len(views) else None
    return data


# ---------------------------------------------------------------- history (any thread)


def history_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """One finished game for the history list: who, how long, what result."""
    started, ended = record.get("started"), record.get("ended")
    duration = (ended - started) if isinstance(started, (int, float)) and isinstance(
        ended, (int, float)) else None
    moves = record.get("moves")
    return {
        "id": record.get("id"), "game": record.get("game"),
        "session": record.get("session"), "players": list(record.get("players") or []),
        "started": started, "ended": ended, "duration": duration,
        "moves": moves if isinstance(moves, int) else len(moves or []),
        "result": outcome(record),
        "own_timer": bool(record.get("own_timer")),  # its starter chose the timer: not rated
    }


def leaderboard(records: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Wins, draws and losses per game and player name, best first.

    A ``winner`` id gives that player's name a win and the others a loss; a
    ``ranking`` gives its top name the win. Unnamed players are left out:
    an empty name says nothing about who played. Games whose timer their
    session's starter chose (``own_timer``) are left out, as from the ratings:
    the others had no say in it (a starter's 0.1 s turns won every game).
    """
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for record in records:
        result = outcome(record)
        if result["kind"] == "none" or record.get("own_timer"):
            continue
        game = str(record.get("game"))
        names = [n for n in record.get("players") or [] if n]
        ranking_names = []
        for state in record.get("final_states") or []:
            if isinstance(state, dict) and isinstance(state.get("ranking"), dict):
                ranking_names = [str(n) for n in state["ranking"] if n]
                break
        rows = table.setdefault(game, {})
        for name in dict.fromkeys(ranking_names or names):
            row = rows.setdefault(name, {"name": name, "games": 0, "wins": 0,
                                         "draws": 0, "losses": 0})
            row["games"] += 1
            if result["kind"] == "draw":
                row["draws"] += 1
            elif name in result["winners"]:
                row["wins"] += 1
            else:
                row["losses"] += 1
    return {game: sorted(rows.values(),
                         key=lambda r: (-r["wins"], -r["draws"], r["losses"], r["name"]))
            for game, rows in sorted(table.items())}


def replay(record: Mapping[str, Any], player: int, hide_others_moves: bool) -> dict[str, Any]:
    """A finished game as one player saw it, move by move.

    Args:
        record: ``store.finished_game(id)``.
        player: whose view to show; only this player's states are returned.
        hide_others_moves: leave out the content of other players' moves (a
            Battleship placement, a hidden choice); only that they moved.

    Returns:
        ``{"id", "game", "session", "players", "started", "ended", "result",
        "player", "initial", "hidden_moves", "states_note", "steps": [{"seq",
        "player_id", "move", "rejection", "time", "state"}]}``; ``move`` is None
        when hidden; a ``state`` is None where it is unknown, and ``states_note``
        (else None) says why; ``note`` when the moves or the states end early,
        saying why.
    """
    def pick(states: Any) -> Any:
        if isinstance(states, list) and 0 <= player < len(states):
            return states[player]
        return None

    steps = []
    for step in record.get("steps") or []:
        mover = step.get("player_id")
        hidden = hide_others_moves and mover != player
        steps.append({"seq": step.get("seq"), "player_id": mover,
                      "move": None if hidden else step.get("move"),
                      "rejection": step.get("rejection"), "time": step.get("time"),
                      "state": pick(step.get("states"))})
    if steps and steps[-1]["state"] is None and record.get("moves") == len(steps):
        # The states after each move are rebuilt by playing the moves again, which
        # the server does not do for a game in a worker process (states_note says
        # why); the state after the last move is the final one, saved as the game ended.
        steps[-1]["state"] = pick(record.get("final_states"))
    entry = history_entry({**record, "moves": len(steps)})
    data = {**entry, "player": player, "initial": pick(record.get("initial_states")),
            "hidden_moves": hide_others_moves, "states_note": record.get("states_note"),
            "steps": steps}
    notes = [record[key] for key in ("moves_note", "states_note") if record.get(key)]
    if notes:
        data["note"] = "; ".join(notes)
    return data
