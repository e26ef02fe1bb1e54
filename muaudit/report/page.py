"""The self-contained HTML page: first screen (what was audited, verdicts coloured against the band,
policy), then the plots, then the lineage section. No external resource, so it opens offline."""

from __future__ import annotations

import html
import json
import math

import pandas as pd

from muaudit.metrics.evidence import evidence
from muaudit.report.plots import Cells, families

CSS = ("body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
       "td,th{border:1px solid #ccc;padding:3px 7px;font-size:13px}td.in{background:#d8f3dc}"
       "td.out{background:#ffd6d6}td.pass{background:#d8f3dc}td.fail{background:#ffd6d6}"
       ".plots{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}code{font-size:12px}"
       "dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:bold}"
       "#conclusion li{font-size:15px;margin:2px 0}.scroll{overflow-x:auto;max-width:100%}"
       "table.heat td{width:9px;height:14px;padding:0;border:1px solid #fff}"
       "table.heat th{font-size:11px;font-weight:normal;padding:0 4px;border:none;text-align:left;white-space:nowrap;"
       "overflow:hidden;max-width:90px}p.key{font-size:12px;color:#555}")


def _e(v: object) -> str:
    return html.escape(str(v))


def judged_columns(table: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """(heading, metric, layer, role): output level first (accuracy per role), then each per-layer family."""
    from muaudit.metrics.registry import sides

    cols = [(f"{role} acc", "accuracy", "logits", role) for role in ("forget", "retain", "test")]
    judged = sides()
    for metric in families(table):
        if metric == "accuracy" or metric not in judged:  # evidence such as relearn_curve is plotted, not tabled
            continue
        rows = table[(table.metric == metric) & (table.reference == "band") & (table.model != "retrain")]
        role = "forget" if "forget" in set(rows.role) else rows.role.iloc[0]
        cols += [(f"{metric} {layer}".strip() + (f" ({role})" if role else ""), metric, layer, role)
                 for layer in dict.fromkeys(rows[rows.role == role].layer)]
    return cols


def verdict_table(table: pd.DataFrame, models: list[str], policy: dict, judged: list[str] | None = None,
                  cells: Cells | None = None) -> str:
    verdict = table[(table.metric == "verdict") & (table.layer == "")].set_index("model")["label"]
    cols = judged_columns(table)
    head = ("<tr><th>model</th><th>verdict</th><th>strongest evidence</th><th>policy</th>"
            + "".join(f"<th>{_e(c[0])}</th>" for c in cols) + "</tr>")
    body, cells = "", cells or Cells(table)
    for model in models:
        outcome = policy.get(model)
        pol = ("<td></td>" if outcome is None else
               f"<td class='{'pass' if outcome['pass'] else 'fail'}'>{'pass' if outcome['pass'] else 'fail'}</td>")
        row = ""
        for _, metric, layer, role in cols:
            v = cells.value(model, metric, layer, role)
            if math.isnan(v):
                v = cells.get(model, "", metric, layer, role)
            lo, hi = cells.band(metric, layer, role, "low"), cells.band(metric, layer, role, "high")
            cls = "" if math.isnan(v) or math.isnan(lo) else ("in" if lo <= v <= hi else "out")
            row += f"<td class='{cls}'>{'–' if math.isnan(v) else f'{v:.3f}'}</td>"
        body += (f"<tr><td>{_e(model)}</td><td><b>{_e(verdict.get(model, ''))}</b></td>"
                 f"<td>{_e(evidence(table, model, judged))}</td>{pol}{row}</tr>")
    band = "".join(
        f"<td>[{cells.band(m, la, r, 'low'):.3f}, {cells.band(m, la, r, 'high'):.3f}]</td>" for _, m, la, r in cols)
    body += f"<tr><td>retrain band</td><td></td><td></td><td></td>{band}</tr>"
    return f"<table id='verdicts'><thead>{head}</thead><tbody>{body}</tbody></table>"


def render(header: dict, table: pd.DataFrame, models: list[str], policy: dict, plots: list[tuple[str, str]],
           lineage: dict, judged: list[str] | None = None, top: str = "", glance: str = "", before_policy: str = "",
           end: str = "", cells: Cells | None = None) -> str:
    """top: what an auditor must read first (the conclusion, the instrument check), right under the title;
    glance: the heatmap, above the full verdict table (which scrolls sideways on its own when wide);
    judged: the row metrics the verdict judges, for the evidence column; before_policy: sections between the
    verdicts and the policy (findings, recovery, stability); end: sections after the lineage (tuning, identity);
    cells: the table's index, when the caller has built it already."""
    meta = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in header.items())
    pol = "".join(f"<li><b>{_e(m)}</b>: {'pass' if o['pass'] else 'fail — ' + _e('; '.join(o['reasons']))}</li>"
                  for m, o in policy["outcome"].items())
    figs = "".join(f"<figure class='plot'>{s}</figure>" for _, s in plots)
    arts = "".join(
        f"<tr><td><code>{_e(a['path'])}</code></td><td>{_e(a['stage'])}</td><td><code>{_e(a['md5'])}</code></td>"
        f"<td><code>{_e(a.get('mlflow_run_id', '–'))}</code></td><td><code>{_e(a.get('git_commit', ''))}</code></td></tr>"
        for a in lineage["artifacts"])
    env = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in lineage["environment"].items())
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Unlearning audit</title>"
        f"<style>{CSS}</style></head><body><h1>Unlearning audit</h1>{top}<dl id='audited'>{meta}</dl>{glance}"
        f"<h2>Verdicts</h2><div class='scroll'>{verdict_table(table, models, policy['outcome'], judged, cells)}</div>"
        "<p>Green: inside the interval a value must fall in to pass that quantity alone; red: outside it. "
        "The verdict tests every quantity at once (docs/verdict.md).</p>"
        f"{before_policy}<h2>Policy</h2><p><code>{_e(json.dumps(policy['criteria']))}</code> — "
        f"<b>{'PASS' if policy['pass'] else 'FAIL'}</b></p><ul>{pol}</ul>"
        f"<h2>Plots</h2><div class='plots'>{figs}</div>"
        f"<h2>Lineage</h2><dl>{env}</dl><div class='scroll'><table id='artifacts'><thead><tr><th>artifact</th><th>stage</th>"
        f"<th>md5 (dvc.lock)</th><th>MLflow run</th><th>code commit</th></tr></thead><tbody>{arts}</tbody></table></div>"
        f"<h3>Params</h3><pre>{_e(json.dumps(lineage['params'], indent=1, sort_keys=True))}</pre>"
        f"{end}</body></html>\n")
