"""What a stage body returns: its output artifact as data, and what the runner records about it.

Stage bodies (tasks/<stage>.py `run`) take data and return a StageResult; muaudit.runner.stage writes
`output` with the writer of the stage's output kind (muaudit.runner.artifacts) and records the rest on the
stage's MLflow run. benchmarks/bare.py calls the same bodies and keeps `output` in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ChildRun:
    """A run recorded under the stage's run: a tuning trial, or a judged model of the report."""

    name: str
    params: dict
    metrics: dict[str, float]
    tags: dict[str, str]
    kind: str  # "trial" or "verdict"


@dataclass
class StageResult:
    output: Any
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict = field(default_factory=dict)  # what the body resolved beyond the params keys (a tuned setting)
    children: list[ChildRun] = field(default_factory=list)
    dataset: dict | None = None  # the audited dataset, as the report run's input
