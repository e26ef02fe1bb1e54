import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from muaudit.config import defaults_document, load_params, parse_params
from muaudit.errors import BadInputError

ROOT = Path(__file__).resolve().parents[1]


def _differences(yaml_doc, code_doc, path: str = "") -> list[str]:
    if isinstance(yaml_doc, dict) and isinstance(code_doc, dict):
        out = []
        for key in sorted(set(yaml_doc) | set(code_doc), key=str):
            where = f"{path}{key}"
            if key not in code_doc:
                out.append(f"{where}: in params.yaml, not in the code")
            elif key not in yaml_doc:
                out.append(f"{where}: default {code_doc[key]!r} in the code, missing from params.yaml")
            else:
                out += _differences(yaml_doc[key], code_doc[key], where + ".")
        return out
    return [] if yaml_doc == code_doc else [f"{path[:-1]}: params.yaml {yaml_doc!r}, code default {code_doc!r}"]


def test_params_file_states_every_code_default_key_by_key():
    """params.yaml holds exactly the defaults of muaudit/config.py and the method and metric registries."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert _differences(raw, defaults_document()) == []


def test_the_defaults_check_sees_a_changed_or_missing_key():
    doc = defaults_document()
    changed = copy.deepcopy(doc)
    changed["unlearn"]["finetune"]["lr"] = 123.0
    del changed["train"]["epochs"]
    changed["split"]["extra"] = 1
    assert _differences(changed, doc) == [
        "split.extra: in params.yaml, not in the code",
        "train.epochs: default 30 in the code, missing from params.yaml",
        f"unlearn.finetune.lr: params.yaml 123.0, code default {doc['unlearn']['finetune']['lr']!r}",
    ]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"split": {"forget_fractoin": 0.1}}, "split.forget_fractoin: unknown key (did you mean 'forget_fraction'?)"),
        ({"split": {"forget_fraction": 1.5}}, "split.forget_fraction"),
        ({"unlearn": {"methods": ["finetun"]}}, "did you mean 'finetune'"),
        ({"retrain": {"seeds": [1]}}, "retrain.seeds: at least two seeds"),
        ({"retrain": {"seeds": [1, 2]}}, "retrain.seeds: 2 seeds cannot reach metrics.verdict.alpha = 0.05"),
        ({"retrain": {"seeds": [1, 2, 3]}, "metrics": {"verdict": {"alpha": 0.01}}}, "expected at least 4 seeds"),
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


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"train": {"epochs": "ten"}}, "train.epochs"),
        ({"data": {"test_fraction": 0.0}}, "data.test_fraction"),
        ({"retrain": {"seeds": "1,2"}}, "retrain.seeds"),
        ({"unlearn": {"finetune": {"lr": -1}}}, "unlearn.finetune.lr"),
        ({"unlearn": {"finetun": {}}}, "did you mean 'finetune'"),
        ({"runtime": {"device": "tpu"}}, "runtime.device"),
        ({"runtime": {"checkpoint_every": 0}}, "runtime.checkpoint_every: expected 'auto', 'off' or a number"),
        ({"runtime": {"checkpoint_every": True}}, "runtime.checkpoint_every"),
        ({"runtime": {"checkpoint_every": "sometimes"}}, "runtime.checkpoint_every"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_wrong_types_and_ranges_give_one_line(raw, fragment):
    with pytest.raises(BadInputError) as err:
        parse_params(raw)
    assert fragment in str(err.value) and "\n" not in str(err.value)


_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_keys = st.sampled_from(["data", "split", "model", "train", "retrain", "unlearn", "extract", "metrics", "runtime",
                         "name", "seeds", "methods", "forget_classes", "lr", "epochs", "layers", "finetune", "x"])
_values = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
                       max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=5) | _values)
def test_fuzzed_params_load_or_fail_cleanly(raw):
    try:
        parse_params(raw)
    except BadInputError as err:
        assert str(err) and "\n" not in str(err)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_fuzzed_yaml_text_loads_or_fails_cleanly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "params.yaml"
    path.write_text(text)
    try:
        load_params(path)
    except BadInputError as err:
        assert "\n" not in str(err)


def test_registry_checks_can_be_deferred():
    """A no-op `muaudit run` checks shape, keys and ranges only: every stage already checked its blocks."""
    raw = {"unlearn": {"methods": ["finetune", "no_such_method"]}, "metrics": {"enabled": ["no_such_metric"]}}
    assert parse_params(raw, registries=False).unlearn.methods == ["finetune", "no_such_method"]
    with pytest.raises(BadInputError, match="no_such_(method|metric)"):
        parse_params(raw)
    with pytest.raises(BadInputError, match="split.forget_fractoin: unknown key"):
        parse_params({"split": {"forget_fractoin": 0.1}}, registries=False)


def test_importing_the_config_imports_neither_torch_nor_sklearn():
    code = "import sys, muaudit.config; print(sorted({'torch', 'sklearn', 'scipy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
