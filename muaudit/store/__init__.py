"""The activation store: one Parquet dataset, hive-partitioned model=<id>/layer=<name>/.

Each partition file holds `sample_id`, `role`, `label` and one float32 column per unit (`u0000`, ...).
Logits are stored as layer `logits`. Readable with pandas, pyarrow and duckdb.
"""

from muaudit.store.activations import FEATURE_PREFIX, read_layer, write_model_activations

__all__ = ["FEATURE_PREFIX", "read_layer", "write_model_activations"]
