"""muaudit.data.checks: each bad-data case is one line naming the file, the sample or column, and what was
expected; the finiteness pass is chunked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from muaudit.config import parse_params
from muaudit.data import get_dataset, make_roles
from muaudit.data.checks import check_model_input, check_samples, first_nonfinite
from muaudit.errors import BadInputError
from muaudit.metrics.registry import forget_minimum
from muaudit.models import build_model

SRC = "data.path: supplied/data/d.npz"


def good(n: int = 60, classes: int = 3):
    rng = np.random.default_rng(0)
    x = rng.random((n, 1, 4, 4), dtype=np.float32)
    y = np.arange(n) % classes
    ids = np.array([f"s{i}" for i in range(n)])
    return x, y, ids


def one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text, text
    return text


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda x, y, ids: x.__setitem__((7, 0, 2, 3), np.nan), "sample s7: feature (0, 2, 3) is nan; expected finite numbers"),
        (lambda x, y, ids: x.__setitem__((9, 0, 0, 1), -np.inf), "sample s9: feature (0, 0, 1) is -inf"),
        (lambda x, y, ids: y.__setitem__(4, 5), "sample s4: label 5 is outside the declared classes; expected 0..2"),
        (lambda x, y, ids: y.__setitem__(4, -1), "sample s4: label -1 is outside the declared classes"),
        (lambda x, y, ids: ids.__setitem__(11, "s3"), "sample id 's3' appears 2 times (rows 3, 11); expected unique"),
        (lambda x, y, ids: ids.__setitem__(5, " "), "row 5 has an empty sample id"),
    ],
    ids=["nan", "inf", "label-above", "label-negative", "duplicate-id", "empty-id"],
)
def test_each_bad_sample_is_one_line_naming_it(edit, fragment):
    x, y, ids = good()
    ids = ids.astype(object)
    edit(x, y, ids)
    with pytest.raises(BadInputError) as err:
        check_samples(x, y, ids, 3, SRC)
    assert one_line(err).startswith(SRC) and fragment in str(err.value)


def test_unreadable_dtype_names_the_array(tmp_path: Path):
    np.savez(tmp_path / "d.npz", x=np.array([["a", "b"], ["c", "d"]]), y=np.array([0, 1]))
    with pytest.raises(BadInputError) as err:
        get_dataset("npz", str(tmp_path / "d.npz"))
    assert "array x has dtype <U1 (str32); expected real numbers" in one_line(err)
    np.savez(tmp_path / "c.npz", x=np.ones((2, 2), dtype=complex), y=np.array([0, 1]))
    with pytest.raises(BadInputError, match="array x has dtype <c16"):
        get_dataset("npz", str(tmp_path / "c.npz"))


def test_npz_declared_classes_bound_the_labels(tmp_path: Path):
    x, y, ids = good()
    np.savez(tmp_path / "d.npz", x=x, y=y, ids=ids, num_classes=np.int64(2))
    with pytest.raises(BadInputError) as err:
        get_dataset("npz", str(tmp_path / "d.npz"))
    assert "sample s2: label 2 is outside the declared classes; expected 0..1 (2 classes)" in one_line(err)


def test_tabular_non_finite_names_the_column_and_the_sample(tmp_path: Path):
    table = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, np.inf, 0.0, 2.0], "label": [0, 1, 0, 1],
                          "uid": ["u1", "u2", "u3", "u4"]})
    table.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(BadInputError) as err:
        get_dataset("tabular", str(tmp_path / "t.csv"), id_column="uid")
    assert "t.csv: sample u2: column 'b' is inf; expected finite numbers" in one_line(err)


def test_finiteness_pass_is_chunked_and_finds_a_value_in_a_late_chunk():
    x = np.zeros((1000, 3, 2), dtype=np.float32)
    x[937, 2, 1] = np.nan
    assert first_nonfinite(x, chunk=64) == (937, 5)
    assert first_nonfinite(x[:900], chunk=64) is None
    assert first_nonfinite(np.ones((5, 2), dtype=np.int64)) is None  # integers are always finite


@pytest.mark.parametrize(
    ("y", "scenario", "fragment"),
    [
        (np.r_[np.arange(59) % 2, 2], "random", "class 2 has no sample in test (it has 1 sample(s)"),
        (np.arange(60) % 3, "class", None),  # the forget class missing from retain is the scenario
    ],
    ids=["class-missing-from-test", "class-scenario-ok"],
)
def test_every_class_in_test_and_every_kept_class_in_retain(y, scenario, fragment):
    if fragment is None:
        roles = make_roles(y, scenario, 0.2, [1], 0.2, 0, num_classes=3)
        assert not (y[roles == "retain"] == 1).any() and (y[roles == "test"] == 1).any()
        return
    with pytest.raises(BadInputError) as err:
        make_roles(y, scenario, 0.2, [], 0.2, 0, num_classes=3)
    assert one_line(err).startswith("split: ") and fragment in str(err.value)


def test_a_declared_class_without_samples_is_named():
    with pytest.raises(BadInputError, match="class 3 has no sample in retain \\(the dataset has no sample of it\\)"):
        make_roles(np.arange(60) % 3, "random", 0.2, [], 0.2, 0, num_classes=4)


def test_forget_set_empty_or_too_small():
    y = np.arange(100) % 4
    with pytest.raises(BadInputError, match="^split: the forget set is empty"):
        make_roles(y, "random", 0.001, [], 0.2, 0, num_classes=4)
    with pytest.raises(BadInputError, match="^split: the forget set has 1 sample; expected at least 2"):
        make_roles(y, "random", 0.0125, [], 0.2, 0, num_classes=4)


def test_forget_minimum_comes_from_the_metrics_hook():
    cfg = parse_params({"metrics": {"probe": {"folds": 7}}}).metrics.parsed()
    assert forget_minimum(cfg, "class") == (7, "metric probe (metrics.probe)")
    cfg = parse_params({"metrics": {"enabled": ["accuracy", "cka"]}}).metrics.parsed()
    assert forget_minimum(cfg, "class")[0] == 2


def test_a_sample_shape_the_model_cannot_take_is_refused():
    x = np.zeros((10, 64), dtype=np.float32)  # flat features, small_cnn wants images
    with pytest.raises(BadInputError) as err:
        check_model_input(lambda: build_model("small_cnn", (64,), 3), x, 3, "small_cnn", SRC)
    assert one_line(err).startswith(f"{SRC}: samples of shape (64,) do not fit model small_cnn (small_cnn expects")
    x = np.zeros((10, 1, 8, 8), dtype=np.float32)
    check_model_input(lambda: build_model("small_cnn", (1, 8, 8), 3), x, 3, "small_cnn", SRC)  # fits
    with pytest.raises(BadInputError, match="gives outputs of shape \\(3,\\) for samples of shape \\(1, 8, 8\\); expected 5"):
        check_model_input(lambda: build_model("small_cnn", (1, 8, 8), 3), x, 5, "small_cnn", SRC)
