"""Summary table of the audit and its Markdown/HTML renderings."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from muaudit.io import atomic_write_bytes

ROLE_ACC = [("forget", "forget acc"), ("retain", "retain acc"), ("test", "test acc")]


def summary_table(table: pd.DataFrame, retrain_ids: list[str], methods: list[str]) -> pd.DataFrame:
    """One row per model judged (original and methods) plus the retrain band, as display strings."""
    band = table[(table.model == "retrain") & (table.reference == "band")]
    acc = table[(table.metric == "accuracy") & (table.reference == "")]
    cka = table[(table.metric == "cka") & (table.reference == "band")]
    verdict = table[(table.metric == "verdict") & (table.layer == "")].set_index("model")["label"]
    layers = sorted(set(cka.layer))
    rows = []
    for model in ["original", *methods]:
        r = {"model": model, "verdict": verdict.get(model, "")}
        for role, col in ROLE_ACC:
            v = acc[(acc.model == model) & (acc.role == role)].value
            r[col] = f"{v.iloc[0]:.3f}" if len(v) else "–"
        for layer in layers:
            v = cka[(cka.model == model) & (cka.layer == layer) & (cka.role == "forget")].value
            r[f"CKA {layer} (forget)"] = f"{v.iloc[0]:.3f}" if len(v) else "–"
        rows.append(r)
    b = {"model": f"retrain band ({len(retrain_ids)} seeds)", "verdict": ""}
    for role, col in ROLE_ACC:
        lo = band[(band.metric == "accuracy:low") & (band.role == role)].value
        hi = band[(band.metric == "accuracy:high") & (band.role == role)].value
        b[col] = f"[{lo.iloc[0]:.3f}, {hi.iloc[0]:.3f}]" if len(lo) else "–"
    for layer in layers:
        lo = band[(band.metric == "cka:low") & (band.layer == layer) & (band.role == "forget")].value
        b[f"CKA {layer} (forget)"] = f"≥ {lo.iloc[0]:.3f}" if len(lo) else "–"
    rows.append(b)
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines)


def write_report(out_dir: str | Path, summary: pd.DataFrame, header: dict,
                 problems: dict[str, str] | None = None) -> tuple[Path, Path]:
    """problems: model -> why it failed or was skipped, listed under the verdicts."""
    out_dir = Path(out_dir)
    problems = problems or {}
    meta_md = "\n".join(f"- **{k}**: {v}" for k, v in header.items())
    md = f"# Unlearning audit\n\n{meta_md}\n\n## Verdicts\n\n{to_markdown(summary)}\n"
    if problems:
        md += "\n## Failed or skipped\n\n" + "".join(f"- **{m}**: {why}\n" for m, why in problems.items())
    problems_html = "".join(f"<li><b>{html.escape(m)}</b>: {html.escape(why)}</li>" for m, why in problems.items())
    rows_html = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in summary.itertuples(index=False)
    )
    head_html = "".join(f"<th>{html.escape(c)}</th>" for c in summary.columns)
    meta_html = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in header.items())
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Unlearning audit</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px}</style></head><body>"
        f"<h1>Unlearning audit</h1><ul>{meta_html}</ul><h2>Verdicts</h2>"
        f"<table><thead><tr>{head_html}</tr></thead><tbody>{rows_html}</tbody></table>"
        + (f"<h2>Failed or skipped</h2><ul>{problems_html}</ul>" if problems else "")
        + "</body></html>\n"
    )
    md_path = atomic_write_bytes(out_dir / "report.md", md.encode())
    html_path = atomic_write_bytes(out_dir / "index.html", page.encode())
    return md_path, html_path
