"""Selective Synaptic Dampening: shrink the weights far more important to the forget set than to all data.

Importances are diagonal Fisher estimates (mean over batches of squared CE gradients) on the full train
set D = forget + retain (I_D) and on forget (I_f). Where I_f > alpha * I_D, theta <- theta * min(1,
lambda * I_D / I_f). One shot, no optimizer, so no learning rate: it is not a training method.

Reference code: if-loops/selective-synaptic-dampening: src/ssd.py (`ParameterPerturber.calc_importance`:
sum over batches of squared batch-mean CE gradients / number of batches; `modify_weight`: exponent 1,
lower bound 1).
"""

import torch
from pydantic import Field
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext, check_finite
from muaudit.methods.registry import register_method
from muaudit.tuning import Range


class Params(MethodParams):
    alpha: float = Field(20.0, gt=0)  # selection: dampen a weight only if I_f > alpha * I_D
    dampening: float = Field(1.0, gt=0)  # lambda: the weight is scaled by min(1, lambda * I_D / I_f)
    batch_size: int = Field(64, ge=1)  # batches of the importance passes


# tune@<method> searches these (docs/tuning.md); params.yaml narrows or fixes them: unlearn.<method>.search
SEARCH = {"alpha": Range(0.5, 100.0, log=True), "dampening": Range(0.1, 10.0, log=True)}


def importances(model, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> dict[str, torch.Tensor]:
    imp = {n: torch.zeros_like(w) for n, w in model.named_parameters()}
    n_batches = 0
    for start in range(0, len(x), batch_size):
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[start : start + batch_size]), y[start : start + batch_size])
        check_finite(loss, "ssd")
        loss.backward()
        for n, w in model.named_parameters():
            imp[n] += w.grad.square()
        n_batches += 1
    model.zero_grad(set_to_none=True)
    return {n: v / max(n_batches, 1) for n, v in imp.items()}


@register_method(
    "ssd",
    params=Params,
    description="Dampen weights whose forget-set Fisher importance exceeds alpha x the full-data one.",
    reference="Foster et al. 2024, arXiv 2308.07707; if-loops/selective-synaptic-dampening: src/ssd.py",
    search=SEARCH,
)
def ssd(ctx: UnlearnContext, p: Params):
    model = ctx.model.eval()
    i_full = importances(model, torch.cat([ctx.x_forget, ctx.x_retain]), torch.cat([ctx.y_forget, ctx.y_retain]),
                         p.batch_size)
    i_forget = importances(model, ctx.x_forget, ctx.y_forget, p.batch_size)
    with torch.no_grad():
        for n, w in model.named_parameters():
            selected = i_forget[n] > p.alpha * i_full[n]
            factor = (p.dampening * i_full[n] / i_forget[n].clamp_min(1e-30)).clamp(max=1.0)
            w.mul_(torch.where(selected, factor, torch.ones_like(w)))
    return model
