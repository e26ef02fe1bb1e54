"""Report section "The paper's three findings on this audit" (Yong et al., "Erased, but Not Gone").

For each method and each finding the answer is yes / no / not measurable, read from the metrics table:
- forget/retain asymmetry: `asymmetry` (role "") above retraining: the model is closer to retraining on
  the forget set than on retain, relative to what retrained models show;
- directional mismatch: `direction` (role forget) below retraining: the model moved from the original less
  far along the way retraining moves;
- concentrated residual: `concentration` (role forget) above retraining: the residual to retraining spans
  fewer directions than between retrained models.
(docs/metrics.md gives the definitions.) The uncertainty is the verdict statistics' (issue 14): the columns
`effect`, `ci_low`, `ci_high` and `p_value` on the judged models' aggregate rows (reference "band"). This
module computes no statistics of its own. "yes" when, at some layer, the interval of the effect lies
wholly on the finding's side of zero; "no" when every layer's interval is finite and none does; "not
measurable" otherwise, with the reason.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import pandas as pd

STATS = ("effect", "ci_low", "ci_high", "p_value")


@dataclass(frozen=True)
class Finding:
    title: str
    metric: str
    role: str
    side: int  # +1: the finding is the value above retraining, -1: below


FINDINGS = (Finding("forget/retain asymmetry", "asymmetry", "", +1),
            Finding("directional mismatch", "direction", "forget", -1),
            Finding("concentrated residual", "concentration", "forget", +1))


@dataclass(frozen=True)
class Answer:
    method: str
    finding: str
    answer: str  # "yes" | "no" | "not measurable"
    evidence: str


def _band_stat(table: pd.DataFrame, metric: str, layer: str, role: str, stat: str) -> float:
    hit = table[(table.model == "retrain") & (table.reference == "band") & (table.metric == f"{metric}:{stat}")
                & (table.layer == layer) & (table.role == role)]
    return float(hit.value.iloc[0]) if len(hit) else math.nan


def _evidence(table: pd.DataFrame, r, f: Finding) -> str:
    mean, sd = _band_stat(table, f.metric, r.layer, f.role, "mean"), _band_stat(table, f.metric, r.layer, f.role, "sd")
    p = "p < 0.001" if r.p_value < 0.001 else f"p = {r.p_value:.3f}"
    return (f"{r.layer}: {f.metric} {r.value:.3f} vs retrain {mean:.3f} ± {sd:.3f}, "
            f"effect {r.effect:+.2f} ({r.ci_low:+.2f}, {r.ci_high:+.2f}), {p}")


def answer(table: pd.DataFrame, method: str, f: Finding) -> Answer:
    def unmeasurable(why: str) -> Answer:
        return Answer(method, f.title, "not measurable", why)

    rows = table[(table.model == method) & (table.reference == "band") & (table.metric == f.metric)
                 & (table.role == f.role)]
    if not len(rows):
        return unmeasurable(f"no `{f.metric}` rows for this model (metric not enabled, or the model failed)")
    missing = [c for c in STATS if c not in table.columns]
    if missing:
        return unmeasurable(f"the verdict statistics ({', '.join(missing)}) are not in the metrics table")
    finite = rows[rows[list(STATS)].apply(lambda c: c.map(math.isfinite)).all(axis=1)]
    if not len(finite):
        return unmeasurable(f"no layer has a finite effect interval for `{f.metric}`")
    # strongest layer: the interval edge furthest on the finding's side
    edge = finite.ci_low if f.side > 0 else -finite.ci_high
    best = finite.loc[edge.idxmax()]
    if edge.max() > 0:
        return Answer(method, f.title, "yes", _evidence(table, best, f))
    if len(finite) < len(rows):
        unmeasured = ", ".join(sorted(set(rows.layer) - set(finite.layer)))
        return unmeasurable(f"not present where measured; no finite interval at {unmeasured}")
    return Answer(method, f.title, "no", _evidence(table, best, f))


def answers(table: pd.DataFrame, methods: list[str]) -> list[Answer]:
    return [answer(table, m, f) for m in methods for f in FINDINGS]


INTRO = ("For each method: is the finding of Yong et al. present here? *yes* when at some layer the effect's "
         "interval lies wholly on the finding's side of retraining, *no* when no layer's does, *not measurable* "
         "with the reason otherwise. Definitions: docs/metrics.md.")


def findings_markdown(table: pd.DataFrame, methods: list[str]) -> str:
    lines = ["## The paper's three findings on this audit", "", INTRO, "",
             "| method | " + " | ".join(f.title for f in FINDINGS) + " |", "|---" * (len(FINDINGS) + 1) + "|"]
    by = {(a.method, a.finding): a for a in answers(table, methods)}
    for m in methods:
        cells = [by[(m, f.title)] for f in FINDINGS]
        lines.append(f"| {m} | " + " | ".join(f"**{a.answer}** — {a.evidence}" for a in cells) + " |")
    return "\n".join(lines) + "\n"


def findings_html(table: pd.DataFrame, methods: list[str]) -> str:
    by = {(a.method, a.finding): a for a in answers(table, methods)}
    head = "<tr><th>method</th>" + "".join(f"<th>{html.escape(f.title)}</th>" for f in FINDINGS) + "</tr>"
    body = "".join(
        f"<tr><td>{html.escape(m)}</td>" + "".join(
            f"<td><b>{html.escape(by[(m, f.title)].answer)}</b><br><small>{html.escape(by[(m, f.title)].evidence)}"
            "</small></td>" for f in FINDINGS) + "</tr>" for m in methods)
    return (f"<h2 id='findings'>The paper's three findings on this audit</h2><p>{html.escape(INTRO)}</p>"
            f"<table><thead>{head}</thead><tbody>{body}</tbody></table>")
