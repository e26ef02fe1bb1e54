"""unlearn: apply one unlearning method to the original model.

Outcomes are artifacts too: a method that raises, diverges or collapses the model writes model.json
with status `failed` and the error (no weights); a method that does not apply to the scenario writes
status `skipped`. Other methods, the metrics and the report still run.

Cost: every gradient-enabled forward of the model being unlearned is counted (a forward pre-hook, so
methods need no bookkeeping), plus what methods report with ctx.count; the stage returns
cost_vs_retrain = passes / (train.epochs x |retain|). model.json holds the deterministic pass count only,
never timings, so it stays byte-identical across runs.
"""

from __future__ import annotations

import copy
import math
import traceback

import torch

from muaudit.config import Params, SplitParams
from muaudit.data import SplitData
from muaudit.health import DivergedError, check_weights
from muaudit.methods import UnlearnContext, registry
from muaudit.methods.base import MethodParams
from muaudit.methods.registry import MethodSpec
from muaudit.models import build_model
from muaudit.models.weights import StoredModel
from muaudit.results import StageResult
from muaudit.runtime import device_of, resolve_device
from muaudit.training import TrainingHooks, seeded_model
from muaudit.tuning import applied_params
from tasks.common import SplitTensors, accuracies

METHOD_SEED = 0  # the seed of every method's own run (model <method>); unlearn.extra_seeds adds others
COLLAPSE_MARGIN = 0.05  # retain accuracy within this of chance counts as a collapsed model


def unlearn(method: str, method_params: MethodParams, params: Params, data: SplitData, original: StoredModel,
            spec: MethodSpec | None = None, hooks: TrainingHooks | None = None, seed: int = METHOD_SEED) -> StageResult:
    """spec: pass it for user methods (params block with a target); seed: the method's randomness (batch
    order, random labels, noise, new heads); an extra seed's run (stage unlearn_seed) records it in
    model.json, the own run's sidecar stays as it was."""
    spec = spec or registry.get(method)
    hooks = hooks or TrainingHooks()
    model, split, runtime = params.model, params.split, params.runtime
    device = resolve_device(runtime.device)

    def build():
        # initialised on the CPU from the global seed, then moved: the same initial weights on every device
        return build_model(model.name, data.input_shape, data.num_classes, **model.kwargs).to(device)

    base = {"method": method, "params": method_params.model_dump(), "model": model.name,
            "split_fingerprint": data.info["split_fingerprint"], "torch_version": torch.__version__,
            "device": str(device), "threads": runtime.threads, "deterministic": runtime.deterministic,
            **({"method_seed": seed} if seed != METHOD_SEED else {})}
    # A deletion request (ids) forgets individual samples: for methods it is the random scenario's kind.
    kind = "random" if split.scenario == "ids" else split.scenario
    if kind not in spec.scenarios:
        reason = f"{method} applies to the {', '.join(spec.scenarios)} scenario only, not '{split.scenario}'"
        print(f"skipped: {reason}")
        return StageResult(StoredModel({**base, "status": "skipped", "reason": reason}), {"skipped": 1.0})
    tensors = SplitTensors(data, device)
    ctx = make_context(original.net.to(device), tensors, data.num_classes, split, build, hooks, seed)
    x_r = ctx.x_retain
    counter = ctx.model.register_forward_pre_hook(lambda _m, args: count_forward(ctx, args))
    try:
        result = spec.fn(ctx, method_params)
        _check_healthy(result, tensors, data.num_classes, method)
    except Exception as err:  # any method error is an outcome to report, not a crash of the audit
        print(f"failed: {method}: {err}")
        hooks.record_device(device_of(ctx.model))
        meta = {**base, "status": "failed", "error": f"{type(err).__name__}: {err}",
                "traceback": traceback.format_exc(limit=3)}
        return StageResult(StoredModel(meta), {"failed": 1.0})
    finally:
        counter.remove()
    metrics = accuracies(result, tensors)
    hooks.record_device(device_of(result))
    # A method may attach provenance to its result (external: the checkpoint's path and sha256).
    meta = {**base, **getattr(result, "muaudit_meta", {}), "device": device_of(result), "status": "ok",
            "sample_passes": ctx.sample_passes, **metrics}
    metrics["cost_vs_retrain"] = ctx.sample_passes / (params.train.epochs * len(x_r))
    return StageResult(StoredModel(meta, result), metrics)


def make_context(original, tensors: SplitTensors, num_classes: int, split: SplitParams, build,
                 hooks: TrainingHooks, seed: int = METHOD_SEED) -> UnlearnContext:
    """What a method receives: the original (frozen), a seeded copy to unlearn, forget and retain as tensors
    (the tuning split included: it is part of its role). tune@<method> builds its trials' contexts here too,
    so a chosen setting reproduces in unlearn@<method> exactly."""
    x_f, y_f = tensors.rows("forget")
    x_r, y_r = tensors.rows("retain")
    ctx = UnlearnContext(
        original=original.requires_grad_(False), model=seeded_model(lambda: copy.deepcopy(original), seed),
        x_forget=x_f, y_forget=y_f, x_retain=x_r, y_retain=y_r, num_classes=num_classes,
        scenario=split.scenario, forget_classes=tuple(split.forget_classes), seed=seed,
        build_model=build, hooks=hooks,
    )
    ctx.model.requires_grad_(True)
    return ctx


def count_forward(ctx: UnlearnContext, args) -> None:
    """The cost hook (a forward pre-hook on the unlearned model): a forward with gradients counts its batch."""
    if torch.is_grad_enabled() and args and torch.is_tensor(args[0]):
        ctx.count(len(args[0]))


def _check_healthy(model, tensors: SplitTensors, num_classes: int, method: str) -> None:
    check_weights(model, method)
    acc = accuracies(model, tensors)["acc_retain"]
    chance = 1.0 / num_classes
    if not math.isfinite(acc) or acc <= chance + COLLAPSE_MARGIN:
        raise DivergedError(f"{method}: model collapsed: retain accuracy {acc:.3f} is at chance ({chance:.3f})")


def run(params: Params, hooks: TrainingHooks, split: SplitData, original: StoredModel, method: str,
        tuned: dict | None = None, seed: int | None = None) -> StageResult:
    """tuned: the setting tune@<method> chose (data/tune/<method>.json); seed: an extra seed (unlearn_seed)."""
    applied = applied_params(params.unlearn, method, tuned)
    result = unlearn(method, applied, params, split, original, spec=params.unlearn.method_spec(method),
                     hooks=hooks, seed=METHOD_SEED if seed is None else seed)
    # the params block is recorded as unlearn.<method>; what was applied differs from it when tuned
    result.params = {"applied": applied.model_dump(), "tuned": bool((tuned or {}).get("tuned"))}
    return result


if __name__ == "__main__":
    from muaudit.runner.stage import main

    main("unlearn")
