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


def failed_controls(workspace: Path) -> list[str]:
    """Controls of the instrument check (muaudit/controls.py) whose row in the metrics table says fail."""
    path = workspace / "data/metrics/metrics.parquet"
    if not path.exists():
        return []
    manifest = workspace / MANIFEST  # the report's copy of those rows: read without importing pyarrow (2 s)
    if manifest.exists() and "instrument_check" in (record := json.loads(manifest.read_text())):
        return sorted(c["control"] for c in record["instrument_check"] if c["status"] == "fail")
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["model", "metric", "label"]).to_pandas()
    return sorted(t[(t.metric == "control") & (t.label == "fail")].model)


def control_failures(workspace: Path) -> list[str]:
    return [f"control: {c} failed the instrument check; see the report" for c in failed_controls(workspace)]


CHECKS: list[Check] = [policy_failures, control_failures]


def strict_failures(workspace: Path, checks: list[Check] | None = None) -> list[str]:
    return [line for check in (CHECKS if checks is None else checks) for line in check(workspace)]
