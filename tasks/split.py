"""split: load and check the dataset, assign forget/retain/test roles, write the manifest and fingerprints.

The data checks (muaudit.data.checks) run here, so a bare `dvc repro` refuses bad data before anything
trains, exactly as `muaudit run` does in its pre-run check.
"""

from __future__ import annotations

from muaudit.config import DataParams, SplitParams
from muaudit.data import get_dataset, make_roles, write_split
from muaudit.data.split import requested_ids, tuning_mask
from muaudit.runner.stage import main_exit, run_stage


def split(data: DataParams, split: SplitParams, out: str) -> dict:
    dataset = get_dataset(data.name, data.path, label_column=data.label_column, id_column=data.id_column)
    roles = make_roles(
        dataset.y, split.scenario, split.forget_fraction, split.forget_classes, data.test_fraction, split.seed,
        dataset.sample_ids, requested_ids(split.forget_ids, split.forget_ids_file), dataset.num_classes,
    )
    return write_split(out, dataset, roles, tuning_mask(roles, split.tune_fraction, split.seed))


def main(argv: list[str] | None = None) -> int:
    def body(params, args, _hooks):
        summary = split(params.data, params.split, args.out)
        return {f"n_{role}": n for role, n in summary["counts"].items()}

    return run_stage(
        "split",
        argv,
        lambda p: p.add_argument("--out", required=True),
        body,
        lambda a: [a.out],
        lambda p, a: {"data": p.data.model_dump(), "split": p.split.model_dump()},
    )


if __name__ == "__main__":
    main_exit(main())
