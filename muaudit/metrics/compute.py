"""Compute every metric from the activation store (never from the models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from muaudit.data import ROLES
from muaudit.io import read_json
from muaudit.metrics.band import band_and_verdicts
from muaudit.metrics.cka import linear_cka
from muaudit.metrics.table import row, to_frame
from muaudit.store import read_layer


def model_status(models_root: str | Path, model_id: str) -> dict:
    path = Path(models_root) / model_id / "model.json"
    return read_json(path, "the model sidecar") if path.exists() else {"status": "missing"}


def stored_layers(activations_root: str | Path, model_id: str) -> list[str]:
    base = Path(activations_root) / f"model={model_id}"
    return sorted(p.name.removeprefix("layer=") for p in base.glob("layer=*"))


def compute_metrics(activations_root: str, models_root: str, retrain_ids: list[str], method_ids: list[str],
                    band_tolerance: float):
    sidecars = {m: model_status(models_root, m) for m in ["original", *retrain_ids, *method_ids]}
    statuses = {m: meta.get("status", "ok") for m, meta in sidecars.items()}
    ok_models = [m for m, s in statuses.items() if s == "ok"]
    layers = stored_layers(activations_root, retrain_ids[0])
    rows: list[dict] = []
    cache: dict[tuple[str, str], tuple] = {}

    def load(model: str, layer: str):
        if (model, layer) not in cache:
            cache[(model, layer)] = read_layer(activations_root, model, layer)
        return cache[(model, layer)]

    for model in ok_models:
        meta, logits = load(model, "logits")
        pred = logits.argmax(1)
        for role in ROLES:
            mask = (meta["role"] == role).to_numpy()
            rows.append(row(model, "", "logits", role, "accuracy", float((pred[mask] == meta["label"].to_numpy()[mask]).mean())))
    for layer in layers:
        for role in ROLES:
            for model in ok_models:
                meta_m, x_m = load(model, layer)
                mask = (meta_m["role"] == role).to_numpy()
                for ref in retrain_ids:
                    if ref == model:
                        continue
                    meta_r, x_r = load(ref, layer)
                    if not np.array_equal(meta_m["sample_id"].to_numpy(), meta_r["sample_id"].to_numpy()):
                        raise ValueError(f"activations of {model} and {ref} at {layer} cover different samples")
                    rows.append(row(model, ref, layer, role, "cka", linear_cka(x_m[mask], x_r[mask])))
    rows += band_and_verdicts(rows, statuses, retrain_ids, band_tolerance)
    # Why a model failed or was skipped travels with the table, so the report can show it.
    rows += [row(m, "", "", "", "error", np.nan, meta.get("error") or meta.get("reason") or "no model.json: its stage did not run")
             for m, meta in sidecars.items() if statuses[m] != "ok"]
    return to_frame(rows)
