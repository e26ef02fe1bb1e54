"""The long metrics table: one row per (model, reference, layer, role, metric)."""

from __future__ import annotations

import math

import pandas as pd

COLUMNS = ["model", "reference", "layer", "role", "metric", "value", "label"]


def row(model: str, reference: str, layer: str, role: str, metric: str, value: float, label: str = "") -> dict:
    return {"model": model, "reference": reference, "layer": layer, "role": role, "metric": metric,
            "value": float(value) if value is not None else math.nan, "label": label}


def to_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    df = df.astype({"model": str, "reference": str, "layer": str, "role": str, "metric": str,
                    "value": "float64", "label": str})
    return df.sort_values(COLUMNS[:5], kind="mergesort").reset_index(drop=True)
