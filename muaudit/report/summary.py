"""Summary table of the audit and its Markdown/HTML renderings."""

from __future__ import annotations

import html

import pandas as pd

from muaudit.metrics.evidence import evidence

ROLE_ACC = [("forget", "forget acc"), ("retain", "retain acc"), ("test", "test acc")]


# (metric, layer, role, column): key output numbers, then the representation at the summary layer
OUTPUT_KEY = [("mia_efficacy", "logits", "forget", "MIA-eff"), ("avg_gap", "logits", "", "Avg. Gap")]
REPRESENTATION_KEY = [("cka", "CKA"), ("procrustes", "Procrustes"), ("probe", "probe")]


def key_columns(layer: str) -> list[tuple[str, str, str, str]]:
    """The summary's columns; the representation ones at `layer`, named in their header."""
    return OUTPUT_KEY + [(metric, layer, "forget", f"{name} {layer} (forget)") for metric, name in REPRESENTATION_KEY]


def summary_layer(layers: list[str]) -> str:
    """The layer the summary shows: the last extracted one before the head (the penultimate layer of the
    model's default layers: fc for small_cnn, hidden2 for mlp, layer4 for resnet18)."""
    return layers[-1]


def _one(df: pd.DataFrame, **eq) -> float | None:
    for k, v in eq.items():
        df = df[df[k] == v]
    return float(df.value.iloc[0]) if len(df) else None


def summary_table(table: pd.DataFrame, retrain_ids: list[str], methods: list[str], layer: str,
                  judged: list[str] | None = None) -> pd.DataFrame:
    """One row per model judged (original and methods) plus the retrain band, as display strings; the
    representation columns at `layer` (summary_layer); judged: the row metrics the verdict judges
    (metrics.verdict.output + representation), for the evidence."""
    key = key_columns(layer)
    band = table[(table.model == "retrain") & (table.reference == "band")]
    aggregates = table[table.reference == "band"]
    acc = table[(table.metric == "accuracy") & (table.reference == "")]
    verdict = table[(table.metric == "verdict") & (table.layer == "")].set_index("model")["label"]
    layer_verdict = table[(table.metric == "verdict") & (table.layer != "")]

    def fmt(v):
        return "–" if v is None else f"{v:.3f}"

    rows = []
    for model in ["original", *methods]:
        lv = layer_verdict[layer_verdict.model == model]
        found = ", ".join(f"{la}: {lab}" for la, lab in zip(lv.layer, lv.label, strict=True) if lab != "inside") or "none"
        r = {"model": model, "verdict": verdict.get(model, ""), "where": found if len(lv) else "–",
             "strongest evidence": evidence(table, model, judged) or "–"}
        for role, col in ROLE_ACC:
            r[col] = fmt(_one(acc, model=model, role=role))
        for metric, at, role, col in key:
            r[col] = fmt(_one(aggregates, model=model, metric=metric, layer=at, role=role))
        rows.append(r)
    b = {"model": f"retrain band ({len(retrain_ids)} seeds)", "verdict": "", "where": "", "strongest evidence": ""}
    for metric, at, role, col in [("accuracy", "logits", r, c) for r, c in ROLE_ACC] + key:
        lo = _one(band, metric=f"{metric}:low", layer=at, role=role)
        hi = _one(band, metric=f"{metric}:high", layer=at, role=role)
        b[col] = f"[{lo:.3f}, {hi:.3f}]" if lo is not None else "–"
    rows.append(b)
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines)


def report_markdown(summary: pd.DataFrame, header: dict, above: str = "", problems: dict[str, str] | None = None,
                    below: str = "") -> str:
    """report.md: the header, `above` (the conclusion and the instrument check), the verdict table, the
    failed or skipped models (model -> why), then `below` (findings, recovery, tuning, policy, identity)."""
    meta_md = "\n".join(f"- **{k}**: {v}" for k, v in header.items())
    md = f"# Unlearning audit\n\n{meta_md}\n\n{above}## Verdicts\n\n{to_markdown(summary)}\n"
    return md + problems_markdown(problems or {}) + below


def problems_markdown(problems: dict[str, str]) -> str:
    if not problems:
        return ""
    return "\n## Failed or skipped\n\n" + "".join(f"- **{m}**: {why}\n" for m, why in problems.items())


def problems_html(problems: dict[str, str]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li><b>{html.escape(m)}</b>: {html.escape(why)}</li>" for m, why in problems.items())
    return f"<h2 id='problems'>Failed or skipped</h2><ul>{items}</ul>"
