"""The verdict rule on synthetic numbers: declared false-alarm rate, power at the theoretical rate, labels,
NaN fails closed, the heavy-tailed null. Many-seed measurements on trained models are in
benchmarks/reference_draws.py, false_alarm.py and power.py."""

import math

import numpy as np
import pytest
from scipy.stats import nct
from scipy.stats import t as student

from muaudit.metrics import band, registry, stats
from muaudit.metrics.band import band_and_verdicts
from muaudit.metrics.table import row


@pytest.fixture
def no_intervals(monkeypatch):
    """The verdict never reads the effect's interval; skipping its root finding keeps many-draw tests fast."""
    monkeypatch.setattr(stats, "effect_interval", lambda t, df, level=0.95: (math.nan, math.nan))


def seeds(k):
    return [f"retrain_{i}" for i in range(1, k + 1)]


def draw(rng, retrains, judged, shift=None, sigma_u=0.01, sigma_e=0.005, layers=("fc",), tails=None):
    """Rows of one audit: own-value output quantities and pairwise CKA/Procrustes per layer and role, from the
    random-effects model s_xy = mu + u_x + u_y + e_xy; shift: model -> (metric, layer, role) -> added value.
    tails: draw u and e from a Student t with this many degrees of freedom (unit variance), not a normal."""
    shift = shift or {}
    models = retrains + judged
    if tails is not None:
        heavy = np.random.default_rng(rng.integers(2**32))

        class Heavy:
            @staticmethod
            def normal(size=None):
                return heavy.standard_t(tails, size=size) / math.sqrt(tails / (tails - 2))

        rng = Heavy()
    u = {m: rng.normal(size=8) for m in models}
    rows = []
    for m in models:
        s = shift.get(m, {})
        rows += [row(m, "", "logits", "forget", "accuracy", s.get(("accuracy", "logits", "forget"), 0.0)),
                 row(m, "", "logits", "test", "accuracy", 0.9 + sigma_u * u[m][0] + s.get(("accuracy", "logits", "test"), 0)),
                 row(m, "", "logits", "forget", "mia_efficacy", 0.8 + sigma_u * u[m][1]
                     + s.get(("mia_efficacy", "logits", "forget"), 0))]
        for r in retrains:
            if r == m:
                continue
            for layer in layers:
                for i, role in enumerate(("forget", "retain", "test")):
                    e = sigma_e * rng.normal(size=2)
                    cka = 0.9 + sigma_u * (u[m][2 + i] + u[r][2 + i]) + e[0] + s.get(("cka", layer, role), 0)
                    rows.append(row(m, r, layer, role, "cka", cka))
                    rows.append(row(m, r, layer, role, "procrustes", 0.2 * math.exp(
                        0.05 * (u[m][5 + i] + u[r][5 + i]) + 5 * e[1] + s.get(("procrustes", layer, role), 0))))
    return rows


def verdicts(rows, retrains, judged, **verdict):
    cfg = registry.parse_config({"verdict": verdict} if verdict else {})
    out = band_and_verdicts(rows, {m: "ok" for m in retrains + judged}, retrains, cfg)
    return {r["model"]: r["label"] for r in out if r["metric"] == "verdict" and r["layer"] == ""}, out


@pytest.mark.parametrize("k", [3, 5])
def test_exchangeable_draws_give_the_declared_rate(k, no_intervals):
    """Models drawn like the retrain seeds are labelled anything but consistent at most alpha of the time
    (family-wise over 7 output and representation families); alpha 0.2 keeps the sampling error small."""
    rng = np.random.default_rng(k)
    alarms = n = 0
    for _ in range(60):
        judged = [f"m{i}" for i in range(5)]
        v, _ = verdicts(draw(rng, seeds(k), judged), seeds(k), judged, alpha=0.2)
        alarms += sum(label != "consistent" for label in v.values())
        n += len(judged)
    rate = alarms / n
    # Bonferroni/Holm make it conservative, not anti-conservative: at most alpha plus 3 sampling sds
    assert rate <= 0.2 + 3 * math.sqrt(0.2 * 0.8 / n)
    assert rate >= 0.02  # and not a rule that never fires


