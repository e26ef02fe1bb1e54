"""attack: the recovery attacks (relearn, head re-fit) and the head-bias diagnostic on one model's weights.

Writes <out>/attack.json; the metrics stage turns it into rows judged against the retrained models. The
settings are the blocks metrics.relearn and metrics.head_refit, so changing them reruns only the attack
stages and what follows (docs/attacks.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from muaudit.attacks.recovery import run_attacks
from muaudit.config import MetricsParams, ModelParams, RuntimeParams, SplitParams
from muaudit.io import atomic_dir, atomic_write_json, read_json
from muaudit.models import build_model, load_model
from muaudit.runner.stage import main_exit, run_stage
from muaudit.runtime import device_of, resolve_device
from muaudit.training import TrainingHooks
from tasks.common import SplitTensors, load_split, model_split_out_args


def attack(metrics: MetricsParams, model: ModelParams, split: SplitParams, runtime: RuntimeParams,
           model_dir: str, split_dir: str, out: str, hooks: TrainingHooks | None = None) -> dict:
    hooks = hooks or TrainingHooks()
    cfg = metrics.parsed()
    rp, hp = cfg.metric_params("relearn"), cfg.metric_params("head_refit")
    meta = read_json(Path(model_dir) / "model.json", "the model sidecar written by the model's stage")
    if meta.get("status", "ok") != "ok":
        with atomic_dir(out) as tmp:
            atomic_write_json(tmp / "attack.json", {"status": meta["status"]})
        return {}
    data = load_split(split_dir)
    device = resolve_device(runtime.device)
    net, _ = load_model(build_model(model.name, data.input_shape, data.num_classes, **model.kwargs), model_dir)
    net = net.to(device).requires_grad_(False).eval()
    tensors = SplitTensors(data, device)
    x_f, y_f = tensors.rows("forget")
    x_r, y_r = tensors.rows("retain")

    forget_classes = sorted(int(c) for c in np.unique(data.y[data.index("forget")]))
    result = run_attacks(net, x_f, y_f, x_r, y_r, rp, hp, forget_classes if split.scenario == "class" else None)
    hooks.record_device(device_of(net))

    result = {"status": "ok", **result}
    with atomic_dir(out) as tmp:
        atomic_write_json(tmp / "attack.json", result)
    return {"relearn_accuracy": result["relearn"]["accuracy"], "head_refit_accuracy": result["head_refit"]["accuracy"]}


def main(argv: list[str] | None = None) -> int:
    return run_stage(
        "attack",
        argv,
        model_split_out_args,
        lambda params, a, hooks: attack(params.metrics, params.model, params.split, params.runtime, a.model_dir,
                                        a.split, a.out, hooks),
        lambda a: [a.out],
        lambda p, a: {"metrics.relearn": p.metrics.parsed().metric_params("relearn").model_dump(),
                      "metrics.head_refit": p.metrics.parsed().metric_params("head_refit").model_dump(),
                      "model": p.model.model_dump(), "runtime": p.runtime.model_dump()},
    )


if __name__ == "__main__":
    main_exit(main())
