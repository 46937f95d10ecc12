"""Allows ``python -m gameserver`` (``gameserver/__init__.py`` checks the Python version first)."""

import os
import sys

from .cli import main

# How the user started us, for --help: "python3 -m gameserver" on Debian.
python = os.path.basename(sys.executable).removesuffix(".exe") or "python"
sys.exit(main(prog=f"{python} -m gameserver"))
