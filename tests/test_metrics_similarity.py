"""Known answers and invariances of CKA and Procrustes."""

import numpy as np
import pytest

from muaudit.metrics.cka import linear_cka
from muaudit.metrics.procrustes import orthogonal_map, procrustes_distance


def _rot(d, rng):
    return np.linalg.qr(rng.standard_normal((d, d)))[0]


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((300, 20)) @ np.diag(np.linspace(3, 0.3, 20))


def test_cka_self_is_one(x):
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-10)


def test_cka_invariant_to_rotation_scale_and_shift(x):
    rng = np.random.default_rng(1)
    y = x + 0.5 * rng.standard_normal(x.shape)
    base = linear_cka(x, y)
    assert linear_cka(x @ _rot(20, rng) * 7.0 + 3.0, y) == pytest.approx(base, abs=1e-10)


def test_cka_independent_is_near_zero():
    rng = np.random.default_rng(2)
    # debiased: ≈ 0 for independent features even with d close to n (the biased estimator is inflated)
    assert abs(linear_cka(rng.standard_normal((200, 100)), rng.standard_normal((200, 100)))) < 0.05


def test_procrustes_zero_for_rotated_scaled_copy(x):
    rng = np.random.default_rng(3)
    assert procrustes_distance(x, 2.5 * x @ _rot(20, rng) + 1.0) == pytest.approx(0.0, abs=1e-10)


def test_procrustes_range_and_symmetry(x):
    y = np.random.default_rng(4).standard_normal(x.shape)
    d = procrustes_distance(x, y)
    assert 0 < d <= 2 and d == pytest.approx(procrustes_distance(y, x), abs=1e-10)


def test_orthogonal_map_recovers_rotation(x):
    q = _rot(20, np.random.default_rng(5))
    assert np.allclose(orthogonal_map(x, x @ q), q, atol=1e-8)
