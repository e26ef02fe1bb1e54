"""tune: choose a method's setting whose output-level behaviour on the tuning split is closest to retraining.

For a method in unlearn.tune (default: every training method), Optuna's TPE searches the method's search
space (muaudit.tuning) for unlearn.tune_trials trials; each trial unlearns the original exactly as
unlearn@<method> would and is scored by its output gap to the retrain seeds on the tuning split
(tune_reference@<seed>). Writes the chosen setting as JSON, which unlearn@<method> applies; each trial is a
child MLflow run of this stage's run. A method not tuned gets {"tuned": false}: unlearn@<method> applies its
params block. See docs/tuning.md.
"""

from __future__ import annotations

import numpy as np
import torch

from muaudit import tuning
from muaudit.config import Params
from muaudit.data import SplitData
from muaudit.errors import BadInputError
from muaudit.methods import registry
from muaudit.metrics.registry import judges
from muaudit.models import build_model
from muaudit.models.weights import StoredModel
from muaudit.results import ChildRun, StageResult
from muaudit.runtime import resolve_device
from muaudit.training import TrainingHooks, predict_logits
from tasks.common import SplitTensors
from tasks.unlearn import _check_healthy, make_context


def tuning_outputs(net, x: torch.Tensor, labels: np.ndarray, roles: np.ndarray, mia_params) -> dict[str, float]:
    with torch.no_grad():
        probs = torch.softmax(predict_logits(net, x).double(), 1).cpu().numpy()
    return tuning.output_values(probs, labels, roles, mia_params)


def run(params: Params, hooks: TrainingHooks, split: SplitData, original: StoredModel,
        reference: dict[str, dict], method: str) -> StageResult:
    """The chosen setting (the output) and each trial as a child run."""
    if method not in params.unlearn.tuned():
        return StageResult({"method": method, "tuned": False}, {"tuned": 0.0})
    unlearn, model, data = params.unlearn, params.model, split
    spec = unlearn.method_spec(method)
    block = (unlearn.model_extra or {}).get(method)
    ranges, fixed, own_trials = registry.tuning_space(method, block)
    trials = own_trials or unlearn.tune_trials
    cfg = params.metrics.parsed()
    ref = _reference(reference, params.retrain.seeds)
    # the verdict's own floor of the output quantities (accuracy and MIA-efficacy declare the same one)
    limits = tuning.band(ref, cfg.verdict.alpha, judges()["accuracy"].floor, cfg.verdict.tail_df)

    device = resolve_device(params.runtime.device)
    tensors = SplitTensors(data, device)
    tune_idx = np.flatnonzero(data.tune)
    x_tune = torch.from_numpy(data.x[tune_idx]).to(device)
    mia_params = cfg.metric_params("mia_efficacy")

    def build():
        return build_model(model.name, data.input_shape, data.num_classes, **model.kwargs).to(device)

    net0 = original.net.to(device)
    base = unlearn.method_params(method).model_dump()

    def evaluate(setting: dict) -> dict[str, float] | None:
        p = spec.parse_params({**base, **fixed, **setting}, key=f"unlearn.{method}")
        ctx = make_context(net0, tensors, data.num_classes, params.split, build, TrainingHooks())
        try:
            net = spec.fn(ctx, p)
            _check_healthy(net, tensors, data.num_classes, method)
        except Exception as err:  # a setting that breaks the method is a bad trial, not a failed stage
            print(f"trial failed: {method} {setting}: {type(err).__name__}: {err}")
            return None
        values = tuning_outputs(net, x_tune, data.y[tune_idx], data.roles[tune_idx], mia_params)
        print(f"trial {method} {setting}: gap {tuning.output_gap(values, ref):.4f}", flush=True)
        return values

    table = tuning.search(evaluate, ranges, spec.int_keys(), trials, unlearn.tune_seed, ref, limits)
    best = tuning.choose(table)
    setting = {**fixed, **best["setting"]}
    chosen = {
        "method": method, "tuned": True, "params": {**base, **setting}, "setting": setting,
        "gap": best["gap"], "reached_band": best["in_band"], "values": best["values"], "trial": best["number"],
        "trials": len(table), "sampler": {"name": "optuna.TPESampler", "seed": unlearn.tune_seed},
        "reference_mean": {q: float(np.mean(v)) for q, v in ref.items()},
        "band": {q: list(lim) for q, lim in limits.items()},
    }
    print(f"tuned {method}: {setting} gap {best['gap']:.4f} "
          f"({'in the output band' if best['in_band'] else 'unable to reach the output band'})")
    metrics = {"tuned": 1.0, "gap": chosen["gap"], "reached_band": float(chosen["reached_band"]),
               "trials": float(chosen["trials"])}
    return StageResult(chosen, metrics, children=[trial_run(t) for t in table])


def _reference(reference: dict[str, dict], seeds: list[int]) -> dict[str, list[float]]:
    """quantity -> the retrain seeds' values, from tune_reference@<seed> (data/tune_reference/retrain_<seed>.json)."""
    missing = [s for s in seeds if f"retrain_{s}" not in reference]
    if missing:
        raise BadInputError(f"data/tune_reference/retrain_{missing[0]}.json: missing; expected tune_reference@{missing[0]}'s "
                            "output values")
    per_seed = [reference[f"retrain_{s}"] for s in seeds]
    return {q: [float(v["values"][q]) for v in per_seed] for q in tuning.QUANTITIES}


def trial_run(t: dict) -> ChildRun:
    """A trial as a child run of the stage's run: its setting as params, its values and gap as metrics."""
    return ChildRun(f"trial_{t['number']}", t["setting"],
                    {"gap": t["gap"], "in_band": float(t["in_band"]), **{f"value_{q}": v for q, v in t["values"].items()}},
                    {"muaudit.trial": str(t["number"]), "muaudit.trial_status": t["status"]}, "trial")


if __name__ == "__main__":
    from muaudit.runner.stage import main

    main("tune")
