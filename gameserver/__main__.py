"""Allows ``python -m gameserver``."""

import sys

from .cli import main

sys.exit(main())
