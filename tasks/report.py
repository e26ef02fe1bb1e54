"""report: data/report/report.md and index.html from the metrics table."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from muaudit.config import Params
from muaudit.report import summary_table, write_report
from muaudit.stage import main_exit, run_stage


def report(params: Params, metrics_dir: str, split_dir: str, out: str) -> dict:
    table = pq.read_table(Path(metrics_dir) / "metrics.parquet").to_pandas()
    split_info = json.loads((Path(split_dir) / "split.json").read_text())
    retrain_ids = [f"retrain_{s}" for s in params.retrain.seeds]
    summary = summary_table(table, retrain_ids, list(params.unlearn.methods))
    forget_desc = {"class": f"classes {params.split.forget_classes}",
                   "random": f"{params.split.forget_fraction:.0%} of train at random",
                   "ids": f"the {split_info['counts']['forget']} samples of a deletion request"}[params.split.scenario]
    header = {
        "dataset": f"{split_info['dataset']} (fingerprint {split_info['dataset_fingerprint'][:12]})",
        "scenario": f"{params.split.scenario}: forget {forget_desc}",
        "forget / retain / test": " / ".join(str(split_info["counts"][r]) for r in ("forget", "retain", "test")),
        "split fingerprint": split_info["split_fingerprint"][:16],
        "model": params.model.name,
        "retrain seeds": ", ".join(map(str, params.retrain.seeds)),
    }
    write_report(out, summary, header)
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
