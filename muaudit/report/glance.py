"""The report's first screen: one sentence per finding, and a compact heatmap of every judged quantity.

The sentences say what the verdicts say, grouped by verdict, and whether the instrument check passed; the
heatmap colours each model x (metric, layer, role) cell by the effect size of the verdict statistics (the
`effect` column: standardised by the retrain-to-retrain spread, docs/verdict.md), so the full table below is
needed only for the numbers.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from muaudit.controls import ControlCheck
from muaudit.report.plots import Cells

CAP = 6.0  # effect (retrain standard deviations) at which a cell's colour saturates
QUIET = 2.0  # |effect| below this is drawn grey: within the retrain seeds' own variation

_SAYS = {  # verdict -> what the methods with it do: (several, one), completing "n of N methods ..."
    "consistent": ("match retraining at the output and in every layer audited",
                   "matches retraining at the output and in every layer audited"),
    "output-only": ("forget at the output but keep a representation residue",
                    "forgets at the output but keeps a representation residue"),
    "not-forgotten": ("still show the forget set at the output", "still shows the forget set at the output"),
    "over-forgotten": ("over-forget: their output falls below retraining",
                       "over-forgets: its output falls below retraining"),
    "failed": ("failed to run", "failed to run"),
    "skipped": ("were skipped", "was skipped"),
}


def _names(models: list[str], shown: int = 4) -> str:
    more = len(models) - shown
    return ", ".join(models[:shown]) + (f" and {more} more" if more > 0 else "")


def conclusion(verdicts: pd.DataFrame, methods: list[str], checks: list[ControlCheck]) -> list[str]:
    """One sentence per finding: each verdict among the methods (with where the residue is), then the
    instrument check."""
    judged = verdicts[verdicts.model.isin(methods)]
    sentences = []
    total = len(methods)
    for label in [*_SAYS, *sorted(set(judged.verdict) - set(_SAYS))]:
        group = judged[judged.verdict == label]
        if group.empty:
            continue
        n = len(group)
        says = _SAYS.get(label, (f"are judged {label}", f"is judged {label}"))[n == 1]
        if label == "output-only":
            layers = sorted({layer for ls in group.layers_outside for layer in ls})
            says += f" at {', '.join(layers)}" if layers else ""
        subject = f"{n} of {total} methods" if total > 1 else "The method"
        sentences.append(f"{subject} {says} ({_names(list(group.model))}).")
    failed = [c.control for c in checks if c.status == "fail"]
    if not checks:
        sentences.append("The instrument check was turned off: nothing shows that the metrics can tell "
                         "known-bad from known-good unlearning here.")
    elif failed:
        sentences.append(f"The instrument check FAILED ({', '.join(failed)}): the verdicts cannot be trusted "
                         "as they stand.")
    else:
        sentences.append("The instrument check passed: every control got the verdict it requires.")
    return sentences


def conclusion_html(sentences: list[str]) -> str:
    items = "".join(f"<li>{html.escape(s)}</li>" for s in sentences)
    return f"<section id='conclusion'><h2>Conclusion</h2><ul>{items}</ul></section>"


def conclusion_markdown(sentences: list[str]) -> str:
    return "## Conclusion\n\n" + "".join(f"- {s}\n" for s in sentences) + "\n"


def _colour(e: float) -> str:
    """Grey within QUIET retrain standard deviations (or unmeasured); red above retraining, blue below,
    deeper with the effect (capped at CAP)."""
    if not math.isfinite(e) or abs(e) < QUIET:
        return "#eeeeee"
    t = (min(abs(e), CAP) - QUIET) / (CAP - QUIET)
    light = round(92 - 50 * t)
    return f"hsl({0 if e > 0 else 215},75%,{light}%)"


def heatmap(table: pd.DataFrame, models: list[str], columns: list[tuple[str, str, str, str]],
            cells: Cells | None = None) -> str:
    """A compact table of coloured cells: a row per model, a column per (metric, layer, role) of columns
    (muaudit.report.page.judged_columns), grouped under their metric; the numbers are in each cell's title."""
    groups: dict[str, int] = {}
    for _, metric, _, _ in columns:
        groups[metric] = groups.get(metric, 0) + 1
    head = "<tr><th></th>" + "".join(f"<th colspan='{n}' title='{html.escape(m)}'>{html.escape(m)}</th>"
                                     for m, n in groups.items()) + "</tr>"
    body, cells = "", cells or Cells(table)
    for model in models:
        row = ""
        for heading, metric, layer, role in columns:
            v = cells.value(model, metric, layer, role)
            mean = cells.band(metric, layer, role, "mean")
            e, p = cells.test(model, metric, layer, role)
            where = f"{model} · {heading}"
            tip = (f"{where}: not measured" if math.isnan(v) else
                   f"{where}: {v:.3f} vs retrain {mean:.3f}, effect {e:+.1f}, p = {p:.3g}")
            row += f"<td style='background:{_colour(e)}' title='{html.escape(tip)}'></td>"
        body += f"<tr><th>{html.escape(model)}</th>{row}</tr>"
    key = ("<p class='key'>Each cell: one metric at one layer; <span style='background:#eeeeee'>&nbsp;grey&nbsp;</span> "
           f"within {QUIET:g} retrain standard deviations, <span style='background:{_colour(CAP)};color:#fff'>&nbsp;red&nbsp;</span> above it, "
           f"<span style='background:{_colour(-CAP)};color:#fff'>&nbsp;blue&nbsp;</span> below it, deeper with the distance "
           f"(the effect, saturated at {CAP:g}). Hover a cell for its numbers; the full table follows.</p>")
    return f"<section id='heatmap'><h2>At a glance</h2><table class='heat'><thead>{head}</thead><tbody>{body}</tbody></table>{key}</section>"

