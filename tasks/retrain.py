"""retrain: one reference model per seed, trained on retain only with the original's recipe."""

from __future__ import annotations

from muaudit.runner.stage import main_exit, run_stage
from tasks.train import fit


def main(argv: list[str] | None = None) -> int:
    def add(p):
        p.add_argument("--seed", type=int, required=True)
        p.add_argument("--split", required=True)
        p.add_argument("--out", required=True)

    return run_stage(
        "retrain",
        argv,
        add,
        lambda params, a, hooks: fit(params.model, params.train, params.runtime, a.split, a.out, ("retain",), a.seed,
                                     hooks),
        lambda a: [a.out],
        lambda p, a: {"seed": a.seed, "model": p.model.model_dump(), "train": p.train.model_dump(),
                      "runtime": p.runtime.model_dump()},
    )


if __name__ == "__main__":
    main_exit(main())
