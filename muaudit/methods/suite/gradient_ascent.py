"""Gradient ascent (NegGrad): maximise the cross-entropy on the forget set.

Reference code: OPTML-Group/Unlearn-Saliency: Classification/unlearn/GA.py (`GA`), in the loop of
Classification/unlearn/impl.py: SGD, momentum 0.9, weight decay 5e-4, no gradient clipping. Ascent is
unbounded and can collapse a model (the reference's own notes say: clip or stop early); `max_grad_norm`
adds clipping as an option, off by default so that the method is the published one.
"""

import torch
from pydantic import Field
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext, check_finite
from muaudit.methods.common import sgd
from muaudit.methods.registry import register_method
from muaudit.training import batches
from muaudit.tuning import Range


class Params(MethodParams):
    lr: float = Field(4e-4, gt=0)  # SGD learning rate
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)  # the reference loop's (OPTML unlearn/impl.py)
    epochs: int = Field(5, ge=1)  # passes over the forget set
    batch_size: int = Field(32, ge=1)
    max_grad_norm: float | None = Field(None, gt=0)  # optional clipping (not in the reference); null: none


# tune@<method> searches these (docs/tuning.md); params.yaml narrows or fixes them: unlearn.<method>.search
SEARCH = {"lr": Range(1e-4, 0.1, log=True), "epochs": Range(1, 8)}


@register_method(
    "gradient_ascent",
    params=Params,
    description="Gradient ascent on the forget-set cross-entropy (SGD, momentum, weight decay).",
    reference="Thudi et al. 2022; OPTML-Group/Unlearn-Saliency: Classification/unlearn/GA.py",
    search=SEARCH,
)
def gradient_ascent(ctx: UnlearnContext, p: Params):
    model = ctx.model.train()
    optimizer = sgd(model, p.lr, p.momentum, p.weight_decay)
    generator = ctx.generator()
    loop = ctx.epochs(p.epochs, model=model, optimizer=optimizer, generator=generator)
    for _ in loop:
        for idx in batches(len(ctx.x_forget), p.batch_size, generator, device=ctx.device):
            optimizer.zero_grad(set_to_none=True)
            loss = -F.cross_entropy(model(ctx.x_forget[idx]), ctx.y_forget[idx])
            check_finite(loss, "gradient_ascent")
            loss.backward()
            if p.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), p.max_grad_norm)
            optimizer.step()
            loop.add(loss)
    return model.eval()
