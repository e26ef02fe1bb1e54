"""Recovery attacks as metrics: their results come from the `attack` stages (tasks/attack.py, which need
the weights); here they become rows judged against the retrained models like every other quantity.
Definitions and papers: docs/attacks.md.

- `relearn` (layer "attack", role forget): fine-tune every model with the same budget on the attack part
  of the forget set. Rows: `relearn` = accuracy on the evaluation part after `steps` steps (judged high:
  more returns than for retrained models); `relearn_steps` = steps until that accuracy first reaches
  `threshold` (judged low: returns faster), `steps + eval_every` when it never does within the budget
  (label "not-reached"); `relearn_curve` (layer "step=<k>") = accuracy at each checkpoint, the evidence
  for the report's recovery curves (not judged: one band per step would multiply the false alarms).
- `head_refit` (layer "attack", role forget): freeze the body, re-initialise the head (seeded), train it on
  retain plus the attack part; row `head_refit` = accuracy on the evaluation part (judged high). Class
  scenario only, also the head-bias diagnostic of each model's own head: `head_bias_gap` = forgotten
  classes' mean bias − other classes' mean bias, `head_norm_ratio` = their mean weight-row norm ratio
  (judged both sides: a head-only forgetting shows as a bias shift retraining does not make).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from muaudit.metrics.registry import MetricParams, register_metric
from muaudit.metrics.table import row

LAYER = "attack"


class AttackSplit(MetricParams):
    attack_fraction: float = Field(0.5, gt=0, lt=1)  # share of the forget set the attacker trains on
    seed: int = 0  # draws the attack/evaluation split, the batch order and any re-initialised weights

    def min_forget(self) -> int:
        return 2  # one sample in each part


class RelearnParams(AttackSplit):
    optimizer: Literal["adam", "sgd"] = "adam"  # sgd: momentum 0.9
    lr: float = Field(3e-4, gt=0)
    steps: int = Field(30, ge=1)  # the budget, the same for every model
    batch_size: int = Field(16, ge=1)  # attack samples per step
    retain_per_batch: int = Field(16, ge=0)  # retain samples per step (0: forget only, which a collapse can game)
    eval_every: int = Field(1, ge=1)  # steps between checkpoints of the curve (the relearn time's resolution)
    threshold: float = Field(0.5, gt=0, le=1)  # evaluation accuracy that counts as relearned


class HeadRefitParams(AttackSplit):
    lr: float = Field(3e-3, gt=0)  # Adam on the new head
    epochs: int = Field(1, ge=1)  # passes over retain + attack part
    batch_size: int = Field(64, ge=1)


def step_layer(step: int) -> str:
    return f"step={step:05d}"  # zero-padded: the table sorts layers as strings


@register_metric("relearn", judge={"relearn": "high", "relearn_steps": "low"}, scope="attack",
                 params=RelearnParams)
def relearn_metric(ctx, p: RelearnParams) -> list[dict]:
    """Relearning attack: accuracy on held-out forget samples after a fixed fine-tuning budget on the
    others, and the steps it takes to reach a threshold, against the retrained models."""
    rows = []
    for m in ctx.models:
        res = ctx.attack(m, "relearn")
        reached = res["steps_to_threshold"]
        rows.append(row(m, "", LAYER, "forget", "relearn", res["accuracy"]))
        rows.append(row(m, "", LAYER, "forget", "relearn_steps",
                        reached if reached is not None else p.steps + p.eval_every,
                        "" if reached is not None else "not-reached"))
        rows += [row(m, "", step_layer(s), "forget", "relearn_curve", acc) for s, acc in res["curve"]]
    return rows


@register_metric("head_refit", judge={"head_refit": "high", "head_bias_gap": "both", "head_norm_ratio": "both"},
                 scope="attack", params=HeadRefitParams)
def head_refit_metric(ctx, p: HeadRefitParams) -> list[dict]:
    """Head re-fit attack: a new head on the frozen body recovers the forgotten samples; plus the head-bias
    diagnostic in the class scenario."""
    rows = []
    for m in ctx.models:
        res = ctx.attack(m, "head_refit")
        rows.append(row(m, "", LAYER, "forget", "head_refit", res["accuracy"]))
        if ctx.scenario == "class" and res.get("bias") is not None:
            rows.append(row(m, "", LAYER, "", "head_bias_gap", res["bias"]["bias_gap"]))
            rows.append(row(m, "", LAYER, "", "head_norm_ratio", res["bias"]["norm_ratio"]))
    return rows
