"""Asymmetry, direction and concentration on synthetic representations with a known answer (tests/synthetic_reps.py).

Inside/outside is judged here with a t predictive interval on the retrain seeds' values, not with the
verdict code, so these tests check what the metrics measure, whatever rule the verdict uses.
"""

import numpy as np
import pytest
from synthetic_reps import World, aggregates, distance_out, side_of

from muaudit.metrics.phenomena import (
    PhenomenonParams,
    asymmetry_metric,
    concentration,
    concentration_metric,
    direction_metric,
    participation_ratio,
)

P = PhenomenonParams()


@pytest.fixture(scope="module")
def world_rows():
    w = World(seed=0)
    models = {"ideal": w.derived(0.0), "fresh": w.retrained(), "half": w.derived(0.5), "most": w.derived(0.9),
              "rank1_low": w.derived(0.0, w.forget_rank1(1.0)), "diffuse": w.derived(0.0, w.forget_diffuse(0.1))}
    ctx = w.context(models)
    return {"asymmetry": asymmetry_metric(ctx, P), "direction": direction_metric(ctx, P),
            "concentration": concentration_metric(ctx, P)}


CASES = [("asymmetry", ""), ("direction", "forget"), ("concentration", "forget")]


@pytest.mark.parametrize(("metric", "role"), CASES)
def test_ideal_unlearner_and_fresh_seed_inside(world_rows, metric, role):
    agg = aggregates(world_rows[metric], metric, role)
    assert side_of(agg, "ideal") == 0, agg
    assert side_of(agg, "fresh") == 0, agg


# the side on which a kept forget component shows: a residue on forget lowers asymmetry (forget further from
# retraining than retain), lowers the projection on retraining's displacement, and concentrates the residual
BAD_SIDE = {"asymmetry": -1, "direction": -1, "concentration": 1}


@pytest.mark.parametrize(("metric", "role"), CASES)
def test_partial_residue_outside_and_more_so_when_larger(world_rows, metric, role):
    agg = aggregates(world_rows[metric], metric, role)
    assert side_of(agg, "half") == BAD_SIDE[metric], agg
    assert side_of(agg, "most") == BAD_SIDE[metric], agg
    assert distance_out(agg, "most") > distance_out(agg, "half")


def test_direction_keeps_magnitude(world_rows):
    agg = aggregates(world_rows["direction"], "direction", "forget")
    retrain = np.mean([v for m, v in agg.items() if m.startswith("retrain_")])
    # removing half of the forget component moves half the way; a cosine would score both the same
    assert agg["half"] / retrain == pytest.approx(0.5, abs=0.05)
    assert agg["ideal"] / retrain == pytest.approx(1.0, abs=0.05)
    assert agg["original"] == pytest.approx(0.0, abs=1e-9)  # it did not move


def test_rank1_residue_on_low_variance_axis_flagged_diffuse_not(world_rows):
    agg = aggregates(world_rows["concentration"], "concentration", "forget")
    assert side_of(agg, "rank1_low") == 1, agg
    assert side_of(agg, "diffuse") <= 0, agg  # judged high: a diffuse residue is never flagged
    placebo = aggregates(world_rows["concentration"], "concentration", "retain")
    assert side_of(placebo, "rank1_low") == 0  # the residue is on forget only


def test_concentration_known_values():
    rng = np.random.default_rng(0)
    rank1 = np.outer(rng.standard_normal(300), np.eye(12)[11])  # along the last axis, whatever its variance
    assert participation_ratio(rank1) == pytest.approx(1.0)
    assert concentration(rank1) == pytest.approx(np.log(12))
    assert abs(concentration(rng.standard_normal((20000, 12)))) < 0.01  # isotropic: ln(d / d)
    assert np.isnan(concentration(np.zeros((10, 4))))


def test_asymmetry_zero_on_equal_n_without_forget_effect():
    # forget and retain drawn alike, retain much larger, d close to the forget set's size: the old definition
    # (distances on the two roles' own sizes) read about +0.06 of asymmetry here
    w = World(seed=3, d=64, n_test=300, n_forget=150, n_retain=1150, forget_scale=0.0)
    ctx = w.context({"fresh": w.retrained(), "ideal": w.derived(0.0)}, k=4)
    agg = aggregates(asymmetry_metric(ctx, P), "asymmetry", "")
    assert all(abs(v) < 0.03 for v in agg.values()), agg


def test_asymmetry_positive_when_only_retain_drifts():
    w = World(seed=4)
    drift = np.zeros_like(w.shared)
    drift[w.roles == "retain"] = 0.5 * w.rng.standard_normal(((w.roles == "retain").sum(), w.d))
    ctx = w.context({"drift": w.derived(0.0, drift)})
    agg = aggregates(asymmetry_metric(ctx, P), "asymmetry", "")
    assert side_of(agg, "drift") == 1, agg  # the paper's asymmetry: closer to retraining on forget than retain


def test_placebo_same_size_as_forget_and_seeded():
    from muaudit.metrics.phenomena import scored_index

    w = World(seed=5)
    idx = scored_index(w.context({}), 0)
    assert len(idx["retain"]) == len(idx["forget"]) == 150
    assert set(w.roles[idx["retain"]]) == {"retain"}
    other = scored_index(w.context({}), 1)
    assert not np.array_equal(idx["retain"], other["retain"])
