"""The verdicts as data: one row per judged model with its strongest evidence (load_audit, verdicts.json)."""

from __future__ import annotations

import math

import pandas as pd

from muaudit.metrics.evidence import describe, ranked
from muaudit.metrics.registry import VerdictParams

BAND_STATS = ("mean", "sd", "low", "high")


def band_frame(metrics: pd.DataFrame) -> pd.DataFrame:
    """The retrain band, one row per quantity: metric, layer, role, mean, sd, low, high."""
    t = metrics
    rows = t[(t.model == "retrain") & (t.reference == "band") & t.metric.str.contains(":")]
    stat = rows.metric.str.rsplit(":", n=1)
    wide = (rows.assign(metric=stat.str[0], stat=stat.str[1])
            .pivot_table(index=["metric", "layer", "role"], columns="stat", values="value", aggfunc="first"))
    return wide.reindex(columns=[s for s in BAND_STATS if s in wide.columns]).reset_index().rename_axis(columns=None)


OUTPUT_LABELS = ("not-forgotten", "over-forgotten")  # verdicts decided at the output (muaudit.metrics.band)


def verdict_frame(metrics: pd.DataFrame, vcfg: VerdictParams | None = None) -> pd.DataFrame:
    """One row per judged model: verdict, output word, the layers not `inside` (residue, drift or
    unmeasured), and the strongest evidence among the quantities that decide this verdict (vcfg.output for an
    output verdict, vcfg.representation at the flagged layers otherwise): the smallest p-value of the verdict
    statistics (muaudit.metrics.evidence), its effect in retrain standard deviations, in plain words."""
    vcfg = vcfg or VerdictParams()
    t = metrics
    v = t[(t.metric == "verdict") & (t.reference == "band")]
    overall = v[v.layer == ""].set_index("model")["label"]
    rows = []
    for model, label in overall.items():
        mv = v[v.model == model]
        layers = sorted(mv[(mv.layer != "") & (mv.layer != "output") & (mv.label != "inside")].layer)
        output = mv[mv.layer == "output"].label
        if label in OUTPUT_LABELS:
            deciding = ranked(t, model, vcfg.output)
        elif layers:
            deciding = ranked(t, model, vcfg.representation)
            deciding = deciding[deciding.layer.isin(layers)]
        else:
            deciding = ranked(t, model, [*vcfg.output, *vcfg.representation])
        row = {"model": model, "verdict": label, "output": output.iloc[0] if len(output) else "",
               "layers_outside": layers, "evidence": "", "evidence_metric": "", "evidence_layer": "",
               "evidence_role": "", "evidence_effect": math.nan, "evidence_p": math.nan}
        if len(deciding):
            r = next(deciding.itertuples())
            row.update(evidence=describe(t, r), evidence_metric=r.metric, evidence_layer=r.layer,
                       evidence_role=r.role, evidence_effect=float(r.effect), evidence_p=float(r.p_value))
        rows.append(row)
    return pd.DataFrame(rows)


def verdicts_json(metrics: pd.DataFrame, vcfg: VerdictParams | None = None) -> list[dict]:
    """data/report/verdicts.json: the verdict frame as plain JSON records (no NaN: null)."""
    frame = verdict_frame(metrics, vcfg)
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
            for r in frame.to_dict("records")]
