"""Tuning a method to forget at the output: search spaces, the objective and the search (no MLflow here).

A method declares its tunable keys next to its code (`register_method(..., search={...})`, each a `Range`);
`unlearn.<method>.search` in params.yaml narrows a range (`lr: [0.001, 0.01]`), fixes a key (`epochs: 3`) or
sets the method's own trial budget (`trials: 12`). The objective of a setting is its output gap: the mean of
|v − v̄_R| over forget, retain and test accuracy and MIA-efficacy, measured on the tuning split, v̄_R the
mean of the retrain seeds there (SalUn's Avg. Gap). A setting reaches the output band when each of those
values lies in the interval the verdict's output test accepts on the tuning split (`band`), judged on the
verdict's sides (retain and test accuracy only below). The search is Optuna's TPE with a fixed sampler seed: `search` is a pure function of the
evaluation it is given and returns the trial table; the tune stage records it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from muaudit.errors import BadInputError
from muaudit.metrics.stats import predictive_half_width

QUANTITIES = ("forget", "retain", "test", "mia")  # accuracies on the tuning roles, then MIA-efficacy
SIDES = {"forget": "both", "retain": "low", "test": "low", "mia": "both"}  # as the output verdict judges them
FAILED_GAP = 1.0  # objective of a trial whose method failed: the largest gap fractions can have
TRIALS_KEY = "trials"  # in unlearn.<method>.search: the method's own budget


@dataclass(frozen=True)
class Range:
    """A tunable key's range; ints when the method's field is an int, log-uniform when log."""

    low: float
    high: float
    log: bool = False


def space(declared: dict[str, Range], override: dict | None, key: str, ints: set[str]) -> tuple[dict, dict]:
    """(ranges to search, values fixed by params.yaml). override: unlearn.<method>.search without `trials`."""
    ranges, fixed = dict(declared), {}
    for name, value in (override or {}).items():
        where = f"{key}.{name}"
        if name not in declared:
            raise BadInputError(f"{where}: not a tunable key; expected one of {', '.join(sorted(declared)) or 'none'}")
        if isinstance(value, list):
            if len(value) != 2 or not all(isinstance(v, int | float) for v in value) or not value[0] <= value[1]:
                raise BadInputError(f"{where}: expected [low, high] with low <= high, got {value!r}")
            if declared[name].log and value[0] <= 0:
                raise BadInputError(f"{where}: a log-uniform range needs low > 0, got {value!r}")
            ranges[name] = Range(float(value[0]), float(value[1]), declared[name].log)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            fixed[name] = int(value) if name in ints else float(value)
            del ranges[name]
        else:
            raise BadInputError(f"{where}: expected [low, high] to narrow or a number to fix, got {value!r}")
    return ranges, fixed


def band(reference: dict[str, list[float]], alpha: float, floor: float,
         tail_df: float | None = None) -> dict[str, tuple[float, float]]:
    """Per quantity, the interval a value must fall in to pass the verdict's output test at `alpha`
    (muaudit/metrics/stats.py, docs/verdict.md): the predictive t interval of the K retrain values at level
    alpha / len(QUANTITIES) (Bonferroni over the output family) under the verdict's tail model,
    their spread never below `floor` (the accuracies' and MIA-efficacy's declared floor; forget accuracy 0
    on every seed has no spread)."""

    out = {}
    level = alpha / len(QUANTITIES)
    for q, vals in reference.items():
        k = len(vals)
        s = max(float(np.std(vals, ddof=1)), floor)
        half = predictive_half_width(level, k, tail_df) * s
        out[q] = (float(np.mean(vals)) - half, float(np.mean(vals)) + half)
    return out


def output_gap(values: dict[str, float], reference: dict[str, list[float]]) -> float:
    """Mean over QUANTITIES of |v − mean of the retrain seeds|; NaN fails closed to FAILED_GAP."""
    gap = float(np.mean([abs(values[q] - float(np.mean(reference[q]))) for q in QUANTITIES]))
    return gap if math.isfinite(gap) else FAILED_GAP


def in_band(values: dict[str, float], limits: dict[str, tuple[float, float]]) -> bool:
    def inside(q: str) -> bool:
        v, (lo, hi) = values[q], limits[q]
        return math.isfinite(v) and v >= lo and (SIDES[q] == "low" or v <= hi)

    return all(inside(q) for q in QUANTITIES)


def search(evaluate: Callable[[dict], dict[str, float] | None], ranges: dict[str, Range], ints: set[str],
           trials: int, seed: int, reference: dict[str, list[float]],
           limits: dict[str, tuple[float, float]]) -> list[dict]:
    """Run `trials` TPE trials; evaluate(setting) returns the output values, or None when the method failed.

    Returns the trial table, one dict per trial: number, setting, values, gap, in_band, status. Without a
    range to search (all keys fixed) one trial evaluates the fixed setting.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # TPE needs a few random trials to fit its densities; a third of a small budget, as DeepUnlearn's short runs
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, trials // 3))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    table: list[dict] = []
    for number in range(trials if ranges else 1):
        trial = study.ask()
        setting = {}
        for name, r in sorted(ranges.items()):
            if name in ints:
                setting[name] = trial.suggest_int(name, int(r.low), int(r.high), log=r.log)
            else:
                setting[name] = trial.suggest_float(name, r.low, r.high, log=r.log)
        values = evaluate(setting)
        ok = values is not None
        gap = output_gap(values, reference) if ok else FAILED_GAP
        study.tell(trial, gap)
        table.append({"number": number, "setting": setting, "values": values or {}, "gap": gap,
                      "in_band": ok and in_band(values, limits), "status": "ok" if ok else "failed"})
    return table


def choose(table: list[dict]) -> dict:
    """The chosen trial: the smallest gap among those inside the band, else the smallest gap (first on ties)."""
    inside = [t for t in table if t["in_band"]]
    return min(inside or table, key=lambda t: (t["gap"], t["number"]))


def applied_params(unlearn, method: str, chosen: dict | None):
    """The hyperparameters unlearn@<method> applies: the setting tune@<method> chose (chosen: its JSON,
    data/tune/<method>.json) when it tuned, else the params block."""
    if not (chosen or {}).get("tuned"):
        return unlearn.method_params(method)
    source = f"data/tune/{method}.json"
    if chosen.get("method") != method:
        raise BadInputError(f"{source}: holds the setting of '{chosen.get('method')}'; expected '{method}'")
    return unlearn.method_spec(method).parse_params(chosen["params"], key=source)


@dataclass(frozen=True)
class _Outputs:
    """The slice of a metrics context that mia_efficacy reads, over the tuning split's samples."""

    p: np.ndarray
    labels: np.ndarray
    role_index: dict[str, np.ndarray]

    def probs(self, _model: str) -> np.ndarray:
        return self.p


def output_values(probs: np.ndarray, labels: np.ndarray, roles: np.ndarray, mia_params) -> dict[str, float]:
    """Forget, retain and test accuracy and MIA-efficacy (the metric's protocol) of softmax outputs on the
    tuning split's samples (roles: each sample's role)."""
    from muaudit.metrics.output import mia_efficacy

    pred = probs.argmax(1)
    index = {r: np.flatnonzero(roles == r) for r in ("forget", "retain", "test")}
    values = {r: float(np.mean(pred[i] == labels[i])) if len(i) else float("nan") for r, i in index.items()}
    values["mia"] = mia_efficacy(_Outputs(probs, labels, index), "", mia_params)
    return values
