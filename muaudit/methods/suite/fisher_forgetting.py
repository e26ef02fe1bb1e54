"""Fisher Forgetting: replace theta0 by a noisy copy, noise large where the retain set does not pin a weight.

F = sum_c E_{x in retain}[p(c|x) * (grad CE(f(x), c))^2] from per-sample gradients (torch.func.vmap: one
vectorised backward per class per batch, cheap for the zoo's small models). Variance
v = alpha / (F + 1e-8), clamped at 1e3 (1e2 for the output layer), averaged over each output row of
conv/linear weights, x10 on the output layer; theta = mu + sqrt(v) * N(0, I), mu = theta0. Class
scenario: the forgotten classes' output rows get mu = 0 and variance 1e-4, so they stop firing.
"""

import torch
from pydantic import Field
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext
from muaudit.methods.common import head_linear
from muaudit.methods.registry import register_method

EPS = 1e-8
MAX_VAR, MAX_VAR_HEAD = 1e3, 1e2  # clamps from Golatkar et al.'s code: keep the noise from wiping a layer
HEAD_SCALE = 10.0
FORGOTTEN_ROW_VAR = 1e-4


class Params(MethodParams):
    alpha: float = Field(1e-12, gt=0)  # noise scale: variance = alpha / Fisher
    batch_size: int = Field(128, ge=1)  # retain batch of the Fisher pass


def retain_fisher(ctx: UnlearnContext, batch_size: int) -> dict[str, torch.Tensor]:
    model = ctx.model.eval()
    params = {n: w.detach() for n, w in model.named_parameters()}

    def sample_loss(theta, x, c):
        return F.cross_entropy(functional_call(model, theta, (x[None],)), c[None])

    per_sample_grad = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    fisher = {n: torch.zeros_like(w) for n, w in params.items()}
    for start in range(0, len(ctx.x_retain), batch_size):
        x = ctx.x_retain[start : start + batch_size]
        with torch.no_grad():
            prob = F.softmax(model(x), dim=1)
        for c in range(ctx.num_classes):
            grads = per_sample_grad(params, x, torch.full((len(x),), c, device=x.device))
            weight = prob[:, c]
            for n, g in grads.items():
                fisher[n] += torch.einsum("b,b...->...", weight, g.square())
        ctx.count(len(x) * ctx.num_classes)  # vmap calls bypass the forward counter
    return {n: f / len(ctx.x_retain) for n, f in fisher.items()}


@register_method(
    "fisher_forgetting",
    params=Params,
    description="theta0 + sqrt(alpha/(F_retain+eps)) * N(0,I) with clamps; class-wise zeroes the forgotten head rows.",
    reference="Golatkar et al. 2020, arXiv 1911.04933",
)
def fisher_forgetting(ctx: UnlearnContext, p: Params):
    model = ctx.model
    fisher = retain_fisher(ctx, p.batch_size)
    head = head_linear(model)
    head_ids = {id(head.weight), id(head.bias)}
    generator = ctx.generator()
    with torch.no_grad():
        for n, w in model.named_parameters():
            is_head = id(w) in head_ids
            var = (p.alpha / (fisher[n] + EPS)).clamp(max=MAX_VAR_HEAD if is_head else MAX_VAR)
            if w.ndim > 1:  # one variance per output unit, as in the reference code
                var = var.flatten(1).mean(1).view(-1, *[1] * (w.ndim - 1)).expand_as(w).clone()
            mu = w.clone()
            if is_head:
                var *= HEAD_SCALE
                if ctx.scenario == "class":
                    rows = torch.tensor(ctx.forget_classes)  # a CPU index: every device accepts one
                    mu[rows] = 0.0
                    var[rows] = FORGOTTEN_ROW_VAR
            # the noise is drawn on the CPU from the method's generator: the same draw on every device
            w.copy_(mu + var.sqrt() * torch.randn(w.shape, generator=generator).to(w.device))
    return model.eval()
