"""Sweep each unlearning method over a small grid on the default digits audit, both scenarios.

Trains the original and N_RETRAIN retrained models exactly as tasks/train.py and tasks/retrain.py do
(seeded_model + train_classifier with the params.yaml `train` recipe), then runs every grid point of
every method and prints forget/retain/test accuracy next to the retrain mean, and each point's avg gap:
the mean over forget, retain and test of |accuracy - retrain mean accuracy| (the OPTML protocol tunes
by the smallest gap to retraining). The default it proposes per method is the point with the smallest
avg gap, averaged over the scenarios the method supports. Standalone:

    python benchmarks/sweep_methods.py [--methods a,b] [--scenarios class,random] [--markdown]
"""

from __future__ import annotations

import argparse
import copy
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's muaudit, not an installed one

from muaudit.config import load_params  # noqa: E402
from muaudit.data import get_dataset, make_roles  # noqa: E402
from muaudit.methods import UnlearnContext, registry  # noqa: E402
from muaudit.models import build_model  # noqa: E402
from muaudit.training import accuracy, seeded_model, train_classifier  # noqa: E402

N_RETRAIN = 3

# method -> {hyperparameter: values}; every combination is run. lr first, then the key knob.
GRID: dict[str, dict[str, list]] = {
    "finetune": {"lr": [0.02, 0.05, 0.1]},
    "gradient_ascent": {"lr": [1e-4, 3e-4, 4e-4, 5e-4, 1e-3]},
    "random_labels": {"lr": [0.003, 0.01, 0.03]},
    "neggrad_plus": {"lr": [0.01, 0.03, 0.05], "alpha": [0.99, 0.999]},
    "l1_sparse": {"lr": [0.02, 0.05], "gamma": [5e-4, 2e-3]},
    "salun": {"lr": [0.003, 0.01, 0.03], "mask_fraction": [0.5]},
    "scrub": {"lr": [5e-4, 1e-3, 2e-3], "msteps": [2], "epochs": [3, 5]},
    "bad_teacher": {"lr": [1e-4, 1e-3], "epochs": [1, 2]},
    "ssd": {"alpha": [10.0, 20.0, 30.0]},
    "boundary_shrink": {"lr": [1e-5, 1e-4, 1e-3], "epsilon": [0.1, 0.3], "epochs": [5, 10]},
    "fisher_forgetting": {"alpha": [1e-9, 1e-8, 1e-7, 1e-6, 3e-6, 1e-5]},
    "representation_scrub": {"lr": [0.01, 0.03]},
}


def split_tensors(params, scenario: str):
    ds = get_dataset(params.data.name, params.data.path)
    roles = make_roles(ds.y, scenario, params.split.forget_fraction, params.split.forget_classes,
                       params.data.test_fraction, params.split.seed)
    out = {r: (torch.from_numpy(ds.x[roles == r]), torch.from_numpy(ds.y[roles == r]))
           for r in ("forget", "retain", "test")}
    return out, ds


def fit(params, ds, x, y, seed):
    t = params.train
    net = seeded_model(lambda: build_model(params.model.name, ds.x.shape[1:], ds.num_classes), seed)
    return train_classifier(net, x, y, t.epochs, t.lr, t.batch_size, seed, t.weight_decay)


def accs(model, data) -> tuple[float, float, float]:
    return tuple(accuracy(model, *data[r]) for r in ("forget", "retain", "test"))


