"""The metrics table is computed one layer at a time: a layer's matrices are gone before the next is read."""

import numpy as np

from muaudit.metrics import registry
from muaudit.metrics.compute import metrics_table
from muaudit.metrics.context import ArrayStore, Context


class SpyStore(ArrayStore):
    """Records, at each read, which layers the context still holds."""

    ctx: Context | None = None

    def read(self, model, layer):
        held = {k[1] for k in self.ctx._raw} | {k[1] for k in self.ctx._cent} if self.ctx else set()
        self.log.append((model, layer, held))
        return super().read(model, layer)


def test_one_layer_in_memory_at_a_time():
    rng = np.random.default_rng(0)
    n, models = 120, ["original", "retrain_1", "retrain_2", "retrain_3", "finetune"]
    roles = np.array(["forget"] * 30 + ["retain"] * 60 + ["test"] * 30)
    labels = np.r_[np.zeros(30, int), rng.integers(1, 4, 60), rng.integers(0, 4, 30)]
    acts = {m: {"a": rng.standard_normal((n, 6)), "b": rng.standard_normal((n, 5)), "c": rng.standard_normal((n, 4)),
                "logits": rng.standard_normal((n, 4))} for m in models}
    store = SpyStore(np.arange(n).astype(str), roles, labels, acts)
    store.log = []
    ctx = Context(store, models, models[1:4], "class")
    store.ctx = ctx
    cfg = registry.parse_config({"enabled": ["accuracy", "cka", "procrustes", "position", "asymmetry", "direction",
                                             "concentration"]})
    table = metrics_table(ctx, dict.fromkeys(models, "ok"), models[1:4], cfg, {})
    assert set(table[table.metric == "cka"].layer) == {"a", "b", "c"}
    layer_reads = [(m, layer, held) for m, layer, held in store.log if layer != "logits"]
    assert len(layer_reads) == len(models) * 3  # each (model, layer) read once
    for _, layer, held in layer_reads:
        assert held <= {layer, "logits"}, (layer, held)  # nothing of another layer is held while reading this one
    assert ctx._raw.keys() <= {(m, "logits") for m in models} and not ctx._cent and not ctx._cross
    assert all(v.dtype == np.float32 for v in ctx._raw.values())
