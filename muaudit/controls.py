"""The instrument check: controls with a known answer, judged by the same verdict rule as the methods.

- `original` (no-op positive control): nothing was forgotten, so it must not be `consistent`.
- `head_only` (representation positive control): in the class scenario it forgets at the output and keeps
  the original's representation, so it must be `output-only`; in the random scenario there is no requirement.
- `heldout_retrain` (negative control): a retrained model with a seed outside the band, so it must be
  `consistent`.

A failing control comes with a plain explanation built from its strongest evidence in the metrics table
(muaudit/metrics/evidence.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from muaudit.metrics.evidence import evidence
from muaudit.metrics.table import row

CONTROLS = ("original", "head_only", "heldout_retrain")


@dataclass(frozen=True)
class ControlCheck:
    control: str
    requirement: str  # e.g. "not consistent"; "none" where the scenario sets no requirement
    verdict: str
    status: str  # pass | fail | info (no requirement)
    explanation: str


def check_controls(table: pd.DataFrame, scenario: str) -> list[ControlCheck]:
    """Judge every control present in the table (a control the user removed from unlearn.methods is absent)."""
    verdicts = table[(table.metric == "verdict") & (table.layer == "")].set_index("model")["label"]
    checks = []
    for control in CONTROLS:
        if control not in verdicts.index:
            continue
        verdict = str(verdicts[control])
        requirement, ok = _requirement(control, scenario, verdict)
        status = "info" if ok is None else ("pass" if ok else "fail")
        why = _explain(table, control, scenario, verdict) if status == "fail" else ""
        checks.append(ControlCheck(control, requirement, verdict, status, why))
    return checks


def control_rows(checks: list[ControlCheck]) -> list[dict]:
    """Rows for the metrics table: metric `control`, label pass | fail | info."""
    return [row(c.control, "band", "", "", "control", math.nan, c.status) for c in checks]


def any_failed(table: pd.DataFrame) -> bool:
    return bool(((table.metric == "control") & (table.label == "fail")).any())


def _requirement(control: str, scenario: str, verdict: str) -> tuple[str, bool | None]:
    if control == "original":
        return "not consistent", verdict not in ("consistent", "failed", "skipped", "unmeasured")
    if control == "head_only":
        if scenario != "class":
            return "none", None
        return "output-only", verdict == "output-only"
    return "consistent", verdict == "consistent"


def _explain(table: pd.DataFrame, control: str, scenario: str, verdict: str) -> str:
    if verdict in ("failed", "skipped"):
        return f"{control} did not produce a model ({verdict}); see data/models/{control}/model.json"
    if verdict == "unmeasured":
        return f"{control} could not be judged: {evidence(table, control)}"
    if control == "original":
        return ("the audit cannot tell the original, which forgot nothing, from retraining; its strongest evidence: "
                f"{evidence(table, control)}. More retrain seeds (retrain.seeds) make the test more powerful; "
                "a larger metrics.verdict.alpha accepts more false alarms")
    if control == "head_only":
        if verdict == "consistent":
            return ("the audit could not detect a known residue on this data/model: head_only keeps the original's "
                    f"representation, yet no layer differs from retraining (closest: {evidence(table, control)}); "
                    "these layers may not carry the forgotten class, or more retrain seeds are needed")
        return (f"head_only was labelled {verdict}, not output-only ({evidence(table, control)}); "
                "for a flagged output the head was not trained long enough to match retraining (unlearn.head_only)")
    return (f"a correctly retrained model was flagged ({evidence(table, control)}). At metrics.verdict.alpha this "
            "happens to a retrained model with probability alpha; repeated failures mean a metric is miscalibrated")
