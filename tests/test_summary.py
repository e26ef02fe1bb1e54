"""The summary table's representation columns come from the model's own penultimate layer, named in the header."""

from __future__ import annotations

import math

import pytest

from muaudit.metrics.table import row, to_frame
from muaudit.models.registry import default_layers
from muaudit.report.summary import summary_layer, summary_table


@pytest.mark.parametrize(("model", "shape", "expected"),
                         [("mlp", (13,), "hidden2"), ("resnet18", (3, 32, 32), "layer4"), ("small_cnn", (1, 8, 8), "fc")])
def test_summary_layer_is_the_models_penultimate_default_layer(model: str, shape: tuple, expected: str):
    assert summary_layer(default_layers(model, shape, 10)) == expected


@pytest.mark.parametrize("layer", ["hidden2", "layer4"])
def test_summary_columns_show_the_numbers_at_that_layer(layer: str):
    rows = []
    for metric, lo, hi in (("cka", 0.8, 0.9), ("procrustes", 0.1, 0.2), ("probe", 0.0, 0.1)):
        rows += [row("retrain", "band", layer, "forget", f"{metric}:low", lo),
                 row("retrain", "band", layer, "forget", f"{metric}:high", hi),
                 row("finetune", "band", layer, "forget", metric, (lo + hi) / 2),
                 row("original", "band", layer, "forget", metric, hi + 0.05)]
    rows += [row(m, "band", "", "", "verdict", math.nan, "consistent") for m in ("original", "finetune")]
    table = summary_table(to_frame(rows), ["retrain_1", "retrain_2"], ["finetune"], layer)
    by_model = table.set_index("model")
    assert f"CKA {layer} (forget)" in table.columns and f"probe {layer} (forget)" in table.columns
    assert by_model.loc["finetune", f"CKA {layer} (forget)"] == "0.850"
    assert by_model.loc["original", f"Procrustes {layer} (forget)"] == "0.250"
    assert by_model.loc["retrain band (2 seeds)", f"probe {layer} (forget)"] == "[0.000, 0.100]"
