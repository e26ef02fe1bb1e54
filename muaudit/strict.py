"""`muaudit run --strict`: collect failures from several checks so a scheduled audit can alert.

A check takes the workspace and returns one line per failure; the policy is one, and further checks
(for example a control check) are added to CHECKS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from muaudit.lineage.manifest import MANIFEST

Check = Callable[[Path], list[str]]


def policy_failures(workspace: Path) -> list[str]:
    path = workspace / MANIFEST
    if not path.exists():
        return [f"policy: {MANIFEST} missing, so the policy outcome is unknown"]
    outcome = json.loads(path.read_text()).get("policy", {}).get("outcome", {})
    return [f"policy: {method}: {'; '.join(o['reasons'])}" for method, o in sorted(outcome.items()) if not o["pass"]]


CHECKS: list[Check] = [policy_failures]


def strict_failures(workspace: Path, checks: list[Check] | None = None) -> list[str]:
    return [line for check in (CHECKS if checks is None else checks) for line in check(workspace)]