def test_heavy_tailed_seeds_stay_within_alpha_only_under_the_tail_model(no_intervals):
    """Seeds whose effects have Student-t(3) tails, K = 10: normal theory (tail_df None) flags far more than
    alpha; the verdict with tail_df = 3, the truth here, stays within it (the measured case: docs/verdict.md)."""
    rates = {}
    for tail_df in (None, 3.0):
        rng = np.random.default_rng(0)
        alarms = n = 0
        for _ in range(30):
            judged = [f"m{i}" for i in range(5)]
            v, _ = verdicts(draw(rng, seeds(10), judged, tails=3), seeds(10), judged, alpha=0.05, tail_df=tail_df)
            alarms += sum(label != "consistent" for label in v.values())
            n += len(judged)
        rates[tail_df] = alarms / n
    assert rates[3.0] <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / n)
    assert rates[None] > 2 * 0.05 and rates[None] > 2 * rates[3.0]


def assert_uniform_p_values(rng, k, metric, role=None, tails=None, tail_df=None):
    """Exchangeable models over 40 audits of 5 judged models: the p-values of (metric, role) are uniform."""
    ps = []
    for _ in range(40):
        judged = [f"m{i}" for i in range(5)]
        _, out = verdicts(draw(rng, seeds(k), judged, tails=tails), seeds(k), judged, tail_df=tail_df)
        ps += [r["p_value"] for r in out
               if r["metric"] == metric and r["model"] in judged and role in (None, r["role"])]
    ps = np.array(ps)
    for level in (0.05, 0.2, 0.5):
        assert abs(np.mean(ps <= level) - level) < 3.5 * math.sqrt(level * (1 - level) / len(ps))


@pytest.mark.parametrize("k", [3, 5, 10])
def test_heavy_tailed_null_is_exact_for_student_seeds(k, no_intervals):
    """An own-value quantity (test accuracy) of Student-t(5) seeds, judged with tail_df = 5: p-values uniform."""
    assert_uniform_p_values(np.random.default_rng(20 + k), k, "accuracy", "test", tails=5, tail_df=5.0)


def test_tail_probability_matches_the_t_distribution_in_the_normal_limit():
    """With very light tails the heavy-tailed null is the t with K − 1 df; its far tail is resolved, not 0."""
    assert stats.tail_probability(3.0, 5, 200.0) == pytest.approx(float(student.sf(3.0, 4)), rel=0.03)
    assert stats.tail_probability(-1.0, 5, 5.0) == pytest.approx(1 - stats.tail_probability(1.0, 5, 5.0))
    assert 0 < stats.tail_probability(1e5, 5, 5.0) < stats.tail_probability(100.0, 5, 5.0) < 1e-4
    c = stats.critical_value(0.001, 5, 5.0)
    assert stats.tail_probability(c, 5, 5.0) == pytest.approx(0.001, rel=1e-3) and c > student.isf(0.001, 4)


@pytest.mark.parametrize("k", [3, 5, 10])
def test_predictive_test_is_exact_per_quantity(k, no_intervals):
    """Pairwise metrics on equal terms (K + 1 set), normal seeds and normal theory: one-sided p-values of
    exchangeable models are uniform."""
    assert_uniform_p_values(np.random.default_rng(10 + k), k, "cka")


@pytest.mark.parametrize("k", [3, 5, 10])
def test_shift_of_known_size_is_detected_at_the_theoretical_rate(k, no_intervals):
    """A test-accuracy drop of 3 retrain sds (identity scale, no floor involved) is flagged as often as the
    noncentral t says: T ~ t'(K − 1, δ / √(1 + 1/K)) for normal seeds, against the critical value of the
    verdict's heavy-tailed null (tail_df, the default)."""
    rng = np.random.default_rng(100 + k)
    alpha, delta, sd = 0.05, 3.0, 0.01
    flagged = n = 0
    for _ in range(100):
        judged = ["m0", "m1", "m2"]
        shift = {m: {("accuracy", "logits", "test"): -delta * sd} for m in judged}
        _, out = verdicts(draw(rng, seeds(k), judged, shift=shift), seeds(k), judged)
        ps = [r["p_value"] for r in out if r["metric"] == "accuracy" and r["role"] == "test" and r["model"] in judged]
        flagged += sum(p <= alpha for p in ps)
        n += len(ps)
    scale = math.sqrt(1 + 1 / k)
    critical = stats.critical_value(alpha, k, registry.VerdictParams().tail_df)
    theory = float(nct.cdf(-critical, k - 1, -delta / scale))
    assert abs(flagged / n - theory) < 3.5 * math.sqrt(theory * (1 - theory) / n)


