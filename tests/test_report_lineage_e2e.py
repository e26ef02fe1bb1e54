"""One tiny real audit: the report renders in headless Chromium, DVC sees its metrics, lineage prints the
chain of a metric row, verify passes untouched and names each tampering, --strict fails on the policy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BIN, ROOT, muaudit

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    assert Path(CHROMIUM).exists(), "chromium missing: run `make setup-browser` (apt-get install -y chromium)"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'chrome'}", *args],
                          capture_output=True, text=True, timeout=120)


def check_report_in_browser(ws: Path, tmp: Path) -> None:
    url = (ws / "data/report/index.html").as_uri()
    dom = chromium(tmp, "--enable-logging=stderr", "--v=0", "--dump-dom", url)
    assert "CONSOLE" not in dom.stderr, dom.stderr[-2000:]
    assert "<table id=\"verdicts\">" in dom.stdout and "Lineage" in dom.stdout
    figures = dom.stdout.split("<figure class=\"plot\">")[1:]
    assert len(figures) >= 4  # per-layer curves, scatter, histograms at least
    assert all("class=\"mark\"" in f for f in figures), "a plot rendered without data marks"
    shot = chromium(tmp, "--window-size=1200,900", f"--screenshot={tmp / 'shot.png'}", url)
    assert (tmp / "shot.png").exists(), shot.stderr[-2000:]
    from PIL import Image

    pixels = Image.open(tmp / "shot.png").convert("L").getextrema()
    assert pixels[0] < 200, "screenshot is blank"


def check_results_as_data(ws: Path) -> None:
    """--json, verdicts.json, load_audit and examples/explore.py on the same audit."""
    as_json = muaudit(ws, "lineage", "data/metrics", "--model", "finetune", "--metric", "cka", "--layer", "fc",
                      "--role", "forget", "--reference", "band", "--json")
    record = json.loads(as_json.stdout)
    stages = [s["stage"] for s in record["chain"]]
    assert stages[0] == "metrics" and {"extract_unlearn@finetune", "unlearn@finetune", "split"} <= set(stages)
    assert "unlearn@gradient_ascent" not in stages
    assert record["dataset"]["name"] == "digits" and record["rows"][0]["model"] == "finetune"
    assert json.loads(muaudit(ws, "status", "--json").stdout) == {"stale": []}
    assert json.loads(muaudit(ws, "verify", "--json").stdout)["verified"] is True
    verdicts = json.loads((ws / "data/report/verdicts.json").read_text())
    assert {v["model"] for v in verdicts} == {"original", "finetune", "gradient_ascent"}
    assert all(v["evidence"] for v in verdicts if v["verdict"] not in ("failed", "skipped"))

    from muaudit.runner import tracking

    cl = tracking.client(ws)
    exp = cl.get_experiment_by_name(tracking.EXPERIMENT).experiment_id
    found = cl.search_runs([exp], "tags.`muaudit.kind` = 'verdict' and attributes.status = 'FINISHED'",
                           order_by=["attributes.start_time ASC"])
    per_model = {r.info.run_name: r for r in found}  # the latest run of each model
    assert {m: r.data.tags["muaudit.verdict"] for m, r in per_model.items()} == {v["model"]: v["verdict"] for v in verdicts}
    assert "mlflow.source.git.commit" in per_model["finetune"].data.tags and per_model["finetune"].data.metrics

    from muaudit import load_audit

    a = load_audit(ws)
    assert a.verdicts.set_index("model").verdict.to_dict() == {v["model"]: v["verdict"] for v in verdicts}
    assert len(a.activations("finetune", "fc", roles=("forget",))) > 0
    example = subprocess.run([sys.executable, str(ROOT / "examples/explore.py"), str(ws)], capture_output=True,
                             text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert example.returncode == 0, example.stderr[-2000:]
    assert "gradient_ascent" in example.stdout and "<- split <- digits" in example.stdout


def edit_verdict(raw: bytes) -> bytes:
    manifest = json.loads(raw)
    manifest["verdicts"]["finetune"] = "consistent"
    return json.dumps(manifest).encode()


@pytest.mark.slow
def test_report_lineage_verify_and_tampering(tiny_workspace: Path, prefect_server: str, tmp_path: Path):
    ws = tiny_workspace
    env = {"PREFECT_API_URL": prefect_server}
    run = muaudit(ws, "run", "--workers", "2", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    check_report_in_browser(ws, tmp_path)

    shown = subprocess.run([str(BIN / "dvc"), "metrics", "show", "--json"], cwd=ws, capture_output=True, text=True)
    assert "cka/" in shown.stdout and "policy_pass" in shown.stdout, shown.stderr

    manifest = json.loads((ws / "data/report/manifest.json").read_text())
    assert {"artifacts", "params", "environment", "verdicts", "policy", "digest"} <= manifest.keys()

    chain = muaudit(ws, "lineage", "data/metrics", "--model", "finetune", "--metric", "cka", "--layer", "fc",
                    "--role", "forget", "--reference", "band")
    assert chain.returncode == 0, chain.stderr
    for step in ("row: model=finetune", "metrics:", "← extract_unlearn@finetune", "← unlearn@finetune",
                 "← train:", "← retrain@1", "← split:", "← dataset digits", "MLflow run: ", "Prefect flow run: "):
        assert step in chain.stdout, step
    assert "unlearn@gradient_ascent" not in chain.stdout
    check_results_as_data(ws)

    strict = muaudit(ws, "run", "--strict", env=env)
    assert strict.returncode == 1 and "strict: policy: finetune:" in strict.stderr

    ok = muaudit(ws, "verify", "--manifest")
    assert ok.returncode == 0, ok.stderr

    model = ws / "data/models/finetune/model.safetensors"
    activation = next((ws / "data/activations/model=finetune/layer=fc").glob("*.parquet"))
    tampered = {
        model: lambda b: b[:-1] + bytes([b[-1] ^ 1]),
        activation: lambda b: b + b"\0",
        ws / "data/metrics/metrics.parquet": None,  # a metric value, rewritten below
        ws / "data/report/manifest.json": edit_verdict,
    }
    for path, change in tampered.items():
        original = path.read_bytes()
        if change is None:
            import pandas as pd

            t = pd.read_parquet(path)
            t.loc[0, "value"] = t.loc[0, "value"] + 0.5
            t.to_parquet(path)
        else:
            path.write_bytes(change(original))
        bad = muaudit(ws, "verify", "--manifest")
        rel = path.relative_to(ws).as_posix()
        assert bad.returncode == 1 and f"modified: {rel}" in bad.stderr, (rel, bad.stderr)
        path.write_bytes(original)
    assert muaudit(ws, "verify").returncode == 0
