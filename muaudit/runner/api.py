"""Results as data: `from muaudit import load_audit; a = load_audit("path/to/workspace")` (muaudit/__init__
exposes it).

Everything here reads the files an audit wrote (data/metrics, data/activations, dvc.lock, MLflow); nothing
runs a stage. The frames are plain pandas, for notebooks and scripts:

- a.verdicts: one row per judged model: model, verdict, output (inside/outside), layers_outside, and the
  strongest evidence (the quantity farthest outside the retrain band, in band widths);
- a.metrics: the long metrics table (model, reference, layer, role, metric, value, label);
- a.band: the retrain band, one row per quantity (metric, layer, role, mean, sd, low, high);
- a.activations(model, layer): the stored activations, one row per sample (sample_id, role, label, u0..);
- a.lineage(path, **filters): the chain from an artifact back to the dataset, as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from muaudit.errors import BadInputError
from muaudit.report.verdicts import band_frame, verdict_frame

METRICS = Path("data/metrics/metrics.parquet")
ACTIVATIONS = Path("data/activations")


def load_audit(workspace: str | Path = ".") -> Audit:
    """The results of the audit in workspace (its metrics stage must have run)."""
    ws = Path(workspace).resolve()
    if not (ws / METRICS).exists():
        raise BadInputError(f"{ws / METRICS}: missing; run `muaudit run` in {ws} first")
    return Audit(ws)


@dataclass(frozen=True)
class Audit:
    workspace: Path

    @cached_property
    def metrics(self) -> pd.DataFrame:
        import pyarrow.parquet as pq

        return pq.read_table(self.workspace / METRICS).to_pandas()

    @cached_property
    def band(self) -> pd.DataFrame:
        return band_frame(self.metrics)

    @cached_property
    def verdicts(self) -> pd.DataFrame:
        return verdict_frame(self.metrics, self._verdict_params())

    def _verdict_params(self):
        """The workspace's metrics.verdict settings (what decides a verdict), for the evidence."""
        from muaudit.config import load_params

        params = self.workspace / "params.yaml"
        return load_params(params).metrics.parsed().verdict if params.exists() else None

    def activations(self, model: str, layer: str, roles: tuple[str, ...] | None = None) -> pd.DataFrame:
        """One row per stored sample: sample_id, role, label, then the layer's units u0, u1, ..."""
        from muaudit.store.activations import read_layer

        meta, x = read_layer(self.workspace / ACTIVATIONS, model, layer, roles)
        units = pd.DataFrame(x, columns=[f"u{i}" for i in range(x.shape[1])])
        return pd.concat([meta.reset_index(drop=True), units], axis=1)

    def lineage(self, path: str = "data/metrics", **filters: str) -> dict:
        """{"rows", "chain", "dataset"} as muaudit.runner.lineage.lineage_records gives them; filters select
        metric rows by column (model=..., metric=..., layer=..., role=...)."""
        from muaudit.runner.lineage import lineage_records

        return lineage_records(self.workspace, path, filters)
