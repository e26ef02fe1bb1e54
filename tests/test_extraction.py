import duckdb
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
import torch

from muaudit.extraction import extract, resolve_layers
from muaudit.models import build_model
from muaudit.store import read_layer, write_model_activations


def test_extraction_schema_and_row_counts(tmp_path):
    torch.manual_seed(0)
    model = build_model("small_cnn", (1, 8, 8), 10)
    x = torch.rand(50, 1, 8, 8)
    layers = resolve_layers(model, None)
    acts = extract(model, x, layers, batch_size=16)
    assert set(acts) == {*layers, "logits"}
    assert acts["block1"].shape == (50, 16)  # conv maps are globally average-pooled to channels
    ids = np.array([f"s{i}" for i in range(50)])
    roles = np.array(["forget"] * 10 + ["retain"] * 30 + ["test"] * 10)
    labels = np.arange(50) % 10
    write_model_activations(tmp_path / "model=m", ids, roles, labels, acts)
    meta, feats = read_layer(tmp_path, "m", "fc")
    assert list(meta.columns) == ["sample_id", "role", "label"] and feats.shape == (50, 64)
    np.testing.assert_array_equal(feats, acts["fc"])
    table = ds.dataset(tmp_path, format="parquet", partitioning="hive").to_table(filter=ds.field("layer") == "logits")
    assert table.num_rows == 50
    counts = duckdb.sql(
        f"select role, count(*) n from read_parquet('{tmp_path}/*/*/*.parquet', hive_partitioning=true) "
        "where layer = 'block2' group by role order by role"
    ).df()
    assert counts.equals(pd.DataFrame({"role": ["forget", "retain", "test"], "n": [10, 30, 10]}))


def test_pool_grid_per_layer_recorded_with_the_activations(tmp_path):
    from muaudit.store import layer_metadata

    torch.manual_seed(0)
    model = build_model("small_cnn", (1, 8, 8), 10)
    x = torch.rand(20, 1, 8, 8)
    layers = resolve_layers(model, None)
    acts = extract(model, x, layers, batch_size=8, pool={"block1": "2x2"})
    assert acts["block1"].shape == (20, 16 * 4)
    # the grid keeps what global pooling averages away; its cell means are the channel means
    mean = extract(model, x, layers, batch_size=8)["block1"]
    np.testing.assert_allclose(acts["block1"].reshape(20, 16, 4).mean(2), mean, rtol=1e-5, atol=1e-6)
    ids, roles, labels = np.array([f"s{i}" for i in range(20)]), np.array(["test"] * 20), np.zeros(20, int)
    write_model_activations(tmp_path / "a" / "model=m", ids, roles, labels, acts, {"block1": {"pool": "2x2"}})
    write_model_activations(tmp_path / "b" / "model=m", ids, roles, labels, acts, {"block1": {"pool": "2x2"}})
    assert layer_metadata(tmp_path / "a", "m", "block1") == {"pool": "2x2"}
    part = "model=m/layer=block1/part-0.parquet"
    assert (tmp_path / "a" / part).read_bytes() == (tmp_path / "b" / part).read_bytes()  # byte-reproducible


def test_pool_rejects_bad_modes_and_layers():
    from muaudit.config import ExtractParams
    from muaudit.errors import BadInputError
    from muaudit.extraction import pool_modes

    with pytest.raises(BadInputError, match="extract.pool.block1: '2by2'"):
        ExtractParams(pool={"block1": "2by2"})
    with pytest.raises(BadInputError, match="extract.pool: layer 'blok1' is not extracted"):
        pool_modes(["block1", "fc"], {"blok1": "2x2"})
    model = build_model("small_cnn", (1, 8, 8), 10)
    with pytest.raises(BadInputError, match="extract.pool.fc: '2x2' needs a spatial map"):
        extract(model, torch.rand(4, 1, 8, 8), ["fc"], pool={"fc": "2x2"})


def _hashes(folder) -> dict[str, str]:
    import hashlib
    from pathlib import Path

    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(Path(folder).rglob("*.parquet"))}


