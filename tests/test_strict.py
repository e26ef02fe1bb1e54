"""The checks after an audit (muaudit/runner/strict.py, orchestrate._method_failures) read the report's
manifest when they can and the metrics table when they must; both give the same answer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from muaudit.metrics.table import row, to_frame
from muaudit.runner.orchestrate import _method_failures
from muaudit.runner.strict import failed_controls


def workspace(tmp_path: Path, control: str, verdict: str, with_report: bool) -> Path:
    rows = [row("original", "band", "", "", "control", math.nan, control),
            row("original", "", "", "", "verdict", math.nan, "not-forgotten"),
            row("scrub", "", "", "", "verdict", math.nan, verdict)]
    if verdict == "failed":
        rows.append(row("scrub", "", "", "", "error", math.nan, "loss is NaN at epoch 2"))
    (tmp_path / "data/metrics").mkdir(parents=True)
    to_frame(rows).to_parquet(tmp_path / "data/metrics/metrics.parquet")
    if with_report:
        (tmp_path / "data/report").mkdir(parents=True)
        (tmp_path / "data/report/manifest.json").write_text(json.dumps({
            "verdicts": {"original": "not-forgotten", "scrub": verdict},
            "instrument_check": [{"control": "original", "requirement": "not consistent", "verdict": "not-forgotten",
                                  "status": control, "explanation": ""}]}))
    return tmp_path


@pytest.mark.parametrize("with_report", [True, False])
@pytest.mark.parametrize(("control", "verdict", "controls", "failures"), [
    ("pass", "consistent", [], {}),
    ("fail", "failed", ["original"], {"scrub": "loss is NaN at epoch 2"}),
])
def test_the_report_files_and_the_metrics_table_agree(tmp_path, with_report, control, verdict, controls, failures):
    ws = workspace(tmp_path, control, verdict, with_report)
    assert failed_controls(ws) == controls
    assert _method_failures(ws) == failures
