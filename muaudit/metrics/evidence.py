"""The strongest evidence behind a verdict, in plain words, from the metrics table (one function the CLI,
the report and the instrument check all call).

    fc, forget set: CKA 0.880 vs retrain 0.950 ± 0.010, effect −5.1 (−7.9, −3.2), p < 0.001
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from muaudit.metrics.registry import judges

ROLE_WORDS = {"forget": "forget set", "retain": "retain set", "test": "test set", "": ""}


def judged_rows(table: pd.DataFrame, model: str, metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """The model's aggregate rows that carry a test, of the given row metrics (default: every registered one;
    pass metrics.verdict.output + representation for the quantities the verdict judges)."""
    names = list(metrics) if metrics is not None else list(judges())
    return table[(table.model == model) & (table.reference == "band") & (table.metric.isin(names))]


def _p(p: float) -> str:
    if math.isnan(p):
        return "p unmeasured"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _num(v: float) -> str:
    return "–" if math.isnan(v) else (f"{v:.3g}" if abs(v) >= 1000 or (v != 0 and abs(v) < 0.001) else f"{v:.3f}")


def _eff(v: float) -> str:
    return "–" if math.isnan(v) else (f"{v:.1f}" if math.isfinite(v) else ("∞" if v > 0 else "−∞")).replace("-", "−")


def describe(table: pd.DataFrame, r) -> str:
    """One quantity of one model in plain words."""
    j = judges().get(r.metric)
    title = (j.title if j and j.title else r.metric)
    where = ", ".join(w for w in ("output" if r.layer == "logits" else r.layer, ROLE_WORDS.get(r.role, r.role)) if w)
    band = table[(table.model == "retrain") & (table.reference == "band") & (table.layer == r.layer) & (table.role == r.role)]
    stat = {m.split(":")[1]: v for m, v in zip(band.metric, band.value, strict=True) if m.startswith(f"{r.metric}:")}
    ref = f"retrain {_num(stat.get('mean', math.nan))} ± {_num(stat.get('sd', math.nan))}"
    return (f"{where}: {title} {_num(r.value)} vs {ref}, effect {_eff(r.effect)} "
            f"({_eff(r.ci_low)}, {_eff(r.ci_high)}), {_p(r.p_value)}")


def ranked(table: pd.DataFrame, model: str, metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """The model's judged rows, strongest evidence first: unmeasured quantities, then the smallest p-values
    (ties: the largest effect)."""
    rows = judged_rows(table, model, metrics)
    order = rows.assign(_nan=rows.p_value.isna(), _p=rows.p_value.fillna(0), _e=-rows.effect.abs().fillna(0))
    return order.sort_values(["_nan", "_p", "_e"], ascending=[False, True, True], kind="mergesort")


def strongest(table: pd.DataFrame, model: str, n: int = 1, metrics: Iterable[str] | None = None) -> list[str]:
    """The n strongest pieces of evidence in plain words."""
    return [describe(table, r) for r in ranked(table, model, metrics).head(n).itertuples()]


def evidence(table: pd.DataFrame, model: str, metrics: Iterable[str] | None = None) -> str:
    """The strongest evidence for the model's verdict in one line ('' when it has none)."""
    found = strongest(table, model, 1, metrics)
    return found[0] if found else ""
