"""The verdict: each judged model against the retrain seeds, with a declared family-wise false-alarm rate.

The method and its reasoning are in docs/verdict.md; the statistics are in muaudit/metrics/stats.py.

Quantities. A quantity is one (metric, layer, role). Its test scale, its floor and its judged side are
declared in the metric registry (`Judge`), so a new metric needs no change here.

Equal terms. Each judged model m is compared with the K retrain seeds as one set of K + 1 models, every
one of them averaged over the K others:
- pairwise metrics (rows whose reference is a retrain seed: CKA, Procrustes, agreement, phenomena):
  m's value is the mean over its K pairs (m, r); retrain seed i's value is the mean over its K − 1 pairs
  with the other seeds plus its pair with m (the row (m, i) stands in for (i, m)). Under the model
  s_xy = μ + u_x + u_y + e_xy the K + 1 values are "common term + i.i.d.", so the predictive t test is
  exact; averaging m over K seeds and a seed over K − 1 (the former rule) roughly doubles false alarms.
  Pairs are averaged on the test scale (Fisher z for CKA).
- other metrics (own values such as accuracy; gaps to the retrain mean): each model's value as the metric
  computed it. Gaps the metric computed leave-one-out for a seed (over K − 1) and over K for a judged model
  are slightly smaller for the judged model, which makes their test conservative.

Test. Predictive t test of m's value against the K retrain values, on the declared scale, one-sided on the
declared side, under seeds with Student-t(`verdict.tail_df`) tails (see stats);
effect = (v − mean) / s with a 95% interval; stats.predictive_test.

Families and labels. Output family: quantities of `verdict.output` metrics. Per layer, a residue family
(quantities of `verdict.representation` metrics on the forget set, and role "" quantities) and a drift
family (retain and test). Bonferroni within a family, Holm across the families of one model: the
probability that a model behaving like a retrained one gets any label but `consistent` is at most
`verdict.alpha`.
- `unmeasured`: a judged quantity is NaN (fails closed; never inside);
- output family rejected: `not-forgotten` when a flagged output quantity says the forget set is still
  remembered (forget accuracy higher, MIA-efficacy lower than retraining), else `over-forgotten`;
- else a residue family rejected: `output-only` (output forgotten, a forget-set representation residue);
- else a drift family rejected: `drifted` (retain/test representations differ from retraining);
- else `consistent`.
BH q-values across the judged models are reported (rows `verdict_q`), with each model's family-wise
p-value (rows `verdict_p`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from muaudit.metrics import stats
from muaudit.metrics.registry import Judge, judges
from muaudit.metrics.table import row

RESIDUE_ROLES = ("forget", "")


@dataclass
class _Quantity:
    pairs: dict[tuple[str, str], float] = field(default_factory=dict)  # (model, retrain seed) -> raw value
    own: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # model -> raw values

    @property
    def pairwise(self) -> bool:
        return bool(self.pairs)


@dataclass(frozen=True)
class Test:
    """One judged quantity of one model."""

    key: tuple[str, str, str]
    value: float
    effect: float
    ci_low: float
    ci_high: float
    p: float
    side: str


def judged_side(judge: Judge, role: str) -> str:
    """On retain/test, a metric that declares how the forget set is forgotten is judged only that way (damage)."""
    return judge.forgets if judge.forgets and role != "forget" else judge.side


def collect(rows: list[dict], retrain_ids: list[str]) -> dict[tuple, _Quantity]:
    retrains = set(retrain_ids)
    out: dict[tuple, _Quantity] = defaultdict(_Quantity)
    for r in rows:
        if r["reference"] == r["model"] or r["reference"] == "band":
            continue
        q = out[(r["metric"], r["layer"], r["role"])]
        if r["reference"] in retrains:
            q.pairs[(r["model"], r["reference"])] = float(r["value"])
        else:
            q.own[r["model"]].append(float(r["value"]))
    return out


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values and all(math.isfinite(v) for v in values) else math.nan


def retrain_values(q: _Quantity, seeds: list[str], scale: str) -> tuple[np.ndarray, np.ndarray]:
    """(raw, test scale) values of the retrain seeds among themselves (a pairwise seed over the K − 1 others)."""
    if not q.pairwise:
        raw = np.array([_mean(q.own[s]) for s in seeds])
        return raw, stats.transform(raw, scale)
    raw, z = [], []
    for s in seeds:
        vals = np.array([q.pairs.get((s, o), math.nan) for o in seeds if o != s])
        raw.append(float(vals.mean()))
        z.append(float(stats.transform(vals, scale).mean()))
    return np.array(raw), np.array(z)


def equal_terms(q: _Quantity, model: str, seeds: list[str], scale: str) -> tuple[float, float, np.ndarray]:
    """(m's raw value, m's test-scale value, the K retrain test-scale values) of the K + 1 set."""
    if not q.pairwise:
        raw = _mean(q.own.get(model, []))
        return raw, float(stats.transform(raw, scale)), retrain_values(q, seeds, scale)[1]
    mine = np.array([q.pairs.get((model, s), math.nan) for s in seeds])
    mine_z = stats.transform(mine, scale)
    ref = []
    for i, s in enumerate(seeds):
        others = stats.transform([q.pairs.get((s, o), math.nan) for o in seeds if o != s], scale)
        ref.append(float((others.sum() + mine_z[i]) / len(seeds)))
    return float(mine.mean()), float(mine_z.mean()), np.array(ref)


def judge_quantity(q: _Quantity, model: str, seeds: list[str], j: Judge, role: str,
                   tail_df: float | None) -> tuple[float, tuple]:
    raw, v_z, ref_z = equal_terms(q, model, seeds, j.scale)
    center = float(stats.inverse(np.mean(ref_z), j.scale)) if np.all(np.isfinite(ref_z)) else math.nan
    floor_z = j.floor * stats.slope(center, j.scale) if math.isfinite(center) else 0.0
    return raw, stats.predictive_test(ref_z, v_z, floor_z, judged_side(j, role), tail_df)


def band_and_verdicts(rows: list[dict], statuses: dict[str, str], retrain_ids: list[str], cfg,
                      sides: dict[str, str] | None = None) -> list[dict]:
    """Band rows, judged aggregates with effect/ci/p, and verdict rows. `sides` is unused (kept for callers;
    every declaration comes from the registry's `Judge`s)."""
    vcfg = cfg.verdict
    declared = judges()
    quantities = collect(rows, retrain_ids)
    judged_metrics = set(vcfg.output) | set(vcfg.representation)
    n_judged = max(1, sum(k[0] in judged_metrics for k in quantities))
    out: list[dict] = []
    tests: dict[str, dict[tuple, Test]] = defaultdict(dict)
    for key, q in sorted(quantities.items()):
        metric, layer, role = key
        j = declared.get(metric, Judge())
        models = {m for m, _ in q.pairs} | set(q.own)
        seeds = [s for s in retrain_ids if s in models]
        if len(seeds) < 2:
            continue
        out += band_rows(q, seeds, j, key, vcfg.alpha / (n_judged if metric in judged_metrics else 1),
                         vcfg.tail_df)
        for m in sorted(models - set(retrain_ids)):
            raw, (effect, lo, hi, p) = judge_quantity(q, m, seeds, j, role, vcfg.tail_df)
            out.append(row(m, "band", layer, role, metric, raw, effect=effect, ci_low=lo, ci_high=hi, p_value=p))
            if metric in judged_metrics:
                tests[m][key] = Test(key, raw, effect, lo, hi, p, judged_side(j, role))
    verdicts = {m: verdict(tests.get(m, {}), vcfg, declared) for m in statuses if m not in retrain_ids}
    q_values = stats.benjamini_hochberg({m: v.p for m, v in verdicts.items() if statuses[m] == "ok"})
    for model, status in statuses.items():
        if model in retrain_ids:
            continue
        v = verdicts[model]
        if status != "ok":
            out.append(row(model, "band", "", "", "verdict", math.nan, status if status in ("failed", "skipped") else "failed"))
            continue
        out.append(row(model, "band", "", "", "verdict", math.nan, v.label))
        out.append(row(model, "band", "", "", "verdict_p", v.p))
        out.append(row(model, "band", "", "", "verdict_q", q_values.get(model, math.nan)))
        out += [row(model, "band", layer, "", "verdict", math.nan, label) for layer, label in v.parts.items()]
    return out


def band_rows(q: _Quantity, seeds: list[str], j: Judge, key: tuple, level: float,
              tail_df: float | None) -> list[dict]:
    """The retrain seeds among themselves: mean and sd (metric units), and the interval a judged value must
    fall in to pass this quantity alone at `level` (drawn in the report; the verdict uses the tests)."""
    metric, layer, role = key
    raw, z = retrain_values(q, seeds, j.scale)
    k = len(seeds)
    if np.all(np.isfinite(z)):

        center = float(stats.inverse(z.mean(), j.scale))
        s = stats.spread(z, j.floor * stats.slope(center, j.scale))
        half = stats.predictive_half_width(level, k, tail_df) * s
        lo, hi = (float(stats.inverse(z.mean() - half, j.scale)), float(stats.inverse(z.mean() + half, j.scale)))
        mean, sd = float(raw.mean()), float(raw.std(ddof=1))
    else:
        lo = hi = mean = sd = math.nan
    return [row("retrain", "band", layer, role, f"{metric}:{stat}", v)
            for stat, v in (("mean", mean), ("sd", sd), ("low", lo), ("high", hi))]


@dataclass(frozen=True)
class Verdict:
    label: str
    p: float  # the model's family-wise adjusted p-value (smallest Holm-adjusted family p)
    parts: dict[str, str]  # "output" and each layer -> its word


def families(tests: dict[tuple, Test], vcfg) -> dict[str, list[Test]]:
    fam: dict[str, list[Test]] = defaultdict(list)
    for key, t in sorted(tests.items()):
        metric, layer, role = key
        if metric in vcfg.output:
            fam["output"].append(t)
        elif metric in vcfg.representation:
            fam[f"{'residue' if role in RESIDUE_ROLES else 'drift'}:{layer}"].append(t)
    return fam


def verdict(tests: dict[tuple, Test], vcfg, declared: dict[str, Judge]) -> Verdict:
    fam = families(tests, vcfg)
    if not fam:
        return Verdict("unmeasured", math.nan, {})
    adjusted = stats.holm({name: stats.bonferroni([t.p for t in ts]) for name, ts in fam.items()})
    rejected = {name for name, p in adjusted.items() if p <= vcfg.alpha}
    unmeasured = {name for name, p in adjusted.items() if math.isnan(p)}
    parts: dict[str, str] = {}
    if "output" in fam:
        parts["output"] = "unmeasured" if "output" in unmeasured else ("outside" if "output" in rejected else "inside")
    for layer in sorted({name.split(":", 1)[1] for name in fam if ":" in name}):
        names = [f"residue:{layer}", f"drift:{layer}"]
        if any(n in unmeasured for n in names):
            parts[layer] = "unmeasured"
            continue
        found = [n.split(":")[0] for n in names if n in rejected]
        parts[layer] = ", ".join(found) if found else "inside"
    finite = [p for p in adjusted.values() if not math.isnan(p)]
    p_model = math.nan if unmeasured else min(finite)
    if unmeasured:
        label = "unmeasured"
    elif "output" in rejected:
        label = output_label(fam["output"], vcfg.alpha, declared)
    elif any(n.startswith("residue:") for n in rejected):
        label = "output-only"
    elif any(n.startswith("drift:") for n in rejected):
        label = "drifted"
    else:
        label = "consistent"
    return Verdict(label, p_model, parts)


def output_label(output: list[Test], alpha: float, declared: dict[str, Judge]) -> str:
    """not-forgotten when a flagged output quantity says the forget set is still remembered, else over-forgotten."""
    flagged = [t for t in output if len(output) * t.p <= alpha]
    for t in flagged:
        metric, _, role = t.key
        forgets = declared.get(metric, Judge()).forgets
        if forgets is None or (role == "forget" and (t.effect > 0) == (forgets == "low")):
            return "not-forgotten"
    return "over-forgotten"
