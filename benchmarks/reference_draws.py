"""The false-alarm rate and the power of the verdict over many draws of the retrain references, at several K.

benchmarks/false_alarm.py judges 100 held-out seeds against one set of references (seeds 1..K). Its 100
trials share that one draw, so its rate is the rate *given* those references; alpha is declared over both
(an audit draws its references, then judges). Retrained models fall into modes (docs/verdict.md), so the
rate given one draw ranges from 0 to above 0.3. This benchmark measures the rate over draws:

1. `compute`: every judged metric between every two seeds of a seed set (CKA and Procrustes pairs; own
   values for accuracy, MIA-efficacy and the probe), and of the positive controls against every seed, once.
   `--part i/n` splits the references over processes.
2. `judge`: for K in --ks, DRAWS times: K references drawn from the set (numpy seed DRAW_SEED), every
   other seed of the set and every control judged by the verdict rule of muaudit/metrics/band.py (the
   function the pipeline runs). Prints per K the false alarms pooled over the draws (`false alarms: X/N`),
   the range of the per-draw rates, and the share of each control flagged and flagged `output-only`.

A judged metric's value depends only on the model and the reference it is paired with, so judging with a
subset of the pairs gives exactly what an audit with those references computes.

The seed sets were fixed here before their first run: on set "a" (1-10 and 1001-1100), class scenario,
metrics.verdict.tail_df was chosen; set "b" (1101-1200) and the random scenario check that choice on
seeds and models it was not chosen on.

    python benchmarks/pool.py --work /tmp/pc --scenario class retrain:1-10 retrain:1001-1200 graded0:2001-2020
    python benchmarks/reference_draws.py compute --work /tmp/pc --scenario class --seed-set b --part 1/2  # and 2/2
    python benchmarks/reference_draws.py judge --work /tmp/pc --scenario class --seed-set b
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.false_alarm import judged_config  # noqa: E402
from benchmarks.pool import Pool, with_scenario  # noqa: E402
from muaudit.config import load_params  # noqa: E402
from muaudit.io import atomic_write_json  # noqa: E402
from muaudit.metrics import calibration, stats  # noqa: E402
from muaudit.metrics.band import band_and_verdicts  # noqa: E402
from muaudit.metrics.compute import compute_metrics  # noqa: E402
from muaudit.metrics.context import ParquetStore  # noqa: E402
from muaudit.runner.artifacts import read_sidecars  # noqa: E402
from muaudit.runtime import configure  # noqa: E402

SEED_SETS = {"a": list(range(1, 11)) + list(range(1001, 1101)), "b": list(range(1101, 1201))}
CONTROLS = {"head_only": (0, list(range(2001, 2021))), "graded_3": (3, list(range(2001, 2021)))}  # (body epochs, seeds)
DRAWS = 40
DRAW_SEED = 0
KS = (3, 5, 10, 20)


def rows_path(work: Path, scenario: str, seed_set: str, part: str) -> Path:
    return work / f"pairs_{scenario}_{seed_set}_{part.replace('/', 'of')}.parquet"


def compute(a, params) -> None:
    pool = Pool(params, a.work)
    seeds = [pool.retrain(s) for s in SEED_SETS[a.seed_set]]
    controls = [pool.graded(CONTROLS[c][0], s) for c in a.controls for s in CONTROLS[c][1]]
    pool.original()
    i, n = (int(x) for x in a.part.split("/"))
    refs = seeds[i - 1::n]
    start = time.perf_counter()
    table = compute_metrics(ParquetStore(pool.activations), read_sidecars(str(pool.models)), refs,
                            [m for m in seeds if m not in refs] + controls, judged_config(params), params.split.scenario)
    table = table[table.reference != "band"]
    table.to_parquet(rows_path(Path(a.work), params.split.scenario, a.seed_set, a.part))
    print(f"part {a.part}: {len(seeds) + len(controls)} models x {len(refs)} references in {time.perf_counter() - start:.0f} s")


def load_rows(work: Path, scenario: str, seed_set: str) -> pd.DataFrame:
    parts = sorted(work.glob(f"pairs_{scenario}_{seed_set}_*.parquet"))
    if not parts:
        raise SystemExit(f"no pairs_{scenario}_{seed_set}_*.parquet in {work}: run `compute` first")
    return pd.concat([pd.read_parquet(p) for p in parts]).drop_duplicates(["model", "reference", "layer", "role", "metric"])


def judge(a, params) -> None:
    stats.effect_interval = lambda t, df, level=0.95: (float("nan"), float("nan"))  # not needed for labels; slow
    table = load_rows(Path(a.work), params.split.scenario, a.seed_set)
    seeds = [f"retrain_{s}" for s in SEED_SETS[a.seed_set]]
    by_reference: dict[str, list[dict]] = defaultdict(list)
    for r in table.to_dict("records"):
        by_reference[r["reference"] if r["reference"] in seeds else ""].append(r)
    present = set(table.model)
    controls = {c: [f"graded_{e}_{s}" for s in ss] for c, (e, ss) in CONTROLS.items()}
    controls = {c: ids for c, ids in controls.items() if all(m in present for m in ids)}
    cfg = judged_config(params)
    rng = np.random.default_rng(DRAW_SEED)
    measured: dict[str, dict] = {}
    for k in a.ks:
        flagged, got = [], defaultdict(list)
        for _ in range(a.draws):
            refs = sorted(rng.choice(seeds, size=k, replace=False))
            others = [m for m in seeds if m not in refs]
            judged = others + [m for ids in controls.values() for m in ids]
            rows = by_reference[""] + [r for ref in refs for r in by_reference[ref]]
            out = band_and_verdicts(rows, {m: "ok" for m in ["original", *refs, *judged]}, refs, cfg)
            label = {r["model"]: r["label"] for r in out if r["metric"] == "verdict" and r["layer"] == ""}
            flagged.append(sum(label[m] != "consistent" for m in others))
            for c, ids in controls.items():
                got[c] += [label[m] for m in ids]
        rates = [f / (len(seeds) - k) for f in flagged]
        alarms, n = sum(flagged), (len(seeds) - k) * len(flagged)
        lo, hi = calibration.clopper_pearson(alarms, n)
        print(f"scenario={params.split.scenario} seeds={a.seed_set} K={k} alpha={cfg.verdict.alpha} "
              f"tail_df={cfg.verdict.tail_df}: false alarms: {alarms}/{n} over {len(rates)} reference draws "
              f"(rate {alarms / n:.3f}, pooled 95% CP {lo:.3f}-{hi:.3f}, too narrow: the trials of a draw share it; "
              f"per draw {min(rates):.3f}-{max(rates):.3f}, median {np.median(rates):.3f})", flush=True)
        measured[str(k)] = {"seed_set": a.seed_set, "seeds": len(seeds), "draws": len(rates), "false_alarms": alarms,
                            "n": n, "per_draw_max": round(max(rates), 4), "tail_df": cfg.verdict.tail_df}
        for c, labels in got.items():
            print(f"  {c}: flagged {sum(x != 'consistent' for x in labels) / len(labels):.3f}, output-only "
                  f"{sum(x == 'output-only' for x in labels) / len(labels):.3f} "
                  f"({len(controls[c])} seeds x {len(rates)} draws)", flush=True)
    if a.write_calibration:
        record = calibration.load()
        record.setdefault(params.split.scenario, {}).setdefault("over_draws", {}).update(measured)
        atomic_write_json(calibration.FILE, record)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["compute", "judge"])
    ap.add_argument("--work", required=True)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--scenario", choices=["class", "random"], default="class")
    ap.add_argument("--seed-set", choices=list(SEED_SETS), default="b")
    ap.add_argument("--controls", nargs="*", choices=list(CONTROLS), default=[], help="compute: also judge these controls")
    ap.add_argument("--part", default="1/1")
    ap.add_argument("--ks", type=int, nargs="+", default=list(KS))
    ap.add_argument("--draws", type=int, default=DRAWS)
    ap.add_argument("--write-calibration", action="store_true", help="judge: record each K in muaudit/metrics/calibration.json")
    a = ap.parse_args()
    params = with_scenario(load_params(a.params), a.scenario)
    configure(params.runtime.threads, "cpu", params.runtime.deterministic)
    (compute if a.step == "compute" else judge)(a, params)


if __name__ == "__main__":
    main()
