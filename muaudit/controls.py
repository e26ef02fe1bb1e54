"""The instrument check: controls with a known answer, judged by the same verdict rule as the methods.

- `original` (no-op positive control): nothing was forgotten, so it must not be `consistent`.
- `head_only` (representation positive control): in the class scenario it forgets at the output and keeps
  the original's representation, so it must be `output-only`; in the random scenario there is no requirement.
- `heldout_retrain` (negative control): a retrained model with a seed outside the band, so it must be
  `consistent`.

A failing control comes with a plain explanation built from the band numbers in the metrics table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from muaudit.metrics.band import position
from muaudit.metrics.registry import sides
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
        return "not consistent", verdict not in ("consistent", "failed", "skipped")
    if control == "head_only":
        if scenario != "class":
            return "none", None
        return "output-only", verdict == "output-only"
    return "consistent", verdict == "consistent"


def _explain(table: pd.DataFrame, control: str, scenario: str, verdict: str) -> str:
    if verdict in ("failed", "skipped"):
        return f"{control} did not produce a model ({verdict}); see data/models/{control}/model.json"
    quantities = _quantities(table, control)
    if control == "original":
        inside = "; ".join(q.describe() for q in quantities if q.metric == "accuracy" and q.role == "forget")
        return (f"the retrain band is too wide: the original model, which forgot nothing, lies inside it ({inside}); "
                "more retrain seeds or a tighter metrics.band_tolerance would narrow it")
    if control == "head_only":
        if verdict == "consistent":
            reps = "; ".join(q.describe() for q in quantities if q.metric != "accuracy" and q.role == "forget")
            return ("the audit could not detect a known residual on this data/model: head_only keeps the original's "
                    f"representation, yet every layer lies inside the retrain band ({reps}); "
                    "the retrain band is too wide or these layers do not carry the forgotten class")
        outside = "; ".join(q.describe() for q in quantities if q.outside and q.metric == "accuracy")
        return (f"head_only was labelled {verdict}, not output-only: its output is outside the band ({outside}); "
                "the head was not trained long enough to match retraining at the output (unlearn.head_only)")
    outside = "; ".join(q.describe() for q in quantities if q.outside)
    return (f"the band is too narrow or a metric is miscalibrated: a correctly retrained model falls outside "
            f"the band ({outside}); add retrain seeds or raise metrics.band_tolerance")


@dataclass(frozen=True)
class _Quantity:
    metric: str
    layer: str
    role: str
    value: float
    low: float
    high: float

    @property
    def outside(self) -> bool:
        return position(self.value, self.low, self.high, sides().get(self.metric, "both")) != 0

    def describe(self) -> str:
        side = sides().get(self.metric, "both")
        band = {"low": f"≥ {self.low:.3f}", "high": f"≤ {self.high:.3f}"}.get(side, f"[{self.low:.3f}, {self.high:.3f}]")
        where = "output" if self.layer == "logits" and self.metric == "accuracy" else self.layer
        return f"{self.metric} {where}/{self.role} {self.value:.3f} vs band {band}"


def _quantities(table: pd.DataFrame, model: str) -> list[_Quantity]:
    band = table[(table.model == "retrain") & (table.reference == "band")]
    bounds = {(r.metric, r.layer, r.role): r.value for r in band.itertuples()}
    mine = table[(table.model == model) & (table.reference == "band") & ~table.metric.isin(["verdict", "control"])]
    out = []
    for r in mine.itertuples():
        lo, hi = bounds.get((f"{r.metric}:low", r.layer, r.role)), bounds.get((f"{r.metric}:high", r.layer, r.role))
        if lo is not None and hi is not None:
            out.append(_Quantity(r.metric, r.layer, r.role, r.value, lo, hi))
    return sorted(out, key=lambda q: (q.metric, q.layer, q.role))
