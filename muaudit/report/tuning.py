"""The report's tuning section: per tuned method, the chosen setting, its output gap on the tuning split and
whether it reached the output band; without the band, the representation verdict is only conditional."""

from __future__ import annotations

import html

import pandas as pd

UNABLE = "unable to reach the output band"


def chosen_settings(tune: dict[str, dict], methods: list[str]) -> dict[str, dict]:
    """The tuned methods' chosen settings (tune: method -> data/tune/<method>.json), in the order of
    unlearn.methods."""
    return {m: tune[m] for m in methods if tune.get(m, {}).get("tuned")}


def representation(table: pd.DataFrame, method: str) -> str:
    """'inside', or what the verdict found at each layer that is not (residue, drift, unmeasured), from the
    per-layer verdict rows."""
    rows = table[(table.metric == "verdict") & (table.model == method) & ~table.layer.isin(["", "output"])]
    if rows.empty:
        return "not judged"
    found = rows[rows.label != "inside"].sort_values("layer")
    return ", ".join(f"{la}: {lab}" for la, lab in zip(found.layer, found.label, strict=True)) or "inside"


def _setting(s: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(s.items()))


def tuning_rows(chosen: dict[str, dict], table: pd.DataFrame) -> list[list[str]]:
    rows = []
    for m, c in chosen.items():
        reached = bool(c["reached_band"])
        rep = representation(table, m)
        rows.append([m, _setting(c["setting"]), f"{c['gap']:.3f}",
                     "reached" if reached else f"{UNABLE} (best gap {c['gap']:.3f})",
                     rep if reached else f"conditional: {rep}"])
    return rows


HEAD = ["method", "chosen setting", "output gap", "output band", "representation"]


def _intro(chosen: dict[str, dict]) -> str:
    any_c = next(iter(chosen.values()))
    return (f"Each method was tuned with {any_c['trials']} trials (Optuna TPE, sampler seed "
            f"{any_c['sampler']['seed']}) for the setting closest to retraining at the output on the tuning "
            "split, which no metric above uses (docs/tuning.md). Output gap: mean |value − retrain mean| of "
            "forget, retain and test accuracy and MIA-efficacy. A method that did not reach the retrain band "
            "does not forget at the output on this data within the budget, so its representation verdict is "
            "conditional.")


def tuning_markdown(chosen: dict[str, dict], table: pd.DataFrame) -> str:
    if not chosen:
        return ""
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(r) + " |" for r in tuning_rows(chosen, table)]
    return "\n## Tuning\n\n" + _intro(chosen) + "\n\n" + "\n".join(lines) + "\n"


def tuning_html(chosen: dict[str, dict], table: pd.DataFrame) -> str:
    if not chosen:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in HEAD)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>"
                   for r in tuning_rows(chosen, table))
    return (f"<h2>Tuning</h2><p>{html.escape(_intro(chosen))}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
