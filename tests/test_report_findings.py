"""The findings section reads the verdict statistics' columns, and answers "not measurable" without them."""

import math

import pandas as pd

from muaudit.report.findings import FINDINGS, answer, answers, findings_html, findings_markdown


def _table(stats: dict | None):
    rows = []
    for metric, role in (("asymmetry", ""), ("direction", "forget"), ("concentration", "forget")):
        for layer in ("block1", "fc"):
            for stat, v in (("mean", 0.1), ("sd", 0.02)):
                rows.append({"model": "retrain", "reference": "band", "layer": layer, "role": role,
                             "metric": f"{metric}:{stat}", "value": v, "label": ""})
            rows.append({"model": "m", "reference": "band", "layer": layer, "role": role, "metric": metric,
                         "value": 0.3, "label": "", **(stats or {}).get((metric, layer), {})})
    df = pd.DataFrame(rows)
    if stats is not None:
        for c in ("effect", "ci_low", "ci_high", "p_value"):
            df[c] = df[c].astype(float) if c in df else math.nan
    return df


def _s(effect, lo, hi, p=0.01):
    return {"effect": effect, "ci_low": lo, "ci_high": hi, "p_value": p}


def test_not_measurable_without_the_verdict_statistics():
    got = answers(_table(None), ["m"])
    assert [a.answer for a in got] == ["not measurable"] * 3
    assert "effect" in got[0].evidence


def test_yes_no_and_not_measurable_from_the_intervals():
    table = _table({("asymmetry", "block1"): _s(0.5, -0.2, 1.2), ("asymmetry", "fc"): _s(3.0, 1.5, 4.5, 0.0004),
                    ("direction", "block1"): _s(-0.5, -1.5, 0.5), ("direction", "fc"): _s(2.0, 0.5, 3.5),
                    ("concentration", "block1"): _s(math.nan, math.nan, math.nan, math.nan),
                    ("concentration", "fc"): _s(math.nan, math.nan, math.nan, math.nan)})
    asym, direction, conc = (answer(table, "m", f) for f in FINDINGS)
    assert asym.answer == "yes" and asym.evidence.startswith("fc: asymmetry 0.300 vs retrain 0.100 ± 0.020")
    assert "effect +3.00 (+1.50, +4.50), p < 0.001" in asym.evidence
    assert direction.answer == "no"  # the positive interval is the harmless side for a mismatch
    assert conc.answer == "not measurable" and "finite" in conc.evidence


def test_a_metric_not_enabled_is_not_measurable_and_sections_render():
    table = _table({})
    table = table[table.metric != "direction"]
    a = answer(table, "m", FINDINGS[1])
    assert a.answer == "not measurable" and "not enabled" in a.evidence
    assert "The paper's three findings on this audit" in findings_markdown(table, ["m"])
    assert "id='findings'" in findings_html(table, ["m"])
