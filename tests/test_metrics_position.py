"""position on synthetic representations where the forgotten class keeps part of the original's offset."""

import numpy as np
import pytest
from synthetic_reps import World, aggregates, distance_out, side_of

from muaudit.metrics.cka import linear_cka
from muaudit.metrics.position import position_metric, relative_position


@pytest.fixture(scope="module")
def class_world():
    # class scenario: the forget set is one whole class; F = the original's offset of that class (+ spread)
    return World(seed=7, forget_class=2, forget_scale=1.0)


def test_position_ideal_and_fresh_inside_kept_offset_outside(class_world):
    w = class_world
    ctx = w.context({"ideal": w.derived(0.0), "fresh": w.retrained(), "half": w.derived(0.5), "most": w.derived(0.9)},
                    scenario="class")
    agg = aggregates(position_metric(ctx, None), "position", "forget")
    assert side_of(agg, "ideal") == 0 and side_of(agg, "fresh") == 0, agg
    assert side_of(agg, "half") == 1 and side_of(agg, "original") == 1, agg
    assert distance_out(agg, "most") > distance_out(agg, "half")


def test_forget_cka_blind_to_a_common_shift_position_is_not(class_world):
    # the defect position covers: a common shift of the forget rows leaves forget-role CKA unchanged
    w = class_world
    forget = w.roles == "forget"
    shift = np.zeros_like(w.shared)
    shift[forget] = 2.0 * w.rng.standard_normal(w.d)
    ideal, shifted = w.shared + w.eps_original, w.shared + w.eps_original + shift
    assert linear_cka(ideal[forget], shifted[forget]) == pytest.approx(1.0)
    p0 = relative_position(ideal, w.labels, np.flatnonzero(forget), np.flatnonzero(w.roles == "retain"))
    p1 = relative_position(shifted, w.labels, np.flatnonzero(forget), np.flatnonzero(w.roles == "retain"))
    assert np.sqrt(np.mean((p1 - p0) ** 2)) > 0.05  # distances change by ~5% of the class spacing


def test_relative_position_invariant_to_rotation_shift_and_scale(class_world):
    w = class_world
    x = w.shared
    q = np.linalg.qr(w.rng.standard_normal((w.d, w.d)))[0]
    f, r = np.flatnonzero(w.roles == "forget"), np.flatnonzero(w.roles == "retain")
    assert np.allclose(relative_position(x, w.labels, f, r), relative_position(3.0 * x @ q + 5.0, w.labels, f, r))
