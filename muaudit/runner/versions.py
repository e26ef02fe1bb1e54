"""The start-up check of a tool whose internals an adapter uses: outside the tested range, one line and stop."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from muaudit.errors import MuauditError


class ToolVersionError(MuauditError):
    """The installed DVC or Prefect is outside the range muaudit was tested with: exit code 1, nothing runs."""


def release(text: str) -> tuple[int, ...]:
    """(3, 67, 1) from '3.67.1', '3.67.1.post2' or '3.67.1rc1': the numeric release only."""
    parts = []
    for piece in text.split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if digits != piece:
            break
    return tuple(parts)


def require(dist: str, lowest: str, below: str, adapter: str, installed: str | None = None) -> str:
    """The installed version of dist, or ToolVersionError unless lowest <= it < below (what was tested)."""
    if installed is None:
        try:
            installed = version(dist)
        except PackageNotFoundError:
            raise ToolVersionError(f"{dist}: not installed; muaudit needs {dist}>={lowest},<{below} "
                                   "(pip install -r requirements.lock)") from None
    if not release(lowest) <= release(installed) < release(below):
        raise ToolVersionError(f"{dist} {installed}: outside the tested range >={lowest},<{below} that {adapter} "
                               f"relies on; install the pinned one (pip install -r requirements.lock)")
    return installed
