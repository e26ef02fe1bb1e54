"""The report's first screen, in headless Chromium at 1366x768: the conclusion and the instrument check are
visible without scrolling, and nothing scrolls sideways (the wide verdict table scrolls inside its own box)."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from muaudit.controls import ControlCheck
from muaudit.metrics.table import row, to_frame
from muaudit.report.glance import conclusion, conclusion_html, heatmap
from muaudit.report.instrument import instrument_check
from muaudit.report.page import judged_columns, render

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
METHODS = [f"method_{i:02d}" for i in range(12)]
LAYERS = ["layer1", "layer2", "layer3", "layer4"]
MEASURE = """<script>window.addEventListener('load', () => {
  const box = id => document.getElementById(id).getBoundingClientRect();
  document.body.setAttribute('data-layout', JSON.stringify({scroll_width: document.documentElement.scrollWidth,
    client_width: document.documentElement.clientWidth, width: window.innerWidth, height: window.innerHeight, conclusion: box('conclusion').bottom,
    check: box('instrument-check').bottom}));
});</script>"""


def wide_audit() -> pd.DataFrame:
    """15 models x (3 accuracies + 8 metrics x 4 layers): a verdict table far wider than a screen."""
    rows = []
    for role in ("forget", "retain", "test"):
        rows += [row("retrain", "band", "logits", role, f"accuracy:{s}", v) for s, v in (("low", 0.8), ("high", 0.9))]
    # eight registered per-layer metrics: the table shows only metrics the registry judges
    names = ["cka", "procrustes", "probe", "position", "asymmetry", "direction", "concentration", "agreement"]
    for k, name in enumerate(names):
        for layer in LAYERS:
            role = "forget" if k % 2 else ""
            rows += [row("retrain", "band", layer, role, f"{name}:{s}", v) for s, v in (("low", 0.4), ("high", 0.6))]
            rows += [row(m, "band", layer, role, name, 0.3 + 0.03 * i) for i, m in enumerate(["original", *METHODS])]
    for i, m in enumerate(["original", *METHODS]):
        rows += [row(m, "band", "logits", r, "accuracy", 0.85) for r in ("forget", "retain", "test")]
        rows.append(row(m, "band", "", "", "verdict", math.nan, "output-only" if i % 3 else "consistent"))
    return to_frame(rows)


def page(tmp_path: Path) -> Path:
    table = wide_audit()
    models = ["original", *METHODS]
    verdicts = pd.DataFrame({"model": models, "verdict": ["output-only" if i % 3 else "consistent" for i in range(13)],
                             "layers_outside": [["layer4"]] * 13})
    checks = [ControlCheck("original", "not consistent", "not-forgotten", "pass", ""),
              ControlCheck("head_only", "output-only", "output-only", "pass", ""),
              ControlCheck("heldout_retrain", "consistent", "consistent", "pass", "")]
    header = {"dataset": "synthetic (fingerprint 0123456789ab)", "scenario": "class: forget classes [0]",
              "model": "resnet18", "retrain seeds": "1, 2, 3, 4, 5"}
    policy = {"criteria": {}, "outcome": {}, "pass": True}
    # lineage rows as long as a real audit's: path, stage, md5, MLflow run id, commit
    lineage = {"artifacts": [{"path": f"data/activations/model={m}/layer=layer4", "stage": f"extract_unlearn@{m}",
                              "md5": "0123456789abcdef0123456789abcdef.dir", "mlflow_run_id": "f" * 32,
                              "git_commit": "a" * 40 + "-dirty"} for m in METHODS],
               "environment": {"device": "cpu"}, "params": {"unlearn": {m: {"lr": 0.01} for m in METHODS}}}
    columns = judged_columns(table)
    html = render(header, table, models, policy, [], lineage,
                  top=conclusion_html(conclusion(verdicts, METHODS, checks)) + instrument_check(checks)[1],
                  glance=heatmap(table, models, columns))
    path = tmp_path / "index.html"
    path.write_text(html.replace("</body>", MEASURE + "</body>"))
    return path


def test_a_wide_audit_gives_a_wide_table_the_heatmap_compresses():
    columns = judged_columns(wide_audit())
    assert len(columns) == 3 + 8 * 4
    assert not any(re.search(r"\(\s*\)", c[0]) for c in columns)  # no empty "()" label


@pytest.mark.slow
def test_first_screen_shows_the_conclusion_and_the_instrument_check_at_1366x768(tmp_path: Path):
    assert Path(CHROMIUM).exists(), "chromium missing: run `make setup-browser` (apt-get install -y chromium)"
    url = page(tmp_path).as_uri()
    args = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chrome'}", "--window-size=1366,768"]
    dom = subprocess.run([*args, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    layout = json.loads(re.search(r"data-layout=\"([^\"]+)\"", dom.stdout).group(1).replace("&quot;", '"'))
    # the viewport of a 1366x768 window: Chromium keeps part of the height for its own frame (625 px here),
    # as a browser on such a screen does; the first screen is what fits in that viewport
    assert layout["width"] == 1366 and 600 <= layout["height"] <= 768, layout
    assert layout["scroll_width"] <= layout["client_width"], f"the page scrolls sideways: {layout}"
    assert layout["conclusion"] <= layout["height"] and layout["check"] <= layout["height"], layout
    text = re.sub(r"<[^>]+>", " ", dom.stdout)
    assert "8 of 12 methods forget at the output but keep a representation residue at layer4" in text
    assert "The instrument check passed" in text
    shot = subprocess.run([*args, f"--screenshot={tmp_path / 'first-screen.png'}", url], capture_output=True,
                          text=True, timeout=120)
    assert (tmp_path / "first-screen.png").exists(), shot.stderr[-2000:]
