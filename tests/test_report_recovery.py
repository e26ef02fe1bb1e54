"""The report's recovery lines (muaudit/report/recovery.py) from a metrics table."""

from __future__ import annotations

from muaudit.metrics.table import row, to_frame
from muaudit.report.recovery import recovery_lines, recovery_markdown, stability_lines, stability_markdown


def _table(steps: dict[str, tuple[float, str]], refit: dict[str, float]):
    rows = [row("retrain", "band", "attack", "forget", f"relearn_steps:{s}", v)
            for s, v in {"mean": 10.0, "sd": 1.0, "low": 7.0, "high": 13.0}.items()]
    rows += [row("retrain", "band", "attack", "forget", f"head_refit:{s}", v) for s, v in {"low": 0.1, "high": 0.3}.items()]
    for m, (v, label) in steps.items():
        rows += [row(m, "", "attack", "forget", "relearn_steps", v, label),
                 row(m, "band", "attack", "forget", "relearn_steps", v),
                 row(m, "band", "attack", "forget", "head_refit", refit[m])]
    return to_frame(rows)


def test_lines_say_recoverable_only_against_the_retrain_band():
    table = _table({"fast": (2.0, ""), "like": (11.0, ""), "never": (22.0, "not-reached"), "refit": (12.0, "")},
                   {"fast": 0.2, "like": 0.2, "never": 0.2, "refit": 0.9})
    lines = dict(recovery_lines(table, ["fast", "like", "never", "refit", "absent"]))
    assert lines["fast"] == "recoverable: the forgotten data returns after 2 steps (retrained models: 10.0 ± 1.0)"
    assert lines["like"].startswith("not recoverable beyond retraining: the forgotten data returns after 11 steps")
    assert "does not return within the attack budget" in lines["never"]
    assert lines["refit"].startswith("recoverable:") and "head_refit" in lines["refit"]
    assert "absent" not in lines
    censored = _table({"fast": (2.0, "")}, {"fast": 0.2})
    censored = censored.assign(label=censored.label.where(~censored.model.str.startswith("retrain_"), "not-reached"))
    rows = censored.to_dict("records") + [dict(model=f"retrain_{k}", reference="", layer="attack", role="forget",
                                                metric="relearn_steps", value=31.0, label="not-reached") for k in (1, 2)]
    assert dict(recovery_lines(to_frame(rows), ["fast"]))["fast"].endswith("(retrained models: none within the budget)")
    assert "## Recovery attacks" in recovery_markdown(list(lines.items()))


def test_no_attack_rows_no_section():
    assert recovery_lines(to_frame([row("a", "band", "logits", "forget", "accuracy", 1.0)]), ["a"]) == []
    assert recovery_markdown([]) == ""


def _verdicts(labels: dict[str, str], klom: dict[str, str]):
    rows = [row(m, "", "", "", "verdict", float("nan"), label) for m, label in labels.items()]
    rows += [row(m, "retrain", "logits", "forget", "klom_q50", 0.1, how) for m, how in klom.items()]
    rows += [row(m, "band", "logits", "forget", "klom_q50", 0.1) for m in klom]  # the band's copy: no label
    return to_frame(rows)


def test_stability_counts_the_verdicts_of_each_methods_seed_runs():
    table = _verdicts({"a": "consistent", "a_s1": "consistent", "a_s2": "consistent",
                       "b": "consistent", "b_s1": "not-forgotten", "b_s2": "consistent", "c": "consistent"},
                      {"a": "kl", "b": "kl", "c": "one-sided"})
    lines = dict(stability_lines(table, ["a", "b", "c"]))
    assert lines["a"] == "stable: the same verdict (consistent) on 3 of 3 method seeds; klom: kl"
    assert lines["b"] == "unstable: the verdict differs across 3 method seeds (consistent on 2, not-forgotten on 1); klom: kl"
    assert "c" not in lines  # one seed: nothing to say about stability
    assert "## Method seeds" in stability_markdown(list(lines.items()))
    assert stability_lines(_verdicts({"a": "consistent"}, {}), ["a"]) == [] and stability_markdown([]) == ""
