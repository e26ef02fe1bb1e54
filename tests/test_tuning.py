"""The tuning core (muaudit.tuning), the search-space declarations and the tuning split, on synthetic inputs."""

import math

import numpy as np
import pytest

from muaudit import tuning
from muaudit.config import parse_params
from muaudit.data import get_dataset, load_split, make_roles, write_split
from muaudit.data.split import tuning_mask
from muaudit.errors import BadInputError
from muaudit.methods import registry
from muaudit.tuning import Range

REFERENCE = {"forget": [0.0, 0.0, 0.0], "retain": [0.95, 0.96, 0.97], "test": [0.90, 0.92, 0.94], "mia": [1.0, 1.0, 1.0]}
LIMITS = tuning.band(REFERENCE, alpha=0.05, floor=0.005)


def test_band_and_gap_known_answers():
    # predictive t interval, K = 3, level 0.05 / 4 two-sided: t(0.99375, 2) = 8.86; half = t * s * sqrt(4/3)
    t = 8.860
    assert LIMITS["forget"] == pytest.approx((-t * 0.005 * math.sqrt(4 / 3), t * 0.005 * math.sqrt(4 / 3)), rel=1e-3)
    assert LIMITS["retain"] == pytest.approx((0.96 - t * 0.01 * math.sqrt(4 / 3), 0.96 + t * 0.01 * math.sqrt(4 / 3)),
                                             rel=1e-3)
    ideal = {"forget": 0.0, "retain": 0.96, "test": 0.92, "mia": 1.0}
    assert tuning.output_gap(ideal, REFERENCE) == pytest.approx(0.0)
    assert tuning.in_band(ideal, LIMITS)
    residue = {**ideal, "forget": 0.4, "mia": 0.6}
    assert tuning.output_gap(residue, REFERENCE) == pytest.approx((0.4 + 0.4) / 4)
    assert not tuning.in_band(residue, LIMITS)
    # retain/test above the band are no discrepancy (as in the verdict); below is
    assert tuning.in_band({**ideal, "retain": 1.0}, LIMITS)
    assert not tuning.in_band({**ideal, "test": 0.5}, LIMITS)
    assert tuning.output_gap({**ideal, "mia": math.nan}, REFERENCE) == tuning.FAILED_GAP  # NaN fails closed
    assert not tuning.in_band({**ideal, "mia": math.nan}, LIMITS)


def synthetic(setting: dict) -> dict | None:
    """A method whose forget accuracy falls with lr x epochs and whose retain accuracy breaks if it is too large."""
    if setting["lr"] > 0.5:
        return None  # diverged
    strength = setting["lr"] * setting["epochs"]
    forget = max(0.0, 0.9 - 3 * strength)
    return {"forget": forget, "retain": 0.96 - max(0.0, strength - 0.4), "test": 0.92, "mia": 1.0 - forget}


RANGES = {"lr": Range(1e-3, 1.0, log=True), "epochs": Range(1, 5)}


def test_identical_seeds_give_the_identical_choice_and_another_seed_searches_elsewhere():
    a = tuning.search(synthetic, RANGES, {"epochs"}, 12, 0, REFERENCE, LIMITS)
    b = tuning.search(synthetic, RANGES, {"epochs"}, 12, 0, REFERENCE, LIMITS)
    c = tuning.search(synthetic, RANGES, {"epochs"}, 12, 1, REFERENCE, LIMITS)
    assert a == b and tuning.choose(a) == tuning.choose(b)
    assert [t["setting"] for t in a] != [t["setting"] for t in c]
    assert all(isinstance(t["setting"]["epochs"], int) and 1 <= t["setting"]["epochs"] <= 5 for t in a)


def test_search_reaches_the_band_on_a_reachable_method_and_scores_failures_worst():
    table = tuning.search(synthetic, RANGES, {"epochs"}, 20, 0, REFERENCE, LIMITS)
    best = tuning.choose(table)
    assert best["in_band"] and best["gap"] == min(t["gap"] for t in table if t["in_band"])
    failed = [t for t in table if t["status"] == "failed"]
    assert all(t["gap"] == tuning.FAILED_GAP and not t["in_band"] for t in failed)


def test_choose_prefers_a_setting_inside_the_band_over_a_smaller_gap_outside():
    table = [{"number": 0, "gap": 0.01, "in_band": False}, {"number": 1, "gap": 0.03, "in_band": True}]
    assert tuning.choose(table)["number"] == 1
    assert tuning.choose([t | {"in_band": False} for t in table])["number"] == 0


