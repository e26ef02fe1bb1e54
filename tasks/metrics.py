"""metrics: the consolidated long table data/metrics/metrics.parquet, with the band and the verdicts."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from muaudit.config import MetricsParams, RetrainParams, UnlearnParams
from muaudit.controls import check_controls, control_rows
from muaudit.io import atomic_write
from muaudit.metrics.compute import compute_metrics
from muaudit.metrics.table import to_frame
from muaudit.runner.stage import main_exit, run_stage


def metrics(metrics: MetricsParams, retrain: RetrainParams, unlearn: UnlearnParams, scenario: str,
            activations: str, models: str, out: str, attacks: str | None = None) -> dict:
    retrain_ids = [f"retrain_{s}" for s in retrain.seeds]
    # the extra seeds' models are measured and judged like their method's own (klom reads them as one family;
    # the report states the verdict's stability over them), but are not methods of their own in the report
    seed_ids = [f"{m}_s{k}" for m in unlearn.methods for k in unlearn.extra_seeds]
    timings: dict[str, float] = {}
    table = compute_metrics(activations, models, retrain_ids, [*unlearn.methods, *seed_ids], metrics.parsed(),
                            scenario, timings, attacks)
    checks = check_controls(table, scenario)
    table = to_frame(table.to_dict("records") + control_rows(checks))
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    atomic_write(Path(out) / "metrics.parquet", lambda tmp: pq.write_table(arrow, tmp, compression="zstd"))
    verdicts = table[(table.metric == "verdict") & (table.layer == "")]
    counts = {f"verdict_{label}": float((verdicts.label == label).sum()) for label in sorted(set(verdicts.label))}
    return counts | {"controls_failed": float(sum(c.status == "fail" for c in checks))} | {
        f"time_{name}_s": t for name, t in timings.items()}


def main(argv: list[str] | None = None) -> int:
    def add(p):
        p.add_argument("--activations", required=True)
        p.add_argument("--attacks", default=None)  # the attack stages' results (data/attacks)
        p.add_argument("--models", required=True)
        p.add_argument("--out", required=True)

    return run_stage(
        "metrics",
        argv,
        add,
        lambda params, a, _hooks: metrics(params.metrics, params.retrain, params.unlearn, params.split.scenario,
                                  a.activations, a.models, a.out, a.attacks),
        lambda a: [a.out],
        lambda p, a: {"metrics": p.metrics.model_dump(), "retrain.seeds": p.retrain.seeds,
                      "unlearn.methods": p.unlearn.methods,
                      "unlearn.extra_seeds": p.unlearn.extra_seeds, "split.scenario": p.split.scenario},
    )


if __name__ == "__main__":
    main_exit(main())
