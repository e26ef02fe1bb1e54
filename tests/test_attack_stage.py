"""The attack stages in a real DVC workspace: rows for every model, and exact staleness (slow)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import BIN

pytestmark = pytest.mark.slow


def _dvc(ws: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "MUAUDIT_NO_TRACKING": "1"}
    return subprocess.run([str(BIN / "dvc"), *args], cwd=ws, capture_output=True, text=True, env=env, timeout=1200)


def test_attack_rows_for_every_model_and_relearn_params_rerun_only_the_attacks(tiny_workspace: Path):
    ws = tiny_workspace
    repro = _dvc(ws, "repro")
    assert repro.returncode == 0, repro.stderr[-3000:]
    table = pd.read_parquet(ws / "data/metrics/metrics.parquet")
    models = {"original", "retrain_1", "retrain_2", "finetune", "gradient_ascent"}
    for metric in ("relearn", "relearn_steps", "head_refit", "head_bias_gap"):
        assert set(table[(table.metric == metric) & (table.reference == "")].model) == models, metric
    assert (table.metric == "relearn_steps:mean").any()  # judged against the retrain band
    assert "Recovery attacks" in (ws / "data/report/report.md").read_text()

    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["metrics"]["relearn"]["lr"] = 0.02
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stale = set(json.loads(_dvc(ws, "status", "--json").stdout))
    attacks = {"attack_original", "attack_retrain@1", "attack_retrain@2", "attack_unlearn@finetune",
               "attack_unlearn@gradient_ascent"}
    # the metrics stage reads the whole metrics block; the report follows through its dependency on data/metrics
    assert stale == attacks | {"metrics"}, stale
