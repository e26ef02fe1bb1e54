"""retrain: one reference model per seed, trained on retain only with the original's recipe."""

from __future__ import annotations

from muaudit.config import Params
from muaudit.data import SplitData
from muaudit.results import StageResult
from muaudit.training import TrainingHooks
from tasks.train import fit


def run(params: Params, hooks: TrainingHooks, split: SplitData, seed: int) -> StageResult:
    return fit(params, split, ("retain",), seed, hooks)


if __name__ == "__main__":
    from muaudit.runner.stage import main

    main("retrain")
