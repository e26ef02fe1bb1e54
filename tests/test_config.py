import pytest

from muaudit.config import load_params, parse_params
from muaudit.errors import BadInputError


def test_defaults_match_params_file():
    assert load_params("params.yaml").split.scenario in ("random", "class")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"split": {"forget_fractoin": 0.1}}, "split.forget_fractoin: unknown key (did you mean 'forget_fraction'?)"),
        ({"split": {"forget_fraction": 1.5}}, "split.forget_fraction"),
        ({"unlearn": {"methods": ["finetun"]}}, "did you mean 'finetune'"),
        ({"retrain": {"seeds": [1]}}, "retrain.seeds: at least two seeds"),
        ({"runtime": {"threads": 0}}, "runtime.threads"),
        ({"split": {"scenario": "class", "forget_classes": []}}, "forget_classes"),
        ({"dat": {}}, "dat: unknown key (did you mean 'data'?)"),
    ],
)
def test_bad_params_give_one_line_naming_the_key(raw, fragment):
    with pytest.raises(BadInputError) as err:
        parse_params(raw)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_params_file(tmp_path):
    with pytest.raises(BadInputError, match="missing"):
        load_params(tmp_path / "params.yaml")
