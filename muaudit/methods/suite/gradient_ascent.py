"""Gradient ascent (NegGrad): maximise the cross-entropy on the forget set."""

import torch
from pydantic import Field
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext, check_finite
from muaudit.methods.registry import register_method
from muaudit.training import batches


class Params(MethodParams):
    lr: float = Field(0.01, gt=0)  # SGD learning rate
    epochs: int = Field(5, ge=1)  # passes over the forget set
    batch_size: int = Field(32, ge=1)
    max_grad_norm: float = Field(1.0, gt=0)  # clip: ascent is unbounded and collapses models without it


@register_method(
    "gradient_ascent",
    params=Params,
    description="Gradient ascent on the forget-set cross-entropy, with gradient clipping.",
    reference="Thudi et al. 2022; OPTML-Group/Unlearn-Saliency GA",
)
def gradient_ascent(ctx: UnlearnContext, p: Params):
    model = ctx.model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=p.lr)
    generator = ctx.generator()
    loop = ctx.epochs(p.epochs, model=model, optimizer=optimizer, generator=generator)
    for _ in loop:
        for idx in batches(len(ctx.x_forget), p.batch_size, generator, device=ctx.device):
            optimizer.zero_grad(set_to_none=True)
            loss = -F.cross_entropy(model(ctx.x_forget[idx]), ctx.y_forget[idx])
            check_finite(loss, "gradient_ascent")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), p.max_grad_norm)
            optimizer.step()
            loop.add(loss)
    return model.eval()
