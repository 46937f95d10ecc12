"""What ``python -m gameserver check`` finds in a game class itself, not in its play.

Mistakes of first-term students that no single call shows, or shows only as
a riddle: a method defined so that the server's call cannot reach it
(``def state(self):``, whose every call failed with "takes 1 positional
argument but 2 were given"); a method hidden by an attribute of the same
name (``self.move = ...``: "'NoneType' object is not callable"); ``input()``
in a game (the server has no keyboard: the call waits for ever, or fails
with EOFError); and lists, dicts or sets that every game shares (a class
attribute ``log = []``, a default ``history=[]``), which one game changes
under another. ``check`` asks before play and compares after it; the
sentences follow ``_check_words``: what to write instead, and on which line.
"""

from __future__ import annotations

import ast
import copy
import inspect
import re
import textwrap
from collections.abc import Iterator
from typing import Any

from ._check_words import shown_path
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
        signature = inspect.signature(func)
        signature.bind(*arguments)
    except TypeError:
        return (f"The server calls {name}() with {passed}, but your {name}() cannot take "
                f"that: begin it with `{written}`.")
    except ValueError:  # no signature to read (a builtin): the games will tell
        return ""
    if name == "move":  # ``def move(self, player_id, move):``, the two the other way round
        first, second = [*signature.parameters][1:3]
        if re.search(r"player|^p?id$", first, re.I) and "move" in second.lower():
            return (f"The server calls move() with the move (a dict) first, then the player's "
                    f"id, but your move() names them the other way round ({first}, "
                    f"{second}): your {second} gets the player's id. Begin it with "
                    f"`{written}`.")
    return ""


# ---------------------------------------------------------------- what the methods' code does

# A name for the value a student kept under a method's name (``self.move = move``).
_OTHER_NAME = {"move": "last_move", "state": "board", "current_player": "turn",
               "game_over": "over"}


def code_problems(game_class: type[AbstractGame]) -> list[tuple[str, str]]:
    """What the game's own methods do that no game may: set an attribute that hides one of
    its methods (``self.move = ...``), or call ``input()``. ``(problem, "file:line")``
    each, in the order of the file; [] when the source cannot be read."""
    # The methods called on a game object (a static or class method is called on the class).
    methods = {name for cls in game_class.__mro__ if cls is not object
               for name, value in vars(cls).items()
               if inspect.isfunction(value) and not name.startswith("__")}
    found: list[tuple[str, tuple[str, int]]] = []
    for filename, line, self_name, node in _own_code(game_class):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in _flat(targets):
                if (isinstance(target, ast.Attribute) and target.attr in methods
                        and isinstance(target.value, ast.Name) and target.value.id == self_name):
                    name = target.attr
                    other = _OTHER_NAME.get(name, f"{name}_value")
                    found.append((
                        f"Setting self.{name} hides the method {name}(): the server then "
                        f"finds that value instead of the method, and cannot call it. Give "
                        f"the value a name of its own, for example `self.{other} = ...`.",
                        (filename, line)))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "input"):
            move = _parameter(game_class, "move", 1) or "move"
            found.append((
                f"input() waits for someone to type, but a game runs on the server, where "
                f"nobody types, so the call waits for ever. A player's move "
                f"arrives in move() as the dict `{move}` (a client's api.move(position=4) "
                f"sends {{\"position\": 4}}): read it from there, for example "
                f"`{move}[\"position\"]`.", (filename, line)))
    return [(text, f"{shown_path(place[0])}:{place[1]}")
            for text, place in sorted(found, key=lambda problem: problem[1])]


def _own_code(game_class: type) -> Iterator[tuple[str, int, str, ast.AST]]:
    """(file, line, the name of ``self``, node) for every node of the game's own methods
    (those of its classes, not of ``AbstractGame``)."""
    for cls in game_class.__mro__:
        if cls is AbstractGame or cls is object:
            continue
        for value in vars(cls).values():
            func = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if not inspect.isfunction(func):
                continue
            try:
                lines, first = inspect.getsourcelines(func)
                tree = ast.parse(textwrap.dedent("".join(lines)))
            except (OSError, TypeError, SyntaxError):  # no source (built with type()), a lambda
                continue
            arguments = func.__code__.co_varnames[:func.__code__.co_argcount]
            self_name = arguments[0] if arguments and not isinstance(value, staticmethod) else ""
            for node in ast.walk(tree):
                if hasattr(node, "lineno"):
                    yield func.__code__.co_filename, first + node.lineno - 1, self_name, node


def _flat(targets: list[ast.expr]) -> Iterator[ast.expr]:
    """The targets of an assignment, those inside ``a, self.move = ...`` too."""
    for target in targets:
        if isinstance(target, (ast.Tuple, ast.List)):
            yield from _flat(target.elts)
        else:
            yield target


def _parameter(game_class: type, method: str, index: int) -> str | None:
    """The name the game gives the ``index``-th parameter after ``self`` of ``method``."""
    func = inspect.getattr_static(game_class, method, None)
    code = getattr(func, "__code__", None)
    if code is None or code.co_argcount <= index:
        return None
    return code.co_varnames[index]  # type: ignore[no-any-return]


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
