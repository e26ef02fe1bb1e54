"""Checks that need the dataset or the model: each bad value gives one line naming the key."""

from __future__ import annotations

import pytest

from muaudit.config import parse_params
from muaudit.errors import BadInputError
from muaudit.validate import validate_inputs


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"split": {"scenario": "class", "forget_classes": [3, 11]}}, "split.forget_classes: [11] not in the dataset"),
        ({"split": {"scenario": "random", "forget_fraction": 0.0001}}, "split: the forget set is empty"),
        ({"extract": {"layers": ["block1", "blok2"]}}, "extract.layers: unknown layer 'blok2'"),
        ({"model": {"name": "small_cn"}}, "model.name: unknown model 'small_cn' (did you mean 'small_cnn'?)"),
        ({"data": {"name": "digit"}}, "data.name: unknown dataset 'digit' (did you mean 'digits'?)"),
        ({"data": {"path": "supplied/data/digits.npz"}}, "data.path: supplied/data/digits.npz: missing"),
        ({"data": {"path": "/elsewhere/digits.npz"}}, "data.path: '/elsewhere/digits.npz' must be a relative path under supplied/data/"),
        ({"model": {"name": "mlp"}, "unlearn": {"methods": ["representation_scrub"], "representation_scrub": {"layer": "fc"}}},
         "unlearn.representation_scrub.layer: unknown layer 'fc' for mlp"),
    ],
)
def test_inputs_checked_against_dataset_and_model(raw, fragment):
    with pytest.raises(BadInputError) as err:
        validate_inputs(parse_params(raw))
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_default_params_are_valid():
    validate_inputs(parse_params({}))
