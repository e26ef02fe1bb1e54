"""Head-only control: the original body frozen, the classifier head re-initialised and trained on retain.

A positive control for the representation metrics: in the class scenario it forgets at the output by
construction while every layer below the head is bit-identical to the original, so the audit must call
it `output-only`.

Reference code: none, a control of this project (not a published method).
"""

import torch
from pydantic import Field
from torch.nn import functional as F

from muaudit.methods.base import MethodParams, UnlearnContext, descend
from muaudit.methods.registry import register_method
from muaudit.training import batches


class Params(MethodParams):
    lr: float = Field(0.001, gt=0)  # Adam learning rate of the head
    epochs: int = Field(10, ge=1)  # passes over the retain set
    batch_size: int = Field(64, ge=1)


@register_method(
    "head_only",
    params=Params,
    description="Control: freeze the original body, re-initialise the head and train it on retain (Adam).",
    reference="positive control for representation residue (issue 10)",
    control=True,
)
def head_only(ctx: UnlearnContext, p: Params):
    model = ctx.model
    head = getattr(model, "head", None)
    if not isinstance(head, torch.nn.Module):
        raise ValueError(f"head_only: the model {type(model).__name__} has no `head` submodule to re-initialise")
    model.requires_grad_(False)
    # The new head's initial weights are drawn from the method seed, on the CPU (the same on every device).
    head.to("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(ctx.seed)
        for m in head.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    head.to(ctx.device)
    head.requires_grad_(True)
    # eval mode for the whole model keeps any body normalisation statistics frozen as well
    model.eval()
    optimizer = torch.optim.Adam(head.parameters(), lr=p.lr)
    generator = ctx.generator()
    loop = ctx.epochs(p.epochs, model=model, optimizer=optimizer, generator=generator)
    for _ in loop:
        for idx in batches(len(ctx.x_retain), p.batch_size, generator, device=ctx.device):
            loss = F.cross_entropy(model(ctx.x_retain[idx]), ctx.y_retain[idx])
            descend(optimizer, loss, "head_only")
            loop.add(loss)
    return model.eval()
