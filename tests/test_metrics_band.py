"""Band and verdict rule on constructed tables."""

import numpy as np
import pytest

from muaudit.metrics import registry
from muaudit.metrics.band import band_and_verdicts, band_limits, position
from muaudit.metrics.table import row

RETRAIN = [f"retrain_{i}" for i in range(1, 6)]


def cfg(**kw):
    return registry.parse_config({"band_tolerance": 0.02, "band_widen": 0.5, **kw})


def _table(values: dict[str, dict[tuple, float]]) -> list[dict]:
    """values: model -> (metric, layer, role) -> value; pairwise metrics given as one aggregate row."""
    return [row(m, "", layer, role, metric, v) for m, q in values.items() for (metric, layer, role), v in q.items()]


def _model(forget=0.0, retain=1.0, test=0.9, mia=1.0, cka_fc=0.95, proc_fc=0.05):
    return {("accuracy", "logits", "forget"): forget, ("accuracy", "logits", "retain"): retain,
            ("accuracy", "logits", "test"): test, ("mia_efficacy", "logits", "forget"): mia,
            ("cka", "fc", "forget"): cka_fc, ("cka", "fc", "retain"): cka_fc, ("procrustes", "fc", "forget"): proc_fc}


def _retrains(jitter=0.01):
    rng = np.random.default_rng(0)
    return {r: _model(cka_fc=0.95 + jitter * rng.standard_normal(), proc_fc=0.05 + jitter * rng.standard_normal(),
                      test=0.9 + jitter * rng.standard_normal()) for r in RETRAIN}


def _verdicts(rows):
    return {r["model"]: r["label"] for r in rows if r["metric"] == "verdict" and r["layer"] == ""}


def judge(models: dict, statuses=None, **kw):
    statuses = statuses or {m: "ok" for m in models}
    return band_and_verdicts(_table({**_retrains(), **models}), {**statuses, **{r: "ok" for r in RETRAIN}},
                             RETRAIN, cfg(**kw), registry.sides())


def test_zero_spread_band_uses_tolerance():
    assert band_limits(np.zeros(5), 0.02, 0.5) == (-0.02, 0.02)
    v = _verdicts(judge({"a": _model(forget=0.01), "b": _model(forget=0.05)}))
    assert v == {"a": "consistent", "b": "not-forgotten"}


def test_sides():
    assert position(2.0, 0, 1, "low") == 0 and position(-1.0, 0, 1, "low") == -1
    assert position(-1.0, 0, 1, "high") == 0 and position(2.0, 0, 1, "both") == 1
    assert position(float("nan"), 0, 1, "both") == 0


def test_labels():
    v = _verdicts(judge({
        "good": _model(),
        "kept": _model(forget=0.9, mia=0.1),
        "collapsed": _model(retain=0.1, test=0.1),
        "head_only": _model(cka_fc=0.5, proc_fc=0.6),
        "one_off": _model(cka_fc=0.5),  # one quantity (cka forget+retain = 2) -> layer_min_outside=3 keeps it in
    }, verdict={"layer_min_outside": 3}))
    assert v == {"good": "consistent", "kept": "not-forgotten", "collapsed": "over-forgotten",
                 "head_only": "output-only", "one_off": "consistent"}


def test_failed_and_skipped_models():
    rows = judge({"f": {}, "s": {}}, statuses={"f": "failed", "s": "skipped"})
    assert _verdicts(rows) == {"f": "failed", "s": "skipped"}


def test_band_rows_follow_schema():
    rows = judge({"good": _model()})
    band = [r for r in rows if r["model"] == "retrain"]
    assert {r["reference"] for r in band} == {"band"}
    assert {r["metric"] for r in band if r["layer"] == "fc"} >= {"cka:mean", "cka:sd", "cka:low", "cka:high"}
    layer_rows = [r for r in rows if r["metric"] == "verdict" and r["layer"] == "fc"]
    assert layer_rows[0]["label"] == "inside"


def test_registry_rejects_unknown_names_and_knobs():
    from muaudit.errors import BadInputError

    with pytest.raises(BadInputError, match="did you mean 'cka'"):
        registry.parse_config({"enabled": ["ckaa"]})
    with pytest.raises(BadInputError, match="metrics.probe"):
        registry.parse_config({"probe": {"probe_c": 1.0}})
    assert registry.parse_config({}).metric_params("concentration").fit_role == "test"
