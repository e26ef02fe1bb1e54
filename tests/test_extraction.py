import duckdb
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
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
