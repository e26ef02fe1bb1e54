"""tune_reference: one retrained model's output values on the tuning split, the reference tune@<method> aims at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from muaudit.config import Params
from muaudit.io import atomic_write_json
from muaudit.models import build_model, load_model
from muaudit.runner.stage import main_exit, run_stage
from muaudit.runtime import resolve_device
from tasks.common import load_split, model_split_out_args
from tasks.tune import tuning_outputs


def tune_reference(params: Params, split_dir: str, model_dir: str, out: str) -> dict:
    data = load_split(split_dir)
    idx = np.flatnonzero(data.tune)
    if len(idx) == 0:  # split.tune_fraction 0: nothing is tuned (checked in muaudit/config.py)
        values = None
    else:
        device = resolve_device(params.runtime.device)
        net, _ = load_model(build_model(params.model.name, data.input_shape, data.num_classes,
                                        **params.model.kwargs), model_dir)
        x = torch.from_numpy(data.x[idx]).to(device)
        values = tuning_outputs(net.to(device), x, data.y[idx], data.roles[idx],
                                params.metrics.parsed().metric_params("mia_efficacy"))
    atomic_write_json(out, {"model": Path(model_dir).name, "values": values})
    return {f"value_{q}": v for q, v in (values or {}).items()}


def main(argv: list[str] | None = None) -> int:
    return run_stage(
        "tune_reference",
        argv,
        model_split_out_args,
        lambda params, a, _hooks: tune_reference(params, a.split, a.model_dir, a.out),
        lambda a: [a.out],
        lambda p, a: {"model": p.model.model_dump(), "metrics.mia_efficacy": p.metrics.parsed()
                      .metric_params("mia_efficacy").model_dump(), "runtime": p.runtime.model_dump()},
    )


if __name__ == "__main__":
    main_exit(main())
