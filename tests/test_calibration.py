"""The measured false-alarm rate quoted on the report's first screen (muaudit/metrics/calibration.py)."""

import json

import pytest

from muaudit.metrics import calibration


def test_clopper_pearson_known_answers():
    # the README's former 1/8 and the 4/40 (0.3%-53%, 2.8%-24%)
    assert calibration.clopper_pearson(1, 8) == pytest.approx((0.00316, 0.52651), abs=1e-4)
    assert calibration.clopper_pearson(4, 40) == pytest.approx((0.02791, 0.23663), abs=1e-4)
    assert calibration.clopper_pearson(0, 100)[0] == 0.0 and calibration.clopper_pearson(100, 100)[1] == 1.0


def test_sentence_says_what_was_measured_and_on_which_setting(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"class": {"dataset": "digits", "model": "small_cnn", "K": 5, "alpha": 0.05, "tail_df": 5.0,
                                          "false_alarms": 3, "n": 100, "ci_low": 0.0062, "ci_high": 0.0852,
                                          "over_draws": {"5": {"draws": 20, "seeds": 100, "false_alarms": 64, "n": 1900,
                                                               "per_draw_max": 0.232}}}}))
    same = calibration.sentence("class", "digits", "small_cnn", 5, 0.05, path, tail_df=5.0)
    assert same.startswith("3/100 held-out retrain seeds flagged (3.0%, 95% CI 0.6%–8.5%) on digits/small_cnn")
    assert "over 20 draws of the K references from 100 seeds, 3.4% (per draw up to 23%)" in same
    assert "not on this audit's" not in same
    assert "not on this audit's" in calibration.sentence("class", "digits", "small_cnn", 3, 0.05, path, tail_df=5.0)
    assert "not on this audit's" in calibration.sentence("class", "digits", "small_cnn", 5, 0.05, path, tail_df=None)
    assert "not measured for the random scenario" in calibration.sentence("random", "digits", "small_cnn", 5, 0.05, path)
