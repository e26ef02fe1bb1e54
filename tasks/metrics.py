"""metrics: the consolidated long table data/metrics/metrics.parquet, with the band and the verdicts."""

from __future__ import annotations

from muaudit.config import Params
from muaudit.controls import check_controls, control_rows
from muaudit.metrics.compute import compute_metrics
from muaudit.metrics.table import to_frame
from muaudit.results import StageResult


def run(params: Params, hooks, activations, models: dict[str, dict], attacks: dict[str, dict] | None = None
        ) -> StageResult:
    """activations: the store (ParquetStore or ArrayStore); models: model -> sidecar; attacks: model -> the
    attack stage's result."""
    retrain_ids = [f"retrain_{s}" for s in params.retrain.seeds]
    # the extra seeds' models are measured and judged like their method's own (klom reads them as one family;
    # the report states the verdict's stability over them), but are not methods of their own in the report
    seed_ids = [f"{m}_s{k}" for m in params.unlearn.methods for k in params.unlearn.extra_seeds]
    timings: dict[str, float] = {}
    scenario = params.split.scenario
    table = compute_metrics(activations, models, retrain_ids, [*params.unlearn.methods, *seed_ids],
                            params.metrics.parsed(), scenario, timings, attacks)
    checks = check_controls(table, scenario)
    table = to_frame(table.to_dict("records") + control_rows(checks))
    verdicts = table[(table.metric == "verdict") & (table.layer == "")]
    counts = {f"verdict_{label}": float((verdicts.label == label).sum()) for label in sorted(set(verdicts.label))}
    return StageResult(table, counts | {"controls_failed": float(sum(c.status == "fail" for c in checks))} | {
        f"time_{name}_s": t for name, t in timings.items()})


if __name__ == "__main__":
    from muaudit.runner.stage import main

    main("metrics")
