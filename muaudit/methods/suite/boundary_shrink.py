"""Boundary Shrink: relabel each forget sample with its nearest wrong class and fine-tune on forget only.

The nearest wrong class comes from a frozen copy of the original: one FGSM step x' = clip(x + eps *
sign(grad_x CE)), then the argmax of its logits on x' with the true class excluded.

Class scenario only. On a random forget set the forget samples are i.i.d. with retain, and the retrained
model classifies them about as well as test samples; pushing every one of them over the boundary drives
forget accuracy to ~0, far below retrain, which is the opposite of unlearning (Chen et al. design it for
class-wise forgetting, and the OPTML re-implementations report it weak on random subsets).
"""

import torch
from pydantic import Field
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext, descend
from muaudit.methods.common import sgd
from muaudit.methods.registry import register_method
from muaudit.training import batches


class Params(MethodParams):
    lr: float = Field(1e-4, gt=0)  # SGD learning rate
    momentum: float = Field(0.9, ge=0, lt=1)
    epsilon: float = Field(0.1, gt=0)  # FGSM step, in input units (digits pixels are 0..1)
    epochs: int = Field(5, ge=1)  # passes over the forget set
    batch_size: int = Field(64, ge=1)


def nearest_wrong_class(frozen, x: torch.Tensor, y: torch.Tensor, epsilon: float) -> torch.Tensor:
    x_adv = x.clone().requires_grad_(True)
    F.cross_entropy(frozen(x_adv), y).backward()
    x_adv = (x + epsilon * x_adv.grad.sign()).clamp(x.min().item(), x.max().item())
    with torch.no_grad():
        logits = frozen(x_adv)
        logits[torch.arange(len(y), device=y.device), y] = float("-inf")
    return logits.argmax(1)


@register_method(
    "boundary_shrink",
    params=Params,
    description="Fine-tune on forget samples relabelled with their FGSM-nearest wrong class.",
    scenarios=("class",),
    reference="Chen et al. 2023, arXiv 2303.11570",
)
def boundary_shrink(ctx: UnlearnContext, p: Params):
    frozen = ctx.original.eval()  # the original's weights are the frozen copy: never updated
    model = ctx.model.train()
    optimizer = sgd(model, p.lr, p.momentum)
    generator = ctx.generator()
    loop = ctx.epochs(p.epochs, model=model, optimizer=optimizer, generator=generator)
    for _ in loop:
        for idx in batches(len(ctx.x_forget), p.batch_size, generator, device=ctx.device):
            x = ctx.x_forget[idx]
            target = nearest_wrong_class(frozen, x, ctx.y_forget[idx], p.epsilon)
            ctx.count(len(idx))  # the FGSM pass runs on the frozen copy
            loss = F.cross_entropy(model(x), target)
            descend(optimizer, loss, "boundary_shrink")
            loop.add(loss)
    return model.eval()
