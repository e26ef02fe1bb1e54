"""The audit policy judged on the metrics table: pass/fail and the reasons, per method."""

from __future__ import annotations

import pandas as pd

from muaudit.config import PolicyParams


def evaluate(table: pd.DataFrame, methods: list[str], policy: PolicyParams) -> dict[str, dict]:
    """{method: {"pass": bool, "reasons": [...]}}; a method without a verdict row fails."""
    verdicts = table[table.metric == "verdict"]
    allowed = set(policy.allowed_labels)
    outcome = {}
    for method in methods:
        rows = verdicts[verdicts.model == method].set_index("layer")["label"]
        reasons = []
        for layer in ["", *policy.layers]:
            label = rows.get(layer)
            where = f"layer {layer}" if layer else "overall"
            if label is None:
                reasons.append(f"{where}: no verdict")
            elif label not in allowed:
                reasons.append(f"{where}: {label} (allowed: {', '.join(sorted(allowed))})")
        if policy.max_avg_gap is not None:
            gap = table[(table.model == method) & (table.metric == "avg_gap") & (table.reference == "band")]
            if gap.empty:
                reasons.append("avg_gap: not measured")
            elif float(gap.value.iloc[0]) > policy.max_avg_gap:
                reasons.append(f"avg_gap: {float(gap.value.iloc[0]):.4f} > {policy.max_avg_gap}")
        outcome[method] = {"pass": not reasons, "reasons": reasons}
    return outcome
