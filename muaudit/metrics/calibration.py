"""The measured false-alarm rate of the verdict rule, as benchmarks/false_alarm.py wrote it into
muaudit/metrics/calibration.json (keyed by scenario), and its sentence for the report's first screen."""

from __future__ import annotations

import json
from pathlib import Path

FILE = Path(__file__).with_name("calibration.json")


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    from scipy.stats import beta

    tail = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(tail, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - tail, k + 1, n - k))
    return lo, hi


def load(path: Path = FILE) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def sentence(scenario: str, dataset: str, model: str, k: int, alpha: float, path: Path = FILE,
             tail_df: float | None = None) -> str:
    """What was measured, and whether it was measured for this audit's setting: the rate given the
    references 1..K (benchmarks/false_alarm.py) and, when recorded for this K, the rate over draws of the
    references (benchmarks/reference_draws.py)."""
    m = load(path).get(scenario)
    if not m:
        return f"not measured for the {scenario} scenario (benchmarks/false_alarm.py)"
    rate = (f"{m['false_alarms']}/{m['n']} held-out retrain seeds flagged ({m['false_alarms'] / m['n']:.1%}, "
            f"95% CI {m['ci_low']:.1%}–{m['ci_high']:.1%}) on {m['dataset']}/{m['model']}, {scenario} scenario, "
            f"K = {m['K']}, alpha = {m['alpha']}")
    drawn = m.get("over_draws", {}).get(str(m["K"]))
    if drawn:
        rate += (f"; over {drawn['draws']} draws of the K references from {drawn['seeds']} seeds, "
                 f"{drawn['false_alarms'] / drawn['n']:.1%} (per draw up to {drawn['per_draw_max']:.0%})")
    same = (m["dataset"], m["model"], m["K"], m["alpha"], m.get("tail_df")) == (dataset, model, k, alpha, tail_df)
    return rate + ("" if same else "; measured on that setting, not on this audit's")
