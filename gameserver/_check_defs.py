"""What ``python -m gameserver check`` finds in a game class itself, not in its play.

Two mistakes of first-term students that no single call shows: a method
defined so that the server's call cannot reach it (``def state(self):``,
whose every call failed with "takes 1 positional argument but 2 were
given"), and lists, dicts or sets that every game shares (a class attribute
``log = []``, a default ``history=[]``), which one game changes under
another. ``check`` asks before play and compares after it; the sentences
follow ``_check_words``: what to write instead.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

from .game import AbstractGame

# ---------------------------------------------------------------- how methods are called

# How the server calls a game's methods: what it passes besides ``self``, and how the
# method's definition must begin to take it.
CALLS = {
    "__init__": ("the number of players", 1, "def __init__(self, players):"),
    "current_player": ("nothing", 0, "def current_player(self):"),
    "move": ("the move (a dict) and the player's id", 2, "def move(self, move, player_id):"),
    "game_over": ("nothing", 0, "def game_over(self):"),
    "state": ("the player's id", 1, "def state(self, player_id):"),
    "legal_moves": ("the player's id", 1, "def legal_moves(self, player_id):"),
    "private_data": ("the player's id", 1, "def private_data(self, player_id):"),
}


def signature_problem(game_class: type[AbstractGame], name: str) -> str:
    """What is wrong with how the game's method ``name`` (a key of ``CALLS``) is defined,
    if the server's call could not reach it: ``def state(self):`` failed every call with
    "state() takes 1 positional argument but 2 were given", and the student did not know
    which of the two was theirs. "" if the call fits (or the method is the base class's)."""
    raw = inspect.getattr_static(game_class, name, None)
    passed, count, written = CALLS[name]
    if isinstance(raw, staticmethod):
        func, arguments = raw.__func__, [None] * count
    elif inspect.isfunction(raw):
        func, arguments = raw, [None] * (count + 1)  # self, then what the server passes
    else:
        return ""
    if func is getattr(AbstractGame, name, None):
        return ""
    try:
        inspect.signature(func).bind(*arguments)
    except TypeError:
        return (f"The server calls {name}() with {passed}, but your {name}() cannot take "
                f"that: begin it with `{written}`.")
    except ValueError:  # no signature to read (a builtin): the games will tell
        return ""
    return ""


# ---------------------------------------------------------------- shared by every game

_CONTAINERS = (list, dict, set, bytearray)  # the values that change in place


def shared_values(game_class: type) -> dict[str, Any]:
    """Copies of the values every game of ``game_class`` shares and can change in place:
    its (and its own bases') class attributes that are lists, dicts or sets, and such
    default values of its methods' parameters. By a name the student knows them by
    (``log``, ``__init__(history=...)``); compared after play by ``shared_changes``."""
    found: dict[str, Any] = {}
    for cls in game_class.__mro__:
        if cls is AbstractGame or not issubclass(cls, AbstractGame):
            continue
        for name, value in vars(cls).items():
            if name.startswith("__") and name.endswith("__") and name != "__init__":
                continue  # Python's own (__annotations__, __dict__)
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, _CONTAINERS):
                found.setdefault(name, value)
            elif inspect.isfunction(value):
                for parameter in inspect.signature(value).parameters.values():
                    if isinstance(parameter.default, _CONTAINERS):
                        found.setdefault(f"{name}({parameter.name}=...)", parameter.default)
    copies = {}
    for name, value in found.items():
        try:
            copies[name] = (value, copy.deepcopy(value))
        except Exception:  # noqa: BLE001 - what it holds cannot be copied: not compared
            pass
    return copies


def shared_changes(copies: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The problems of the values ``shared_values`` copied that games have changed, each
    with the method whose default it is (None: a class attribute)."""
    problems = []
    for name, (value, before) in copies.items():
        try:
            changed = value != before
        except Exception:  # noqa: BLE001 - a comparison of the game's own objects failed
            continue
        if not changed:
            continue
        kind = type(value).__name__
        empty = {"list": "[]", "dict": "{}", "set": "set()", "bytearray": "bytearray()"}[kind]
        method, _, parameter = name.partition("(")
        if parameter:
            parameter = parameter.removesuffix("=...)")
            problems.append((
                f"The default value of {parameter} in {method}() changed while games were "
                f"played: Python makes a default value once, so every game shares that one "
                f"{kind}, and one game's changes show in the next. Write {parameter}=None, "
                f"and in {method}(): `if {parameter} is None: {parameter} = {empty}`.",
                method))
        else:
            problems.append((
                f"The class attribute {name} changed while games were played: it belongs to "
                f"the class, so every game on the server shares that one {kind}, and one "
                f"game's changes show in the others. Make one for each game in __init__: "
                f"`self.{name} = {empty}`.", None))
    return problems
