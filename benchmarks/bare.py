"""The bare computation of an audit: the same trainings, extractions and metrics as `muaudit run`, in one
process, data kept in memory, no orchestration, no tracking, no serialization (and no report).

Usage: python benchmarks/bare.py [--params params.yaml] [--table out.parquet]   (from the repository root)
Prints one JSON line: wall time per phase and in total.
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
    import torch

    from muaudit.attacks.recovery import run_attacks
    from muaudit.config import load_params
    from muaudit.controls import check_controls
    from muaudit.data import SplitData, get_dataset, make_roles
    from muaudit.extraction import extract, resolve_layers
    from muaudit.methods import UnlearnContext, registry
    from muaudit.metrics.compute import metrics_table
    from muaudit.metrics.context import ArrayStore, Context
    from muaudit.models import build_model
    from muaudit.runtime import configure
    from muaudit.training import seeded_model, train_classifier
    from tasks.common import SplitTensors, accuracies
    from tasks.extract import capped_index
    from tasks.unlearn import METHOD_SEED, _check_healthy

    times: dict[str, float] = {"imports": time.perf_counter() - t0}
    p = load_params(args.params)
    configure(p.runtime.threads, p.runtime.device, p.runtime.deterministic)

    def lap(name: str, start: float) -> None:
        times[name] = times.get(name, 0.0) + time.perf_counter() - start

    s = time.perf_counter()
    ds = get_dataset(p.data.name, p.data.path)
    roles = make_roles(ds.y, p.split.scenario, p.split.forget_fraction, p.split.forget_classes,
                       p.data.test_fraction, p.split.seed)
    ds.content_hashes()  # the split fingerprint is part of the split's computation
    data = SplitData(x=np.ascontiguousarray(ds.x, dtype=np.float32), y=ds.y.astype(np.int64),
                     sample_ids=ds.sample_ids, roles=roles, num_classes=ds.num_classes,
                     input_shape=tuple(ds.x.shape[1:]), info={}, tune=np.zeros(len(roles), bool))
    lap("split", s)

    def build():
        return build_model(p.model.name, data.input_shape, data.num_classes)

    tensors = SplitTensors(data, torch.device("cpu"))

    def fit(train_roles: tuple[str, ...], seed: int):
        net = seeded_model(build, seed)
        x, y = tensors.rows(*train_roles)
        train_classifier(net, x, y, p.train.epochs, p.train.lr, p.train.batch_size, seed, p.train.weight_decay)
        accuracies(net, tensors)
        return net

    s = time.perf_counter()
    models = {"original": fit(("forget", "retain"), p.train.seed)}
    lap("train", s)
    s = time.perf_counter()
    for seed in p.retrain.seeds:
        models[f"retrain_{seed}"] = fit(("retain",), seed)
    lap("retrain", s)
    s = time.perf_counter()
    x_f, y_f = tensors.rows("forget")
    x_r, y_r = tensors.rows("retain")
    for method in p.unlearn.methods:
        spec = registry.get(method)
        if p.split.scenario not in spec.scenarios:
            continue
        original = models["original"]
        ctx = UnlearnContext(
            original=copy.deepcopy(original).requires_grad_(False),
            model=seeded_model(lambda o=original: copy.deepcopy(o), METHOD_SEED),
            x_forget=x_f, y_forget=y_f, x_retain=x_r, y_retain=y_r, num_classes=data.num_classes,
            scenario=p.split.scenario, forget_classes=tuple(p.split.forget_classes), seed=METHOD_SEED,
            build_model=build)
        ctx.model.requires_grad_(True)
        try:
            result = spec.fn(ctx, p.unlearn.method_params(method))
            _check_healthy(result, tensors, data.num_classes)
        except Exception:  # a failed method is an outcome, as in the pipeline
            continue
        accuracies(result, tensors)
        models[method] = result
    lap("unlearn", s)

    s = time.perf_counter()
    keep = capped_index(data.roles, p.extract.max_samples_per_role)
    x_keep = torch.from_numpy(data.x[keep])
    acts = {name: extract(net, x_keep, resolve_layers(net, p.extract.layers), p.extract.batch_size)
            for name, net in models.items()}
    lap("extract", s)

    s = time.perf_counter()
    cfg = p.metrics.parsed()
    classes = sorted(set(p.split.forget_classes)) if p.split.scenario == "class" else None
    attacks = {name: run_attacks(net, x_f, y_f, x_r, y_r, cfg.metric_params("relearn"),
                                 cfg.metric_params("head_refit"), classes) for name, net in models.items()}
    lap("attack", s)

    s = time.perf_counter()
    retrain_ids = [f"retrain_{seed}" for seed in p.retrain.seeds]
    statuses = {m: ("ok" if m in models else "failed") for m in ["original", *retrain_ids, *p.unlearn.methods]}
    store = ArrayStore(data.sample_ids[keep], data.roles[keep], data.y[keep], acts)
    ctx = Context(store, list(acts), retrain_ids, p.split.scenario, attacks=attacks)
    errors = {m: "failed" for m, status in statuses.items() if status != "ok"}
    table = metrics_table(ctx, statuses, retrain_ids, cfg, errors)
    check_controls(table, p.split.scenario)
    lap("metrics", s)
    if args.table:
        table.to_parquet(args.table)
    times["total"] = time.perf_counter() - t0
    return times


if __name__ == "__main__":
    print(json.dumps(main()))
