"""The report's plots, generic over the metric names found in the long metrics table.

A metric family is a metric that has per-model rows against the band (reference "band") and band
statistics "<metric>:low|high" on model "retrain": with several layers it is drawn per layer against
the shaded band; with one value per model it is drawn as bars against the band strip.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from muaudit.report import svg


def families(table: pd.DataFrame) -> list[str]:
    band = table[(table.model == "retrain") & (table.reference == "band")]
    stats = {m.split(":")[0] for m in band.metric if m.endswith(":low")}
    judged = set(table[(table.reference == "band") & (table.model != "retrain")].metric)
    return sorted(stats & judged)


def _role(rows: pd.DataFrame) -> str:
    roles = list(dict.fromkeys(rows.role))
    return "forget" if "forget" in roles else roles[0]


class Cells:
    """The table's values by key, indexed once per report (tasks/report.py builds it and hands it on): the
    report reads a few thousand single cells, and a boolean filter of the whole table costs ~2 ms each."""

    def __init__(self, table: pd.DataFrame):
        self._index: dict[tuple, float] = {}
        self._tests: dict[tuple, tuple[float, float]] = {}
        keys = list(zip(table.model, table.reference, table.metric, table.layer, table.role, strict=True))
        for key, value in zip(keys, table.value, strict=True):
            self._index.setdefault(key, float(value))
        if {"effect", "p_value"} <= set(table.columns):
            for key, effect, p in zip(keys, table.effect, table.p_value, strict=True):
                self._tests.setdefault(key, (float(effect), float(p)))

    def get(self, model: str, reference: str, metric: str, layer: str, role: str) -> float:
        """The value of the table's first row with these keys (nan if none)."""
        return self._index.get((model, reference, metric, layer, role), float("nan"))

    def value(self, model: str, metric: str, layer: str, role: str) -> float:
        """A judged model's aggregate (its row against the band)."""
        return self.get(model, "band", metric, layer, role)

    def band(self, metric: str, layer: str, role: str, stat: str) -> float:
        """The retrain seeds' statistic: mean, sd, low or high."""
        return self.get("retrain", "band", f"{metric}:{stat}", layer, role)

    def test(self, model: str, metric: str, layer: str, role: str) -> tuple[float, float]:
        """(effect, p-value) the metrics stage wrote on a judged model's aggregate row (NaN when none)."""
        return self._tests.get((model, "band", metric, layer, role), (float("nan"), float("nan")))


def metric_plots(table: pd.DataFrame, models: list[str], cells: Cells | None = None) -> list[tuple[str, str]]:
    cells = cells or Cells(table)
    out = []
    for metric in families(table):
        rows = table[(table.metric == metric) & (table.reference == "band") & table.model.isin(models)]
        rows = rows[np.isfinite(rows.value)]
        if rows.empty:  # nothing measurable to draw (e.g. a metric undefined on this split): no empty chart
            continue
        role = _role(rows)
        layers = list(dict.fromkeys(rows[rows.role == role].layer))
        title = f"{metric} ({role}) against the retrain band"
        if len(layers) > 1:
            series = {m: [cells.value(m, metric, layer, role) for layer in layers] for m in models}
            low = [cells.band(metric, layer, role, "low") for layer in layers]
            high = [cells.band(metric, layer, role, "high") for layer in layers]
            out.append((title + ", per layer", svg.band_lines(title, layers, series, low, high, metric)))
        else:
            layer = layers[0]
            values = {m: cells.value(m, metric, layer, role) for m in models}
            out.append((title, svg.band_bars(title, values, cells.band(metric, layer, role, "low"),
                                             cells.band(metric, layer, role, "high"), metric)))
    return out


def output_vs_representation(table: pd.DataFrame, models: list[str], cells: Cells | None = None) -> tuple[str, str] | None:
    """x: forget accuracy (output level); y: the first per-layer family averaged over its hidden layers."""
    reps = [m for m in families(table) if m != "accuracy"
            and table[(table.metric == m) & (table.reference == "band")].layer.nunique() > 1]
    if not reps or "accuracy" not in families(table):
        return None
    rep = reps[0]
    cells = cells or Cells(table)
    layers = [la for la in dict.fromkeys(table[(table.metric == rep) & (table.reference == "band")].layer)
              if la not in ("", "logits")]
    points = {m: (cells.value(m, "accuracy", "logits", "forget"),
                  _nanmean([cells.value(m, rep, la, "forget") for la in layers])) for m in models}
    box = (cells.band("accuracy", "logits", "forget", "low"), cells.band("accuracy", "logits", "forget", "high"),
           _nanmean([cells.band(rep, la, "forget", "low") for la in layers]),
           _nanmean([cells.band(rep, la, "forget", "high") for la in layers]))
    if not any(np.isfinite(x) and np.isfinite(y) for x, y in points.values()):
        return None
    title = f"output level vs representation level ({rep}, mean over hidden layers)"
    return title, svg.band_scatter(title, points, box, "forget accuracy", f"{rep} (forget)")


def confidence_and_loss(store, model: str) -> dict[str, dict[str, list[float]]]:
    """Max softmax confidence and cross-entropy loss per sample on forget and test, from stored logits
    (store: the activation store, ParquetStore or ArrayStore)."""
    t, logits = store.read(model, "logits")
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    conf = np.exp(logp.max(axis=1))
    loss = -logp[np.arange(len(t)), t["label"].to_numpy()]
    out: dict[str, dict[str, list[float]]] = {"confidence": {}, "loss": {}}
    for role in ("forget", "test"):
        mask = (t.role == role).to_numpy()
        out["confidence"][role] = conf[mask].tolist()
        out["loss"][role] = loss[mask].tolist()
    return out


def histograms(store, models: list[str]) -> list[tuple[str, str]]:
    out = []
    for model in models:
        if "logits" not in store.layers(model):
            continue
        for kind, samples in confidence_and_loss(store, model).items():
            title = f"{model}: {kind} on forget vs test"
            out.append((title, svg.histogram(title, samples, kind)))
    return out


def _nanmean(values: list[float]) -> float:
    """Mean of the finite values; NaN (no warning) when there are none, e.g. a band edge no layer has."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
