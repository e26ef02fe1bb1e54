"""report: data/report/report.md and index.html from the metrics table."""

from __future__ import annotations

from pathlib import Path

from muaudit.config import Params
from muaudit.io import read_json, read_parquet
from muaudit.report import summary_table, write_report
from muaudit.stage import main_exit, run_stage


def report(params: Params, metrics_dir: str, split_dir: str, out: str) -> dict:
    table = read_parquet(Path(metrics_dir) / "metrics.parquet", "the metrics table").to_pandas()
    split_info = read_json(Path(split_dir) / "split.json", "the split summary written by the split stage")
    retrain_ids = [f"retrain_{s}" for s in params.retrain.seeds]
    summary = summary_table(table, retrain_ids, list(params.unlearn.methods))
    forget_desc = (f"classes {params.split.forget_classes}" if params.split.scenario == "class"
                   else f"{params.split.forget_fraction:.0%} of train at random")
    header = {
        "dataset": f"{split_info['dataset']} (fingerprint {split_info['dataset_fingerprint'][:12]})",
        "scenario": f"{params.split.scenario}: forget {forget_desc}",
        "forget / retain / test": " / ".join(str(split_info["counts"][r]) for r in ("forget", "retain", "test")),
        "split fingerprint": split_info["split_fingerprint"][:16],
        "model": params.model.name,
        "retrain seeds": ", ".join(map(str, params.retrain.seeds)),
    }
    errors = table[table.metric == "error"]
    write_report(out, summary, header, dict(zip(errors.model, errors.label, strict=True)))
    return {}


def main(argv: list[str] | None = None) -> int:
    def add(p):
        p.add_argument("--metrics", required=True)
        p.add_argument("--split", required=True)
        p.add_argument("--out", required=True)

    return run_stage(
        "report",
        argv,
        add,
        lambda params, a: report(params, a.metrics, a.split, a.out),
        lambda a: [a.out],
        lambda p, a: {},
    )


if __name__ == "__main__":
    main_exit(main())
