"""Report pieces on a small hand-made metrics table: policy outcome, metric families, SVG charts."""

from __future__ import annotations

import pandas as pd

from muaudit.config import PolicyParams
from muaudit.report import svg
from muaudit.report.plots import families, metric_plots, output_vs_representation
from muaudit.report.policy import evaluate


def _table() -> pd.DataFrame:
    rows = []
    for model, label, acc, cka in (("good", "consistent", 0.0, 0.95), ("bad", "output-only", 0.0, 0.5)):
        rows += [(model, "band", "", "", "verdict", float("nan"), label),
                 (model, "band", "b1", "", "verdict", float("nan"), "inside" if model == "good" else "outside"),
                 (model, "band", "logits", "forget", "accuracy", acc, ""),
                 (model, "band", "b1", "forget", "cka", cka, ""), (model, "band", "b2", "forget", "cka", cka, ""),
                 (model, "band", "", "", "avg_gap", 0.01 if model == "good" else 0.2, "")]
    for stat, v in (("low", 0.9), ("high", 1.0)):
        rows += [("retrain", "band", la, "forget", f"cka:{stat}", v, "") for la in ("b1", "b2")]
        rows += [("retrain", "band", "logits", "forget", f"accuracy:{stat}", v - 0.9, "")]
    return pd.DataFrame(rows, columns=["model", "reference", "layer", "role", "metric", "value", "label"])


def test_policy_passes_consistent_and_names_why_others_fail():
    out = evaluate(_table(), ["good", "bad"], PolicyParams(layers=["b1"], allowed_labels=["consistent", "inside"],
                                                           max_avg_gap=0.05))
    assert out["good"] == {"pass": True, "reasons": []}
    assert out["bad"]["pass"] is False
    assert out["bad"]["reasons"] == ["overall: output-only (allowed: consistent, inside)",
                                     "layer b1: outside (allowed: consistent, inside)", "avg_gap: 0.2000 > 0.05"]


def test_families_are_found_from_the_table_and_each_gets_a_plot():
    t = _table()
    assert families(t) == ["accuracy", "cka"]
    titles = [title for title, _ in metric_plots(t, ["good", "bad"])]
    assert titles == ["accuracy (forget) against the retrain band", "cka (forget) against the retrain band, per layer"]
    title, chart = output_vs_representation(t, ["good", "bad"])
    assert chart.count("class='mark'") == 2 and "class='mark band'" in chart


def test_svg_charts_draw_their_marks():
    lines = svg.band_lines("t", ["a", "b"], {"m": [0.5, 0.6]}, [0.4, 0.4], [0.7, 0.7], "y")
    assert lines.startswith("<svg") and lines.count("<circle class='mark'") == 2
    hist = svg.histogram("h", {"forget": [0.1, 0.2, 0.9], "test": [0.5]}, "x", bins=4)
    assert hist.count("<rect class='mark'") >= 3


def test_svg_charts_never_draw_nan_coordinates():
    nan = float("nan")
    charts = [
        svg.band_lines("t", ["a", "b"], {"m": [0.5, nan]}, [0.1, nan], [nan, 0.9], "y"),
        svg.band_scatter("t", {"m": (0.5, nan), "n": (0.2, 0.3)}, (0.0, 1.0, nan, nan), "x", "y"),
        svg.band_bars("t", {"m": nan, "n": 0.4}, nan, 0.5, "y"),
    ]
    for chart in charts:
        assert "nan" not in chart.lower() and "inf" not in chart.lower()
        assert "class='mark'" in chart  # the finite values are still drawn


def test_fifteen_series_differ_by_colour_and_marker():
    styles = [svg.style(k) for k in range(15)]
    assert len(set(styles)) == 15
    for colour in {c for c, _ in styles}:  # series that share a colour are told apart by their marker
        shapes = [m for c, m in styles if c == colour]
        assert len(shapes) == len(set(shapes))
    chart = svg.band_lines("t", ["a", "b"], {f"m{k}": [0.5, 0.6] for k in range(15)}, [0.4, 0.4], [0.7, 0.7], "y")
    assert chart.count("<polygon class='mark'") == 2 * 9 and chart.count("<rect class='mark'") == 2 * 3
    assert chart.count("class='key'") == 15  # each legend entry shows its series' marker
