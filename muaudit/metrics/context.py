"""The audit context every metric function reads: models, roles, and cached matrices from the store.

Caches: raw activations per (model, layer), float32 as stored; centered matrices (float32, centred in
float64) and their row norms / Gram norms per (model, layer, role); cross products XᵀY per (model, model,
layer, role), shared by CKA and Procrustes; softmax outputs per model. The metrics stage works one layer at
a time (`focus`, then `release`). Within a layer, the n x d matrices (raw and centered) are kept for the
retrain references, which every pair reads, and for the last other model read (per role for the centered
ones); another model's matrices are read again from the store when a later metric asks for them. So memory
holds the K references' layer plus one model's, not every model's: at 60,000 samples x 512 units x 20
models that is 2 x 5 + 2 float32 copies instead of 2 x 20 (benchmarks/results.md, memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from muaudit.data import ROLES
from muaudit.store import read_layer


class ParquetStore:
    """The activation store on disk (data/activations), as the metrics stage reads it."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def read(self, model: str, layer: str) -> tuple[pd.DataFrame, np.ndarray]:
        return read_layer(self.root, model, layer)

    def layers(self, model: str) -> list[str]:
        return [p.name.removeprefix("layer=") for p in (self.root / f"model={model}").glob("layer=*")]


@dataclass
class ArrayStore:
    """Activations held in memory, read like the store: the bare computation of benchmarks/bare.py."""

    sample_ids: np.ndarray
    roles: np.ndarray
    labels: np.ndarray
    acts: dict[str, dict[str, np.ndarray]]  # model -> layer -> (n, d)

    def read(self, model: str, layer: str) -> tuple[pd.DataFrame, np.ndarray]:
        meta = pd.DataFrame({"sample_id": self.sample_ids, "role": self.roles, "label": self.labels})
        return meta, self.acts[model][layer]

    def layers(self, model: str) -> list[str]:
        return list(self.acts[model])


