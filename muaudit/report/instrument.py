"""The "instrument check" box of the report: the controls' pass/fail, above the verdict table."""

from __future__ import annotations

import html

from muaudit.controls import ControlCheck

_ROLE = {"original": "no-op (positive)", "head_only": "representation (positive)",
         "heldout_retrain": "held-out retrain (negative)"}
_MARK = {"pass": "PASS", "fail": "FAIL", "info": "no requirement"}


def instrument_check(checks: list[ControlCheck]) -> tuple[str, str]:
    """(Markdown, HTML) of the box; empty when every control was turned off."""
    if not checks:
        return "", ""
    failed = [c for c in checks if c.status == "fail"]
    lead = ("**Every control behaved as required: the metrics separate known-bad from known-good unlearning "
            "on this data and model.**" if not failed else
            f"**WARNING: {len(failed)} control(s) failed; the verdicts below cannot be trusted as they stand.**")
    md = ["## Instrument check", "", lead, "", "| control | kind | required | verdict | check |", "|---|---|---|---|---|"]
    md += [f"| {c.control} | {_ROLE[c.control]} | {c.requirement} | {c.verdict} | {_MARK[c.status]} |" for c in checks]
    md += [""] + [f"- **{c.control} failed**: {c.explanation}" for c in failed]
    rows = "".join(
        f"<tr><td>{c.control}</td><td>{_ROLE[c.control]}</td><td>{html.escape(c.requirement)}</td>"
        f"<td>{html.escape(c.verdict)}</td><td><b>{_MARK[c.status]}</b></td></tr>" for c in checks
    )
    notes = "".join(f"<li><b>{c.control} failed</b>: {html.escape(c.explanation)}</li>" for c in failed)
    border = "#c00" if failed else "#080"
    box = (f"<div id='instrument-check' style='border:3px solid {border};padding:0 1em 1em;margin:1em 0'>"
           "<h2>Instrument check</h2>"
           f"<p>{html.escape(lead.strip('*'))}</p><table><thead><tr><th>control</th><th>kind</th><th>required</th>"
           f"<th>verdict</th><th>check</th></tr></thead><tbody>{rows}</tbody></table>"
           f"{f'<ul>{notes}</ul>' if notes else ''}</div>")
    return "\n".join(md) + "\n\n", box
