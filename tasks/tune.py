"""tune: choose a method's setting whose output-level behaviour on the tuning split is closest to retraining.

For a method in unlearn.tune (default: every training method), Optuna's TPE searches the method's search
space (muaudit.tuning) for unlearn.tune_trials trials; each trial unlearns the original exactly as
unlearn@<method> would and is scored by its output gap to the retrain seeds on the tuning split
(tune_reference@<seed>). Writes the chosen setting as JSON, which unlearn@<method> applies; each trial is a
child MLflow run of this stage's run. A method not tuned gets {"tuned": false}: unlearn@<method> applies its
params block. See docs/tuning.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from muaudit import tuning
from muaudit.config import Params
from muaudit.io import atomic_write_json, read_json
from muaudit.methods import registry
from muaudit.metrics.registry import judges
from muaudit.models import build_model, load_model
from muaudit.runner.stage import main_exit, run_stage, stage_name
from muaudit.runtime import resolve_device
from muaudit.training import TrainingHooks, predict_logits
from tasks.common import SplitTensors, load_split
from tasks.unlearn import _check_healthy, make_context


def tuning_outputs(net, x: torch.Tensor, labels: np.ndarray, roles: np.ndarray, mia_params) -> dict[str, float]:
    with torch.no_grad():
        probs = torch.softmax(predict_logits(net, x).double(), 1).cpu().numpy()
    return tuning.output_values(probs, labels, roles, mia_params)


def tune(method: str, params: Params, split_dir: str, original_dir: str, reference_dir: str,
         out: str) -> tuple[dict, list[dict]]:
    """The chosen setting (written to out) and the trial table."""
    if method not in params.unlearn.tuned():
        chosen = {"method": method, "tuned": False}
        atomic_write_json(out, chosen)
        return chosen, []
    unlearn, model = params.unlearn, params.model
    spec = unlearn.method_spec(method)
    block = (unlearn.model_extra or {}).get(method)
    ranges, fixed, own_trials = registry.tuning_space(method, block)
    trials = own_trials or unlearn.tune_trials
    cfg = params.metrics.parsed()
    reference = _reference(reference_dir, params.retrain.seeds)
    # the verdict's own floor of the output quantities (accuracy and MIA-efficacy declare the same one)
    limits = tuning.band(reference, cfg.verdict.alpha, judges()["accuracy"].floor, cfg.verdict.tail_df)

    data = load_split(split_dir)
    device = resolve_device(params.runtime.device)
    tensors = SplitTensors(data, device)
    tune_idx = np.flatnonzero(data.tune)
    x_tune = torch.from_numpy(data.x[tune_idx]).to(device)
    mia_params = cfg.metric_params("mia_efficacy")

    def build():
        return build_model(model.name, data.input_shape, data.num_classes, **model.kwargs).to(device)

    original, _ = load_model(build_model(model.name, data.input_shape, data.num_classes, **model.kwargs),
                             original_dir)
    original = original.to(device)
    base = unlearn.method_params(method).model_dump()

    def evaluate(setting: dict) -> dict[str, float] | None:
        p = spec.parse_params({**base, **fixed, **setting}, key=f"unlearn.{method}")
        ctx = make_context(original, tensors, data.num_classes, params.split, build, TrainingHooks())
        try:
            net = spec.fn(ctx, p)
            _check_healthy(net, tensors, data.num_classes, method)
        except Exception as err:  # a setting that breaks the method is a bad trial, not a failed stage
            print(f"trial failed: {method} {setting}: {type(err).__name__}: {err}")
            return None
        values = tuning_outputs(net, x_tune, data.y[tune_idx], data.roles[tune_idx], mia_params)
        print(f"trial {method} {setting}: gap {tuning.output_gap(values, reference):.4f}", flush=True)
        return values

    table = tuning.search(evaluate, ranges, spec.int_keys(), trials, unlearn.tune_seed, reference, limits)
    best = tuning.choose(table)
    setting = {**fixed, **best["setting"]}
    chosen = {
        "method": method, "tuned": True, "params": {**base, **setting}, "setting": setting,
        "gap": best["gap"], "reached_band": best["in_band"], "values": best["values"], "trial": best["number"],
        "trials": len(table), "sampler": {"name": "optuna.TPESampler", "seed": unlearn.tune_seed},
        "reference_mean": {q: float(np.mean(v)) for q, v in reference.items()},
        "band": {q: list(lim) for q, lim in limits.items()},
    }
    atomic_write_json(out, chosen)
    print(f"tuned {method}: {setting} gap {best['gap']:.4f} "
          f"({'in the output band' if best['in_band'] else 'unable to reach the output band'})")
    return chosen, table


def _reference(reference_dir: str, seeds: list[int]) -> dict[str, list[float]]:
    per_seed = [read_json(Path(reference_dir) / f"retrain_{s}.json", "tune_reference@<seed>'s output values")
                for s in seeds]
    return {q: [float(v["values"][q]) for v in per_seed] for q in tuning.QUANTITIES}


def record_trials(recorder, workspace: Path, name: str, table: list[dict]) -> None:
    """Each trial as a child run of the stage's run: its setting as params, its values and gap as metrics."""
    from muaudit.runner import tracking

    for t in table:
        with tracking.run(f"{name}/trial_{t['number']}", workspace, recorder.run_id,
                          {"muaudit.trial": str(t["number"]), "muaudit.trial_status": t["status"]}) as rec:
            rec.log_params(t["setting"])
            rec.log_metrics({"gap": t["gap"], "in_band": float(t["in_band"]),
                             **{f"value_{q}": v for q, v in t["values"].items()}})


def main(argv: list[str] | None = None) -> int:
    def add(p):
        p.add_argument("--method", required=True)
        p.add_argument("--split", required=True)
        p.add_argument("--original", required=True)
        p.add_argument("--reference", required=True)
        p.add_argument("--out", required=True)

    def body(params, a, hooks):
        chosen, table = tune(a.method, params, a.split, a.original, a.reference, a.out)
        if hooks.recorder is not None and table:
            record_trials(hooks.recorder, Path(a.params).parent, stage_name("tune"), table)
        if not chosen["tuned"]:
            return {"tuned": 0.0}
        return {"tuned": 1.0, "gap": chosen["gap"], "reached_band": float(chosen["reached_band"]),
                "trials": float(chosen["trials"])}

    return run_stage(
        "tune",
        argv,
        add,
        body,
        lambda a: [a.out],
        lambda p, a: {"method": a.method, f"unlearn.{a.method}": (p.unlearn.model_extra or {}).get(a.method) or {},
                      "tuned": a.method in p.unlearn.tuned(), "unlearn.tune_trials": p.unlearn.tune_trials,
                      "unlearn.tune_seed": p.unlearn.tune_seed, "model": p.model.model_dump(),
                      "runtime": p.runtime.model_dump()},
    )


if __name__ == "__main__":
    main_exit(main())
