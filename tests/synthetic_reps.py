"""Synthetic representations with a known answer, for the phenomenon and position tests.

Every model's layer is (S + ε_model + part · F) Q_model:
- S, the shared structure every seed learns: class means plus within-class noise whose variance falls
  along the axes (the last axis has the lowest variance);
- ε_model, the seed's own idiosyncrasy (iid per sample);
- F, the forget component, on forget rows only: an offset `a` (where the forget set sits) plus a
  per-sample spread along one direction u. The original has part 1; a retrained model part 0;
- Q_model, a random rotation (models live in unrelated bases).
An ideal unlearner is the original minus exactly F: S + ε_O, keeping the original's seed idiosyncrasy.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from muaudit.metrics.context import ArrayStore, Context


class World:
    def __init__(self, seed: int = 0, d: int = 16, classes: int = 5, n_test: int = 200, n_forget: int = 150,
                 n_retain: int = 600, sigma: float = 0.3, forget_scale: float = 1.0, forget_class: int | None = None):
        self.rng = np.random.default_rng(seed)
        self.d, self.sigma = d, sigma
        n = n_test + n_forget + n_retain
        self.roles = np.array(["test"] * n_test + ["forget"] * n_forget + ["retain"] * n_retain)
        labels = self.rng.integers(0, classes, n)
        if forget_class is not None:  # class scenario: the forget set is every train sample of one class
            others = np.array([c for c in range(classes) if c != forget_class])
            labels[self.roles == "forget"] = forget_class
            labels[self.roles == "retain"] = others[self.rng.integers(0, len(others), n_retain)]
        self.labels = labels
        means = 3.0 * self.rng.standard_normal((classes, d))
        spread = np.linspace(1.5, 0.1, d)  # within-class sd per axis; axis d-1 has the lowest variance
        self.shared = means[labels] + self.rng.standard_normal((n, d)) * spread
        forget = self.roles == "forget"
        u = self.rng.standard_normal(d)
        u /= np.linalg.norm(u)
        a = self.rng.standard_normal(d)
        a *= 1.5 / np.linalg.norm(a)
        self.forget_part = np.zeros((n, d))
        self.forget_part[forget] = forget_scale * (a + self.rng.standard_normal((forget.sum(), 1)) * u)
        self.eps_original = self.idiosyncrasy()

    def idiosyncrasy(self) -> np.ndarray:
        return self.sigma * self.rng.standard_normal(self.shared.shape)

    def rotate(self, x: np.ndarray) -> np.ndarray:
        return x @ np.linalg.qr(self.rng.standard_normal((self.d, self.d)))[0]

    def retrained(self) -> np.ndarray:
        return self.rotate(self.shared + self.idiosyncrasy())

    def derived(self, part: float = 0.0, extra: np.ndarray | None = None) -> np.ndarray:
        """A model derived from the original: its seed idiosyncrasy, `part` of F, plus `extra`."""
        x = self.shared + self.eps_original + part * self.forget_part
        return self.rotate(x + (0 if extra is None else extra))

    def forget_rank1(self, scale: float, axis: int = -1) -> np.ndarray:
        """A rank-1 residue on the forget rows along one coordinate axis (default: the lowest-variance one)."""
        out = np.zeros_like(self.shared)
        forget = self.roles == "forget"
        out[forget, axis] = scale * self.rng.standard_normal(forget.sum())
        return out

    def forget_diffuse(self, scale: float) -> np.ndarray:
        out = np.zeros_like(self.shared)
        forget = self.roles == "forget"
        out[forget] = scale * self.rng.standard_normal((forget.sum(), self.d))
        return out

    def context(self, models: dict[str, np.ndarray], k: int = 8, scenario: str = "random") -> Context:
        """Context over `models` plus the original and k retrain seeds."""
        retrain = {f"retrain_{i}": self.retrained() for i in range(1, k + 1)}
        mats = {"original": self.derived(1.0), **retrain, **models}
        logits = np.zeros((len(self.roles), 2))
        acts = {m: {"fc": x, "logits": logits} for m, x in mats.items()}
        store = ArrayStore(np.arange(len(self.roles)), self.roles, self.labels, acts)
        return Context(store, list(mats), list(retrain), scenario)


def aggregates(rows: list[dict], metric: str, role: str) -> dict[str, float]:
    """Model -> mean of its rows (a retrain seed's over the other seeds), as the band aggregates them."""
    per: dict[str, list[float]] = {}
    for r in rows:
        if r["metric"] == metric and r["role"] == role and r["model"] != r["reference"]:
            per.setdefault(r["model"], []).append(r["value"])
    return {m: float(np.mean(v)) for m, v in per.items()}


def side_of(agg: dict[str, float], model: str, level: float = 0.99) -> int:
    """-1 below, +1 above, 0 inside the t predictive interval of the retrain seeds' values (two-sided level)."""
    ref = np.array([v for m, v in agg.items() if m.startswith("retrain_")])
    k = len(ref)
    half = stats.t.ppf(0.5 + level / 2, k - 1) * ref.std(ddof=1) * np.sqrt(1 + 1 / k)
    v = agg[model]
    return -1 if v < ref.mean() - half else (1 if v > ref.mean() + half else 0)


def distance_out(agg: dict[str, float], model: str) -> float:
    """|value − retrain mean| in retrain standard deviations."""
    ref = np.array([v for m, v in agg.items() if m.startswith("retrain_")])
    return float(abs(agg[model] - ref.mean()) / ref.std(ddof=1))
