"""split: load the dataset, assign forget/retain/test roles, write the manifest and fingerprints."""

from __future__ import annotations

from muaudit.config import DataParams, SplitParams
from muaudit.data import get_dataset, make_roles, write_split
from muaudit.io import require_file
from muaudit.stage import main_exit, run_stage


def split(data: DataParams, split: SplitParams, out: str) -> dict:
    dataset = get_dataset(data.name, data.path, label_column=data.label_column, id_column=data.id_column)
    roles = make_roles(
        dataset.y, split.scenario, split.forget_fraction, split.forget_classes, data.test_fraction, split.seed,
        dataset.sample_ids, requested_ids(split),
    )
    return write_split(out, dataset, roles)


def requested_ids(split: SplitParams) -> list[str]:
    """The deletion request: split.forget_ids plus the lines of split.forget_ids_file (# starts a comment)."""
    ids = list(split.forget_ids)
    if split.forget_ids_file:
        lines = require_file(split.forget_ids_file, "a deletion request: one sample id per line").read_text()
        ids += [line.split("#")[0].strip() for line in lines.splitlines() if line.split("#")[0].strip()]
    return ids


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
