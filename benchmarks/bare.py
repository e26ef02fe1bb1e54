"""The bare computation of an audit: every stage body of `muaudit run` (tasks/<module>.py `run`), called in one
process in the stage table's order, with the data handed from one body to the next in memory: no
orchestration, no tracking, no files (the report's files are built, not written; the lineage is empty).

Usage: python benchmarks/bare.py [--params params.yaml] [--table out.parquet]   (from the repository root)
Prints one JSON line: wall time per stage module (summed over its runs), imports, and the total.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--table", help="also write the metrics table here (Parquet), to compare with the pipeline's")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    import numpy as np

    import tasks.attack
    import tasks.extract
    import tasks.metrics
    import tasks.report
    import tasks.retrain
    import tasks.split
    import tasks.train
    import tasks.tune
    import tasks.tune_reference
    import tasks.unlearn
    from muaudit.config import load_params
    from muaudit.data import get_dataset
    from muaudit.data.split import forget_fingerprint, split_data
    from muaudit.lineage.identity import make_identity
    from muaudit.metrics.context import ArrayStore
    from muaudit.runtime import configure
    from muaudit.training import TrainingHooks

    times: dict[str, float] = {"imports": time.perf_counter() - t0}
    p = load_params(args.params)
    configure(p.runtime.threads, p.runtime.device, p.runtime.deterministic)
    hooks = TrainingHooks()

    def timed(name: str, body, *a, **kw):
        start = time.perf_counter()
        result = body(p, hooks, *a, **kw)
        times[name] = times.get(name, 0.0) + time.perf_counter() - start
        return result

    d = p.data
    new = timed("split", lambda _p, _h: tasks.split.run(p, hooks, get_dataset(
        d.name, d.path, label_column=d.label_column, id_column=d.id_column)).output)
    data = split_data(new)
    models = {"original": timed("train", tasks.train.run, split=data).output}
    retrain_ids = [f"retrain_{seed}" for seed in p.retrain.seeds]
    for seed, name in zip(p.retrain.seeds, retrain_ids, strict=True):
        models[name] = timed("retrain", tasks.retrain.run, data, seed).output
    reference = {name: timed("tune_reference", tasks.tune_reference.run, models[name], data).output
                 for name in retrain_ids}
    # each stage of the pipeline loads its own copy of the original from disk
    chosen = {m: timed("tune", tasks.tune.run, data, copy.deepcopy(models["original"]), reference, m).output
              for m in p.unlearn.methods}
    for m in p.unlearn.methods:
        models[m] = timed("unlearn", tasks.unlearn.run, data, copy.deepcopy(models["original"]), m, chosen[m]).output
        for seed in p.unlearn.extra_seeds:
            models[f"{m}_s{seed}"] = timed("unlearn", tasks.unlearn.run, data, copy.deepcopy(models["original"]), m,
                                           chosen[m], seed).output

    acts: dict[str, dict[str, np.ndarray]] = {}
    rows = None
    for name, model in models.items():
        start = time.perf_counter()
        out = tasks.extract.run(p, hooks, model, data).output
        batches = list(out.batches)  # the extraction runs as the batches are drawn, as the writer draws them
        if batches:
            rows = [np.concatenate([b[i] for b in batches]) for i in range(3)]
            # float32, as the store keeps them (some layers are pooled in float64)
            acts[name] = {layer: np.concatenate([b[3][layer] for b in batches]).astype(np.float32)
                          for layer in batches[0][3]}
        times["extract"] = times.get("extract", 0.0) + time.perf_counter() - start
    attacks = {name: timed("attack", tasks.attack.run, model, data).output for name, model in models.items()}

    store = ArrayStore(*rows, acts)
    sidecars = {name: model.meta for name, model in models.items()}
    table = timed("metrics", tasks.metrics.run, store, sidecars, attacks).output
    summary = {**data.info, "forget_fingerprint": forget_fingerprint(data.sample_ids, data.roles)}
    lineage = {"code_commit": "", "artifacts": [], "stage_runs": {}, "input_hashes": {},
               "identity": make_identity(Path(args.params).parent, p.model_dump(), "", [])}
    timed("report", tasks.report.run, table, summary, sidecars, store, lineage, chosen)
    if args.table:
        table.to_parquet(args.table)
    times["total"] = time.perf_counter() - t0
    return times


if __name__ == "__main__":
    print(json.dumps(main()))
