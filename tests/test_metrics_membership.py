"""Membership attacks and probes at chance where nothing distinguishes the groups."""

import numpy as np
import pytest

from muaudit.metrics.output import auc
from muaudit.metrics.probe import ProbeParams, class_probe_accuracy, membership_probe_auc


def test_auc_known_values():
    assert auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert auc(np.array([0.0]), np.array([0.0])) == 0.5


def test_auc_identical_distributions_near_half():
    rng = np.random.default_rng(0)
    assert auc(rng.standard_normal(2000), rng.standard_normal(2000)) == pytest.approx(0.5, abs=0.03)


def test_membership_probe_chance_on_identical_inputs():
    rng = np.random.default_rng(1)
    v = membership_probe_auc(rng.standard_normal((300, 16)), rng.standard_normal((400, 16)), ProbeParams())
    assert v == pytest.approx(0.5, abs=0.08)


def test_membership_probe_detects_shift():
    rng = np.random.default_rng(2)
    v = membership_probe_auc(rng.standard_normal((300, 16)) + 0.5, rng.standard_normal((300, 16)), ProbeParams())
    assert v > 0.85


def _clustered(rng, n, k=5, d=16):
    y = rng.integers(0, k, n)
    return rng.standard_normal((k, d))[y] * 3 + rng.standard_normal((n, d)), y


def test_class_probe_decodes_clusters_and_chance_on_shuffled_labels():
    rng = np.random.default_rng(3)
    x, y = _clustered(rng, 800)
    forget = np.flatnonzero(np.arange(800) < 200)
    heldout = np.flatnonzero(np.arange(800) >= 200)
    assert class_probe_accuracy(x, y, forget, heldout, ProbeParams()) > 0.95
    shuffled = rng.permutation(y)
    assert class_probe_accuracy(x, shuffled, forget, heldout, ProbeParams()) == pytest.approx(0.2, abs=0.08)


def test_class_probe_balanced_not_fooled_by_the_forgotten_class_prior():
    # features carry no class at all; the forgotten class has 4x the samples of any other in the fit pool.
    # An imbalanced probe predicts it from the prior alone (accuracy near 1); a balanced one is at chance.
    rng = np.random.default_rng(5)
    y = np.r_[np.zeros(200, int), rng.permutation(np.repeat(np.arange(5), 40))]
    x = rng.standard_normal((len(y), 8))
    forget, heldout = np.arange(200), np.arange(200, len(y))
    assert class_probe_accuracy(x, y, forget, heldout, ProbeParams()) < 0.45
    # the same pool without balancing: what the old probe measured
    from sklearn.linear_model import LogisticRegression

    prior_only = LogisticRegression(C=0.1).fit(x[np.r_[heldout, forget[:160]]], y[np.r_[heldout, forget[:160]]])
    assert (prior_only.predict(x[forget[160:]]) == 0).mean() > 0.9


def test_probe_repeats_are_seeded():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((300, 6)), np.repeat(np.arange(3), 100)
    forget, heldout = np.flatnonzero(y == 0)[:60], np.r_[np.flatnonzero(y == 0)[60:], np.flatnonzero(y > 0)]
    p = ProbeParams()
    assert class_probe_accuracy(x, y, forget, heldout, p, 1) == class_probe_accuracy(x, y, forget, heldout, p, 1)
    assert class_probe_accuracy(x, y, forget, heldout, p, 1) != class_probe_accuracy(x, y, forget, heldout, p, 2)