def run(params, scenario: str, methods: list[str]) -> list[tuple]:
    torch.set_num_threads(params.runtime.threads)
    data, ds = split_tensors(params, scenario)
    xf, yf = data["forget"]
    xr, yr = data["retain"]
    original = fit(params, ds, torch.cat([xf, xr]), torch.cat([yf, yr]), params.train.seed)
    retrain = np.array([accs(fit(params, ds, xr, yr, s), data) for s in params.retrain.seeds[:N_RETRAIN]])
    target = retrain.mean(0)

    def gap(result) -> float:
        return float(np.mean(np.abs(np.asarray(result) - target)))

    rows = [("original", "-", *accs(original, data), 0.0, gap(accs(original, data))),
            ("retrain mean", "-", *target, 0.0, 0.0)]
    print(f"{scenario}: original {rows[0][2:5]}, retrain mean {rows[1][2:5]}", flush=True)
    forget_classes = tuple(params.split.forget_classes)
    for name in methods:
        spec = registry.get(name)
        if scenario not in spec.scenarios:
            rows.append((name, f"skipped ({'/'.join(spec.scenarios)} only)", *[float("nan")] * 5))
            continue
        grid = GRID[name]
        defaults = params.unlearn.method_params(name).model_dump() if name in (params.unlearn.model_extra or {}) else {}
        for values in itertools.product(*grid.values()):
            knobs = dict(zip(grid, values, strict=True))
            p = spec.params.model_validate({**defaults, **knobs})
            ctx = UnlearnContext(
                original=copy.deepcopy(original).requires_grad_(False),
                model=seeded_model(lambda: copy.deepcopy(original), 0).requires_grad_(True),
                x_forget=xf, y_forget=yf, x_retain=xr, y_retain=yr, num_classes=ds.num_classes,
                scenario=scenario, forget_classes=forget_classes, seed=0,
                build_model=lambda: build_model(params.model.name, ds.x.shape[1:], ds.num_classes),
            )
            start = time.perf_counter()
            try:
                model = spec.fn(ctx, p)
                result = accs(model, data)
            except Exception as err:  # a diverged grid point is a row, not the end of the sweep
                print(f"{name} {knobs}: failed: {err}")
                result = (float("nan"),) * 3
            rows.append((name, ", ".join(f"{k}={v}" for k, v in knobs.items()), *result,
                         time.perf_counter() - start, gap(result)))
            print(f"{scenario:6s} {rows[-1][0]:22s} {rows[-1][1]:32s} " + " ".join(f"{v:.3f}" for v in rows[-1][2:]),
                  flush=True)
    return rows


def markdown(scenario: str, rows: list[tuple]) -> str:
    lines = [f"### scenario: {scenario}", "", "| method | setting | forget | retain | test | avg gap | time (s) |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r[0]} | {r[1]} | " + " | ".join(f"{v:.3f}" for v in (*r[2:5], r[6])) + f" | {r[5]:.2f} |"
              for r in rows]
    return "\n".join(lines)


def choose(by_scenario: dict[str, list[tuple]]) -> dict[str, tuple[str, float]]:
    """Per method, the setting with the smallest avg gap averaged over the scenarios it ran in (a failed
    point, NaN, is never chosen)."""
    gaps: dict[tuple[str, str], list[float]] = {}
    for rows in by_scenario.values():
        for r in rows[2:]:
            if not r[1].startswith("skipped"):
                gaps.setdefault((r[0], r[1]), []).append(r[6])
    best: dict[str, tuple[str, float]] = {}
    for (name, setting), values in gaps.items():
        mean = float(np.mean(values))
        if np.isfinite(mean) and (name not in best or mean < best[name][1]):
            best[name] = (setting, mean)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--methods", default=",".join(GRID))
    ap.add_argument("--scenarios", default="class,random")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    params = load_params(a.params)
    by_scenario = {}
    for scenario in a.scenarios.split(","):
        by_scenario[scenario] = run(params, scenario, a.methods.split(","))
        if a.markdown:
            print(markdown(scenario, by_scenario[scenario]) + "\n")
    print("### smallest avg gap (mean over scenarios)\n\n| method | setting | avg gap |\n|---|---|---|")
    for name, (setting, mean) in choose(by_scenario).items():
        print(f"| {name} | {setting} | {mean:.4f} |")


if __name__ == "__main__":
    main()
