import numpy as np
import pytest

from muaudit.metrics.cka import linear_cka


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(300, 20))


def test_cka_of_identical_is_one(x):
    assert linear_cka(x, x) == pytest.approx(1.0)


def test_cka_invariant_to_orthogonal_transform_and_isotropic_scaling(x):
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(20, 20)))
    assert linear_cka(x, 3.5 * x @ q) == pytest.approx(1.0)
    y = np.random.default_rng(2).normal(size=(300, 10))
    assert linear_cka(x, y) == pytest.approx(linear_cka(2.0 * x @ q, y), abs=1e-9)


def test_cka_of_independent_features_is_near_zero(x):
    y = np.random.default_rng(3).normal(size=(300, 20))
    assert abs(linear_cka(x, y)) < 0.05  # the debiased estimator is not inflated at d ~ n/15
