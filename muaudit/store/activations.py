"""Writer and reader of the Parquet activation store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from muaudit.errors import BadInputError
from muaudit.io import atomic_dir

FEATURE_PREFIX = "u"
PART_FILE = "part-0.parquet"


def _feature_names(d: int) -> list[str]:
    return [f"{FEATURE_PREFIX}{j:04d}" for j in range(d)]


def _write_layer(path: Path, sample_ids, roles, labels, features: np.ndarray) -> None:
    features = np.ascontiguousarray(features, dtype=np.float32)
    names = _feature_names(features.shape[1])
    columns = [pa.array(sample_ids, pa.string()), pa.array(roles, pa.string()), pa.array(labels, pa.int64())]
    columns += [pa.array(features[:, j]) for j in range(features.shape[1])]
    table = pa.Table.from_arrays(columns, names=["sample_id", "role", "label", *names])
    # Float activations are high-cardinality: dictionary encoding bloats them; byte-stream-split + zstd
    # compresses float32 best; statistics on unit columns are never used for pruning.
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=1,
        use_dictionary=["sample_id", "role"],
        use_byte_stream_split=names,
        write_statistics=["sample_id", "role", "label"],
    )


def write_model_activations(
    out_dir: str | Path,
    sample_ids: np.ndarray,
    roles: np.ndarray,
    labels: np.ndarray,
    layers: dict[str, np.ndarray],
) -> None:
    """Write every layer of one model into out_dir (the model=<id> folder), replacing it whole."""
    with atomic_dir(out_dir) as tmp:
        for name, features in layers.items():
            layer_dir = tmp / f"layer={name}"
            layer_dir.mkdir()
            _write_layer(layer_dir / PART_FILE, sample_ids, roles, labels, features.reshape(len(features), -1))


def read_layer(root: str | Path, model: str, layer: str, roles: tuple[str, ...] | None = None):
    """Return (meta DataFrame with sample_id/role/label, float32 array n x d) for one model and layer."""
    path = Path(root) / f"model={model}" / f"layer={layer}" / PART_FILE
    if not path.exists():
        raise BadInputError(f"{path}: missing; expected activations of model '{model}' at layer '{layer}'")
    try:
        table = pq.read_table(path)
    except Exception as err:
        raise BadInputError(f"{path}: not a readable Parquet file ({type(err).__name__})") from None
    meta = table.select(["sample_id", "role", "label"]).to_pandas()
    feats = [c for c in table.column_names if c.startswith(FEATURE_PREFIX)]
    x = np.column_stack([table.column(c).to_numpy() for c in feats]).astype(np.float32, copy=False)
    if roles is not None:
        keep = meta["role"].isin(roles).to_numpy()
        return meta[keep].reset_index(drop=True), x[keep]
    return meta, x
