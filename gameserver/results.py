"""The result of a finished game, read from its final states; shared by every reader.

The history command (``python -m gameserver history``) and the dashboard's
history, replays and leaderboard all say who won through ``outcome``, so
they always agree. Pure functions of a store record (``store.finished_game``
or an entry of ``store.finished_games``); no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# What must not reach a terminal or a log as it is, in names and session names players
# chose: control characters (an ANSI escape clears the screen or retitles the window; a
# newline begins a line that looks like another), line separators, direction overrides.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNPRINTABLE_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str, newlines: bool = False) -> str:
    """``text`` with what must not reach a terminal as it is written as escapes (``\\x1b``);
    ``newlines``: a newline is kept."""
    if text.isprintable():
        return text
    return (_UNPRINTABLE_BUT_NEWLINE if newlines else _UNPRINTABLE).sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    return ascii(match.group())[1:-1]


def display_name(name: str, player_id: int) -> str:
    """A player's name for people to read: ``player 2`` when the player gave none."""
    return name or f"player {player_id}"


RESULT_KEYS = ("forfeit", "ranking", "winner", "gameover")  # what outcome reads of a state


def result_states(states: Any) -> Any:
    """``states`` (a game's final states) with only what its result is read from
    (``RESULT_KEYS``): ``outcome`` and the leaderboard read them the same."""
    if not isinstance(states, list):
        return states
    return [{key: state[key] for key in RESULT_KEYS if key in state}
            if isinstance(state, dict) else state for state in states]


def outcome(record: Mapping[str, Any]) -> dict[str, Any]:
    """The result of a finished game from its final states.

    The first final state that says anything decides. A ``"forfeit"``
    (players who ran out of time, added by the framework, see
    ``gameserver.timers``) comes first: those players lost, everyone else
    wins (nobody, when all of them lost); a forfeit that names nobody (a
    game ended at a tournament's move limit) is a draw. Then a ``"ranking"``
    ``{name: points}`` (Yahtzee) comes before a ``"winner"`` id: the
    single best score wins, a shared best score is a draw. A ``"winner"``
    that is a player's id wins; ``null`` once the game is over is a draw.

    Returns:
        ``{"kind": "win", "winners": [name], "text": ...}``, ``{"kind":
        "draw", ...}`` or ``{"kind": "none", ...}`` when the states say
        nothing about a winner (a chat, an echo). Names of unnamed players
        are "" in ``winners``; ``text`` always reads well.
    """
    players: list[str] = list(record.get("players") or [])
    for state in record.get("final_states") or []:
        if not isinstance(state, dict):
            continue
        forfeit = state.get("forfeit")
        if isinstance(forfeit, dict) and isinstance(forfeit.get("players"), list):
            return _forfeit_outcome(players, forfeit["players"], forfeit.get("reason"))
        ranking = state.get("ranking")
        if isinstance(ranking, dict) and ranking:
            scores = [(str(name), points) for name, points in ranking.items()
                      if isinstance(points, (int, float)) and not isinstance(points, bool)]
            if scores:
                best = max(points for _, points in scores)
                top = [name for name, points in scores if points == best]
                listing = ", ".join(f"{name} {points}" for name, points in scores)
                if len(top) == 1:
                    return {"kind": "win", "winners": top,
                            "text": f"{top[0]} wins ({listing})"}
                return {"kind": "draw", "winners": [], "text": f"draw ({listing})"}
        if "winner" in state:
            winner = state["winner"]
            if type(winner) is int and 0 <= winner < len(players):
                name = players[winner]
                return {"kind": "win", "winners": [name],
                        "text": f"{display_name(name, winner)} wins"}
            if winner is None and state.get("gameover"):
                return {"kind": "draw", "winners": [], "text": "draw"}
    return {"kind": "none", "winners": [], "text": "finished"}


def _forfeit_outcome(players: list[str], lost: list[Any], reason: Any) -> dict[str, Any]:
    """The result of a game the framework ended: the players in ``lost`` ran out of time.

    Nobody in ``lost``: the framework ended it for another ``reason`` (a move
    limit), a draw.
    """
    losers = [p for p in range(len(players)) if p in lost]
    if not losers:
        return {"kind": "draw", "winners": [],
                "text": f"draw: {reason}" if isinstance(reason, str) and reason else "draw"}
    others = [p for p in range(len(players)) if p not in lost]
    late = " and ".join(display_name(players[p], p) for p in losers)
    if not others:
        return {"kind": "none", "winners": [],
                "text": ("both" if len(losers) == 2 else "all") + " ran out of time"}
    names = " and ".join(display_name(players[p], p) for p in others)
    return {"kind": "win", "winners": [players[p] for p in others],
            "text": f"{names} win{'s' if len(others) == 1 else ''}: {late} ran out of time"}
