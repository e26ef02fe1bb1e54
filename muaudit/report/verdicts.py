"""The verdicts as data: one row per judged model with its strongest evidence (load_audit, verdicts.json)."""

from __future__ import annotations

import math

import pandas as pd

from muaudit.metrics.registry import VerdictParams, sides

BAND_STATS = ("mean", "sd", "low", "high")


def band_frame(metrics: pd.DataFrame) -> pd.DataFrame:
    """The retrain band, one row per quantity: metric, layer, role, mean, sd, low, high."""
    t = metrics
    rows = t[(t.model == "retrain") & (t.reference == "band") & t.metric.str.contains(":")]
    stat = rows.metric.str.rsplit(":", n=1)
    wide = (rows.assign(metric=stat.str[0], stat=stat.str[1])
            .pivot_table(index=["metric", "layer", "role"], columns="stat", values="value", aggfunc="first"))
    return wide.reindex(columns=[s for s in BAND_STATS if s in wide.columns]).reset_index().rename_axis(columns=None)


def effect(value: float, low: float, high: float) -> float:
    """How far value lies outside [low, high], in band widths (0 inside; signed: below is negative).

    A unitless size that ranks quantities of different metrics; the band's width is the retrain seeds'
    own variation plus its tolerance, so it is never zero for a judged quantity."""
    if not all(map(math.isfinite, (value, low, high))):
        return 0.0
    width = max(high - low, 1e-12)
    if value > high:
        return (value - high) / width
    if value < low:
        return (value - low) / width
    return 0.0


OUTPUT_LABELS = ("not-forgotten", "over-forgotten")  # verdicts decided at the output (muaudit.metrics.band)


def verdict_frame(metrics: pd.DataFrame, band: pd.DataFrame, vcfg: VerdictParams | None = None) -> pd.DataFrame:
    """One row per judged model: verdict, output, layers outside, and the strongest evidence: the quantity
    farthest outside its band among those that decide this verdict (vcfg.output for an output verdict, vcfg
    .representation at the layers outside for output-only, both otherwise)."""
    vcfg = vcfg or VerdictParams()

    t = metrics
    v = t[(t.metric == "verdict") & (t.reference == "band")]
    overall = v[v.layer == ""].set_index("model")["label"]
    judged = t[(t.reference == "band") & (t.model != "retrain") & (t.metric != "verdict")]
    limits = band.set_index(["metric", "layer", "role"])
    side = sides()
    rows = []
    for model, label in overall.items():
        mv = v[v.model == model]
        layers = sorted(mv[(mv.layer != "") & (mv.layer != "output") & (mv.label == "outside")].layer)
        output = mv[mv.layer == "output"].label
        best = None
        if label in OUTPUT_LABELS:
            deciding = judged[judged.metric.isin(vcfg.output)]
        elif layers:
            deciding = judged[judged.metric.isin(vcfg.representation) & judged.layer.isin(layers)]
        else:
            deciding = judged[judged.metric.isin([*vcfg.output, *vcfg.representation])]
        for r in deciding[deciding.model == model].itertuples(index=False):
            key = (r.metric, r.layer, r.role)
            if key not in limits.index:
                continue
            lo, hi = float(limits.loc[key, "low"]), float(limits.loc[key, "high"])
            e = effect(r.value, lo, hi)
            if (side.get(r.metric) == "low" and e > 0) or (side.get(r.metric) == "high" and e < 0):
                e = 0.0  # outside on the harmless side: not a discrepancy (muaudit.metrics.band.position)
            if best is None or abs(e) > abs(best[0]):
                best = (e, r, lo, hi)
        row = {"model": model, "verdict": label, "output": output.iloc[0] if len(output) else "",
               "layers_outside": layers, "evidence": "", "evidence_metric": "", "evidence_layer": "",
               "evidence_role": "", "evidence_effect": math.nan}
        if best is not None:
            e, r, lo, hi = best
            where = f"{r.metric} at {r.layer}" + (f" ({r.role})" if r.role else "")
            state = ("inside the band" if e == 0 else f"{abs(e):.1f} band widths {'above' if e > 0 else 'below'}")
            row.update(evidence=f"{where}: {r.value:.3f} vs band [{lo:.3f}, {hi:.3f}], {state}",
                       evidence_metric=r.metric, evidence_layer=r.layer, evidence_role=r.role, evidence_effect=e)
        rows.append(row)
    return pd.DataFrame(rows)


def verdicts_json(metrics: pd.DataFrame, vcfg: VerdictParams | None = None) -> list[dict]:
    """data/report/verdicts.json: the verdict frame as plain JSON records (no NaN: null)."""
    frame = verdict_frame(metrics, band_frame(metrics), vcfg)
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
            for r in frame.to_dict("records")]
