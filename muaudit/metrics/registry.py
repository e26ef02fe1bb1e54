"""Metric registry: a metric is one function `(ctx, params) -> rows` plus one params block in params.yaml.

Register with @register_metric in a module of muaudit/metrics/ (imported below); enable it by listing its
name in `metrics.enabled` and, if it has knobs, give it a block `metrics.<name>: {...}`. The band, the
verdict and the report need no change: every row goes through the same band rule, and `judge` tells the
verdict which side of the band is a discrepancy for each row metric the function emits.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from muaudit.blocks import validate_block
from muaudit.errors import BadInputError

# How a value outside the band is read: "low" only below the band is a discrepancy (similarities),
# "high" only above (distances, gaps), "both" either side (values such as accuracies).
SIDES = ("low", "high", "both")


class MetricParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def min_forget(self) -> int:
        """The fewest forget samples this metric can be computed on with these params. The data checks
        refuse a smaller forget set before anything trains; a metric with folds or shadow splits of its
        own (the probe, the attacks) overrides this."""
        from muaudit.data.checks import MIN_FORGET

        return MIN_FORGET


@dataclass(frozen=True)
class MetricSpec:
    name: str
    fn: Callable
    params: type[MetricParams]
    judge: dict[str, str]  # row metric name -> side
    scope: str  # "output" | "representation" | "attack" (rows from the attack stages' results)
    description: str = ""
    scenarios: tuple[str, ...] = ("random", "class")
    roles: tuple[str, ...] = ()  # the roles its rows carry ("" = none); () = not declared
    scale: str = ""  # what kind of number it is: "log-ratio" (0 = no effect), "projection", "distance", ...


_REGISTRY: dict[str, MetricSpec] = {}


def register_metric(name: str, *, judge: dict[str, str], scope: str, params: type[MetricParams] = MetricParams,
                    scenarios: tuple[str, ...] = ("random", "class"), roles: tuple[str, ...] = (), scale: str = ""):
    if any(s not in SIDES for s in judge.values()):
        raise ValueError(f"metric {name}: judge sides must be in {SIDES}")

    def deco(fn):
        _REGISTRY[name] = MetricSpec(name, fn, params, dict(judge), scope, (fn.__doc__ or "").strip(), scenarios,
                                     tuple(roles), scale)
        return fn

    return deco


def _load() -> dict[str, MetricSpec]:
    # Importing the family modules registers their metrics; one import line per family.
    from muaudit.metrics import attacks, cka, klom, output, phenomena, position, probe, procrustes  # noqa: F401

    return _REGISTRY


def get(name: str) -> MetricSpec:
    return _load()[name]


def names() -> list[str]:
    return sorted(_load())


def sides() -> dict[str, str]:
    """Row metric name -> side, over every registered metric."""
    return {m: s for spec in _load().values() for m, s in spec.judge.items()}


class VerdictParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    output: list[str] = ["accuracy", "mia_efficacy"]  # row metrics that decide the output verdict
    representation: list[str] = ["cka", "procrustes", "probe"]  # ... and the per-layer representation verdict
    layer_min_outside: int = Field(3, ge=1)  # a layer is outside when this many of its quantities are
    min_layers_outside: int = Field(1, ge=1)  # the representation is outside when this many layers are


class MetricsConfig(BaseModel):
    """The whole `metrics:` block; per-metric blocks arrive as extra keys and are checked by their metric."""

    model_config = ConfigDict(extra="allow", frozen=True)
    band_tolerance: float = Field(0.02, ge=0)  # absolute half-width floor of every band
    band_widen: float = Field(1.0, ge=0)  # band = [min, max] of retrain aggregates widened by this x range
    enabled: list[str] = ["accuracy", "mia_efficacy", "loss_auc", "agreement", "kl", "avg_gap",
                          "cka", "procrustes", "probe", "position", "asymmetry", "direction", "concentration",
                          "relearn", "head_refit", "klom"]
    verdict: VerdictParams = VerdictParams()

    def metric_params(self, name: str) -> MetricParams:
        block = (self.model_extra or {}).get(name) or {}
        return _parse(get(name), block)


def _parse(spec: MetricSpec, block) -> MetricParams:
    return validate_block(spec.params, block, f"metrics.{spec.name}", "knobs")


def forget_minimum(cfg: MetricsConfig, scenario: str) -> tuple[int, str]:
    """(fewest forget samples, which metric needs them) over the metrics enabled for this scenario."""
    from muaudit.data.checks import MIN_FORGET

    needs = [(cfg.metric_params(n).min_forget(), f"metric {n} (metrics.{n})") for n in cfg.enabled
             if scenario in get(n).scenarios]
    return max(needs, default=(MIN_FORGET, "the audit"), key=lambda need: need[0])


def parse_config(block: dict) -> MetricsConfig:
    """Validate the `metrics:` block: unknown metric names, unknown knobs and bad values fail with one line."""
    cfg = MetricsConfig.model_validate(block or {})
    known = names()
    for name in [*cfg.enabled, *(cfg.model_extra or {})]:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise BadInputError(f"metrics: unknown metric '{name}'{hint}; expected one of {', '.join(known)}")
        cfg.metric_params(name)
    for m in [*cfg.verdict.output, *cfg.verdict.representation]:
        if m not in sides():
            raise BadInputError(f"metrics.verdict: unknown row metric '{m}'; expected one of {', '.join(sorted(sides()))}")
    return cfg

