"""Relearning and head re-fit attacks, and the head-bias diagnostic.

Every attack runs with the same budget on every model (original, methods, controls, retrain seeds), so a
method is judged by how much faster or more fully its forgotten data returns than for models that never
saw it: a retrained model also "relearns" a forgotten class from a few samples, since the data is
in-distribution (Deeb & Roger 2024; Golatkar et al. 2020; Chundawat et al. 2023).

The forget set is split once, seeded, into an attack part (what the attacker fine-tunes on) and an
evaluation part (where recovery is measured); the attacks never score a sample they trained on.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from muaudit.training import accuracy


def split_forget(n: int, attack_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(attack indices, evaluation indices) into the forget set, both sorted; each part has at least one
    sample when n >= 2. The draw depends on (n, fraction, seed) only, so every model gets the same parts."""
    if n < 2:
        raise ValueError(f"the forget set has {n} sample(s); the attacks need at least 2 (attack + evaluation)")
    order = np.random.default_rng(seed).permutation(n)
    k = min(max(1, round(attack_fraction * n)), n - 1)
    return np.sort(order[:k]), np.sort(order[k:])


def _optimizer(params, name: str, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def relearn(model: nn.Module, x_attack: torch.Tensor, y_attack: torch.Tensor, x_eval: torch.Tensor,
            y_eval: torch.Tensor, *, optimizer: str, lr: float, steps: int, batch_size: int, eval_every: int,
            threshold: float, seed: int, x_retain: torch.Tensor | None = None,
            y_retain: torch.Tensor | None = None, retain_per_batch: int = 0) -> dict:
    """Fine-tune a copy of model on the attack part for `steps` steps; the model itself is left untouched.

    Each step is one batch of `batch_size` attack samples (reshuffled per pass, seeded) plus
    `retain_per_batch` retain samples drawn with replacement. Accuracy on the evaluation part is measured
    before the first step and every `eval_every` steps (and after the last).
    Returns {"curve": [[step, accuracy], ...], "accuracy": final accuracy,
             "steps_to_threshold": first checkpoint step with accuracy >= threshold, or None}.
    """
    net = copy.deepcopy(model).requires_grad_(True).train()
    opt = _optimizer(net.parameters(), optimizer, lr)
    generator = torch.Generator().manual_seed(seed)
    order, pos = torch.randperm(len(x_attack), generator=generator), 0
    curve = [[0, accuracy(net, x_eval, y_eval)]]
    for step in range(1, steps + 1):
        if pos >= len(order):
            order, pos = torch.randperm(len(x_attack), generator=generator), 0
        idx = order[pos : pos + batch_size].to(x_attack.device)
        pos += batch_size
        x, y = x_attack[idx], y_attack[idx]
        if retain_per_batch and x_retain is not None and len(x_retain):
            r = torch.randint(len(x_retain), (retain_per_batch,), generator=generator).to(x_retain.device)
            x, y = torch.cat([x, x_retain[r]]), torch.cat([y, y_retain[r]])
        net.train()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"relearn: loss is {float(loss)} at step {step}; lower metrics.relearn.lr")
        loss.backward()
        opt.step()
        if step % eval_every == 0 or step == steps:
            curve.append([step, accuracy(net, x_eval, y_eval)])
    reached = next((s for s, acc in curve if acc >= threshold), None)
    return {"curve": curve, "accuracy": curve[-1][1], "steps_to_threshold": reached}


def head_of(model: nn.Module) -> nn.Linear:
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Linear):
        raise ValueError(f"the model {type(model).__name__} has no `head` nn.Linear (the registry's convention)")
    return head


@torch.inference_mode()
def body_features(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """The head's input (the frozen body's output) for every row of x."""
    head, feats = head_of(model), []
    handle = head.register_forward_hook(lambda _m, inputs, _out: feats.append(inputs[0].detach()))
    try:
        model.eval()
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size])
    finally:
        handle.remove()
    return torch.cat(feats)


def head_refit(model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, x_eval: torch.Tensor,
               y_eval: torch.Tensor, *, lr: float, epochs: int, batch_size: int, seed: int) -> float:
    """Freeze the body, re-initialise the head (weights drawn from seed on the CPU), train it with Adam on
    (x_train, y_train) (retain plus the attack part), and return its accuracy on the evaluation part."""
    old = head_of(model)
    f_train, f_eval = body_features(model, x_train), body_features(model, x_eval)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = nn.Linear(old.in_features, old.out_features)
    head = head.to(f_train.device)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(f_train), generator=generator).split(batch_size):
            idx = idx.to(f_train.device)
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(head(f_train[idx]), y_train[idx]).backward()
            opt.step()
    with torch.inference_mode():
        return float((head(f_eval).argmax(1) == y_eval).float().mean()) if len(f_eval) else math.nan


def head_bias(model: nn.Module, forget_classes: list[int]) -> dict[str, float]:
    """Where a class forgetting may live in the head alone (Hatami et al. 2026): the forgotten classes'
    mean bias minus the other classes' mean bias (`bias_gap`), and the ratio of their mean weight-row norms
    (`norm_ratio`). Compared with the same numbers of the retrained models."""
    head = head_of(model)
    w, b = head.weight.detach().double().cpu(), head.bias.detach().double().cpu()
    forgotten = torch.zeros(len(b), dtype=torch.bool)
    forgotten[list(forget_classes)] = True
    norms = w.norm(dim=1)
    return {"bias_gap": float(b[forgotten].mean() - b[~forgotten].mean()),
            "norm_ratio": float(norms[forgotten].mean() / norms[~forgotten].mean())}


def run_attacks(net: nn.Module, x_forget: torch.Tensor, y_forget: torch.Tensor, x_retain: torch.Tensor,
                y_retain: torch.Tensor, relearn_params, head_refit_params, forget_classes: list[int] | None) -> dict:
    """Every attack on one model, as the attack stage writes it: {"relearn": ..., "head_refit": ...}.
    The params are the metrics.relearn and metrics.head_refit blocks; forget_classes (class scenario only)
    turns on the head-bias diagnostic."""
    rp, hp = relearn_params, head_refit_params
    device = x_forget.device
    att, ev = (torch.from_numpy(i).to(device) for i in split_forget(len(x_forget), rp.attack_fraction, rp.seed))
    relearned = relearn(net, x_forget[att], y_forget[att], x_forget[ev], y_forget[ev], optimizer=rp.optimizer,
                        lr=rp.lr, steps=rp.steps, batch_size=rp.batch_size, eval_every=rp.eval_every,
                        threshold=rp.threshold, seed=rp.seed, x_retain=x_retain, y_retain=y_retain,
                        retain_per_batch=rp.retain_per_batch)
    att, ev = (torch.from_numpy(i).to(device) for i in split_forget(len(x_forget), hp.attack_fraction, hp.seed))
    refit = head_refit(net, torch.cat([x_retain, x_forget[att]]), torch.cat([y_retain, y_forget[att]]),
                       x_forget[ev], y_forget[ev], lr=hp.lr, epochs=hp.epochs, batch_size=hp.batch_size, seed=hp.seed)
    bias = head_bias(net, forget_classes) if forget_classes else None
    return {"relearn": relearned, "head_refit": {"accuracy": refit, "bias": bias, "forget_classes": forget_classes}}