def test_power_does_not_fall_with_k():
    """Under the default tail model and under normal theory, the critical value falls as K grows, and the
    power for a shift of 3 sds with normal seeds rises."""
    alpha, delta, ks = 0.05, 3.0, (3, 5, 10, 20, 40)
    for tail_df in (registry.VerdictParams().tail_df, None):
        critical = [stats.critical_value(alpha, k, tail_df) for k in ks]
        power = [float(nct.sf(c, k - 1, delta / math.sqrt(1 + 1 / k))) for c, k in zip(critical, ks, strict=True)]
        assert critical == sorted(critical, reverse=True) and power == sorted(power)


def test_labels():
    rng = np.random.default_rng(1)
    judged = ["good", "kept", "collapsed", "residue", "drift"]
    shift = {"kept": {("accuracy", "logits", "forget"): 0.9},
             "collapsed": {("accuracy", "logits", "test"): -0.5},
             "residue": {("cka", "fc", "forget"): -0.3, ("procrustes", "fc", "forget"): 2.0},
             "drift": {("cka", "fc", "retain"): -0.3, ("cka", "fc", "test"): -0.3}}
    v, out = verdicts(draw(rng, seeds(5), judged, shift=shift), seeds(5), judged)
    assert v == {"good": "consistent", "kept": "not-forgotten", "collapsed": "over-forgotten",
                 "residue": "output-only", "drift": "drifted"}
    layer = {r["model"]: r["label"] for r in out if r["metric"] == "verdict" and r["layer"] == "fc"}
    assert layer["residue"] == "residue" and layer["drift"] == "drift" and layer["good"] == "inside"


def test_forget_accuracy_zero_spread_uses_the_metric_floor():
    """Class scenario: every retrained model has forget accuracy 0; the floor (0.005) decides."""
    rng = np.random.default_rng(2)
    judged = ["a", "b"]
    shift = {"a": {("accuracy", "logits", "forget"): 0.005}, "b": {("accuracy", "logits", "forget"): 0.2}}
    v, out = verdicts(draw(rng, seeds(5), judged, shift=shift), seeds(5), judged)
    assert v == {"a": "consistent", "b": "not-forgotten"}
    eff = {r["model"]: r["effect"] for r in out if r["metric"] == "accuracy" and r["role"] == "forget" and r["model"] in judged}
    assert eff["a"] == pytest.approx(1.0) and eff["b"] == pytest.approx(40.0)


@pytest.mark.parametrize("where", [("cka", "fc", "retain"), ("accuracy", "logits", "test")])
def test_nan_fails_closed(where):
    rng = np.random.default_rng(3)
    rows = draw(rng, seeds(5), ["m"])
    rows = [dict(r, value=math.nan) if r["model"] == "m" and (r["metric"], r["layer"], r["role"]) == where else r
            for r in rows]
    v, out = verdicts(rows, seeds(5), ["m"])
    assert v == {"m": "unmeasured"}
    judged = [r for r in out if r["model"] == "m" and (r["metric"], r["layer"], r["role"]) == where]
    assert math.isnan(judged[0]["p_value"])


def test_nan_in_a_retrain_pair_fails_closed_for_every_model():
    rng = np.random.default_rng(4)
    rows = [dict(r, value=math.nan) if (r["model"], r["reference"], r["metric"], r["role"]) ==
            ("retrain_1", "retrain_2", "cka", "forget") else r for r in draw(rng, seeds(5), ["m"])]
    assert verdicts(rows, seeds(5), ["m"])[0] == {"m": "unmeasured"}


def test_columns_and_q_values():
    rng = np.random.default_rng(5)
    judged = ["a", "b"]
    _, out = verdicts(draw(rng, seeds(5), judged, shift={"b": {("cka", "fc", "forget"): -0.3}}), seeds(5), judged)
    agg = [r for r in out if r["model"] in judged and r["metric"] == "cka"]
    assert len(agg) == 2 * 3 and all(np.isfinite([r[c] for c in ("effect", "ci_low", "ci_high", "p_value")]).all() for r in agg)
    assert all(r["ci_low"] <= r["effect"] <= r["ci_high"] for r in agg)
    band_rows = [r for r in out if r["model"] == "retrain"]
    assert all(math.isnan(r["p_value"]) for r in band_rows)
    q = {r["model"]: r["value"] for r in out if r["metric"] == "verdict_q"}
    p = {r["model"]: r["value"] for r in out if r["metric"] == "verdict_p"}
    assert q["b"] < 0.01 and q["a"] > q["b"] and all(q[m] >= p[m] for m in judged)


