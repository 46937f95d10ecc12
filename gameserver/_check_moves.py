"""The moves the checker tries: guesses built from a game's source, and small changes.

``python -m gameserver check`` plays mostly the moves a game lists in
``legal_moves``, and now and then a move that was not listed, to see whether
``move`` accepts it. A game without ``legal_moves`` is played with moves
guessed from the words in its source code (``move["x"]`` gives the key
``"x"``, string constants give likely values).
"""

from __future__ import annotations

import ast
import inspect
import json
import random
from typing import Any

from .game import AbstractGame


def source_words(game_class: type[AbstractGame]) -> tuple[list[str], list[str]]:
    """Likely move keys (``move["x"]``, ``move.get("x")``, ``"x" in move``) and
    other short string constants in the game's source (likely values)."""
    try:
        tree = ast.parse(inspect.getsource(inspect.getmodule(game_class) or game_class))
    except (OSError, TypeError, SyntaxError):
        return ["move"], ["move"]
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            keys.add(_string(node.slice))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "get" and node.args):
            keys.add(_string(node.args[0]))
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            keys.add(_string(node.left))
    keys.discard("")
    words = {node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and 0 < len(node.value) < 30 and "\n" not in node.value}
    return sorted(keys) or sorted(words) or ["move"], sorted(words) or ["move"]


def _string(node: ast.AST) -> str:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""


def random_value(rng: random.Random, words: list[str]) -> Any:
    kind = rng.randrange(7)
    if kind <= 2:
        return rng.randint(0, 9) if rng.random() < 0.8 else rng.randint(-2, 100)
    if kind == 3:
        return rng.choice(words)
    if kind == 4:
        return [rng.randint(-1, 10) for _ in range(rng.randint(0, 3))]
    if kind == 5:
        return rng.choice([None, True, False, "", 1.5, {}])
    return rng.randint(-10**6, 10**6)


def mutate(value: Any, rng: random.Random, words: list[str]) -> Any:
    if type(value) is int and rng.random() < 0.6:
        return value + rng.choice([-1, 1, 2, 10])
    if isinstance(value, list) and value and rng.random() < 0.6:
        changed = list(value)
        changed[rng.randrange(len(changed))] = mutate(changed[0], rng, words)
        return changed
    return random_value(rng, words)


def free_text_variant(move: dict[str, Any], legal: list[Any]) -> bool:
    """Whether ``move`` is a listed move with only free-form parts changed.

    Free-form parts are those a game lists in one canonical or example form:
    text (a name), a list of plain values in another order or repeated
    (``[2, 0]`` for ``[0, 2]``), and lists of lists (one example of a
    structured value, such as where the ships go).
    """
    return any(set(listed) == set(move) and all(_same_kind(listed[k], move[k]) for k in move)
               for listed in legal)


def _same_kind(listed: Any, given: Any) -> bool:
    if listed == given or (type(listed) is str and type(given) is str):
        return True
    if _plain_list(listed) and _plain_list(given):
        return {canonical(x) for x in listed} == {canonical(x) for x in given}
    return isinstance(listed, list) and any(isinstance(x, list) for x in listed)


def _plain_list(value: Any) -> bool:
    return isinstance(value, list) and not any(isinstance(x, (list, dict)) for x in value)


def canonical(move: Any) -> str:
    return json.dumps(move, sort_keys=True)
