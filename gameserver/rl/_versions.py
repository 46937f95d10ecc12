"""Importing this raises ``ImportError`` if a package ``gameserver.rl`` needs is older
than the ``rl`` extra of pyproject.toml asks for, naming it, its version and the fix.

Why: an older package fails the import on a name it lacks (Gymnasium 0.29, still
common, has no ``gymnasium.vector.AutoresetMode``), saying neither which version is
installed nor which is needed.
"""

from __future__ import annotations

import re

import gymnasium
import numpy
import pettingzoo

WANTED = {gymnasium: (1, 1), pettingzoo: (1, 24), numpy: (1, 26)}  # as pyproject.toml


def too_old() -> list[str]:
    """The packages installed in versions older than ``WANTED``, as requirements."""
    old = []
    for module, least in WANTED.items():
        found = re.match(r"(\d+)\.(\d+)", getattr(module, "__version__", ""))
        if found is not None and (int(found[1]), int(found[2])) < least:
            old.append(f"{module.__name__}>={least[0]}.{least[1]} (installed: "
                       f"{module.__version__})")
    return old


_OLD = too_old()
if _OLD:
    raise ImportError(
        f"gameserver.rl needs {', '.join(_OLD)}. Upgrade with:  pip install -U "
        "'pettingzoo>=1.24' 'gymnasium>=1.1' 'numpy>=1.26'  (or, in the repository's "
        "folder: pip install -e '.[rl]')")
