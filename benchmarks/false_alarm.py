"""False-alarm rate of the band/verdict rule: retrain extra models with held-out seeds and judge them.

A model retrained from scratch on retain with a seed outside the band is correct by definition, so every
one of them should come out `consistent`; the share that does not is the rule's false-alarm rate.

Uses the current params.yaml and the pipeline's outputs in data/ (run `dvc repro` first, in the scenario
you want to measure). Extra models go to --work (reused when present); the store seen by the metrics is
--work/activations with links to data/activations/model=* plus the extra models, so data/ is never written.

    python benchmarks/false_alarm.py --seeds 101 102 103 104 105 106 107 108 --work /tmp/fa_class

Also re-judges the same rows under a small grid of verdict settings (band_widen x layer_min_outside),
with the methods alongside, so the tuning trade-off is visible.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from muaudit.config import load_params
from muaudit.extraction import extract, resolve_layers
from muaudit.metrics import registry
from muaudit.metrics.band import band_and_verdicts
from muaudit.metrics.compute import compute_metrics
from muaudit.models import build_model, load_model
from muaudit.runtime import configure
from muaudit.store import write_model_activations
from tasks.common import load_split
from tasks.train import fit


def link_all(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        if not (dst / p.name).exists():
            (dst / p.name).symlink_to(p.resolve())


def make_extra(params, seed: int, work: Path, split_dir: str) -> str:
    model_id = f"retrain_x{seed}"
    model_dir, act_dir = work / "models" / model_id, work / "activations" / f"model={model_id}"
    if not (model_dir / "model.json").exists():
        fit(params.model, params.train, params.runtime, split_dir, str(model_dir), ("retain",), seed)
    if not act_dir.exists():
        data = load_split(split_dir)
        net, _ = load_model(build_model(params.model.name, data.input_shape, data.num_classes), model_dir)
        acts = extract(net, torch.from_numpy(data.x), resolve_layers(net, params.extract.layers), params.extract.batch_size)
        write_model_activations(act_dir, data.sample_ids, data.roles, data.y, acts)
    return model_id


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(101, 109)))
    ap.add_argument("--work", required=True)
    ap.add_argument("--data", default="data")
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args()
    params = load_params(a.params)
    configure(params.runtime.threads, params.runtime.device, params.runtime.deterministic)
    work, data = Path(a.work), Path(a.data)
    link_all(data / "activations", work / "activations")
    link_all(data / "models", work / "models")
    start = time.perf_counter()
    extras = [make_extra(params, s, work, str(data / "split")) for s in a.seeds]
    print(f"extra models ready in {time.perf_counter() - start:.0f} s")
    retrain_ids = [f"retrain_{s}" for s in params.retrain.seeds]
    methods = list(params.unlearn.methods)
    cfg = params.metrics.parsed()
    start = time.perf_counter()
    table = compute_metrics(str(work / "activations"), str(work / "models"), retrain_ids, [*extras, *methods], cfg,
                            params.split.scenario)
    print(f"metrics for {len(extras) + len(methods) + len(retrain_ids) + 1} models in {time.perf_counter() - start:.1f} s")
    table.to_parquet(work / "metrics.parquet")  # for inspection
    verdict = table[(table.metric == "verdict") & (table.layer == "")].set_index("model").label
    alarms = [m for m in extras if verdict[m] != "consistent"]
    print(f"\nscenario={params.split.scenario} current rule: {len(alarms)}/{len(extras)} false alarms "
          f"(rate {len(alarms) / len(extras):.3f}); " + ", ".join(f"{m}={verdict[m]}" for m in alarms))
    print("methods: " + ", ".join(f"{m}={verdict.get(m, '?')}" for m in ["original", *methods]))
    _outside_detail(table, extras)
    _grid(table, cfg, retrain_ids, [*extras, "original", *methods], extras)


def _outside_detail(table, extras) -> None:
    lay = table[(table.metric == "verdict") & (table.layer != "") & table.model.isin(extras)]
    bad = lay[lay.label == "outside"]
    if len(bad):
        print("outside layers of extra seeds: " + ", ".join(f"{r.model}:{r.layer}" for r in bad.itertuples()))


def _grid(table, cfg, retrain_ids, judged, extras) -> None:
    raw = table[table.reference != "band"].to_dict("records")
    statuses = {m: "ok" for m in judged}
    print("\nband_widen layer_min_outside | false alarms | " + " ".join(judged[len(extras):]))
    for widen in (0.5, 1.0, 1.5, 2.0):
        for k in (1, 2, 3):
            c = cfg.model_copy(update={"band_widen": widen, "verdict": cfg.verdict.model_copy(update={"layer_min_outside": k})})
            rows = band_and_verdicts(raw, statuses, retrain_ids, c, registry.sides())
            v = {r["model"]: r["label"] for r in rows if r["metric"] == "verdict" and r["layer"] == ""}
            fa = int(np.sum([v[m] != "consistent" for m in extras]))
            print(f"{widen:>10} {k:>17} | {fa}/{len(extras):<10} | " + " ".join(v[m] for m in judged[len(extras):]))


if __name__ == "__main__":
    main()
