"""tune_reference: one retrained model's output values on the tuning split, the reference tune@<method> aims at."""

from __future__ import annotations

import numpy as np
import torch

from muaudit.config import Params
from muaudit.data import SplitData
from muaudit.models.weights import StoredModel
from muaudit.results import StageResult
from muaudit.runtime import resolve_device
from muaudit.training import TrainingHooks
from tasks.tune import tuning_outputs


def run(params: Params, hooks: TrainingHooks, model_dir: StoredModel, split: SplitData) -> StageResult:
    idx = np.flatnonzero(split.tune)
    if len(idx) == 0:  # split.tune_fraction 0: nothing is tuned (checked in muaudit/config.py)
        values = None
    else:
        device = resolve_device(params.runtime.device)
        x = torch.from_numpy(split.x[idx]).to(device)
        values = tuning_outputs(model_dir.net.to(device), x, split.y[idx], split.roles[idx],
                                params.metrics.parsed().metric_params("mia_efficacy"))
    name = f"retrain_{model_dir.meta['seed']}"
    return StageResult({"model": name, "values": values}, {f"value_{q}": v for q, v in (values or {}).items()})


if __name__ == "__main__":
    from muaudit.runner.stage import main

    main("tune_reference")
