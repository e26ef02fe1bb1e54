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


def report_manifest(workspace: Path) -> dict | None:
    """The report's manifest (verdicts, instrument check, policy), or None when there is none.

    The checks after an audit read it rather than the metrics table: it holds the same rows, under the
    report's signature, and reading it costs no pyarrow import (2 s of a no-op).
    """
    path = workspace / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


def policy_failures(workspace: Path) -> list[str]:
    record = report_manifest(workspace)
    if record is None:
        return [f"policy: {MANIFEST} missing, so the policy outcome is unknown"]
    outcome = record.get("policy", {}).get("outcome", {})
    return [f"policy: {method}: {'; '.join(o['reasons'])}" for method, o in sorted(outcome.items()) if not o["pass"]]


def failed_controls(workspace: Path) -> list[str]:
    """Controls of the instrument check (muaudit/controls.py) whose row in the metrics table says fail."""
    path = workspace / "data/metrics/metrics.parquet"
    if not path.exists():
        return []
    record = report_manifest(workspace)
    if record is not None and "instrument_check" in record:
        return sorted(c["control"] for c in record["instrument_check"] if c["status"] == "fail")
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["model", "metric", "label"]).to_pandas()
    return sorted(t[(t.metric == "control") & (t.label == "fail")].model)


def control_failures(workspace: Path) -> list[str]:
    return [f"control: {c} failed the instrument check; see the report" for c in failed_controls(workspace)]


CHECKS: list[Check] = [policy_failures, control_failures]


def strict_failures(workspace: Path, checks: list[Check] | None = None) -> list[str]:
    return [line for check in (CHECKS if checks is None else checks) for line in check(workspace)]
