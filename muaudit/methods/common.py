"""Building blocks shared by several methods: paired batches, tempered KL, feature hooks, gradient masks."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F


def sgd(model: nn.Module, lr: float, momentum: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """SGD on the trainable weights; the OPTML reference loop (unlearn/impl.py) uses momentum 0.9, wd 5e-4."""
    return torch.optim.SGD((p for p in model.parameters() if p.requires_grad), lr=lr, momentum=momentum,
                           weight_decay=weight_decay)


class CycledBatches:
    """Endless reshuffled batches over n samples: pairs a small set (forget) with every batch of a large one.

    The same batches as reshuffling with `batches` at each pass; an object, not a generator function, so
    that its position (and its generator) can be saved in a checkpoint: name it in the method's epochs.
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, device: torch.device | None = None):
        self.n, self.batch_size, self.generator, self.device = n, batch_size, generator, device
        self._order: torch.Tensor | None = None  # the current pass's order (drawn on the CPU, kept on device)
        self._position = 0

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self

    def __next__(self) -> torch.Tensor:
        if self._order is None or self._position >= self.n:
            self._order = self._to_device(torch.randperm(self.n, generator=self.generator))
            self._position = 0
        idx = self._order[self._position : self._position + self.batch_size]
        self._position += self.batch_size
        return idx

    def _to_device(self, order: torch.Tensor | None) -> torch.Tensor | None:
        return order if order is None or self.device is None else order.to(self.device)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self._order, "position": self._position}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self._order, self._position = self._to_device(state["order"]), state["position"]


def kl_tau(student_logits: torch.Tensor, teacher_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """KL(teacher || student) on tau-softened outputs, times tau^2 so gradients keep their scale (Hinton 2015)."""
    log_s = F.log_softmax(student_logits / tau, dim=1)
    log_t = F.log_softmax(teacher_logits / tau, dim=1)
    return F.kl_div(log_s, log_t, log_target=True, reduction="batchmean") * tau**2


def head_linear(model: nn.Module) -> nn.Linear:
    """The output layer: the last nn.Linear in registration order (`head` in the zoo models)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("model has no nn.Linear output layer")
    return linears[-1]


class FeatureTap:
    """Captures the output of the named module on every forward (a forward hook); use as a context manager."""

    def __init__(self, model: nn.Module, layer: str):
        modules = dict(model.named_modules())
        if layer not in modules:
            known = ", ".join(n for n in modules if n)
            raise ValueError(f"layer '{layer}' not in the model; expected one of {known}")
        self.value: torch.Tensor | None = None
        self._handle = modules[layer].register_forward_hook(self._store)

    def _store(self, module, inputs, output) -> None:
        self.value = output.flatten(1)

    def __enter__(self) -> FeatureTap:
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()


def forget_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> dict[str, torch.Tensor]:
    """Sum over forget batches of the CE gradient per parameter, in eval mode, without an update."""
    model.eval()
    grads = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for start in range(0, len(x), batch_size):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[start : start + batch_size]), y[start : start + batch_size]).backward()
        for n, p in model.named_parameters():
            grads[n] += p.grad
    model.zero_grad(set_to_none=True)
    return grads


def top_fraction_mask(scores: dict[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """Exactly the int(fraction * P) highest entries across all parameters (True = may change), as SalUn's
    generate_mask.py ranks them (ties broken by position, so the count never exceeds k)."""
    flat = torch.cat([s.flatten() for s in scores.values()])
    k = max(1, int(fraction * flat.numel()))
    keep = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    keep[torch.argsort(flat, descending=True, stable=True)[:k]] = True  # stable: the same on every device
    masks, start = {}, 0
    for n, s in scores.items():
        masks[n] = keep[start : start + s.numel()].view_as(s)
        start += s.numel()
    return masks

