"""False-alarm rate of the verdict rule: models retrained with held-out seeds, judged like any method.

A model retrained from scratch on retain with a seed outside `retrain.seeds` is correct by construction,
so each one labelled anything but `consistent` is a false alarm. The rule declares that this happens with
probability at most `metrics.verdict.alpha`; this benchmark measures it, with a Clopper-Pearson interval.

The held-out seeds are fixed here, before any run (SEEDS: 1001-1100, 100 seeds), never chosen after
looking at results. Models are trained once into a cache shared with benchmarks/power.py (benchmarks/pool.py).

Uses params.yaml and the pipeline's outputs in --data (split, the original, the retrain seeds; run
`muaudit run` first, in the scenario you want to measure, or point --data at a pool folder). Nothing in
--data is written: the references are linked into --work.

    nice -n 10 python benchmarks/false_alarm.py --work /tmp/pool_class
    nice -n 10 python benchmarks/false_alarm.py --work /tmp/pool_class --data /tmp/pool_class --scenario class \\
        --available --write-calibration

--available judges only the seeds of SEEDS already in the cache (a partial run; the count is printed).
--write-calibration records the result in muaudit/metrics/calibration.json, which the report quotes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pool import Pool, with_scenario  # noqa: E402
from muaudit.config import load_params  # noqa: E402
from muaudit.io import atomic_write_json  # noqa: E402
from muaudit.metrics import calibration, registry  # noqa: E402
from muaudit.metrics.compute import compute_metrics  # noqa: E402
from muaudit.metrics.context import ParquetStore  # noqa: E402
from muaudit.runner.artifacts import read_sidecars  # noqa: E402
from muaudit.runtime import configure  # noqa: E402

SEEDS = list(range(1001, 1101))  # fixed before the first run; see the module docstring


def link_all(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        if not (dst / p.name).exists():
            (dst / p.name).symlink_to(p.resolve())


def judged_config(params):
    """The metrics config with only the metrics the verdict reads enabled (the others do not change it)."""
    cfg = params.metrics.parsed()
    rows = set(cfg.verdict.output) | set(cfg.verdict.representation)
    enabled = [n for n in cfg.enabled if set(registry.get(n).judge) & rows]
    return cfg.model_copy(update={"enabled": enabled})


def verdicts(pool: Pool, params, retrain_ids: list[str], judged: list[str]):
    table = compute_metrics(ParquetStore(pool.activations), read_sidecars(str(pool.models)), retrain_ids,
                            judged, judged_config(params),
                            params.split.scenario)
    return table, table[(table.metric == "verdict") & (table.layer == "")].set_index("model").label


def prepare(a) -> tuple[object, Pool]:
    params = load_params(a.params)
    if a.scenario:
        params = with_scenario(params, a.scenario)
    configure(params.runtime.threads, "cpu", params.runtime.deterministic)
    work, data = Path(a.work), Path(a.data)
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "split").exists() and (data / "split").exists():
        (work / "split").symlink_to((data / "split").resolve())
    for sub in ("models", "activations"):
        if (data / sub).exists() and data.resolve() != work.resolve():
            link_all(data / sub, work / sub)
    return params, Pool(params, work)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    ap.add_argument("--work", required=True)
    ap.add_argument("--data", default="data")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--scenario", choices=["class", "random"], help="override split.scenario of --params")
    ap.add_argument("--available", action="store_true", help="judge only the seeds already in the cache")
    ap.add_argument("--write-calibration", action="store_true")
    a = ap.parse_args()
    params, pool = prepare(a)
    retrain_ids = [pool.retrain(s) for s in params.retrain.seeds]
    pool.original()
    start = time.perf_counter()
    seeds = [s for s in a.seeds if (pool.models / f"retrain_{s}" / "model.json").exists()] if a.available else a.seeds
    extras = [pool.retrain(s) for s in seeds]
    print(f"{len(extras)} held-out models ready in {time.perf_counter() - start:.0f} s", flush=True)
    start = time.perf_counter()
    table, verdict = verdicts(pool, params, retrain_ids, extras)
    print(f"metrics for {len(extras) + len(retrain_ids) + 1} models in {time.perf_counter() - start:.0f} s")
    table.to_parquet(pool.work / "false_alarm.parquet")  # for inspection
    vcfg = judged_config(params).verdict
    alpha = vcfg.alpha
    alarms = [m for m in extras if verdict[m] != "consistent"]
    lo, hi = calibration.clopper_pearson(len(alarms), len(extras))
    scenario, k = params.split.scenario, len(retrain_ids)
    print(f"scenario={scenario} K={k} alpha={alpha}: false alarms: {len(alarms)}/{len(extras)} "
          f"(rate {len(alarms) / len(extras):.3f}, 95% Clopper-Pearson {lo:.3f}-{hi:.3f}); "
          + ", ".join(f"{m}={verdict[m]}" for m in alarms))
    print(f"original: {verdict.get('original', '?')}")
    if a.write_calibration:
        record = calibration.load()
        record[scenario] = {**record.get(scenario, {}), "dataset": params.data.name, "model": params.model.name, "K": k,
                            "alpha": alpha, "tail_df": vcfg.tail_df,
                            "false_alarms": len(alarms), "n": len(extras), "ci_low": round(lo, 4), "ci_high": round(hi, 4),
                            "seeds": f"{min(seeds)}-{max(seeds)} ({len(seeds)} of {len(a.seeds)} fixed seeds)",
                            "retrain_seeds": list(params.retrain.seeds)}
        atomic_write_json(calibration.FILE, record)
        print(f"wrote {calibration.FILE}: {json.dumps(record[scenario])}")


if __name__ == "__main__":
    main()