def test_streamed_store_is_written_per_batch_and_byte_identical_to_the_whole_table(tmp_path, monkeypatch):
    """The writer appends each batch to the layer files, holding at most one row group (plus one batch) per
    layer, and the bytes are those of the whole table written at once, whatever the batch size. (The forward
    pass itself may round differently per batch size, which is why extract.batch_size is a param.)"""
    import pyarrow.parquet as pq

    from muaudit.extraction import extract_batches
    from muaudit.store import activations, stream_model_activations

    monkeypatch.setattr(activations, "ROW_GROUP_ROWS", 32)  # several row groups from 100 rows
    torch.manual_seed(0)
    model = build_model("small_cnn", (1, 8, 8), 10)
    x = torch.rand(100, 1, 8, 8)
    layers = resolve_layers(model, None)
    ids = np.array([f"s{i}" for i in range(100)])
    roles = np.array(["forget", "retain", "test"])[np.arange(100) % 3]
    labels = np.arange(100) % 10
    whole = extract(model, x, layers, batch_size=7)
    assert [len(b["logits"]) for b in extract_batches(model, x, layers, 7)] == [7] * 14 + [2]
    write_model_activations(tmp_path / "whole" / "model=m", ids, roles, labels, whole)
    for batch_size in (7, 32, 100):
        with stream_model_activations(tmp_path / f"b{batch_size}" / "model=m") as writer:
            for start in range(0, 100, batch_size):
                sl = slice(start, start + batch_size)
                writer.append(ids[sl], roles[sl], labels[sl], {name: a[sl] for name, a in whole.items()})
        assert writer.peak_buffered_rows < 32 + batch_size
        assert _hashes(tmp_path / f"b{batch_size}") == _hashes(tmp_path / "whole")
    path = tmp_path / "whole" / "model=m" / "layer=fc" / "part-0.parquet"
    assert [pq.ParquetFile(path).metadata.row_group(i).num_rows for i in range(4)] == [32, 32, 32, 4]
    # and the same bytes as pyarrow writing the whole table in one call with the store's options
    reference = tmp_path / "reference.parquet"
    pq.write_table(activations._table(ids, roles, labels, whole["fc"]), reference, row_group_size=32,
                   **activations._PARQUET_OPTIONS)
    assert reference.read_bytes() == path.read_bytes()
    _, feats = read_layer(tmp_path / "whole", "m", "fc")
    np.testing.assert_array_equal(feats, whole["fc"])


def test_extract_stage_never_holds_more_than_one_batch_of_activations(tmp_path, monkeypatch):
    """The stage hands the writer one extraction batch at a time (a writer called per batch), not the whole model."""
    from muaudit.config import parse_params
    from muaudit.data import Dataset
    from muaudit.data.split import write_split
    from muaudit.models import save_model
    from muaudit.runner.stage import run_files
    from muaudit.store import activations

    appended: list[int] = []
    original_append = activations.ActivationWriter.append
    monkeypatch.setattr(activations.ActivationWriter, "append",
                        lambda self, ids, *rest: (appended.append(len(ids)), original_append(self, ids, *rest))[1])
    rng = np.random.default_rng(0)
    y = np.arange(45) % 3
    write_split(tmp_path / "split", Dataset("t", rng.random((45, 4), dtype=np.float32), y,
                                            np.array([f"s{i}" for i in range(45)]), 3),
                np.where(y == 0, "forget", np.where(np.arange(45) < 36, "retain", "test")).astype(object))
    params = parse_params({"model": {"name": "mlp"}, "extract": {"batch_size": 10}})
    torch.manual_seed(0)
    save_model(build_model("mlp", (4,), 3), tmp_path / "model", {"status": "ok"})
    dims = run_files("extract_original", params, {"model_dir": str(tmp_path / "model"), "split": str(tmp_path / "split"),
                                                   "out": str(tmp_path / "acts" / "model=m")}).metrics
    assert appended == [10, 10, 10, 10, 5]
    _, logits = read_layer(tmp_path / "acts", "m", "logits")
    assert logits.shape == (45, 3) and dims["dim_logits"] == 3.0