def test_failed_and_skipped_models():
    rng = np.random.default_rng(6)
    rows = draw(rng, seeds(5), [])
    cfg = registry.parse_config({})
    out = band_and_verdicts(rows, {"f": "failed", "s": "skipped", **{r: "ok" for r in seeds(5)}}, seeds(5), cfg)
    assert {r["model"]: r["label"] for r in out if r["metric"] == "verdict"} == {"f": "failed", "s": "skipped"}


def test_holm_and_bh_known_answers():
    assert stats.holm({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    assert stats.benjamini_hochberg({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx({"a": 0.03, "b": 0.04, "c": 0.04})
    assert stats.bonferroni([0.01, 0.2]) == 0.02 and math.isnan(stats.bonferroni([0.01, math.nan]))


def test_effect_interval_covers_at_its_level():
    """The noncentral-t interval of the effect covers the true effect 95% of the time (K = 4)."""
    rng = np.random.default_rng(7)
    k, delta, hits = 4, 2.0, 0
    for _ in range(300):
        ref = rng.normal(size=k)
        eff, lo, hi, _ = stats.predictive_test(ref, delta + rng.normal(), 0.0, "both")
        hits += lo <= delta <= hi
    assert abs(hits / 300 - 0.95) < 3.5 * math.sqrt(0.95 * 0.05 / 300)


def test_smallest_k():
    assert stats.smallest_k(0.05) == 3 and stats.smallest_k(0.01) == 4
    assert stats.detectable_effect(2, 0.05) > stats.MAX_DETECTABLE_EFFECT >= stats.detectable_effect(3, 0.05)


def test_the_null_table_is_read_back_from_the_cache_bit_for_bit_and_recomputed_when_corrupt(tmp_path, monkeypatch):
    monkeypatch.setenv("MUAUDIT_CACHE_DIR", str(tmp_path))
    stats._null_table.cache_clear()
    first = stats._null_table(4, 5.0)
    (cached,) = (tmp_path / "null-tables").glob("k4-df5-*.npy")
    stats._null_table.cache_clear()
    np.testing.assert_array_equal(stats._null_table(4, 5.0), first)
    assert (stats._null_table(4, 5.0) == stats._simulate_null(4, 5.0)).all()
    cached.write_bytes(b"not a table")  # a torn or foreign file is recomputed, never trusted
    stats._null_table.cache_clear()
    np.testing.assert_array_equal(stats._null_table(4, 5.0), first)
    stats._null_table.cache_clear()


def test_params_with_enough_seeds_compute_one_null_table(monkeypatch):
    """The K refusal of the params computes the table of the K given, not of every smaller K."""
    from muaudit.config import parse_params

    seen = []
    real = stats._null_table.__wrapped__
    monkeypatch.setattr(stats, "_null_table", lambda k, df: seen.append(k) or real(k, df))
    parse_params({"retrain": {"seeds": list(range(1, 8))}})
    assert sorted(set(seen)) == [7]
    with pytest.raises(Exception, match="expected at least 3 seeds"):
        parse_params({"retrain": {"seeds": [1, 2]}})


def test_registry_rejects_unknown_names_and_knobs():
    from muaudit.errors import BadInputError

    with pytest.raises(BadInputError, match="did you mean 'cka'"):
        registry.parse_config({"enabled": ["ckaa"]})
    with pytest.raises(BadInputError, match="metrics.probe"):
        registry.parse_config({"probe": {"probe_c": 1.0}})
    with pytest.raises(Exception, match="band_widen"):
        registry.parse_config({"band_widen": 1.0})
    assert registry.parse_config({}).metric_params("concentration").fit_role == "test"


def test_every_judged_metric_declares_a_valid_judge():
    for name, j in registry.judges().items():
        assert j.side in registry.SIDES and j.scale in stats.SCALES, name
    assert band.judged_side(registry.judges()["accuracy"], "retain") == "low"
