"""The methods as their reference code has them: known answers on tiny models, and every method names its reference."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest
import torch
from torch import nn

import muaudit.methods.suite as suite
from muaudit.methods import UnlearnContext, registry
from muaudit.methods.common import top_fraction_mask
from muaudit.methods.suite import boundary_shrink, fisher_forgetting, scrub
from muaudit.methods.suite.fisher_forgetting import noise_distribution

ALPHA = 1e-6


class Tiny(nn.Module):
    def __init__(self, n_in: int = 6, hidden: int = 400, n_classes: int = 3):
        super().__init__()
        self.body = nn.Linear(n_in, hidden)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


def tiny_ctx(model: nn.Module, scenario: str = "class", n_forget: int = 20, n_retain: int = 50) -> UnlearnContext:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_forget + n_retain, 6, generator=g)
    y = torch.randint(0, 3, (n_forget + n_retain,), generator=g)
    y[:n_forget] = 1
    return UnlearnContext(original=model, model=model, x_forget=x[:n_forget], y_forget=y[:n_forget],
                          x_retain=x[n_forget:], y_retain=y[n_forget:], num_classes=3, scenario=scenario,
                          forget_classes=(1,), seed=0, build_model=Tiny)


# ---- fisher_forgetting: alpha * clamp(1 / (F + 1e-8), max=1e3), in that order ----

def test_zero_fisher_weight_gets_alpha_times_the_cap():
    theta = torch.randn(5, 4)
    mu, var = noise_distribution(theta, torch.zeros(5, 4), ALPHA, is_head=False)
    assert torch.equal(mu, theta)
    assert torch.allclose(var, torch.full((5, 4), ALPHA * 1e3))


def test_large_fisher_is_not_capped():
    mu, var = noise_distribution(torch.zeros(3, 2), torch.full((3, 2), 1e4), ALPHA, is_head=False)
    assert torch.allclose(var, torch.full((3, 2), ALPHA / 1e4))


def test_variance_is_averaged_over_input_channels_only():
    fisher = torch.zeros(2, 3, 2, 2)
    fisher[:, 0] = 1e4  # one input channel pinned: its 1/F is 1e-4, the other two are capped at 1e3
    fisher[:, :, 1, 1] = 1e4  # one kernel position pinned in every input channel
    _, var = noise_distribution(torch.zeros_like(fisher), fisher, ALPHA, is_head=False)
    free = ALPHA * (1e-4 + 2 * 1e3) / 3
    assert torch.allclose(var[:, :, 0, 0], torch.full((2, 3), free))  # the same for every input channel
    assert torch.allclose(var[:, :, 1, 1], torch.full((2, 3), ALPHA * 1e-4))  # kernel positions stay apart


def test_one_dimensional_parameters_get_ten_times():
    _, var = noise_distribution(torch.zeros(7), torch.zeros(7), ALPHA, is_head=False)
    assert torch.allclose(var, torch.full((7,), 10 * ALPHA * 1e3))


def test_head_cap_forgotten_rows_and_scale():
    mu, var = noise_distribution(torch.ones(3, 4), torch.zeros(3, 4), ALPHA, is_head=True, forget_rows=(1,))
    assert torch.allclose(var[[0, 2]], torch.full((2, 4), 10 * ALPHA * 1e2))
    assert torch.equal(mu[1], torch.zeros(4)) and torch.equal(mu[[0, 2]], torch.ones(2, 4))
    assert torch.allclose(var[1], torch.full((4,), 1e-3))  # 1e-4, then the output layer's x10
    mu_b, var_b = noise_distribution(torch.ones(3), torch.zeros(3), ALPHA, is_head=True, forget_rows=(1,))
    assert mu_b[1] == 0 and var_b[1] == pytest.approx(1e-3) and var_b[0] == pytest.approx(10 * ALPHA * 1e2)


def test_fisher_forgetting_draws_with_the_stated_variance(monkeypatch):
    torch.manual_seed(0)
    model = Tiny()
    theta0 = {n: w.detach().clone() for n, w in model.named_parameters()}
    monkeypatch.setattr(fisher_forgetting, "retain_fisher",
                        lambda ctx, _b: {n: torch.zeros_like(w) for n, w in ctx.model.named_parameters()})
    spec = registry.get("fisher_forgetting")
    out = spec.fn(tiny_ctx(model, "random"), spec.params(alpha=ALPHA))
    delta = {n: w.detach() - theta0[n] for n, w in out.named_parameters()}
    assert delta["body.weight"].var().item() == pytest.approx(ALPHA * 1e3, rel=0.05)  # 2,400 draws
    assert delta["head.weight"].var().item() == pytest.approx(10 * ALPHA * 1e2, rel=0.1)  # 1,200 draws
    assert delta["body.bias"].var().item() == pytest.approx(10 * ALPHA * 1e3, rel=0.25)  # 400 draws


def test_fisher_forgetting_class_scenario_silences_the_forgotten_rows(monkeypatch):
    model = Tiny()
    spec = registry.get("fisher_forgetting")
    out = spec.fn(tiny_ctx(model, "class"), spec.params(alpha=ALPHA))
    row = torch.cat([out.head.weight[1], out.head.bias[1:2]]).detach()
    assert row.abs().max().item() < 0.25 and row.var().item() == pytest.approx(1e-3, rel=0.25)


# ---- boundary_shrink: the raw argmax of the adversarial logits ----

def test_boundary_label_is_the_raw_argmax_even_when_it_is_the_true_class():
    frozen = nn.Linear(2, 3)
    with torch.no_grad():
        frozen.weight.copy_(torch.tensor([[10.0, 0.0], [0.0, 1.0], [0.0, -1.0]]))
        frozen.bias.zero_()
    x = torch.tensor([[1.0, 0.0], [1.0, 0.5]])  # class 0 by a margin an FGSM step of 0.1 cannot cross
    y = torch.tensor([0, 0])
    assert boundary_shrink.nearest_wrong_class(frozen, x, y, 0.1, -1.0, 2.0).tolist() == [0, 0]
    # a step that does cross: the label is the class it lands in
    x_close = torch.tensor([[0.06, 0.5]])  # class 0 by 0.1; the step lands in class 1
    assert boundary_shrink.nearest_wrong_class(frozen, x_close, torch.tensor([0]), 0.1, -1.0, 2.0).tolist() == [1]


# ---- scrub: epochs 1..msteps run a max-step pass, the lr decays after the milestones ----

def test_scrub_runs_msteps_max_step_epochs_and_the_reference_lr_schedule(monkeypatch):
    steps = []

    def record(optimizer, loss, _method):
        steps.append(("max" if loss.item() < 0 else "min", optimizer.param_groups[0]["lr"]))

    monkeypatch.setattr(scrub, "descend", record)
    ctx = tiny_ctx(Tiny())
    ctx.original = Tiny()  # a different teacher, so that the max-step KL is not zero
    p = scrub.Params(lr=0.1, epochs=5, msteps=2, batch_size=25, forget_batch_size=10)
    registry.get("scrub").fn(ctx, p)
    n_forget, n_retain = 2, 2  # batches per pass: 20 forget / 10, 50 retain / 25
    epoch = [("max", None)] * n_forget + [("min", None)] * n_retain
    expected = epoch * 2 + epoch[n_forget:] * 3
    assert [kind for kind, _ in steps] == [kind for kind, _ in expected]
    lrs = [lr for _, lr in steps]
    per_epoch = [lrs[0], lrs[4], lrs[8], lrs[10], lrs[12]]
    assert per_epoch == pytest.approx([0.1, 0.1, 0.1, 0.01, 0.01])  # x0.1 once epoch 4 has passed milestone 3


# ---- salun: exactly int(fraction * P) weights may change ----

def test_saliency_mask_keeps_exactly_the_top_fraction_with_ties():
    scores = {"a": torch.tensor([1.0, 1.0, 1.0, 1.0]), "b": torch.tensor([[2.0, 0.0], [1.0, 3.0]])}
    mask = top_fraction_mask(scores, 0.5)
    assert sum(int(m.sum()) for m in mask.values()) == 4
    assert mask["b"].tolist() == [[True, False], [False, True]]  # the two largest, then ties by position
    assert mask["a"].tolist() == [True, True, False, False]


def test_salun_keeps_masked_weights_at_theta0_under_weight_decay():
    torch.manual_seed(0)
    model = Tiny()
    theta0 = {n: w.detach().clone() for n, w in model.named_parameters()}
    ctx = tiny_ctx(model)
    ctx.original = Tiny()
    spec = registry.get("salun")
    out = spec.fn(ctx, spec.params(lr=0.05, epochs=2, mask_fraction=0.2, weight_decay=0.1, batch_size=16))
    changed = sum(int((w.detach() != theta0[n]).sum()) for n, w in out.named_parameters())
    total = sum(w.numel() for w in theta0.values())
    assert 0 < changed <= int(0.2 * total)


# ---- every method names the reference code it was checked against ----

REFERENCE = re.compile(r"Reference code: (none\b|[\w.-]+/[\w.-]+: [\w./-]+\.(py|ipynb))")


@pytest.mark.parametrize("module", [m.name for m in pkgutil.iter_modules(suite.__path__)])
def test_every_method_module_names_its_reference_code(module):
    doc = importlib.import_module(f"{suite.__name__}.{module}").__doc__ or ""
    assert REFERENCE.search(" ".join(doc.split())), f"{module}: docstring has no 'Reference code: owner/repo: path'"


def test_published_methods_name_a_reference_file_in_the_registry():
    for name in registry.names():
        spec = registry.get(name)
        doc = " ".join((importlib.import_module(spec.fn.__module__).__doc__ or "").split())
        if "Reference code: none" not in doc:
            assert re.search(r"[\w.-]+/[\w.-]+: [\w./-]+\.(py|ipynb)", spec.reference), name

