"""The long metrics table: one row per (model, reference, layer, role, metric).

`effect`, `ci_low`, `ci_high`, `p_value` (floats) are filled on each judged model's aggregate rows
(reference "band", one per model, metric, layer and role) and NaN elsewhere; muaudit/metrics/band.py.
"""

from __future__ import annotations

import math

import pandas as pd

COLUMNS = ["model", "reference", "layer", "role", "metric", "value", "label"]
STATS = ["effect", "ci_low", "ci_high", "p_value"]


def row(model: str, reference: str, layer: str, role: str, metric: str, value: float, label: str = "",
        **stats: float) -> dict:
    """stats: any of STATS (NaN when not given)."""
    return {"model": model, "reference": reference, "layer": layer, "role": role, "metric": metric,
            "value": float(value) if value is not None else math.nan, "label": label,
            **{k: float(stats.get(k, math.nan)) for k in STATS}}


def to_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS + STATS)
    df = df.astype({"model": str, "reference": str, "layer": str, "role": str, "metric": str,
                    "value": "float64", "label": str, **{k: "float64" for k in STATS}})
    return df.sort_values(COLUMNS[:5], kind="mergesort").reset_index(drop=True)
