"""Writer and reader of the Parquet activation store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from muaudit.errors import BadInputError
from muaudit.io import atomic_dir

FEATURES = "features"  # one list<float32> per sample: the layer's units in order
PART_FILE = "part-0.parquet"
META_PREFIX = "muaudit."  # schema-metadata keys of a layer file, e.g. muaudit.pool


# Rows per Parquet row group: the writer buffers at most this many rows per layer, so a model's store is
# written in bounded memory whatever the sample count. A constant (not the extraction batch size) so the
# bytes depend on the data only; a store smaller than this is one row group, as pq.write_table writes it.
ROW_GROUP_ROWS = 16_384
_SCHEMA = pa.schema([("sample_id", pa.string()), ("role", pa.string()), ("label", pa.int64()),
                     (FEATURES, pa.list_(pa.float32()))])
# Float activations are high-cardinality: dictionary encoding bloats them; byte-stream-split + zstd-1
# stores them smallest at about the write time of snappy (measured in benchmarks/run.py); statistics
# on the floats are never used for pruning.
_PARQUET_OPTIONS = dict(compression="zstd", compression_level=1, use_dictionary=["sample_id", "role"],
                        use_byte_stream_split=[f"{FEATURES}.list.element"],
                        write_statistics=["sample_id", "role", "label"])


def _schema(meta: dict[str, str] | None) -> pa.Schema:
    # how the layer was reduced (extract.pool), kept with the numbers it describes; sorted: same bytes
    return _SCHEMA.with_metadata({f"{META_PREFIX}{k}": str(v) for k, v in sorted(meta.items())}) if meta else _SCHEMA


def _table(sample_ids, roles, labels, features: np.ndarray, schema: pa.Schema = _SCHEMA) -> pa.Table:
    features = np.ascontiguousarray(features, dtype=np.float32)
    n, d = features.shape
    # One list column, not one column per unit: Parquet writes and reads each column chunk separately,
    # so 64 unit columns cost 2x the time of one (benchmarks/results.md, item 5), and a 2048-wide layer
    # would be a 2048-column table. A list (not a fixed-size list) keeps one schema across layers, so
    # the whole store reads as one dataset in pyarrow or duckdb.
    offsets = pa.array(np.arange(0, n * d + 1, d, dtype=np.int32))
    column = pa.ListArray.from_arrays(offsets, pa.array(features.ravel()))
    return pa.Table.from_arrays(
        [pa.array(sample_ids, pa.string()), pa.array(roles, pa.string()), pa.array(labels, pa.int64()), column],
        schema=schema)


class _LayerWriter:
    """One layer file, appended batch by batch; rows are written in row groups of exactly ROW_GROUP_ROWS."""

    def __init__(self, path: Path, meta: dict[str, str] | None = None):
        self._schema = _schema(meta)
        self._writer = pq.ParquetWriter(path, self._schema, **_PARQUET_OPTIONS)
        self._pending: list[tuple] = []
        self._rows = 0
        self.peak_buffered_rows = 0  # the most rows held at once (tests check the bound)

    def append(self, sample_ids, roles, labels, features: np.ndarray) -> None:
        self._pending.append((sample_ids, roles, labels, features))
        self._rows += len(features)
        self.peak_buffered_rows = max(self.peak_buffered_rows, self._rows)
        while self._rows >= ROW_GROUP_ROWS:
            self._flush(ROW_GROUP_ROWS)

    def _flush(self, rows: int) -> None:
        parts = [np.concatenate(cols) for cols in zip(*self._pending, strict=True)]
        self._writer.write_table(_table(*(p[:rows] for p in parts), self._schema), row_group_size=ROW_GROUP_ROWS)
        rest = len(parts[0]) - rows
        self._pending = [tuple(p[rows:] for p in parts)] if rest else []
        self._rows = rest

    def close(self) -> None:
        if self._rows:
            self._flush(self._rows)
        self._writer.close()

    def abort(self) -> None:
        self._pending, self._rows = [], 0
        self._writer.close()


class ActivationWriter:
    """One model's layer files in folder, appended batch by batch (open it with stream_model_activations)."""

    def __init__(self, folder: Path, meta: dict[str, dict[str, str]] | None = None):
        self._folder = folder
        self._meta = meta or {}
        self._layers: dict[str, _LayerWriter] = {}

    def append(self, sample_ids, roles, labels, layers: dict[str, np.ndarray]) -> None:
        """One batch of rows for every layer (the same layers, in any order, at every call)."""
        if not self._layers:
            for name in layers:
                (self._folder / f"layer={name}").mkdir()
                self._layers[name] = _LayerWriter(self._folder / f"layer={name}" / PART_FILE, self._meta.get(name))
        elif set(layers) != set(self._layers):
            raise ValueError(f"activation batch has layers {sorted(layers)}; expected {sorted(self._layers)}")
        for name, features in layers.items():
            self._layers[name].append(sample_ids, roles, labels, features.reshape(len(features), -1))

    @property
    def peak_buffered_rows(self) -> int:
        """The most rows any layer held in memory at once: at most ROW_GROUP_ROWS plus one batch."""
        return max((w.peak_buffered_rows for w in self._layers.values()), default=0)

    def close(self) -> None:
        for writer in self._layers.values():
            writer.close()

    def abort(self) -> None:
        for writer in self._layers.values():
            writer.abort()


STATUS_FILE = "_status.json"  # leading underscore: Parquet dataset readers skip it


@dataclass
class ModelActivations:
    """One model's activations as the extract stage computes them: batches of rows (sample ids, roles,
    labels, layer -> (rows, units)), consumed once by the writer so that one batch is in memory at a time.
    A model without weights (status `failed` or `skipped`) has no batches; its folder holds only the status."""

    status: str
    layer_meta: dict[str, dict[str, str]] = field(default_factory=dict)
    batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]] = ()


@contextlib.contextmanager
def stream_model_activations(out_dir: str | Path,
                             meta: dict[str, dict[str, str]] | None = None) -> Iterator[ActivationWriter]:
    """Stream one model's activations into out_dir (the model=<id> folder), replacing it whole when the
    block ends without error. At most ROW_GROUP_ROWS rows per layer (plus one batch) are held before they
    go to disk, and the bytes do not depend on the batch sizes. meta: layer -> {key: value} stored in that
    layer file's schema metadata (read back with layer_metadata)."""
    with atomic_dir(out_dir) as tmp:
        writer = ActivationWriter(tmp, meta)
        try:
            yield writer
        except BaseException:
            writer.abort()  # release the open files; atomic_dir then removes the folder
            raise
        writer.close()


def write_model_activations(
    out_dir: str | Path,
    sample_ids: np.ndarray,
    roles: np.ndarray,
    labels: np.ndarray,
    layers: dict[str, np.ndarray],
    meta: dict[str, dict[str, str]] | None = None,
) -> None:
    """Write every layer of one model, held whole in memory, into out_dir (the model=<id> folder), replacing
    it whole; the same bytes as streaming the rows in batches. meta: as for stream_model_activations."""
    with stream_model_activations(out_dir, meta) as writer:
        writer.append(sample_ids, roles, labels, layers)


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
