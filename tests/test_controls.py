"""The instrument check on constructed metrics tables, and (slow) the control rows of a tiny real audit."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import TINY, deep_update, make_workspace, muaudit

from muaudit.controls import any_failed, check_controls, control_rows
from muaudit.metrics.table import row, to_frame
from muaudit.report.controls import instrument_check

BAND = {("accuracy", "logits", "forget"): (0.0, 0.02), ("accuracy", "logits", "retain"): (0.95, 1.0),
        ("cka", "fc", "forget"): (0.60, 1.0)}


def table(models: dict[str, tuple[str, dict]]) -> object:
    """models: name -> (overall verdict, {quantity: value}); quantities default to the middle of the band."""
    rows = []
    for (metric, layer, role), (lo, hi) in BAND.items():
        rows += [row("retrain", "band", layer, role, f"{metric}:low", lo),
                 row("retrain", "band", layer, role, f"{metric}:high", hi)]
    for model, (verdict, values) in models.items():
        for key, (lo, hi) in BAND.items():
            rows.append(row(model, "band", key[1], key[2], key[0], values.get(key, (lo + hi) / 2)))
        rows.append(row(model, "band", "", "", "verdict", float("nan"), verdict))
    return to_frame(rows)


GOOD = {"original": ("not-forgotten", {("accuracy", "logits", "forget"): 0.97}),
        "head_only": ("output-only", {("cka", "fc", "forget"): 0.40}),
        "heldout_retrain": ("consistent", {})}


@pytest.mark.parametrize("scenario", ["class", "random"])
def test_all_controls_pass_when_the_verdicts_are_as_required(scenario):
    checks = check_controls(table(GOOD), scenario)
    assert [(c.control, c.status) for c in checks] == [
        ("original", "pass"), ("head_only", "pass" if scenario == "class" else "info"), ("heldout_retrain", "pass")]
    assert all(c.explanation == "" for c in checks)


def test_original_inside_the_band_fails_as_band_too_wide():
    t = table({**GOOD, "original": ("consistent", {("accuracy", "logits", "forget"): 0.01})})
    (orig,) = [c for c in check_controls(t, "class") if c.control == "original"]
    assert orig.status == "fail"
    assert "band is too wide" in orig.explanation and "0.010 vs band [0.000, 0.020]" in orig.explanation


def test_head_only_consistent_in_class_says_the_residual_was_not_detected():
    t = table({**GOOD, "head_only": ("consistent", {("cka", "fc", "forget"): 0.70})})
    (head,) = [c for c in check_controls(t, "class") if c.control == "head_only"]
    assert head.status == "fail"
    assert "could not detect a known residual" in head.explanation and "cka fc/forget 0.700 vs band ≥ 0.600" in head.explanation


def test_head_only_has_no_requirement_in_random():
    t = table({**GOOD, "head_only": ("consistent", {})})
    (head,) = [c for c in check_controls(t, "random") if c.control == "head_only"]
    assert (head.status, head.requirement, head.verdict) == ("info", "none", "consistent")


def test_heldout_retrain_outside_the_band_names_the_quantity():
    t = table({**GOOD, "heldout_retrain": ("output-only", {("cka", "fc", "forget"): 0.55})})
    (neg,) = [c for c in check_controls(t, "random") if c.control == "heldout_retrain"]
    assert neg.status == "fail"
    assert "too narrow or a metric is miscalibrated" in neg.explanation
    assert "cka fc/forget 0.550 vs band ≥ 0.600" in neg.explanation and "accuracy" not in neg.explanation


def test_failed_control_run_fails_the_check_and_controls_turned_off_are_absent():
    t = table({"original": GOOD["original"], "heldout_retrain": ("failed", {})})
    checks = check_controls(t, "class")
    assert [(c.control, c.status) for c in checks] == [("original", "pass"), ("heldout_retrain", "fail")]
    assert "did not produce a model" in checks[1].explanation


def test_control_rows_and_report_box():
    checks = check_controls(table({**GOOD, "heldout_retrain": ("over-forgotten", {})}), "class")
    rows = to_frame(control_rows(checks))
    assert dict(zip(rows.model, rows.label, strict=True)) == {"original": "pass", "head_only": "pass",
                                                              "heldout_retrain": "fail"}
    assert set(rows.metric) == {"control"} and set(rows.reference) == {"band"}
    assert any_failed(rows)
    md, page = instrument_check(checks)
    assert md.startswith("## Instrument check") and "WARNING: 1 control(s) failed" in md
    assert "| heldout_retrain | held-out retrain (negative) | consistent | over-forgotten | FAIL |" in md
    assert "Instrument check" in page and "#c00" in page
    assert instrument_check([]) == ("", "")


@pytest.mark.slow
def test_tiny_audit_reports_the_controls(tmp_path: Path, prefect_server: str):
    overrides = deep_update(
        {k: dict(v) if isinstance(v, dict) else v for k, v in TINY.items()},
        {"unlearn": {"methods": ["finetune", "head_only", "heldout_retrain"],
                     "head_only": {"epochs": 2}, "heldout_retrain": {"seed": 7, "epochs": 3}}},
    )
    ws = make_workspace(tmp_path / "ws", overrides)
    done = muaudit(ws, "run", "--workers", "2", "--strict", env={"PREFECT_API_URL": prefect_server})
    t = pq.read_table(ws / "data/metrics/metrics.parquet").to_pandas()
    controls = t[t.metric == "control"].set_index("model")["label"]
    assert sorted(controls.index) == ["head_only", "heldout_retrain", "original"]
    assert set(controls) <= {"pass", "fail"}
    assert controls["original"] == "pass"  # even a 3-epoch original still knows the forgotten class
    manifest = json.loads((ws / "data/report/manifest.json").read_text())
    # --strict: the run fails exactly when a control or the policy fails, and names each failed control
    failed = {c for c, label in controls.items() if label == "fail"}
    policy_failed = any(not o["pass"] for o in manifest["policy"]["outcome"].values())
    assert done.returncode == (1 if failed or policy_failed else 0), done.stderr
    assert {c for c in controls.index if f"control: {c} failed" in done.stderr} == failed, done.stderr
    assert {c["control"]: c["status"] for c in manifest["instrument_check"]} == controls.to_dict()
    report = (ws / "data/report/report.md").read_text()
    assert report.index("## Instrument check") < report.index("## Verdicts")
