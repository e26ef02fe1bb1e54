"""The names of `extract.pool`'s poolings, checked without torch (params are checked before any stage runs,
a no-op `muaudit run` included, which must not pay torch's import)."""

from __future__ import annotations

import re

from muaudit.errors import BadInputError

GLOBAL = "mean"
GRID = re.compile(r"^([1-9][0-9]*)x([1-9][0-9]*)$")


def check_pool_mode(mode: str, key: str) -> str:
    if mode != GLOBAL and not GRID.match(mode):
        raise BadInputError(f"{key}: '{mode}' is not a pooling; expected '{GLOBAL}' or a grid such as '2x2'")
    return mode
