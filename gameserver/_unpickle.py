"""Unpickling saved games with an allow-list, so a crafted store row cannot run code.

``pickle.loads`` calls whatever callable a pickle names: a row written by
someone else (``os.system``, ``subprocess.Popen``, ``builtins.eval``) runs
as the server's user. ``load`` resolves only:

* classes defined in the module of a game being served (its own helper
  classes and enums included; no functions, nothing it merely imported);
* classes of ``gameserver.game``, the framework's side of a game;
* a fixed list of plain data types from the standard library
  (``SAFE_GLOBALS``).

A game whose object holds anything else (a numpy array, a function) is
refused when it is saved (``check``), so it is kept in memory only with a
log line that names what it holds, instead of failing at the next start.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
from collections.abc import Iterable
from typing import Any

from ._pickleops import opcodes

# (module, name) of standard-library types that only rebuild data.
SAFE_GLOBALS = frozenset({
    *(("builtins", name) for name in (
        "bool", "bytearray", "bytes", "complex", "dict", "float", "frozenset", "int", "list",
        "object", "range", "set", "slice", "str", "tuple")),
    *(("collections", name) for name in ("Counter", "OrderedDict", "defaultdict", "deque")),
    *(("datetime", name) for name in ("date", "datetime", "time", "timedelta", "timezone")),
    ("array", "array"), ("array", "_array_reconstructor"),
    ("copyreg", "_reconstructor"),  # objects pickled with protocols 0 and 1
    ("decimal", "Decimal"), ("fractions", "Fraction"),
    ("random", "Random"), ("types", "SimpleNamespace"),
    # A game's saved random generator (CheckedGame.snapshot): it only calls setstate;
    # saved before it was made, its seed: only an int (GameType.restore checks it again).
    ("gameserver._randomness", "_loaded_random"), ("gameserver._randomness", "_unseeded"),
})
FRAMEWORK_MODULES = frozenset({"gameserver.game"})


class Refused(pickle.UnpicklingError):
    """The pickle names something outside the allow-list."""


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, modules: frozenset[str]) -> None:
        super().__init__(io.BytesIO(data))
        self._modules = modules

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        if module in self._modules and module in sys.modules:
            value: Any = sys.modules[module]
            for part in name.split("."):  # a nested class: Outer.Inner
                value = getattr(value, part, None)
                if not (isinstance(value, type) and value.__module__ == module):
                    break
            else:
                return value
        raise Refused(_describe(module, name))


def _describe(module: str, name: str) -> str:
    """``name (from file.py)`` for a module loaded from a file, else ``module.name``."""
    source = getattr(sys.modules.get(module), "__file__", None)
    return f"{name} (from {os.path.basename(source)})" if source else f"{module}.{name}"


class Unpickler:
    """Loads snapshots of the games given (by class), and nothing else."""

    def __init__(self, game_classes: Iterable[type]) -> None:
        # A game class's own module, and those of the game classes it builds on.
        self.modules = FRAMEWORK_MODULES | {
            base.__module__ for cls in game_classes for base in cls.__mro__
            if base.__module__ != "builtins"}

    def load(self, data: bytes) -> Any:
        """Unpickle ``data``.

        Raises:
            Refused: it names a global outside the allow-list (``str(err)`` is
                its dotted name).
            ValueError: a memo index past the opcodes before it (``LONG_BINPUT``
                1,000,000,000, 12 bytes of a crafted store row, had the unpickler make and
                zero a memo of 16 GB, a minute and a half of the server's loop), or
                damaged data (``_pickleops.opcodes``).
            Exception: anything unpickling damaged data raises.
        """
        opcodes(data, len(data) + 1)  # (walked to its STOP: each opcode takes a byte)
        return _Unpickler(data, self.modules).load()

    def check(self, data: bytes) -> str | None:
        """None if ``load`` can bring ``data`` back, else what stands in the way."""
        try:
            self.load(data)
        except Refused as err:
            return (f"it holds {err}, which the store does not restore (only the game's own "
                    "classes and plain data)")
        except Exception as err:  # noqa: BLE001 - a game's __setstate__ or __reduce__
            return f"unpickling it raises {type(err).__name__}: {err}"
        return None
