"""Metric registry: a metric is one function `(ctx, params) -> rows` plus one params block in params.yaml.

Register with @register_metric in a module of muaudit/metrics/ (imported below); enable it by listing its
name in `metrics.enabled` and, if it has knobs, give it a block `metrics.<name>: {...}`. The verdict and
the report need no change: every row goes through the same test (muaudit/metrics/band.py), and `judge`
declares, for each row metric the function emits, how it is judged (a side, or a `Judge`: side, test
scale, floor in the metric's units, and for output metrics the direction in which the forget set is
forgotten).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from muaudit.blocks import validate_block
from muaudit.errors import BadInputError

# Which deviation from retraining is a discrepancy: "low" only smaller values (similarities), "high" only
# larger (distances, gaps), "both" either way (values such as accuracies).
SIDES = ("low", "high", "both")


@dataclass(frozen=True)
class Judge:
    """How the verdict judges one row metric.

    side: which deviation is a discrepancy (SIDES).
    scale: the scale of the test (muaudit.metrics.stats.SCALES): `fisher_z` for similarities bounded by 1
      (CKA, agreement), `log` for distances, `identity` otherwise.
    floor: the smallest retrain-to-retrain standard deviation, in the metric's own units; it matters only
      where retraining gives (almost) no spread, e.g. forget accuracy 0 in the class scenario.
    forgets: for output metrics, the direction ("low"/"high") in which the forget set is forgotten (forget
      accuracy: low). The verdict reads a deviation on the forget role the other way as `not-forgotten`,
      this way as `over-forgotten`, and on retain/test judges only this way (damage, `over-forgotten`).
    title: the name used in plain-words evidence (default: the row metric's name).
    """

    side: str = "both"
    scale: str = "identity"
    floor: float = 0.0
    forgets: str | None = None
    title: str = ""

    def __post_init__(self):
        from muaudit.metrics.stats import SCALES

        if self.side not in SIDES or self.scale not in SCALES or self.forgets not in (None, "low", "high") or self.floor < 0:
            raise ValueError(f"judge: side in {SIDES}, scale in {SCALES}, forgets low/high/None, floor >= 0; got {self}")


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
    judge: dict[str, Judge]  # row metric name -> how it is judged
    scope: str  # "output" | "representation" | "attack" (rows from the attack stages' results)
    description: str = ""
    scenarios: tuple[str, ...] = ("random", "class")
    roles: tuple[str, ...] = ()  # the roles its rows carry ("" = none); () = not declared
    scale: str = ""  # what kind of number it is: "log-ratio" (0 = no effect), "projection", "distance", ...


_REGISTRY: dict[str, MetricSpec] = {}


def register_metric(name: str, *, judge: dict[str, str | Judge], scope: str, params: type[MetricParams] = MetricParams,
                    scenarios: tuple[str, ...] = ("random", "class"), roles: tuple[str, ...] = (), scale: str = ""):
    """judge: row metric -> a side ("low"/"high"/"both": identity test scale, no floor) or a Judge."""
    if any(not isinstance(j, Judge) and j not in SIDES for j in judge.values()):
        raise ValueError(f"metric {name}: judge sides must be in {SIDES} or a Judge")
    judges = {m: j if isinstance(j, Judge) else Judge(side=j) for m, j in judge.items()}

    def deco(fn):
        _REGISTRY[name] = MetricSpec(name, fn, params, judges, scope, (fn.__doc__ or "").strip(), scenarios,
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


def judges() -> dict[str, Judge]:
    """Row metric name -> how it is judged, over every registered metric."""
    return {m: j for spec in _load().values() for m, j in spec.judge.items()}


def sides() -> dict[str, str]:
    """Row metric name -> side, over every registered metric."""
    return {m: j.side for m, j in judges().items()}


class VerdictParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # the probability that a model behaving like a retrained one is labelled anything but `consistent`
    # (family-wise over all its judged quantities and layers); docs/verdict.md
    alpha: float = Field(0.05, gt=0, lt=0.5)
    # the seed-to-seed variation is modelled as Student t with tail_df degrees of freedom (null: normal), for
    # the heavy tails measured across retrain seeds (docs/verdict.md); the predictive p-values follow from it
    tail_df: float | None = Field(5.0, gt=2)
    output: list[str] = ["accuracy", "mia_efficacy"]  # row metrics that decide the output verdict
    representation: list[str] = ["cka", "procrustes", "probe"]  # ... and the per-layer residue / drift verdict


class MetricsConfig(BaseModel):
    """The whole `metrics:` block; per-metric blocks arrive as extra keys and are checked by their metric."""

    model_config = ConfigDict(extra="allow", frozen=True)
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

