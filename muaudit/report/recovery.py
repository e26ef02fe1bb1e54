"""The report's recovery-attack section: one plain-words line per method, from the metrics table.

A method is `recoverable` when its forgotten data returns faster (relearn_steps below the retrain interval) or
more fully (relearn or head_refit accuracy above it) than for the retrained models. The interval is the band
rows' `:low`/`:high`, the predictive interval one quantity must fall in at the declared alpha
(muaudit/metrics/band.py); effects and p-values of the same quantities are in the metrics table; the recovery curves
against the band are drawn by the generic plots (metric relearn_curve, one point per step checkpoint).

With extra method seeds (unlearn.extra_seeds), a second section states per method how stable its verdict is
across its seed runs (models `<method>_s<seed>`) and which klom path its rows took.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from muaudit.metrics.klom import seed_models
from muaudit.report.plots import Cells


def position(v: float, lo: float, hi: float, side: str) -> int:
    """-1 below, +1 above the retrain interval (band rows `:low`/`:high`), 0 inside or on the harmless side.
    A value that cannot be compared (NaN) is 0 here: the verdict, not this sentence, fails closed on it."""
    if not (math.isfinite(v) and math.isfinite(lo) and math.isfinite(hi)):
        return 0
    pos = -1 if v < lo else (1 if v > hi else 0)
    return 0 if (side == "low" and pos == 1) or (side == "high" and pos == -1) else pos


def recovery_lines(table: pd.DataFrame, methods: list[str], cells: Cells | None = None) -> list[tuple[str, str]]:
    """(method, line) for every method with relearn rows; empty when the attacks were not enabled."""
    if not (table.metric == "relearn_steps").any():
        return []
    cells = cells or Cells(table)
    band = {s: cells.band("relearn_steps", "attack", "forget", s) for s in ("mean", "sd", "low", "high")}
    own = table[(table.metric == "relearn_steps") & (table.reference == "") & table.model.str.startswith("retrain_")]
    never = int((own.label == "not-reached").sum())
    if own.empty or never < len(own):
        ref = f"(retrained models: {band['mean']:.1f} ± {band['sd']:.1f}"
        ref += f"; {never} of {len(own)} not within the budget)" if never else ")"
    else:
        ref = "(retrained models: none within the budget)"
    out = []
    for m in methods:
        steps = cells.value(m, "relearn_steps", "attack", "forget")
        if math.isnan(steps):
            continue
        censored = bool(((table.model == m) & (table.metric == "relearn_steps")
                         & (table.label == "not-reached")).any())
        faster = position(steps, band["low"], band["high"], "low") != 0
        fuller = [name for name in ("relearn", "head_refit")
                  if position(cells.value(m, name, "attack", "forget"), cells.band(name, "attack", "forget", "low"),
                              cells.band(name, "attack", "forget", "high"), "high") != 0]
        when = "does not return within the attack budget" if censored else f"returns after {steps:.0f} steps"
        word = "recoverable" if faster or fuller else "not recoverable beyond retraining"
        extra = f"; more comes back than for retrained models under {', '.join(fuller)}" if fuller else ""
        out.append((m, f"{word}: the forgotten data {when} {ref}{extra}"))
    return out


def _markdown(title: str, intro: str, lines: list[tuple[str, str]]) -> str:
    """A report section of one line per method ('' without lines)."""
    if not lines:
        return ""
    body = "\n".join(f"- **{m}**: {line}" for m, line in lines)
    return f"\n## {title}\n\n{intro}\n\n{body}\n"


def _html(title: str, intro: str, anchor: str, lines: list[tuple[str, str]]) -> str:
    if not lines:
        return ""
    items = "".join(f"<li><b>{html.escape(m)}</b>: {html.escape(line)}</li>" for m, line in lines)
    return f"<h2>{title}</h2><p>{intro}</p><ul id='{anchor}'>{items}</ul>"


def recovery_markdown(lines: list[tuple[str, str]]) -> str:
    return _markdown("Recovery attacks", "Relearning and head re-fit on every model with the same budget "
                     "(docs/attacks.md); steps to the relearn threshold against the retrained models.", lines)


def recovery_html(lines: list[tuple[str, str]]) -> str:
    return _html("Recovery attacks", "Relearning and head re-fit on every model with the same budget; the "
                 "recovery curves against the retrain band are among the plots (relearn_curve).", "recovery", lines)


def stability_lines(table: pd.DataFrame, methods: list[str]) -> list[tuple[str, str]]:
    """(method, line) for every method with seed runs in the table; empty with one seed per method."""
    models = sorted(set(table.model))
    verdict = table[(table.metric == "verdict") & (table.layer == "")].set_index("model")["label"].to_dict()
    out = []
    for m in methods:
        family = seed_models(m, models)
        if len(family) < 2:
            continue
        labels = [verdict.get(s, "no verdict") for s in family]
        counts = {label: labels.count(label) for label in dict.fromkeys(labels)}
        if len(counts) == 1:
            line = f"stable: the same verdict ({labels[0]}) on {len(family)} of {len(family)} method seeds"
        else:
            parts = ", ".join(f"{label} on {n}" for label, n in counts.items())
            line = f"unstable: the verdict differs across {len(family)} method seeds ({parts})"
        how = set(table[(table.model == m) & (table.reference == "retrain") & table.metric.str.startswith("klom_q")].label)
        if how:
            line += f"; klom: {', '.join(sorted(how))}"
        out.append((m, line))
    return out


def stability_markdown(lines: list[tuple[str, str]]) -> str:
    return _markdown("Method seeds", "The verdict of each method's own run and of its extra seed runs "
                     "(unlearn.extra_seeds, docs/attacks.md).", lines)


def stability_html(lines: list[tuple[str, str]]) -> str:
    return _html("Method seeds", "The verdict of each method's own run and of its extra seed runs.", "method-seeds",
                 lines)
