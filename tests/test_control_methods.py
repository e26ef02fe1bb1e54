"""The two trained controls: head_only touches only the head; heldout_retrain trains from scratch."""

from __future__ import annotations

import copy

import pytest
import torch

from muaudit.config import parse_params
from muaudit.data import get_dataset
from muaudit.errors import BadInputError
from muaudit.methods import UnlearnContext, registry
from muaudit.models import build_model
from muaudit.runtime import configure
from muaudit.training import seeded_model, train_classifier


@pytest.fixture(scope="module")
def ctx_factory():
    configure(threads=1)
    data = get_dataset("digits")
    x, y = torch.from_numpy(data.x[:500]), torch.from_numpy(data.y[:500])
    forget = y == 3

    def build():
        return build_model("small_cnn", data.x.shape[1:], 10)

    original = train_classifier(seeded_model(build, 0), x, y, epochs=3, lr=3e-3, batch_size=64, seed=0)

    def make():
        return UnlearnContext(
            original=copy.deepcopy(original).requires_grad_(False), model=copy.deepcopy(original).requires_grad_(True),
            x_forget=x[forget], y_forget=y[forget], x_retain=x[~forget], y_retain=y[~forget], num_classes=10,
            scenario="class", forget_classes=(3,), seed=0, build_model=build)

    return make


def run(name: str, ctx: UnlearnContext, **params):
    spec = registry.get(name)
    return spec.fn(ctx, spec.parse_params(params, key=f"unlearn.{name}"))


def test_controls_are_flagged_in_the_registry():
    assert registry.get("head_only").control and registry.get("heldout_retrain").control
    assert not registry.get("finetune").control


def test_head_only_keeps_the_body_bit_identical_and_retrains_the_head(ctx_factory):
    ctx = ctx_factory()
    before = {k: v.clone() for k, v in ctx.original.state_dict().items()}
    model = run("head_only", ctx, epochs=2)
    after = model.state_dict()
    for k, v in before.items():
        if k.startswith("head."):
            assert not torch.equal(v, after[k]), k
        else:
            assert torch.equal(v, after[k]), k
    # the class never seen by the new head is not predicted on forget samples
    assert float((model(ctx.x_forget).argmax(1) == 3).float().mean()) < 0.1
    again = run("head_only", ctx_factory(), epochs=2)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in after.items())  # seeded: deterministic


def test_heldout_retrain_trains_from_scratch_like_a_retrain(ctx_factory):
    ctx = ctx_factory()
    model = run("heldout_retrain", ctx, seed=11, epochs=2, lr=3e-3)
    reference = train_classifier(seeded_model(ctx.build_model, 11), ctx.x_retain, ctx.y_retain, epochs=2, lr=3e-3,
                                 batch_size=64, seed=11)
    for k, v in model.state_dict().items():
        assert torch.equal(v, reference.state_dict()[k]), k  # the retrain recipe, not a tweak of the original
        assert not torch.equal(v, ctx.original.state_dict()[k]), k


def test_heldout_seed_inside_the_band_is_rejected():
    with pytest.raises(BadInputError, match=r"unlearn.heldout_retrain.seed: 2 is one of retrain.seeds"):
        parse_params({"retrain": {"seeds": [1, 2]},
                      "unlearn": {"methods": ["heldout_retrain"], "heldout_retrain": {"seed": 2}}})
    parse_params({"retrain": {"seeds": [1, 2, 3]}, "unlearn": {"methods": ["finetune"], "heldout_retrain": {"seed": 2}}})
