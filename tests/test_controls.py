"""The instrument check on constructed metrics tables, and (slow) the control rows of a tiny real audit."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import TINY, deep_update, make_workspace, muaudit

from muaudit.controls import any_failed, check_controls, control_rows
from muaudit.metrics.table import row, to_frame
from muaudit.report.instrument import instrument_check

BAND = {("accuracy", "logits", "forget"): (0.0, 0.005), ("accuracy", "logits", "retain"): (0.97, 0.01),
        ("cka", "fc", "forget"): (0.80, 0.02)}  # retrain mean, sd


def table(models: dict[str, tuple[str, dict]]) -> object:
    """models: name -> (overall verdict, {quantity: (value, effect, p)}); quantities default to the retrain mean."""
    rows = []
    for (metric, layer, role), (mean, sd) in BAND.items():
        rows += [row("retrain", "band", layer, role, f"{metric}:mean", mean),
                 row("retrain", "band", layer, role, f"{metric}:sd", sd)]
    for model, (verdict, values) in models.items():
        for key, (mean, _sd) in BAND.items():
            v, eff, p = values.get(key, (mean, 0.0, 0.5))
            rows.append(row(model, "band", key[1], key[2], key[0], v, effect=eff, ci_low=eff - 1, ci_high=eff + 1, p_value=p))
        rows.append(row(model, "band", "", "", "verdict", float("nan"), verdict))
    return to_frame(rows)


GOOD = {"original": ("not-forgotten", {("accuracy", "logits", "forget"): (0.97, 194.0, 1e-6)}),
        "head_only": ("output-only", {("cka", "fc", "forget"): (0.40, -20.0, 1e-5)}),
        "heldout_retrain": ("consistent", {})}


@pytest.mark.parametrize("scenario", ["class", "random"])
def test_all_controls_pass_when_the_verdicts_are_as_required(scenario):
    checks = check_controls(table(GOOD), scenario)
    assert [(c.control, c.status) for c in checks] == [
        ("original", "pass"), ("head_only", "pass" if scenario == "class" else "info"), ("heldout_retrain", "pass")]
    assert all(c.explanation == "" for c in checks)


def test_original_consistent_fails_and_names_its_strongest_evidence():
    t = table({**GOOD, "original": ("consistent", {("accuracy", "logits", "forget"): (0.01, 2.0, 0.04)})})
    (orig,) = [c for c in check_controls(t, "class") if c.control == "original"]
    assert orig.status == "fail"
    assert "cannot tell the original" in orig.explanation
    assert "output, forget set: accuracy 0.010 vs retrain 0.000 ± 0.005, effect 2.0 (1.0, 3.0), p = 0.040" in orig.explanation


def test_head_only_consistent_in_class_says_the_residue_was_not_detected():
    t = table({**GOOD, "head_only": ("consistent", {("cka", "fc", "forget"): (0.75, -2.5, 0.02)})})
    (head,) = [c for c in check_controls(t, "class") if c.control == "head_only"]
    assert head.status == "fail"
    assert "could not detect a known residue" in head.explanation
    assert "fc, forget set: CKA 0.750 vs retrain 0.800 ± 0.020, effect −2.5 (−3.5, −1.5), p = 0.020" in head.explanation


def test_head_only_has_no_requirement_in_random():
    t = table({**GOOD, "head_only": ("consistent", {})})
    (head,) = [c for c in check_controls(t, "random") if c.control == "head_only"]
    assert (head.status, head.requirement, head.verdict) == ("info", "none", "consistent")


def test_flagged_heldout_retrain_names_the_quantity():
    t = table({**GOOD, "heldout_retrain": ("output-only", {("cka", "fc", "forget"): (0.55, -12.0, 1e-4)})})
    (neg,) = [c for c in check_controls(t, "random") if c.control == "heldout_retrain"]
    assert neg.status == "fail"
    assert "a correctly retrained model was flagged" in neg.explanation
    assert "fc, forget set: CKA 0.550 vs retrain 0.800 ± 0.020, effect −12.0 (−13.0, −11.0), p < 0.001" in neg.explanation


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
