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