def test_all_keys_fixed_evaluates_the_fixed_setting_once():
    calls = []
    table = tuning.search(lambda s: calls.append(s) or synthetic({"lr": 0.1, "epochs": 2}), {}, set(), 8, 0,
                          REFERENCE, LIMITS)
    assert len(table) == 1 and calls == [{}]


def test_every_training_method_declares_a_space_within_its_params_and_controls_none():
    for name in registry.names():
        spec = registry.get(name)
        if spec.control or name == "external":
            assert not spec.search
            continue
        assert spec.search, name
        ranges, fixed, trials = registry.tuning_space(name, None)  # each end is valid for the method's params
        assert ranges == spec.search and not fixed and trials is None
        assert set(spec.search) <= set(spec.params.model_fields)


def test_params_narrow_fix_and_budget_the_space():
    ranges, fixed, trials = registry.tuning_space(
        "finetune", {"search": {"lr": [0.01, 0.05], "epochs": 3, "trials": 4}})
    assert ranges == {"lr": Range(0.01, 0.05, log=True)} and fixed == {"epochs": 3} and trials == 4


@pytest.mark.parametrize(("search", "fragment"), [
    ({"momentum": [0.1, 0.5]}, "unlearn.finetune.search.momentum: not a tunable key"),
    ({"lr": [0.1, 0.01]}, "unlearn.finetune.search.lr: expected [low, high]"),
    ({"lr": [0.0, 0.01]}, "log-uniform range needs low > 0"),
    ({"lr": "fast"}, "unlearn.finetune.search.lr: expected [low, high] to narrow or a number to fix"),
    ({"epochs": 0}, "unlearn.finetune.search.epochs"),
    ({"trials": 0}, "unlearn.finetune.search.trials"),
])
def test_bad_search_blocks_fail_with_one_line_naming_the_key(search, fragment):
    with pytest.raises(BadInputError, match=fragment.replace("[", r"\[")):
        parse_params({"unlearn": {"methods": ["finetune"], "finetune": {"search": search}}})


def test_tune_list_defaults_to_the_training_methods_and_rejects_controls():
    p = parse_params({"unlearn": {"methods": ["finetune", "head_only", "ssd"]}})
    assert p.unlearn.tuned() == ["finetune", "ssd"]
    assert parse_params({"unlearn": {"methods": ["finetune"], "tune": []}}).unlearn.tuned() == []
    with pytest.raises(BadInputError, match="unlearn.tune: 'head_only' is a control"):
        parse_params({"unlearn": {"methods": ["finetune", "head_only"], "tune": ["head_only"]}})
    with pytest.raises(BadInputError, match="unlearn.tune: 'ssd' is not in unlearn.methods"):
        parse_params({"unlearn": {"methods": ["finetune"], "tune": ["ssd"]}})
    with pytest.raises(BadInputError, match="split.tune_fraction: 0 sets no tuning split aside"):
        parse_params({"split": {"tune_fraction": 0}, "unlearn": {"methods": ["finetune"]}})


def test_tuning_split_is_a_seeded_share_of_each_role_and_leaves_the_roles_alone(tmp_path):
    digits = get_dataset("digits")
    roles = make_roles(digits.y, "class", 0.1, [3], 0.2, seed=0)
    a, b, c = tuning_mask(roles, 0.2, 0), tuning_mask(roles, 0.2, 0), tuning_mask(roles, 0.2, 1)
    assert (a == b).all() and not (a == c).all()
    for role in ("forget", "retain", "test"):
        assert a[roles == role].sum() == round(0.2 * (roles == role).sum())
    write_split(tmp_path / "t", digits, roles, a)
    assert (load_split(tmp_path / "t").tune == a).all()
    # no tuning split: the same bytes as a split written without one (the pipeline of before)
    write_split(tmp_path / "none", digits, roles, tuning_mask(roles, 0.0, 0))
    write_split(tmp_path / "before", digits, roles)
    for name in ("manifest.parquet", "dataset.safetensors", "split.json"):
        assert (tmp_path / "none" / name).read_bytes() == (tmp_path / "before" / name).read_bytes()
    assert not load_split(tmp_path / "none").tune.any()


def test_output_values_follow_the_metric_protocol():
    labels = np.array([0, 0, 1, 1, 0, 1])
    roles = np.array(["forget", "forget", "retain", "retain", "test", "test"])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6]])
    values = tuning.output_values(probs, labels, roles, None)
    assert values["forget"] == 0.5 and values["retain"] == 1.0 and values["test"] == 1.0
    assert 0.0 <= values["mia"] <= 1.0
