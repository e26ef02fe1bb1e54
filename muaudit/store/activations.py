"""Writer and reader of the Parquet activation store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from muaudit.errors import BadInputError
from muaudit.io import atomic_dir

FEATURES = "features"  # one list<float32> per sample: the layer's units in order
PART_FILE = "part-0.parquet"
META_PREFIX = "muaudit."  # schema-metadata keys of a layer file, e.g. muaudit.pool


def _write_layer(path: Path, sample_ids, roles, labels, features: np.ndarray, meta: dict[str, str] | None = None) -> None:
    features = np.ascontiguousarray(features, dtype=np.float32)
    n, d = features.shape
    # One list column, not one column per unit: Parquet writes and reads each column chunk separately,
    # so 64 unit columns cost 2x the time of one (benchmarks/results.md, item 5), and a 2048-wide layer
    # would be a 2048-column table. A list (not a fixed-size list) keeps one schema across layers, so
    # the whole store reads as one dataset in pyarrow or duckdb.
    offsets = pa.array(np.arange(0, n * d + 1, d, dtype=np.int32))
    column = pa.ListArray.from_arrays(offsets, pa.array(features.ravel()))
    table = pa.Table.from_arrays(
        [pa.array(sample_ids, pa.string()), pa.array(roles, pa.string()), pa.array(labels, pa.int64()), column],
        names=["sample_id", "role", "label", FEATURES])
    if meta:  # how the layer was reduced (extract.pool), kept with the numbers it describes; sorted: same bytes
        table = table.replace_schema_metadata({f"{META_PREFIX}{k}": str(v) for k, v in sorted(meta.items())})
    # Float activations are high-cardinality: dictionary encoding bloats them; byte-stream-split + zstd-1
    # stores them smallest at about the write time of snappy (measured in benchmarks/run.py); statistics
    # on the floats are never used for pruning.
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=1,
        use_dictionary=["sample_id", "role"],
        use_byte_stream_split=[f"{FEATURES}.list.element"],
        write_statistics=["sample_id", "role", "label"],
    )


def write_model_activations(
    out_dir: str | Path,
    sample_ids: np.ndarray,
    roles: np.ndarray,
    labels: np.ndarray,
    layers: dict[str, np.ndarray],
    meta: dict[str, dict[str, str]] | None = None,
) -> None:
    """Write every layer of one model into out_dir (the model=<id> folder), replacing it whole; meta: layer ->
    {key: value} stored in that layer file's schema metadata (read back with layer_metadata)."""
    with atomic_dir(out_dir) as tmp:
        for name, features in layers.items():
            layer_dir = tmp / f"layer={name}"
            layer_dir.mkdir()
            _write_layer(layer_dir / PART_FILE, sample_ids, roles, labels, features.reshape(len(features), -1),
                         (meta or {}).get(name))


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
    if FEATURES not in table.column_names:
        raise BadInputError(f"{path}: no '{FEATURES}' column; expected an activation file written by muaudit")
    column = table.column(FEATURES).combine_chunks()
    flat = column.flatten().to_numpy()
    if len(column) and flat.size % len(column):
        raise BadInputError(f"{path}: rows of '{FEATURES}' differ in length; expected one width per layer")
    x = flat.reshape(len(column), -1) if len(column) else np.zeros((0, 0), np.float32)
    if roles is not None:
        keep = meta["role"].isin(roles).to_numpy()
        return meta[keep].reset_index(drop=True), x[keep]
    return meta, x


def layer_metadata(root: str | Path, model: str, layer: str) -> dict[str, str]:
    """The muaudit.* schema metadata of one layer file (e.g. {"pool": "2x2"}), prefix stripped."""
    path = Path(root) / f"model={model}" / f"layer={layer}" / PART_FILE
    if not path.exists():
        raise BadInputError(f"{path}: missing; expected activations of model '{model}' at layer '{layer}'")
    raw = pq.read_schema(path).metadata or {}
    return {k.decode()[len(META_PREFIX):]: v.decode() for k, v in raw.items() if k.decode().startswith(META_PREFIX)}
