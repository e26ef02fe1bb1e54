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
