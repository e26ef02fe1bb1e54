"""Power of the verdict rule: detection rate against a residue you can dial, for K = 3, 5 and 10 retrain seeds.

Graded positive controls (benchmarks/pool.py, `graded_<t>_<seed>`): the original's weights with a fresh
head, the whole network trained on retain for t epochs, then the head alone as head_only does. t = 0 is
head_only (the original's representation kept exactly); the residue shrinks as t grows. Each grade is
built for the 20 control seeds CONTROL_SEEDS, fixed here before any run. The references are retrain_1..K
of the same cache; the held-out seeds of benchmarks/false_alarm.py already in the cache are judged too,
to show the false-alarm rate at each K.

    nice -n 10 python benchmarks/power.py --work /tmp/pool_class --scenario class

Prints one markdown table: K, grade, n, share flagged (any label but consistent), share `output-only`, the
count of each label, and the median effect of CKA on the forget set at the last judged layer (NaN effects
are counted, not hidden).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.false_alarm import SEEDS, judged_config, verdicts  # noqa: E402
from benchmarks.pool import Pool, with_scenario  # noqa: E402
from muaudit.config import load_params  # noqa: E402
from muaudit.metrics import calibration  # noqa: E402
from muaudit.runtime import configure  # noqa: E402

CONTROL_SEEDS = list(range(2001, 2021))
GRADES = (0, 1, 3, 10)
KS = (3, 5, 10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--scenario", choices=["class", "random"], default="class")
    ap.add_argument("--ks", type=int, nargs="+", default=list(KS))
    ap.add_argument("--grades", type=int, nargs="+", default=list(GRADES))
    ap.add_argument("--available", action="store_true", help="only models already in the cache")
    a = ap.parse_args()
    params = with_scenario(load_params(a.params), a.scenario)
    configure(params.runtime.threads, "cpu", params.runtime.deterministic)
    pool = Pool(params, a.work)
    pool.original()

    def have(model_id: str) -> bool:
        return (pool.models / model_id / "model.json").exists()

    # pool.graded trains a missing model, and extracts a cached model's missing activations (a killed run
    # can leave a model without them; judged as is, it would count as a `failed`, i.e. flagged, control)
    graded = {t: [pool.graded(t, s) for s in CONTROL_SEEDS if not a.available or have(f"graded_{t}_{s}")]
              for t in a.grades}
    heldout = [f"retrain_{s}" for s in SEEDS if have(f"retrain_{s}")]
    alpha = judged_config(params).verdict.alpha
    print(f"scenario={a.scenario} alpha={alpha}")
    print("| K | model | n | flagged | output-only | labels | median CKA effect (forget) |")
    print("|---|---|---|---|---|---|---|")
    for k in a.ks:
        refs = [pool.retrain(s) for s in range(1, k + 1)]
        judged = [m for ms in graded.values() for m in ms] + [m for m in heldout if m not in refs]
        table, verdict = verdicts(pool, params, refs, judged)
        cka = table[(table.metric == "cka") & (table.role == "forget") & (table.reference == "band")
                    & (table.model != "retrain")]
        layer = sorted(set(cka.layer))[-1] if len(cka) else ""
        effect = cka[cka.layer == layer].set_index("model").effect
        for name, models in [*((f"graded t={t}" + (" (head_only)" if t == 0 else ""), ms) for t, ms in graded.items()),
                             ("held-out retrain", [m for m in heldout if m not in refs])]:
            if not models:
                continue
            flagged = sum(verdict[m] != "consistent" for m in models)
            only = sum(verdict[m] == "output-only" for m in models)
            lo, hi = calibration.clopper_pearson(flagged, len(models))
            effects = np.array([effect.get(m, np.nan) for m in models])
            med = float(np.nanmedian(effects)) if np.isfinite(effects).any() else float("nan")
            missing = f", {int(np.isnan(effects).sum())} NaN" if np.isnan(effects).any() else ""
            labels = ", ".join(f"{lab} {n}" for lab, n in Counter(verdict[m] for m in models).most_common())
            print(f"| {k} | {name} | {len(models)} | {flagged}/{len(models)} ({lo:.2f}-{hi:.2f}) | "
                  f"{only}/{len(models)} | {labels} | {med:.1f} ({layer}{missing}) |", flush=True)


if __name__ == "__main__":
    main()
