"""split: check the dataset, assign forget/retain/test roles and the tuning split.

The data checks (muaudit.data.checks) run when the dataset is read, so a bare `dvc repro` refuses bad data
before anything trains, exactly as `muaudit run` does in its pre-run check.
"""

from __future__ import annotations

from muaudit.config import Params
from muaudit.data import ROLES, make_roles
from muaudit.data.registry import Dataset
from muaudit.data.split import NewSplit, requested_ids, tuning_mask
from muaudit.results import StageResult


def run(params: Params, hooks, dataset: Dataset) -> StageResult:
    data, split = params.data, params.split
    roles = make_roles(
        dataset.y, split.scenario, split.forget_fraction, split.forget_classes, data.test_fraction, split.seed,
        dataset.sample_ids, requested_ids(split.forget_ids, split.forget_ids_file), dataset.num_classes,
    )
    counts = {f"n_{role}": float((roles == role).sum()) for role in ROLES}
    return StageResult(NewSplit(dataset, roles, tuning_mask(roles, split.tune_fraction, split.seed)), counts)


if __name__ == "__main__":
    from muaudit.runner.stage import main

    main("split")
