"""`dvc plots show` draws the per-layer CSV through dvc-render: a panel per quantity, a line per model."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from conftest import BIN, ROOT

from muaudit.metrics.table import row, to_frame
from tasks.report import layer_curves

MODELS = ["original", "finetune", "scrub"]


def table():
    rows = []
    for layer, base in (("block1", 0.9), ("fc", 0.7)):
        rows += [row("retrain", "band", layer, "forget", "cka:low", base - 0.05),
                 row("retrain", "band", layer, "forget", "cka:high", base + 0.05),
                 row("retrain", "band", layer, "", "asymmetry:low", 0.0),
                 row("retrain", "band", layer, "", "asymmetry:high", 0.1)]
        rows += [row(m, "band", layer, "forget", "cka", base - 0.1 * i) for i, m in enumerate(MODELS)]
        rows += [row(m, "band", layer, "", "asymmetry", 0.05 * i) for i, m in enumerate(MODELS)]
    return to_frame(rows)


def test_layers_csv_names_every_model_and_the_band_once_per_quantity_and_layer():
    lines = layer_curves(table(), MODELS).splitlines()
    assert lines[0] == "quantity,model,kind,layer,value"
    records = [line.split(",") for line in lines[1:]]
    assert {r[0] for r in records} == {"cka (forget)", "asymmetry"}  # no empty "()" label
    assert {r[1] for r in records} == {*MODELS, "retrain band low", "retrain band high"}
    assert len(records) == 2 * 2 * (len(MODELS) + 2)


def test_dvc_plots_show_renders_every_model(tmp_path: Path):
    ws = tmp_path / "ws"
    (ws / "data/report").mkdir(parents=True)
    for rel in ("dvc.yaml", "params.yaml", ".dvc/plots/layers.json"):
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, ws / rel)
    (ws / ".dvc/config").write_text("[core]\n    no_scm = true\n    analytics = false\n")
    (ws / "data/report/layers.csv").write_text(layer_curves(table(), MODELS))
    dvc = str(BIN / "dvc")
    shown = subprocess.run([dvc, "plots", "show", "--json"], cwd=ws, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    (plot,) = json.loads(shown.stdout)["data"]["data/report/layers.csv"]
    spec = plot["content"]
    assert spec["facet"]["field"] == "quantity" and spec["spec"]["encoding"]["color"]["field"] == "model"
    assert {v["model"] for v in spec["data"]["values"]} == {*MODELS, "retrain band low", "retrain band high"}
    html = subprocess.run([dvc, "plots", "show", "-o", str(tmp_path / "out")], cwd=ws, capture_output=True,
                          text=True, timeout=120)
    assert html.returncode == 0, html.stderr
    page = (tmp_path / "out/index.html").read_text()
    assert all(f'"model": "{m}"' in page for m in MODELS)
