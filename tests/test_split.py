import numpy as np
import pytest

from muaudit.data import get_dataset, load_split, make_roles, write_split
from muaudit.errors import BadInputError


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits")


def test_roles_deterministic_and_disjoint(digits):
    a = make_roles(digits.y, "random", 0.1, [], 0.2, seed=7)
    b = make_roles(digits.y, "random", 0.1, [], 0.2, seed=7)
    c = make_roles(digits.y, "random", 0.1, [], 0.2, seed=8)
    assert (a == b).all() and not (a == c).all()
    assert set(a) == {"forget", "retain", "test"}  # one role per sample: disjoint by construction
    n_train = (a != "test").sum()
    assert (a == "forget").sum() == round(0.1 * n_train)


def test_class_scenario_forgets_every_train_sample_of_the_class(digits):
    roles = make_roles(digits.y, "class", 0.1, [3], 0.2, seed=0)
    assert (digits.y[roles == "forget"] == 3).all()
    assert not ((digits.y == 3) & (roles == "retain")).any()
    assert ((digits.y == 3) & (roles == "test")).any()


def test_unknown_forget_class_is_rejected(digits):
    with pytest.raises(BadInputError, match="split.forget_classes"):
        make_roles(digits.y, "class", 0.1, [42], 0.2, seed=0)


def test_written_split_is_byte_identical_and_reloads(tmp_path, digits):
    roles = make_roles(digits.y, "random", 0.1, [], 0.2, seed=0)
    s1 = write_split(tmp_path / "a", digits, roles)
    s2 = write_split(tmp_path / "b", digits, roles)
    assert s1 == s2
    for name in ("manifest.parquet", "dataset.safetensors", "split.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    data = load_split(tmp_path / "a")
    assert np.array_equal(data.roles, roles) and data.x.shape == digits.x.shape


def test_truncated_manifest_names_the_file(tmp_path, digits):
    write_split(tmp_path, digits, make_roles(digits.y, "random", 0.1, [], 0.2, seed=0))
    path = tmp_path / "manifest.parquet"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BadInputError, match="manifest.parquet"):
        load_split(tmp_path)


def test_ids_scenario_forgets_exactly_the_requested_samples(digits):
    wanted = ["digits-00000", "digits-00007", "digits-01000"]
    roles = make_roles(digits.y, "ids", 0.1, [], 0.2, 0, digits.sample_ids, wanted)
    assert sorted(digits.sample_ids[roles == "forget"].tolist()) == wanted


def test_ids_scenario_names_unknown_ids(digits):
    with pytest.raises(BadInputError, match=r"split.forget_ids: 2 id\(s\) not in the dataset: nope-1, nope-2"):
        make_roles(digits.y, "ids", 0.1, [], 0.2, 0, digits.sample_ids, ["digits-00000", "nope-2", "nope-1"])
