"""attack: the recovery attacks (relearn, head re-fit) and the head-bias diagnostic on one model's weights.

Its output is <out>/attack.json; the metrics stage turns it into rows judged against the retrained models. The
settings are the blocks metrics.relearn and metrics.head_refit, so changing them reruns only the attack
stages and what follows (docs/attacks.md).
"""

from __future__ import annotations

import numpy as np

from muaudit.attacks.recovery import run_attacks
from muaudit.config import Params
from muaudit.data import SplitData
from muaudit.models.weights import StoredModel
from muaudit.results import StageResult
from muaudit.runtime import device_of, resolve_device
from muaudit.training import TrainingHooks
from tasks.common import SplitTensors


def run(params: Params, hooks: TrainingHooks, model_dir: StoredModel, split: SplitData) -> StageResult:
    if not model_dir.ok:
        return StageResult({"status": model_dir.meta["status"]})
    cfg = params.metrics.parsed()
    rp, hp = cfg.metric_params("relearn"), cfg.metric_params("head_refit")
    device = resolve_device(params.runtime.device)
    net = model_dir.net.to(device).requires_grad_(False).eval()
    tensors = SplitTensors(split, device)
    x_f, y_f = tensors.rows("forget")
    x_r, y_r = tensors.rows("retain")

    forget_classes = sorted(int(c) for c in np.unique(split.y[split.index("forget")]))
    result = run_attacks(net, x_f, y_f, x_r, y_r, rp, hp, forget_classes if params.split.scenario == "class" else None)
    hooks.record_device(device_of(net))
    return StageResult({"status": "ok", **result}, {"relearn_accuracy": result["relearn"]["accuracy"],
                                                    "head_refit_accuracy": result["head_refit"]["accuracy"]})


if __name__ == "__main__":
    from muaudit.runner.stage import main

    main("attack")
