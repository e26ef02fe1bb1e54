"""Compute every enabled metric from the activation store (never from the models), then band and verdicts."""

from __future__ import annotations

import math
import time

from muaudit.data.checks import check_forget_size
from muaudit.errors import BadInputError, StepError
from muaudit.metrics import registry
from muaudit.metrics.band import band_and_verdicts
from muaudit.metrics.context import Context
from muaudit.metrics.table import row, to_frame


def compute_metrics(store, sidecars: dict[str, dict], retrain_ids: list[str], method_ids: list[str],
                    cfg: registry.MetricsConfig | dict | None = None, scenario: str = "class",
                    timings: dict[str, float] | None = None, attacks: dict[str, dict] | None = None):
    """The long metrics table from an activation store (ParquetStore or ArrayStore) and the models'
    sidecars (model -> model.json); per-metric wall times go into `timings` when given; the attack metrics
    read attacks (model -> the attack stage's result)."""
    if not isinstance(cfg, registry.MetricsConfig):
        cfg = registry.parse_config(cfg or {})
    sidecars = {m: sidecars.get(m, {"status": "missing"}) for m in ["original", *retrain_ids, *method_ids]}
    statuses = {m: meta.get("status", "ok") for m, meta in sidecars.items()}
    statuses = {m: ("missing" if s == "ok" and "logits" not in store.layers(m) else s) for m, s in statuses.items()}
    ok_models = [m for m, s in statuses.items() if s == "ok"]
    if sum(m in ok_models for m in retrain_ids) < 2:
        raise BadInputError("metrics: fewer than two retrain seeds have activations; the band needs at least two")
    ctx = Context(store, ok_models, retrain_ids, scenario, attacks=attacks)
    # Under `muaudit run` this was refused before any stage; a bare `dvc repro` meets it here.
    check_forget_size(len(ctx.role_index["forget"]), registry.forget_minimum(cfg, scenario))
    # Why a model failed or was skipped travels with the table, so the report can show it.
    errors = {m: sidecars[m].get("error") or sidecars[m].get("reason") or "no activations: its stages did not run"
              for m, s in statuses.items() if s != "ok"}
    return metrics_table(ctx, statuses, retrain_ids, cfg, errors, timings)


def metrics_table(ctx: Context, statuses: dict[str, str], retrain_ids: list[str], cfg: registry.MetricsConfig,
                  errors: dict[str, str], timings: dict[str, float] | None = None):
    """Every enabled metric on the context's models, the band and verdicts, and one error row per
    model that is not ok."""
    rows: list[dict] = []
    specs = [registry.get(n) for n in cfg.enabled if ctx.scenario in registry.get(n).scenarios]
    # Output metrics read the logits once; representation metrics run one layer at a time, and the layer's
    # matrices are dropped before the next, so memory holds one layer of every model, not all of them.
    for spec in specs:
        if spec.scope != "representation":
            rows += _run(ctx, spec, cfg, timings)
    for layer in list(ctx.layers):
        ctx.focus(layer)
        for spec in specs:
            if spec.scope == "representation":
                rows += _run(ctx, spec, cfg, timings)
        ctx.release(layer)
    rows += band_and_verdicts(rows, statuses, retrain_ids, cfg, registry.sides())
    rows += [row(m, "", "", "", "error", math.nan, why) for m, why in errors.items()]
    return to_frame(rows)


def _run(ctx: Context, spec: registry.MetricSpec, cfg: registry.MetricsConfig,
         timings: dict[str, float] | None) -> list[dict]:
    start = time.perf_counter()
    ctx.reading = None
    try:
        rows = spec.fn(ctx, cfg.metric_params(spec.name))
    except Exception as err:  # one line naming the metric and what it was reading; the trace is kept
        raise StepError(spec.name + (" on model {}, layer {}".format(*ctx.reading) if ctx.reading else ""), err) from err
    if timings is not None:
        timings[spec.name] = timings.get(spec.name, 0.0) + time.perf_counter() - start
    return rows
