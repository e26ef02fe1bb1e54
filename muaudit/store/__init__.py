"""The activation store: one Parquet dataset, hive-partitioned model=<id>/layer=<name>/.

Each partition file holds `sample_id`, `role`, `label` and `features`, a list of float32 per sample
(the layer's units in order).
Logits are stored as layer `logits`. Each layer file's schema metadata records how the layer was reduced
(`muaudit.pool`: `mean` or a grid such as `2x2`; see muaudit/extraction.py). Readable with pandas, pyarrow and duckdb.
"""

from muaudit.store.activations import (
    FEATURES,
    STATUS_FILE,
    ModelActivations,
    layer_metadata,
    read_layer,
    stream_model_activations,
    write_model_activations,
)

__all__ = ["FEATURES", "STATUS_FILE", "ModelActivations", "layer_metadata", "read_layer", "stream_model_activations", "write_model_activations"]