class Context:
    def __init__(self, store: str | Path | ParquetStore | ArrayStore, ok_models: list[str], retrain_ids: list[str],
                 scenario: str = "class", seed: int = 0, attacks: dict[str, dict] | None = None):
        self.store = store if isinstance(store, ParquetStore | ArrayStore) else ParquetStore(store)
        self.retrain_ids = [m for m in retrain_ids if m in ok_models]
        self.models = list(ok_models)  # every model with activations, retrains included
        self.scenario = scenario
        self.seed = seed  # for every subsample and fold split, so the table is reproducible
        meta, _ = self._read(self.retrain_ids[0], "logits")
        self.sample_ids = meta["sample_id"].to_numpy()
        self.roles = meta["role"].to_numpy()
        self.labels = meta["label"].to_numpy().astype(np.int64)
        self.layers = sorted(name for name in self.store.layers(self.retrain_ids[0]) if name != "logits")
        self._raw: dict = {}
        self._cent: dict = {}
        self._stats: dict = {}  # (model, layer, role) -> (squared row norms, ‖XᵀX‖_F², ‖X‖_F²), every model
        self._last_raw: tuple | None = None  # ((model, layer), matrix) of the last model that is not a reference
        self._last_cent: dict = {}  # role -> ((model, layer, role), entry), likewise
        self._cross: dict = {}
        self._probs: dict = {}
        self._memo: dict = {}
        self.reading: tuple[str, str] | None = None  # the (model, layer) a metric last asked for, for its errors
        # The attack stages' results (they need weights, not activations): {model: {attack: result}}, as
        # the attack stages wrote them to data/attacks/model=<id>/attack.json.
        self.attacks = attacks

    # --- samples -------------------------------------------------------------------------------
    def mask(self, role: str) -> np.ndarray:
        return self.roles == role

    @cached_property
    def role_index(self) -> dict[str, np.ndarray]:
        return {r: np.flatnonzero(self.roles == r) for r in ROLES}

    # --- activations ---------------------------------------------------------------------------
    def _read(self, model: str, layer: str):
        return self.store.read(model, layer)

    def _kept(self, model: str, layer: str) -> bool:
        """Whether a matrix of this model stays cached for the layer: the references' and the (small) logits."""
        return model in self.retrain_ids or layer == "logits"

    def raw(self, model: str, layer: str) -> np.ndarray:
        key = (model, layer)
        self.reading = key
        if key in self._raw:
            return self._raw[key]
        if self._last_raw is not None and self._last_raw[0] == key:
            return self._last_raw[1]
        meta, x = self._read(model, layer)
        if hasattr(self, "sample_ids") and not np.array_equal(meta["sample_id"].to_numpy(), self.sample_ids):
            raise ValueError(f"activations of {model} at {layer} cover different samples than {self.retrain_ids[0]}")
        x = np.asarray(x, np.float32)
        if self._kept(model, layer):
            self._raw[key] = x
        else:
            self._last_raw = (key, x)
        return x

    def centered(self, model: str, layer: str, role: str) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(X centered over the role's samples, squared row norms, ‖XᵀX‖_F², ‖X‖_F²)."""
        key = (model, layer, role)
        if key in self._cent:
            return self._cent[key]
        last = self._last_cent.get(role)
        if last is not None and last[0] == key:
            return last[1]
        x = self.raw(model, layer)[self.mask(role)].astype(np.float64)
        x = x - x.mean(0)
        sq = np.einsum("ij,ij->i", x, x)
        gram = x.T @ x
        # Kept as float32 (the store's precision), products accumulated in float64: float64 copies of the
        # cached matrices would double the stage's peak memory.
        entry = (x.astype(np.float32), sq, float(np.sum(gram * gram)), float(sq.sum()))
        self._stats[key] = entry[1:]
        if self._kept(model, layer):
            self._cent[key] = entry
        else:
            self._last_cent[role] = (key, entry)
        return entry

    def centered_stats(self, model: str, layer: str, role: str) -> tuple[np.ndarray, float, float]:
        """(squared row norms, ‖XᵀX‖_F², ‖X‖_F²) of the role-centered matrix, kept for every model."""
        key = (model, layer, role)
        if key not in self._stats:
            self.centered(model, layer, role)
        return self._stats[key]

    def cross(self, a: str, b: str, layer: str, role: str) -> np.ndarray:
        """XₐᵀX_b of the role-centered matrices (d_a x d_b); computed once per unordered pair."""
        if (b, a, layer, role) in self._cross:
            return self._cross[(b, a, layer, role)].T
        key = (a, b, layer, role)
        if key not in self._cross:
            xa, xb = self.centered(a, layer, role)[0], self.centered(b, layer, role)[0]
            self._cross[key] = xa.T.astype(np.float64) @ xb.astype(np.float64)
        return self._cross[key]

    def memo(self, key: tuple, fn):
        """Cache any derived matrix (aligned/normalised representations) for the audit's lifetime."""
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def focus(self, layer: str) -> None:
        """Make `layer` the only layer the metric functions iterate over."""
        self.layers = [layer]

    def release(self, layer: str) -> None:
        """Drop every cached matrix of `layer` (the softmax outputs stay)."""
        self._raw = {k: v for k, v in self._raw.items() if k[1] != layer}
        self._cent = {k: v for k, v in self._cent.items() if k[1] != layer}
        self._stats = {k: v for k, v in self._stats.items() if k[1] != layer}
        self._last_raw, self._last_cent = None, {}
        self._cross = {k: v for k, v in self._cross.items() if k[2] != layer}
        self._memo = {k: v for k, v in self._memo.items() if layer not in k}

    # --- attack results ------------------------------------------------------------------------
    def attack(self, model: str, name: str) -> dict:
        """The result of attack `name` on model, as its attack stage wrote it."""
        from muaudit.errors import BadInputError

        self.reading = (model, "attack")
        if self.attacks is None:
            raise BadInputError(f"metric {name}: no attack results were given (the `attack` stages write data/attacks)")
        results = self.attacks.get(model)
        if not results or name not in results:
            raise BadInputError(f"metric {name}: no {name} result for model {model}; its attack stage did not run")
        return results[name]

    # --- outputs -------------------------------------------------------------------------------
    def probs(self, model: str) -> np.ndarray:
        if model not in self._probs:
            z = self.raw(model, "logits").astype(np.float64)
            z = z - z.max(1, keepdims=True)  # stable softmax
            p = np.exp(z)
            self._probs[model] = p / p.sum(1, keepdims=True)
        return self._probs[model]

    def pairs(self):
        """(model, reference) for every model against every retrain seed other than itself (leave-one-out)."""
        for m in self.models:
            for r in self.retrain_ids:
                if r != m:
                    yield m, r

    def others(self, model: str) -> list[str]:
        """The retrain references of a model: all seeds, or for a retrained model the other seeds."""
        return [r for r in self.retrain_ids if r != model]
