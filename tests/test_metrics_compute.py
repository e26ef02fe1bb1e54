"""The metrics table is computed one layer at a time, holding the retrain references' matrices and one other
model's: a layer's matrices are gone before the next is read, and the table is the one a context that keeps
every matrix computes."""

import numpy as np
import pandas as pd

from muaudit.metrics import registry
from muaudit.metrics.compute import metrics_table
from muaudit.metrics.context import ArrayStore, Context

MODELS = ["original", "retrain_1", "retrain_2", "retrain_3", "finetune", "scrub"]
REFS = MODELS[1:4]
ENABLED = ["accuracy", "cka", "procrustes", "position", "probe", "asymmetry", "direction", "concentration"]


class SpyStore(ArrayStore):
    """Records, at each read, which layers the context still holds, and how many rows of n x d matrices it
    holds for models other than the references."""

    ctx: Context | None = None

    def read(self, model, layer):
        if self.ctx is not None:
            ctx = self.ctx
            held = {k: v for k, v in ctx._raw.items() if k[1] != "logits"} | {k: v[0] for k, v in ctx._cent.items()}
            held |= dict([ctx._last_raw]) if ctx._last_raw else {}
            held |= {key: entry[0] for key, entry in ctx._last_cent.values()}
            others = sum(len(x) for k, x in held.items() if k[0] not in REFS)
            self.log.append((model, layer, {k[1] for k in held}, others))
        return super().read(model, layer)


class KeepEverything(Context):
    def _kept(self, model, layer):
        return True


def store() -> SpyStore:
    rng = np.random.default_rng(0)
    n = 120
    roles = np.array(["forget"] * 30 + ["retain"] * 60 + ["test"] * 30)
    labels = np.r_[np.zeros(30, int), rng.integers(1, 4, 60), rng.integers(0, 4, 30)]
    acts = {m: {"a": rng.standard_normal((n, 6)), "b": rng.standard_normal((n, 5)), "c": rng.standard_normal((n, 4)),
                "logits": rng.standard_normal((n, 4))} for m in MODELS}
    spy = SpyStore(np.arange(n).astype(str), roles, labels, acts)
    spy.log = []
    return spy


def table(context_type) -> tuple[pd.DataFrame, Context, SpyStore]:
    spy = store()
    ctx = context_type(spy, MODELS, REFS, "class")
    spy.ctx = ctx
    cfg = registry.parse_config({"enabled": ENABLED})
    return metrics_table(ctx, dict.fromkeys(MODELS, "ok"), REFS, cfg, {}), ctx, spy


def test_one_layer_and_two_copies_of_a_judged_model_in_memory_at_a_time():
    result, ctx, spy = table(Context)
    assert set(result[result.metric == "cka"].layer) == {"a", "b", "c"}
    layer_reads = [entry for entry in spy.log if entry[1] != "logits"]
    n = len(spy.roles)
    for model, layer, layers_held, other_rows in layer_reads:
        assert layers_held <= {layer}, (layer, layers_held)  # nothing of another layer is held while reading this one
        # besides the references: one raw matrix and one centered matrix per role (n rows in all), at most
        assert other_rows <= 2 * n, (model, layer, other_rows)
    for ref in REFS:  # the references are read once per layer
        assert sorted(layer for m, layer, *_ in layer_reads if m == ref) == ["a", "b", "c"]
    assert ctx._raw.keys() <= {(m, "logits") for m in MODELS} and not ctx._cent and not ctx._cross
    assert all(v.dtype == np.float32 for v in ctx._raw.values())


def test_the_table_is_the_one_a_context_keeping_every_matrix_computes():
    lean, _, lean_spy = table(Context)
    full, _, full_spy = table(KeepEverything)
    pd.testing.assert_frame_equal(lean, full)
    # and the lean context did read judged models again: the test compares two different ways of working
    assert len(lean_spy.log) > len(full_spy.log)
