"""Every registered method on a small digits model: it changes the weights, forgets, keeps retain usable."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from muaudit.config import UnlearnParams, parse_params
from muaudit.data import get_dataset, make_roles
from muaudit.errors import BadInputError
from muaudit.methods import UnlearnContext, registry
from muaudit.methods.registry import MethodSpec, UserParams
from muaudit.models import build_model
from muaudit.training import accuracy, seeded_model, train_classifier

RETAIN_FLOOR = 0.6
FORGET_CLASS = 3


@pytest.fixture(scope="module")
def setup():
    """digits, class scenario (forget digit 3), small_cnn trained 5 epochs once for the whole module."""
    torch.set_num_threads(1)
    ds = get_dataset("digits")
    roles = make_roles(ds.y, "class", 0.1, [FORGET_CLASS], 0.2, 0)
    data = {r: (torch.from_numpy(ds.x[roles == r]), torch.from_numpy(ds.y[roles == r])) for r in ("forget", "retain")}

    def build():
        return build_model("small_cnn", ds.x.shape[1:], ds.num_classes)

    x = torch.cat([data["forget"][0], data["retain"][0]])
    y = torch.cat([data["forget"][1], data["retain"][1]])
    original = train_classifier(seeded_model(build, 0), x, y, epochs=5, lr=3e-3, batch_size=64, seed=0)
    return data, build, original.requires_grad_(False)


def make_ctx(setup, scenario: str = "class") -> UnlearnContext:
    data, build, original = setup
    return UnlearnContext(
        original=original, model=copy.deepcopy(original).requires_grad_(True),
        x_forget=data["forget"][0], y_forget=data["forget"][1], x_retain=data["retain"][0],
        y_retain=data["retain"][1], num_classes=10, scenario=scenario, forget_classes=(FORGET_CLASS,),
        seed=0, build_model=build,
    )


# `external` has no rule of its own: it loads a supplied checkpoint (tests/test_byo*.py cover it)
TRAINABLE = [n for n in registry.names() if n != "external"]


@pytest.mark.parametrize("name", TRAINABLE)
def test_method_forgets_and_keeps_retain(setup, name):
    data, _, original = setup
    spec = registry.get(name)
    ctx = make_ctx(setup)
    model = spec.fn(ctx, spec.params())
    changed = any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                        original.state_dict().values(), strict=True))
    assert changed, f"{name} left the weights untouched"
    acc_forget_before = accuracy(original, *data["forget"])
    acc_forget = accuracy(model, *data["forget"])
    acc_retain = accuracy(model, *data["retain"])
    assert acc_forget < acc_forget_before - 0.3, f"{name}: forget acc {acc_forget:.3f} vs {acc_forget_before:.3f}"
    assert acc_retain > RETAIN_FLOOR, f"{name}: retain acc {acc_retain:.3f}"


def test_every_method_has_lr_unless_training_free():
    training_free = {"ssd", "fisher_forgetting", "external"}
    for name in registry.names():
        has_lr = "lr" in registry.get(name).params.model_fields
        assert has_lr != (name in training_free), name


def test_describe_lists_every_method():
    entries = {d["name"]: d for d in registry.describe()}
    assert sorted(entries) == registry.names()
    assert entries["boundary_shrink"]["scenarios"] == ["class"]
    assert entries["finetune"]["hyperparameters"]["lr"] > 0


def test_class_only_method_is_skipped_in_random_scenario(tmp_path):
    import json

    from muaudit.models.weights import StoredModel
    from muaudit.runner.artifacts import write_model
    from tasks import unlearn as stage

    params = parse_params({"split": {"scenario": "random", "forget_classes": []},
                           "unlearn": {"methods": ["boundary_shrink"]}})
    split = type("D", (), {"info": {"split_fingerprint": "x"}})()  # a skipped method reads nothing else
    result = stage.run(params, None, split, StoredModel({}), "boundary_shrink")
    assert result.metrics == {"skipped": 1.0} and result.output.net is None
    write_model(str(tmp_path / "out"), result.output)
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    assert meta["status"] == "skipped" and "class" in meta["reason"]


def test_unknown_method_is_one_line_listing_known_names():
    with pytest.raises(BadInputError) as err:
        parse_params({"unlearn": {"methods": ["finetuned"]}})
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("params.yaml: unlearn.methods: unknown name 'finetuned'")
    assert "did you mean 'finetune'" in msg and all(n in msg for n in registry.names())
    with pytest.raises(BadInputError, match="unknown method 'nope'.*expected one of .*finetune"):
        registry.get("nope")


def test_user_block_does_not_replace_name_check():
    with pytest.raises(BadInputError, match="unlearn: unknown name 'mystery'"):
        parse_params({"unlearn": {"mystery": {"lr": 1}}})


# ---- user methods: a params block with `target: module:attr`, no edit of muaudit ----

def user_method(ctx: UnlearnContext, params: dict) -> nn.Module:
    """Shrink the head towards zero (a toy user method)."""
    with torch.no_grad():
        for w in ctx.model.head.parameters():
            w.mul_(params["shrink"])
    return ctx.model


user_spec = MethodSpec("ignored", lambda ctx, p: user_method(ctx, {"shrink": p.shrink}),
                       registry.get("ssd").params.__base__, "spec form")  # MethodParams: no keys


def test_user_function_method(setup):
    target = f"{__name__}:user_method"
    params = UnlearnParams(methods=["finetune", "mine"], mine={"target": target, "lr": 0.5, "shrink": 0.0})
    spec = params.method_spec("mine")
    p = params.method_params("mine")
    assert isinstance(p, UserParams) and p.model_dump() == {"lr": 0.5, "shrink": 0.0}
    assert spec.reference == target and "toy user method" in spec.description
    model = spec.fn(make_ctx(setup), p)
    assert float(model.head.weight.detach().abs().sum()) == 0.0


def test_user_spec_method_checks_its_params():
    params = UnlearnParams(methods=["mine"], mine={"target": f"{__name__}:user_spec"})
    assert params.method_spec("mine").name == "mine"
    with pytest.raises(BadInputError, match=r"unlearn\.mine\.lr: unknown key"):
        UnlearnParams(methods=["mine"], mine={"target": f"{__name__}:user_spec", "lr": 1})


@pytest.mark.parametrize("target, msg", [
    ("no_such_pkg_xyz.mod:fn", "cannot import module 'no_such_pkg_xyz.mod'"),
    (f"{__name__}:missing", "has no attribute 'missing'"),
    ("no_colon", "expected 'module:attr'"),
])
def test_bad_user_target_is_one_line_naming_the_key(target, msg):
    with pytest.raises(BadInputError) as err:
        UnlearnParams(methods=["mine"], mine={"target": target})
    assert str(err.value).startswith("unlearn.mine.target: ") and msg in str(err.value)
    assert "\n" not in str(err.value)


def test_user_method_cannot_shadow_a_builtin():
    with pytest.raises(BadInputError, match="built-in method"):
        UnlearnParams(methods=["finetune"], finetune={"target": f"{__name__}:user_method"})


def test_cost_hook_counts_gradient_forwards_only(setup):
    """The unlearn stage's own hook (tasks/unlearn.count_forward): one epoch of finetune is |retain| sample
    passes; forwards without gradients (evaluation) cost nothing."""
    from tasks.unlearn import count_forward

    ctx = make_ctx(setup)
    hook = ctx.model.register_forward_pre_hook(lambda _m, args: count_forward(ctx, args))
    spec = registry.get("finetune")
    spec.fn(ctx, spec.params(epochs=1))
    assert ctx.sample_passes == len(ctx.x_retain)
    with torch.no_grad():
        ctx.model(ctx.x_forget)
    assert ctx.sample_passes == len(ctx.x_retain)
    ctx.model(ctx.x_forget[:7])
    hook.remove()
    assert ctx.sample_passes == len(ctx.x_retain) + 7


def test_unlearn_stage_records_cost_and_stays_reproducible(setup, tmp_path):
    """tasks/unlearn on a real split: cost_vs_retrain returned, model.json byte-identical across runs."""
    from muaudit.data import write_split
    from muaudit.models import save_model
    from muaudit.runner.stage import run_files

    _, _, original = setup
    ds = get_dataset("digits")
    write_split(tmp_path / "split", ds, make_roles(ds.y, "class", 0.1, [FORGET_CLASS], 0.2, 0))
    save_model(original, tmp_path / "original", {"seed": 0})
    params = parse_params({"train": {"epochs": 30}, "unlearn": {"methods": ["finetune"], "finetune": {"epochs": 1}}})
    metas = []
    for run in ("a", "b"):
        out = tmp_path / run
        metrics = run_files("unlearn", params, {"split": str(tmp_path / "split"), "original": str(tmp_path / "original"),
                                                "out": str(out)}, method="finetune").metrics
        assert metrics["cost_vs_retrain"] == pytest.approx(1 / 30)
        metas.append((out / "model.json").read_bytes())
    assert metas[0] == metas[1] and b"cost_vs_retrain" not in metas[0]


def test_representation_scrub_defaults_to_the_models_penultimate_layer():
    from muaudit.models.registry import penultimate_layer

    assert penultimate_layer(build_model("small_cnn", (1, 8, 8), 10)) == "fc"
    assert penultimate_layer(build_model("mlp", (13,), 3)) == "hidden2"
    # an MLP has no `fc` (the old default): with the default the method runs on it
    torch.manual_seed(0)
    x, y = torch.randn(60, 13), torch.arange(60) % 3
    mlp = build_model("mlp", (13,), 3).requires_grad_(False)
    ctx = UnlearnContext(original=mlp, model=copy.deepcopy(mlp).requires_grad_(True), x_forget=x[y == 2],
                         y_forget=y[y == 2], x_retain=x[y != 2], y_retain=y[y != 2], num_classes=3,
                         scenario="class", forget_classes=(2,), seed=0, build_model=lambda: build_model("mlp", (13,), 3))
    spec = registry.get("representation_scrub")
    out = spec.fn(ctx, spec.params(epochs=1))
    assert any(not torch.equal(a, b) for a, b in zip(out.state_dict().values(), mlp.state_dict().values(), strict=True))
