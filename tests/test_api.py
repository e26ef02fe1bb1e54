"""muaudit.runner.api (load_audit): the results of an audit as pandas frames, read from the files the audit wrote."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from muaudit import load_audit
from muaudit.errors import BadInputError
from muaudit.io import atomic_write_bytes
from muaudit.metrics.table import row, to_frame
from muaudit.report.verdicts import verdicts_json
from muaudit.store.activations import write_model_activations


def band_rows(metric: str, layer: str, role: str, low: float, high: float) -> list[dict]:
    mid = (low + high) / 2
    return [row("retrain", "band", layer, role, f"{metric}:{stat}", v)
            for stat, v in (("mean", mid), ("sd", (high - low) / 4), ("low", low), ("high", high))]


def audited(ws: Path) -> Path:
    rows = band_rows("cka", "fc", "forget", 0.8, 0.9) + band_rows("accuracy", "logits", "forget", 0.0, 0.1)
    rows += [row("finetune", "band", "fc", "forget", "cka", 0.5, effect=-6.0, ci_low=-9.0, ci_high=-3.5,
                 p_value=0.0004),  # far below retraining: a residue
             row("finetune", "band", "logits", "forget", "accuracy", 0.05, effect=0.5, ci_low=-1.0, ci_high=2.0,
                 p_value=0.31),
             row("original", "band", "fc", "forget", "cka", 0.95, effect=2.0, ci_low=0.5, ci_high=3.5,
                 p_value=0.93),  # above, on cka's harmless side: a one-sided p near 1
             row("original", "band", "logits", "forget", "accuracy", 0.35, effect=2.5, ci_low=1.0, ci_high=4.0,
                 p_value=0.004)]  # remembered
    rows += [row("finetune", "band", "", "", "verdict", math.nan, "output-only"),
             row("finetune", "band", "output", "", "verdict", math.nan, "inside"),
             row("finetune", "band", "fc", "", "verdict", math.nan, "residue"),
             row("original", "band", "", "", "verdict", math.nan, "not-forgotten"),
             row("original", "band", "output", "", "verdict", math.nan, "outside"),
             row("original", "band", "fc", "", "verdict", math.nan, "inside")]
    path = ws / "data/metrics/metrics.parquet"
    path.parent.mkdir(parents=True)
    to_frame(rows).to_parquet(path)
    return ws


def test_verdicts_name_each_model_with_its_strongest_evidence(tmp_path: Path):
    a = load_audit(audited(tmp_path))
    v = a.verdicts.set_index("model")
    assert set(v.index) == {"finetune", "original"}
    assert v.loc["finetune", "verdict"] == "output-only" and v.loc["finetune", "layers_outside"] == ["fc"]
    assert v.loc["finetune", "evidence"].startswith("fc, forget set: CKA 0.500 vs retrain 0.850 ± 0.025, effect −6.0")
    assert v.loc["finetune", "evidence_p"] == pytest.approx(0.0004)
    assert v.loc["original", "evidence_metric"] == "accuracy"  # cka above its band is not a discrepancy
    assert v.loc["original", "evidence_effect"] == pytest.approx(2.5)
    assert v.loc["original", "output"] == "outside"


def test_band_is_one_row_per_quantity(tmp_path: Path):
    band = load_audit(audited(tmp_path)).band.set_index(["metric", "layer", "role"])
    assert list(band.columns) == ["mean", "sd", "low", "high"]
    assert band.loc[("cka", "fc", "forget")].tolist() == pytest.approx([0.85, 0.025, 0.8, 0.9])
    assert len(band) == 2


def test_activations_come_back_as_stored(tmp_path: Path):
    ws = audited(tmp_path)
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    write_model_activations(ws / "data/activations/model=finetune", np.array(["a", "b", "c", "d"]),
                            np.array(["forget", "retain", "retain", "test"]), np.array([0, 1, 1, 2]), {"fc": x})
    frame = load_audit(ws).activations("finetune", "fc")
    assert list(frame.columns) == ["sample_id", "role", "label", "u0", "u1", "u2"]
    np.testing.assert_array_equal(frame[["u0", "u1", "u2"]].to_numpy(), x)
    assert load_audit(ws).activations("finetune", "fc", roles=("retain",)).sample_id.tolist() == ["b", "c"]


def test_verdicts_json_is_plain_json(tmp_path: Path):
    records = verdicts_json(load_audit(audited(tmp_path)).metrics)
    text = json.dumps(records, allow_nan=False)
    atomic_write_bytes(tmp_path / "v.json", text.encode())
    assert {r["model"]: r["verdict"] for r in json.loads(text)} == {"finetune": "output-only", "original": "not-forgotten"}


def test_a_workspace_without_results_is_one_line(tmp_path: Path):
    with pytest.raises(BadInputError, match="metrics.parquet: missing; run `muaudit run`"):
        load_audit(tmp_path)
